"""Floater removal, simplification, smoothing and the normalisation frame."""

import numpy as np
import pytest
import trimesh

from autopartgen.geometry import (
    apply_normalization,
    invert_normalization,
    normalization_transform,
    remove_floaters,
    simplify,
    taubin_smooth,
)


def _sphere_with_floaters():
    body = trimesh.creation.icosphere(3, radius=0.5)
    specks = [trimesh.creation.icosphere(1, radius=0.02).apply_translation([0.8, 0.1 * i, 0]) for i in range(3)]
    mesh = trimesh.util.concatenate([body, *specks])
    return body, np.asarray(mesh.vertices), np.asarray(mesh.faces)


def test_remove_floaters_keeps_only_the_body():
    body, vertices, faces = _sphere_with_floaters()
    new_vertices, new_faces = remove_floaters(vertices, faces, min_area_ratio=0.01)
    assert len(new_faces) == len(body.faces)
    assert len(new_vertices) == len(body.vertices)  # unreferenced vertices dropped
    assert np.linalg.norm(new_vertices, axis=1).max() < 0.51
    assert trimesh.Trimesh(new_vertices, new_faces, process=False).is_watertight


def test_remove_floaters_unchanged_when_all_or_none_kept():
    body, vertices, faces = _sphere_with_floaters()
    v, f = remove_floaters(vertices, faces, min_area_ratio=0.0)  # every component passes
    np.testing.assert_array_equal(f, faces)
    v, f = remove_floaters(vertices, faces, min_area_ratio=2.0)  # none passes
    np.testing.assert_array_equal(f, faces)


def test_simplify_hits_the_target():
    sphere = trimesh.creation.icosphere(5)  # 20480 faces
    vertices, faces = simplify(sphere.vertices, sphere.faces, 2000)
    assert 1900 <= len(faces) <= 2000
    assert np.allclose(np.linalg.norm(vertices, axis=1), 1.0, atol=0.05)
    # Within budget: unchanged.
    same_vertices, same_faces = simplify(sphere.vertices, sphere.faces, 50_000)
    np.testing.assert_array_equal(same_faces, sphere.faces)


def test_taubin_smooth_reduces_noise_without_shrinking():
    sphere = trimesh.creation.icosphere(3)
    rng = np.random.default_rng(0)
    noisy = sphere.vertices + rng.normal(scale=0.02, size=sphere.vertices.shape)
    smoothed = taubin_smooth(noisy, sphere.faces, iterations=10)
    radius_noisy = np.linalg.norm(noisy, axis=1)
    radius_smooth = np.linalg.norm(smoothed, axis=1)
    assert radius_smooth.std() < 0.5 * radius_noisy.std()
    assert radius_smooth.mean() == pytest.approx(1.0, abs=0.03)
    np.testing.assert_array_equal(taubin_smooth(noisy, sphere.faces, 0), noisy)


