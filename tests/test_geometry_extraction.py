"""Coarse-to-fine iso-surface extraction on analytic inside-positive fields."""

import time

import numpy as np
import pytest
import trimesh

from autopartgen.geometry import extract_isosurface, marching_cubes

LO, HI = -1.01, 1.01


def sphere(points, radius=0.5):
    return radius - np.linalg.norm(points, axis=1)


HALF_EXTENTS = np.array([0.5, 0.3, 0.7])


def box(points):
    q = np.abs(points) - HALF_EXTENTS
    outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
    inside = np.minimum(q.max(axis=1), 0.0)
    return -(outside + inside)


def torus(points, major=0.5, minor=0.2):
    ring = np.linalg.norm(points[:, [0, 2]], axis=1) - major
    return minor - np.hypot(ring, points[:, 1])


def _voxel(grid):
    return (HI - LO) / grid


@pytest.mark.parametrize(
    "field, volume",
    [
        (sphere, 4 / 3 * np.pi * 0.5**3),
        (box, 8 * np.prod(HALF_EXTENTS)),
        (torus, 2 * np.pi**2 * 0.5 * 0.2**2),
    ],
    ids=["sphere", "box", "torus"],
)
def test_surface_within_half_a_voxel(field, volume):
    grid = 128
    vertices, faces, stats = extract_isosurface(field, grid, backend="skimage")
    assert len(faces) > 1000
    # The fields are exact signed distances, so |field(v)| is the distance to the true surface.
    assert np.abs(field(vertices.astype(np.float64))).max() < 0.5 * _voxel(grid)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    assert mesh.is_watertight
    # Positive volume means the faces are wound outward.
    assert mesh.volume > 0
    assert mesh.volume == pytest.approx(volume, rel=0.02)
    # And the whole true surface is reached: samples on it are near a vertex.
    true_points = trimesh.Trimesh(vertices, faces).sample(2000, seed=np.random.default_rng(0))
    assert np.abs(field(true_points)).max() < 0.5 * _voxel(grid)


def test_band_evaluates_under_15_percent_at_256():
    start = time.perf_counter()
    vertices, faces, stats = extract_isosurface(sphere, 256, backend="skimage")
    elapsed = time.perf_counter() - start
    assert stats.dense_queries == 257**3
    assert stats.queries == sum(stats.level_queries)
    assert stats.query_fraction < 0.15
    assert np.abs(sphere(vertices.astype(np.float64))).max() < 0.5 * _voxel(256)
    print(f"grid 256 sphere: {stats.query_fraction:.2%} of dense queries, {elapsed:.2f} s")


def test_band_matches_dense_extraction():
    """Refining only near the surface gives the same mesh as evaluating every node."""
    coarse_to_fine = extract_isosurface(torus, 64, dense_size=16, backend="skimage")
    dense = extract_isosurface(torus, 64, dense_size=64, backend="skimage")
    assert dense[2].query_fraction == 1.0
    assert coarse_to_fine[2].query_fraction < 0.5
    np.testing.assert_array_equal(coarse_to_fine[1], dense[1])
    np.testing.assert_allclose(coarse_to_fine[0], dense[0], atol=1e-6)


def test_band_catches_thin_feature_between_coarse_nodes():
    """A slab thinner than a coarse voxel is invisible to the sign test but found with ``band``."""
    def slab(points):
        return 0.01 - np.abs(points[:, 0] - 0.06)

    _, faces_sign_only, _ = extract_isosurface(slab, 64, dense_size=16, backend="skimage")
    assert len(faces_sign_only) == 0
    vertices, faces, _ = extract_isosurface(slab, 64, dense_size=16, band=0.1, backend="skimage")
    assert len(faces) > 0
    assert np.abs(slab(vertices.astype(np.float64))).max() < 0.5 * _voxel(64)


def test_empty_and_full_fields_give_empty_mesh():
    for value in (-1.0, 1.0):
        vertices, faces, stats = extract_isosurface(lambda p: np.full(len(p), value), 64, backend="skimage")
        assert vertices.shape == (0, 3) and faces.shape == (0, 3)
        assert stats.backend == "none"


def test_torch_field_and_chunking():
    torch = pytest.importorskip("torch")
    calls = []

    def field(points):
        calls.append(len(points))
        return torch.from_numpy(sphere(points)).to(torch.bfloat16)

    vertices, faces, stats = extract_isosurface(field, 32, chunk_size=1000, backend="skimage")
    assert max(calls) <= 1000 and sum(calls) == stats.queries
    assert trimesh.Trimesh(vertices, faces).volume > 0


def test_grid_size_must_be_dense_times_power_of_two():
    with pytest.raises(ValueError):
        extract_isosurface(sphere, 96, dense_size=64)


def test_reference_compat_reproduces_the_vertex_scale_quirk():
    grid = 64
    vertices, faces, stats = extract_isosurface(lambda p: 8.0 * sphere(p), grid, reference_compat=True,
                                                backend="skimage")
    assert stats.dense_queries == grid**3 and stats.level_points == [32, 64]
    # Node i sits at lo + i/(G-1) * size but vertices are mapped with i/G: undo it to compare.
    size = HI - LO
    corrected = LO + (vertices.astype(np.float64) - LO) * grid / (grid - 1)
    voxel = size / (grid - 1)
    assert np.abs(sphere(corrected)).max() < 0.5 * voxel
    # The uncorrected mesh is measurably shrunk towards the min corner.
    assert np.abs(sphere(vertices.astype(np.float64))).max() > 0.5 * voxel
    assert trimesh.Trimesh(vertices, faces).volume > 0


def test_marching_cubes_orientation_and_index_units():
    x = np.arange(20, dtype=np.float32)
    grid = 6.0 - np.linalg.norm(np.stack(np.meshgrid(x, x, x, indexing="ij"), -1) - 9.5, axis=-1)
    vertices, faces, backend = marching_cubes(grid, backend="skimage")
    assert backend == "skimage"
    assert np.allclose(np.linalg.norm(vertices - 9.5, axis=1), 6.0, atol=0.1)
    assert trimesh.Trimesh(vertices, faces).volume > 0


def test_inside_nodes_measure_the_same_overlap_as_the_meshes():
    """ExtractionStats.inside (the field's sign at the nodes) gives the duplicate score the meshes give."""
    from autopartgen.geometry.overlap import overlap_ratio, volumetric_overlap

    def sphere(centre, radius):
        return lambda p: radius - np.linalg.norm(p - np.asarray(centre), axis=1)

    results = [extract_isosurface(sphere(c, r), 64, backend="skimage") for c, r in
               (((0.0, 0.0, 0.0), 0.5), ((0.4, 0.0, 0.0), 0.3), ((-0.6, 0.5, 0.0), 0.2))]
    for _, _, stats in results:
        assert stats.inside.shape == (65, 65, 65)
    for a, b in ((0, 1), (0, 2), (1, 2)):
        from_fields = overlap_ratio(results[a][2].inside, results[b][2].inside)
        from_meshes = volumetric_overlap(results[a][:2], results[b][:2], grid=64)
        assert abs(from_fields - from_meshes) < 0.05, (a, b, from_fields, from_meshes)
    assert overlap_ratio(results[0][2].inside, results[1][2].inside) > 0.5  # mostly inside the big sphere
    assert overlap_ratio(results[0][2].inside, results[2][2].inside) < 0.05  # apart
    _, _, big = extract_isosurface(sphere((0, 0, 0), 0.5), 256, backend="skimage")
    assert big.inside.shape == (129, 129, 129)  # at most 128 cells per axis
