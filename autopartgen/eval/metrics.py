"""Part metrics: how well a set of predicted part meshes matches the ground-truth parts.

Everything here is a pure function of arrays. Meshes are given as ``trimesh.Trimesh`` objects or as
``(vertices, faces)`` pairs (``(V, 3)`` float, ``(F, 3)`` int) in the shared normalised frame: the object
fits the [-1, 1] cube, +Y up. Lengths (Chamfer distance, F-score thresholds) are in the units of that
frame, so the cube has side 2.

The protocol, with the reasons for each choice, is written down in ``docs/evaluation.md``. In short:

1. Occupancy: each part is voxelised on a ``grid**3`` lattice of cell centres of the [-1, 1] cube
   (:func:`grid_centres`) with an inside test by ray-parity voting along the three axes
   (:func:`occupancy`). Parts too thin to contain a cell centre fall back to their surface voxels.
2. Part IoU matrix (:func:`iou_matrix`) -> Hungarian matching on IoU (:func:`match_parts`).
3. Matched-part IoU (mean over ground-truth parts, unmatched = 0), precision / recall / F1 of matches
   with IoU >= 0.5, exact part count and absolute count error (:func:`part_scores`).
4. Surface metrics on ``n_samples`` (10k) area-weighted query samples per part, each measured to a
   10x denser reference sample of the other surface: Chamfer-L1 and F-score at 0.02 and 0.1
   (:func:`surface_scores`), per matched pair and on the outer surface of the whole object
   (:func:`union_surface_samples`).

:func:`evaluate_parts` runs all of them and returns one flat dict of numbers.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from autopartgen.geometry.sampling import as_mesh_arrays
from autopartgen.geometry.voxels import grid_centres, parity_votes, surface_voxels  # noqa: F401 (grid_centres re-exported)

log = logging.getLogger(__name__)

#: A mesh as accepted by this module: a ``trimesh.Trimesh`` or a ``(vertices, faces)`` pair.
MeshLike = Union["trimesh.Trimesh", tuple]  # noqa: F821 - trimesh is only needed by callers

DEFAULT_GRID = 64
DEFAULT_SAMPLES = 10_000
IOU_MATCH_THRESHOLD = 0.5
FSCORE_THRESHOLDS = (0.02, 0.1)
#: The reference set a query point's distance is measured to holds this many times the query count.
REFERENCE_FACTOR = 10

# --------------------------------------------------------------------------------------------------
# mesh input
# --------------------------------------------------------------------------------------------------


def triangles_of(mesh: MeshLike) -> np.ndarray:
    """Return the triangles of a mesh as a ``(F, 3, 3)`` float64 array (face, corner, xyz)."""
    vertices, faces = as_mesh_arrays(mesh)
    return vertices[faces]


# --------------------------------------------------------------------------------------------------
# occupancy
# --------------------------------------------------------------------------------------------------


def occupancy(mesh: MeshLike, grid: int = DEFAULT_GRID, surface_points: np.ndarray | None = None) -> np.ndarray:
    """Solid occupancy of a mesh on the ``grid**3`` cell centres of the [-1, 1] cube.

    The inside test is ray-parity voting: a cell centre is inside when at least two of the three
    axis-parallel rays through it have crossed the surface an odd number of times. For a closed mesh all
    three agree; a hole or a stray open sheet in the mesh flips only the rays that pass through it, so
    the vote keeps most of those cells right. Fallback: when no cell centre is inside (an open sheet, or a
    part thinner than one cell), the part is represented by its surface voxels, the cells that contain one
    of ``surface_points`` (default: :data:`DEFAULT_SAMPLES` surface samples, seed from the geometry), so
    that a thin part still has a volume to match.

    Args:
        mesh: trimesh mesh or ``(V, F)`` pair in the normalised frame.
        grid: cells per axis (64 in the protocol).
        surface_points: ``(N, 3)`` points on the surface used by the fallback.

    Returns:
        ``(grid, grid, grid)`` bool array indexed ``[x, y, z]``; cell ``i`` has centre ``grid_centres(grid)[i]``.
    """
    triangles = triangles_of(mesh)
    if len(triangles) == 0:
        return np.zeros((grid, grid, grid), dtype=bool)
    occ = parity_votes(triangles, grid) >= 2
    if not occ.any():
        if surface_points is None:
            surface_points = sample_surface(mesh, DEFAULT_SAMPLES)
        log.debug("occupancy: no cell centre inside, using surface voxels (%d points)", len(surface_points))
        occ = surface_voxels(surface_points, grid)
    return occ


# --------------------------------------------------------------------------------------------------
# surface samples and distances
# --------------------------------------------------------------------------------------------------


def geometry_seed(mesh: MeshLike, seed: int = 0) -> int:
    """A sampling seed derived from ``seed`` and the mesh's bytes, so samples do not depend on part order."""
    vertices, faces = as_mesh_arrays(mesh)
    digest = zlib.crc32(faces.tobytes(), zlib.crc32(vertices.tobytes()))
    return int(np.random.SeedSequence([seed, digest]).generate_state(1)[0])


