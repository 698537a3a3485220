"""The diffusion sampler: DPM-Solver++ (SDE) over diffusers' scheduler, with multi-condition guidance.

One call samples B latents (one per seed) from the part DiT. The DiT sees one batch ordered
``[uncond, cond_1, ..., cond_K]`` (each block B rows); the guided velocity is

    K = 1:  v = u + cfg * w1 * (c1 - u)
    K = 2:  v = u + cfg * (w1 * (c1 - c2) + w2 * (c2 - u))

Seeding follows the released model exactly (needed for parity): for each seed a CPU/CUDA generator
seeded with ``seed % 2**32`` draws the initial latent (N, C); a second generator seeded with ``seed``
draws every step's SDE noise, so the first step's noise equals the initial latent.

Each call builds its own scheduler, so two samplings may run concurrently.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from dataclasses import dataclass, field

import torch
from diffusers import DPMSolverMultistepScheduler
from tqdm.auto import tqdm

from autopartgen.models.dit import PartDiT

logger = logging.getLogger(__name__)

MIN_INTERNAL_CFG_SCALE = 1.000001  # keeps guidance on when both part scales are <= 1 (reference value)

# Keys of the YAML ``scheduler:`` section that do not go to the scheduler constructor.
_NON_SCHEDULER_KEYS = {"class_name", "num_inference_timesteps", "flow_velocity"}


def build_scheduler(scheduler_config: dict) -> DPMSolverMultistepScheduler:
    """A fresh DPMSolverMultistepScheduler from the YAML ``scheduler:`` section.

    Keys the scheduler does not take (``shift``, ``clip_sample``: options of other schedulers the
    reference maps) are dropped, as the reference does.
    """
    class_name = scheduler_config.get("class_name", "DPMSolverMultistepScheduler")
    if class_name != "DPMSolverMultistepScheduler":
        raise ValueError(f"unsupported scheduler class {class_name!r}; use DPMSolverMultistepScheduler")
    accepted = set(inspect.signature(DPMSolverMultistepScheduler.__init__).parameters) - {"self"}
    kwargs = {k: v for k, v in scheduler_config.items() if k in accepted and k not in _NON_SCHEDULER_KEYS}
    dropped = set(scheduler_config) - set(kwargs) - _NON_SCHEDULER_KEYS
    if dropped:
        logger.debug("scheduler keys not used by DPMSolverMultistepScheduler: %s", sorted(dropped))
    return DPMSolverMultistepScheduler(**kwargs)


def resolve_part_guidance(image_cfg_scale: float, geometry_cfg_scale: float) -> tuple[float, list[float]]:
    """Part-stage guidance: cfg = max(s_img, s_geo, 1.000001), weights = [s_img / cfg, s_geo / cfg].

    With these, the guided velocity is u + s_img * (c_img - c_geo) + s_geo * (c_geo - u).
    """
    if image_cfg_scale < 0 or geometry_cfg_scale < 0:
        raise ValueError(f"guidance scales must be >= 0, got image {image_cfg_scale}, geometry {geometry_cfg_scale}")
    cfg_scale = max(float(image_cfg_scale), float(geometry_cfg_scale), MIN_INTERNAL_CFG_SCALE)
    return cfg_scale, [float(image_cfg_scale) / cfg_scale, float(geometry_cfg_scale) / cfg_scale]


def initial_noise(seeds: list[int], shape: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, N, C) fp32: for each seed, a fresh generator seeded with ``seed % 2**32`` draws (N, C)."""
    draws = []
    for seed in seeds:
        generator = torch.Generator(device).manual_seed(int(seed) % 2**32)
        draws.append(torch.randn(shape, generator=generator, device=device, dtype=torch.float32))
    return torch.stack(draws)