def test_normalization_round_trip():
    rng = np.random.default_rng(1)
    vertices = rng.uniform(-3, 5, size=(100, 3)) * [1.0, 0.2, 2.0] + [10, -4, 7]
    center, scale = normalization_transform(vertices)
    normalized = apply_normalization(vertices, center, scale)
    assert np.abs(normalized).max() == pytest.approx(1.0)
    np.testing.assert_allclose(normalized.min(axis=0) + normalized.max(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(invert_normalization(normalized, center, scale), vertices, atol=1e-12)
    with pytest.raises(ValueError):
        normalization_transform(np.ones((4, 3)))


def test_remove_floaters_gives_what_trimesh_components_give():
    """Face for face the output of trimesh's connected components over its face adjacency (the reference's
    route), on a marching-cubes surface of noise with many pieces and a non-manifold edge."""
    from skimage import measure

    field = np.random.default_rng(0).normal(size=(24, 24, 24))
    from scipy import ndimage

    field = ndimage.gaussian_filter(field, 1.0)
    vertices, faces, _, _ = measure.marching_cubes(field, level=0.2)  # 87 pieces, 23 of them kept
    fin = len(vertices)  # a fin hinged on an existing edge: that edge now has three faces
    vertices = np.concatenate([vertices, vertices[faces[0, :1]] + 0.5])
    faces = np.concatenate([faces, [[faces[0, 0], faces[0, 1], fin]]])
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    components = trimesh.graph.connected_components(edges=mesh.face_adjacency, nodes=np.arange(len(faces)), min_len=1)
    assert len(components) > 5
    areas = mesh.area_faces
    kept = [c for c in components if areas[c].sum() >= 0.01 * areas.sum()]
    assert 0 < len(kept) < len(components)
    expected = mesh.submesh(kept, append=True, repair=False)
    got_vertices, got_faces = remove_floaters(vertices, faces)
    assert np.array_equal(got_faces, expected.faces) and np.array_equal(got_vertices, expected.vertices)


def _floaters_by_trimesh(vertices, faces, min_area_ratio=0.01):
    """remove_floaters as it was written before: trimesh's grouping and one submesh per kept component."""
    from autopartgen.geometry.cleanup import face_component_labels

    components = trimesh.grouping.group(face_component_labels(faces), min_len=1)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    areas = trimesh.triangles.area(crosses=trimesh.triangles.cross(vertices[faces]))
    kept = [c for c in components if areas[c].sum() >= min_area_ratio * areas.sum()]
    if len(kept) == len(components) or not kept:
        return vertices, faces
    cleaned = mesh.submesh(kept, append=True, repair=False)
    return np.asarray(cleaned.vertices), np.asarray(cleaned.faces)


def test_remove_floaters_copies_a_vertex_shared_by_two_kept_pieces():
    """Two tetrahedra touching at one vertex and a small fin on that vertex: three components by shared
    edges. Both tetrahedra are kept (the shared vertex copied into each, as trimesh's submesh does), the fin
    is dropped, and the faces come out in trimesh's order."""
    tetra = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    vertices = np.concatenate([tetra, -tetra[1:], [[0.01, 0.01, -0.02], [0.02, -0.01, 0.0]]])
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3],  # tetrahedron a on vertices 0-3
                      [7, 0, 8],  # the fin, on the shared vertex 0
                      [0, 4, 5], [0, 6, 4], [0, 5, 6], [4, 6, 5]])  # tetrahedron b on 0, 4, 5, 6
    got_vertices, got_faces = remove_floaters(vertices, faces)
    expected_vertices, expected_faces = _floaters_by_trimesh(vertices, faces)
    assert len(got_faces) == 8 and len(got_vertices) == 8  # vertex 0 twice, vertices 7 and 8 gone
    np.testing.assert_array_equal(got_faces, expected_faces)
    np.testing.assert_array_equal(got_vertices, expected_vertices)
    assert got_faces.dtype == np.int64 and got_vertices.dtype == np.float64


@pytest.mark.parametrize("seed", range(3))
def test_remove_floaters_matches_the_submesh_route_on_noise(seed):
    from scipy import ndimage
    from skimage import measure

    field = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=(28, 28, 28)), 0.8)
    vertices, faces, _, _ = measure.marching_cubes(field, level=0.15)
    got = remove_floaters(vertices, faces, min_area_ratio=0.002)
    expected = _floaters_by_trimesh(np.asarray(vertices, np.float64), faces, min_area_ratio=0.002)
    assert len(expected[1]) < len(faces)  # something was removed
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_array_equal(got[0], expected[0])


def test_simplify_on_parallel_threads_gives_the_serial_results():
    """fast-simplification keeps global state and releases the GIL: without simplify's lock, two calls on
    parallel threads return each other's (or mixed) meshes."""
    from concurrent.futures import ThreadPoolExecutor

    spheres = [trimesh.creation.icosphere(subdivisions=5, radius=1.0 + i) for i in range(6)]
    serial = [simplify(s.vertices, s.faces, 3000) for s in spheres]
    with ThreadPoolExecutor(max_workers=2) as pool:
        threaded = list(pool.map(lambda s: simplify(s.vertices, s.faces, 3000), spheres))
    for (v, f), (tv, tf) in zip(serial, threaded):
        np.testing.assert_array_equal(tv, v)
        np.testing.assert_array_equal(tf, f)
