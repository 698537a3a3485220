"""Surface sampling, farthest point sampling and the encoder point-cloud recipe."""

from pathlib import Path

import numpy as np
import pytest
import trimesh

from autopartgen.geometry import (
    farthest_point_sample,
    farthest_point_sample_numpy,
    resample_surface_for_encoder,
    sample_surface,
)

GOLDEN = Path(__file__).parent / "data" / "compat" / "fps_32768.npz"


def _box():
    mesh = trimesh.creation.box(extents=(2.0, 1.0, 0.5))
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)


def test_sample_surface_deterministic_and_on_surface():
    vertices, faces = _box()
    a = sample_surface(vertices, faces, 5000, np.random.default_rng(7))
    b = sample_surface(vertices, faces, 5000, np.random.default_rng(7))
    c = sample_surface(vertices, faces, 5000, np.random.default_rng(8))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    points, normals = a
    assert points.shape == (5000, 3) and points.dtype == np.float32 and normals.dtype == np.float32
    # On the box surface: some coordinate sits at its half extent, with the normal along that axis.
    half = np.array([1.0, 0.5, 0.25])
    on_face = np.isclose(np.abs(points), half, atol=1e-5)
    assert on_face.any(axis=1).all()
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    # Area weighting: the two 2x1 faces (normal z) hold 2 * 2 / (2 * (2 + 1 + 0.5)) = 4/7 of the area.
    fraction = np.mean(np.abs(normals[:, 2]) > 0.5)
    assert fraction == pytest.approx(4 / 7, abs=0.03)


def test_fps_equals_textbook_fps_from_first_index():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(3000, 3)).astype(np.float32)
    indices = farthest_point_sample(points, 300, start_index=17)
    assert len(np.unique(indices)) == 300
    np.testing.assert_array_equal(indices, farthest_point_sample_numpy(points, 300, int(indices[0])))


def test_fps_matches_reference_golden():
    torch = pytest.importorskip("torch")
    golden = np.load(GOLDEN)
    torch.manual_seed(int(golden["torch_seed"]))
    start = int(torch.randint(len(golden["points"]), (1,)))
    assert start == int(golden["start_idx"])
    indices = farthest_point_sample(golden["points"], 2048, start_index=start)
    np.testing.assert_array_equal(indices, golden["indices_2048"])
    np.testing.assert_array_equal(
        farthest_point_sample_numpy(golden["points"], 2048, int(indices[0])), golden["indices_2048"]
    )


def test_resample_surface_for_encoder():
    box = _box()
    sphere = trimesh.creation.icosphere(2, radius=0.3)
    meshes = [box, (sphere.vertices + 2.0, sphere.faces)]
    kwargs = dict(point_cloud_size=512, num_samples=8000, fps_max_points=2048)
    a = resample_surface_for_encoder(meshes, np.random.default_rng(1), **kwargs)
    b = resample_surface_for_encoder(meshes, np.random.default_rng(1), **kwargs)
    assert a.shape == (512, 6) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    # Both meshes are represented (FPS spreads points over both).
    assert (a[:, 0] > 1.5).any() and (a[:, 0] < 1.5).any()
    empty = resample_surface_for_encoder([(np.zeros((0, 3)), np.zeros((0, 3), int))], np.random.default_rng(0),
                                         **kwargs)
    assert empty.shape == (512, 6) and not empty.any()


def test_resample_reference_rng_uses_global_torch_generator():
    torch = pytest.importorskip("torch")
    kwargs = dict(point_cloud_size=256, num_samples=4000, fps_max_points=1024, reference_rng=True)
    torch.manual_seed(5)
    a = resample_surface_for_encoder([_box()], np.random.default_rng(2), **kwargs)
    torch.manual_seed(5)
    b = resample_surface_for_encoder([_box()], np.random.default_rng(2), **kwargs)
    torch.manual_seed(6)
    c = resample_surface_for_encoder([_box()], np.random.default_rng(2), **kwargs)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sample_surface_draws_what_trimesh_draws():
    """Our sampler keeps trimesh's random stream and results bit for bit (the reference samples with
    trimesh), including zero normals for degenerate faces."""
    import trimesh

    mesh = trimesh.creation.icosphere(subdivisions=3)
    vertices = np.asarray(mesh.vertices) * np.array([1.0, 0.5, 2.0])
    faces = np.concatenate([np.asarray(mesh.faces), [[0, 0, 1]]])  # one degenerate face
    ours = sample_surface(vertices, faces, 5000, np.random.default_rng(7))
    reference_mesh = trimesh.Trimesh(vertices, faces, process=False)
    points, face_index = trimesh.sample.sample_surface(reference_mesh, 5000, seed=np.random.default_rng(7))
    assert np.array_equal(ours[0], points.astype(np.float32))
    assert np.array_equal(ours[1], reference_mesh.face_normals[face_index].astype(np.float32))
    from autopartgen.geometry.sampling import MeshSurface

    exact, _ = MeshSurface([(vertices, faces)]).draw(5000, np.random.default_rng(7))
    assert np.array_equal(exact, points)  # float64, as the reference's surface-voxel keys see them


