"""Voxel occupancy of triangle meshes on the cell centres of the [-1, 1] cube, by ray-crossing parity.

Pure array functions shared by the evaluation (``autopartgen.eval.metrics``) and the input-anchored part
loop (``autopartgen.geometry.partition``). Grids are indexed ``[x, y, z]``; cell ``i`` of a ``grid``-cell
axis has centre ``-1 + (i + 0.5) * 2 / grid``.
"""

from __future__ import annotations

import numpy as np

# Rays are cast through the cell centres shifted by these tiny, irrational-looking offsets (in units of
# the frame) so that no ray passes exactly through a mesh edge or vertex of an axis-aligned mesh, where a
# hit would be counted twice or not at all. They are far below a cell (2/64 = 0.03125).
_RAY_JITTER = np.array([[1.2345e-6, 2.7182e-6], [3.1415e-6, 1.4142e-6], [1.7320e-6, 2.2360e-6]])


def grid_centres(grid: int) -> np.ndarray:
    """Cell-centre coordinates along one axis of the [-1, 1] cube: ``(grid,)``, ``-1 + (i + 0.5) * 2 / grid``."""
    return -1.0 + (np.arange(grid, dtype=np.float64) + 0.5) * (2.0 / grid)


def parity_along_axis(triangles: np.ndarray, grid: int, axis: int) -> np.ndarray:
    """Inside test by crossing parity for rays parallel to ``axis`` through the grid cell centres.

    Args:
        triangles: ``(F, 3, 3)`` triangle corners.
        grid: cells per axis.
        axis: 0, 1 or 2, the ray direction.

    Returns:
        ``(grid, grid, grid)`` bool array indexed ``[x, y, z]``: True where an odd number of surface
        crossings lie on the ray between ``-inf`` and the cell centre.
    """
    centres = grid_centres(grid)
    u_axis, v_axis = [a for a in range(3) if a != axis]
    tri_u = triangles[:, :, u_axis] - _RAY_JITTER[axis, 0]
    tri_v = triangles[:, :, v_axis] - _RAY_JITTER[axis, 1]
    tri_w = triangles[:, :, axis]

    # Grid rows/columns each triangle's projected bounding box can cover (cell centre i is at
    # -1 + (i + 0.5) * step, so i = (coord + 1) / step - 0.5).
    step = 2.0 / grid
    u_lo = np.clip(np.ceil((tri_u.min(1) + 1.0) / step - 0.5), 0, grid).astype(np.int64)
    u_hi = np.clip(np.floor((tri_u.max(1) + 1.0) / step - 0.5), -1, grid - 1).astype(np.int64)
    v_lo = np.clip(np.ceil((tri_v.min(1) + 1.0) / step - 0.5), 0, grid).astype(np.int64)
    v_hi = np.clip(np.floor((tri_v.max(1) + 1.0) / step - 0.5), -1, grid - 1).astype(np.int64)
    n_u = np.maximum(u_hi - u_lo + 1, 0)
    n_v = np.maximum(v_hi - v_lo + 1, 0)
    n_cand = n_u * n_v
    crossings = np.zeros((grid, grid, grid + 1), dtype=np.int32)  # [u, v, first cell above the hit]
    if n_cand.sum() == 0:
        return np.zeros((grid, grid, grid), dtype=bool)

    # One candidate (triangle, ray) pair per covered grid point of each bounding box.
    tri_index = np.repeat(np.arange(len(triangles)), n_cand)
    offset = np.arange(n_cand.sum()) - np.repeat(np.cumsum(n_cand) - n_cand, n_cand)
    iu = u_lo[tri_index] + offset // n_v[tri_index]
    iv = v_lo[tri_index] + offset % n_v[tri_index]
    pu, pv = centres[iu], centres[iv]

    # 2D barycentric coordinates of the ray in the projected triangle.
    au, av = tri_u[tri_index, 0], tri_v[tri_index, 0]
    bu, bv = tri_u[tri_index, 1], tri_v[tri_index, 1]
    cu, cv = tri_u[tri_index, 2], tri_v[tri_index, 2]
    area = (bu - au) * (cv - av) - (bv - av) * (cu - au)
    w_a = (bu - pu) * (cv - pv) - (bv - pv) * (cu - pu)
    w_b = (cu - pu) * (av - pv) - (cv - pv) * (au - pu)
    w_c = area - w_a - w_b
    sign = np.sign(area)
    hit = (area != 0) & (w_a * sign >= 0) & (w_b * sign >= 0) & (w_c * sign >= 0)
    if not hit.any():
        return np.zeros((grid, grid, grid), dtype=bool)
    tri_index, iu, iv = tri_index[hit], iu[hit], iv[hit]
    w = (w_a[hit] * tri_w[tri_index, 0] + w_b[hit] * tri_w[tri_index, 1] + w_c[hit] * tri_w[tri_index, 2]) / area[hit]

    # Each crossing toggles the parity of every cell centre above it along the ray.
    first_above = np.searchsorted(centres, w, side="right")
    np.add.at(crossings, (iu, iv, first_above), 1)
    inside_uvw = (np.cumsum(crossings[:, :, :grid], axis=2) % 2).astype(bool)
    # Back to [x, y, z] order: inside_uvw is indexed [u, v, w] with u < v the two other axes.
    order = [u_axis, v_axis, axis]
    return np.transpose(inside_uvw, np.argsort(order))


def surface_voxels(points: np.ndarray, grid: int) -> np.ndarray:
    """Voxels of the [-1, 1] cube that contain at least one of ``points`` ``(N, 3)``: ``(grid,)*3`` bool."""
    occ = np.zeros((grid, grid, grid), dtype=bool)
    if len(points) == 0:
        return occ
    index = np.floor((np.asarray(points) + 1.0) * (grid / 2.0)).astype(np.int64)
    inside = np.all((index >= 0) & (index < grid), axis=1)
    index = index[inside]
    occ[index[:, 0], index[:, 1], index[:, 2]] = True
    return occ


def parity_votes(triangles: np.ndarray, grid: int) -> np.ndarray:
    """How many of the three axis-parallel rays through each cell centre crossed the surface an odd number
    of times: ``(grid, grid, grid)`` uint8 in 0..3 (3 everywhere inside a closed mesh).

    Args:
        triangles: ``(F, 3, 3)`` triangle corners in the [-1, 1] frame.
        grid: cells per axis.
    """
    return sum(parity_along_axis(triangles, grid, axis).astype(np.uint8) for axis in range(3))
