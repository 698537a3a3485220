"""Tests of the on-disk part dataset (autopartgen.data.dataset) and the `autopartgen data` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from autopartgen.cli import main
from autopartgen.data import dataset as D
from autopartgen.data.procedural import build_object
from autopartgen.errors import ConfigError, InputFileError, OutputPathError


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    record = D.generate_and_write(out, seed=7, category="chair", n_views=2, size=48, resolution=24)
    return out, record


def test_round_trip_of_the_folder_format(written):
    out, record = written
    folder = out / record["id"]
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "parts.glb", "samples.npz", "views"]
    assert sorted(p.name for p in (folder / "views").iterdir()) == ["mask_00.png", "mask_01.png", "rgba_00.png",
                                                                    "rgba_01.png"]
    obj = D.load_object(folder)
    ref = build_object("chair", 7, resolution=24)
    assert obj["meta"]["category"] == "chair" and obj["meta"]["seed"] == 7 and obj["meta"]["split"] == "train"
    assert len(obj["parts"]) == len(ref.parts) == obj["meta"]["n_parts"]
    for k, (part, want) in enumerate(zip(obj["parts"], ref.parts)):
        assert part["node"] == f"part_{k:03d}" and part["name"] == want.name
        np.testing.assert_allclose(part["vertices"], want.mesh.vertices, atol=1e-6)
        np.testing.assert_array_equal(part["faces"], want.mesh.faces)
    assert len(obj["views"]) == 2
    for view, record_meta in zip(obj["views"], obj["meta"]["views"]):
        assert view["rgba"].shape == (48, 48, 4) and view["rgba"].dtype == np.uint8
        assert view["mask"].shape == (48, 48) and view["mask"].dtype == np.uint8
        np.testing.assert_array_equal(view["mask"] > 0, view["rgba"][..., 3] > 127)
        assert set(np.unique(view["mask"])) <= set(range(len(ref.parts) + 1))
        assert view["camera"].to_dict()["azimuth"] == record_meta["camera"]["azimuth"]
    s = obj["samples"]
    k = len(ref.parts)
    assert s["part_points"].shape == (k, 1024, 3) and s["part_normals"].shape == (k, 1024, 3)
    assert s["points"].shape == (4096, 3) and s["near_part_sdf"].shape == (4096, k)
    np.testing.assert_allclose(s["near_sdf"], s["near_part_sdf"].astype(np.float32).min(axis=1), atol=2e-3)
    np.testing.assert_allclose(np.linalg.norm(s["part_normals"], axis=2), 1.0, atol=1e-4)
    # samples lie on their part's surface and the whole-object points are not buried inside another part
    for j, part in enumerate(ref.parts):
        assert np.abs(part.sdf(s["part_points"][j].astype(np.float64))).max() < part.cell
    # (marching-cubes chords sit up to half a cell inside the exact surface)
    assert ref.sdf(s["points"].astype(np.float64)).min() > -0.5 * max(p.cell for p in ref.parts)
    assert (s["uniform_sdf"] < 0).any() and (s["uniform_sdf"] > 0).any()


def test_validate_and_check_pass_on_generated_data(written):
    out, record = written
    summary, problems = D.validate_object(out / record["id"])
    assert problems == [] and summary["category"] == "chair"
    report = D.check_dataset(out)
    assert report["n_objects"] == 1 and report["failures"] == [] and report["categories"] == {"chair": 1}


def test_existing_objects_are_skipped_and_no_partial_folders_remain(written):
    out, record = written
    again = D.generate_and_write(out, seed=7, category="chair", n_views=2, size=48, resolution=24)
    assert again["skipped"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_splits_are_disjoint_seed_ranges():
    ranges = {s: set(D.split_seeds(s, 0, 50)) | set(D.split_seeds(s, D.SPLIT_SEED_SPAN - 50, 50)) for s in D.SPLITS}
    for a in D.SPLITS:
        for b in D.SPLITS:
            if a != b:
                assert not ranges[a] & ranges[b]
        assert {D.split_of_seed(x) for x in ranges[a]} == {a}
    with pytest.raises(ConfigError):
        D.split_seeds("train", D.SPLIT_SEED_SPAN - 1, 2)


def test_cli_generate_check_and_detect_corruption(tmp_path, capsys):
    out = tmp_path / "corpus"
    rc = main(["data", "generate", "--out", str(out), "--n", "3", "--seed", "5", "--views", "1", "--size", "32",
               "--resolution", "20", "--workers", "2", "--categories", "mug", "axe", "--quiet"])
    assert rc == 0
    folders = D.list_objects(out)
    assert [f.name for f in folders] == ["axe_0000000005", "axe_0000000007", "mug_0000000006"]
    rc = main(["data", "generate", "--out", str(out), "--n", "2", "--views", "1", "--size", "32",
               "--resolution", "20", "--split", "test-ood", "--categories", "stool", "--quiet"])
    assert rc == 0
    meta = json.loads((out / "stool_3000000000" / "meta.json").read_text())
    assert meta["split"] == "test-ood" and meta["ood"] and meta["ood_params"]
    capsys.readouterr()
    assert main(["data", "check", str(out)]) == 0
    text = capsys.readouterr().out
    assert "objects: 5" in text and "failures: 0" in text and "axe=2" in text
    # Break one mask: check must fail and name the file.
    mask_path = folders[0] / "views" / "mask_00.png"
    mask = D._read_png(mask_path)
    mask[:] = 0
    D.write_png(mask_path, mask)
    assert main(["data", "check", str(out)]) == 1
    assert "mask_00.png" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["data", "generate", "--out", str(tmp_path), "--n", "1", "--categories", "spaceship"]) != 0
    assert "unknown categories spaceship" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputPathError):
        D.write_object(blocker, "x", [trimesh.creation.box()], {})
    assert main(["data", "check", str(tmp_path / "missing")]) != 0
    assert "not a folder" in capsys.readouterr().err


def _two_part_scene() -> trimesh.Scene:
    scene = trimesh.Scene()
    seat = trimesh.creation.box([2.0, 0.2, 2.0]).apply_translation([10, 1.0, 0])
    leg = trimesh.creation.cylinder(radius=0.1, height=1.0).apply_translation([10, 0.45, 0])
    leg.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0], point=[10, 0.45, 0]))
    scene.add_geometry(seat, node_name="seat", geom_name="seat")
    scene.add_geometry(leg, node_name="leg", geom_name="leg")
    return scene


def test_import_glb_whose_nodes_are_parts(tmp_path):
    src = tmp_path / "stool.glb"
    src.write_bytes(_two_part_scene().export(file_type="glb"))
    folder = D.import_object(src, tmp_path / "out", n_views=1, size=32)
    obj = D.load_object(folder)
    assert [p["name"] for p in obj["parts"]] == ["leg", "seat"]  # bottom-to-top
    allv = np.concatenate([p["vertices"] for p in obj["parts"]])
    assert abs(np.abs(allv).max() - 1.0) < 1e-6
    norm = obj["meta"]["normalisation"]
    original = obj["parts"][1]["vertices"] / norm["scale"] + np.array(norm["centre"])
    np.testing.assert_allclose(original[:, 0].min(), 9.0, atol=1e-5)  # inverse normalisation recovers the input
    assert obj["samples"]["part_points"].shape[0] == 2 and "near_sdf" not in obj["samples"]
    assert D.validate_object(folder)[1] == []


def test_import_folder_of_part_meshes_and_errors(tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    trimesh.creation.box([1, 1, 1]).export(parts / "body.ply")
    trimesh.creation.icosphere(radius=0.3).apply_translation([0, 0.7, 0]).export(parts / "head.obj")
    (parts / "notes.txt").write_text("ignored")
    folder = D.import_object(parts, tmp_path / "out", obj_id="toy", n_views=1, size=32)
    obj = D.load_object(folder)
    assert folder.name == "toy" and [p["name"] for p in obj["parts"]] == ["body", "head"]
    assert main(["data", "import", str(parts), "--out", str(tmp_path / "out2"), "--views", "0"]) == 0
    with pytest.raises(InputFileError, match="not found"):
        D.import_object(tmp_path / "nope.glb", tmp_path / "out")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputFileError, match="no mesh files"):
        D.import_object(empty, tmp_path / "out")
    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"not a glb at all")
    with pytest.raises(InputFileError):
        D.import_object(bad, tmp_path / "out")


def test_load_object_errors_name_the_file(tmp_path):
    with pytest.raises(InputFileError, match="meta.json"):
        D.load_object(tmp_path)
    (tmp_path / "meta.json").write_text("{broken")
    with pytest.raises(InputFileError, match="invalid JSON"):
        D.load_object(tmp_path)


def test_sample_surface_is_area_uniform():
    rng = np.random.default_rng(0)
    # Two triangles, one with 3x the area of the other.
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [3, 0, 1], [0, 1, 1.0]])
    f = np.array([[0, 1, 2], [3, 4, 5]])
    pts, normals, face = D.sample_surface(v, f, 20000, rng, return_faces=True)
    assert abs((face == 1).mean() - 0.75) < 0.02
    np.testing.assert_allclose(pts[face == 0][:, 2], 0.0)
    np.testing.assert_allclose(np.abs(normals[:, 2]), 1.0)


def test_whole_object_samples_skip_surface_buried_in_other_parts():
    from autopartgen.data import procedural as P

    a = P.box([0.0, 0.0, 0.0], [0.5, 0.5, 0.5])
    b = P.box([0.5, 0.0, 0.0], [0.5, 0.3, 0.3])  # half of b lies inside a
    meshes = [trimesh.creation.box([1.0, 1.0, 1.0]), trimesh.creation.box([1.0, 0.6, 0.6]).apply_translation([0.5, 0, 0])]
    s = D.compute_samples(meshes, [a, b], seed=0, n_part=256, n_whole=2000, n_near=100, n_uniform=100)
    union = np.minimum(a(s["points"].astype(np.float64)), b(s["points"].astype(np.float64)))
    assert union.min() > -1e-3
    assert (s["points"][:, 0] > 0.5).sum() > 100  # b's exposed half is sampled
    # part samples keep the buried surface: they describe each part on its own
    assert (s["part_points"][1][:, 0] < 0.45).sum() > 20