def inference_autocast(device: torch.device | str, float_precision: str = "bfloat16", cpu_bfloat16: bool = False):
    """The reference's numerics: bf16 autocast around the whole run on CUDA, plain fp32 elsewhere.

    ``cpu_bfloat16`` opts a CPU into bf16 autocast (``--cpu-precision bfloat16``; see docs/performance.md).
    """
    device = torch.device(device)
    if device.type == "cuda" and float_precision in ("bfloat16", "bf16"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if device.type == "cpu" and cpu_bfloat16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass
class SamplerTrace:
    """Per-step values recorded when a trace is passed to :func:`sample_latents` (for debugging/parity)."""

    timesteps: list = field(default_factory=list)
    model_input: list = field(default_factory=list)  # (B * (1 + K), N, C) the DiT input
    model_output: list = field(default_factory=list)  # raw DiT output, same batch
    guided: list = field(default_factory=list)  # (B, N, C) guided velocity given to the solver
    sample_in: list = field(default_factory=list)
    noise: list = field(default_factory=list)
    sample_out: list = field(default_factory=list)
    forward_batch_size: int = 0


def _branch_coefficients(cfg_scale: float, weights: list[float]) -> list[float]:
    """Coefficients of [u, c_1, .., c_K] in the guided velocity (the formulas in the module doc)."""
    if len(weights) == 1:
        return [1.0 - cfg_scale * weights[0], cfg_scale * weights[0]]
    w1, w2 = weights[:2]
    return [1.0 - cfg_scale * w2, cfg_scale * w1, cfg_scale * (w2 - w1)]


def _guide(outputs: list[torch.Tensor | None], cfg_scale: float, weights: list[float]) -> torch.Tensor:
    """Guided velocity from the branch outputs [u, c_1, .., c_K]; a skipped branch is None (weight 0 role)."""
    u = outputs[0]
    if len(weights) == 1:
        return u + cfg_scale * (weights[0] * (outputs[1] - u))
    c1, c2 = outputs[1], outputs[2]
    w1, w2 = weights[:2]
    if c1 is not None and c2 is not None:
        return u + cfg_scale * (w1 * (c1 - c2) + w2 * (c2 - u))
    if c1 is None:  # w1 == 0
        return u + cfg_scale * (w2 * (c2 - u))
    return u + cfg_scale * (w1 * (c1 - u))  # c2 skipped: w1 == w2


def _as_condition_list(condition) -> list:
    """[image, parts] or [[image, parts], [image, parts], ...] -> list of [image, parts] pairs."""
    if isinstance(condition[0], (list, tuple)):
        return [list(c) for c in condition]
    return [list(condition)]


def sample_latents(
    dit: PartDiT,
    condition,
    uncondition,
    seeds: list[int],
    scheduler_config: dict,
    cfg_scale: float,
    cond_weights: list[float] | None = None,
    sigma_history: torch.Tensor | None = None,
    sigma_floor: float = 0.0,
    num_steps: int | None = None,
    skip_zero_branches: bool = True,
    reference_compat: bool = False,
    cache_condition: bool = True,
    trace: SamplerTrace | None = None,
    progress: bool = False,
    counts: dict | None = None,
) -> torch.Tensor:
    """Sample B native-space latents (B, N, C) from the DiT, one per seed.

    Args:
        condition: ``[image_emb, part_latents]`` or a list of K such pairs; image_emb (B, T, 2D),
            part_latents (B, P, N, C) in scaled space.
        uncondition: ``[image_emb, part_latents]`` of the unconditional branch.
        seeds: B integer seeds (see module doc).
        scheduler_config: the YAML ``scheduler:`` section.
        cfg_scale: guidance scale; guidance runs only when > 1 (then K must be 1 when it does not).
        cond_weights: K weights; default 1/K each.
        sigma_history: None, (B,) or (B, P) diffusion-forcing noise levels of the context slots.
        sigma_floor: stop (returning the current, still noisy sample) once the step's sigma <= floor.
        num_steps: override ``scheduler_config['num_inference_timesteps']``.
        skip_zero_branches: leave out of the DiT batch a condition whose coefficient in the guided
            velocity is exactly zero (e.g. the image branch when s_img = 0). Changes only GEMM batch
            shapes. Ignored when ``reference_compat``.
        cache_condition: compute the step-invariant condition work once per call.
        trace: record per-step values into this object.
        counts: if given, ``counts["dit_forwards"]`` / ``counts["dit_rows"]`` are incremented by the
            forward passes run and the batch rows they processed.
    """
    conditions = _as_condition_list(condition)
    num_conditions = len(conditions)
    weights = list(cond_weights) if cond_weights is not None else [1.0 / num_conditions] * num_conditions
    if len(weights) != num_conditions:
        raise ValueError(f"{len(weights)} guidance weights for {num_conditions} conditions")
    do_cfg = cfg_scale > 1.0
    if not do_cfg and num_conditions != 1:
        raise ValueError("several conditions need classifier-free guidance (cfg_scale > 1)")

    device = next(dit.parameters()).device
    batch = len(seeds)
    if do_cfg:
        branches = [list(uncondition)] + conditions
        coefficients = _branch_coefficients(cfg_scale, weights)
        # The unconditional branch goes too when its coefficient vanishes (s_geo = 1, s_img = 0: the guided
        # velocity is the geometry branch itself); 1e-9 absorbs the rounding of cfg x weight around 1.
        active = [i for i in range(len(branches))
                  if reference_compat or not skip_zero_branches
                  or (coefficients[i] != 0.0 and (i > 0 or abs(coefficients[0]) > 1e-9))]
    else:
        branches, active = conditions, [0]
    num_active = len(active)
    image_emb = torch.cat([branches[i][0] for i in active]).to(device)
    part_latents = branches[0][1]
    if part_latents is not None:
        part_latents = torch.cat([branches[i][1] for i in active]).to(device)
    if sigma_history is not None:
        sigma_history = torch.cat([sigma_history.to(device)] * num_active)

    scheduler = build_scheduler(scheduler_config)
    scheduler.set_timesteps(num_steps or scheduler_config.get("num_inference_timesteps", 50), device=device)
    # Always the DiT's own latent length, as the reference: the context (a VAE's encodings) may have
    # another token count.
    num_latents, channels = dit.num_latents, dit.in_channels
    x = initial_noise(seeds, (num_latents, channels), device)
    noise_generators = [torch.Generator(device).manual_seed(int(seed)) for seed in seeds]

    prepared = dit.prepare_condition(image_emb, part_latents, sigma_history) if cache_condition else None
    if trace is not None:
        trace.forward_batch_size = batch * num_active

    for step, t in enumerate(tqdm(scheduler.timesteps, desc="diffusion", disable=not progress, leave=False)):
        if sigma_floor > 0 and float(scheduler.sigmas[step]) <= sigma_floor:
            break
        model_input = torch.cat([x] * num_active)
        if counts is not None:
            counts["dit_forwards"] = counts.get("dit_forwards", 0) + 1
            counts["dit_rows"] = counts.get("dit_rows", 0) + model_input.shape[0]
        timesteps = t.expand(model_input.shape[0]).to(device)
        if prepared is not None:
            model_output = dit.forward_prepared(model_input, timesteps, prepared)
        else:
            model_output = dit(model_input, timesteps, [image_emb, part_latents] if part_latents is not None
                               else image_emb, sigma_history=sigma_history)
        if do_cfg:
            chunks = model_output.split(batch)
            if 0 in active:
                outputs = [None] * len(branches)
                for index, chunk in zip(active, chunks):
                    outputs[index] = chunk
                guided = _guide(outputs, cfg_scale, weights)
            else:  # no unconditional branch: the guided velocity is the active branches' combination
                guided = sum(coefficients[index] * chunk for index, chunk in zip(active, chunks))
        else:
            guided = model_output
        noise = torch.cat([torch.randn((1, num_latents, channels), generator=g, device=device, dtype=torch.float32)
                           for g in noise_generators])
        x_next = scheduler.step(guided, t, x, variance_noise=noise).prev_sample
        if trace is not None:
            for name, value in (("timesteps", t), ("model_input", model_input), ("model_output", model_output),
                                ("guided", guided), ("sample_in", x), ("noise", noise), ("sample_out", x_next)):
                getattr(trace, name).append(value.detach().float().cpu())
        x = x_next
    return x * torch.tensor(1.0 / dit.scale_factor, dtype=torch.float32, device=x.device)


def is_end_latent(latent: torch.Tensor, threshold: float = 0.1) -> bool:
    """The end-of-sequence test on a native-space latent (N, C): mean |z| < threshold (fp32, strict)."""
    return bool(latent.float().abs().mean() < threshold)


def noise_history_slots(part_latents: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Diffusion-forcing noising of context slots: (1 - s) * x + s * noise, s (B, P) per slot.

    part_latents, noise (B, P, N, C) -> (B, P, N, C).
    """
    s = sigma[:, :, None, None].to(part_latents.dtype)
    return (1 - s) * part_latents + s * noise
