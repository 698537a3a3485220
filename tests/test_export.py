"""Output files: GLBs, manifest, mask palette, atomic writes and the output-folder guard."""

import io
import json
import os

import numpy as np
import pytest
import trimesh
from PIL import Image

from autopartgen.errors import OutputPathError, PartGenError
from autopartgen.export import (
    COMBINED_GLB,
    MANIFEST,
    atomic_write,
    atomic_writer,
    part_palette,
    part_record,
    prepare_output_dir,
    write_combined_glb,
    write_manifest,
    write_mask_visualisation,
    write_part_glbs,
    write_preview,
)


def _parts(n=3):
    return [trimesh.creation.box(extents=(0.3, 0.3, 0.3)).apply_translation((0.4 * i - 0.4, 0, 0)) for i in range(n)]


def _load_scene(path):
    return trimesh.load(path, file_type="glb", force="scene")


def test_part_palette_matches_reference_formula():
    colors = part_palette(4)
    assert colors.shape == (4, 4) and colors.dtype == np.uint8
    # hue 0: (0.95, 0.95*0.3, 0.95*0.3) -> truncated bytes
    assert colors[0].tolist() == [242, 72, 72, 255]
    assert len({tuple(c) for c in colors.tolist()}) == 4


def test_combined_glb_round_trip_keeps_names_count_colours(tmp_path):
    parts = _parts(3)
    path = write_combined_glb(parts, tmp_path / COMBINED_GLB)
    scene = _load_scene(path)
    names = sorted(scene.graph.nodes_geometry)
    assert names == ["part_000", "part_001", "part_002"]
    palette = part_palette(3)
    for i, name in enumerate(names):
        _, geometry_name = scene.graph[name]
        mesh = scene.geometry[geometry_name]
        assert mesh.visual.material.baseColorFactor.tolist() == palette[i].tolist()
        placed = mesh.copy().apply_transform(scene.graph[name][0])
        np.testing.assert_allclose(placed.bounds, parts[i].bounds, atol=1e-6)
    # The same inputs give byte-identical files.
    again = write_combined_glb(parts, tmp_path / "again.glb")
    assert path.read_bytes() == again.read_bytes()


def test_part_glbs_vertex_colour_mode(tmp_path):
    parts = _parts(2)
    paths = write_part_glbs(parts, tmp_path, color_mode="vertex")
    assert [p.name for p in paths] == ["mesh_000.glb", "mesh_001.glb"]
    scene = _load_scene(paths[1])
    assert list(scene.graph.nodes_geometry) == ["part_001"]
    mesh = next(iter(scene.geometry.values()))
    assert (mesh.visual.vertex_colors == part_palette(2)[1]).all()


def test_manifest_and_part_record(tmp_path):
    parts = _parts(2)
    palette = part_palette(2)
    records = [part_record(p, f"mesh_{i:03d}.glb", palette[i], mask_label=i + 1, seed=42, retries=0)
               for i, p in enumerate(parts)]
    path = write_manifest(tmp_path / MANIFEST, records, {"mode": "mesh", "stop_reason": "end_token",
                                                         "timings": {"decode": np.float64(1.5)}})
    manifest = json.loads(path.read_text())
    assert manifest["num_parts"] == 2 and manifest["run"]["timings"]["decode"] == 1.5
    first = manifest["parts"][0]
    assert first["faces"] == 12 and first["vertices"] == 8 and first["watertight"] is True
    assert first["volume"] == pytest.approx(0.027)
    assert first["bbox_min"] == pytest.approx([-0.55, -0.15, -0.15])
    assert first["color"] == palette[0].tolist() and first["mask_label"] == 1


