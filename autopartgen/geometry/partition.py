"""Sharing out an input mesh's volume between parts, and cutting the mesh along the shares.

The input-anchored part loop (``autopartgen.pipeline``) works on a label grid over the cell centres of
the [-1, 1] cube (``grid`` cells per axis, indexed ``[x, y, z]``, cell ``i`` centred at
``-1 + (i + 0.5) * 2 / grid``):

    OUTSIDE (-2)   a cell outside the input's volume
    UNCLAIMED (-1) a cell inside the input that no part has claimed yet
    k >= 0         a cell of part k

Each sampled part latent claims unclaimed cells where its decoded field is positive
(:func:`claim_cells`); the DiT's history is the surface of the claimed region
(:func:`claimed_region_cloud`); at the end the cells nobody claimed join the part they touch most
(:func:`fill_unclaimed`), the labels are extended to the whole cube (:func:`extend_labels`), and each
part's region of space becomes a closed mesh (:func:`region_meshes`) that is intersected with the input
(:func:`cut_by_regions`). The regions tile space, so the cut parts tile the input: each part keeps the
input's own surface (every original triangle inside its region, at full resolution, with its colours)
and gains smooth cut faces where it meets its neighbours.

All functions are pure: arrays in, arrays out, randomness from an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from autopartgen.geometry.sampling import triangle_areas
from autopartgen.geometry.topology import every_edge_in_two_faces
from autopartgen.geometry.voxels import grid_centres, parity_votes, surface_voxels

logger = logging.getLogger(__name__)

OUTSIDE = -2
UNCLAIMED = -1

# The six face neighbours of a cell.
_NEIGHBOUR_STEPS = [(axis, step) for axis in range(3) for step in (-1, 1)]


# ------------------------------------------------------------------------------------------------
# the input's volume
# ------------------------------------------------------------------------------------------------
def input_volume(vertices: np.ndarray, faces: np.ndarray, grid: int, surface_points: np.ndarray | None = None
                 ) -> np.ndarray:
    """Cells of the [-1, 1] cube inside a mesh: ``(grid, grid, grid)`` bool.

    Inside = at least two of the three axis-parallel rays through the cell centre crossed the surface an
    odd number of times (robust to small holes). A mesh with no interior at this grid (an open sheet, a
    shape thinner than a cell) is represented by the cells its ``surface_points`` ``(N, 3)`` fall in.
    """
    inside = parity_votes(np.asarray(vertices, np.float64)[np.asarray(faces, np.int64)], grid) >= 2
    if surface_points is not None:
        # Thin features (a rod thinner than a cell) hold no cell centre; their surface cells keep them.
        inside |= surface_voxels(surface_points, grid)
    return inside


def new_label_grid(inside: np.ndarray) -> np.ndarray:
    """A label grid with every inside cell UNCLAIMED and every other cell OUTSIDE: int32, inside's shape."""
    return np.where(inside, UNCLAIMED, OUTSIDE).astype(np.int32)


def cell_centres(cells: np.ndarray, grid: int) -> np.ndarray:
    """Integer cell indices ``(M, 3)`` -> centre coordinates ``(M, 3)`` float32 in the [-1, 1] frame."""
    return grid_centres(grid).astype(np.float32)[cells]


# ------------------------------------------------------------------------------------------------
# claiming
# ------------------------------------------------------------------------------------------------
def claim_cells(labels: np.ndarray, cells: np.ndarray, field_values: np.ndarray, threshold: float = 0.0
                ) -> np.ndarray:
    """Which of ``cells`` a candidate part would claim: unclaimed cells where its field exceeds ``threshold``.

    Args:
        labels: the label grid (G, G, G).
        cells: (M, 3) int cell indices the field was evaluated at.
        field_values: (M,) the part's inside-positive field at those cells' centres.
    Returns:
        (M,) bool.
    """
    unclaimed = labels[cells[:, 0], cells[:, 1], cells[:, 2]] == UNCLAIMED
    return unclaimed & (np.asarray(field_values) > threshold)


def strongest_field_labels(labels: np.ndarray, cells: np.ndarray, part_fields: list[np.ndarray]) -> np.ndarray:
    """Give every claimed cell to the part whose field is highest there (unclaimed cells stay so).

    Parts claim cells in the order they are sampled, so a part sampled early keeps the cells its field
    spills onto its later neighbours; comparing all the accepted parts' fields once they are known puts the
    boundary where one part's field overtakes the other's.

    Args:
        labels: the label grid (G, G, G), parts numbered in the order of ``part_fields``.
        cells: (M, 3) int cell indices the fields were evaluated at.
        part_fields: K arrays (M,), each accepted part's inside-positive field at those cells.
    Returns:
        A new label grid.
    """
    labels = labels.copy()
    if not part_fields:
        return labels
    index = tuple(cells.T)
    claimed = labels[index] >= 0
    strongest = np.argmax(np.stack(part_fields), axis=0).astype(labels.dtype)
    labels[tuple(cells[claimed].T)] = strongest[claimed]
    return labels


