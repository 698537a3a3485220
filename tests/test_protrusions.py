"""Thin pieces proud of a flat face (geometry/protrusions.py) and the anchored loop's use of them: checked on
boxes whose faces and pieces are known, fused and re-meshed as the evaluation fuses its inputs, and against
independent volumes (manifold3d booleans) and containment tests (trimesh)."""

import manifold3d
import numpy as np
import pytest
from scipy.spatial import Delaunay
import torch
import trimesh

from autopartgen.eval.runner import make_input_mesh
from autopartgen.geometry import protrusions
from autopartgen.pipeline import GenerationOptions
from tests.test_anchored import pipe  # noqa: F401 (fixture)
from tests.test_regions import constant_merger

CELL = 2.0 / 64  # an anchor cell of the [-1, 1] frame


def turned(mesh: trimesh.Trimesh, yaw_degrees: float) -> trimesh.Trimesh:
    """``mesh`` turned about the up axis (+Y)."""
    return mesh.copy().apply_transform(trimesh.transformations.rotation_matrix(np.radians(yaw_degrees), (0, 1, 0)))


def cabinet(yaw_degrees: float) -> dict:
    """A 1.4 x 1.4 x 1.0 box with, on its front face (z = 0.5 before turning): a door 2 cells thick over its
    left part, a button 1.5 cells proud on its right; a slab 2 cells thick lying on its top, and a post 8
    cells long standing off its right side. All turned about +Y by ``yaw_degrees`` (inside the [-1, 1] cube
    the input is fused in)."""
    body = trimesh.creation.box(extents=(1.4, 1.4, 1.0))
    door = trimesh.creation.box(extents=(0.8, 1.2, 2 * CELL)).apply_translation((-0.25, 0.0, 0.5 + CELL))
    button = trimesh.creation.box(extents=(0.14, 0.12, 1.5 * CELL)).apply_translation((0.45, 0.3, 0.5 + 0.75 * CELL))
    top = trimesh.creation.box(extents=(0.8, 2 * CELL, 0.6)).apply_translation((0.0, 0.7 + CELL, 0.0))
    post = trimesh.creation.box(extents=(8 * CELL, 0.2, 0.2)).apply_translation((0.7 + 4 * CELL, 0.0, 0.0))
    return {name: turned(part, yaw_degrees) for name, part in
            dict(body=body, door=door, button=button, top=top, post=post).items()}


def solid(mesh) -> manifold3d.Manifold:
    vertices, faces = (mesh.vertices, mesh.faces) if isinstance(mesh, trimesh.Trimesh) else mesh
    result = manifold3d.Manifold(manifold3d.Mesh(np.asarray(vertices, np.float32), np.asarray(faces, np.uint32)))
    assert result.status() == manifold3d.Error.NoError
    return result


@pytest.mark.parametrize("yaw", [0.0, 1.5, 23.0])
def test_flat_faces_find_each_face_of_a_fused_box_once(yaw):
    """The fused, re-meshed surface of a turned box is terraced; each face still comes back as one flat
    face, with its normal and its offset from the centre (the box's half-size)."""
    box = turned(trimesh.creation.box(extents=(1.6, 1.2, 1.0)), yaw)
    mesh = make_input_mesh([box], "fused")
    found = protrusions.flat_faces(mesh.vertices, mesh.faces, min_area=0.1)
    turn = trimesh.transformations.rotation_matrix(np.radians(yaw), (0, 1, 0))[:3, :3]
    for axis, half in ((0, 0.8), (1, 0.6), (2, 0.5)):
        for sign in (1, -1):
            normal = sign * turn[:, axis]
            matching = [face for face in found if face.normal @ normal > np.cos(np.radians(3))]
            assert len(matching) == 1, (axis, sign, len(matching))
            assert matching[0].offset == pytest.approx(half, abs=0.01)
            assert matching[0].top >= matching[0].offset
    assert len(found) == 6


