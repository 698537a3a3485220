"""Building an object: draw a category's parts, mesh each part's SDF, normalise, order canonically.

Objects are normalised to ``[-1, 1]^3`` (max-abs, centred on the bounding-box centre), +Y up, front
facing +Z, and their parts are sorted in the canonical order (bottom-to-top by lowest point, then
left-to-right by lowest x). The same seed gives the same object: all randomness comes from
``numpy.random.default_rng`` streams derived from the seed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import trimesh
from skimage.measure import marching_cubes

from autopartgen.data.procedural.primitives import Normalised, Shape
from autopartgen.data.procedural.registry import BUILDERS, DEFAULT_CORPUS, SINCE, corpus_categories
from autopartgen.data.procedural.sampler import Sampler
from autopartgen.data.procedural.variation import NO_VARIATION, ShapeVariation, apply_variation, draw_variation

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 2  # 1: the 31 v1 categories; 2: + corpus v2 categories and shape variation
MAX_PARTS = 16
MIN_PARTS = 2

# ---------------------------------------------------------------------------------------------------


@dataclass
class Part:
    """One part: semantic ``name``, exact ``sdf`` on (N, 3) normalised points, its ``mesh`` and grid ``cell``."""

    name: str
    sdf: Shape
    mesh: trimesh.Trimesh
    cell: float


@dataclass
class PartObject:
    """A generated object in the normalised frame, parts in canonical order."""

    category: str
    seed: int
    parts: list[Part]
    ood: bool = False
    ood_params: list[str] = field(default_factory=list)
    centre: np.ndarray = field(default_factory=lambda: np.zeros(3))  # raw-units centre removed
    scale: float = 1.0  # raw units -> normalised units
    variation: dict = field(default_factory=dict)  # ShapeVariation.as_dict() of the object

    def sdf(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (N,) to the whole object (union of the parts) at (N, 3) normalised points."""
        return np.min([part.sdf(points) for part in self.parts], axis=0)


