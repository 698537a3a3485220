"""Over-segment a solid into basins and describe pairs of touching regions, for merging them into parts.

The anchored loop's claims (``geometry/partition.py``) say which part the model meant for each cell
of the input's solid; their boundaries are good but their grouping often is not (measured: snapping
the claims to geometric basins loses, while the true grouping of ~40 basins per object would reach
0.68 part IoU on procedural and 0.81 on real multi-link objects). This module holds the geometry side
of "over-segment, then merge": the basins of the distance-to-surface field (one per local thickness
maximum, via scikit-image) and, for two touching regions, a fixed vector of shape features (sizes,
contact, neck depth, thickness, convexity, axes). ``models/region_merger.py`` scores the vectors;
:func:`merge_regions` merges the most likely pair until no pair is likely, asking for more confidence
below the part count the model claimed.

The features hold no trace of the claims: a merger reading how the claims agree scored no better than
one without (measured on the same training pairs), and without them its training needs no model run,
so it learns from many more objects (``train/region_merger.py``).

All grids are (n, n, n) on the anchor grid; sizes are cell counts; regions are labelled 0..R-1, -1
outside. Written by hand because no library merges a region adjacency graph with a learned,
shape-aware score (scikit-image's RAG merging works on 2D colour statistics).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError
from skimage.feature import peak_local_max
from skimage.segmentation import watershed

FEATURE_NAMES = (
    "log_share_small", "log_share_large",  # region sizes as log shares of the solid (small, then large)
    "contact_small", "contact_large",  # log(contact faces / size^(2/3)) of each
    "neck_thin", "neck_thick",  # deepest interface cell's depth over the thinner / thicker region's depth
    "thickness_ratio",  # thinner region's depth over the thicker's
    "solidity_union", "solidity_small", "solidity_large", "solidity_gain",  # cells / convex hull volume
    "axes_cos", "axis_small_to_centre", "axis_large_to_centre",  # |cos| between main axes / centre line
    "elongation_small", "elongation_large", "elongation_union",  # log ratio of the top two variances
)
NUM_FEATURES = len(FEATURE_NAMES)
_CORNERS = np.array([[i, j, k] for i in (-0.5, 0.5) for j in (-0.5, 0.5) for k in (-0.5, 0.5)])
_HULL_CELLS = 1500  # shape statistics read at most this many cells (evenly strided) of a region


def depth_field(inside: np.ndarray) -> np.ndarray:
    """(n, n, n) float: each inside cell's Euclidean distance (cells) to the nearest outside cell. The
    padding makes the grid border count as outside, so a solid touching it still has a surface there."""
    return ndimage.distance_transform_edt(np.pad(inside, 1))[1:-1, 1:-1, 1:-1]


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


def spacing_cells(spacing: float, grid: int) -> int:
    """A basin spacing in the [-1, 1] frame (config ``basin_spacing``) as cells of a ``grid``^3 anchor grid."""
    return max(1, round(spacing * grid / 2.0))


def touching_pairs(segments: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Regions that share cell faces: (P, 2) pairs (a < b), (P,) contact face counts, (P,) the
    deepest interface (the larger of min(depth) over the two cells of each shared face)."""
    firsts, seconds, depths = [], [], []
    for axis in range(3):
        low = tuple(slice(None, -1) if i == axis else slice(None) for i in range(3))
        high = tuple(slice(1, None) if i == axis else slice(None) for i in range(3))
        a, b = segments[low], segments[high]
        touching = (a >= 0) & (b >= 0) & (a != b)
        firsts.append(a[touching]); seconds.append(b[touching])
        depths.append(np.minimum(depth[low][touching], depth[high][touching]))
    a, b, d = np.concatenate(firsts), np.concatenate(seconds), np.concatenate(depths)
    count = int(segments.max()) + 1
    codes = np.minimum(a, b).astype(np.int64) * count + np.maximum(a, b)
    unique, inverse, contacts = np.unique(codes, return_inverse=True, return_counts=True)
    neck = np.zeros(len(unique))
    np.maximum.at(neck, inverse, d)
    return np.stack([unique // count, unique % count], 1), contacts, neck


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
    total: float = 0.0  # cells of the whole solid (merging keeps it)
    alive: set = field(default_factory=set)
    _shapes: dict = field(default_factory=dict)

    @classmethod
    def from_segments(cls, segments: np.ndarray, depth: np.ndarray) -> "RegionGraph":
        """``segments``: (n, n, n) int region per cell (-1 outside); ``depth``: :func:`depth_field`."""
        count = int(segments.max()) + 1
        inside = segments >= 0
        cells, labels = np.argwhere(inside), segments[inside]
        order = np.argsort(labels, kind="stable")
        members = np.split(cells[order], np.cumsum(np.bincount(labels, minlength=count))[:-1])
        pairs, contacts, necks = touching_pairs(segments, depth)
        keys = [tuple(int(v) for v in p) for p in pairs]
        return cls(members=members, size=np.bincount(labels, minlength=count).astype(float),
                   total=float(len(cells)), depth=np.asarray(ndimage.maximum(depth, segments, index=np.arange(count)), float),
                   contact=dict(zip(keys, contacts.tolist())), neck=dict(zip(keys, necks.tolist())),
                   alive=set(range(count)))

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
        contact, neck = {}, {}
        for old, faces in self.contact.items():
            x, y = (a if old[0] == b else old[0]), (a if old[1] == b else old[1])
            if x != y:
                key = (min(x, y), max(x, y))
                contact[key] = contact.get(key, 0) + faces
                neck[key] = max(neck.get(key, 0.0), self.neck[old])
        self.contact, self.neck = contact, neck
        self.alive.discard(b)

    def features(self, a: int, b: int) -> np.ndarray:
        """(NUM_FEATURES,) description of the touching pair (see FEATURE_NAMES), symmetric in a, b."""
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
        ])

    def label_grid(self, shape: tuple) -> np.ndarray:
        """(n, n, n) int32: the live regions renumbered 0..K-1 by decreasing size, -1 elsewhere."""
        grid = np.full(shape, -1, np.int32)
        for label, region in enumerate(sorted(self.alive, key=lambda r: (-self.size[r], r))):
            grid[tuple(self.members[region].T)] = label
        return grid