@pytest.mark.parametrize("yaw", [0.0, 1.5, 23.0])
def test_thin_pieces_on_upright_faces_are_found_and_nothing_else(yaw):
    """The door and the button are found; the slab on top (a face looking up) and the post (8 cells
    long) are not. Each found region holds the piece's part of the input: compared with the true piece
    by volume (the cut lies a tenth of a cell in front of the face, so a sliver stays with the body)."""
    parts = cabinet(yaw)
    mesh = make_input_mesh(list(parts.values()), "fused")
    found = protrusions.thin_protrusions(mesh.vertices, mesh.faces, CELL)
    assert len(found) == 2
    whole = solid(mesh)
    for piece, name in zip(found, ("door", "button")):  # largest first
        held = whole ^ solid(piece.region)
        truth = solid(parts[name])
        overlap = (held ^ truth).volume()
        iou = overlap / (held.volume() + truth.volume() - overlap)
        assert iou > 0.6, (name, iou)
    heights = sorted(piece.height / CELL for piece in found)
    assert heights[0] == pytest.approx(1.5, abs=0.4) and heights[1] == pytest.approx(2.0, abs=0.4)
    assert protrusions.thin_protrusions(mesh.vertices, mesh.faces, CELL, max_height=1.0) == []


def test_a_plate_less_than_a_cell_proud_is_not_a_piece():
    """A plate 0.6 cells proud of the front (the scale of a fused surface's bevels and seams) is left alone
    at the default least height of one cell, and found when the least height is lowered."""
    body = trimesh.creation.box(extents=(1.4, 1.4, 1.0))
    plate = trimesh.creation.box(extents=(0.5, 0.4, 0.6 * CELL)).apply_translation((0.2, 0.1, 0.5 + 0.3 * CELL))
    mesh = make_input_mesh([body, plate], "fused")
    assert protrusions.thin_protrusions(mesh.vertices, mesh.faces, CELL) == []
    found = protrusions.thin_protrusions(mesh.vertices, mesh.faces, CELL, min_height=0.3)
    assert len(found) == 1 and found[0].height / CELL == pytest.approx(0.6, abs=0.3)


def test_an_open_surface_has_no_protrusions():
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    box.update_faces(np.arange(len(box.faces)) != 0)  # one triangle missing: not a closed solid
    assert protrusions.thin_protrusions(box.vertices, box.faces, CELL) == []


def test_inside_protrusions_agrees_with_a_containment_test():
    parts = cabinet(31.0)
    mesh = make_input_mesh(list(parts.values()), "fused")
    found = protrusions.thin_protrusions(mesh.vertices, mesh.faces, CELL)
    points = np.random.default_rng(0).uniform(-1, 1, (20000, 3))
    lo, hi = found[0].region[0].min(0), found[0].region[0].max(0)
    points[:10000] = np.random.default_rng(1).uniform(lo - 0.02, hi + 0.02, (10000, 3))  # many near the door
    owner = protrusions.inside_protrusions(points, found)
    assert (owner == 0).sum() > 100
    for index, piece in enumerate(found):
        region = trimesh.Trimesh(*piece.region, process=False)
        assert region.is_volume
        contained = Delaunay(piece.region[0]).find_simplex(points) >= 0  # the region is convex
        assert ((owner == index) == contained).all()


def test_host_labels_read_the_cells_behind_each_base():
    """On a label grid whose left half (x < 0) is part 0 and right half part 1, the door (mostly left of
    x = 0) stands on part 0 and the button (at x = 0.45) on part 1; with the grid empty behind them, -1."""
    parts = cabinet(0.0)
    mesh = make_input_mesh(list(parts.values()), "fused")
    door, button = protrusions.thin_protrusions(mesh.vertices, mesh.faces, CELL)
    centres = (np.arange(64) + 0.5) * CELL - 1.0
    x = np.broadcast_to(centres[:, None, None], (64, 64, 64))
    labels = np.where(x < 0, 0, 1).astype(np.int32)
    assert protrusions.host_labels([door, button], labels).tolist() == [0, 1]
    assert protrusions.host_labels([door, button], np.full((64, 64, 64), -1, np.int32)).tolist() == [-1, -1]


