"""The part loop end to end with tiny random-weight networks.

Random weights give random geometry, so the loop's decisions are tested with a controlled decoder:
``SphereField`` replaces the VAE's field by a sphere whose centre is read from the latent, which makes
duplicate rejection, end tokens and frames checkable. One test also runs the real random VAE.
"""

import json

import numpy as np
import pytest
import torch
import trimesh

from autopartgen.api import generate_parts
from autopartgen.config import load_config
from autopartgen.errors import InputFileError
from autopartgen.pipeline import AutoPartGen, GenerationOptions, derive_seed, input_mode


def small_config():
    config = load_config("test-small")
    config.scheduler["num_inference_timesteps"] = 3
    config.pipeline.update(point_cloud_size=512, num_surface_samples=8000, fps_max_points=2048, grid_size=32,
                           max_parts=4)
    config.conditioner["img_size"] = 56
    config.image_encoder["embed_dim"] = config.dit["cross_attention_dim"]  # [whole ; part] = 2 x width
    return config


@pytest.fixture(scope="module")
def pipe():
    return AutoPartGen.from_config(small_config(), device="cpu", seed=0)


class SphereField:
    """h(x) = radius - |x - centre(latent)|, centre = 0.6 * tanh(mean of the first three channels * 8)."""

    def __init__(self, pipe, radius=0.3):
        self.radius = radius
        self.pipe = pipe

    def __call__(self, tokens, queries):
        centre = 0.6 * torch.tanh(tokens.mean(dim=1)[:, :3] * 8)
        return self.radius - (queries - centre[:, None]).norm(dim=-1)


def box(center=(0, 0, 0), size=1.0):
    mesh = trimesh.creation.box(extents=(size, size * 0.5, size * 0.8))
    mesh.apply_translation(center)
    return mesh


@pytest.fixture()
def sphere_pipe(pipe, monkeypatch):
    monkeypatch.setattr(pipe.vae, "query_field", SphereField(pipe))
    # decoder tokens = the latent itself, so the sphere centre follows the latent
    monkeypatch.setattr(pipe.vae, "decoder_tokens", lambda latent: latent)
    return pipe


def test_mode_keys():
    assert input_mode(True, False, False) == "image" and input_mode(False, True, False) == "mesh"
    assert input_mode(True, True, False) == "image_mesh" and input_mode(True, False, True) == "image_mask"
    assert input_mode(True, True, True) == "image_mesh_mask"
    with pytest.raises(InputFileError, match="--image"):
        input_mode(False, True, True)
    with pytest.raises(InputFileError):
        input_mode(False, False, False)


def test_seeds_reference_and_independent():
    ref = GenerationOptions(reference_compat=True)
    assert derive_seed(5, 0, 0, ref) == derive_seed(5, 3, 0, ref) == 5  # shared across positions
    assert derive_seed(5, 0, 2, ref) == 5 + 2 * 1009
    ours = GenerationOptions()
    seeds = {derive_seed(5, p, r, ours) for p in range(4) for r in range(4)}
    assert len(seeds) == 16


def test_mesh_mode_outputs_in_input_frame_and_duplicates_rejected(sphere_pipe, tmp_path):
    mesh = box(center=(10.0, -3.0, 2.0), size=4.0)  # far from the unit cube: parts must come back here
    result = generate_parts(sphere_pipe, mesh=mesh, output_dir=tmp_path / "out", seed=1, progress=False,
                            max_parts=4, parts="generated")
    assert result.mode == "mesh" and result.parts
    lo, hi = mesh.bounds
    for part in result.parts:
        assert part.mesh.is_watertight
        centre = part.mesh.bounds.mean(axis=0)
        assert np.all(centre > lo - 1.0) and np.all(centre < hi + 1.0)  # mapped back near the input box
        assert part.mesh.extents.max() == pytest.approx(0.6 * 2.0, rel=0.1)  # radius 0.3 * scale 2
    # accepted parts never overlap each other by more than the threshold
    from autopartgen.geometry.normalize import apply_normalization
    from autopartgen.geometry.overlap import volumetric_overlap
    normalized = [(apply_normalization(np.asarray(p.mesh.vertices), *result.normalization), p.mesh.faces)
                  for p in result.parts]
    for i in range(len(normalized)):
        for j in range(i):
            assert volumetric_overlap(normalized[i], normalized[j]) <= 0.3

    manifest = json.loads((tmp_path / "out" / "parts.json").read_text())
    assert manifest["num_parts"] == len(result.parts) == len(manifest["parts"])
    assert manifest["run"]["stop_reason"] == result.stop_reason
    assert manifest["run"]["frame"] == "input mesh"
    combined = trimesh.load(tmp_path / "out" / "mesh_combined.glb", force="scene")
    assert sorted(combined.geometry) == [f"part_{i:03d}" for i in range(len(result.parts))]
    for i in range(len(result.parts)):
        assert (tmp_path / "out" / f"mesh_{i:03d}.glb").is_file()
    assert (tmp_path / "out" / "preview.png").is_file()


