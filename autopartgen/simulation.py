"""Parts ready for simulators: URDF and MJCF bundles, mass properties, contact graph and joint hints.

The output writer calls :func:`export_simulation` inside its staging folder; everything else here is a
pure function of the part meshes::

    options = SimExportOptions(formats=("urdf", "mjcf"), scale=0.01)   # input in cm -> metres
    names = export_simulation(meshes, colors, out_dir, options)
    # out_dir/object.urdf, out_dir/object.xml, out_dir/meshes/part_000.obj, part_000_collision_000.obj, ...

Frames. The parts come in the package's output frame (+Y up, the input's units). The simulation frame is
Z-up in metres: ``p_sim = scale * R @ p + offset`` with ``R`` the +90 degree turn about X that takes +Y to +Z,
and ``offset`` lifting the lowest point of the object to z = 0 (x and y are kept, so the object stands
where it stood). Every link frame is parallel to the world frame; a link's origin is its *anchor*: the
world origin for the root (so loading the file with no base pose puts the object on the ground where it
was), the child's centre of mass for a fixed joint, a point on the joint axis for a hinted joint.
Meshes are written in their link's frame.

Joint hints (:func:`joint_hints`) are computed in whatever frame the parts are given in: for each pair of
touching parts, the contact patch and candidate joint axes, ranked by a score in [0, 1]. They are plain
JSON (lists and floats) so they can go into ``parts.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import trimesh
from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree
from scipy.spatial import ConvexHull, QhullError, cKDTree

from autopartgen.errors import ConfigError
from autopartgen.geometry.sampling import as_mesh_arrays, farthest_point_sample, sample_surface

logger = logging.getLogger(__name__)

SIM_FORMATS = ("urdf", "mjcf")
COLLISION_MODES = ("hull", "decomposed")
JOINT_MODES = ("fixed", "hinted")
URDF_FILE = "object.urdf"
MJCF_FILE = "object.xml"
MESH_DIR = "meshes"

#: +90 degrees about X: the output frame's +Y (up) becomes +Z, +Z (front) becomes -Y. Right-handed.
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

#: A link never weighs less than this (kg), nor less than MIN_MASS_FRACTION of the whole object: solvers
#: misbehave with zero or extreme mass ratios between welded or jointed links.
MIN_MASS_KG = 1e-6
MIN_MASS_FRACTION = 1e-4
#: Principal moments are floored at this fraction of the largest one (a needle or a sheet still rotates).
MIN_MOMENT_FRACTION = 1e-4

MAX_HULL_VERTICES = 256  # a collision hull keeps at most this many vertices
SURFACE_SAMPLES = 4096  # per part, for the contact analysis
CONTACT_TOLERANCE = 0.02  # parts closer than this fraction of the object's diagonal touch
SYMMETRY_TOLERANCE = 0.05  # two principal moments within 5% of each other: a candidate axis of revolution
MIN_CIRCULARITY = 0.95  # 4 pi area / perimeter^2 of the part's outline seen along the axis (octagon: 0.948)
PATCH_BAND = 0.002  # contact patch: samples within the pair's gap + this fraction of the object's diagonal
PLANAR_SPREAD = 0.75  # share of the patch normals' spread along one direction above which it is planar
CYLINDRICAL_SPREAD = 0.05  # share along the least direction below which the patch is cylindrical ...
HINTED_MIN_SCORE = 0.5  # --joints hinted moves only edges whose best candidate scores this (axles, pins)
CYLINDRICAL_ARC = 0.2  # ... if the normals also turn enough across it (a 90 degree arc gives 0.18)


# ----------------------------------------------------------------------------------------------------
# Options and command line


@dataclasses.dataclass(frozen=True)
class SimExportOptions:
    """What to write for simulators.

    Attributes:
        formats: any of ``"urdf"``, ``"mjcf"``; empty: no simulation files.
        scale: metres per unit of the parts (the input's units times this), > 0.
        density: kg/m^3 of every part, > 0.
        collision: ``"hull"`` (one convex hull per part) or ``"decomposed"`` (coacd convex pieces).
        joints: ``"fixed"`` (one rigid assembly) or ``"hinted"``: the best joint hint of each tree edge
            where it scores at least ``HINTED_MIN_SCORE`` (axes of round parts, cylindrical contacts);
            planar-contact guesses (sliders, turntables) stay hints and the edge stays fixed.
        contact_tolerance: parts closer than this fraction of the object's bounding-box diagonal touch.
    """

    formats: tuple[str, ...] = ()
    scale: float = 1.0
    density: float = 1000.0
    collision: str = "hull"
    joints: str = "fixed"
    contact_tolerance: float = CONTACT_TOLERANCE

    def __post_init__(self) -> None:
        unknown = [f for f in self.formats if f not in SIM_FORMATS]
        if unknown:
            raise ConfigError(f"--export {unknown[0]!r} is not a simulation format; use a comma list of "
                              f"{', '.join(SIM_FORMATS)}")
        for name in ("scale", "density", "contact_tolerance"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"--{name} must be a number > 0, got {value!r}")
        if self.collision not in COLLISION_MODES:
            raise ConfigError(f"--collision {self.collision!r} is unknown; use one of {', '.join(COLLISION_MODES)}")
        if self.joints not in JOINT_MODES:
            raise ConfigError(f"--joints {self.joints!r} is unknown; use one of {', '.join(JOINT_MODES)}")

    @property
    def enabled(self) -> bool:
        """Whether any simulation file is asked for."""
        return bool(self.formats)


def add_sim_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--export --scale --density --collision --joints`` to a ``generate``-style parser.

    Defaults are None so :func:`sim_options_from_args` can tell a flag given without ``--export``.
    """
    group = parser.add_argument_group("simulation export")
    group.add_argument("--export", metavar="FORMATS",
                       help="also write simulator files: a comma list of urdf, mjcf (object.urdf, object.xml "
                            "and meshes/; Z-up, metres, resting on z = 0)")
    group.add_argument("--scale", type=float, metavar="M",
                       help="metres per unit of the input (default 1; e.g. 0.01 for a mesh in centimetres)")
    group.add_argument("--density", type=float, metavar="KG_M3",
                       help="density of every part in kg/m^3 for masses and inertias (default 1000)")
    group.add_argument("--collision", choices=COLLISION_MODES,
                       help="collision shape per part: its convex hull (default) or a convex decomposition "
                            "(needs the coacd package)")
    group.add_argument("--joints", choices=JOINT_MODES,
                       help="joints between touching parts: fixed (default, one rigid assembly) or hinted "
                            "(revolute / prismatic from the joint hints)")


def sim_options_from_args(args: argparse.Namespace) -> SimExportOptions:
    """Validate the simulation flags before any work.

    Raises:
        ConfigError: an unknown format, a value <= 0, a simulation flag without ``--export``, or
            ``--collision decomposed`` without coacd installed.
    """
    formats = tuple(dict.fromkeys(f.strip().lower() for f in (args.export or "").split(",") if f.strip()))
    if not formats:
        given = [flag for flag in ("scale", "density", "collision", "joints") if getattr(args, flag, None) is not None]
        if given:
            raise ConfigError(f"--{given[0]} only applies to simulation files: add --export urdf,mjcf")
    defaults = SimExportOptions()
    options = SimExportOptions(
        formats=formats,
        scale=defaults.scale if args.scale is None else args.scale,
        density=defaults.density if args.density is None else args.density,
        collision=args.collision or defaults.collision,
        joints=args.joints or defaults.joints,
    )
    if options.collision == "decomposed":
        _import_coacd()
    return options


def _import_coacd():
    try:
        import coacd
    except ImportError as error:
        raise ConfigError("--collision decomposed needs the coacd package: pip install coacd "
                          "(or use --collision hull)") from error
    return coacd


# ----------------------------------------------------------------------------------------------------
# Frame


@dataclasses.dataclass(frozen=True)
class SimFrame:
    """``p_sim = scale * rotation @ p + offset``: the output frame (+Y up, input units) -> Z-up metres."""

    rotation: np.ndarray  # (3, 3)
    scale: float
    offset: np.ndarray  # (3,) metres

    def points(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) output-frame points -> (N, 3) simulation-frame points (m)."""
        return self.scale * np.asarray(points, dtype=np.float64) @ self.rotation.T + self.offset


def sim_frame(meshes: Sequence[Any], scale: float = 1.0) -> SimFrame:
    """The Z-up metre frame in which the lowest point of all ``meshes`` is at z = 0."""
    lowest = min(float((scale * as_mesh_arrays(m)[0] @ Y_UP_TO_Z_UP.T)[:, 2].min()) for m in meshes)
    return SimFrame(Y_UP_TO_Z_UP.copy(), float(scale), np.array([0.0, 0.0, -lowest]))


def _trimesh(mesh: Any) -> trimesh.Trimesh:
    vertices, faces = as_mesh_arrays(mesh)
    return trimesh.Trimesh(np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64), process=False)


# ----------------------------------------------------------------------------------------------------
# Mass properties


@dataclasses.dataclass(frozen=True)
class MassProperties:
    """Mass (kg), centre of mass (3,) and inertia tensor (3, 3) about the centre of mass, world-aligned axes.

    ``source`` says which solid they come from: ``"mesh"`` (the watertight part), ``"convex_hull"``
    (an open part's hull) or ``"bounding_box"`` (a flat or empty hull).
    """

    mass: float
    center_of_mass: np.ndarray
    inertia: np.ndarray
    source: str


def _solid_for_mass(mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, str]:
    """The closed solid whose volume stands for the part: the part itself when watertight, else its hull."""
    if mesh.is_watertight and mesh.is_winding_consistent:
        solid = mesh.copy()
        if solid.volume < 0:  # inward-facing winding
            solid.invert()
        if solid.volume > 0:
            return solid, "mesh"
    try:
        hull = mesh.convex_hull
        if hull.volume > 0:
            return hull, "convex_hull"
    except (QhullError, ValueError, IndexError):
        pass
    return _thick_box(mesh), "bounding_box"


def _thick_box(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The axis-aligned box of a flat or degenerate part, at least 1% of its size thick in every direction."""
    lo, hi = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    extent = np.maximum(hi - lo, max(float((hi - lo).max()) * 0.01, 1e-6))
    return trimesh.creation.box(extents=extent, transform=trimesh.transformations.translation_matrix((lo + hi) / 2))


def mass_properties(mesh: Any, density: float) -> MassProperties:
    """Mass properties of one part at ``density`` (kg/m^3); the mesh in metres.

    A watertight part uses its own volume; an open one its convex hull's (an open surface has no inside).
    The result is not yet guarded against tiny values: see :func:`regularize_inertia`.
    """
    solid, source = _solid_for_mass(_trimesh(mesh))
    solid.density = float(density)
    return MassProperties(float(solid.mass), np.asarray(solid.center_mass, dtype=np.float64),
                          np.asarray(solid.moment_inertia, dtype=np.float64), source)


def regularize_inertia(inertia: np.ndarray, min_moment: float = 0.0) -> np.ndarray:
    """A symmetric positive-definite tensor whose principal moments satisfy the triangle inequality.

    Moments are floored at ``max(min_moment, MIN_MOMENT_FRACTION * largest)``, then the two smaller ones
    are raised until ``I1 + I2 >= I3`` with a small margin (MuJoCo refuses bodies that break it; a thin
    sheet meets it with equality, so rounding alone can break it).

    Args:
        inertia: (3, 3) tensor (kg m^2).
        min_moment: absolute floor (kg m^2).

    Returns:
        (3, 3) tensor with the same principal axes.
    """
    inertia = (np.asarray(inertia, dtype=np.float64) + np.asarray(inertia, dtype=np.float64).T) / 2
    moments, axes = np.linalg.eigh(inertia)  # ascending
    largest = max(float(moments[-1]), min_moment, 1e-30)
    moments = np.maximum(moments, max(min_moment, MIN_MOMENT_FRACTION * largest))
    deficit = moments[2] * (1 + 1e-6) - moments[0] - moments[1]
    if deficit > 0:
        moments[:2] += deficit / 2
    return (axes * moments) @ axes.T


# ----------------------------------------------------------------------------------------------------
# Collision shapes


def collision_shapes(mesh: Any, mode: str = "hull") -> list[trimesh.Trimesh]:
    """Convex collision pieces of one part.

    Args:
        mesh: the part (any units).
        mode: ``"hull"``: its convex hull; ``"decomposed"``: coacd's approximate convex decomposition.

    Returns:
        Non-empty list of closed convex meshes (a flat part gets a thin box: a simulator needs volume).
    """
    part = _trimesh(mesh)
    if mode == "decomposed":
        coacd = _import_coacd()
        coacd.set_log_level("error")
        source = part.copy()
        source.merge_vertices()
        pieces = [trimesh.Trimesh(np.asarray(v), np.asarray(f), process=False)
                  for v, f in coacd.run_coacd(coacd.Mesh(source.vertices, source.faces.astype(np.int64)))]
        hulls = [_convex_solid(p) for p in pieces if len(p.faces)]
        if hulls:
            return hulls
    elif mode != "hull":
        raise ValueError(f"unknown collision mode {mode!r}; use one of {COLLISION_MODES}")
    return [_convex_solid(part)]


def _convex_solid(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The convex hull, with at most MAX_HULL_VERTICES vertices (contact cost grows with them).

    A larger hull is rebuilt from an evenly spread subset of its vertices (farthest point sampling), which
    keeps the outline and loses at most a thin sliver between neighbouring kept vertices.
    """
    try:
        hull = mesh.convex_hull
        if len(hull.vertices) > MAX_HULL_VERTICES:
            kept = farthest_point_sample(hull.vertices, MAX_HULL_VERTICES)
            hull = trimesh.convex.convex_hull(hull.vertices[kept])
        if hull.volume > 0 and len(hull.vertices) >= 4:
            return hull
    except (QhullError, ValueError, IndexError):
        pass
    return _thick_box(mesh)


# ----------------------------------------------------------------------------------------------------
# Contacts and joint hints


@dataclasses.dataclass(frozen=True)
class _Surface:
    points: np.ndarray  # (S, 3)
    normals: np.ndarray  # (S, 3) outward face normals
    area: float
    tree: cKDTree


@dataclasses.dataclass(frozen=True)
class ContactAnalysis:
    """Which parts touch, and how.

    Attributes:
        size: the object's bounding-box diagonal (units of the parts).
        tolerance: the touching distance used (units of the parts).
        gaps: (N, N) smallest surface-sample distance between parts (0 on the diagonal).
        hints: one record per touching pair, see :func:`joint_hints`.
    """

    size: float
    tolerance: float
    gaps: np.ndarray
    hints: list[dict]


def _surfaces(meshes: Sequence[trimesh.Trimesh], count: int) -> list[_Surface]:
    surfaces = []
    for mesh in meshes:
        # One fixed seed per part: the same part gives the same samples whatever its index.
        points, normals = sample_surface(mesh.vertices, mesh.faces, count, np.random.default_rng(0))
        points = points.astype(np.float64)
        surfaces.append(_Surface(points, normals.astype(np.float64), float(mesh.area), cKDTree(points)))
    return surfaces


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def _round(values: Any, digits: int = 6) -> Any:
    if np.ndim(values) == 0:
        return round(float(values), digits)
    return [round(float(x), digits) for x in np.asarray(values).ravel()]


def _revolution_axis(mesh: trimesh.Trimesh, props: MassProperties) -> tuple[np.ndarray, float, str] | None:
    """The symmetry axis of a part shaped like a solid of revolution, or None.

    Two nearly equal principal moments make the third principal axis a candidate; the part's outline seen
    along it must also be round (a square prism has two equal moments but is no wheel).

    Returns:
        ``(unit axis (3,), quality in [0, 1], "disc" | "rod")`` or None.
    """
    moments, axes = np.linalg.eigh(props.inertia)
    if moments[-1] <= 0:
        return None
    gaps = [(abs(moments[1] - moments[0]) / moments[1], 2), (abs(moments[2] - moments[1]) / moments[2], 0)]
    gap, odd = min(gaps)
    other_gap = max(gaps)[0]
    if gap > SYMMETRY_TOLERANCE or other_gap < 2 * SYMMETRY_TOLERANCE:  # asymmetric, or a sphere / cube
        return None
    axis = axes[:, odd]
    basis = np.linalg.svd(np.eye(3) - np.outer(axis, axis))[0][:, :2]  # the plane across the axis
    try:
        outline = ConvexHull(mesh.vertices @ basis)
    except (QhullError, ValueError):
        return None
    circularity = 4 * math.pi * outline.volume / outline.area**2  # 2-D hull: volume = area, area = perimeter
    if circularity < MIN_CIRCULARITY:
        return None
    quality = float(np.clip((circularity - MIN_CIRCULARITY) / (1 - MIN_CIRCULARITY), 0, 1)) * (1 - gap / SYMMETRY_TOLERANCE / 2)
    kind = "disc" if odd == 2 else "rod"
    return _unit(axis), quality, kind


def _signed_surface_distance(points: np.ndarray, surface: _Surface) -> np.ndarray:
    """Signed distance (M,) from points (M, 3) to a sampled closed surface (< 0 inside), finer than the spacing.

    The distance to the tangent plane of the nearest sample is exact on flat and gently curved regions
    whatever the spacing, and its sign says inside / outside; ``euclidean - spacing`` bounds it from below
    where the nearest sample is far (beyond the surface's border). Estimated from the samples because
    trimesh's exact queries (closest point, contains) need the optional rtree package.
    """
    euclidean, nearest = surface.tree.query(points)
    plane = np.einsum("ij,ij->i", points - surface.points[nearest], surface.normals[nearest])
    spacing = math.sqrt(surface.area / len(surface.points))
    return np.sign(plane) * np.maximum(np.abs(plane), euclidean - spacing)


def _patch(a: _Surface, b: _Surface, tolerance: float, band: float) -> dict | None:
    """Contact patch of two parts: the samples of each inside the other or within ``gap + band`` of it.

    Sample-to-sample distances pick the candidates (within ``tolerance``); the patch uses the finer
    :func:`_signed_surface_distance` with a thin ``band``, so that the side walls next to a face-to-face
    contact (a table leg under the top) do not swamp the contact face. Where the parts overlap, the patch
    is the overlap's boundary (each part's surface inside the other).
    """
    cand_a = np.flatnonzero(b.tree.query(a.points, distance_upper_bound=tolerance)[0] < tolerance)
    cand_b = np.flatnonzero(a.tree.query(b.points, distance_upper_bound=tolerance)[0] < tolerance)
    if len(cand_a) + len(cand_b) == 0:
        return None
    dist_a = _signed_surface_distance(a.points[cand_a], b)
    dist_b = _signed_surface_distance(b.points[cand_b], a)
    limit = max(float(np.concatenate([dist_a, dist_b]).min()), 0.0) + band
    near_a, near_b = cand_a[dist_a <= limit], cand_b[dist_b <= limit]
    points = np.concatenate([a.points[near_a], b.points[near_b]])
    normals = np.concatenate([a.normals[near_a], -b.normals[near_b]])  # both as "out of a, into b"
    # Each sample stands for its share of its part's area, so a coarsely sampled large part counts as
    # much as a finely sampled small one.
    weights = np.concatenate([np.full(len(near_a), a.area / len(a.points)), np.full(len(near_b), b.area / len(b.points))])
    area = 0.5 * float(weights.sum())
    weights = weights / weights.sum()
    centre = weights @ points
    # Sign-free spread of the normals: one dominant direction = planar patch; normals all across one
    # direction = cylindrical patch (that direction is its axis).
    spread, directions = np.linalg.eigh((normals * weights[:, None]).T @ normals)
    normal = directions[:, 2]
    if weights @ normals @ normal < 0:
        normal = -normal
    if spread[2] > PLANAR_SPREAD:
        shape, quality = "planar", (spread[2] - PLANAR_SPREAD) / (1 - PLANAR_SPREAD)
    elif spread[0] < CYLINDRICAL_SPREAD and spread[1] > CYLINDRICAL_ARC:
        shape, quality = "cylindrical", 1 - spread[0] / CYLINDRICAL_SPREAD
    else:
        shape, quality = "curved", 0.0
    # In-plane directions of the patch, longest first (a slider runs along the longer one).
    offsets = points - centre
    offsets -= np.outer(offsets @ normal, normal)
    in_plane = np.linalg.eigh(offsets.T @ offsets)[1][:, ::-1]
    return {"centre": centre, "area": float(area), "normal": _unit(normal), "shape": shape,
            "shape_quality": float(quality), "cylinder_axis": _unit(directions[:, 0]),
            "long_direction": _unit(in_plane[:, 0])}


def _extent_along(mesh: trimesh.Trimesh, direction: np.ndarray) -> float:
    projection = mesh.vertices @ direction
    return float(projection.max() - projection.min())


def _candidates(i: int, j: int, meshes: Sequence[trimesh.Trimesh], props: Sequence[MassProperties],
                patch: dict) -> list[dict]:
    """Candidate joints of the touching pair (i, j), best first."""
    candidates = []
    for k in (i, j):
        revolution = _revolution_axis(meshes[k], props[k])
        if revolution is not None:
            axis, quality, kind = revolution
            reason = ("axis of a cylindrical part: wheel or disc" if kind == "disc"
                      else "axis of a cylindrical part: hinge pin, rod or knob")
            candidates.append({"type": "revolute", "axis": axis, "origin": props[k].center_of_mass,
                               "limits": None, "part": k, "score": 0.7 + 0.3 * quality, "reason": reason})
    quality = patch["shape_quality"]
    if patch["shape"] == "cylindrical":
        axis = patch["cylinder_axis"]
        centre = patch["centre"]
        candidates.append({"type": "revolute", "axis": axis, "origin": centre, "limits": None, "part": None,
                           "score": 0.5 + 0.2 * quality,
                           "reason": "axis of a cylindrical contact: hinge pin or axle in a hole"})
    if patch["shape"] == "planar":
        normal, along = patch["normal"], patch["long_direction"]
        travel = 0.5 * min(_extent_along(meshes[i], along), _extent_along(meshes[j], along))
        candidates.append({"type": "revolute", "axis": normal, "origin": patch["centre"], "limits": None,
                           "part": None, "score": 0.4 * quality,
                           "reason": "normal of a planar contact: turntable, swivel or lid"})
        candidates.append({"type": "prismatic", "axis": along, "origin": patch["centre"],
                           "limits": [-travel, travel], "part": None, "score": 0.3 * quality,
                           "reason": "along a planar contact: slider or drawer"})
    candidates = _dedupe_axes(sorted(candidates, key=lambda c: -c["score"]))
    return candidates


def _dedupe_axes(candidates: list[dict], max_angle_deg: float = 5.0) -> list[dict]:
    """Drop a candidate of the same type whose axis line is within ``max_angle_deg`` of a better one's."""
    kept: list[dict] = []
    cos_limit = math.cos(math.radians(max_angle_deg))
    for candidate in candidates:
        same = [c for c in kept if c["type"] == candidate["type"] and abs(c["axis"] @ candidate["axis"]) > cos_limit]
        if not same:
            kept.append(candidate)
    return kept


def _json_candidate(candidate: dict) -> dict:
    return {"type": candidate["type"], "axis": _round(candidate["axis"]), "origin": _round(candidate["origin"]),
            "limits": None if candidate["limits"] is None else _round(candidate["limits"]),
            "part": candidate["part"], "score": _round(candidate["score"], 3), "reason": candidate["reason"]}


def analyse_contacts(meshes: Sequence[Any], contact_tolerance: float = CONTACT_TOLERANCE,
                     density: float = 1000.0, samples: int = SURFACE_SAMPLES) -> ContactAnalysis:
    """Sample every part's surface and find the touching pairs, their patches and candidate joints.

    Args:
        meshes: N part meshes, all in one frame and unit.
        contact_tolerance: touching distance as a fraction of the object's bounding-box diagonal (raised
            to the sample spacing of the part pair so that touching surfaces are never missed).
        density: only scales masses; the axes do not depend on it.
        samples: surface samples per part.

    Returns:
        A :class:`ContactAnalysis`; ``hints`` as described in :func:`joint_hints`.
    """
    parts = [_trimesh(m) for m in meshes]
    everything = np.concatenate([p.vertices for p in parts])
    size = float(np.linalg.norm(everything.max(axis=0) - everything.min(axis=0)))
    surfaces = _surfaces(parts, samples)
    props = [mass_properties(p, density) for p in parts]
    n = len(parts)
    gaps = np.zeros((n, n))
    hints = []
    for i in range(n):
        for j in range(i + 1, n):
            gaps[i, j] = gaps[j, i] = float(surfaces[j].tree.query(surfaces[i].points)[0].min())
            spacing = max(math.sqrt(s.area / len(s.points)) for s in (surfaces[i], surfaces[j]))
            tolerance = max(contact_tolerance * size, 1.5 * spacing)
            if gaps[i, j] >= tolerance:
                continue
            patch = _patch(surfaces[i], surfaces[j], tolerance, PATCH_BAND * size)
            if patch is None:
                continue
            candidates = _candidates(i, j, parts, props, patch)
            hints.append({
                "parts": [i, j],
                "gap": _round(gaps[i, j]),
                "contact": {"centre": _round(patch["centre"]), "area": _round(patch["area"]),
                            "normal": _round(patch["normal"]), "shape": patch["shape"]},
                "candidates": [_json_candidate(c) for c in candidates],
            })
    return ContactAnalysis(size, contact_tolerance * size, gaps, hints)


def joint_hints(parts: Sequence[Any], contact_tolerance: float = CONTACT_TOLERANCE) -> list[dict]:
    """Contact patches and candidate joints of every pair of touching parts (JSON-serialisable).

    Args:
        parts: N part meshes (trimesh or ``(vertices, faces)``), one frame and unit.
        contact_tolerance: touching distance as a fraction of the object's bounding-box diagonal.

    Returns:
        One dict per touching pair ``i < j``::

            {"parts": [i, j], "gap": smallest sample distance,
             "contact": {"centre": [x, y, z], "area": a, "normal": unit [x, y, z] out of part i,
                         "shape": "planar" | "cylindrical" | "curved"},
             "candidates": [{"type": "revolute" | "prismatic", "axis": unit [x, y, z],
                             "origin": a point on the axis, "limits": null (continuous) or [lo, hi]
                             (travel along the axis for prismatic), "part": the part whose symmetry
                             gave the axis or null, "score": 0..1, "reason": "..."}, ...]}

        Candidates are sorted best first; lengths, areas and points are in the parts' units and frame.
    """
    return analyse_contacts(parts, contact_tolerance).hints


# ----------------------------------------------------------------------------------------------------
# The articulated model


@dataclasses.dataclass(frozen=True)
class SimLink:
    """One part as a rigid link, in the simulation frame (Z-up, metres).

    Attributes:
        name: ``part_000`` ...
        anchor: (3,) world position of the link frame (axes parallel to the world's).
        mass_properties: mass, centre of mass (world), inertia about it (guarded).
        visual: the part mesh in the link frame.
        collisions: convex pieces in the link frame.
        rgba: (4,) floats in [0, 1].
    """

    name: str
    anchor: np.ndarray
    mass_properties: MassProperties
    visual: trimesh.Trimesh
    collisions: list[trimesh.Trimesh]
    rgba: np.ndarray


@dataclasses.dataclass(frozen=True)
class SimJoint:
    """A joint of the tree: child link frame at ``child.anchor``; ``axis`` a unit vector in that frame.

    ``type`` is ``fixed``, ``revolute`` (``limits`` None: continuous) or ``prismatic`` (limits in m).
    """

    parent: int
    child: int
    type: str
    axis: np.ndarray
    limits: tuple[float, float] | None
    reason: str


@dataclasses.dataclass(frozen=True)
class SimModel:
    """Links (index = part index), the tree of joints (parents before children), the root and touching pairs."""

    links: list[SimLink]
    joints: list[SimJoint]
    root: int
    touching: list[tuple[int, int]]


def _tree_edges(gaps: np.ndarray, hints: Sequence[dict], size: float, root: int) -> list[tuple[int, int]]:
    """(parent, child) edges of a spanning tree rooted at ``root``, parents before children.

    Touching pairs are preferred, larger contacts first; components that touch nothing are attached to
    the nearest part (a minimum spanning tree over all pairs does both).
    """
    n = len(gaps)
    weights = 1.0 + gaps / max(size, 1e-12)  # non-touching pairs: 1 + relative gap
    largest = max([h["contact"]["area"] for h in hints] + [1e-30])
    for hint in hints:
        i, j = hint["parts"]
        weights[i, j] = weights[j, i] = 1.0 - 0.5 * hint["contact"]["area"] / largest  # in [0.5, 1)
    np.fill_diagonal(weights, 0.0)
    tree = minimum_spanning_tree(weights)
    order, predecessors = breadth_first_order(tree, root, directed=False, return_predecessors=True)
    assert len(order) == n, "a spanning tree over a complete graph reaches every part"
    return [(int(predecessors[c]), int(c)) for c in order[1:]]


def _root_part(parts: Sequence[trimesh.Trimesh], props: Sequence[MassProperties], tolerance: float) -> int:
    """The heaviest part whose lowest point is within ``tolerance`` of the ground (z = 0)."""
    on_ground = [i for i, p in enumerate(parts) if float(p.vertices[:, 2].min()) <= tolerance]
    return max(on_ground or range(len(parts)), key=lambda i: (props[i].mass, -i))


def plan_simulation(meshes: Sequence[Any], colors: np.ndarray | None, options: SimExportOptions) -> SimModel:
    """Everything the URDF and MJCF writers need, computed without touching the disk.

    Args:
        meshes: N >= 1 part meshes in the output frame (+Y up, input units).
        colors: (N, 4) uint8 RGBA per part, or None (grey).
        options: scale, density, collision and joint modes.

    Returns:
        A :class:`SimModel` in the Z-up metre frame resting on z = 0.
    """
    if not meshes:
        raise ValueError("no parts to export")
    frame = sim_frame(meshes, options.scale)
    parts = []
    for mesh in meshes:
        vertices, faces = as_mesh_arrays(mesh)
        parts.append(trimesh.Trimesh(frame.points(vertices), np.asarray(faces, dtype=np.int64), process=False))
    analysis = analyse_contacts(parts, options.contact_tolerance, options.density)
    raw = [mass_properties(p, options.density) for p in parts]
    total = sum(p.mass for p in raw)
    min_mass = max(MIN_MASS_KG, MIN_MASS_FRACTION * total)
    props = []
    for prop in raw:
        mass = max(prop.mass, min_mass)
        inertia = prop.inertia * (mass / prop.mass) if prop.mass > 0 else prop.inertia
        props.append(MassProperties(mass, prop.center_of_mass, regularize_inertia(inertia), prop.source))
    root = _root_part(parts, props, analysis.tolerance)
    edges = _tree_edges(analysis.gaps, analysis.hints, analysis.size, root)
    hint_of_pair = {tuple(h["parts"]): h for h in analysis.hints}

    anchors: dict[int, np.ndarray] = {root: np.zeros(3)}
    joints = []
    for parent, child in edges:
        hint = hint_of_pair.get((min(parent, child), max(parent, child)))
        best = hint["candidates"][0] if options.joints == "hinted" and hint and hint["candidates"] else None
        if best is None or best["score"] < HINTED_MIN_SCORE:
            anchors[child] = props[child].center_of_mass
            reason = "touching parts, welded" if hint else "nearest part (no contact), welded"
            joints.append(SimJoint(parent, child, "fixed", np.array([0.0, 0.0, 1.0]), None, reason))
        else:
            anchors[child] = np.asarray(best["origin"], dtype=np.float64)
            limits = None if best["limits"] is None else (float(best["limits"][0]), float(best["limits"][1]))
            joints.append(SimJoint(parent, child, best["type"], _unit(np.asarray(best["axis"], dtype=np.float64)),
                                   limits, best["reason"]))
    colors = np.tile(np.array([200, 200, 200, 255], dtype=np.uint8), (len(parts), 1)) if colors is None else np.asarray(colors, dtype=np.uint8)
    links = []
    for i, part in enumerate(parts):
        anchor = anchors[i]
        visual = trimesh.Trimesh(part.vertices - anchor, part.faces, process=False)
        pieces = [trimesh.Trimesh(c.vertices - anchor, c.faces, process=False)
                  for c in collision_shapes(part, options.collision)]
        links.append(SimLink(f"part_{i:03d}", anchor, props[i], visual, pieces, colors[i] / 255.0))
    touching = sorted(tuple(h["parts"]) for h in analysis.hints)
    logger.info("simulation model: %d links, root %s, %d touching pairs", len(links), links[root].name, len(touching))
    return SimModel(links, joints, root, touching)


# ----------------------------------------------------------------------------------------------------
# Writers


def visual_mesh_name(i: int) -> str:
    """``meshes/part_000.obj``: the visual mesh of part ``i`` (relative to the bundle folder)."""
    return f"{MESH_DIR}/part_{i:03d}.obj"


def collision_mesh_name(i: int, k: int) -> str:
    """``meshes/part_000_collision_000.obj``: convex piece ``k`` of part ``i``."""
    return f"{MESH_DIR}/part_{i:03d}_collision_{k:03d}.obj"


def _obj_text(mesh: trimesh.Trimesh) -> str:
    return trimesh.exchange.obj.export_obj(mesh, include_normals=False, include_color=False,
                                           include_texture=False, header=None)


def _xyz(v: Sequence[float]) -> str:
    return " ".join(f"{float(x):.9g}" for x in v)


def _inertia_urdf(inertia: np.ndarray) -> str:
    i = inertia
    return (f'ixx="{i[0, 0]:.9g}" ixy="{i[0, 1]:.9g}" ixz="{i[0, 2]:.9g}" '
            f'iyy="{i[1, 1]:.9g}" iyz="{i[1, 2]:.9g}" izz="{i[2, 2]:.9g}"')


def _fullinertia_mjcf(inertia: np.ndarray) -> str:
    i = inertia
    return _xyz([i[0, 0], i[1, 1], i[2, 2], i[0, 1], i[0, 2], i[1, 2]])


_URDF_JOINT_TYPE = {"fixed": "fixed", "prismatic": "prismatic"}


def build_urdf(model: SimModel, name: str = "object") -> str:
    """The URDF text of ``model``; mesh paths as :func:`visual_mesh_name` / :func:`collision_mesh_name`."""
    lines = ['<?xml version="1.0"?>', f"<robot name={quoteattr(name)}>"]
    for i, link in enumerate(model.links):
        lines.append(f'  <material name="{link.name}"><color rgba="{_xyz(link.rgba)}"/></material>')
    for i, link in enumerate(model.links):
        props = link.mass_properties
        lines += [
            f'  <link name="{link.name}">',
            "    <inertial>",
            f'      <origin xyz="{_xyz(props.center_of_mass - link.anchor)}" rpy="0 0 0"/>',
            f'      <mass value="{props.mass:.9g}"/>',
            f"      <inertia {_inertia_urdf(props.inertia)}/>",
            "    </inertial>",
            "    <visual>",
            f'      <geometry><mesh filename="{visual_mesh_name(i)}"/></geometry>',
            f'      <material name="{link.name}"/>',
            "    </visual>",
        ]
        for k in range(len(link.collisions)):
            lines.append(f'    <collision><geometry><mesh filename="{collision_mesh_name(i, k)}"/></geometry></collision>')
        lines.append("  </link>")
    for joint in model.joints:
        parent, child = model.links[joint.parent], model.links[joint.child]
        kind = _URDF_JOINT_TYPE.get(joint.type, "continuous" if joint.limits is None else "revolute")
        lines += [
            f'  <joint name="{parent.name}_to_{child.name}" type="{kind}">',
            f"    <!-- {joint.reason} -->",
            f'    <parent link="{parent.name}"/>',
            f'    <child link="{child.name}"/>',
            f'    <origin xyz="{_xyz(child.anchor - parent.anchor)}" rpy="0 0 0"/>',
        ]
        if joint.type != "fixed":
            lines.append(f'    <axis xyz="{_xyz(joint.axis)}"/>')
            lines.append('    <dynamics damping="0.01" friction="0"/>')
        if kind in ("revolute", "prismatic"):
            lines.append(f'    <limit lower="{joint.limits[0]:.9g}" upper="{joint.limits[1]:.9g}" effort="100" velocity="10"/>')
        lines.append("  </joint>")
    lines.append("</robot>")
    return "\n".join(lines) + "\n"


def build_mjcf(model: SimModel, name: str = "object") -> str:
    """The MJCF text of ``model``: a ground plane, the root body with a free joint, children nested.

    Bodies joined by a fixed joint are nested without a joint (MuJoCo welds them). Contacts between
    touching parts are excluded (MuJoCo already skips parent-child and welded pairs; the exclusions also
    cover touching siblings and hinted joints).
    """
    size = max(float(np.ptp(np.concatenate([l.visual.vertices + l.anchor for l in model.links]), axis=0).max()), 1e-3)
    lines = [
        f"<mujoco model={quoteattr(name)}>",
        '  <compiler angle="radian" autolimits="true" inertiafromgeom="false"/>',
        '  <option timestep="0.002"/>',
        "  <asset>",
    ]
    for i, link in enumerate(model.links):
        lines.append(f'    <material name="{link.name}" rgba="{_xyz(link.rgba)}"/>')
        # "shell" inertia: a visual mesh may be open; its own inertia is never used (inertiafromgeom false).
        lines.append(f'    <mesh name="{link.name}_visual" file="{visual_mesh_name(i)}" inertia="shell"/>')
        for k in range(len(link.collisions)):
            lines.append(f'    <mesh name="{link.name}_collision_{k:03d}" file="{collision_mesh_name(i, k)}"/>')
    lines += [
        "  </asset>",
        "  <worldbody>",
        f'    <light name="sun" pos="0 0 {3 * size:.6g}" dir="0 0 -1" directional="true"/>',
        f'    <geom name="ground" type="plane" size="{5 * size:.6g} {5 * size:.6g} 0.1" rgba="0.8 0.8 0.8 1"/>',
    ]
    children: dict[int, list[SimJoint]] = {}
    for joint in model.joints:
        children.setdefault(joint.parent, []).append(joint)

    def body(index: int, joint: SimJoint | None, depth: int) -> None:
        link = model.links[index]
        pad = "  " * depth
        parent_anchor = np.zeros(3) if joint is None else model.links[joint.parent].anchor
        lines.append(f'{pad}<body name="{link.name}" pos="{_xyz(link.anchor - parent_anchor)}">')
        if joint is None:
            lines.append(f'{pad}  <freejoint name="{link.name}_free"/>')
        elif joint.type != "fixed":
            kind = "hinge" if joint.type == "revolute" else "slide"
            limits = "" if joint.limits is None else f' range="{joint.limits[0]:.9g} {joint.limits[1]:.9g}"'
            lines.append(f'{pad}  <joint name="{model.links[joint.parent].name}_to_{link.name}" type="{kind}" '
                         f'pos="0 0 0" axis="{_xyz(joint.axis)}"{limits} damping="0.01"/>')
        props = link.mass_properties
        lines.append(f'{pad}  <inertial pos="{_xyz(props.center_of_mass - link.anchor)}" mass="{props.mass:.9g}" '
                     f'fullinertia="{_fullinertia_mjcf(props.inertia)}"/>')
        lines.append(f'{pad}  <geom name="{link.name}_visual" type="mesh" mesh="{link.name}_visual" '
                     f'material="{link.name}" contype="0" conaffinity="0" group="1"/>')
        for k in range(len(link.collisions)):
            lines.append(f'{pad}  <geom name="{link.name}_collision_{k:03d}" type="mesh" '
                         f'mesh="{link.name}_collision_{k:03d}" group="3" rgba="{_xyz(link.rgba[:3])} 0.3"/>')
        for child_joint in children.get(index, []):
            body(child_joint.child, child_joint, depth + 1)
        lines.append(f"{pad}</body>")

    body(model.root, None, 2)
    lines.append("  </worldbody>")
    if model.touching:
        lines.append("  <contact>")
        for i, j in model.touching:
            lines.append(f'    <exclude body1="{model.links[i].name}" body2="{model.links[j].name}"/>')
        lines.append("  </contact>")
    lines.append("</mujoco>")
    return "\n".join(lines) + "\n"


def export_simulation(meshes: Sequence[Any], colors: np.ndarray | None, out_dir: str | os.PathLike,
                      options: SimExportOptions) -> list[str]:
    """Write ``object.urdf`` and/or ``object.xml`` and the meshes they reference into ``out_dir``.

    Args:
        meshes: N >= 1 part meshes in the output frame (+Y up, input units), in part order.
        colors: (N, 4) uint8 RGBA per part (the GLB colours), or None.
        out_dir: an existing folder (the output writer's staging folder).
        options: formats, scale, density, collision and joint modes.

    Returns:
        The names written, relative to ``out_dir`` with ``/`` separators (``meshes/part_000.obj`` ...).
    """
    from autopartgen.export import atomic_write  # export imports this module lazily; no cycle at import

    if not options.enabled:
        return []
    model = plan_simulation(meshes, colors, options)
    out_dir = Path(out_dir)
    (out_dir / MESH_DIR).mkdir(parents=True, exist_ok=True)
    written = []
    for i, link in enumerate(model.links):
        atomic_write(out_dir / visual_mesh_name(i), _obj_text(link.visual))
        written.append(visual_mesh_name(i))
        for k, piece in enumerate(link.collisions):
            atomic_write(out_dir / collision_mesh_name(i, k), _obj_text(piece))
            written.append(collision_mesh_name(i, k))
    if "urdf" in options.formats:
        atomic_write(out_dir / URDF_FILE, build_urdf(model))
        written.append(URDF_FILE)
    if "mjcf" in options.formats:
        atomic_write(out_dir / MJCF_FILE, build_mjcf(model))
        written.append(MJCF_FILE)
    return written