def test_carved_regions_still_tile_space():
    """Two halves of a cube, carved by the found pieces: the volumes still add up to the cube, and no two
    regions overlap."""
    parts = cabinet(0.0)
    mesh = make_input_mesh(list(parts.values()), "fused")
    found = protrusions.thin_protrusions(mesh.vertices, mesh.faces, CELL)
    halves = [trimesh.creation.box(extents=(1.1, 2.2, 2.2)).apply_translation((x, 0, 0)) for x in (-0.55, 0.55)]
    carved = protrusions.carve_regions([(h.vertices, h.faces) for h in halves], found)
    assert len(carved) == 2 + len(found)
    solids = [solid(region) for region in carved]
    assert sum(s.volume() for s in solids) == pytest.approx(2.2 ** 3, rel=1e-6)
    for i in range(len(solids)):
        for j in range(i + 1, len(solids)):
            assert (solids[i] ^ solids[j]).volume() < 1e-6  # float32 vertices


def test_the_anchored_loop_gives_flush_pieces_parts_of_their_own(pipe, monkeypatch):  # noqa: F811
    """A merger that merges everything leaves one part; with the config's flush_part_height the door and
    the button come out as parts of their own, cut from the input (volumes add up to the input's), each
    lying in front of the box's front face. Off by default, and off when an exact part count is asked."""
    parts = cabinet(0.0)
    mesh = make_input_mesh([parts["body"], parts["door"], parts["button"]], "fused")
    monkeypatch.setattr(pipe, "sample_part", lambda *a, **k: torch.zeros(pipe.dit.num_latents, pipe.dit.in_channels))
    monkeypatch.setattr(pipe, "region_merger", constant_merger(10.0))
    assert len(pipe.generate(mesh=mesh, options=GenerationOptions(progress=False)).parts) == 1
    monkeypatch.setitem(pipe.config.pipeline, "flush_part_height", 3.0)
    result = pipe.generate(mesh=mesh, options=GenerationOptions(progress=False))
    assert len(result.parts) == 3
    assert sum(part.mesh.volume for part in result.parts) == pytest.approx(mesh.volume, rel=1e-3)
    in_front = sorted((part for part in result.parts if part.mesh.bounds[0][2] > 0.499),
                      key=lambda part: -part.mesh.volume)
    assert len(in_front) == 2
    for part, name, tolerance in zip(in_front, ("door", "button"), (0.25, 0.4)):
        assert part.mesh.volume == pytest.approx(parts[name].volume, rel=tolerance)
    assert len(pipe.generate(mesh=mesh, options=GenerationOptions(progress=False, num_parts=2)).parts) == 2
    assert len(pipe.generate(mesh=mesh, options=GenerationOptions(progress=False, flush_parts=False)).parts) == 1


def test_an_input_of_separate_pieces_goes_by_its_pieces(pipe, monkeypatch):  # noqa: F811
    """Modelled as separate pieces (a door and a button mesh beside the box), the input keeps its pieces:
    no flush parts are looked for (the pieces already give the parts away)."""
    parts = cabinet(0.0)
    pieces = trimesh.util.concatenate([parts["body"], parts["door"], parts["button"]])
    monkeypatch.setattr(pipe, "sample_part", lambda *a, **k: torch.zeros(pipe.dit.num_latents, pipe.dit.in_channels))
    monkeypatch.setattr(pipe, "region_merger", constant_merger(10.0))
    without = pipe.generate(mesh=pieces, options=GenerationOptions(progress=False))
    monkeypatch.setitem(pipe.config.pipeline, "flush_part_height", 3.0)

    def refuse(*args, **kwargs):
        raise AssertionError("looked for flush parts on an input of separate pieces")

    monkeypatch.setattr(protrusions, "thin_protrusions", refuse)
    result = pipe.generate(mesh=pieces, options=GenerationOptions(progress=False))
    assert [len(p.mesh.faces) for p in result.parts] == [len(p.mesh.faces) for p in without.parts]