def test_a_growing_mesh_surface_draws_what_the_concatenation_draws():
    """MeshSurface (the reference loop's union of accepted parts) gives the concatenated mesh's draws bit for
    bit, in the duplicate score and in the encoder cloud, with parts added one at a time."""
    import trimesh

    from autopartgen.geometry import containment_ratio, resample_surface_for_encoder
    from autopartgen.geometry.sampling import MeshSurface, concatenate_meshes

    parts = [trimesh.creation.icosphere(subdivisions=2, radius=0.3).apply_translation((x, 0.1 * x, 0))
             for x in (-0.5, 0.0, 0.45)]
    parts.append(trimesh.creation.box(extents=(0.2, 0.6, 0.3)))
    surface = MeshSurface()
    for count in range(1, len(parts)):
        surface.add(parts[count - 1])
        union = concatenate_meshes(parts[:count])
        for seed in range(3):
            ours, ours_crosses = surface.draw(4000, np.random.default_rng(seed))
            theirs, theirs_crosses = MeshSurface([union]).draw(4000, np.random.default_rng(seed))
            assert np.array_equal(ours, theirs) and np.array_equal(ours_crosses, theirs_crosses)
        candidate = parts[count]
        assert containment_ratio(surface, candidate, np.random.default_rng(5)) == \
            containment_ratio(union, candidate, np.random.default_rng(5))
        assert np.array_equal(resample_surface_for_encoder(surface, np.random.default_rng(9), 256, 4000, 1024),
                              resample_surface_for_encoder(parts[:count], np.random.default_rng(9), 256, 4000, 1024))


def test_surface_takes_the_areas_floater_removal_measured():
    """The face areas remove_floaters_with_areas returns are what MeshSurface and trimesh measure on its output,
    bit for bit, so the reference loop's union draws stay the same when it passes them on."""
    from scipy import ndimage
    from skimage import measure

    from autopartgen.geometry.cleanup import remove_floaters_with_areas
    from autopartgen.geometry.sampling import MeshSurface

    field = ndimage.gaussian_filter(np.random.default_rng(3).normal(size=(24, 24, 24)), 0.8)
    vertices, faces, _, _ = measure.marching_cubes(field, level=0.15)
    clean_vertices, clean_faces, areas = remove_floaters_with_areas(vertices, faces, min_area_ratio=0.002)
    assert len(clean_faces) < len(faces)
    mesh = trimesh.Trimesh(clean_vertices, clean_faces, process=False)
    np.testing.assert_array_equal(areas, mesh.area_faces)
    given, measured = MeshSurface(), MeshSurface()
    given.add(mesh, areas)
    measured.add(mesh)
    points, crosses = given.draw(3000, np.random.default_rng(1))
    expected_points, expected_crosses = measured.draw(3000, np.random.default_rng(1))
    np.testing.assert_array_equal(points, expected_points)
    np.testing.assert_array_equal(crosses, expected_crosses)
    with pytest.raises(ValueError, match="face areas"):
        MeshSurface().add(mesh, areas[:-1])


@pytest.mark.parametrize("seed", range(4))
def test_triangle_areas_are_trimesh_areas_bit_for_bit(seed):
    """Random soups (mixed scales, repeated and collinear corners) and a marching-cubes surface."""
    from autopartgen.geometry.sampling import triangle_areas

    rng = np.random.default_rng(seed)
    vertices = rng.normal(size=(500, 3)) * rng.choice([1e-4, 1.0, 1e3], size=(500, 1)) + rng.normal(size=3)
    faces = rng.integers(0, 500, size=(3000, 3))
    faces[:50, 1] = faces[:50, 0]  # degenerate: zero area
    vertices[7] = 0.5 * (vertices[8] + vertices[9])
    faces[50] = [7, 8, 9]  # collinear corners
    expected = trimesh.triangles.area(crosses=trimesh.triangles.cross(vertices[faces]))
    np.testing.assert_array_equal(triangle_areas(vertices, faces), expected)
    sphere = trimesh.creation.icosphere(subdivisions=3)
    np.testing.assert_array_equal(triangle_areas(sphere.vertices, sphere.faces), sphere.area_faces)
