"""Duplicate-part scores: reference surface containment vs volumetric overlap."""

import numpy as np
import pytest
import trimesh

from autopartgen.geometry import containment_ratio, occupancy_grid, volumetric_overlap


def _box(extents, center, max_edge=0.02):
    """A box tessellated finely, like an extracted part: the reference score draws 8 samples per face."""
    box = trimesh.creation.box(extents=extents)
    vertices, faces = trimesh.remesh.subdivide_to_size(box.vertices, box.faces, max_edge=max_edge)
    return trimesh.Trimesh(vertices, faces).apply_translation(center)


def test_identical_and_disjoint():
    a = _box((0.6, 0.6, 0.6), (-0.4, 0, 0))
    b = _box((0.6, 0.6, 0.6), (0.4, 0, 0))
    rng = np.random.default_rng(0)
    assert containment_ratio(a, a.copy(), rng) > 0.95
    assert containment_ratio(a, b, rng) == 0.0
    assert volumetric_overlap(a, a.copy(), grid=64) == 1.0
    assert volumetric_overlap(a, b, grid=64) == 0.0
    empty = (np.zeros((0, 3)), np.zeros((0, 3), int))
    assert containment_ratio(a, empty, rng) == 0.0 and volumetric_overlap(a, empty) == 0.0


def test_containment_is_deterministic_for_a_seed():
    a = _box((0.6, 0.6, 0.6), (0, 0, 0))
    b = _box((0.6, 0.6, 0.6), (0.2, 0, 0))
    assert containment_ratio(a, b, np.random.default_rng(4)) == containment_ratio(a, b, np.random.default_rng(4))


def test_thin_part_on_a_surface_is_a_duplicate_only_for_the_reference_score():
    base = _box((1.0, 0.4, 1.0), (0, 0, 0))
    # A thin plate lying on the top face: a different part, sharing surface voxels with the base.
    plate = _box((0.8, 0.02, 0.8), (0, 0.21, 0))
    threshold = 0.3  # the reference's default iou_threshold
    assert containment_ratio(base, plate, np.random.default_rng(0)) > threshold
    assert occupancy_grid(plate.vertices, plate.faces, grid=128).any()
    assert volumetric_overlap(base, plate, grid=128) < 0.05
    # A genuine duplicate (the base slightly shifted) is caught by both.
    shifted = _box((1.0, 0.4, 1.0), (0.02, 0, 0))
    assert volumetric_overlap(base, shifted, grid=128) > 0.9
    assert containment_ratio(base, shifted, np.random.default_rng(0)) > threshold


def test_union_of_overlapping_parts_counts_shared_volume_once():
    a = _box((0.6, 0.6, 0.6), (0, 0, 0), max_edge=1.0)
    b = _box((0.6, 0.6, 0.6), (0.3, 0, 0), max_edge=1.0)
    union = trimesh.util.concatenate([a, b])
    occupied = occupancy_grid(union.vertices, union.faces, grid=100, bounds=(-1.0, 1.0))
    voxel = 0.02
    assert occupied.sum() * voxel**3 == pytest.approx(0.9 * 0.6 * 0.6, rel=0.05)


def test_occupancy_grid_fills_the_interior():
    sphere = trimesh.creation.icosphere(3, radius=0.5)
    occupied = occupancy_grid(sphere.vertices, sphere.faces, grid=64)
    voxel = 2.02 / 64
    assert occupied.sum() * voxel**3 == pytest.approx(sphere.volume, rel=0.03)
    assert occupied[32, 32, 32]