def fill_unclaimed(labels: np.ndarray) -> np.ndarray:
    """Give every UNCLAIMED cell a part: each connected unclaimed region joins the part it shares most
    cell faces with; a region that touches no part joins the nearest part. Returns a new grid.

    With no part at all the input stays whole: every inside cell becomes part 0.
    """
    labels = labels.copy()
    unclaimed = labels == UNCLAIMED
    if not unclaimed.any():
        return labels
    num_parts = int(labels.max()) + 1
    if num_parts == 0:
        labels[unclaimed] = 0
        return labels
    regions, num_regions = ndimage.label(unclaimed)
    contacts = np.zeros((num_regions + 1, num_parts), dtype=np.int64)
    for axis, step in _NEIGHBOUR_STEPS:
        neighbour = np.roll(labels, -step, axis=axis)
        edge = [slice(None)] * 3
        edge[axis] = slice(-1, None) if step > 0 else slice(0, 1)  # np.roll wraps around: drop those
        valid = unclaimed & (neighbour >= 0)
        valid[tuple(edge)] = False
        np.add.at(contacts, (regions[valid], neighbour[valid]), 1)
    joined = np.argmax(contacts, axis=1)
    touching = contacts.sum(axis=1) > 0
    labels[unclaimed] = np.where(touching[regions[unclaimed]], joined[regions[unclaimed]], UNCLAIMED)
    still = labels == UNCLAIMED
    if still.any():  # islands touching no part: the nearest labelled cell
        _, nearest = ndimage.distance_transform_edt(labels < 0, return_indices=True)
        labels[still] = labels[tuple(index[still] for index in nearest)]
    return labels


def release_fragments(labels: np.ndarray, keep_ratio: float = 0.5) -> np.ndarray:
    """Unclaim the stray pieces of each part: a connected piece (6-connected cells) smaller than
    ``keep_ratio`` times the part's largest piece becomes UNCLAIMED again, so that :func:`fill_unclaimed`
    gives it to the part it touches most. Lossy part fields claim such crumbs around their neighbours.
    Returns a new grid."""
    labels = labels.copy()
    for k in range(int(labels.max()) + 1):
        pieces, count = ndimage.label(labels == k)
        if count < 2:
            continue
        sizes = np.bincount(pieces.ravel())[1:]
        small = np.flatnonzero(sizes < keep_ratio * sizes.max()) + 1
        labels[np.isin(pieces, small)] = UNCLAIMED
    return labels


def drop_small_parts(labels: np.ndarray, min_cells: int) -> tuple[np.ndarray, list[int]]:
    """:func:`drop_parts` of the parts smaller than ``min_cells``; the largest part is always kept."""
    num_parts = int(labels.max()) + 1 if (labels >= 0).any() else 0
    counts = np.bincount(labels[labels >= 0].ravel(), minlength=num_parts)
    return drop_parts(labels, [k for k in range(num_parts) if counts[k] < min_cells and k != int(np.argmax(counts))])


def drop_parts(labels: np.ndarray, dropped: list[int]) -> tuple[np.ndarray, list[int]]:
    """Give the cells of the parts in ``dropped`` to their neighbours (as :func:`fill_unclaimed`) and
    renumber the rest 0..K'-1 in order. Returns (new grid, the old indices of the kept parts)."""
    num_parts = int(labels.max()) + 1 if (labels >= 0).any() else 0
    keep = [k for k in range(num_parts) if k not in set(dropped)]
    if len(keep) == num_parts:
        return labels, keep
    remap = np.full(num_parts, UNCLAIMED, np.int32)
    remap[keep] = np.arange(len(keep))
    labels = labels.copy()
    labelled = labels >= 0
    labels[labelled] = remap[labels[labelled]]
    return fill_unclaimed(labels), keep


def extend_labels(labels: np.ndarray) -> np.ndarray:
    """Every cell (inside or not) takes the label of the nearest labelled cell: the parts' regions then
    tile the whole cube. ``labels`` must hold at least one part."""
    if not (labels >= 0).any():
        raise ValueError("extend_labels needs at least one labelled cell")
    _, nearest = ndimage.distance_transform_edt(labels < 0, return_indices=True)
    return labels[tuple(nearest)]


def labels_from_parts(part_triangles: list, inside: np.ndarray) -> np.ndarray:
    """Ground-truth labels of an input's cells: each inside cell goes to the part whose solid holds it.

    Args:
        part_triangles: per part, ``(F, 3, 3)`` triangle corners in the [-1, 1] frame.
        inside: ``(G, G, G)`` bool, the input's volume (:func:`input_volume`).

    Returns:
        ``(G, G, G)`` int32 grid: OUTSIDE off the volume, else a part index. A cell inside several parts
        goes to the smallest of them (an embedded knob is not swallowed by its panel); a cell inside none
        (the input's fused seams, thin parts between centres) goes to the nearest labelled cell.
    """
    grid = inside.shape[0]
    labels = new_label_grid(inside)
    solids = []
    for triangles in part_triangles:
        solid = parity_votes(np.asarray(triangles, np.float64), grid) >= 2
        if not solid.any() and len(triangles):  # thinner than a cell: the cells its corners fall in
            solid = surface_voxels(np.asarray(triangles).reshape(-1, 3), grid)
        solids.append(solid)
    for index in np.argsort([-int(s.sum()) for s in solids], kind="stable"):  # largest first, smallest wins
        labels[inside & solids[index]] = int(index)
    if (labels >= 0).any() and (labels == UNCLAIMED).any():
        _, nearest = ndimage.distance_transform_edt(labels < 0, return_indices=True)
        unlabelled = labels == UNCLAIMED
        labels[unlabelled] = labels[tuple(axis_index[unlabelled] for axis_index in nearest)]
    return labels


