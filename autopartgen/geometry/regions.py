"""Over-segment a solid into regions and describe pairs of touching regions, for merging them into parts.

The anchored loop's claims (``geometry/partition.py``) say which part the model meant for each cell
of the input's solid; their boundaries are good but their grouping often is not. This module holds the
geometry side of "over-segment, then merge":

- the basins of the distance-to-surface field (one per local thickness maximum, via scikit-image),
  which split a solid where it narrows;
- cut where the plane of a large flat face of the solid crosses them (:func:`face_planes`,
  :func:`plane_cuts`): a door, panel or knob lying flush on a box adds no neck, but the plane of the
  box's visible face separates it. Measured with the true grouping of the regions (cell level, 40
  procedural validation objects / 36 real multi-link models): basins alone 0.51 / 0.74 part IoU, with
  face cuts 0.62 / 0.76;
- separate pieces of the solid too small to be parts (specks that details thinner than a cell leave on
  the grid) join the region nearest to them (:func:`join_small_pieces`): they touch nothing to merge with;
- for two touching regions, a fixed vector of shape features (sizes, contact, neck depth, thickness,
  convexity, axes, and how much of their interface lies on a face plane);
- how the input surface bends along their interface (:func:`surface_turns`, :meth:`RegionGraph.crease`):
  parts fused into one surface still meet in a concave crease (an arm at its shoulder, a leg under a
  seat) even where the solid does not narrow; the merge can refuse such pairs (``crease`` of
  :func:`merge_regions`, config ``crease_turn`` / ``crease_factor``).
- what kind of solid the pair lies in (:func:`object_features`: how much of the grid it fills, how
  much of it is thin wall or bar, how deep it is), the same for all its pairs: two thin bars meeting
  are one part of a wire basket and two of a chair, which no feature of the pair alone tells apart.
- after the merge, thin parts take back their ends from the thicker parts they meet
  (:func:`reclaim_thin_ends`, config ``thin_end_ratio``): a basin ends where the depth starts to rise,
  so a leg's last radius lies in the basin of the seat it joins.

``models/region_merger.py`` scores the vectors; :func:`merge_regions` merges the most likely pair until
no pair is likely, asking for more confidence below the part count the model claimed. The features hold
no trace of the claims: a merger reading how the claims agree scored no better than one without
(measured on the same training pairs), and without them its training needs no model run, so it learns
from many more objects (``train/region_merger.py``).

All grids are (n, n, n) on the anchor grid; sizes are cell counts; regions are labelled 0..R-1, -1
outside. Written by hand because no library merges a region adjacency graph with a learned,
shape-aware score (scikit-image's RAG merging works on 2D colour statistics), nor finds the flat faces
of a voxel solid at any orientation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError
from skimage.feature import peak_local_max
from skimage.segmentation import watershed

from autopartgen.geometry import partition
from autopartgen.geometry.partition import extend_labels

FEATURE_NAMES = (
    "log_share_small", "log_share_large",  # region sizes as log shares of the solid (small, then large)
    "contact_small", "contact_large",  # log(contact faces / size^(2/3)) of each
    "neck_thin", "neck_thick",  # deepest interface cell's depth over the thinner / thicker region's depth
    "thickness_ratio",  # thinner region's depth over the thicker's
    "solidity_union", "solidity_small", "solidity_large", "solidity_gain",  # cells / convex hull volume
    "axes_cos", "axis_small_to_centre", "axis_large_to_centre",  # |cos| between main axes / centre line
    "elongation_small", "elongation_large", "elongation_union",  # log ratio of the top two variances
    "plane_share",  # share of the shared faces lying where the plane of a flat face of the solid crosses
)
NUM_FEATURES = len(FEATURE_NAMES)
# With an input mesh's surface turns (a merger trained with them, ``train region-merger --creases``), three
# more per pair, after the shape features: how the input surface turns along the interface.
CREASE_FEATURE_NAMES = (
    "crease_net",  # concave less convex turn over edge length (radians): RegionGraph.crease
    "crease_concave", "crease_convex",  # log mean concave / convex turn (radians) of the edges there
)
# With the object's context (a merger trained with ``--context``, which needs the crease features), three more,
# the same for every pair of a solid, after the crease features: what kind of object the pair lies in, so the
# merger can learn that two thin bars meeting are one part of a wire basket but two of a chair (object_features).
OBJECT_FEATURE_NAMES = (
    "log_solid_share",  # log of the solid's share of the anchor grid's cells
    "thin_share",  # share of the solid's cells at most THIN_DEPTH cells from its surface
    "log_median_depth",  # log of the median cell's distance to the surface (cells)
)
THIN_DEPTH = 1.5  # cells of the anchor grid: a wall or bar at most three cells thick
_CORNERS = np.array([[i, j, k] for i in (-0.5, 0.5) for j in (-0.5, 0.5) for k in (-0.5, 0.5)])
_HULL_CELLS = 1500  # shape statistics read at most this many cells (evenly strided) of a region
_PLANE_NORMALS = 600  # normal bins for face planes: points of a Fibonacci sphere, about 8 degrees apart
_PLANE_CELLS = 60  # surface cells a flat face needs at the 64^3 grid (scaled by area for other grids)
_PLANE_WIDTH = 1.0  # cells: the least standard deviation of a face's cells across its longest direction
_PLANE_BEND = 0.01  # 1/cells: a face whose normals turn faster than this across it is curved (radius < 100 cells)
_BEND_WIDTH = 10.0  # cells: narrower faces are too narrow to tell flat from curved by their normals
_MAX_PLANES = 62  # the largest faces only: each plane is one bit of a cell's side code


def depth_field(inside: np.ndarray) -> np.ndarray:
    """(n, n, n) float: each inside cell's Euclidean distance (cells) to the nearest outside cell. The
    padding makes the grid border count as outside, so a solid touching it still has a surface there."""
    return ndimage.distance_transform_edt(np.pad(inside, 1))[1:-1, 1:-1, 1:-1]


def object_features(depth: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """(len(OBJECT_FEATURE_NAMES),) what kind of solid ``inside`` is ((n, n, n) bool; ``depth``: its
    :func:`depth_field`): how much of the grid it fills, how much of it is thin wall or bar, how deep it
    is. The same for every pair of the solid; a merger reading them learns per kind of object where
    parts meet (measured in the MODEL_CARD, session 24)."""
    inside_depth = depth[inside]
    if not len(inside_depth):
        return np.zeros(len(OBJECT_FEATURE_NAMES))
    return np.array([np.log(len(inside_depth) / inside.size), float(np.mean(inside_depth <= THIN_DEPTH)),
                     float(np.log(np.median(inside_depth)))])


# radii (cells) of the inscribed balls :func:`local_thickness` tries: finer where parts are thin
THICKNESS_RADII = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 14.0, 16.0, 20.0, 24.0, 28.0, 32.0)


def local_thickness(inside: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """(n, n, n) float: for each inside cell the radius (cells) of the largest ball inside the solid that
    holds it, from :data:`THICKNESS_RADII` (0 outside; ``depth``: :func:`depth_field`). A leg keeps its
    own radius up to where it meets a thicker body, though the body's depth rises into it.

    The union of balls of radius r inside the solid is the solid's opening by that ball: the cells within
    r of a centre ``depth >= r``, one distance transform per radius (scipy has no ball opening for
    large radii that is as fast)."""
    thickness = np.zeros(inside.shape)
    for radius in THICKNESS_RADII:
        centres = depth >= radius
        if not centres.any():
            break
        covered = ndimage.distance_transform_edt(~centres) <= radius
        thickness[covered & inside] = radius
    return thickness


class ThinEnds(NamedTuple):
    """How :func:`merged_regions` gives thin parts their ends back (:func:`reclaim_thin_ends`): ``ratio``
    and ``reach`` of that function; ``first``: also on the starting regions, before the merge
    (:func:`reclaimed_start`), not only on the merged ones."""
    ratio: float
    reach: float
    first: bool = False


def reclaim_thin_ends(labels: np.ndarray, thickness: np.ndarray, ratio: float = 1.5, reach: float = 2.0,
                      slack: float = 1.25) -> np.ndarray:
    """``labels`` ((n, n, n) int regions, -1 outside) with the ends of thin regions given back by the
    thicker regions they meet (``thickness``: the solid's :func:`local_thickness`). A basin of the depth
    field ends where depth starts to rise, so the last radius or so of a leg, handle or rod flows into
    the basin of the body it joins, and any grouping of the basins leaves that stub with the body (on
    procedural objects 86 % of the cells that the true grouping of the basins gets wrong went to the
    larger part; MODEL_CARD, session 26).

    Thinnest region first: a region of median thickness t grows, one cell layer at a time and at most
    ``reach`` x t layers, into touching regions of median thickness above ``ratio`` x t, through their
    cells no thicker than ``slack`` x t (the stub, not the body). No region loses its thicker half, so
    none disappears. Returns a new grid."""
    labels = labels.copy()
    count = int(labels.max()) + 1
    medians = np.nan_to_num(np.asarray(ndimage.median(thickness, labels, np.arange(count)), float))
    boxes = ndimage.find_objects(labels + 1, count)  # a region grows only where it is first handled
    for region in np.argsort(medians, kind="stable"):
        if boxes[region] is None:
            continue
        layers = int(np.ceil(reach * medians[region]))
        crop = tuple(slice(max(box.start - layers - 1, 0), box.stop + layers + 1) for box in boxes[region])
        near = labels[crop]  # a view: what grows is written into labels
        own = near == region
        ring = ndimage.binary_dilation(own) & ~own & (near >= 0)
        thicker = [other for other in np.unique(near[ring]) if medians[other] > ratio * medians[region]]
        if not thicker:
            continue
        open_cells = np.isin(near, thicker) & (thickness[crop] <= slack * medians[region])
        near[ndimage.binary_dilation(own, iterations=layers, mask=open_cells | own)] = region
    return labels


def basin_segments(inside: np.ndarray, depth: np.ndarray, min_distance: int = 4) -> np.ndarray:
    """(n, n, n) int32 regions 0..R-1 (-1 outside): watershed basins of ``depth``, one per local
    maximum at least ``min_distance`` cells from a deeper one."""
    peaks = peak_local_max(depth, min_distance=min_distance, labels=inside.astype(np.int32), exclude_border=False)
    markers = np.zeros(inside.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    segments = watershed(-depth, markers, mask=inside)
    unreached, count = ndimage.label(inside & (segments == 0))  # islands with no peak of their own
    segments[unreached > 0] = unreached[unreached > 0] + len(peaks)
    return (segments - 1).astype(np.int32)


def over_segment(inside: np.ndarray, depth: np.ndarray, spacing: int, face_cuts: bool = True
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """The regions the merger starts from: :func:`basin_segments` (``spacing`` cells apart), cut where
    the planes of the solid's flat faces cross them when ``face_cuts`` (:func:`plane_cuts`). Returns
    ((n, n, n) int32 regions, -1 outside; the :func:`plane_sides` codes, or None without face cuts)."""
    segments = basin_segments(inside, depth, spacing)
    return face_cut(inside, segments) if face_cuts else (segments, None)


def face_cut(inside: np.ndarray, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``segments`` cut where the planes of the solid's flat faces cross them: (the cut regions, the
    :func:`plane_sides` codes)."""
    sides = plane_sides(inside, face_planes(inside))
    return plane_cuts(segments, sides), sides


def join_small_pieces(segments: np.ndarray, inside: np.ndarray, min_cells: int) -> np.ndarray:
    """``segments`` with each separate piece of the solid smaller than ``min_cells`` cells (but the
    largest piece) given to the region of its nearest cell outside such pieces, relabelled 0..R-1.

    Thin details of a real mesh (a drone's rotor blades, the ribs of a robot's leg) fall apart into
    specks of a few cells on the anchor grid; touching no other region, a speck could never merge and
    each became a part of its own (dozens on some robots; measured in the MODEL_CARD)."""
    pieces, count = ndimage.label(inside)
    if count < 2:
        return segments
    sizes = np.bincount(pieces.ravel())
    small = sizes < min_cells
    small[0] = False
    small[int(np.argmax(sizes[1:])) + 1] = False
    specks = small[pieces]
    if not specks.any():
        return segments
    joined = np.where(specks, extend_labels(np.where(specks, -1, segments)), segments)
    _, renumbered = np.unique(joined[inside], return_inverse=True)  # the specks' own regions are gone
    result = np.full(segments.shape, -1, np.int32)
    result[inside] = renumbered.reshape(-1)
    return result


def spacing_cells(spacing: float, grid: int) -> int:
    """A basin spacing in the [-1, 1] frame (config ``basin_spacing``) as cells of a ``grid``^3 anchor grid."""
    return max(1, round(spacing * grid / 2.0))


def touching_pairs(segments: np.ndarray, depth: np.ndarray, sides: np.ndarray | None = None,
                   fields: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Regions that share cell faces: (P, 2) pairs (a < b), (P,) contact face counts, (P,) the
    deepest interface (the larger of min(depth) over the two cells of each shared face), (P,) the shared
    faces whose two cells lie on different sides of a face plane (``sides``: :func:`plane_sides`; zeros
    without it), (P, F) the sums over the shared faces of ``fields`` ((F, n, n, n), e.g.
    :func:`surface_turns`) at both cells of each face ((P, 0) without it)."""
    fields = np.zeros((0,) + segments.shape) if fields is None else fields
    firsts, seconds, depths, crossings, sums = [], [], [], [], []
    for axis in range(3):
        low = tuple(slice(None, -1) if i == axis else slice(None) for i in range(3))
        high = tuple(slice(1, None) if i == axis else slice(None) for i in range(3))
        a, b = segments[low], segments[high]
        touching = (a >= 0) & (b >= 0) & (a != b)
        firsts.append(a[touching]); seconds.append(b[touching])
        depths.append(np.minimum(depth[low][touching], depth[high][touching]))
        crossings.append(sides[low][touching] != sides[high][touching] if sides is not None
                         else np.zeros(int(touching.sum()), bool))
        sums.append(np.stack([field[low][touching] + field[high][touching] for field in fields], 1)
                    if len(fields) else np.zeros((int(touching.sum()), 0)))
    a, b, d = np.concatenate(firsts), np.concatenate(seconds), np.concatenate(depths)
    count = int(segments.max()) + 1
    codes = np.minimum(a, b).astype(np.int64) * count + np.maximum(a, b)
    unique, inverse, contacts = np.unique(codes, return_inverse=True, return_counts=True)
    neck = np.zeros(len(unique))
    np.maximum.at(neck, inverse, d)
    crossing = np.bincount(inverse, np.concatenate(crossings), minlength=len(unique)).astype(np.int64)
    field_sums = np.zeros((len(unique), len(fields)))
    np.add.at(field_sums, inverse, np.concatenate(sums))
    return np.stack([unique // count, unique % count], 1), contacts, neck, crossing, field_sums


def edge_turns(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The edges of a mesh shared by two faces (welded first, so seams of duplicated vertices count):
    (E, 3) midpoints, (E,) lengths, (E,) dihedral angles in radians and (E,) bool convex."""
    import trimesh

    mesh = trimesh.Trimesh(vertices, faces, process=True)
    if len(mesh.face_adjacency) == 0:
        return np.zeros((0, 3)), np.zeros(0), np.zeros(0), np.zeros(0, bool)
    edges = mesh.vertices[mesh.face_adjacency_edges]
    return (edges.mean(axis=1), np.linalg.norm(edges[:, 0] - edges[:, 1], axis=1),
            np.asarray(mesh.face_adjacency_angles, float), np.asarray(mesh.face_adjacency_convex, bool))


def surface_turns(vertices: np.ndarray, faces: np.ndarray, inside: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """How the input surface bends near each cell of its solid: (3, n, n, n) float, per inside cell the
    summed concave turn (dihedral angle in radians x edge length, [-1, 1] units) of the mesh edges, their
    convex turn and their length, each edge given to the inside cell nearest its midpoint, then blurred
    by a Gaussian of ``sigma`` cells (a blended joint spreads its crease over a few cells); 0 outside.

    Two parts fused into one surface still meet in a concave crease (a leg under a seat, a link at its
    joint), while a cut through the middle of a part crosses smooth surface; the crease lies on the input
    at its own resolution, finer than the anchor grid (``vertices`` in the [-1, 1] frame of ``inside``)."""
    grid = np.zeros((3,) + inside.shape)
    midpoints, length, angle, convex = edge_turns(vertices, faces)
    if len(length) == 0 or not inside.any():
        return grid
    cells = partition.nearest_inside_cells(midpoints, inside)
    flat = np.ravel_multi_index(tuple(cells.T), inside.shape)
    for k, weight in enumerate((np.where(convex, 0.0, angle) * length, np.where(convex, angle, 0.0) * length, length)):
        summed = np.bincount(flat, weight, minlength=inside.size).reshape(inside.shape)
        grid[k] = (ndimage.gaussian_filter(summed, sigma) if sigma > 0 else summed) * inside
    return grid


def surface_sharpness(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Mean turn of a mesh's surface: the dihedral angle (radians) of its edges averaged over their length
    (welded; concave and convex alike). Smooth and bevelled surfaces, as the procedural corpus is fused, read
    0.1-0.3; detailed real assets (robots' links with their chamfers, bolts and seams) read 0.3-1.0."""
    _, length, angle, _ = edge_turns(vertices, faces)
    return float((angle * length).sum() / length.sum()) if len(length) else 0.0


def _sphere_points(count: int) -> np.ndarray:
    """(count, 3) unit vectors spread evenly over the sphere (Fibonacci lattice)."""
    steps = np.arange(count) + 0.5
    polar, azimuth = np.arccos(1.0 - 2.0 * steps / count), np.pi * (1.0 + 5.0 ** 0.5) * steps
    return np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], 1)


def face_planes(inside: np.ndarray, min_cells: int | None = None, normal_cos: float = 0.98) -> np.ndarray:
    """Planes of the large flat faces of a voxel solid, largest first: (K, 4) rows of a unit outward
    normal and an offset in cells (``normal . index`` of the face's surface cells).

    Surface cells (inside, with an outside face neighbour) get a normal from the gradient of the
    smoothed solid; the cells of each of ``_PLANE_NORMALS`` directions (within ``normal_cos``) are
    binned by offset, and a bin of at least ``min_cells`` cells (default ``_PLANE_CELLS`` at 64^3,
    scaled by area) is a face. A face within 2.5 cells of a larger parallel one may be the same face seen
    through the voxels' staircase, and is dropped when most of its cells touch the larger one's.
    Orientation-free: faces at any angle are found."""
    if min_cells is None:
        min_cells = max(12, round(_PLANE_CELLS * (inside.shape[0] / 64) ** 2))
    smooth = ndimage.gaussian_filter(inside.astype(np.float32), 1.0, mode="constant")  # beyond the grid: outside
    gradient = np.stack(np.gradient(smooth), -1)
    surface = inside & ~ndimage.binary_erosion(np.pad(inside, 1))[1:-1, 1:-1, 1:-1]
    cells, normals = np.argwhere(surface).astype(float), -gradient[surface]
    length = np.linalg.norm(normals, axis=1)
    cells, normals = cells[length > 1e-6], normals[length > 1e-6] / length[length > 1e-6, None]
    directions = _sphere_points(_PLANE_NORMALS)
    counts = np.bincount(np.argmax(normals @ directions.T, 1), minlength=_PLANE_NORMALS) if len(cells) else np.zeros(1)
    used = np.zeros(len(cells), bool)
    found = []
    for direction in np.argsort(-counts):
        if counts[direction] < min_cells:
            break
        candidates = np.flatnonzero(~used & (normals @ directions[direction] > normal_cos))
        if len(candidates) < min_cells:
            continue
        normal = normals[candidates].mean(0)
        normal /= np.linalg.norm(normal)
        offsets = cells[candidates] @ normal
        bins = np.round(offsets - offsets.min()).astype(int)
        histogram = np.bincount(bins)
        for offset_bin in np.argsort(-histogram):
            if histogram[offset_bin] < min_cells:
                break
            members = candidates[(np.abs(offsets - offsets.min() - offset_bin) <= 0.75) & ~used[candidates]]
            if len(members) < min_cells:
                continue
            used[members] = True
            spread, axes = np.linalg.eigh(np.cov(cells[members].T))
            if spread[1] < _PLANE_WIDTH ** 2:  # a strip along an edge (its normals bend), not a face
                continue
            across = (cells[members] - cells[members].mean(0)) @ axes[:, 1]
            middle = np.abs(across) <= 0.5 * np.abs(across).max()  # a flat face's normals bend only at its edges
            turn = across[middle] @ (normals[members][middle] @ axes[:, 1])
            if np.ptp(across) >= _BEND_WIDTH and abs(turn) > _PLANE_BEND * (across[middle] @ across[middle]):
                continue  # its normals turn across it (by 1 / radius per cell): a band of a curved surface
            found.append((normal, float(np.median(cells[members] @ normal)), cells[members].astype(int)))
    kept = []
    for normal, offset, members in sorted(found, key=lambda face: -len(face[2])):
        # A tilted face reaches two offset bins through the voxels' staircase: a parallel face whose
        # cells mostly touch a larger one's is the same face (a step between faces touches only along an edge).
        if not any(normal @ other > 0.98 and abs(offset - other_offset) < 2.5 and _touching_share(members, near) > 0.5
                   for other, other_offset, near in kept):
            near = np.zeros(inside.shape, bool)
            near[tuple(members.T)] = True
            kept.append((normal, offset, ndimage.binary_dilation(near, np.ones((3, 3, 3), bool))))
    return np.array([[*normal, offset] for normal, offset, _ in kept[:_MAX_PLANES]]).reshape(-1, 4)


def _touching_share(cells: np.ndarray, near: np.ndarray) -> float:
    """Share of the (N, 3) ``cells`` inside the mask ``near``."""
    return float(near[tuple(cells.T)].mean())


def plane_sides(inside: np.ndarray, planes: np.ndarray, margin: float = 0.75) -> np.ndarray:
    """(n, n, n) int64 side code: bit k of a cell is set when it lies more than ``margin`` cells in
    front of plane k (``planes``: :func:`face_planes`), i.e. beyond the flat face on its outer side (the
    margin keeps a tilted face's own staircase of cells, within about 0.7 cells of its plane, behind it);
    0 outside. Two cells with different codes lie on different sides of some face's plane."""
    index = np.indices(inside.shape).reshape(3, -1).T.astype(float)
    sides = np.zeros(inside.size, np.int64)
    for bit, plane in enumerate(planes):
        sides |= (index @ plane[:3] > plane[3] + margin).astype(np.int64) << bit
    return np.where(inside, sides.reshape(inside.shape), 0)


def plane_cuts(segments: np.ndarray, sides: np.ndarray, min_cells: int = 20) -> np.ndarray:
    """Regions cut where the plane of a flat face crosses them: the cells of each region are grouped by
    their side code (:func:`plane_sides`) and by connectivity; a piece under ``min_cells`` cells joins
    its largest touching piece (of those, the one it shares most faces with). Where a panel, door or
    knob sits flush on a larger body, the plane of the body's visible face separates them; the distance
    basins cannot (the solid does not narrow there). Returns (n, n, n) int32 regions 0..R-1, -1 outside."""
    inside = segments >= 0
    _, groups = np.unique(np.stack([segments[inside], sides[inside]], 1), axis=0, return_inverse=True)
    grouped = np.zeros(segments.shape, np.int64)
    grouped[inside] = groups.reshape(-1) + 1
    pieces = np.full(segments.shape, -1, np.int64)
    count = 0
    for label, where in enumerate(ndimage.find_objects(grouped), start=1):  # bounding boxes: fast labelling
        if where is None:
            continue
        components, found = ndimage.label(grouped[where] == label)
        box = pieces[where]
        box[components > 0] = components[components > 0] - 1 + count
        count += found
    while True:  # small pieces join their largest neighbour until none is left
        sizes = np.bincount(pieces[inside], minlength=count)
        small = (sizes > 0) & (sizes < min_cells)
        if not small.any():
            break
        pairs, contacts, *_ = touching_pairs(pieces, np.ones(segments.shape))
        target = np.arange(count)
        best = {}
        for (a, b), faces in zip(pairs.tolist(), contacts.tolist()):
            for piece, other in ((a, b), (b, a)):
                if small[piece] and (sizes[other], faces) > best.get(piece, (-1, -1))[1:]:
                    best[piece] = (other, sizes[other], faces)
        for piece, (other, _, _) in best.items():
            if not small[other] or piece < other:  # two small pieces: only one joins the other
                target[piece] = other
        if (target == np.arange(count)).all():
            break
        pieces = np.where(inside, target[np.maximum(pieces, 0)], -1)
    _, renumbered = np.unique(pieces[inside], return_inverse=True)
    result = np.full(segments.shape, -1, np.int32)
    result[inside] = renumbered.reshape(-1)
    return result


def shape_stats(cells: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, float]:
    """(solidity, centroid (3,), main axis (3,), elongation) of (N, 3) cell indices: solidity is the
    cell count over the volume of the convex hull of the cells' corners (1 for a box)."""
    centroid = cells.mean(0)
    if len(cells) >= 3:
        values, vectors = np.linalg.eigh(np.cov((cells - centroid).T) + 1e-6 * np.eye(3))
        axis, elongation = vectors[:, -1], float(np.log((values[-1] + 0.1) / (values[-2] + 0.1)))
    else:
        axis, elongation = np.array([0.0, 0.0, 1.0]), 0.0
    strided = cells[:: int(np.ceil(len(cells) / _HULL_CELLS))]
    corners = (strided[:, None, :] + _CORNERS[None]).reshape(-1, 3)
    try:
        hull = ConvexHull(corners).volume
    except QhullError:
        hull = float(len(cells))
    return len(cells) / max(hull, 1.0), centroid, axis, elongation


@dataclass
class RegionGraph:
    """Touching regions of a solid with additive statistics; :meth:`merge` joins two of them."""

    members: list  # region -> (N, 3) int cell indices
    size: np.ndarray  # (R,) cells
    depth: np.ndarray  # (R,) deepest cell
    contact: dict  # (a, b) with a < b -> shared faces
    neck: dict  # (a, b) -> deepest interface
    crossing: dict = field(default_factory=dict)  # (a, b) -> shared faces crossing a face plane
    turns: dict = field(default_factory=dict)  # (a, b) -> (3,) :func:`surface_turns` summed over the shared faces
    with_turns: bool = False  # made with an input mesh's turns: ``turns`` is kept and the crease features read
    context: np.ndarray | None = None  # :func:`object_features` of the solid, appended to every pair's features
    total: float = 0.0  # cells of the whole solid (merging keeps it)
    alive: set = field(default_factory=set)
    _shapes: dict = field(default_factory=dict)

    @classmethod
    def from_segments(cls, segments: np.ndarray, depth: np.ndarray, sides: np.ndarray | None = None,
                      turns: np.ndarray | None = None, context: bool = False) -> "RegionGraph":
        """``segments``: (n, n, n) int region per cell (-1 outside); ``depth``: :func:`depth_field`;
        ``sides``: :func:`plane_sides` of the solid's face planes, or None (no face planes); ``turns``:
        :func:`surface_turns` of the input mesh, or None (no mesh: :meth:`crease` reads 0); ``context``:
        append the solid's :func:`object_features` to every pair's (they follow the crease features, so
        ``turns`` are needed)."""
        if context and turns is None:
            raise ValueError("RegionGraph.from_segments: the object features follow the crease features; pass turns")
        count = int(segments.max()) + 1
        inside = segments >= 0
        cells, labels = np.argwhere(inside), segments[inside]
        order = np.argsort(labels, kind="stable")
        members = np.split(cells[order], np.cumsum(np.bincount(labels, minlength=count))[:-1])
        pairs, contacts, necks, crossings, turn_sums = touching_pairs(segments, depth, sides, turns)
        keys = [tuple(int(v) for v in p) for p in pairs]
        return cls(members=members, size=np.bincount(labels, minlength=count).astype(float),
                   total=float(len(cells)), depth=np.asarray(ndimage.maximum(depth, segments, index=np.arange(count)), float),
                   contact=dict(zip(keys, contacts.tolist())), neck=dict(zip(keys, necks.tolist())),
                   crossing=dict(zip(keys, crossings.tolist())),
                   turns=dict(zip(keys, turn_sums)) if turns is not None else {}, with_turns=turns is not None,
                   context=object_features(depth, inside) if context else None, alive=set(range(count)))

    def neighbours(self, region: int) -> list[int]:
        return [b if a == region else a for a, b in self.contact if region in (a, b)]

    def shape(self, region: int) -> tuple:
        if region not in self._shapes:
            self._shapes[region] = shape_stats(self.members[region])
        return self._shapes[region]

    def merge(self, a: int, b: int) -> None:
        """Join region ``b`` into region ``a``."""
        self.members[a] = np.concatenate([self.members[a], self.members[b]])
        self.size[a] += self.size[b]
        self.depth[a] = max(self.depth[a], self.depth[b])
        self._shapes.pop(a, None)
        contact, neck, crossing, turns = {}, {}, {}, {}
        for old, faces in self.contact.items():
            x, y = (a if old[0] == b else old[0]), (a if old[1] == b else old[1])
            if x != y:
                key = (min(x, y), max(x, y))
                contact[key] = contact.get(key, 0) + faces
                neck[key] = max(neck.get(key, 0.0), self.neck[old])
                crossing[key] = crossing.get(key, 0) + self.crossing[old]
                if self.with_turns:  # only with an input mesh's turns (merging is the loop's hot path)
                    turns[key] = turns.get(key, 0.0) + self.turns[old]
        self.contact, self.neck, self.crossing, self.turns = contact, neck, crossing, turns
        self.alive.discard(b)

    @property
    def num_features(self) -> int:
        """Length of :meth:`features`: NUM_FEATURES, plus the crease features with an input mesh's turns,
        plus the object features with a context."""
        return (NUM_FEATURES + (len(CREASE_FEATURE_NAMES) if self.with_turns else 0)
                + (0 if self.context is None else len(self.context)))

    def features(self, a: int, b: int) -> np.ndarray:
        """(:attr:`num_features`,) description of the touching pair (see FEATURE_NAMES, then
        CREASE_FEATURE_NAMES with turns, then OBJECT_FEATURE_NAMES with a context), symmetric in a, b."""
        small, large = (a, b) if self.size[a] <= self.size[b] else (b, a)
        key = (min(a, b), max(a, b))
        total = self.total
        size_s, size_l = self.size[small], self.size[large]
        contact, neck = self.contact[key], self.neck[key]
        depth_s, depth_l = sorted((self.depth[small], self.depth[large]))
        solid_s, centre_s, axis_s, elong_s = self.shape(small)
        solid_l, centre_l, axis_l, elong_l = self.shape(large)
        solid_u, _, _, elong_u = shape_stats(np.concatenate([self.members[small], self.members[large]]))
        line = centre_l - centre_s
        line = line / max(float(np.linalg.norm(line)), 1e-6)
        return np.array([
            np.log(size_s / total), np.log(size_l / total),
            np.log(contact / size_s ** (2 / 3)), np.log(contact / size_l ** (2 / 3)),
            neck / max(depth_s, 1e-6), neck / max(depth_l, 1e-6), depth_s / max(depth_l, 1e-6),
            solid_u, solid_s, solid_l, solid_u - (size_s * solid_s + size_l * solid_l) / (size_s + size_l),
            abs(axis_s @ axis_l), abs(axis_s @ line), abs(axis_l @ line),
            elong_s, elong_l, elong_u,
            self.crossing[key] / contact,
            *(self.crease_features(a, b) if self.with_turns else ()),
            *(() if self.context is None else self.context),
        ])

    def _mean_turns(self, a: int, b: int) -> tuple[float, float]:
        """(concave, convex) turn per unit edge length (radians) along the pair's interface; 0 where no
        surface is near."""
        concave, convex, length = (float(v) for v in self.turns[(min(a, b), max(a, b))])
        return (concave / length, convex / length) if length > 1e-9 else (0.0, 0.0)

    def crease_features(self, a: int, b: int) -> tuple[float, float, float]:
        """CREASE_FEATURE_NAMES of the touching pair; the logs have a floor of 1e-3 rad (no surface near)."""
        concave, convex = self._mean_turns(a, b)
        return concave - convex, float(np.log(1e-3 + concave)), float(np.log(1e-3 + convex))

    def crease(self, a: int, b: int) -> float:
        """The net concave turn of the input surface along the interface of the touching pair: concave
        less convex turn over edge length (radians; ``turns`` of :meth:`from_segments`), 0 where no
        surface is near. Net, because a re-meshed surface (marching cubes, decimation, noise) zig-zags:
        its small folds turn both ways and cancel, while a crease where two parts meet turns one way.
        (Counting the concave turn alone fired on every fused procedural object: on the first 19 of
        the validation split, 8 part-count error against 2.1.)"""
        if not self.with_turns:
            return 0.0
        concave, convex = self._mean_turns(a, b)
        return concave - convex

    def label_grid(self, shape: tuple) -> np.ndarray:
        """(n, n, n) int32: the live regions renumbered 0..K-1 by decreasing size, -1 elsewhere."""
        grid = np.full(shape, -1, np.int32)
        for label, region in enumerate(sorted(self.alive, key=lambda r: (-self.size[r], r))):
            grid[tuple(self.members[region].T)] = label
        return grid


def merge_regions(graph: RegionGraph, score, threshold: float = 0.5, max_regions: int | None = None,
                  min_cells: int = 0, floor: int = 0, threshold_below_floor: float | None = None,
                  crease: tuple[float, float] | None = None, on_merge=None, referee=None) -> RegionGraph:
    """Greedily join the touching pair with the highest ``score`` (a function (P, F) features ->
    (P,) probabilities that a pair is one part) while it exceeds ``threshold`` (``threshold_below_floor``
    once ``floor`` regions or fewer remain: a merge below the part count the model claimed needs more
    confidence); then keep joining while more than ``max_regions`` remain or a region has fewer than
    ``min_cells`` cells (a small region joins its likeliest neighbour). ``crease``: ``(turn, factor)``:
    a pair whose interface runs along a concave crease of the input surface (:meth:`RegionGraph.crease`,
    its net concave turn, above ``turn`` radians) has its score multiplied by ``factor``. ``on_merge(a, b, score)``,
    if given, is called before each merge (``bench/merge_probe.py`` follows the merge path with it).
    ``referee(graph, pairs, probabilities) -> probabilities``, if given, may overrule the scores of pairs
    as they appear (``bench/merge_probe.py errors`` refuses wrong merges or makes missed ones with it). Scores
    of pairs untouched by a merge are reused. Modifies and returns ``graph``."""
    scores: dict = {}
    while graph.contact:
        new, _ = _score_new_pairs(graph, scores, score, referee)
        if crease is not None:
            for pair in new:
                if graph.crease(*pair) > crease[0]:
                    scores[pair] *= crease[1]
        best = max(graph.contact, key=lambda p: (scores[p], p))
        limit = threshold if len(graph.alive) > floor or threshold_below_floor is None else threshold_below_floor
        if scores[best] <= limit:
            small = sorted((r for r in graph.alive if graph.size[r] < min_cells and graph.neighbours(r)),
                           key=lambda r: (graph.size[r], r))
            if small:
                region = small[0]
                best = max(((min(region, q), max(region, q)) for q in graph.neighbours(region)),
                           key=lambda p: (scores[p], p))
            elif max_regions is None or len(graph.alive) <= max_regions:
                break
        a, b = best
        if on_merge is not None:
            on_merge(a, b, scores[best])
        graph.merge(a, b)
        scores = {p: v for p, v in scores.items() if a not in p and b not in p}
    return graph


def initial_regions(inside: np.ndarray, spacing: int, face_cuts: bool, min_cells: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The regions the anchored loop starts merging from: :func:`over_segment` of ``inside`` (basins
    ``spacing`` cells apart, cut by face planes with ``face_cuts``), specks under ``min_cells`` joined to
    their nearest region (:func:`join_small_pieces`). Returns ((n, n, n) int32 regions 0..R-1, -1 outside;
    the :func:`depth_field`; the :func:`plane_sides` codes or None)."""
    depth = depth_field(inside)
    segments, sides = over_segment(inside, depth, spacing, face_cuts)
    return join_small_pieces(segments, inside, min_cells), depth, sides


def merged_regions(inside: np.ndarray, score, spacing: int, face_cuts: bool, threshold: float,
                   max_regions: int | None, min_cells: int, floor: int = 0,
                   threshold_below_floor: float | None = None, start: tuple | None = None,
                   turns: np.ndarray | None = None, crease: tuple[float, float] | None = None,
                   context: bool = False, thin_ends: ThinEnds | None = None,
                   thickness: np.ndarray | None = None, smaller_side: SmallerSide | None = None) -> np.ndarray:
    """The anchored loop's regions of a solid, from cells to parts: :func:`initial_regions`, then
    :func:`merge_regions` with the other arguments. ``start``: :func:`initial_regions` of the same
    arguments when the caller already has it (merging several ways from one over-segmentation; it is
    not modified, and ``thin_ends.first`` is applied to it here). ``turns``: :func:`surface_turns` of the
    input mesh, read with ``crease`` (see :func:`merge_regions`; None: creases play no part).
    ``context``: the pairs' features end with the solid's :func:`object_features` (for a merger trained
    with them; needs ``turns``). ``thin_ends``: :class:`ThinEnds`, applied to the merged regions (and
    with ``first`` to the starting regions too); None: not applied. ``thickness``: the solid's
    :func:`local_thickness` when the caller already has it (computed here when needed otherwise).
    ``smaller_side``: :class:`SmallerSide`, applied last (:func:`give_interfaces_to_smaller`); None: not.
    Returns the (n, n, n) int32 grid of merged regions, 0..K-1 by decreasing size, -1 outside."""
    start = start or initial_regions(inside, spacing, face_cuts, min_cells)
    if thin_ends is not None and thickness is None:
        thickness = local_thickness(inside, start[1])
    if thin_ends is not None and thin_ends.first:
        start = reclaimed_start(start, thickness, thin_ends)
    segments, depth, sides = start
    graph = RegionGraph.from_segments(segments, depth, sides, turns, context)
    merge_regions(graph, score, threshold, max_regions, min_cells, floor=floor,
                  threshold_below_floor=threshold_below_floor, crease=crease if turns is not None else None)
    merged = graph.label_grid(inside.shape)
    if thin_ends is None and smaller_side is None:
        return merged
    if thin_ends is not None:
        merged = reclaim_thin_ends(merged, thickness, thin_ends.ratio, thin_ends.reach)
    if smaller_side is not None:  # reads region volumes, not their order: one renumbering below serves both
        merged = give_interfaces_to_smaller(merged, smaller_side.layers, smaller_side.ratio)
    return by_decreasing_size(merged)


def reclaimed_start(start: tuple, thickness: np.ndarray, thin_ends: ThinEnds) -> tuple:
    """:func:`initial_regions`' ``start`` (regions, depth, plane sides) with the thin regions' ends
    reclaimed (:func:`reclaim_thin_ends` with ``thin_ends``' ratio and reach; ``thickness``: the solid's
    :func:`local_thickness`), so that the merge sees a leg's basin reach the body it joins."""
    segments, depth, sides = start
    return by_decreasing_size(reclaim_thin_ends(segments, thickness, thin_ends.ratio, thin_ends.reach)), depth, sides


class SmallerSide(NamedTuple):
    """How :func:`merged_regions` moves the interface of two touching regions of unequal volume
    (:func:`give_interfaces_to_smaller`): ``layers`` cell layers, where the other region holds at least
    ``ratio`` x the volume."""
    layers: float
    ratio: float


def give_interfaces_to_smaller(labels: np.ndarray, layers: float = 1.0, ratio: float = 2.0) -> np.ndarray:
    """``labels`` ((n, n, n) int regions, -1 outside) with each region, smallest first, taking the cells of
    touching regions at least ``ratio`` x its volume that lie within ``layers`` cells of it (each cell moves
    once). Returns a new grid.

    Where two parts meet inside a fused solid, which of them owns the cells at the interface is
    ambiguous: their real volumes overlap there (a leg set into a seat, links sharing a joint), and the
    ground truth (the smallest part wins, as the training labels cells) and the amodal part IoU both favour
    the smaller part, whose IoU loses more per cell. On 200 held-out corpus objects, the merged regions'
    cell part IoU gains +0.0065 from one layer (129 objects up, 62 down; MODEL_CARD, session 27)."""
    result = labels.copy()
    sizes = np.bincount(labels[labels >= 0])
    moved = np.zeros(labels.shape, bool)
    boxes = ndimage.find_objects(labels + 1, len(sizes))
    reach = int(np.ceil(layers)) + 1
    for region in np.argsort(sizes, kind="stable"):
        if boxes[region] is None:
            continue
        crop = tuple(slice(max(box.start - reach, 0), box.stop + reach) for box in boxes[region])
        near = labels[crop]
        own = near == region
        within = ndimage.distance_transform_edt(~own) <= layers
        larger = np.zeros(len(sizes) + 1, bool)
        larger[:-1] = sizes >= ratio * sizes[region]
        take = within & larger[near] & ~moved[crop]  # near -1 (outside) reads larger[-1]: False
        result[crop][take] = region
        moved[crop] |= take
    return result


def by_decreasing_size(labels: np.ndarray) -> np.ndarray:
    """(n, n, n) int regions 0..K-1 (-1 outside, none empty) renumbered by decreasing cell count (ties
    by their old number), as int32."""
    inside = labels >= 0
    sizes = np.bincount(labels[inside])
    new_number = np.empty(len(sizes), np.int32)
    new_number[np.lexsort((np.arange(len(sizes)), -sizes))] = np.arange(len(sizes), dtype=np.int32)
    result = np.full(labels.shape, -1, np.int32)
    result[inside] = new_number[labels[inside]]
    return result


def _score_new_pairs(graph: RegionGraph, scores: dict, score, referee=None) -> tuple[list, np.ndarray]:
    """Score the touching pairs not in ``scores`` (new since the last merge) into it (overruled by
    ``referee``, see :func:`merge_regions`); returns them and their (P, graph.num_features) features."""
    new = [pair for pair in graph.contact if pair not in scores]
    features = np.stack([graph.features(*pair) for pair in new]) if new else np.zeros((0, graph.num_features))
    if new:
        probabilities = np.asarray(score(features), float)
        if referee is not None:
            probabilities = np.asarray(referee(graph, new, probabilities), float)
        scores.update(zip(new, probabilities))
    return new, features


def plurality_part(graph: RegionGraph, region: int, truth: np.ndarray) -> int:
    """The ground-truth part holding most of ``region``'s cells (``truth``: (n, n, n) int part per cell)."""
    return int(np.bincount(truth[tuple(graph.members[region].T)]).argmax())


def _examples(features: list, labels: list, num_features: int) -> tuple[np.ndarray, np.ndarray]:
    if not features:
        return np.zeros((0, num_features)), np.zeros(0)
    return np.stack(features), np.array(labels)


def oracle_pairs(graph: RegionGraph, truth: np.ndarray, rng: np.random.Generator, record_share: float = 0.35
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Training examples for a pair scorer: walk random merges of pairs that the ground truth puts in
    one part (``truth``: (n, n, n) int part per cell, the region's plurality part decides) and record
    the features of touching pairs along the way (all at the start, then at a random ``record_share``
    of the steps; each distinct pair once). Returns (P, graph.num_features) features and (P,) 0/1 labels.
    Modifies ``graph``."""
    parts = {r: plurality_part(graph, r, truth) for r in graph.alive}
    seen: set = set()
    features, labels = [], []
    first = True
    while graph.contact:
        if first or rng.random() < record_share:
            for pair in graph.contact:
                if pair not in seen:
                    seen.add(pair)
                    features.append(graph.features(*pair))
                    labels.append(float(parts[pair[0]] == parts[pair[1]]))
        first = False
        same = [pair for pair in graph.contact if parts[pair[0]] == parts[pair[1]]]
        if not same:
            break
        a, b = same[int(rng.integers(len(same)))]
        graph.merge(a, b)
        parts[a] = plurality_part(graph, a, truth)
        seen = {p for p in seen if a not in p and b not in p}
    return _examples(features, labels, graph.num_features)


def merger_walk_pairs(graph: RegionGraph, truth: np.ndarray, score, stop_below: float = 0.3
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Training examples from the states a scorer's own greedy merging reaches (its mistakes included):
    merge the highest-scored touching pair while its score exceeds ``stop_below`` (lower than the
    pipeline's threshold, so states just past the stop are seen too), recording every distinct pair's
    features and whether the ground truth puts both regions' plurality parts in one (``truth`` as in
    :func:`oracle_pairs`). Returns (P, graph.num_features) features and (P,) 0/1 labels. Modifies ``graph``."""
    parts = {r: plurality_part(graph, r, truth) for r in graph.alive}
    scores: dict = {}
    features, labels = [], []
    while graph.contact:
        new, new_features = _score_new_pairs(graph, scores, score)  # pairs first seen in this state
        features.extend(new_features)
        labels.extend(float(parts[x] == parts[y]) for x, y in new)
        best = max(graph.contact, key=lambda p: (scores[p], p))
        if scores[best] <= stop_below:
            break
        a, b = best
        graph.merge(a, b)
        parts[a] = plurality_part(graph, a, truth)
        scores = {p: v for p, v in scores.items() if a not in p and b not in p}
    return _examples(features, labels, graph.num_features)
