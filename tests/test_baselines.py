"""Baselines (autopartgen.eval.baselines) and the benchmark runner (autopartgen.eval.runner)."""

import json
import sys

import numpy as np
import pytest
import trimesh

from autopartgen.errors import PartGenError
from autopartgen.eval import baselines, runner


def box(size, centre=(0.0, 0.0, 0.0)):
    mesh = trimesh.creation.box(extents=size)
    mesh.apply_translation(centre)
    return mesh


def two_boxes():
    return [box((0.6, 0.2, 0.6), (0.0, 0.4, 0.0)), box((0.4, 0.4, 0.4), (0.1, -0.4, 0.0))]


def write_object(folder, parts, category="thing", split=None):
    """One object folder in the on-disk format: parts.glb with nodes part_000.., meta.json."""
    folder.mkdir(parents=True)
    scene = trimesh.Scene()
    for k, part in enumerate(parts):
        scene.add_geometry(part, node_name=f"part_{k:03d}", geom_name=f"geometry_{k:03d}")
    scene.export(str(folder / "parts.glb"))
    meta = {"category": category}
    if split:
        meta["split"] = split
    (folder / "meta.json").write_text(json.dumps(meta))


# --- baselines ------------------------------------------------------------------------------------


def test_single_returns_the_input_as_one_part():
    mesh = trimesh.util.concatenate(two_boxes())
    parts = baselines.run_baseline("single", mesh)
    assert len(parts) == 1 and parts[0] is not mesh
    np.testing.assert_allclose(parts[0].vertices, mesh.vertices)


def test_components_splits_two_disjoint_boxes_bottom_to_top():
    mesh = trimesh.util.concatenate(two_boxes())
    parts = baselines.run_baseline("components", mesh)
    assert len(parts) == 2
    assert parts[0].bounds[0][1] < parts[1].bounds[0][1]  # canonical order: lowest part first
    np.testing.assert_allclose(parts[1].bounds, two_boxes()[0].bounds)


def test_components_merges_split_vertices_first():
    mesh = box((0.5, 0.5, 0.5))
    mesh.unmerge_vertices()  # every face has its own corners, as GLB seams often leave them
    assert len(baselines.components(mesh)) == 1


def test_unknown_baseline_and_missing_target_are_clear_errors():
    with pytest.raises(PartGenError, match="unknown baseline"):
        baselines.run_baseline("nope", box((1, 1, 1)))
    with pytest.raises(PartGenError, match="target_count"):
        baselines.run_baseline("coacd_tuned", box((1, 1, 1)))


def test_missing_coacd_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "coacd", None)  # import coacd -> ImportError
    with pytest.raises(baselines.BaselineUnavailableError, match="pip install coacd"):
        baselines.run_baseline("coacd", box((1, 1, 1)))


FAST_COACD = dict(resolution=500, mcts_iterations=20, mcts_nodes=5, preprocess_mode="off")


def l_shape():
    """Two touching boxes fused into one closed, non-convex surface."""
    parts = [box((0.8, 0.2, 0.2), (0.3, -0.3, 0.0)), box((0.2, 0.8, 0.2), (-0.1, 0.0, 0.0))]
    return runner.make_input_mesh(parts, "fused", resolution=32, smooth_sigma=0.0)


def test_coacd_baselines_return_convex_parts():
    pytest.importorskip("coacd")
    mesh = l_shape()
    parts = baselines.run_baseline("coacd", mesh, **FAST_COACD)
    assert len(parts) >= 2 and all(isinstance(p, trimesh.Trimesh) for p in parts)
    assert all(p.is_convex for p in parts)
    tuned = baselines.run_baseline("coacd_tuned", mesh, gt_count=2, **FAST_COACD)
    assert len(tuned) == 2  # max_convex_hull = ground-truth count


# --- runner ---------------------------------------------------------------------------------------


def test_load_gt_parts_keeps_node_order(tmp_path):
    parts = two_boxes()
    write_object(tmp_path / "obj", parts)
    loaded = runner.load_gt_parts(tmp_path / "obj")
    assert len(loaded) == 2
    for got, want in zip(loaded, parts):
        np.testing.assert_allclose(got.bounds, want.bounds, atol=1e-6)


def test_find_objects_by_split(tmp_path):
    write_object(tmp_path / "a", two_boxes(), split="test")
    write_object(tmp_path / "b", two_boxes(), split="train")
    assert [p.name for p in runner.find_objects(tmp_path, "test")] == ["a"]
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "test.txt").write_text("b\n")
    assert [p.name for p in runner.find_objects(tmp_path, "test")] == ["b"]
    with pytest.raises(PartGenError):
        runner.find_objects(tmp_path / "missing", "test")


