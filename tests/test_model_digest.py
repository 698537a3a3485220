"""A digest of one small run of the shipped model's core, pinned so that a dependency change that changes
outputs is caught (numpy / scipy / fpsample / diffusers / scikit-image / torch versions all feed it).

The run is the model core, not the part loop: the example chair VAE-encoded into its whole latent,
one part latent sampled by the DiT from [whole, empty history] (mesh-mode guidance, seed 0, 8 steps),
and that latent decoded by the VAE on a 32-cell grid. The expected values live in
``tests/data/model_digest.json``; after an intended change (new weights, a new constraints.txt)
regenerate them with::

    AUTOPARTGEN_UPDATE_DIGEST=1 python -m pytest -q tests/test_model_digest.py

The comparison allows float noise between CPUs (latents to 2e-3, mesh area and volume to 0.1 %); the
exact SHA-256 of the rounded arrays is stored too, for the record.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from autopartgen.api import load_pipeline
from autopartgen.geometry.extraction import extract_isosurface
from autopartgen.geometry.normalize import apply_normalization, normalization_transform
from autopartgen.geometry.sampling import resample_surface_for_encoder
from autopartgen.sampling import inference_autocast, resolve_part_guidance, sample_latents

ROOT = Path(__file__).resolve().parents[1]
DIGEST_FILE = Path(__file__).parent / "data" / "model_digest.json"
REGENERATE = "AUTOPARTGEN_UPDATE_DIGEST=1 python -m pytest -q tests/test_model_digest.py"
SEED, STEPS, GRID = 0, 8, 32


def _sha256(array: np.ndarray, decimals: int = 4) -> str:
    rounded = np.round(np.asarray(array, dtype=np.float64), decimals) + 0.0  # +0.0: no negative zeros
    return hashlib.sha256(rounded.tobytes()).hexdigest()


def _rounded(array: np.ndarray, decimals: int = 4) -> list:
    return np.round(np.asarray(array, dtype=np.float64), decimals).tolist()


def write_digest(measured: dict) -> None:
    """The digest as JSON with one latent row per line (readable diffs when it is regenerated)."""
    lines = ["{"]
    items = list({"regenerate": REGENERATE, "seed": SEED, "steps": STEPS, "grid": GRID, **measured}.items())
    for index, (key, value) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        if key.endswith("_latent"):
            rows = ",\n  ".join(json.dumps(row) for row in value)
            lines.append(f' "{key}": [\n  {rows}\n ]{comma}')
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}{comma}")
    DIGEST_FILE.write_text("\n".join(lines + ["}"]) + "\n")


@torch.no_grad()
def model_core_run() -> dict:
    """Whole latent of the example chair -> one DiT part latent -> its VAE decode; the numbers to pin."""
    pipe = load_pipeline(device="cpu")
    settings, config = pipe.config.pipeline, pipe.config
    mesh = trimesh.load(ROOT / "examples" / "chair" / "mesh.glb", force="mesh")
    center, scale = normalization_transform(np.asarray(mesh.vertices))
    normalized = trimesh.Trimesh(apply_normalization(np.asarray(mesh.vertices), center, scale), mesh.faces,
                                 process=False)

    def encode(cloud: np.ndarray, generator_seed: int) -> torch.Tensor:  # -> scaled latent (1, N, C)
        surface = torch.from_numpy(np.ascontiguousarray(cloud, dtype=np.float32))[None]
        posterior = pipe.vae.encode(surface, generator=torch.Generator().manual_seed(generator_seed))
        return posterior.mode().float() * config.scale_factor

    with inference_autocast("cpu", config.float_precision):
        cloud = resample_surface_for_encoder([normalized], np.random.default_rng(SEED),
                                             point_cloud_size=settings["point_cloud_size"],
                                             num_samples=settings["num_surface_samples"],
                                             fps_max_points=settings["fps_max_points"])
        whole = encode(cloud, SEED)
        empty_history = encode(np.zeros((settings["point_cloud_size"], 6), np.float32), 0)
        size = int(config.conditioner.get("img_size", 448))
        drop = pipe.image_encoder(torch.zeros(1, 3, size, size)).float()
        no_image = torch.cat([drop, drop], dim=-1)
        geometry = torch.stack([whole, empty_history], dim=1)
        cfg_scale, weights = resolve_part_guidance(*config.guidance_for("mesh"))
        latent = sample_latents(pipe.dit, [[no_image, geometry], [no_image, geometry]],
                                [no_image, torch.zeros_like(geometry)], [SEED], config.scheduler, cfg_scale,
                                cond_weights=weights, num_steps=STEPS)[0].float()
        tokens = pipe.vae.decoder_tokens(latent[None])

        def field(points: np.ndarray) -> torch.Tensor:
            return pipe.vae.query_field(tokens, torch.from_numpy(points)[None])[0].float()

        vertices, faces, _ = extract_isosurface(field, GRID)
    part = trimesh.Trimesh(vertices, faces, process=False)
    return {
        "whole_latent": _rounded(whole[0].numpy() / config.scale_factor),
        "part_latent": _rounded(latent.numpy()),
        "part_mesh": {"vertices": len(vertices), "faces": len(faces), "area": round(float(part.area), 6),
                      "volume": round(float(part.volume), 6),
                      "bounds": _rounded(part.bounds) if len(faces) else None},
        "sha256": {"whole_latent": _sha256(whole[0].numpy() / config.scale_factor),
                   "part_latent": _sha256(latent.numpy()), "part_vertices": _sha256(vertices)},
    }


def test_shipped_model_core_matches_its_digest():
    measured = model_core_run()
    if os.environ.get("AUTOPARTGEN_UPDATE_DIGEST") == "1":
        write_digest(measured)
        pytest.skip(f"wrote {DIGEST_FILE}")
    expected = json.loads(DIGEST_FILE.read_text())
    hint = f"the shipped model's outputs changed (a dependency version?); if intended: {REGENERATE}"
    np.testing.assert_allclose(measured["whole_latent"], expected["whole_latent"], atol=2e-3, err_msg=hint)
    np.testing.assert_allclose(measured["part_latent"], expected["part_latent"], atol=2e-3, err_msg=hint)
    mesh, pinned = measured["part_mesh"], expected["part_mesh"]
    assert (mesh["vertices"], mesh["faces"]) == (pinned["vertices"], pinned["faces"]), hint
    assert mesh["area"] == pytest.approx(pinned["area"], rel=1e-3), hint
    assert mesh["volume"] == pytest.approx(pinned["volume"], rel=1e-3), hint
    assert mesh["faces"] > 100  # the pinned run decodes a real part, not an empty field
