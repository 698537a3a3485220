"""The shipped compact model (autopartgen/weights/tiny) on small grids: budget, VAE round trip, part loop.

The bounds are regression floors well below what the model card reports for the same settings, so a
broken export, a wrong scale factor or end threshold, or a frame bug fails here, while the model's
honest (low) quality does not.
"""

from pathlib import Path

import numpy as np
import pytest
import trimesh

from autopartgen.api import load_pipeline
from autopartgen.data.dataset import generate_and_write, split_seeds
from autopartgen.eval import baselines, metrics
from autopartgen.eval.runner import load_gt_parts
from autopartgen.geometry.normalize import apply_normalization, normalization_transform
from autopartgen.pipeline import GenerationOptions

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def pipe():
    return load_pipeline()


def test_budget_and_end_threshold(pipe):
    assert "region_merger" in pipe.num_parameters() and sum(pipe.num_parameters().values()) <= 40e6
    threshold = pipe.config.pipeline["eot_threshold"]
    # A real part latent is far from the all-zero end latent; the end test must not fire on it.
    mesh = trimesh.load(EXAMPLES / "chair" / "mesh.glb", force="mesh")
    center, scale = normalization_transform(np.asarray(mesh.vertices))
    normalized = trimesh.Trimesh(apply_normalization(np.asarray(mesh.vertices), center, scale), mesh.faces)
    latent = pipe.encode_cloud(pipe.mesh_cloud([normalized], np.random.default_rng(0)))[0] / pipe.config.scale_factor
    assert 0 < threshold < 0.5 * float(latent.abs().mean())


def test_vae_round_trip_of_a_held_out_object(pipe, tmp_path):
    seed = split_seeds("test", 2, 1)[0]  # a held-out bench (5 parts)
    generate_and_write(tmp_path, seed, n_views=0, size=64, resolution=48, with_samples=False)
    folder = next(tmp_path.iterdir())
    gt = load_gt_parts(folder)
    rebuilt = pipe.reconstruct_parts(gt, GenerationOptions(grid_size=64, seed=0))
    scores = metrics.evaluate_parts(rebuilt, gt, grid=64, n_samples=2000)
    whole_as_every_part = metrics.evaluate_parts(baselines.single(trimesh.util.concatenate(gt)) * len(gt), gt,
                                                 grid=64, n_samples=2000)
    assert scores["part_iou"] >= 0.3, scores  # 0.44 when the test was written
    assert scores["part_iou"] > 2 * whole_as_every_part["part_iou"]


@pytest.mark.parametrize("example", ["robot", "chair"])
def test_mesh_to_parts_tile_the_example_mesh(pipe, example):
    """Whatever the model proposes, parts cut from the input tile it: union IoU >= 0.95, overlap <= 3%,
    every part a closed solid in the input's frame, and the loop ends for a reason it reports."""
    mesh = trimesh.load(EXAMPLES / example / "mesh.glb", force="mesh")
    result = pipe.generate(mesh=mesh, options=GenerationOptions(seed=0, progress=False, max_parts=6))
    assert result.stop_reason in ("end_token", "input_covered", "max_parts", "consecutive_skips")
    assert 1 <= len(result.parts) <= 6
    center, scale = normalization_transform(np.asarray(mesh.vertices))

    def occupancy(m):
        return metrics.occupancy((apply_normalization(np.asarray(m.vertices), center, scale), np.asarray(m.faces)), 64)

    target = occupancy(mesh)
    occupancies = [occupancy(part.mesh) for part in result.parts]
    union = np.logical_or.reduce(occupancies)
    assert (union & target).sum() / (union | target).sum() >= 0.95
    overlap = sum((a & b).sum() for i, a in enumerate(occupancies) for b in occupancies[:i])
    assert overlap <= 0.03 * target.sum()
    for part in result.parts:  # closed (welded by position: a textured input's parts keep their UV seams split)
        assert trimesh.Trimesh(part.mesh.vertices, part.mesh.faces, process=True).is_watertight
        assert np.all(part.mesh.bounds[0] >= mesh.bounds[0] - 1e-3 * scale)
        assert np.all(part.mesh.bounds[1] <= mesh.bounds[1] + 1e-3 * scale)


def test_generated_parts_stay_available(pipe):
    mesh = trimesh.load(EXAMPLES / "robot" / "mesh.glb", force="mesh")
    result = pipe.generate(mesh=mesh, options=GenerationOptions(grid_size=64, seed=0, progress=False, max_parts=3,
                                                                parts="generated"))
    assert result.parts_kind == "generated" and 1 <= len(result.parts) <= 3
    assert result.stop_reason in ("end_token", "max_parts", "consecutive_skips")


@pytest.mark.parametrize("num_parts", [2, 8])
def test_num_parts_is_exact_on_an_example_mesh(pipe, num_parts):
    mesh = trimesh.load(EXAMPLES / "car" / "mesh.glb", force="mesh")
    result = pipe.generate(mesh=mesh, options=GenerationOptions(seed=0, progress=False, num_parts=num_parts,
                                                                num_steps=6))
    assert len(result.parts) == num_parts
    assert all(trimesh.Trimesh(p.mesh.vertices, p.mesh.faces, process=True).is_watertight for p in result.parts)


def test_num_parts_is_exact_on_an_example_image(pipe):
    from autopartgen.inputs import load_image

    image = load_image(EXAMPLES / "desk_lamp" / "image.png")
    result = pipe.generate(image=image, options=GenerationOptions(seed=0, progress=False, num_parts=3, num_steps=6,
                                                                  grid_size=32))
    assert len(result.parts) == 3