def merge_regions(graph: RegionGraph, score, threshold: float = 0.5, max_regions: int | None = None,
                  min_cells: int = 0, floor: int = 0, threshold_below_floor: float | None = None) -> RegionGraph:
    """Greedily join the touching pair with the highest ``score`` (a function (P, NUM_FEATURES) ->
    (P,) probabilities that a pair is one part) while it exceeds ``threshold`` (``threshold_below_floor``
    once ``floor`` regions or fewer remain: a merge below the part count the model claimed needs more
    confidence); then keep joining while more than ``max_regions`` remain or a region has fewer than
    ``min_cells`` cells (a small region joins its likeliest neighbour). Scores of pairs untouched by a
    merge are reused. Modifies and returns ``graph``."""
    scores: dict = {}
    while graph.contact:
        _score_new_pairs(graph, scores, score)
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
        graph.merge(a, b)
        scores = {p: v for p, v in scores.items() if a not in p and b not in p}
    return graph


def _score_new_pairs(graph: RegionGraph, scores: dict, score) -> tuple[list, np.ndarray]:
    """Score the touching pairs not in ``scores`` (new since the last merge) into it; returns them and
    their (P, NUM_FEATURES) features."""
    new = [pair for pair in graph.contact if pair not in scores]
    features = np.stack([graph.features(*pair) for pair in new]) if new else np.zeros((0, NUM_FEATURES))
    if new:
        scores.update(zip(new, np.asarray(score(features), float)))
    return new, features


def _plurality_part(graph: RegionGraph, region: int, truth: np.ndarray) -> int:
    """The ground-truth part holding most of ``region``'s cells (``truth``: (n, n, n) int part per cell)."""
    return int(np.bincount(truth[tuple(graph.members[region].T)]).argmax())


def _examples(features: list, labels: list) -> tuple[np.ndarray, np.ndarray]:
    if not features:
        return np.zeros((0, NUM_FEATURES)), np.zeros(0)
    return np.stack(features), np.array(labels)


def oracle_pairs(graph: RegionGraph, truth: np.ndarray, rng: np.random.Generator, record_share: float = 0.35
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Training examples for a pair scorer: walk random merges of pairs that the ground truth puts in
    one part (``truth``: (n, n, n) int part per cell, the region's plurality part decides) and record
    the features of touching pairs along the way (all at the start, then at a random ``record_share``
    of the steps; each distinct pair once). Returns (P, NUM_FEATURES) features and (P,) 0/1 labels.
    Modifies ``graph``."""
    parts = {r: _plurality_part(graph, r, truth) for r in graph.alive}
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
        parts[a] = _plurality_part(graph, a, truth)
        seen = {p for p in seen if a not in p and b not in p}
    return _examples(features, labels)


def merger_walk_pairs(graph: RegionGraph, truth: np.ndarray, score, stop_below: float = 0.3
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Training examples from the states a scorer's own greedy merging reaches (its mistakes included):
    merge the highest-scored touching pair while its score exceeds ``stop_below`` (lower than the
    pipeline's threshold, so states just past the stop are seen too), recording every distinct pair's
    features and whether the ground truth puts both regions' plurality parts in one (``truth`` as in
    :func:`oracle_pairs`). Returns (P, NUM_FEATURES) features and (P,) 0/1 labels. Modifies ``graph``."""
    parts = {r: _plurality_part(graph, r, truth) for r in graph.alive}
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
        parts[a] = _plurality_part(graph, a, truth)
        scores = {p: v for p, v in scores.items() if a not in p and b not in p}
    return _examples(features, labels)