def _sample_with_faces(triangles: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` area-weighted samples on ``(F, 3, 3)`` triangles: points ``(count, 3)`` and face ids ``(count,)``."""
    areas = 0.5 * np.linalg.norm(np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]), axis=1)
    total = areas.sum()
    if len(triangles) == 0 or count <= 0 or not np.isfinite(total) or total <= 0:
        return np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
    face = rng.choice(len(triangles), size=count, p=areas / total)
    r1, r2 = rng.random(count), rng.random(count)
    flip = r1 + r2 > 1.0
    r1[flip], r2[flip] = 1.0 - r1[flip], 1.0 - r2[flip]
    tri = triangles[face]
    return tri[:, 0] + r1[:, None] * (tri[:, 1] - tri[:, 0]) + r2[:, None] * (tri[:, 2] - tri[:, 0]), face


def sample_surface(mesh: MeshLike, count: int = DEFAULT_SAMPLES, seed: int | None = 0) -> np.ndarray:
    """Area-weighted uniform samples on the surface: ``(count, 3)`` float64 (empty ``(0, 3)`` for no area).

    ``seed`` is combined with the mesh's bytes (:func:`geometry_seed`), so the same mesh with the same seed
    always gives the same points, wherever it sits in a list of parts. The samples are i.i.d., so the
    first ``n`` of ``count`` samples are themselves a valid sample of size ``n``.
    """
    rng = np.random.default_rng(geometry_seed(mesh, 0 if seed is None else seed))
    return _sample_with_faces(triangles_of(mesh), count, rng)[0]


def _crossing_parity(triangles: np.ndarray, points: np.ndarray, axis: int) -> np.ndarray:
    """For each point, whether the ray from ``-inf`` along ``axis`` to it crosses the surface an odd number of times.

    Triangles are binned on a 2D grid over their projection; each point is tested only against the
    triangles of its bin. Args: ``triangles (F, 3, 3)``, ``points (N, 3)``. Returns ``(N,)`` bool.
    """
    u_axis, v_axis = [a for a in range(3) if a != axis]
    tri_u, tri_v, tri_w = triangles[:, :, u_axis], triangles[:, :, v_axis], triangles[:, :, axis]
    pu, pv, pw = points[:, u_axis], points[:, v_axis], points[:, axis]
    bins = int(np.clip(2 * np.sqrt(len(triangles)), 4, 256))
    u0, v0 = tri_u.min(), tri_v.min()
    size_u = max((tri_u.max() - u0) / bins, 1e-12)
    size_v = max((tri_v.max() - v0) / bins, 1e-12)

    def cell(coord, origin, size):
        return np.clip(np.floor((coord - origin) / size), 0, bins - 1).astype(np.int64)

    lo_u, hi_u = cell(tri_u.min(1), u0, size_u), cell(tri_u.max(1), u0, size_u)
    lo_v, hi_v = cell(tri_v.min(1), v0, size_v), cell(tri_v.max(1), v0, size_v)
    n_u, n_v = hi_u - lo_u + 1, hi_v - lo_v + 1
    n_cells = n_u * n_v
    tri_of_pair = np.repeat(np.arange(len(triangles)), n_cells)
    offset = np.arange(n_cells.sum()) - np.repeat(np.cumsum(n_cells) - n_cells, n_cells)
    cell_of_pair = (lo_u[tri_of_pair] + offset // n_v[tri_of_pair]) * bins + lo_v[tri_of_pair] + offset % n_v[tri_of_pair]
    order = np.argsort(cell_of_pair, kind="stable")
    cell_sorted, tri_sorted = cell_of_pair[order], tri_of_pair[order]

    point_cell = cell(pu, u0, size_u) * bins + cell(pv, v0, size_v)
    first = np.searchsorted(cell_sorted, point_cell, side="left")
    count = np.searchsorted(cell_sorted, point_cell, side="right") - first
    point_index = np.repeat(np.arange(len(points)), count)
    tri_index = tri_sorted[np.repeat(first, count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)]

    qu, qv = pu[point_index], pv[point_index]
    au, av = tri_u[tri_index, 0], tri_v[tri_index, 0]
    bu, bv = tri_u[tri_index, 1], tri_v[tri_index, 1]
    cu, cv = tri_u[tri_index, 2], tri_v[tri_index, 2]
    area = (bu - au) * (cv - av) - (bv - av) * (cu - au)
    w_a = (bu - qu) * (cv - qv) - (bv - qv) * (cu - qu)
    w_b = (cu - qu) * (av - qv) - (cv - qv) * (au - qu)
    w_c = area - w_a - w_b
    sign = np.sign(area)
    hit = (area != 0) & (w_a * sign >= 0) & (w_b * sign >= 0) & (w_c * sign >= 0)
    safe_area = np.where(area != 0, area, 1.0)
    w_hit = (w_a * tri_w[tri_index, 0] + w_b * tri_w[tri_index, 1] + w_c * tri_w[tri_index, 2]) / safe_area
    below = hit & (w_hit < pw[point_index])
    return np.bincount(point_index[below], minlength=len(points)) % 2 == 1


def points_inside(mesh: MeshLike, points: np.ndarray) -> np.ndarray:
    """Inside test for arbitrary points by the same ray-parity vote as :func:`occupancy` (2 of 3 axes).

    Args:
        mesh: trimesh mesh or ``(V, F)`` pair.
        points: ``(N, 3)`` query points.

    Returns:
        ``(N,)`` bool; points on the surface itself may go either way.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    triangles = triangles_of(mesh)
    inside = np.zeros(len(points), dtype=bool)
    if len(triangles) == 0 or len(points) == 0:
        return inside
    flat = triangles.reshape(-1, 3)
    candidates = np.nonzero(np.all((points > flat.min(0)) & (points < flat.max(0)), axis=1))[0]
    if len(candidates) == 0:
        return inside
    votes = sum(_crossing_parity(triangles, points[candidates], axis).astype(np.uint8) for axis in range(3))
    inside[candidates] = votes >= 2
    return inside


def union_surface_samples(parts: Sequence[MeshLike], count: int = DEFAULT_SAMPLES, seed: int = 0) -> np.ndarray:
    """Samples of the outer surface of the union of parts: ``(M, 3)`` with ``M <= count``.

    ``count`` area-weighted samples are drawn on all part surfaces together; samples that lie inside
    another part (faces hidden by an overlapping or enclosing part) are dropped, so a prediction that
    is one closed surface and one made of overlapping closed parts are compared on the same visible
    shape. The parts are concatenated in the order of their :func:`geometry_seed`, so part order does
    not change the result.
    """
    arrays = sorted((as_mesh_arrays(p) for p in parts), key=geometry_seed)
    arrays = [(v, f) for v, f in arrays if len(f)]
    if not arrays:
        return np.zeros((0, 3))
    triangles = np.concatenate([v[f] for v, f in arrays])
    owner = np.repeat(np.arange(len(arrays)), [len(f) for _, f in arrays])
    digest = zlib.crc32(np.array([geometry_seed(a) for a in arrays], dtype=np.uint64).tobytes())
    points, faces = _sample_with_faces(triangles, count, np.random.default_rng([seed, digest]))
    hidden = np.zeros(len(points), dtype=bool)
    if len(arrays) > 1:
        for k, part in enumerate(arrays):
            others = owner[faces] != k
            hidden[others] |= points_inside(part, points[others])
    return points[~hidden]


def _nearest_distances(query_a: np.ndarray, reference_b: np.ndarray, query_b: np.ndarray,
                       reference_a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance from each query point of a to the nearest reference point of b ``(Na,)``, and from b to a ``(Nb,)``."""
    d_ab, _ = cKDTree(reference_b).query(query_a, k=1)
    d_ba, _ = cKDTree(reference_a).query(query_b, k=1)
    return d_ab, d_ba


def surface_scores(points_pred: np.ndarray, points_gt: np.ndarray,
                   thresholds: Sequence[float] = FSCORE_THRESHOLDS, *, reference_pred: np.ndarray | None = None,
                   reference_gt: np.ndarray | None = None) -> dict[str, float]:
    """Chamfer-L1 and F-scores between two surfaces given by samples.

    The distance from a query point to the other surface is the distance to the nearest point of that
    surface's reference set (default: its query points). A reference set denser than the query set
    (the protocol uses 10x) makes this close to the true point-to-surface distance, so a threshold of
    0.02 measures the geometry and not the spacing of the samples.

    Args:
        points_pred: ``(N, 3)`` query points on the predicted surface.
        points_gt: ``(M, 3)`` query points on the ground-truth surface.
        thresholds: F-score distance thresholds, frame units.
        reference_pred, reference_gt: ``(N', 3)``, ``(M', 3)`` dense reference points.

    Returns:
        ``{"chamfer_l1": 0.5 * (mean pred->gt + mean gt->pred), "fscore@<t>": 2PR / (P + R), ...}``
        with P the share of predicted points within t of the ground truth and R the share of ground-truth
        points within t of the prediction (Tatarchenko et al. 2019). Euclidean, not squared.
        ``chamfer_l1`` is ``nan`` and every F-score 0 when either side is empty.
    """
    reference_pred = points_pred if reference_pred is None else reference_pred
    reference_gt = points_gt if reference_gt is None else reference_gt
    if min(len(points_pred), len(points_gt), len(reference_pred), len(reference_gt)) == 0:
        return {"chamfer_l1": float("nan"), **{f"fscore@{t:g}": 0.0 for t in thresholds}}
    d_pg, d_gp = _nearest_distances(points_pred, reference_gt, points_gt, reference_pred)
    scores = {"chamfer_l1": float(0.5 * (d_pg.mean() + d_gp.mean()))}
    for t in thresholds:
        precision, recall = float((d_pg <= t).mean()), float((d_gp <= t).mean())
        scores[f"fscore@{t:g}"] = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return scores


def chamfer_l1(points_pred: np.ndarray, points_gt: np.ndarray) -> float:
    """Chamfer-L1 distance between point sets ``(N, 3)``, ``(M, 3)``: ``0.5 * (mean_p min_g |p-g| + mean_g min_p |g-p|)``.

    Euclidean distances, not squared; ``nan`` when either set is empty. See :func:`surface_scores`.
    """
    return surface_scores(points_pred, points_gt, ())["chamfer_l1"]


def fscore(points_pred: np.ndarray, points_gt: np.ndarray, threshold: float) -> float:
    """F-score at ``threshold`` between point sets (0.0 when either is empty). See :func:`surface_scores`."""
    return surface_scores(points_pred, points_gt, (threshold,))[f"fscore@{threshold:g}"]


# --------------------------------------------------------------------------------------------------
# parts: IoU matrix, matching, part scores
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartSet:
    """What the metrics need from a list of parts, computed once and reused across methods.

    Attributes:
        occupancy: ``(K, grid, grid, grid)`` bool, one solid occupancy per part.
        samples: K arrays ``(n_samples * reference_factor, 3)`` of i.i.d. surface samples, one per part;
            the first ``n_query`` are the query points, all of them the reference set.
        union_samples: ``(<= n_samples * reference_factor, 3)`` samples of the union's outer surface
            (:func:`union_surface_samples`), query points first in the same way.
        n_query: query points per surface (the protocol's 10k).
    """

    occupancy: np.ndarray
    samples: tuple
    union_samples: np.ndarray
    n_query: int

    @property
    def count(self) -> int:
        return int(self.occupancy.shape[0])

    @property
    def grid(self) -> int:
        return int(self.occupancy.shape[1])


def prepare_parts(parts: Sequence[MeshLike], *, grid: int = DEFAULT_GRID, n_samples: int = DEFAULT_SAMPLES,
                  seed: int = 0, reference_factor: int = REFERENCE_FACTOR) -> PartSet:
    """Voxelise and sample a list of part meshes (see :func:`occupancy`, :func:`sample_surface`).

    Args:
        parts: meshes in the normalised frame.
        grid: occupancy cells per axis.
        n_samples: query points per part and for the union.
        seed: sampling seed.
        reference_factor: the reference sets hold this many times ``n_samples`` points.
    """
    n_dense = n_samples * max(1, reference_factor)
    samples = tuple(sample_surface(part, n_dense, seed) for part in parts)
    occ = np.zeros((len(parts), grid, grid, grid), dtype=bool)
    for k, part in enumerate(parts):
        occ[k] = occupancy(part, grid, surface_points=samples[k][:n_samples])
    union_samples = union_surface_samples(parts, n_dense, seed) if parts else np.zeros((0, 3))
    return PartSet(occupancy=occ, samples=samples, union_samples=union_samples, n_query=n_samples)


def _scores_between(pred_points: np.ndarray, gt_points: np.ndarray, pred_query: int, gt_query: int,
                    thresholds: Sequence[float]) -> dict[str, float]:
    """:func:`surface_scores` with the first ``*_query`` points as queries and all points as references."""
    return surface_scores(pred_points[:pred_query], gt_points[:gt_query], thresholds,
                          reference_pred=pred_points, reference_gt=gt_points)


def iou_matrix(occ_pred: np.ndarray, occ_gt: np.ndarray) -> np.ndarray:
    """Volumetric IoU of every predicted part with every ground-truth part.

    Args:
        occ_pred: ``(P, g, g, g)`` bool occupancies.
        occ_gt: ``(G, g, g, g)`` bool occupancies on the same grid.

    Returns:
        ``(P, G)`` float64; a pair whose union is empty has IoU 0.
    """
    a = occ_pred.reshape(len(occ_pred), int(np.prod(occ_pred.shape[1:]))).astype(np.float32)
    b = occ_gt.reshape(len(occ_gt), int(np.prod(occ_gt.shape[1:]))).astype(np.float32)
    inter = (a @ b.T).astype(np.float64)
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_parts(iou: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hungarian matching maximising the summed IoU (one-to-one; min(P, G) pairs).

    Args:
        iou: ``(P, G)`` IoU matrix.

    Returns:
        ``(pred_index, gt_index)``, two int arrays of equal length ``min(P, G)``.
    """
    if iou.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    rows, cols = linear_sum_assignment(iou, maximize=True)
    return rows.astype(np.int64), cols.astype(np.int64)


def part_scores(iou: np.ndarray, threshold: float = IOU_MATCH_THRESHOLD) -> dict[str, float]:
    """Count and overlap scores of a prediction from its ``(P, G)`` IoU matrix.

    Returns a dict with
        ``part_iou``: summed IoU of the Hungarian pairs divided by G (unmatched GT parts count 0),
        ``precision``, ``recall``, ``f1``: over pairs with IoU >= ``threshold`` (TP / P, TP / G, harmonic
        mean; 0 when undefined),
        ``n_pred``, ``n_gt``, ``count_exact`` (1.0 if P == G else 0.0), ``count_abs_error`` (|P - G|).
    """
    n_pred, n_gt = iou.shape
    rows, cols = match_parts(iou)
    matched = iou[rows, cols]
    true_pos = int((matched >= threshold).sum())
    precision = true_pos / n_pred if n_pred else 0.0
    recall = true_pos / n_gt if n_gt else 0.0
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {
        "part_iou": float(matched.sum() / n_gt) if n_gt else 0.0,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "n_pred": float(n_pred),
        "n_gt": float(n_gt),
        "count_exact": float(n_pred == n_gt),
        "count_abs_error": float(abs(n_pred - n_gt)),
    }


# --------------------------------------------------------------------------------------------------
# everything together
# --------------------------------------------------------------------------------------------------


def evaluate_parts(pred_parts: Sequence[MeshLike] | PartSet, gt_parts: Sequence[MeshLike] | PartSet, *,
                   grid: int = DEFAULT_GRID, seed: int = 0, n_samples: int = DEFAULT_SAMPLES,
                   thresholds: Sequence[float] = FSCORE_THRESHOLDS,
                   reference_factor: int = REFERENCE_FACTOR) -> dict[str, float]:
    """All metrics of the protocol for one object (see the module docstring and docs/evaluation.md).

    Args:
        pred_parts: predicted part meshes, or a :class:`PartSet` from :func:`prepare_parts`.
        gt_parts: ground-truth part meshes (at least one), or a :class:`PartSet`.
        grid: occupancy cells per axis (ignored for a given PartSet, which carries its own).
        seed: surface-sampling seed.
        n_samples: surface query points per part and for the whole object.
        thresholds: F-score distance thresholds in frame units.
        reference_factor: distances are measured to ``reference_factor * n_samples`` points per surface.

    Returns:
        a flat dict of floats: the keys of :func:`part_scores`; ``part_chamfer_l1`` (mean over Hungarian
        pairs, ``nan`` without pairs) and ``part_fscore@t`` (mean over GT parts, unmatched = 0);
        ``object_iou`` (IoU of the union occupancies), ``object_chamfer_l1`` and ``object_fscore@t``
        (on samples of the outer surface of the union, :func:`union_surface_samples`).
    """
    grid = gt_parts.grid if isinstance(gt_parts, PartSet) else grid
    options = dict(grid=grid, n_samples=n_samples, seed=seed, reference_factor=reference_factor)
    pred = pred_parts if isinstance(pred_parts, PartSet) else prepare_parts(list(pred_parts), **options)
    gt = gt_parts if isinstance(gt_parts, PartSet) else prepare_parts(list(gt_parts), **options)
    if gt.count == 0:
        raise ValueError("evaluate_parts: the ground truth has no parts")
    if pred.count and pred.grid != gt.grid:
        raise ValueError(f"evaluate_parts: grids differ (pred {pred.grid}, gt {gt.grid})")

    iou = iou_matrix(pred.occupancy, gt.occupancy)
    scores = part_scores(iou)
    rows, cols = match_parts(iou)

    pair_scores = [_scores_between(pred.samples[r], gt.samples[c], pred.n_query, gt.n_query, thresholds)
                   for r, c in zip(rows, cols)]
    chamfers = [s["chamfer_l1"] for s in pair_scores if np.isfinite(s["chamfer_l1"])]
    scores["part_chamfer_l1"] = float(np.mean(chamfers)) if chamfers else float("nan")
    for t in thresholds:
        key = f"fscore@{t:g}"
        scores[f"part_{key}"] = float(sum(s[key] for s in pair_scores) / gt.count)

    union_pred = pred.occupancy.any(axis=0) if pred.count else np.zeros(gt.occupancy.shape[1:], dtype=bool)
    union_gt = gt.occupancy.any(axis=0)
    scores["object_iou"] = float(iou_matrix(union_pred[None], union_gt[None])[0, 0])
    for key, value in _scores_between(pred.union_samples, gt.union_samples, pred.n_query, gt.n_query,
                                      thresholds).items():
        scores[f"object_{key}"] = value
    return scores