# ------------------------------------------------------------------------------------------------
# the history: the surface of the claimed region
# ------------------------------------------------------------------------------------------------
@dataclass
class SurfaceSamples:
    """Area-uniform samples of the input surface and the inside cell each one belongs to.

    points, normals: (S, 3) float32 in the [-1, 1] frame. cells: (S, 3) int, the nearest inside cell.
    area: total surface area of the input (frame units squared).
    """

    points: np.ndarray
    normals: np.ndarray
    cells: np.ndarray
    area: float


def nearest_inside_cells(points: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """(S, 3) points -> (S, 3) int index of the nearest inside cell (the containing cell when inside)."""
    grid = inside.shape[0]
    index = np.clip(np.floor((np.asarray(points) + 1.0) * (grid / 2.0)).astype(np.int64), 0, grid - 1)
    _, nearest = ndimage.distance_transform_edt(~inside, return_indices=True)
    return np.stack([nearest[a][index[:, 0], index[:, 1], index[:, 2]] for a in range(3)], axis=1)


def claimed_region_cloud(labels: np.ndarray, surface: SurfaceSamples, size: int, rng: np.random.Generator
                         ) -> np.ndarray:
    """Surface of the claimed region as the encoder's input: (size, 6) float32 [xyz, normal].

    The region's surface is the input's own surface over claimed cells plus the cut between claimed and
    unclaimed inside cells (cell faces, normals pointing out of the claimed region). Points are drawn in
    proportion to the two areas. Empty claimed region -> an all-zero cloud (the start-of-sequence history).
    """
    grid = labels.shape[0]
    cell = 2.0 / grid
    claimed = labels >= 0
    on_claimed = claimed[surface.cells[:, 0], surface.cells[:, 1], surface.cells[:, 2]]
    outer_area = surface.area * on_claimed.mean() if len(on_claimed) else 0.0

    # Cut faces between a claimed cell and an unclaimed inside cell, per axis and direction.
    centres = grid_centres(grid)
    face_centres, face_normals, face_axes = [], [], []
    for axis in range(3):
        low = [slice(None)] * 3
        high = [slice(None)] * 3
        low[axis], high[axis] = slice(0, -1), slice(1, None)
        a, b = labels[tuple(low)], labels[tuple(high)]
        for sign, mask in ((1.0, (a >= 0) & (b == UNCLAIMED)), (-1.0, (b >= 0) & (a == UNCLAIMED))):
            idx = np.argwhere(mask)
            if len(idx) == 0:
                continue
            centre = centres[idx].copy()
            centre[:, axis] += 0.5 * cell  # the face between cell i and i + 1 along the axis
            normal = np.zeros_like(centre)
            normal[:, axis] = sign
            face_centres.append(centre)
            face_normals.append(normal)
            face_axes.append(np.full(len(idx), axis))
    cut_area = sum(len(c) for c in face_centres) * cell * cell
    total = outer_area + cut_area
    if total <= 0:
        return np.zeros((size, 6), np.float32)

    n_outer = int(round(size * outer_area / total))
    n_cut = size - n_outer
    clouds = []
    if n_outer > 0:
        pool = np.flatnonzero(on_claimed)
        pick = rng.choice(pool, size=n_outer, replace=n_outer > len(pool))
        clouds.append(np.concatenate([surface.points[pick], surface.normals[pick]], axis=1))
    if n_cut > 0 and face_centres:
        centre = np.concatenate(face_centres)
        normal = np.concatenate(face_normals)
        axes = np.concatenate(face_axes)
        pick = rng.integers(len(centre), size=n_cut)
        offsets = (rng.random((n_cut, 3)) - 0.5) * cell
        offsets[np.arange(n_cut), axes[pick]] = 0.0  # stay on the face's plane
        clouds.append(np.concatenate([centre[pick] + offsets, normal[pick]], axis=1))
    return np.concatenate(clouds).astype(np.float32)



def anchored_input(vertices: np.ndarray, faces: np.ndarray, grid: int, count: int, area: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, SurfaceSamples]:
    """A mesh input (in the [-1, 1] frame) as the anchored loop holds it: ``(inside (G, G, G) bool, samples)``.

    ``count`` area-uniform surface samples are drawn from ``rng`` first, then the volume is voxelised
    (:func:`input_volume`); ``area`` is the mesh's surface area. The pipeline and the training preparation
    (``train/prep.py``) both call this, so the DiT trains on the histories it will see.
    """
    from autopartgen.geometry.sampling import sample_surface

    points, normals = sample_surface(vertices, faces, count, rng)
    inside = input_volume(vertices, faces, grid, surface_points=points)
    samples = SurfaceSamples(points.astype(np.float32), normals.astype(np.float32),
                             nearest_inside_cells(points, inside), float(area))
    return inside, samples


def remainder_labels(labels: np.ndarray) -> np.ndarray:
    """The unclaimed rest of the input as a claimed region: inside cells nobody holds become part 0 and the
    claimed ones UNCLAIMED (OUTSIDE stays), so :func:`claimed_region_cloud` of the result is the surface of
    what is left to split (``history_region: remainder``). Nothing left -> no claimed cell (the empty cloud)."""
    return np.where(labels == UNCLAIMED, 0, np.where(labels >= 0, UNCLAIMED, labels)).astype(np.int32)


def history_cloud(labels: np.ndarray, surface: SurfaceSamples, pool_size: int, size: int,
                  rng: np.random.Generator) -> np.ndarray:
    """The encoder's history cloud ``(size, 6)``: ``pool_size`` points of :func:`claimed_region_cloud`,
    then farthest-point sampling from a random start (as the pipeline treats every encoder cloud)."""
    from autopartgen.geometry.sampling import farthest_point_sample

    pool = claimed_region_cloud(labels, surface, pool_size, rng)
    start = int(rng.integers(len(pool)))
    return pool[farthest_point_sample(pool, size, start_index=start)]

# ------------------------------------------------------------------------------------------------
# regions of space and cutting the input
# ------------------------------------------------------------------------------------------------
def region_meshes(labels: np.ndarray, num_parts: int, smooth_cells: float = 1.0, pad: int = 2
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Closed meshes of the parts' regions of space, which tile the (padded) cube between them.

    Args:
        labels: (G, G, G) label grid with every cell labelled 0..num_parts-1 (see :func:`extend_labels`).
        num_parts: number of parts.
        smooth_cells: Gaussian blur of each part's indicator, in cells; the region of part k is where its
            blurred indicator beats every other part's, so boundaries are smooth surfaces rather than
            cell staircases, and neighbouring regions share them.
        pad: cells added around the cube (labels copied outward), so regions reach past the input.
    Returns:
        per part ``(vertices (V, 3) float64, faces (F, 3) int64)``, outward-wound, in the [-1, 1] frame;
        a part with no region gets empty arrays.
    """
    from skimage.measure import marching_cubes

    grid = labels.shape[0]
    cell = 2.0 / grid
    padded = np.pad(labels, pad, mode="edge")
    scores = np.stack([ndimage.gaussian_filter((padded == k).astype(np.float32), smooth_cells, mode="nearest")
                       if smooth_cells > 0 else (padded == k).astype(np.float32) for k in range(num_parts)])
    if num_parts == 1:
        margins = scores - 0.5
    else:
        top2 = np.sort(scores, axis=0)[-2:]
        best_other = np.where(scores >= top2[1][None], top2[0][None], top2[1][None])
        margins = scores - best_other
    origin = -1.0 + (0.5 - pad) * cell  # centre of padded cell 0
    meshes = []
    for k in range(num_parts):
        margin = np.pad(margins[k], 1, constant_values=-1.0)  # a closed surface around the padded cube
        if margin.max() <= 0 and (padded == k).any():
            # A part too thin to survive the blur keeps its own cells (boundaries unsmoothed there).
            margin = np.pad(np.where(padded == k, 0.5, -0.5).astype(np.float32), 1, constant_values=-1.0)
        if margin.max() <= 0:
            meshes.append((np.zeros((0, 3)), np.zeros((0, 3), np.int64)))
            continue
        vertices, faces, _, _ = marching_cubes(margin, level=0.0)
        vertices = origin + (vertices - 1.0) * cell
        faces = faces.astype(np.int64)
        if _signed_volume(vertices, faces) < 0:
            faces = faces[:, ::-1]
        meshes.append((vertices, faces))
    return meshes


def _signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    tri = vertices[faces]
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)


@dataclass
class CutPart:
    """One part cut from the input: vertices (V, 3), faces (F, 3), per-vertex RGBA uint8 colours (or None),
    per-vertex UVs (V, 2) (or None; NaN on cut-face vertices), and ``cut_faces`` (F,) bool: True for the
    new faces where the part meets a neighbour. ``closed`` says whether it is a closed solid (the input
    was). With UVs, cut faces and UV seams keep their own vertices (as glTF stores them), so the surface
    is closed in space but not welded."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray | None
    cut_faces: np.ndarray
    closed: bool
    uv: np.ndarray | None = None


def cut_by_regions(vertices: np.ndarray, faces: np.ndarray, regions: list, colors: np.ndarray | None = None,
                   face_labels: np.ndarray | None = None, uv: np.ndarray | None = None) -> list[CutPart]:
    """Cut a mesh into parts along region meshes that tile space.

    A closed (manifold) input is intersected with each region (``manifold3d`` booleans: exact, and the
    input's colours carry over to its own faces); every part is then a closed solid. Any other input is
    split by ``face_labels`` (F,) (the region each triangle's centroid lies in), so parts are open
    surfaces made of the input's whole triangles.

    Args:
        vertices, faces: the input mesh (V, 3), (F, 3) in the regions' frame.
        regions: per part ``(vertices, faces)`` of its region (see :func:`region_meshes`).
        colors: optional (V, 4) uint8 RGBA per input vertex.
        face_labels: (F,) int part of each input triangle, for the open-surface fallback.
        uv: optional (V, 2) texture coordinates per input vertex (interpolated where the cut crosses a face).
    Returns:
        one :class:`CutPart` per region (empty arrays where a region holds none of the input).
    """
    extra = [np.asarray(colors, np.float64) / 255.0] if colors is not None else []
    if uv is not None:
        extra.append(np.asarray(uv, np.float64))
    solid = _manifold(vertices, faces, np.concatenate(extra, axis=1) if extra else None)
    if solid is not None:
        solid = _resolve_overlaps(solid)
    if solid is None:
        if face_labels is None:
            raise ValueError("the input is not a closed manifold; pass face_labels for the open-surface split")
        logger.info("input mesh is not a closed manifold: parts are open surfaces of its own triangles")
        return [_faces_subset(vertices, faces, colors, face_labels == k, uv) for k in range(len(regions))]
    input_id = solid.original_id()
    parts = []
    for region_vertices, region_faces in regions:
        if len(region_faces) == 0:
            parts.append(_faces_subset(vertices, faces, colors, np.zeros(len(faces), bool), uv))
            continue
        region = _manifold(region_vertices, region_faces, None)  # its properties read as 0 in the output
        piece = (solid ^ region).to_mesh() if region is not None else None
        if piece is None or len(piece.tri_verts) == 0:
            parts.append(_faces_subset(vertices, faces, colors, np.zeros(len(faces), bool), uv))
            continue
        props = np.asarray(piece.vert_properties, dtype=np.float64)
        tris = np.asarray(piece.tri_verts, dtype=np.int64)
        # manifold3d keeps one vertex per property value along seams (input colours | cut faces) and lists
        # the duplicates in its merge vectors: weld them so the part is one closed surface.
        from_input = _faces_from(piece, input_id, len(tris))
        if uv is not None:  # keep UV seams and give cut faces their own vertices
            parts.append(_split_cut_part(props, tris, from_input, colors is not None))
            continue
        merge_from = np.asarray(piece.merge_from_vert, np.int64)
        merge_to = np.asarray(piece.merge_to_vert, np.int64)
        on_input = np.zeros(len(props), bool)
        on_input[tris[from_input].reshape(-1)] = True
        take = on_input[merge_from] & ~on_input[merge_to]  # the welded vertex keeps the input's colour
        props[merge_to[take], 3:] = props[merge_from[take], 3:]
        weld = np.arange(len(props))
        weld[merge_from] = merge_to
        tris = weld[tris]
        parts.append(_cut_part(props, tris, from_input, colors is not None))
    return parts


def is_sliver(part: CutPart, cell_size: float, min_thickness: float = 0.25) -> bool:
    """Whether a closed cut part is a sliver of the surface rather than a solid: its mean thickness
    (2 x volume / area) is under ``min_thickness`` cells of ``cell_size`` (frame units). A region whose
    boundary runs a hair inside the input's surface (a face lying on an anchor-cell boundary) cuts such
    a skin off the part beneath it."""
    if not part.closed or len(part.faces) == 0:
        return False
    area = float(triangle_areas(part.vertices, part.faces).sum())
    return 2.0 * abs(_signed_volume(part.vertices, part.faces)) < min_thickness * cell_size * area


def welded_faces(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F, 3) the faces over vertices welded by position (to 1e-7 in the [-1, 1] frame): texture seams and
    flat shading split a surface's vertices without splitting the surface. Pass them to
    ``cleanup.face_component_labels`` for the input's pieces, and to :func:`cut_keeping_components`."""
    _, welded = np.unique(np.round(np.asarray(vertices, np.float64), 7), axis=0, return_inverse=True)
    return welded.reshape(-1)[np.asarray(faces, np.int64)]


def whole_component_parts(components: np.ndarray, face_labels: np.ndarray, face_areas: np.ndarray,
                          max_component_share: float = 0.5, min_majority: float = 0.5) -> np.ndarray:
    """Which components of a multi-piece input go to one part whole instead of being cut.

    An asset built from separate pieces (a wheel, a bolt, a link of a robot) rarely wants a piece cut in
    two. A component is kept whole, in the part holding most of its area, when the input has several
    components, it holds at most ``max_component_share`` of the input's area (the body of an object that
    is mostly one piece is still cut as the parts decide) and that part holds at least ``min_majority`` of it.

    Args:
        components: (F,) component of each triangle (``cleanup.face_component_labels`` of
            :func:`welded_faces`).
        face_labels: (F,) part of each triangle (:func:`face_region_labels`).
        face_areas: (F,) triangle areas.
    Returns:
        (F,) int: the part each triangle's component goes to whole, or -1 where the component is cut.
    """
    components = np.asarray(components, np.int64)
    face_labels = np.asarray(face_labels, np.int64)
    whole = np.full(len(components), -1, np.int64)
    num_components = int(components.max()) + 1 if len(components) else 0
    if num_components < 2:
        return whole
    areas = np.asarray(face_areas, np.float64)
    num_parts = int(face_labels.max()) + 1
    by_part = np.zeros((num_components, num_parts))
    np.add.at(by_part, (components, face_labels), areas)
    component_area = by_part.sum(axis=1)
    majority = by_part.argmax(axis=1)
    keep = ((component_area <= max_component_share * max(areas.sum(), 1e-30))
            & (by_part.max(axis=1) >= min_majority * component_area))
    whole[keep[components]] = majority[components[keep[components]]]
    return whole


def separate_whole_components(whole: np.ndarray, components: np.ndarray, areas: np.ndarray, num_parts: int,
                              min_share: float, max_new: int | None = None) -> tuple[np.ndarray, list[int]]:
    """Give each sizable piece of a multi-piece input a part of its own.

    When one part holds several whole components (:func:`whole_component_parts`) that each cover at least
    ``min_share`` of the input's surface area, the largest stays in the part and each other becomes a new
    part, at most ``max_new`` of them, largest first: an asset's authored pieces (a seat,
    a leg, a wheel) are split apart even where the model grouped them; smaller pieces (a bolt) stay with
    the part holding them.

    Args:
        whole: (F,) part of each triangle's whole component, -1 where it is cut.
        components: (F,) component of each triangle.
        areas: (F,) triangle areas.
        num_parts: the parts so far (new parts are numbered from it).
        min_share: the least share of the input's area of a piece split off.
        max_new: the most new parts (None: no limit).
    Returns:
        (the new ``whole`` (F,), the part each new part came from).
    """
    whole = np.asarray(whole, np.int64).copy()
    components = np.asarray(components, np.int64)
    component_area = np.bincount(components, weights=areas)
    owner = np.full(len(component_area), -1, np.int64)
    owner[components] = whole
    sizable = np.flatnonzero((owner >= 0) & (component_area >= min_share * max(float(np.sum(areas)), 1e-30)))
    candidates = []  # (area, component, part) of every sizable component but its part's largest
    for part in np.unique(owner[sizable]):
        members = sizable[owner[sizable] == part]
        members = members[np.argsort(-component_area[members], kind="stable")]
        candidates += [(component_area[c], int(c), int(part)) for c in members[1:]]
    candidates.sort(key=lambda item: -item[0])
    room = len(candidates) if max_new is None else max(max_new, 0)
    sources = []
    for _, component, part in candidates[:room]:
        whole[components == component] = num_parts + len(sources)
        sources.append(part)
    return whole, sources


def relabel_whole_components(labels: np.ndarray, vertices: np.ndarray, faces: np.ndarray, whole: np.ndarray
                             ) -> np.ndarray:
    """The label grid with each labelled cell whose nearest triangle (by centroid) belongs to a whole
    component given to that component's part: the cells the kept-whole pieces hold, for volume shares."""
    from scipy.spatial import cKDTree

    labels = labels.copy()
    cells = np.argwhere(labels >= 0)
    if len(cells) == 0 or not (np.asarray(whole) >= 0).any():
        return labels
    centroids = np.asarray(vertices, np.float64)[np.asarray(faces, np.int64)].mean(axis=1)
    _, nearest = cKDTree(centroids).query(cell_centres(cells, labels.shape[0]))
    part = np.asarray(whole)[nearest]
    moved = part >= 0
    labels[tuple(cells[moved].T)] = part[moved]
    return labels


def cut_keeping_components(vertices: np.ndarray, faces: np.ndarray, regions: list, face_labels: np.ndarray,
                           whole: np.ndarray, colors: np.ndarray | None = None, uv: np.ndarray | None = None,
                           welded: np.ndarray | None = None) -> list[CutPart]:
    """:func:`cut_by_regions`, except that whole components go to their part whole (their own triangles,
    no cut faces); only the rest of the input is cut along the regions. Triangles with two corners at one
    position (no area, no surface) are left out, as the boolean cut leaves them out: kept, they would open
    the closed piece they touch.

    Args:
        vertices, faces, regions, colors, uv: as :func:`cut_by_regions`.
        face_labels: (F,) the region of each triangle (:func:`face_region_labels`).
        whole: (F,) the part of each triangle's whole component, -1 where it is cut
            (:func:`whole_component_parts`, :func:`separate_whole_components`); parts numbered from
            ``len(regions)`` on are made of whole components only.
        welded: (F, 3) :func:`welded_faces` of the input, if the caller has them (else computed here).
    Returns:
        one CutPart per part: ``max(len(regions), whole.max() + 1)``.
    """
    vertices, faces = np.asarray(vertices, np.float64), np.asarray(faces, np.int64)
    whole = np.asarray(whole, np.int64)
    if not (whole >= 0).any():
        return cut_by_regions(vertices, faces, regions, colors, face_labels, uv)
    welded = welded_faces(vertices, faces) if welded is None else np.asarray(welded, np.int64)
    proper = (welded[:, 0] != welded[:, 1]) & (welded[:, 1] != welded[:, 2]) & (welded[:, 2] != welded[:, 0])
    rest = (whole < 0) & proper
    cut: list = [None] * max(len(regions), int(whole.max()) + 1)
    if rest.any():
        remainder = _faces_subset(vertices, faces, colors, rest, uv)
        cut[:len(regions)] = cut_by_regions(remainder.vertices, remainder.faces, regions, remainder.colors,
                                            np.asarray(face_labels)[rest], remainder.uv)
    parts = []
    for k, piece in enumerate(cut):
        keep = (whole == k) & proper
        kept = _faces_subset(vertices, faces, colors, keep, uv)
        kept.closed = every_edge_in_two_faces(welded[keep])
        parts.append(kept if piece is None or len(piece.faces) == 0 else _joined(piece, kept))
    return parts


def _joined(a: CutPart, b: CutPart) -> CutPart:
    """Two CutParts of one part as one (b's triangles after a's)."""
    if len(b.faces) == 0:
        return a
    return CutPart(np.concatenate([a.vertices, b.vertices]), np.concatenate([a.faces, b.faces + len(a.vertices)]),
                   None if a.colors is None else np.concatenate([a.colors, b.colors]),
                   np.concatenate([a.cut_faces, b.cut_faces]), closed=a.closed and b.closed,
                   uv=None if a.uv is None else np.concatenate([a.uv, b.uv]))


def _resolve_overlaps(solid):
    """One clean solid from shells that may overlap (a model built from interpenetrating pieces): the union
    of its connected shells, so no buried faces end up inside a part."""
    import manifold3d

    shells = solid.decompose()
    if len(shells) < 2:
        return solid
    union = manifold3d.Manifold.batch_boolean(shells, manifold3d.OpType.Add)
    if union.status() != manifold3d.Error.NoError or union.is_empty():
        return solid
    return union.as_original()


def _faces_from(piece, original_id: int, num_tris: int) -> np.ndarray:
    """(T,) bool: the triangles of a boolean's output that came from the solid with ``original_id``."""
    from_solid = np.zeros(num_tris, bool)
    run_index = np.asarray(piece.run_index)
    for run, original in enumerate(np.asarray(piece.run_original_id)):
        if int(original) == original_id:
            from_solid[run_index[run] // 3:run_index[run + 1] // 3] = True
    return from_solid


def _manifold(vertices: np.ndarray, faces: np.ndarray, properties: np.ndarray | None):
    """A manifold3d solid of a mesh (vertex properties: xyz, then ``properties`` (V, k)), or None if not closed."""
    import manifold3d

    props = np.asarray(vertices, np.float32)
    if properties is not None:
        props = np.concatenate([props, np.asarray(properties, np.float32)], axis=1)
    mesh = manifold3d.Mesh(np.ascontiguousarray(props), np.ascontiguousarray(np.asarray(faces, np.uint32)))
    mesh.merge()  # weld vertices split only by their properties (UV seams, colour seams)
    solid = manifold3d.Manifold(mesh)
    if solid.status() != manifold3d.Error.NoError or solid.is_empty():
        return None
    return solid.as_original()


def _cut_part(props: np.ndarray, tris: np.ndarray, from_input: np.ndarray, has_colors: bool) -> CutPart:
    """Boolean output -> CutPart. Vertices stay shared (the part stays watertight); a vertex used only by cut
    faces has no input colour and is left transparent black for the exporter to paint plain."""
    used, inverse = np.unique(tris.reshape(-1), return_inverse=True)
    faces = inverse.reshape(-1, 3).astype(np.int64)
    props = props[used]
    colors = None
    if has_colors:
        colors = np.clip(np.round(props[:, 3:7] * 255), 0, 255).astype(np.uint8)
        on_input = np.zeros(len(props), bool)
        on_input[faces[from_input].reshape(-1)] = True
        colors[~on_input] = 0
    return CutPart(props[:, :3].copy(), faces, colors, ~from_input, closed=True)


def _split_cut_part(props: np.ndarray, tris: np.ndarray, from_input: np.ndarray, has_colors: bool) -> CutPart:
    """Boolean output -> CutPart with separate vertex sets for input faces and cut faces (UV case)."""
    outer_used, outer_faces = np.unique(tris[from_input].reshape(-1), return_inverse=True)
    cut_used, cut_faces = np.unique(tris[~from_input].reshape(-1), return_inverse=True)
    vertices = np.concatenate([props[outer_used, :3], props[cut_used, :3]])
    faces = np.concatenate([outer_faces.reshape(-1, 3), cut_faces.reshape(-1, 3) + len(outer_used)]).astype(np.int64)
    uv = np.concatenate([props[outer_used, -2:], np.full((len(cut_used), 2), np.nan)])
    colors = None
    if has_colors:
        colors = np.concatenate([np.clip(np.round(props[outer_used, 3:7] * 255), 0, 255),
                                 np.zeros((len(cut_used), 4))]).astype(np.uint8)
    cut = np.concatenate([np.zeros(len(outer_faces) // 3, bool), np.ones(len(cut_faces) // 3, bool)])
    return CutPart(vertices, faces, colors, cut, closed=True, uv=uv)


def _faces_subset(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None, keep: np.ndarray,
                  uv: np.ndarray | None = None) -> CutPart:
    used, inverse = np.unique(faces[keep].reshape(-1), return_inverse=True)
    return CutPart(np.asarray(vertices, np.float64)[used], inverse.reshape(-1, 3).astype(np.int64),
                   None if colors is None else np.asarray(colors)[used], np.zeros(int(keep.sum()), bool),
                   closed=False, uv=None if uv is None else np.asarray(uv)[used])


def face_region_labels(vertices: np.ndarray, faces: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(F,) the label of the cell each triangle's centroid lies in (``labels`` extended to every cell)."""
    grid = labels.shape[0]
    centroids = np.asarray(vertices)[np.asarray(faces)].mean(axis=1)
    index = np.clip(np.floor((centroids + 1.0) * (grid / 2.0)).astype(np.int64), 0, grid - 1)
    return labels[index[:, 0], index[:, 1], index[:, 2]]


def neck_segments(inside: np.ndarray, depth_cells: float) -> np.ndarray:
    """Split a solid where it narrows: the watershed basins of its distance-to-surface field.

    Each basin grows from a local thickness maximum that rises at least ``depth_cells`` (in cells) above
    the saddle joining it to a thicker neighbour (h-maxima), so a rod joined to a plate by a thinner neck,
    or two lobes joined by a waist, are separate basins, while noise bumps on the distance field are not.
    scikit-image's h-maxima and watershed do the work; the distance is ``scipy.ndimage``'s exact EDT.

    Args:
        inside: (G, G, G) bool, the solid's cells.
        depth_cells: the least depth of a neck, in cells (> 0).
    Returns:
        (G, G, G) int32: 0 outside, basins numbered 1..S (the whole solid is basin 1 when no maximum
        qualifies).
    """
    from skimage.morphology import h_maxima
    from skimage.segmentation import watershed

    from autopartgen.geometry.regions import depth_field

    inside = np.asarray(inside, bool)
    distance = depth_field(inside)
    markers, count = ndimage.label(h_maxima(distance, depth_cells) & inside)
    if count == 0:
        return inside.astype(np.int32)
    return watershed(-distance, markers, mask=inside).astype(np.int32)


def split_parts_at_necks(labels: np.ndarray, segments: np.ndarray, min_cells: int, max_parts: int | None = None,
                         max_contact: float | None = None) -> np.ndarray:
    """Split each part along the necks of the solid it spans.

    A part's cells are divided by the ``segments`` (:func:`neck_segments`) they lie in. A piece other than
    the part's largest becomes a part of its own when it holds at least ``min_cells`` cells and meets the
    rest of its part across at most ``max_contact`` x n^(2/3) cell faces (n: its cells; n^(2/3) is the face
    of a cube of its volume), so that thin shells and slices along a wide interface, which watershed lines
    cut where flat stretches of the distance field meet, stay with their part. Qualifying pieces are split
    off largest first while the count stays within ``max_parts``; the other
    pieces join the part they touch most (as :func:`fill_unclaimed`). Parts keep their numbers, new parts
    follow them (largest first).

    Args:
        labels: (G, G, G) label grid, parts 0..K-1, every inside cell labelled.
        segments: (G, G, G) int, 0 outside, basin ids > 0 inside.
        min_cells: the least number of cells a piece needs to be split off.
        max_parts: the most parts after splitting (None: no limit).
        max_contact: see above (None: no limit).
    Returns:
        A new label grid, parts 0..K'-1 with K <= K' <= max(K, max_parts).
    """
    labels = np.asarray(labels)
    out = labels.copy()
    num_parts = int(labels.max()) + 1 if (labels >= 0).any() else 0
    split_offs = []  # (size, part, segment id) of pieces that qualify
    for k in range(num_parts):
        part = labels == k
        pieces, sizes = np.unique(segments[part], return_counts=True)
        for rank, i in enumerate(np.argsort(-sizes, kind="stable")):
            if rank == 0:
                continue  # the largest piece keeps the part's number
            piece = part & (segments == pieces[i])
            if sizes[i] >= min_cells and (max_contact is None
                                          or contact_faces(piece, part & ~piece) <= max_contact * sizes[i] ** (2 / 3)):
                split_offs.append((int(sizes[i]), k, int(pieces[i])))
            else:
                out[piece] = UNCLAIMED
    split_offs.sort(key=lambda item: -item[0])
    room = len(split_offs) if max_parts is None else max(max_parts - num_parts, 0)
    for rank, (_, k, segment) in enumerate(split_offs):
        out[(labels == k) & (segments == segment)] = num_parts + rank if rank < room else UNCLAIMED
    return fill_unclaimed(out)


def contact_faces(a: np.ndarray, b: np.ndarray) -> int:
    """The number of cell faces between two (G, G, G) bool cell sets (6-neighbour pairs, one in each)."""
    count = 0
    for axis in range(3):
        lower = tuple(slice(None, -1) if i == axis else slice(None) for i in range(3))
        upper = tuple(slice(1, None) if i == axis else slice(None) for i in range(3))
        count += int((a[lower] & b[upper]).sum()) + int((b[lower] & a[upper]).sum())
    return count


def split_largest(labels: np.ndarray) -> np.ndarray:
    """Split the part with the most cells in two across its longest principal axis (at the median).

    Used to reach an exact part count. Returns a new grid whose new part is ``labels.max() + 1``.
    """
    labels = labels.copy()
    counts = np.bincount(labels[labels >= 0].ravel())
    largest = int(np.argmax(counts))
    cells = np.argwhere(labels == largest)
    if len(cells) < 2:
        return labels
    centred = cells - cells.mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    coordinate = centred @ axis
    upper = coordinate > np.median(coordinate)
    if not upper.any() or upper.all():
        upper = np.arange(len(cells)) >= len(cells) // 2
    new = int(labels.max()) + 1
    labels[tuple(cells[upper].T)] = new
    return labels


def split_mesh_in_two(vertices: np.ndarray, faces: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cut a mesh across its longest principal axis, at the median of its vertices: two ``(vertices, faces)``.

    A closed mesh gives two closed halves (``manifold3d``); any other mesh is split by its triangles. Used to
    reach an exact part count with generated parts. Returns ``[]`` when the cut leaves one side empty.
    """
    vertices = np.asarray(vertices, np.float64)
    centroid = vertices.mean(axis=0)
    axis = np.linalg.svd(vertices - centroid, full_matrices=False)[2][0]
    offset = float(np.median((vertices - centroid) @ axis))
    solid = _manifold(vertices, faces, None)
    if solid is not None:
        halves = solid.split_by_plane(axis.tolist(), float(centroid @ axis + offset))
        meshes = [h.to_mesh() for h in halves]
        result = [(np.asarray(m.vert_properties, np.float64)[:, :3], np.asarray(m.tri_verts, np.int64)) for m in meshes]
    else:  # an open mesh: each triangle goes to the side its centroid is on (no new faces)
        faces = np.asarray(faces, np.int64)
        side = (vertices[faces].mean(axis=1) - centroid) @ axis > offset
        result = []
        for keep in (side, ~side):
            used, inverse = np.unique(faces[keep].reshape(-1), return_inverse=True)
            result.append((vertices[used], inverse.reshape(-1, 3).astype(np.int64)))
    return result if all(len(f) for _, f in result) else []