def test_fused_input_is_one_closed_surface_of_the_union():
    parts = [box((0.6, 0.2, 0.6), (0.0, 0.1, 0.0)), box((0.2, 0.6, 0.2), (0.0, -0.2, 0.0))]  # touching
    fused = runner.make_input_mesh(parts, "fused", resolution=48)
    assert fused.is_watertight and fused.volume > 0
    assert len(baselines.components(fused)) == 1
    assert fused.volume == pytest.approx(sum(p.volume for p in parts) - 0.2 * 0.1 * 0.2, rel=0.15)


def test_bootstrap_interval():
    assert runner.bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)
    mean, low, high = runner.bootstrap_ci(np.linspace(0, 1, 50))
    assert mean == pytest.approx(0.5) and low < 0.5 < high
    assert all(np.isnan(runner.bootstrap_ci([float("nan")])))


def test_runner_end_to_end(tmp_path):
    data = tmp_path / "data"
    write_object(data / "test" / "obj_a", two_boxes(), category="stack")
    write_object(data / "test" / "obj_b", [box((0.5, 0.5, 0.5))], category="block")
    out = tmp_path / "out"
    calls = []

    def echo_gt(mesh, *, gt_count, object_dir, **_):  # a custom method sees the context
        calls.append(gt_count)
        return runner.load_gt_parts(object_dir)

    runner.register_method("echo_gt", echo_gt)
    try:
        settings = runner.EvalSettings(input_form="concat", grid=16, n_samples=500)
        rows = runner.run_eval(data, out, ["single", "components", "echo_gt"], split="test", settings=settings,
                               progress=False)
    finally:
        runner.METHODS.pop("echo_gt")
    assert sorted(calls) == [1, 2]
    assert len(rows) == 6
    by_key = {(r["object_id"], r["method"]): r for r in rows}
    assert by_key["obj_a", "components"]["n_pred"] == 2 and by_key["obj_a", "components"]["part_iou"] == 1.0
    assert by_key["obj_a", "single"]["count_abs_error"] == 1.0
    assert by_key["obj_b", "echo_gt"]["part_iou"] == 1.0
    assert {r["category"] for r in rows} == {"stack", "block"}
    written = runner.read_csv(out / "results.csv")
    assert len(written) == 6 and written[0]["part_iou"] == pytest.approx(rows[0]["part_iou"], rel=1e-5)
    summary = (out / "summary.md").read_text()
    assert "| components |" in summary and "stack" in summary
    pytest.importorskip("matplotlib")
    for name in ["metrics_by_method.png", "iou_vs_part_count.png", "time_per_object.png", "gallery.png"]:
        assert (out / name).stat().st_size > 1000, name


def test_runner_rejects_a_mode_the_method_does_not_take(tmp_path):
    write_object(tmp_path / "obj", two_boxes())
    with pytest.raises(PartGenError, match="does not take --mode image"):
        runner.run_eval(tmp_path, tmp_path / "out", ["single"], split=None,
                        settings=runner.EvalSettings(mode="image"), progress=False)


def test_eval_cli_parses_and_runs(tmp_path):
    import argparse

    from autopartgen.eval import cli

    write_object(tmp_path / "data" / "obj", two_boxes())
    parser = argparse.ArgumentParser()
    cli.add_cli(parser.add_subparsers())
    args = parser.parse_args(["eval", "--data", str(tmp_path / "data"), "--split", "all", "--method", "single,components",
                              "--out", str(tmp_path / "out"), "--grid", "16", "--samples", "300",
                              "--input-resolution", "32", "--gallery", "0", "--quiet"])
    assert args.func(args) == 0
    assert len(runner.read_csv(tmp_path / "out" / "results.csv")) == 2


def test_runner_parallel_workers_give_the_same_rows(tmp_path):
    write_object(tmp_path / "a", two_boxes())
    write_object(tmp_path / "b", [box((0.5, 0.5, 0.5))])
    settings = runner.EvalSettings(input_form="concat", grid=16, n_samples=300)
    serial = runner.run_eval(tmp_path, tmp_path / "o1", ["components"], split=None, settings=settings,
                             gallery_count=0, progress=False)
    parallel = runner.run_eval(tmp_path, tmp_path / "o2", ["components"], split=None, settings=settings,
                               workers=2, gallery_count=0, progress=False)
    strip = [{k: v for k, v in row.items() if k != "time_s"} for row in serial]
    assert strip == [{k: v for k, v in row.items() if k != "time_s"} for row in parallel]
