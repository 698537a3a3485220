"""Edge topology: the watertight test and the solid statistics against trimesh and known answers."""

import numpy as np
import pytest
import trimesh

from autopartgen.geometry.topology import (
    every_edge_in_two_faces,
    solid_statistics,
    undirected_edge_keys,
)


def _trimesh_watertight(vertices, faces) -> bool:
    """The old part_record computation: trimesh's welded copy and its own test."""
    return bool(len(faces)) and bool(trimesh.Trimesh(vertices=vertices, faces=faces, process=True).is_watertight)


def test_edge_keys_equal_for_both_orientations():
    keys = undirected_edge_keys(np.array([[0, 1, 2], [2, 1, 3]]))
    assert keys.shape == (6,)
    assert keys[0] != keys[1] and keys[1] == keys[3]  # (1, 2) of face 0 and (2, 1) of face 1
    assert len(set(keys.tolist())) == 5


def test_box_known_answers():
    box = trimesh.creation.box(extents=(2.0, 3.0, 4.0))
    solid = solid_statistics(box.vertices, box.faces)
    assert solid.watertight and solid.volume == pytest.approx(24.0, abs=1e-12)
    # Every face with its own vertices (as a textured part's UV seams are stored): welded first, same answer.
    split = box.copy()
    split.unmerge_vertices()
    assert len(split.vertices) == 36
    assert not every_edge_in_two_faces(split.faces)
    solid = solid_statistics(split.vertices, split.faces)
    assert solid.watertight and solid.volume == pytest.approx(24.0, abs=1e-12)
    # One face less: open, no volume.
    solid = solid_statistics(box.vertices, box.faces[1:])
    assert not solid.watertight and solid.volume is None
    assert not solid_statistics(np.zeros((0, 3)), np.zeros((0, 3), int)).watertight


def test_non_manifold_edge_is_not_watertight():
    """Two closed tetrahedra sharing one edge: that edge is in four faces, which trimesh's test refuses too."""
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, -1, 0], [0, 0, -1]], float)
    tetra_a = [[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]
    tetra_b = [[0, 1, 4], [0, 5, 1], [0, 4, 5], [1, 5, 4]]
    assert every_edge_in_two_faces(np.array(tetra_a)) and every_edge_in_two_faces(np.array(tetra_b))
    faces = np.array(tetra_a + tetra_b)
    assert not every_edge_in_two_faces(faces)
    assert not _trimesh_watertight(vertices, faces)


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_trimesh_on_damaged_spheres(seed):
    """Random damage (faces dropped, duplicated, made degenerate, vertices nudged or split) on spheres:
    same watertightness and, where watertight, bit-identical volume as trimesh's welded copy."""
    rng = np.random.default_rng(seed)
    sphere = trimesh.creation.icosphere(subdivisions=2)
    vertices, faces = sphere.vertices.copy(), sphere.faces.copy()
    damage = seed % 6
    if damage == 1:
        faces = np.delete(faces, rng.integers(len(faces)), axis=0)
    elif damage == 2:
        faces = np.concatenate([faces, faces[rng.integers(len(faces), size=1)]])
    elif damage == 3:
        faces[rng.integers(len(faces))] = [0, 0, 1]
    elif damage == 4:
        vertices = vertices + rng.normal(0.0, 1e-3, vertices.shape)  # still closed
    elif damage == 5:
        split = trimesh.Trimesh(vertices, faces, process=False)
        split.unmerge_vertices()
        vertices, faces = split.vertices, split.faces
    expected = _trimesh_watertight(vertices, faces)
    assert expected == (damage in (0, 4, 5))
    solid = solid_statistics(vertices, faces)
    assert solid.watertight == expected
    if expected:
        assert solid.volume == float(trimesh.Trimesh(vertices=vertices, faces=faces, process=True).volume)