def _upsample_linear(coarse: np.ndarray, stride: int) -> np.ndarray:
    """Separable linear upsampling of a 3-D array by an integer ``stride`` (corners kept exactly)."""
    out = coarse
    for axis in range(3):
        c = out.shape[axis]
        fine = np.arange((c - 1) * stride + 1)
        i0 = np.minimum(fine // stride, c - 2)
        t = (fine / stride - i0).reshape([-1 if ax == axis else 1 for ax in range(3)])
        out = np.take(out, i0, axis=axis) * (1 - t) + np.take(out, i0 + 1, axis=axis) * t
    return out


def sample_sdf_grid(sdf: Callable, lo: np.ndarray, cell: float, counts: np.ndarray, stride: int = 4,
                    lipschitz: float = 2.0) -> np.ndarray:
    """Values (counts) of ``sdf`` on the grid ``lo + cell * index``, exact wherever the surface may pass.

    Narrow band: the SDF is first evaluated every ``stride`` points; a block of ``stride^3`` cells is
    evaluated at full resolution only if a corner is within ``lipschitz * half block diagonal`` of the
    surface (``lipschitz`` bounds the gradient of approximate SDFs). Other blocks cannot contain the
    surface and get linearly interpolated values of the same sign, so marching cubes on the result equals
    marching cubes on the fully evaluated grid. ``counts`` must be ``stride * k + 1`` per axis.
    """
    counts = np.asarray(counts, int)
    axes = [lo[i] + cell * np.arange(counts[i]) for i in range(3)]
    if np.prod(counts) < 40_000 or np.any((counts - 1) % stride):
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        return sdf(grid).reshape(counts)
    coarse_axes = [a[::stride] for a in axes]
    coarse_grid = np.stack(np.meshgrid(*coarse_axes, indexing="ij"), axis=-1).reshape(-1, 3)
    coarse = sdf(coarse_grid).reshape([len(a) for a in coarse_axes])
    corner_min = np.abs(coarse)
    block = np.minimum.reduce([corner_min[i:i + corner_min.shape[0] - 1, j:j + corner_min.shape[1] - 1,
                                          k:k + corner_min.shape[2] - 1]
                               for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    near_block = block <= lipschitz * stride * cell * math.sqrt(3.0) / 2.0
    values = _upsample_linear(coarse, stride)
    owned = np.zeros(tuple(counts), dtype=bool)  # fine points whose lower block is near
    owned[:-1, :-1, :-1] = near_block.repeat(stride, 0).repeat(stride, 1).repeat(stride, 2)
    need = owned.copy()
    for di in (0, 1):
        for dj in (0, 1):
            for dk in (0, 1):
                if di or dj or dk:
                    need[di:, dj:, dk:] |= owned[:counts[0] - di, :counts[1] - dj, :counts[2] - dk]
    idx = np.nonzero(need)
    pts = np.stack([axes[0][idx[0]], axes[1][idx[1]], axes[2][idx[2]]], axis=1)
    values[idx] = sdf(pts)
    return values


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Signed volume of a closed triangle mesh (positive when faces wind counter-clockwise seen from outside)."""
    tri = vertices[faces]
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)


def mesh_from_sdf(sdf: Shape, cell: float, max_points: int = 8_000_000, narrow_band: bool = True
                  ) -> tuple[trimesh.Trimesh, float]:
    """Extract the zero level of ``sdf`` on a grid of spacing ``cell`` over its padded bounding box.

    Returns the mesh (outward normals, vertices shared) and the cell actually used (raised if the grid
    would exceed ``max_points``).
    """
    stride = 4
    while True:
        lo = sdf.lo - 2.5 * cell
        extent = sdf.hi + 2.5 * cell - lo
        counts = np.ceil(extent / cell).astype(int) + 1
        counts = stride * np.ceil((counts - 1) / stride).astype(int) + 1
        if np.prod(counts.astype(float)) <= max_points:
            break
        cell *= 1.25
    if narrow_band:
        values = sample_sdf_grid(sdf, lo, cell, counts, stride)
    else:
        axes = [lo[i] + cell * np.arange(counts[i]) for i in range(3)]
        values = sdf(np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)).reshape(counts)
    # Keep grid values at least 1e-3 cells away from zero (sign kept), so no vertex lands on (or, after
    # marching cubes' float32 arithmetic, rounds onto) a grid corner shared by other vertices: that would
    # make zero-area triangles. Moves the surface by at most 1e-3 of a cell.
    eps = 1e-3 * cell
    values = np.where(np.abs(values) < eps, np.where(values < 0, -eps, eps), values)
    verts, faces, _, _ = marching_cubes(values, level=0.0, spacing=(cell, cell, cell))
    verts = verts + lo
    if signed_volume(verts, faces) < 0:
        faces = faces[:, ::-1]
    return trimesh.Trimesh(verts, np.ascontiguousarray(faces), process=False), cell


def canonical_order(meshes: list[trimesh.Trimesh], names: list[str]) -> list[int]:
    """Indices sorting parts bottom-to-top (lowest y), then left-to-right (lowest x), ties by z, name, index.

    Coordinates are rounded to 1e-4 so that float noise cannot swap parts that touch the same plane.
    """
    keys = []
    for i, (mesh, name) in enumerate(zip(meshes, names)):
        lo = np.asarray(mesh.vertices).min(axis=0)
        keys.append((round(float(lo[1]), 4), round(float(lo[0]), 4), round(float(lo[2]), 4), name, i))
    return [k[-1] for k in sorted(keys)]


def _fully_inside(inner: trimesh.Trimesh, outer: Part) -> bool:
    """Whether every vertex of ``inner`` is strictly inside ``outer``'s SDF (bounding boxes checked first)."""
    v = np.asarray(inner.vertices)
    pad = outer.cell  # the mesh may sit up to half a cell inside the exact surface
    lo, hi = outer.mesh.vertices.min(axis=0) - pad, outer.mesh.vertices.max(axis=0) + pad
    if (v.min(axis=0) < lo).any() or (v.max(axis=0) > hi).any():
        return False
    return bool(np.all(outer.sdf(v) < 0.0))


def mesh_parts(raw: list[tuple[str, Shape]], resolution: int = 64, label: str = "object",
               mesher: Callable = mesh_from_sdf) -> tuple[list[Part], np.ndarray, float]:
    """Mesh named part SDFs (object units) into normalised parts in canonical order.

    Each part's grid has ``resolution`` cells across the whole object, refined so the part's thinnest
    feature spans at least three cells (at most 3x finer). The parts are normalised jointly (bounding-box
    centre, max-abs 1), parts swallowed by another part are dropped, the rest sorted canonically.

    ``mesher(shape, cell) -> (mesh, cell used)`` turns one part into triangles (default: marching cubes
    of its SDF).

    Returns:
        ``(parts, centre (3,), scale)`` with ``normalised = (object units - centre) * scale``.
    """
    lo = np.min([shape.lo for _, shape in raw], axis=0)
    hi = np.max([shape.hi for _, shape in raw], axis=0)
    base_cell = float((hi - lo).max()) / resolution
    meshes, cells = [], []
    for name, shape in raw:
        cell = max(min(base_cell, shape.thickness / 3.0), base_cell / 3.0)
        mesh, cell = mesher(shape, cell)
        meshes.append(mesh)
        cells.append(cell)
    # Normalise: centre on the meshes' bounding box, largest |coordinate| becomes 1.
    all_v = np.concatenate([m.vertices for m in meshes])
    centre = (all_v.min(0) + all_v.max(0)) / 2
    scale = 1.0 / float(np.abs(all_v - centre).max())
    parts = []
    for (name, shape), mesh, cell in zip(raw, meshes, cells):
        mesh = trimesh.Trimesh((mesh.vertices - centre) * scale, mesh.faces, process=False)
        parts.append(Part(name, Normalised(shape, centre, scale), mesh, cell * scale))
    # Drop parts swallowed by another part (cannot be seen or separated).
    keep = []
    for i, part in enumerate(parts):
        if any(j != i and _fully_inside(part.mesh, other) for j, other in enumerate(parts)):
            logger.debug("%s: dropping %s (inside another part)", label, part.name)
            continue
        keep.append(part)
    order = canonical_order([p.mesh for p in keep], [p.name for p in keep])
    return [keep[i] for i in order], centre, scale


def resolve_variation(category: str, seed: int, variation) -> ShapeVariation:
    """The variation an object gets: ``None`` = the category's default (drawn from the seed for categories
    of corpus v2 and later, none for v1 categories, whose objects stay as they always were); ``True`` /
    ``False`` = drawn / none; a :class:`ShapeVariation` is used as given."""
    if isinstance(variation, ShapeVariation):
        return variation
    if variation is None:
        variation = SINCE.get(category, "v1") != "v1"
    return draw_variation(seed) if variation else NO_VARIATION


def build_object(category: str, seed: int, resolution: int = 64, ood: bool = False,
                 variation: ShapeVariation | bool | None = None) -> PartObject:
    """Build one object of ``category`` from ``seed``.

    ``resolution`` is the number of grid cells across the object's largest extent (each part's grid is
    refined further so its thinnest feature spans at least three cells). ``variation``: blended joints,
    turn about +Y and non-uniform scale (see :func:`resolve_variation`). Raises ``KeyError`` for an
    unknown category.
    """
    builder = BUILDERS[category]
    variation = resolve_variation(category, seed, variation)
    # Attempt 0 uses ``seed`` itself; further attempts (an OOD draw that stayed in range, or too many
    # parts) use the derived stream (seed, attempt), so the result is still a pure function of the seed.
    for attempt in range(16):
        sampler = Sampler(np.random.default_rng(seed if attempt == 0 else [seed, attempt]), ood=ood)
        raw = builder(sampler)
        if MIN_PARTS <= len(raw) <= MAX_PARTS and (not ood or sampler.ood_params):
            break
    else:
        raise RuntimeError(f"{category} seed {seed}: no valid draw in 16 attempts ({len(raw)} parts)")
    raw = apply_variation(raw, variation)
    parts, centre, scale = mesh_parts(raw, resolution, label=f"{category} seed {seed}")
    return PartObject(category, int(seed), parts, ood, list(sampler.ood_params), centre, scale, variation.as_dict())


def category_for_seed(seed: int, categories: list[str] | None = None, corpus: str = DEFAULT_CORPUS) -> str:
    """The category of object ``seed``: round robin over ``categories`` (default: the ``corpus`` list)."""
    cats = list(categories) if categories else corpus_categories(corpus)
    return cats[int(seed) % len(cats)]


def generate_object(seed: int, category: str | None = None, resolution: int = 64, ood: bool = False,
                    corpus: str = DEFAULT_CORPUS, variation: ShapeVariation | bool | None = None) -> PartObject:
    """Generate object ``seed`` of ``corpus`` (category from :func:`category_for_seed` unless given).

    In corpus v2 and later every object gets its seed's shape variation unless ``variation`` says
    otherwise; in v1 none does.
    """
    if variation is None:
        variation = corpus != "v1"
    return build_object(category or category_for_seed(seed, corpus=corpus), seed, resolution, ood, variation)