def test_end_token_stops_generation(pipe, monkeypatch):
    calls = {"n": 0}

    def fake_sample_part(*args, **kwargs):
        calls["n"] += 1
        latent = torch.zeros(pipe.dit.num_latents, pipe.dit.in_channels)
        if calls["n"] == 1:
            latent[:, :3] = 0.05  # a real (non-zero) first part
            latent[:, 3:] = 0.5
        return latent

    monkeypatch.setattr(pipe, "sample_part", fake_sample_part)
    monkeypatch.setattr(pipe.vae, "query_field", SphereField(pipe))
    monkeypatch.setattr(pipe.vae, "decoder_tokens", lambda latent: latent)
    result = pipe.generate(mesh=box(), options=GenerationOptions(progress=False, max_parts=5, parts="generated"))
    assert result.stop_reason == "end_token" and len(result.parts) == 1 and calls["n"] == 2


def test_failed_position_is_skipped_not_the_end(pipe, monkeypatch):
    """Default: a position whose attempts all fail is skipped; reference: generation stops."""
    decodes = {"n": 0}

    def tokens(latent):
        decodes["n"] += 1
        return latent

    def field(tokens, queries):  # the first decode is empty (negative everywhere), later ones a sphere
        return (-1.0 if decodes["n"] == 1 else 0.3) - queries.norm(dim=-1)

    monkeypatch.setattr(pipe, "sample_part", lambda *a, **k: torch.full((pipe.dit.num_latents,
                                                                         pipe.dit.in_channels), 0.5))
    monkeypatch.setattr(pipe.vae, "decoder_tokens", tokens)
    monkeypatch.setattr(pipe.vae, "query_field", field)
    options = GenerationOptions(progress=False, max_parts=3, duplicate_retries=0, parts="generated")
    result = pipe.generate(mesh=box(), options=options)
    assert [p.position for p in result.parts][:1] == [1]  # position 0 failed, position 1 accepted

    decodes["n"] = 0
    reference = pipe.generate(mesh=box(), options=GenerationOptions(progress=False, max_parts=3, duplicate_retries=0,
                                                                    reference_compat=True))
    assert reference.stop_reason == "retries_exhausted" and not reference.parts


def test_real_random_networks_run_every_mode(pipe, tmp_path):
    from PIL import Image

    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[16:48, 20:44] = (200, 80, 40, 255)
    image = Image.fromarray(rgba, "RGBA")
    mask = np.zeros((64, 64), np.int64)
    mask[16:32, 20:44] = 1
    mask[32:48, 20:44] = 2
    for name, kwargs in {"image": dict(image=image), "mesh": dict(mesh=box()),
                         "image_mesh": dict(image=image, mesh=box()),
                         "image_mask": dict(image=image, mask=mask),
                         "image_mesh_mask": dict(image=image, mesh=box(), mask=mask)}.items():
        out = tmp_path / name
        result = generate_parts(pipe, output_dir=out, progress=False, max_parts=2, grid_size=16, **kwargs)
        assert result.mode == name
        manifest = json.loads((out / "parts.json").read_text())
        assert manifest["num_parts"] == len(result.parts)
        assert len(list(out.glob("mesh_[0-9]*.glb"))) == len(result.parts)
        if "mask" in name:
            palette = json.loads((out / "mask_palette.json").read_text())
            assert [entry["mask_label"] for entry in palette] == [2, 1]  # bottom region first
            filled = {p.mask_label for p in result.parts}
            unfilled = {r["mask_label"] for r in result.unfilled_regions}
            assert filled | unfilled == {1, 2} and not filled & unfilled  # every region accounted for
            assert result.stop_reason == "mask_regions"


def test_mask_order_setting_feeds_the_largest_region_first(pipe, monkeypatch, tmp_path):
    """A model trained with --part-order size sets pipeline.mask_order: area; the palette follows it."""
    from PIL import Image

    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[8:56, 16:48] = (200, 80, 40, 255)
    mask = np.zeros((64, 64), np.int64)
    mask[8:44, 16:48] = 1  # the larger region, above
    mask[44:56, 16:48] = 2  # the smaller one reaches lowest: first in the release's order
    orders = {}
    for setting in ("position", "area"):
        monkeypatch.setitem(pipe.config.pipeline, "mask_order", setting)
        out = tmp_path / setting
        generate_parts(pipe, image=Image.fromarray(rgba, "RGBA"), mask=mask, output_dir=out, progress=False,
                       max_parts=2, grid_size=16)
        orders[setting] = [e["mask_label"] for e in json.loads((out / "mask_palette.json").read_text())]
    assert orders == {"position": [2, 1], "area": [1, 2]}


