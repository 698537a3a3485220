"""Sampler behaviour beyond the golden traces: caching, branch skipping, thread safety, seeding."""

import threading

import numpy as np
import pytest
import torch

from autopartgen.checkpoints import load_weights
from autopartgen.models import build_model
from autopartgen.sampling import (SamplerTrace, initial_noise, is_end_latent, resolve_part_guidance,
                                  sample_latents)
from conftest import COMPAT


@pytest.fixture(scope="module")
def dit(golden_configs):
    return load_weights(build_model("dit", golden_configs["dit"]), COMPAT / "small_dit.safetensors", name="dit")


@pytest.fixture(scope="module")
def part_case():
    data = np.load(COMPAT / "sampler_mask.npz")
    return {k: torch.from_numpy(data[k]) for k in data.files}


def _sample_part(dit, scheduler, case, image_scale, geometry_scale, **options):
    cfg, weights = resolve_part_guidance(image_scale, geometry_scale)
    geo = case["geo"]
    trace = SamplerTrace()
    with torch.no_grad():
        out = sample_latents(dit, [[case["img_cond"], geo], [case["img_uncond"], geo]],
                             [case["img_uncond"], torch.zeros_like(geo)], [int(case["seeds"][0])], scheduler,
                             cfg_scale=cfg, cond_weights=weights, trace=trace, **options)
    return out, trace


def test_cached_condition_matches_uncached(dit, golden_configs, part_case):
    cached, _ = _sample_part(dit, golden_configs["scheduler"], part_case, 5.0, 5.0, reference_compat=True)
    uncached, _ = _sample_part(dit, golden_configs["scheduler"], part_case, 5.0, 5.0, reference_compat=True,
                               cache_condition=False)
    np.testing.assert_allclose(cached.numpy(), uncached.numpy(), atol=5e-5, rtol=1e-4)
    np.testing.assert_allclose(cached.numpy(), np.load(COMPAT / "sampler_mask.npz")["output_native"],
                               atol=5e-4, rtol=1e-4)


@pytest.mark.parametrize("scales,batch", [((0.0, 2.0), 2), ((5.0, 5.0), 2), ((3.0, 1.5), 3), ((0.0, 1.0), 1),
                                          ((1.0, 1.0), 1)])
def test_zero_weight_branch_is_skipped_without_changing_the_result(dit, golden_configs, part_case, scales, batch):
    full, full_trace = _sample_part(dit, golden_configs["scheduler"], part_case, *scales, reference_compat=True)
    fast, fast_trace = _sample_part(dit, golden_configs["scheduler"], part_case, *scales)
    assert full_trace.forward_batch_size == 3
    assert fast_trace.forward_batch_size == batch
    np.testing.assert_allclose(fast.numpy(), full.numpy(), atol=5e-5, rtol=1e-4)


def test_concurrent_sampling_is_independent(dit, golden_configs, part_case):
    expected, _ = _sample_part(dit, golden_configs["scheduler"], part_case, 5.0, 5.0)
    other_seed = dict(part_case, seeds=torch.tensor([7]))
    expected_other, _ = _sample_part(dit, golden_configs["scheduler"], other_seed, 5.0, 5.0)
    results = {}

    def run(name, case):
        results[name] = _sample_part(dit, golden_configs["scheduler"], case, 5.0, 5.0)[0]

    threads = [threading.Thread(target=run, args=(name, case))
               for name, case in (("a", part_case), ("b", other_seed))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    np.testing.assert_allclose(results["a"].numpy(), expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(results["b"].numpy(), expected_other.numpy(), atol=1e-5)
    assert not np.allclose(expected.numpy(), expected_other.numpy())


def test_first_step_noise_equals_initial_latent(dit, golden_configs, part_case):
    _, trace = _sample_part(dit, golden_configs["scheduler"], part_case, 5.0, 5.0)
    np.testing.assert_array_equal(trace.noise[0].numpy(), trace.sample_in[0].numpy())
    assert not torch.equal(trace.noise[1], trace.noise[0])
    seeds = [3, 2**32 + 3]  # the initial latent takes seed mod 2**32, the step noise the seed itself
    noise = initial_noise(seeds, (4, 2))
    assert torch.equal(noise[0], noise[1])


def test_guidance_resolution_and_end_test():
    assert resolve_part_guidance(0.0, 0.0) == (1.000001, [0.0, 0.0])
    cfg, weights = resolve_part_guidance(5.0, 2.0)
    assert cfg == 5.0 and weights == [1.0, 0.4]
    with pytest.raises(ValueError):
        resolve_part_guidance(-1.0, 2.0)
    assert is_end_latent(torch.full((4, 3), 0.0999)) and not is_end_latent(torch.full((4, 3), 0.1))


def test_sampled_length_is_the_dits_own_whatever_the_context_length(dit, golden_configs, part_case):
    """The reference samples ``dit.num_latents`` tokens even when the context (a VAE's encodings) has another
    token count (issue: we used to take the context's count)."""
    geo = part_case["geo"]
    longer = torch.cat([geo, geo], dim=2)  # context with twice the DiT's token count
    cfg, weights = resolve_part_guidance(5.0, 5.0)
    with torch.no_grad():
        out = sample_latents(dit, [[part_case["img_cond"], longer], [part_case["img_uncond"], longer]],
                             [part_case["img_uncond"], torch.zeros_like(longer)], [int(part_case["seeds"][0])],
                             golden_configs["scheduler"], cfg_scale=cfg, cond_weights=weights, num_steps=2)
    assert out.shape == (1, dit.num_latents, dit.in_channels)
    assert geo.shape[2] == dit.num_latents and longer.shape[2] == 2 * dit.num_latents
