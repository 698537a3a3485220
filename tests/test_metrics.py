"""Known-answer tests of the part metrics (autopartgen.eval.metrics)."""

import numpy as np
import pytest
import trimesh

from autopartgen.eval import metrics as M


def box(size, centre=(0.0, 0.0, 0.0)):
    mesh = trimesh.creation.box(extents=size)
    mesh.apply_translation(centre)
    return mesh


def three_parts():
    """A small table: a top, and two legs, disjoint."""
    return [box((1.2, 0.1, 0.8), (0.0, 0.3, 0.0)),
            box((0.1, 0.6, 0.1), (-0.5, -0.1, -0.3)),
            box((0.1, 0.6, 0.1), (0.5, -0.1, 0.3))]


# --- occupancy ------------------------------------------------------------------------------------


def test_grid_centres_are_cell_centres():
    np.testing.assert_allclose(M.grid_centres(4), [-0.75, -0.25, 0.25, 0.75])


def test_occupancy_of_box_matches_analytic_cells():
    # a box [-0.5, 0.5]^3 holds exactly the cell centres with |c| < 0.5: 32 per axis at 64^3
    assert M.occupancy(box((1, 1, 1)), 64).sum() == 32 ** 3


def test_occupancy_axes_are_x_y_z():
    mesh = box((0.2, 0.6, 1.0), (0.1, -0.2, 0.3))
    c = M.grid_centres(32)
    x, y, z = np.meshgrid(c, c, c, indexing="ij")
    expected = (abs(x - 0.1) < 0.1) & (abs(y + 0.2) < 0.3) & (abs(z - 0.3) < 0.5)
    np.testing.assert_array_equal(M.occupancy(mesh, 32), expected)


def test_occupancy_of_sphere_close_to_volume():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.7)
    volume = M.occupancy(sphere, 48).sum() * (2 / 48) ** 3
    assert volume == pytest.approx(sphere.volume, rel=0.03)


def test_occupancy_survives_a_hole_by_voting():
    closed = box((1, 1, 1))
    faces = closed.faces[np.abs(closed.face_normals[:, 0] - 1.0) > 1e-6]  # remove the +x face (2 triangles)
    opened = (closed.vertices, faces)
    np.testing.assert_array_equal(M.occupancy(opened, 32), M.occupancy(closed, 32))


def test_thin_sheet_falls_back_to_surface_voxels():
    sheet = (np.array([[-0.5, 0.01, -0.5], [0.5, 0.01, -0.5], [0.5, 0.01, 0.5], [-0.5, 0.01, 0.5]]),
             np.array([[0, 1, 2], [0, 2, 3]]))
    occ = M.occupancy(sheet, 16)
    assert occ.any()
    assert set(np.nonzero(occ)[1]) == {8}  # y = 0.01 lies in cell 8 of 16


def test_empty_mesh_has_no_occupancy():
    assert not M.occupancy((np.zeros((0, 3)), np.zeros((0, 3), dtype=int)), 8).any()


# --- IoU, matching, part scores -------------------------------------------------------------------


def test_iou_matrix_by_hand():
    a = np.zeros((2, 2, 2, 2), dtype=bool)
    a[0, 0] = True  # 4 cells
    a[1, :, 0, 0] = True  # 2 cells
    b = np.zeros((1, 2, 2, 2), dtype=bool)
    b[0, 0, 0] = True  # 2 cells, inside a[0]; overlaps a[1] in 1 cell
    np.testing.assert_allclose(M.iou_matrix(a, b), [[2 / 4], [1 / 3]])


def test_matching_maximises_total_iou():
    iou = np.array([[0.9, 0.8], [0.85, 0.1]])
    rows, cols = M.match_parts(iou)
    assert dict(zip(rows.tolist(), cols.tolist())) == {0: 1, 1: 0}  # 0.8 + 0.85 > 0.9 + 0.1


def test_part_scores_by_hand():
    iou = np.array([[0.9, 0.0, 0.0], [0.0, 0.4, 0.0]])  # 2 predictions, 3 GT parts
    scores = M.part_scores(iou)
    assert scores["part_iou"] == pytest.approx((0.9 + 0.4) / 3)
    assert scores["precision"] == pytest.approx(1 / 2)
    assert scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))
    assert scores["count_exact"] == 0.0 and scores["count_abs_error"] == 1.0


# --- surface metrics ------------------------------------------------------------------------------


def test_surface_samples_lie_on_the_surface_and_are_seeded():
    mesh = box((1, 1, 1))
    points = M.sample_surface(mesh, 1000, seed=3)
    assert points.shape == (1000, 3)
    np.testing.assert_allclose(np.abs(points).max(axis=1), 0.5, atol=1e-9)
    np.testing.assert_array_equal(points, M.sample_surface(mesh, 1000, seed=3))
    assert not np.array_equal(points, M.sample_surface(mesh, 1000, seed=4))


def test_chamfer_and_fscore_known_answers():
    points = np.random.default_rng(0).uniform(-1, 1, (500, 3))
    assert M.chamfer_l1(points, points) == 0.0
    assert M.fscore(points, points, 0.02) == 1.0
    far = np.array([[0.0, 0.0, 0.0]]), np.array([[0.3, 0.0, 0.0]])
    assert M.chamfer_l1(*far) == pytest.approx(0.3)
    assert M.fscore(*far, 0.1) == 0.0 and M.fscore(*far, 0.5) == 1.0


# --- evaluate_parts -------------------------------------------------------------------------------