@pytest.mark.parametrize("parts", ["generated", "input"])
def test_same_seed_same_bytes(sphere_pipe, tmp_path, parts):
    for name in ("a", "b"):
        generate_parts(sphere_pipe, mesh=box(), output_dir=tmp_path / name, seed=3, progress=False, max_parts=3,
                       parts=parts)
    names = sorted(p.name for p in (tmp_path / "a").glob("mesh_*.glb"))
    assert names
    for n in names:
        assert (tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes()
    parts_a = json.loads((tmp_path / "a" / "parts.json").read_text())["parts"]
    parts_b = json.loads((tmp_path / "b" / "parts.json").read_text())["parts"]
    assert parts_a == parts_b


def test_reconstruct_parts_round_trips_in_the_union_frame(pipe, monkeypatch):
    """VAE round trip (the eval's vae_recon oracle): each part is encoded in the frame of the union and
    comes back in the input frame. A controlled VAE encodes the cloud's bounding box."""
    def encode_cloud(cloud, generator=None, sample_posterior=False):
        latent = torch.zeros(1, pipe.dit.num_latents, pipe.dit.in_channels)
        lo, hi = cloud[:, :3].min(axis=0), cloud[:, :3].max(axis=0)
        latent[0, 0, :3] = torch.from_numpy((lo + hi) / 2)
        latent[0, 0, 3:6] = torch.from_numpy(hi - lo)
        return latent * pipe.config.scale_factor

    def decode_mesh(latent, grid_size, options):
        normalized = trimesh.creation.box(extents=latent[0, 3:6].numpy().astype(np.float64))
        normalized.apply_translation(latent[0, :3].numpy().astype(np.float64))
        assert np.all(np.abs(normalized.vertices) <= 1.0 + 1e-5)  # every part lies in the union's cube
        return normalized, None

    monkeypatch.setattr(pipe, "encode_cloud", encode_cloud)
    monkeypatch.setattr(pipe, "decode_mesh", decode_mesh)
    parts = [box(center=(10.0, -3.0, 2.0), size=4.0), box(center=(14.0, -3.0, 2.0), size=2.0)]
    rebuilt = pipe.reconstruct_parts(parts, GenerationOptions(seed=0))
    assert len(rebuilt) == 2
    for original, copy in zip(parts, rebuilt):
        np.testing.assert_allclose(copy.bounds, original.bounds, atol=0.05)  # surface samples span the box


def test_field_at_is_independent_of_the_query_chunk(pipe):
    """``field_at`` splits queries into device-sized chunks; every split gives the same field as one call."""
    assert pipe.query_chunk_size == 16_384  # the CPU default (pipeline.QUERY_CHUNK_SIZE)
    latent = torch.randn(pipe.config.dit["num_latents"], pipe.config.dit["in_channels"],
                         generator=torch.Generator().manual_seed(3))
    points = np.random.default_rng(0).uniform(-1, 1, (40_000, 3)).astype(np.float32)
    with torch.no_grad():
        whole = -pipe.vae.decode(latent[None], torch.from_numpy(points)[None], chunk_size=len(points))[0].numpy()
    chunked = pipe.field_at(latent, points)  # 16384 + 16384 + 7232
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-5)
    pipe.config.pipeline["query_chunk_size"] = 7_000
    try:
        np.testing.assert_allclose(pipe.field_at(latent, points), whole, rtol=1e-5, atol=1e-5)
    finally:
        del pipe.config.pipeline["query_chunk_size"]


def test_cpu_bfloat16_runs_the_networks_in_bf16_outside_reference_mode(pipe, monkeypatch):
    seen = []

    def fake_sample_part(*args, **kwargs):
        seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
        return torch.zeros(pipe.dit.num_latents, pipe.dit.in_channels)  # the end token

    monkeypatch.setattr(pipe, "sample_part", fake_sample_part)
    pipe._drop_features = None
    for precision, reference in (("bfloat16", False), ("float32", False), ("bfloat16", True)):
        pipe.generate(mesh=box(), options=GenerationOptions(progress=False, max_parts=2, cpu_precision=precision,
                                                            reference_compat=reference, parts="generated"))
    assert seen == [True, False, False]
    float32_features = pipe.image_features(torch.zeros(1, 3, pipe.image_size, pipe.image_size))
    assert torch.equal(pipe._drop_features, float32_features)  # cached in the bf16 run, computed in float32
    assert not torch.is_autocast_enabled("cpu")  # nothing leaks out of a run
    from autopartgen.errors import ConfigError

    with pytest.raises(ConfigError, match="--cpu-precision"):
        GenerationOptions(cpu_precision="float16").validate()