def test_mask_visualisation_colours_and_missing_region(tmp_path):
    mask = np.zeros((4, 6), dtype=np.uint8)
    mask[:2, :3] = 5
    mask[2:, 3:] = 9
    palette = part_palette(2)
    png, palette_json = write_mask_visualisation(tmp_path, mask, [9, 5], palette, part_files=["mesh_000.glb", None])
    image = np.asarray(Image.open(png))
    assert image.shape == (4, 6, 4)
    assert image[3, 5].tolist() == palette[0].tolist()
    assert image[0, 0].tolist() == palette[1].tolist()
    assert image[3, 0].tolist() == [0, 0, 0, 0]
    entries = json.loads(palette_json.read_text())
    assert entries[0] == {"part_index": 0, "mask_label": 9, "rgba": palette[0].tolist(), "mesh": "mesh_000.glb"}
    assert entries[1]["mesh"] is None


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "mesh_000.glb"
    with pytest.raises(RuntimeError):
        with atomic_writer(target) as handle:
            handle.write(b"half a mesh")
            raise RuntimeError("writer failed")
    assert list(tmp_path.iterdir()) == []
    # An existing file survives a failed rewrite unchanged.
    atomic_write(target, b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_writer(target) as handle:
            handle.write(b"new but incomplete")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["mesh_000.glb"]


def _run(out, n_parts, fail=False):
    with out.transaction() as stage:
        write_part_glbs(_parts(n_parts), stage)
        write_combined_glb(_parts(n_parts), stage / COMBINED_GLB)
        write_preview(stage / "preview.png", np.zeros((8, 8, 3), np.uint8))
        if fail:
            raise KeyboardInterrupt
        write_manifest(stage / MANIFEST, [], {"mode": "test"})


def test_output_guard_replaces_only_our_files_as_a_set(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    out = prepare_output_dir(folder)
    _run(out, 3)
    ours = {"mesh_000.glb", "mesh_001.glb", "mesh_002.glb", COMBINED_GLB, "preview.png", MANIFEST}
    assert ours <= {p.name for p in folder.iterdir()}
    before = {name: (folder / name).read_bytes() for name in ours}

    # An interrupted run changes nothing and leaves no staging folder behind.
    with pytest.raises(KeyboardInterrupt):
        _run(prepare_output_dir(folder), 1, fail=True)
    assert {name: (folder / name).read_bytes() for name in ours} == before
    assert not [p for p in folder.iterdir() if p.name.startswith(".autopartgen-staging")]

    # A successful smaller run replaces the set: stale mesh_001/002 go, the foreign file stays.
    _run(prepare_output_dir(folder), 1)
    visible = {p.name for p in folder.iterdir() if not p.name.startswith(".")}
    assert visible == {"mesh_000.glb", COMBINED_GLB, "preview.png", MANIFEST, "notes.txt"}
    assert (folder / "notes.txt").read_text() == "mine"


def test_output_guard_never_overwrites_a_foreign_file(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "mesh_000.glb").write_bytes(b"someone else's mesh")
    with pytest.raises(OutputPathError, match="mesh_000.glb"):
        prepare_output_dir(folder)
    assert (folder / "mesh_000.glb").read_bytes() == b"someone else's mesh"


def test_output_guard_refuses_a_file_and_an_unwritable_folder(tmp_path, monkeypatch):
    a_file = tmp_path / "result.glb"
    a_file.write_bytes(b"x")
    with pytest.raises(OutputPathError, match="existing file") as info:
        prepare_output_dir(a_file)
    assert isinstance(info.value, PartGenError) and "\n" not in str(info.value)
    with pytest.raises(OutputPathError):
        prepare_output_dir(a_file / "sub")

    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() != 0:
        locked.chmod(0o500)
        try:
            with pytest.raises(OutputPathError, match="not writable"):
                prepare_output_dir(locked)
        finally:
            locked.chmod(0o700)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("autopartgen.export.tempfile.mkstemp", refuse)
    with pytest.raises(OutputPathError, match="not writable"):
        prepare_output_dir(locked)


def test_preview_written_from_array(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, size=(10, 12, 4), dtype=np.uint8)
    path = write_preview(tmp_path / "preview.png", image)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(path.read_bytes()))), image)


def test_meshes_coloured_once_write_the_same_files(tmp_path):
    """export_result colours each part once for its own file and the combined one: same bytes as before."""
    from autopartgen.export import colored_meshes, part_node_name

    parts = [trimesh.creation.icosphere(subdivisions=2, radius=0.2).apply_translation((0.5 * i, 0, 0))
             for i in range(3)]
    colors = part_palette(3)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_part_glbs(parts, tmp_path / "a", colors)
    write_combined_glb(parts, tmp_path / "a" / COMBINED_GLB, colors)
    colored = colored_meshes(parts, [part_node_name(i) for i in range(3)], colors)
    write_part_glbs(parts, tmp_path / "b", colors, colored=colored)
    write_combined_glb(parts, tmp_path / "b" / COMBINED_GLB, colors, colored=colored)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir()) and len(names) == 4
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_export_result_matches_the_plain_writers_and_old_statistics(tmp_path):
    """export_result computes normals and solid statistics on parallel threads: its GLBs are byte for byte
    what the plain writers give, and parts.json reports what trimesh's welded copy says (an open part too)."""
    import types

    import torch

    from autopartgen.export import export_result

    parts = [trimesh.creation.icosphere(subdivisions=2, radius=0.2).apply_translation((0.5 * i, 0, 0))
             for i in range(3)]
    opened = trimesh.Trimesh(parts[1].vertices, parts[1].faces[2:], process=False)
    split = parts[2].copy()
    split.unmerge_vertices()  # watertight only once welded
    parts = [parts[0], opened, split]
    result = types.SimpleNamespace(
        parts=[types.SimpleNamespace(mesh=m, mask_label=None, seed=0, retries=0, position=i)
               for i, m in enumerate(parts)], mask=None, mask_labels=None, whole_mesh=None)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        export_result(result, prepare_output_dir(tmp_path / "out"), {}, preview=False)
    finally:
        torch.set_num_threads(threads)
    (tmp_path / "plain").mkdir()
    write_part_glbs(parts, tmp_path / "plain", part_palette(3))
    write_combined_glb(parts, tmp_path / "plain" / COMBINED_GLB, part_palette(3))
    for path in (tmp_path / "plain").iterdir():
        assert (tmp_path / "out" / path.name).read_bytes() == path.read_bytes(), path.name
    records = json.loads((tmp_path / "out" / MANIFEST).read_text())["parts"]
    assert [r["watertight"] for r in records] == [True, False, True]
    for record, part in zip(records, parts):
        welded = trimesh.Trimesh(part.vertices, part.faces, process=True)
        assert record["watertight"] == welded.is_watertight
        assert record["volume"] == (round(float(welded.volume), 6) if welded.is_watertight else None)
    assert records[0]["volume"] == pytest.approx(4 / 3 * np.pi * 0.2 ** 3, rel=0.05)