def test_identical_parts_score_perfectly():
    parts = three_parts()
    scores = M.evaluate_parts(parts, [p.copy() for p in parts], grid=32, n_samples=2000)
    assert scores["part_iou"] == pytest.approx(1.0)
    assert scores["object_iou"] == pytest.approx(1.0)
    assert scores["count_exact"] == 1.0 and scores["count_abs_error"] == 0.0
    assert scores["precision"] == scores["recall"] == scores["f1"] == 1.0
    assert scores["part_chamfer_l1"] == pytest.approx(0.0, abs=1e-12)
    assert scores["object_chamfer_l1"] == pytest.approx(0.0, abs=1e-12)
    assert scores["part_fscore@0.02"] == pytest.approx(1.0)
    assert scores["object_fscore@0.1"] == pytest.approx(1.0)


def test_shifted_cube_has_analytic_iou():
    cube = box((1, 1, 1))
    shift = 0.3
    moved = box((1, 1, 1), (shift, 0, 0))
    analytic = (1 - shift) / (1 + shift)  # 0.538; on the grid the overlap moves by whole cells
    scores = M.evaluate_parts([moved], [cube], grid=64, n_samples=2000)
    assert scores["part_iou"] == pytest.approx(analytic, abs=2 / 64)
    assert scores["part_iou"] == pytest.approx(22 / 42)  # exact cell count: overlap 22, union 42 columns
    assert scores["f1"] == 1.0  # IoU 0.52 >= 0.5 still counts as a match


def test_swapped_part_order_gives_the_same_scores():
    parts = three_parts()
    pred = [p.copy() for p in parts]
    for p in pred:
        p.apply_translation((0.03, 0.0, 0.0))
    forward = M.evaluate_parts(pred, parts, grid=32, n_samples=2000)
    backward = M.evaluate_parts(pred[::-1], parts, grid=32, n_samples=2000)
    assert forward["part_iou"] < 1.0
    for key, value in forward.items():
        assert backward[key] == pytest.approx(value), key


def test_extra_spurious_part_lowers_precision_exactly():
    parts = three_parts()
    spurious = box((0.2, 0.2, 0.2), (0.0, -0.7, 0.7))
    scores = M.evaluate_parts([p.copy() for p in parts] + [spurious], parts, grid=32, n_samples=1000)
    assert scores["precision"] == pytest.approx(3 / 4)
    assert scores["recall"] == 1.0
    assert scores["f1"] == pytest.approx(2 * 0.75 / 1.75)
    assert scores["part_iou"] == pytest.approx(1.0)  # mean over GT parts: the extra part is not counted
    assert scores["count_exact"] == 0.0 and scores["count_abs_error"] == 1.0


def test_missing_part_counts_zero_in_matched_iou():
    parts = three_parts()
    scores = M.evaluate_parts(parts[:2], parts, grid=32, n_samples=1000)
    assert scores["part_iou"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(2 / 3) and scores["precision"] == 1.0


def test_empty_prediction():
    scores = M.evaluate_parts([], three_parts(), grid=16, n_samples=500)
    assert scores["part_iou"] == 0.0 and scores["f1"] == 0.0 and scores["object_iou"] == 0.0
    assert scores["count_abs_error"] == 3.0
    assert np.isnan(scores["part_chamfer_l1"]) and np.isnan(scores["object_chamfer_l1"])


def test_vertex_face_pairs_and_prepared_sets_are_accepted():
    parts = three_parts()
    pairs = [(p.vertices, p.faces) for p in parts]
    prepared = M.prepare_parts(parts, grid=16, n_samples=500)
    scores = M.evaluate_parts(pairs, prepared, grid=16, n_samples=500)
    assert scores["part_iou"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        M.evaluate_parts(parts, [], grid=16, n_samples=500)


# --- point inside test, union surface, sample density ---------------------------------------------


def test_points_inside_matches_a_sphere():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.6)
    points = np.random.default_rng(1).uniform(-1, 1, (3000, 3))
    radius = np.linalg.norm(points, axis=1)
    clear = np.abs(radius - 0.6) > 0.01  # icosphere facets lie within 0.01 of the sphere
    np.testing.assert_array_equal(M.points_inside(sphere, points)[clear], (radius < 0.6)[clear])


def test_union_surface_drops_hidden_faces():
    outer = box((1.0, 1.0, 1.0))
    inner = box((0.4, 0.4, 0.4))  # entirely hidden inside the outer box
    points = M.union_surface_samples([outer, inner], 4000)
    np.testing.assert_allclose(np.abs(points).max(axis=1), 0.5, atol=1e-9)  # all on the outer box
    assert len(points) == pytest.approx(4000 * 6 / (6 + 6 * 0.16), rel=0.1)


def test_fscore_measures_geometry_not_sample_spacing():
    # two independent 2k samples of the same box are ~0.02 apart; the dense reference makes F@0.02 ~1
    parts = [box((1.2, 0.1, 0.8))]
    same_shape = [(parts[0].vertices.copy(), parts[0].faces[::-1].copy())]  # other bytes -> other samples
    scores = M.evaluate_parts(same_shape, parts, grid=16, n_samples=2000)
    assert scores["part_fscore@0.02"] > 0.99 and scores["object_fscore@0.02"] > 0.99
    sparse = M.evaluate_parts(same_shape, parts, grid=16, n_samples=2000, reference_factor=1)
    assert sparse["part_fscore@0.02"] < scores["part_fscore@0.02"]
