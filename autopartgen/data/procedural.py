"""Procedural part-structured objects with exact signed distance functions.

Each category is a small grammar (random proportions, optional parts, repeated parts) that builds its
parts from SDF primitives. Every part keeps its SDF (callable on ``(N, 3)`` points), and its mesh is
extracted from that SDF by marching cubes. Objects are normalised to ``[-1, 1]^3`` (max-abs, centred on
the bounding-box centre), +Y up, front facing +Z, and their parts are sorted in the canonical order
(bottom-to-top by lowest point, then left-to-right by lowest x).

Distances are in object units (before normalisation, objects are roughly 2 units tall). Exactness:

* rounded box, cylinder, capsule, capped cone / frustum, torus, extrusion of a polygon and revolution of
  a polygon are exact signed distances;
* ``min`` unions (swept tubes, multi-primitive parts) are exact outside and a bound inside;
* the ellipsoid uses Inigo Quilez's first-order approximation (exact on the axes, a good bound elsewhere);
* the superellipsoid is its radial inside/outside function scaled by the smallest radius (exact only for
  a sphere), a sign-correct approximation;
* smooth unions (polynomial smooth minimum) are a bound within ``k`` of the blend.

The same seed gives the same object: all randomness comes from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import trimesh
from skimage.measure import marching_cubes

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 1
MAX_PARTS = 16
MIN_PARTS = 2

# ---------------------------------------------------------------------------------------------------
# Pure SDF functions. ``p`` is (N, 3) float64 in the primitive's local frame; they return (N,) distances.
# ---------------------------------------------------------------------------------------------------


def _length(v: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum(v * v, axis=-1))


def sd_round_box(p: np.ndarray, half: np.ndarray, radius: float = 0.0) -> np.ndarray:
    """Exact distance to an axis-aligned box of half extents ``half`` (3,) with edges rounded by ``radius``."""
    q = np.abs(p) - (np.asarray(half) - radius)
    outside = _length(np.maximum(q, 0.0))
    inside = np.minimum(q.max(axis=1), 0.0)
    return outside + inside - radius


def sd_cylinder(p: np.ndarray, radius: float, half_height: float, edge: float = 0.0) -> np.ndarray:
    """Exact distance to a capped cylinder along +Y (centre at origin), edges rounded by ``edge``."""
    dx = np.sqrt(p[:, 0] ** 2 + p[:, 2] ** 2) - radius + edge
    dy = np.abs(p[:, 1]) - half_height + edge
    outside = np.sqrt(np.maximum(dx, 0.0) ** 2 + np.maximum(dy, 0.0) ** 2)
    return np.minimum(np.maximum(dx, dy), 0.0) + outside - edge


def sd_capsule(p: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    """Exact distance to the capsule (segment ``a``-``b`` swept by a ball of ``radius``)."""
    pa = p - a
    ba = np.asarray(b) - np.asarray(a)
    h = np.clip(pa @ ba / max(float(ba @ ba), 1e-12), 0.0, 1.0)
    return _length(pa - h[:, None] * ba) - radius


def sd_capped_cone(p: np.ndarray, half_height: float, r_bottom: float, r_top: float) -> np.ndarray:
    """Exact distance to a frustum along +Y: radius ``r_bottom`` at y=-h, ``r_top`` at y=+h."""
    qx = np.sqrt(p[:, 0] ** 2 + p[:, 2] ** 2)
    qy = p[:, 1]
    h = half_height
    k1 = np.array([r_top, h])
    k2 = np.array([r_top - r_bottom, 2.0 * h])
    ca_x = qx - np.minimum(qx, np.where(qy < 0.0, r_bottom, r_top))
    ca_y = np.abs(qy) - h
    t = np.clip(((k1[0] - qx) * k2[0] + (k1[1] - qy) * k2[1]) / float(k2 @ k2), 0.0, 1.0)
    cb_x = qx - k1[0] + k2[0] * t
    cb_y = qy - k1[1] + k2[1] * t
    sign = np.where((cb_x < 0.0) & (ca_y < 0.0), -1.0, 1.0)
    return sign * np.sqrt(np.minimum(ca_x ** 2 + ca_y ** 2, cb_x ** 2 + cb_y ** 2))


def sd_torus(p: np.ndarray, major: float, minor: float) -> np.ndarray:
    """Exact distance to a torus in the XZ plane (axis +Y)."""
    qx = np.sqrt(p[:, 0] ** 2 + p[:, 2] ** 2) - major
    return np.sqrt(qx ** 2 + p[:, 1] ** 2) - minor


def sd_ellipsoid(p: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Approximate distance to an axis-aligned ellipsoid (Quilez's ``k0 (k0 - 1) / k1``; exact for a sphere)."""
    r = np.asarray(radii, dtype=np.float64)
    k0 = _length(p / r)
    k1 = np.maximum(_length(p / (r * r)), 1e-12)
    return k0 * (k0 - 1.0) / k1


def sd_superellipsoid(p: np.ndarray, radii: np.ndarray, e1: float, e2: float) -> np.ndarray:
    """Approximate distance to a superellipsoid (polar axis +Y, exponents ``e1`` (vertical), ``e2`` (around)).

    Uses the degree-1 homogeneous inside/outside function ``g = F^(e1/2)`` minus one, times the smallest
    radius: zero exactly on the surface, negative inside, exact for a sphere.
    """
    r = np.asarray(radii, dtype=np.float64)
    q = np.abs(p) / r
    xz = (q[:, 0] ** (2.0 / e2) + q[:, 2] ** (2.0 / e2)) ** (e2 / e1)
    f = xz + q[:, 1] ** (2.0 / e1)
    return (f ** (e1 / 2.0) - 1.0) * float(r.min())


def sd_polygon(q: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Exact signed distance from 2-D points ``q`` (N, 2) to a simple polygon ``vertices`` (M, 2)."""
    v = np.asarray(vertices, dtype=np.float64)
    d = np.sum((q - v[0]) ** 2, axis=1)
    sign = np.ones(len(q))
    for i in range(len(v)):
        j = i - 1
        e = v[j] - v[i]
        w = q - v[i]
        t = np.clip(w @ e / float(e @ e), 0.0, 1.0)
        b = w - t[:, None] * e
        d = np.minimum(d, np.sum(b * b, axis=1))
        c1 = q[:, 1] >= v[i, 1]
        c2 = q[:, 1] < v[j, 1]
        c3 = e[0] * w[:, 1] > e[1] * w[:, 0]
        flip = (c1 & c2 & c3) | (~c1 & ~c2 & ~c3)
        sign = np.where(flip, -sign, sign)
    return sign * np.sqrt(d)


def sd_extrusion(p: np.ndarray, vertices: np.ndarray, half_depth: float) -> np.ndarray:
    """Exact distance to a polygon in the XY plane extruded along Z by ``±half_depth``."""
    d = sd_polygon(p[:, :2], vertices)
    wz = np.abs(p[:, 2]) - half_depth
    outside = np.sqrt(np.maximum(d, 0.0) ** 2 + np.maximum(wz, 0.0) ** 2)
    return np.minimum(np.maximum(d, wz), 0.0) + outside


def sd_revolution(p: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """Exact distance to the solid of revolution about +Y of a polygon ``profile`` (M, 2) in (radius, y)."""
    q = np.stack([np.sqrt(p[:, 0] ** 2 + p[:, 2] ** 2), p[:, 1]], axis=1)
    return sd_polygon(q, profile)


def smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum with blend radius ``k`` (a bound of the union's distance)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1.0 - h) + a * h - k * h * (1.0 - h)


# ---------------------------------------------------------------------------------------------------
# A tiny SDF tree: primitives, rigid transforms and boolean combinations. Each node is callable on
# (N, 3) points and knows a conservative bounding box and its thinnest feature (for grid sizing).
# ---------------------------------------------------------------------------------------------------


class Shape:
    """Base of the SDF tree. ``lo``/``hi`` (3,) bound the surface; ``thickness`` is its thinnest feature."""

    lo: np.ndarray
    hi: np.ndarray
    thickness: float

    def __call__(self, points: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class Primitive(Shape):
    """A primitive in its local frame: ``fn(points, **params)`` with an explicit local bounding box."""

    def __init__(self, fn: Callable, params: dict, lo, hi, thickness: float):
        self.fn, self.params = fn, params
        self.lo, self.hi = np.asarray(lo, float), np.asarray(hi, float)
        self.thickness = float(thickness)

    def __call__(self, points):
        return self.fn(points, **self.params)


class Transformed(Shape):
    """``child`` placed by rotation ``rot`` (3, 3) then translation ``offset`` (3,): x_world = R x + t."""

    def __init__(self, child: Shape, rot: np.ndarray, offset):
        self.child, self.rot, self.offset = child, np.asarray(rot, float), np.asarray(offset, float)
        corners = np.array([[x, y, z] for x in (child.lo[0], child.hi[0]) for y in (child.lo[1], child.hi[1])
                            for z in (child.lo[2], child.hi[2])])
        world = corners @ self.rot.T + self.offset
        self.lo, self.hi = world.min(0), world.max(0)
        self.thickness = child.thickness

    def __call__(self, points):
        local = points - self.offset
        if not self._identity:
            local = local @ self.rot
        return self.child(local)

    @property
    def _identity(self) -> bool:
        return bool(np.array_equal(self.rot, _I3))


_I3 = np.eye(3)


class Union(Shape):
    """Union of shapes: ``min`` (``k == 0``) or polynomial smooth minimum with blend radius ``k``."""

    def __init__(self, children: list[Shape], k: float = 0.0):
        self.children, self.k = list(children), float(k)
        pad = self.k * 0.25
        self.lo = np.min([c.lo for c in self.children], axis=0) - pad
        self.hi = np.max([c.hi for c in self.children], axis=0) + pad
        self.thickness = min(c.thickness for c in self.children)

    def __call__(self, points):
        d = self.children[0](points)
        for child in self.children[1:]:
            e = child(points)
            d = smooth_min(d, e, self.k) if self.k > 0 else np.minimum(d, e)
        return d


class Difference(Shape):
    """``a`` minus ``b`` (``max(a, -b)``; a bound). ``thickness`` is the thinnest wall left, given by the caller."""

    def __init__(self, a: Shape, b: Shape, thickness: float):
        self.a, self.b = a, b
        self.lo, self.hi = a.lo, a.hi
        self.thickness = min(a.thickness, float(thickness))

    def __call__(self, points):
        return np.maximum(self.a(points), -self.b(points))


class Intersection(Shape):
    """Intersection ``max(a, b)`` (a bound); the box is ``a``'s clipped by ``b``'s."""

    def __init__(self, a: Shape, b: Shape):
        self.a, self.b = a, b
        self.lo, self.hi = np.maximum(a.lo, b.lo), np.minimum(a.hi, b.hi)
        self.thickness = min(a.thickness, b.thickness)

    def __call__(self, points):
        return np.maximum(self.a(points), self.b(points))


class Normalised(Shape):
    """``child`` mapped by ``x -> (x - centre) * scale`` (uniform scale keeps the SDF exact)."""

    def __init__(self, child: Shape, centre: np.ndarray, scale: float):
        self.child, self.centre, self.scale = child, np.asarray(centre, float), float(scale)
        self.lo, self.hi = (child.lo - self.centre) * self.scale, (child.hi - self.centre) * self.scale
        self.thickness = child.thickness * self.scale

    def __call__(self, points):
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        return self.child(pts / self.scale + self.centre) * self.scale


# --- rotations -------------------------------------------------------------------------------------


def rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], float)


def rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], float)


def rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], float)


def align_y(direction) -> np.ndarray:
    """Rotation (3, 3) taking +Y onto the unit vector along ``direction`` (Rodrigues)."""
    d = np.asarray(direction, float)
    d = d / np.linalg.norm(d)
    y = np.array([0.0, 1.0, 0.0])
    v = np.cross(y, d)
    c = float(y @ d)
    if np.linalg.norm(v) < 1e-9:
        return np.eye(3) if c > 0 else rot_x(math.pi)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


# --- primitive constructors (world placement) ------------------------------------------------------

_I = np.eye(3)


def box(center, half, r=0.0, rot=_I) -> Shape:
    half = np.asarray(half, float)
    r = min(r, 0.95 * half.min())
    prim = Primitive(sd_round_box, {"half": half, "radius": r}, -half, half, 2 * half.min())
    return Transformed(prim, rot, center)


def cylinder(center, radius, half_height, edge=0.0, rot=_I) -> Shape:
    edge = min(edge, 0.9 * radius, 0.9 * half_height)
    prim = Primitive(sd_cylinder, {"radius": radius, "half_height": half_height, "edge": edge},
                     [-radius, -half_height, -radius], [radius, half_height, radius],
                     2 * min(radius, half_height))
    return Transformed(prim, rot, center)


def rod(a, b, radius, edge=0.0) -> Shape:
    """A capped cylinder from point ``a`` to point ``b``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return cylinder((a + b) / 2, radius, np.linalg.norm(b - a) / 2, edge, align_y(b - a))


def capsule(a, b, radius) -> Shape:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return Primitive(sd_capsule, {"a": a, "b": b, "radius": radius},
                     np.minimum(a, b) - radius, np.maximum(a, b) + radius, 2 * radius)


def sphere(center, radius) -> Shape:
    return capsule(center, center, radius)


def cone(center, half_height, r_bottom, r_top, rot=_I) -> Shape:
    rmax = max(r_bottom, r_top)
    prim = Primitive(sd_capped_cone, {"half_height": half_height, "r_bottom": r_bottom, "r_top": r_top},
                     [-rmax, -half_height, -rmax], [rmax, half_height, rmax], 2 * min(rmax, half_height))
    return Transformed(prim, rot, center)


def torus(center, major, minor, rot=_I) -> Shape:
    e = major + minor
    prim = Primitive(sd_torus, {"major": major, "minor": minor}, [-e, -minor, -e], [e, minor, e], 2 * minor)
    return Transformed(prim, rot, center)


def ellipsoid(center, radii, rot=_I) -> Shape:
    radii = np.asarray(radii, float)
    prim = Primitive(sd_ellipsoid, {"radii": radii}, -radii, radii, 2 * radii.min())
    return Transformed(prim, rot, center)


def superellipsoid(center, radii, e1, e2, rot=_I) -> Shape:
    radii = np.asarray(radii, float)
    prim = Primitive(sd_superellipsoid, {"radii": radii, "e1": e1, "e2": e2}, -radii, radii, 2 * radii.min())
    return Transformed(prim, rot, center)


def tube(points, radius) -> Shape:
    """A swept tube: a ball of ``radius`` swept along the polyline ``points`` (M, 3)."""
    pts = np.asarray(points, float)
    return Union([capsule(pts[i], pts[i + 1], radius) for i in range(len(pts) - 1)])


def bezier(p0, p1, p2, n=10) -> np.ndarray:
    """``n + 1`` points (n+1, 3) on the quadratic Bezier curve p0-p1-p2."""
    t = np.linspace(0.0, 1.0, n + 1)[:, None]
    p0, p1, p2 = (np.asarray(v, float) for v in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2


def extrusion(center, polygon, half_depth, rot=_I, thickness=None) -> Shape:
    """Polygon (M, 2) in the local XY plane, extruded along local Z by ``±half_depth``."""
    poly = np.asarray(polygon, float)
    lo = np.r_[poly.min(0), -half_depth]
    hi = np.r_[poly.max(0), half_depth]
    thick = min(2 * half_depth, thickness if thickness is not None else (hi - lo)[:2].min())
    prim = Primitive(sd_extrusion, {"vertices": poly, "half_depth": half_depth}, lo, hi, thick)
    return Transformed(prim, rot, center)


def lathe(center, profile, thickness=None, rot=_I) -> Shape:
    """Solid of revolution about local +Y of a (radius, y) polygon ``profile`` (M, 2)."""
    prof = np.asarray(profile, float)
    rmax = prof[:, 0].max()
    lo = np.array([-rmax, prof[:, 1].min(), -rmax])
    hi = np.array([rmax, prof[:, 1].max(), rmax])
    thick = thickness if thickness is not None else min(rmax, hi[1] - lo[1])
    prim = Primitive(sd_revolution, {"profile": prof}, lo, hi, thick)
    return Transformed(prim, rot, center)


def sd_below_plane(p: np.ndarray, y0: float) -> np.ndarray:
    """Exact signed distance to the half space ``y <= y0``."""
    return p[:, 1] - y0


def half_space_below(y) -> Shape:
    """Everything below the plane at height ``y`` (for cutting shapes), with a very loose box."""
    big = 1e3
    return Primitive(sd_below_plane, {"y0": y}, [-big, -big, -big], [big, y, big], big)


# ---------------------------------------------------------------------------------------------------
# Sampler: random proportions and counts, with out-of-distribution draws for the test-ood split.
# ---------------------------------------------------------------------------------------------------


class Sampler:
    """Draws a category's parameters from ``rng``.

    ``prop(lo, hi)`` marks a proportion and ``count(lo, hi)`` a repeat count (inclusive). In ``ood`` mode
    each one is drawn, with probability 1/2, just above its training range (proportions up to 35 % of the
    range beyond ``hi``, counts ``hi + 1`` or ``hi + 2``); the draws that left the range are recorded in
    ``ood_params``. Other draws (``u``, ``chance``, ``choice``) never change with ``ood``.
    """

    def __init__(self, rng: np.random.Generator, ood: bool = False):
        self.rng, self.ood = rng, ood
        self.ood_params: list[str] = []

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def prop(self, lo: float, hi: float, name: str = "prop") -> float:
        x = float(self.rng.uniform(lo, hi))
        flip = float(self.rng.random())
        if self.ood and flip < 0.5:
            x = hi + (0.1 + 0.25 * (x - lo) / (hi - lo)) * (hi - lo)
            self.ood_params.append(name)
        return x

    def count(self, lo: int, hi: int, name: str = "count") -> int:
        n = int(self.rng.integers(lo, hi + 1))
        flip = float(self.rng.random())
        if self.ood and flip < 0.5:
            n = hi + 1 + int(self.rng.integers(0, 2))
            self.ood_params.append(name)
        return n

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def choice(self, options):
        return options[int(self.rng.integers(0, len(options)))]


# ---------------------------------------------------------------------------------------------------
# Category grammars. Each returns a list of (semantic name, Shape) in object units, +Y up, front +Z.
# ---------------------------------------------------------------------------------------------------

PartList = list[tuple[str, Shape]]


def _legs(corners_xz, y_top, y_bottom, radius, square: bool, splay=0.0) -> PartList:
    parts = []
    for x, z in corners_xz:
        top = np.array([x, y_top, z])
        bottom = np.array([x * (1 + splay), y_bottom, z * (1 + splay)])
        if square:
            mid = (top + bottom) / 2
            h = np.linalg.norm(top - bottom) / 2
            parts.append(("leg", box(mid, [radius, h, radius], 0.2 * radius, align_y(top - bottom))))
        else:
            parts.append(("leg", rod(bottom, top, radius, 0.2 * radius)))
    return parts


def chair(s: Sampler) -> PartList:
    w = s.prop(0.45, 0.65, "seat_width")
    d = s.u(0.45, 0.6)
    seat_y = s.prop(0.8, 1.0, "seat_height")
    t = s.u(0.05, 0.09)
    leg_r = s.u(0.035, 0.05)
    square = s.chance(0.5)
    parts: PartList = [("seat", box([0, seat_y, 0], [w, t, d], s.u(0.01, 0.04)))]
    inset = leg_r + 0.03
    corners = [(sx * (w - inset), sz * (d - inset)) for sx in (-1, 1) for sz in (-1, 1)]
    parts += _legs(corners, seat_y - t * 0.5, 0.0, leg_r, square, s.u(0.0, 0.12))
    back_h = s.prop(0.7, 1.0, "back_height")
    back_z = -d + 0.04
    if s.chance(0.5):
        parts.append(("backrest", box([0, seat_y + back_h / 2 + t * 0.5, back_z], [w * 0.95, back_h / 2, 0.04],
                                      0.02, rot_x(-s.u(0.0, 0.15)))))
    else:
        top_y = seat_y + back_h
        parts.append(("back_rail", box([0, top_y, back_z], [w, 0.08, 0.05], 0.02)))
        n = s.count(2, 4, "slats")
        for i in range(n):
            x = -w * 0.75 + 1.5 * w * (i + 0.5) / n
            parts.append(("back_slat", box([x, (seat_y + top_y) / 2, back_z], [0.035, (top_y - seat_y) / 2, 0.03], 0.01)))
    if s.chance(0.35):
        for sx in (-1, 1):
            parts.append(("armrest", box([sx * (w - 0.03), seat_y + 0.3, 0.0], [0.04, 0.035, d * 0.85], 0.02)))
            parts[-1] = ("armrest", Union([parts[-1][1], rod([sx * (w - 0.03), seat_y, d * 0.7],
                                                                [sx * (w - 0.03), seat_y + 0.3, d * 0.7], 0.03)]))
    return parts


def table(s: Sampler) -> PartList:
    h = s.prop(1.0, 1.4, "height")
    t = s.u(0.05, 0.09)
    parts: PartList = []
    if s.chance(0.6):
        w, d = s.prop(0.9, 1.5, "width"), s.u(0.5, 0.9)
        parts.append(("tabletop", box([0, h, 0], [w, t, d], s.u(0.01, 0.05))))
        r = s.u(0.04, 0.07)
        corners = [(sx * (w - 0.12), sz * (d - 0.12)) for sx in (-1, 1) for sz in (-1, 1)]
        parts += _legs(corners, h - t * 0.5, 0.0, r, s.chance(0.5))
        if s.chance(0.4):
            parts.append(("shelf", box([0, h * s.u(0.2, 0.35), 0], [w - 0.12, 0.03, d - 0.12], 0.01)))
    else:
        rad = s.prop(0.6, 0.9, "radius")
        parts.append(("tabletop", cylinder([0, h, 0], rad, t, 0.02)))
        parts.append(("pedestal", rod([0, 0.05, 0], [0, h - t * 0.5, 0], s.u(0.06, 0.1))))
        if s.chance(0.5):
            parts.append(("base", cylinder([0, 0.04, 0], rad * s.u(0.4, 0.6), 0.04, 0.02)))
        else:
            n = s.count(3, 4, "feet")
            for i in range(n):
                a = 2 * math.pi * i / n
                parts.append(("foot", capsule([0, 0.06, 0], [rad * 0.6 * math.cos(a), 0.04, rad * 0.6 * math.sin(a)], 0.04)))
    return parts


def stool(s: Sampler) -> PartList:
    h = s.prop(0.9, 1.5, "height")
    r = s.u(0.3, 0.45)
    parts: PartList = [("seat", cylinder([0, h, 0], r, s.u(0.04, 0.07), 0.03))]
    n = s.count(3, 4, "legs")
    spread = s.u(1.1, 1.4)
    for i in range(n):
        a = 2 * math.pi * (i + 0.5) / n
        top = np.array([0.7 * r * math.cos(a), h, 0.7 * r * math.sin(a)])
        bottom = np.array([spread * r * math.cos(a), 0.0, spread * r * math.sin(a)])
        parts.append(("leg", capsule(bottom + [0, 0.03, 0], top, 0.03)))
    if s.chance(0.6):
        y = h * s.u(0.3, 0.45)
        frac = y / h
        rr = (1 - frac) * spread * r + frac * 0.7 * r
        parts.append(("footring", torus([0, y, 0], rr, 0.025)))
    return parts


def bench(s: Sampler) -> PartList:
    w = s.prop(1.6, 2.2, "length")
    h = s.u(0.6, 0.8)
    n = s.count(2, 4, "planks")
    d = 0.55
    parts: PartList = []
    pw = d / n
    for i in range(n):
        z = -d / 2 + pw * (i + 0.5)
        parts.append(("plank", box([0, h, z], [w / 2, 0.04, pw / 2 * 0.85], 0.015)))
    for sx in (-1, 1):
        x = sx * (w / 2 - 0.2)
        parts.append(("leg_frame", box([x, (h - 0.04) / 2, 0], [0.05, (h - 0.04) / 2 + 0.02, d / 2], 0.02)))
    if s.chance(0.5):
        bh = s.u(0.3, 0.5)
        parts.append(("backrest", box([0, h + bh, -d / 2 - 0.02], [w / 2, bh * 0.4, 0.03], 0.015)))
        for sx in (-1, 1):
            parts.append(("back_post", box([sx * (w / 2 - 0.2), h + bh / 2, -d / 2 - 0.02], [0.04, bh / 2 + 0.05, 0.04], 0.01)))
    return parts


def bookshelf(s: Sampler) -> PartList:
    h = s.prop(1.6, 2.2, "height")
    w = s.u(0.7, 1.1)
    d = s.u(0.25, 0.4)
    t = 0.04
    parts: PartList = []
    for sx in (-1, 1):
        parts.append(("side_panel", box([sx * (w / 2 - t), h / 2, 0], [t, h / 2, d / 2], 0.005)))
    parts.append(("bottom_panel", box([0, t + 0.05, 0], [w / 2 - t, t, d / 2], 0.005)))
    parts.append(("top_panel", box([0, h - t, 0], [w / 2, t, d / 2 + 0.01], 0.005)))
    n = s.count(2, 4, "shelves")
    for i in range(n):
        y = t + 0.05 + (h - 2 * t - 0.05) * (i + 1) / (n + 1)
        parts.append(("shelf", box([0, y, 0], [w / 2 - t - 0.005, 0.025, d / 2 - 0.01], 0.005)))
    if s.chance(0.5):
        parts.append(("back_panel", box([0, h / 2, -d / 2 + 0.01], [w / 2 - 0.01, h / 2 - 0.01, 0.02], 0.003)))
    return parts


def cabinet(s: Sampler) -> PartList:
    h = s.prop(1.0, 1.5, "height")
    w = s.u(0.6, 0.9)
    d = s.u(0.4, 0.55)
    legs = s.chance(0.5)
    y0 = 0.15 if legs else 0.0
    parts: PartList = [("body", box([0, y0 + h / 2, 0], [w / 2, h / 2, d / 2], 0.01))]
    n = s.count(2, 4, "drawers")
    gap = 0.03
    dh = (h - gap * (n + 1)) / n
    round_handle = s.chance(0.5)
    for i in range(n):
        y = y0 + gap + dh / 2 + i * (dh + gap)
        parts.append(("drawer", box([0, y, d / 2 + 0.005], [w / 2 - 0.04, dh / 2, 0.03], 0.01)))
        if round_handle:
            parts.append(("handle", sphere([0, y, d / 2 + 0.05], 0.035)))
        else:
            parts.append(("handle", capsule([-0.1, y, d / 2 + 0.05], [0.1, y, d / 2 + 0.05], 0.02)))
    if legs and n <= 4:
        corners = [(sx * (w / 2 - 0.05), sz * (d / 2 - 0.05)) for sx in (-1, 1) for sz in (-1, 1)]
        parts += _legs(corners, y0 + 0.02, 0.0, 0.03, False)
    return parts


def bed(s: Sampler) -> PartList:
    length = s.prop(1.8, 2.2, "length")
    w = s.u(1.0, 1.6)
    fh = s.u(0.25, 0.35)
    parts: PartList = [("frame", box([0, fh, 0], [w / 2, 0.08, length / 2], 0.02))]
    mt = s.u(0.1, 0.16)
    parts.append(("mattress", box([0, fh + 0.08 + mt - 0.02, 0.02], [w / 2 - 0.04, mt, length / 2 - 0.05], 0.06)))
    hb = s.u(0.5, 0.8)
    parts.append(("headboard", box([0, hb / 2 + 0.1, -length / 2 - 0.03], [w / 2 + 0.03, hb / 2 + 0.1, 0.04], 0.02)))
    if s.chance(0.5):
        parts.append(("footboard", box([0, 0.3, length / 2 + 0.03], [w / 2 + 0.03, 0.3, 0.04], 0.02)))
    n = s.count(1, 2, "pillows")
    for i in range(n):
        x = 0.0 if n == 1 else (-w / 4 + w / 2 * i)
        pw = (w / 2 - 0.1) if n == 1 else w / 4 - 0.04
        parts.append(("pillow", superellipsoid([x, fh + 0.08 + 2 * mt + 0.02, -length / 2 + 0.25],
                                               [pw, 0.07, 0.15], 0.5, 0.5)))
    corners = [(sx * (w / 2 - 0.06), sz * (length / 2 - 0.06)) for sx in (-1, 1) for sz in (-1, 1)]
    parts += _legs(corners, fh - 0.05, 0.0, 0.04, True)
    return parts


def sofa(s: Sampler) -> PartList:
    n = s.count(2, 3, "seats")
    w = s.prop(0.5, 0.65, "seat_width") * n
    d = s.u(0.8, 1.0)
    bh = s.u(0.25, 0.35)
    parts: PartList = [("base", box([0, 0.15 + bh / 2, 0], [w / 2, bh / 2, d / 2], 0.04))]
    top = 0.15 + bh
    cw = w / n
    ch = s.u(0.1, 0.15)
    for i in range(n):
        x = -w / 2 + cw * (i + 0.5)
        parts.append(("seat_cushion", box([x, top + ch - 0.02, 0.05], [cw / 2 - 0.01, ch, d / 2 - 0.1], 0.05)))
    back_h = s.u(0.4, 0.6)
    if s.chance(0.5):
        parts.append(("back", box([0, top + back_h / 2, -d / 2 + 0.1], [w / 2, back_h / 2 + 0.05, 0.1], 0.05)))
    else:
        for i in range(n):
            x = -w / 2 + cw * (i + 0.5)
            parts.append(("back_cushion", box([x, top + back_h / 2 + 0.05, -d / 2 + 0.12], [cw / 2 - 0.01, back_h / 2, 0.1],
                                              0.06, rot_x(-0.15))))
    aw = s.u(0.08, 0.15)
    ah = s.u(0.25, 0.4)
    for sx in (-1, 1):
        parts.append(("armrest", box([sx * (w / 2 + aw - 0.01), 0.15 + (bh + ah) / 2, 0], [aw, (bh + ah) / 2, d / 2], 0.05)))
    if s.chance(0.6):
        corners = [(sx * (w / 2 + aw - 0.06), sz * (d / 2 - 0.08)) for sx in (-1, 1) for sz in (-1, 1)]
        parts += _legs(corners, 0.17, 0.0, 0.035, False)
    return parts


def desk_lamp(s: Sampler) -> PartList:
    br = s.u(0.25, 0.35)
    parts: PartList = [("base", cylinder([0, 0.04, 0], br, 0.04, 0.02))]
    l1 = s.prop(0.6, 0.9, "arm_length")
    a1 = s.u(-0.35, 0.35)
    j1 = np.array([l1 * math.sin(a1), 0.08 + l1 * math.cos(a1), 0.0])
    parts.append(("lower_arm", capsule([0, 0.06, 0], j1, 0.03)))
    parts.append(("joint", sphere(j1, 0.055)))
    l2 = s.u(0.5, 0.8)
    a2 = s.u(0.9, 1.6) * (1 if a1 <= 0 else -1) * -1
    j2 = j1 + np.array([l2 * math.sin(a2), l2 * math.cos(a2), 0])
    parts.append(("upper_arm", capsule(j1, j2, 0.028)))
    sh = s.u(0.15, 0.25)
    shade_dir = np.array([math.sin(a2) * 0.6, -1.0, 0.0])
    rot = align_y(-shade_dir)
    centre = j2 + rot @ np.array([0, -sh * 0.7, 0])
    shade = Difference(cone(centre, sh, s.u(0.2, 0.3), 0.06, rot), cone(centre + rot @ [0, -0.04, 0], sh, 0.18, 0.04, rot), 0.03)
    parts.append(("shade", shade))
    if s.chance(0.6):
        parts.append(("bulb", sphere(centre + rot @ np.array([0, -sh * 0.5, 0]), 0.08)))
    return parts


def floor_lamp(s: Sampler) -> PartList:
    h = s.prop(1.8, 2.3, "height")
    parts: PartList = []
    if s.chance(0.5):
        parts.append(("base", cylinder([0, 0.03, 0], s.u(0.2, 0.3), 0.03, 0.015)))
        parts.append(("pole", rod([0, 0.04, 0], [0, h, 0], 0.025)))
    else:
        parts.append(("pole", rod([0, 0.4, 0], [0, h, 0], 0.025)))
        n = s.count(3, 3, "feet")
        for i in range(n):
            a = 2 * math.pi * i / n
            parts.append(("leg", capsule([0, 0.45, 0], [0.35 * math.cos(a), 0.03, 0.35 * math.sin(a)], 0.022)))
    sh = s.u(0.15, 0.25)
    rb, rt = s.u(0.25, 0.35), s.u(0.12, 0.2)
    c = [0, h - sh * 0.3, 0]
    parts.append(("shade", Difference(cone(c, sh, rb, rt), cone(c, sh + 0.01, rb - 0.03, rt - 0.03), 0.03)))
    if s.chance(0.5):
        parts.append(("finial", sphere([0, h + sh * 0.7 + 0.04, 0], 0.04)))
        parts[-1] = ("finial", Union([parts[-1][1], rod([0, h - 0.05, 0], [0, h + sh * 0.7 + 0.02, 0], 0.012)]))
    return parts


def _cup_profile(r_bottom, r_top, height, wall, bottom):
    return np.array([[0, 0], [r_bottom, 0], [r_top, height], [r_top - wall, height],
                     [r_bottom - wall, bottom], [0, bottom]])


def mug(s: Sampler) -> PartList:
    r = s.u(0.4, 0.55)
    h = s.prop(0.9, 1.3, "height")
    wall = 0.06
    y0 = 0.0
    parts: PartList = []
    if s.chance(0.35):
        parts.append(("saucer", lathe([0, 0, 0], [[0, 0], [r * 1.7, 0.04], [r * 1.8, 0.1], [r * 1.7, 0.11],
                                                  [r * 1.2, 0.07], [0, 0.05]], thickness=0.05)))
        y0 = 0.045
    rt = r * s.u(1.0, 1.15)
    parts.append(("body", lathe([0, y0, 0], _cup_profile(r, rt, h, wall, 0.08), thickness=wall)))
    hr = s.u(0.25, 0.35) * h
    pts = bezier([rt - 0.03, y0 + h * 0.8, 0], [rt + hr * 1.3, y0 + h * 0.5, 0], [r - 0.03, y0 + h * 0.2, 0], 10)
    parts.append(("handle", tube(pts, s.u(0.045, 0.06))))
    return parts


def bottle(s: Sampler) -> PartList:
    r = s.u(0.3, 0.45)
    h = s.prop(1.2, 1.6, "height")
    nr = r * s.u(0.3, 0.45)
    sh = h * s.u(0.55, 0.7)
    prof = [[0, 0], [r * 0.9, 0], [r, 0.08], [r, sh], [nr, sh + 0.3 * (h - sh)], [nr, h], [0, h]]
    parts: PartList = [("body", lathe([0, 0, 0], prof))]
    cap_h = s.u(0.08, 0.15)
    parts.append(("cap", cylinder([0, h + cap_h / 2 - 0.04, 0], nr + 0.025, cap_h / 2, 0.015)))
    if s.chance(0.6):
        ly = sh * s.u(0.35, 0.6)
        parts.append(("label", cylinder([0, ly, 0], r + 0.015, sh * 0.2, 0.005)))
    return parts


def teapot(s: Sampler) -> PartList:
    r = s.prop(0.6, 0.8, "body_radius")
    hy = r * s.u(0.65, 0.85)
    parts: PartList = [("body", ellipsoid([0, hy, 0], [r, hy, r]))]
    top = 2 * hy
    parts.append(("lid", ellipsoid([0, top - 0.05, 0], [r * 0.5, 0.1, r * 0.5])))
    parts.append(("knob", sphere([0, top + 0.08, 0], 0.07)))
    sx = s.choice([-1, 1])
    base = np.array([sx * r * 0.7, hy * 0.8, 0])
    tip = np.array([sx * (r + s.u(0.35, 0.5)), top * s.u(0.8, 1.0), 0])
    pts = bezier(base, [sx * (r + 0.2), hy * 0.9, 0], tip, 6)
    spout = Union([capsule(pts[i], pts[i + 1], 0.1 - 0.05 * i / 6) for i in range(6)], k=0.03)
    parts.append(("spout", spout))
    hp = bezier([-sx * r * 0.8, top * 0.8, 0], [-sx * (r + 0.45), hy, 0], [-sx * r * 0.85, hy * 0.35, 0], 10)
    parts.append(("handle", tube(hp, 0.05)))
    return parts


def vase_with_flowers(s: Sampler) -> PartList:
    r = s.u(0.3, 0.4)
    h = s.prop(0.8, 1.1, "vase_height")
    mr = r * s.u(0.5, 0.7)
    prof = [[0, 0], [r * 0.7, 0], [r, h * 0.4], [mr, h * 0.85], [mr * 1.2, h], [mr * 1.2 - 0.05, h],
            [mr - 0.05, h * 0.85], [0, h * 0.8]]
    parts: PartList = [("vase", lathe([0, 0, 0], prof, thickness=0.05))]
    n = s.count(1, 4, "stems")
    if n == 1:
        ty = h + s.u(0.6, 0.9)
        parts.append(("stem", tube(bezier([0, h * 0.8, 0], [0.05, (h + ty) / 2, 0.02], [0, ty, 0], 6), 0.025)))
        parts.append(("flower_centre", sphere([0, ty, 0.02], 0.08)))
        m = s.count(5, 7, "petals")
        pl = s.u(0.15, 0.22)
        for i in range(m):
            a = 2 * math.pi * i / m
            c = np.array([math.cos(a) * (pl + 0.02), ty + math.sin(a) * (pl + 0.02), 0.0])
            parts.append(("petal", ellipsoid(c, [pl, 0.07, 0.025], rot_z(a))))
        return parts
    for i in range(n):
        a = 2 * math.pi * i / n + s.u(-0.3, 0.3)
        lean = s.u(0.15, 0.4)
        ty = h + s.u(0.4, 0.8)
        tip = np.array([lean * math.cos(a), ty, lean * math.sin(a)])
        parts.append(("stem", tube(bezier([0, h * 0.8, 0], [tip[0] * 0.3, (h + ty) / 2, tip[2] * 0.3], tip, 6), 0.022)))
        petals = [sphere(tip + [0, 0.02, 0], 0.06)]
        for j in range(5):
            b = 2 * math.pi * j / 5
            petals.append(ellipsoid(tip + [0.08 * math.cos(b), 0.03, 0.08 * math.sin(b)], [0.08, 0.03, 0.08]))
        parts.append(("flower", Union(petals, k=0.03)))
    return parts


def bucket(s: Sampler) -> PartList:
    rb = s.u(0.45, 0.6)
    rt = rb * s.prop(1.15, 1.35, "flare")
    h = s.u(0.9, 1.2)
    wall = 0.05
    parts: PartList = [("body", lathe([0, 0, 0], _cup_profile(rb, rt, h, wall, 0.06), thickness=wall))]
    if s.chance(0.6):
        parts.append(("rim", torus([0, h - 0.02, 0], rt - wall / 2, 0.045)))
    hy = h * 0.85
    rr = rb + (rt - rb) * 0.85 + 0.02
    arc = [[rr * math.cos(t), hy + rr * 0.9 * math.sin(t), 0] for t in np.linspace(0, math.pi, 14)]
    parts.append(("handle", tube(arc, 0.025)))
    if s.chance(0.5):
        for sx in (-1, 1):
            parts.append(("handle_mount", box([sx * (rr - 0.03), hy, 0], [0.05, 0.06, 0.06], 0.015)))
    return parts


def _wheel(center, radius, width, tyre: bool) -> Shape:
    rot = rot_x(math.pi / 2)
    if tyre:
        return Union([torus(center, radius - width * 0.5, width * 0.5, rot),
                      cylinder(center, radius - width * 0.5, width * 0.35, 0.01, rot)])
    return cylinder(center, radius, width / 2, width * 0.2, rot)


def car(s: Sampler) -> PartList:
    length = s.prop(1.8, 2.2, "length")
    w = s.u(0.8, 1.0)
    wr = s.u(0.2, 0.26)
    bh = s.u(0.25, 0.35)
    by = wr + 0.05 + bh / 2
    parts: PartList = [("body", box([0, by, 0], [length / 2, bh / 2, w / 2], 0.08))]
    cl = length * s.u(0.4, 0.55)
    ch = s.u(0.2, 0.3)
    cx = s.u(-0.15, 0.05)
    parts.append(("cabin", superellipsoid([cx, by + bh / 2 + ch * 0.6, 0], [cl / 2, ch, w / 2 - 0.05], 0.4, 0.4)))
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(("wheel", _wheel([sx * (length / 2 - wr - 0.12), wr, sz * (w / 2 - 0.02)], wr, 0.16, True)))
    if s.chance(0.4):
        parts.append(("spoiler", Union([box([-length / 2 + 0.08, by + bh / 2 + 0.12, 0], [0.08, 0.02, w / 2 - 0.05], 0.01),
                                        box([-length / 2 + 0.08, by + bh / 2 + 0.05, 0], [0.03, 0.07, 0.04], 0.01)])))
    if s.chance(0.6):
        for sz in (-1, 1):
            parts.append(("headlight", ellipsoid([length / 2 - 0.02, by + 0.03, sz * (w / 2 - 0.15)], [0.05, 0.05, 0.09])))
    return parts


def truck(s: Sampler) -> PartList:
    length = s.prop(2.0, 2.4, "length")
    w = s.u(0.8, 0.95)
    wr = s.u(0.18, 0.24)
    parts: PartList = [("chassis", box([0, wr + 0.05, 0], [length / 2, 0.06, w / 2 - 0.1], 0.02))]
    cab_l = s.u(0.45, 0.6)
    cab_h = s.u(0.6, 0.75)
    top = wr + 0.11
    parts.append(("cab", box([length / 2 - cab_l / 2, top + cab_h / 2, 0], [cab_l / 2, cab_h / 2, w / 2], 0.06)))
    cargo_l = length - cab_l - 0.05
    cargo_h = s.u(0.6, 0.9)
    parts.append(("cargo", box([-length / 2 + cargo_l / 2, top + cargo_h / 2, 0], [cargo_l / 2, cargo_h / 2, w / 2 + 0.02], 0.03)))
    n = s.count(2, 3, "axles")
    xs = [length / 2 - cab_l / 2] + list(np.linspace(-length / 2 + wr + 0.1, -length / 2 + wr + 0.1 + (n - 2) * (2 * wr + 0.06), n - 1))
    for x in xs:
        for sz in (-1, 1):
            parts.append(("wheel", _wheel([x, wr, sz * (w / 2 - 0.05)], wr, 0.15, False)))
    return parts


def airplane(s: Sampler) -> PartList:
    length = s.prop(2.0, 2.4, "length")
    fr = s.u(0.12, 0.17)
    y = 0.6
    parts: PartList = [("fuselage", ellipsoid([0, y, 0], [length / 2, fr, fr]))]
    span = s.prop(0.8, 1.1, "wingspan")
    chord = s.u(0.25, 0.4)
    sweep = s.u(0.0, 0.3)
    wing = np.array([[chord / 2, 0], [-chord / 2, 0], [-chord / 2 - sweep, span], [-chord / 2 - sweep + chord * 0.5, span]])
    wx = s.u(-0.1, 0.15)
    for sz in (-1, 1):
        rot = rot_x(-math.pi / 2) if sz > 0 else rot_x(math.pi / 2)
        parts.append(("wing", extrusion([wx, y - fr * 0.3, sz * fr * 0.5], wing, 0.025, rot)))
    tail = np.array([[0.12, 0], [-0.1, 0], [-0.15, 0.3], [-0.02, 0.3]])
    tx = -length / 2 + 0.18
    for sz in (-1, 1):
        rot = rot_x(-math.pi / 2) if sz > 0 else rot_x(math.pi / 2)
        parts.append(("stabilizer", extrusion([tx, y, sz * fr * 0.3], tail, 0.02, rot)))
    fin = np.array([[0.15, 0], [-0.15, 0], [-0.2, 0.35], [-0.05, 0.35]])
    parts.append(("fin", extrusion([tx, y + fr * 0.6, 0], fin, 0.02)))
    n = s.choice([0, 2, 4])
    for i in range(n):
        sz = -1 if i % 2 == 0 else 1
        z = sz * span * (0.35 if i < 2 else 0.7)
        xe = wx - sweep * abs(z) / span + 0.1
        parts.append(("engine", rod([xe - 0.18, y - fr - 0.05, z], [xe + 0.12, y - fr - 0.05, z], 0.065, 0.02)))
        parts[-1] = ("engine", Union([parts[-1][1], box([xe, y - fr * 0.5, z], [0.06, fr * 0.5, 0.015])]))
    return parts


def rocket(s: Sampler) -> PartList:
    r = s.u(0.18, 0.25)
    h = s.prop(1.3, 1.7, "body_height")
    y0 = 0.3
    parts: PartList = [("body", cylinder([0, y0 + h / 2, 0], r, h / 2, 0.01))]
    nh = s.u(0.3, 0.5)
    parts.append(("nose_cone", cone([0, y0 + h + nh / 2 - 0.02, 0], nh / 2, r, 0.02)))
    parts.append(("nozzle", cone([0, y0 - 0.1, 0], 0.12, r * 0.8, r * 0.5)))
    n = s.count(3, 4, "fins")
    fh = s.u(0.35, 0.5)
    fin = np.array([[0, 0], [r * 0.2 + 0.3, -0.1], [r * 0.2 + 0.3, 0.05], [0, fh]])
    for i in range(n):
        a = 2 * math.pi * i / n
        parts.append(("fin", extrusion([0, y0 - 0.05, 0], fin + [r * 0.8, 0], 0.02, rot_y(a))))
    if s.chance(0.3):
        for sx in (-1, 1):
            c = [sx * (r + 0.08), y0 + h * 0.3, 0]
            parts.append(("booster", Union([cylinder(c, 0.08, h * 0.25, 0.01),
                                            cone([c[0], y0 + h * 0.55 + 0.07, 0], 0.08, 0.08, 0.01)])))
    return parts


def boat(s: Sampler) -> PartList:
    length = s.prop(1.8, 2.2, "length")
    w = s.u(0.5, 0.7)
    hull_h = s.u(0.3, 0.4)
    hull_e = superellipsoid([0, hull_h, 0], [length / 2, hull_h, w / 2], 0.6, 1.0)
    parts: PartList = [("hull", Intersection(hull_e, half_space_below(hull_h + 0.05)))]
    kind = s.choice(["sail", "motor"])
    if kind == "sail":
        mh = s.prop(1.2, 1.6, "mast_height")
        parts.append(("mast", rod([0.1, hull_h - 0.05, 0], [0.1, hull_h + mh, 0], 0.025)))
        sail = np.array([[0.05, 0.15], [-length * 0.35, 0.12], [0.05, mh - 0.05]])
        parts.append(("sail", extrusion([0.05, hull_h, 0], sail, 0.015)))
        if s.chance(0.5):
            jib = np.array([[0.15, 0.15], [length * 0.38, 0.1], [0.15, mh * 0.85]])
            parts.append(("jib", extrusion([0.0, hull_h, 0], jib, 0.015)))
    else:
        cl = s.u(0.5, 0.8)
        parts.append(("cabin", box([-0.1, hull_h + 0.2, 0], [cl / 2, 0.2, w / 2 - 0.1], 0.04)))
        if s.chance(0.7):
            parts.append(("chimney", rod([-0.2, hull_h + 0.3, 0], [-0.25, hull_h + 0.65, 0], 0.07)))
    if s.chance(0.4):
        parts.append(("rudder", box([-length / 2 + 0.05, hull_h * 0.4, 0], [0.08, 0.15, 0.015], 0.01)))
    return parts


def bicycle(s: Sampler) -> PartList:
    wr = s.prop(0.45, 0.55, "wheel_radius")
    wb = s.u(1.0, 1.2)
    tr = 0.03
    parts: PartList = []
    rear = np.array([-wb / 2, wr, 0.0])
    front = np.array([wb / 2, wr, 0.0])
    n_spokes = s.count(3, 6, "spokes")
    for c in (rear, front):
        spokes = [capsule(c, c + (wr - 0.03) * np.array([math.cos(a), math.sin(a), 0.0]), 0.015)
                  for a in np.linspace(0, 2 * math.pi, n_spokes, endpoint=False)]
        parts.append(("wheel", Union([torus(c, wr - 0.03, 0.03, rot_x(math.pi / 2)),
                                      cylinder(c, 0.06, 0.04, 0.01, rot_x(math.pi / 2))] + spokes)))
    bb = np.array([-0.05, wr - 0.05, 0.0])
    seat_top = np.array([-wb / 2 + 0.3, wr + s.u(0.55, 0.7), 0.0])
    head = np.array([wb / 2 - 0.2, wr + s.u(0.5, 0.65), 0.0])
    frame = [capsule(rear, bb, tr), capsule(bb, seat_top, tr), capsule(seat_top, rear, tr * 0.9),
             capsule(bb, head, tr * 1.1), capsule(seat_top, head, tr)]
    parts.append(("frame", Union(frame, k=0.02)))
    bar_top = head + [-0.05, 0.2, 0]
    parts.append(("fork", Union([capsule(front, head, 0.028), capsule(head, bar_top, 0.028)])))
    parts.append(("handlebar", capsule(bar_top + [0, 0, -0.28], bar_top + [0, 0, 0.28], 0.025)))
    parts.append(("saddle", superellipsoid(seat_top + [0, 0.06, 0], [0.16, 0.04, 0.08], 0.5, 0.8)))
    if s.chance(0.6):
        crank = Union([capsule(bb + [-0.09, -0.09, 0.06], bb + [0.09, 0.09, -0.06], 0.022),
                       cylinder(bb, 0.1, 0.02, 0.005, rot_x(math.pi / 2))])
        parts.append(("crank", crank))
    return parts


def humanoid_toy(s: Sampler) -> PartList:
    tw = s.u(0.28, 0.36)
    th = s.prop(0.45, 0.6, "torso_height")
    ll = s.u(0.6, 0.8)
    parts: PartList = []
    hip = ll + 0.05
    for sx in (-1, 1):
        parts.append(("leg", capsule([sx * tw * 0.45, 0.07, 0], [sx * tw * 0.45, hip + 0.05, 0], 0.08)))
    parts.append(("torso", superellipsoid([0, hip + th / 2, 0], [tw, th / 2 + 0.05, tw * 0.6], 0.6, 1.0)))
    hr = s.u(0.2, 0.27)
    hy = hip + th + hr
    parts.append(("head", sphere([0, hy, 0], hr)))
    sy = hip + th - 0.05
    arm_a = s.u(0.1, 0.6)
    for sx in (-1, 1):
        end = np.array([sx * (tw + 0.5 * math.sin(arm_a) + 0.05), sy - 0.5 * math.cos(arm_a), 0.05])
        parts.append(("arm", capsule([sx * (tw - 0.02), sy, 0], end, 0.065)))
    if s.chance(0.5):
        parts.append(("hat", Union([cylinder([0, hy + hr * 0.75, 0], hr * 1.3, 0.02, 0.01),
                                    cylinder([0, hy + hr * 0.75 + 0.12, 0], hr * 0.75, 0.12, 0.02)])))
    if s.chance(0.5):
        for sx in (-1, 1):
            parts.append(("eye", sphere([sx * hr * 0.35, hy + hr * 0.1, hr * 0.9], 0.045)))
    return parts


def robot(s: Sampler) -> PartList:
    tw = s.prop(0.35, 0.45, "torso_width")
    th = s.u(0.5, 0.65)
    ll = s.u(0.45, 0.6)
    parts: PartList = []
    for sx in (-1, 1):
        parts.append(("leg", box([sx * tw * 0.5, ll / 2 + 0.04, 0], [0.08, ll / 2 + 0.04, 0.1], 0.02)))
        parts.append(("foot", box([sx * tw * 0.5, 0.04, 0.05], [0.11, 0.04, 0.17], 0.02)))
    parts.append(("torso", box([0, ll + th / 2, 0], [tw, th / 2 + 0.03, tw * 0.6], s.u(0.02, 0.08))))
    hs = s.u(0.15, 0.22)
    hy = ll + th + hs + 0.02
    parts.append(("head", box([0, hy, 0], [hs * 1.1, hs, hs], 0.04)))
    if s.chance(0.6):
        parts.append(("antenna", Union([rod([0, hy + hs - 0.02, 0], [0, hy + hs + 0.2, 0], 0.015),
                                        sphere([0, hy + hs + 0.22, 0], 0.04)])))
    sy = ll + th - 0.08
    for sx in (-1, 1):
        end = np.array([sx * (tw + 0.12), sy - 0.45, 0.08])
        parts.append(("arm", capsule([sx * (tw + 0.04), sy, 0], end, 0.06)))
        parts.append(("hand", box(end + [0, -0.07, 0], [0.06, 0.07, 0.06], 0.02)))
    return parts


def snowman(s: Sampler) -> PartList:
    n = s.count(2, 3, "balls")
    radii = sorted([s.u(0.35, 0.5) * (0.75 ** i) for i in range(n)], reverse=True)
    parts: PartList = []
    y = 0.0
    centres = []
    for i, r in enumerate(radii):
        y += r if i == 0 else r * 0.85
        centres.append(y)
        parts.append(("body_ball" if i < n - 1 else "head", sphere([0, y, 0], r)))
        y += r * 0.85
    hr, hy = radii[-1], centres[-1]
    parts.append(("nose", cone([0, hy, hr + 0.08], 0.12, 0.05, 0.0, rot_x(math.pi / 2))))
    if s.chance(0.7):
        parts.append(("hat", Union([cylinder([0, hy + hr * 0.85, 0], hr * 1.0, 0.02, 0.01),
                                    cylinder([0, hy + hr * 0.85 + 0.15, 0], hr * 0.6, 0.15, 0.01)])))
    nb = s.count(0, 3, "buttons")
    r1, y1 = radii[min(1, n - 1) if n > 2 else 0], centres[min(1, n - 1) if n > 2 else 0]
    for i in range(nb):
        a = -0.5 + i * 0.35
        parts.append(("button", sphere([0, y1 + r1 * math.sin(a), r1 * math.cos(a)], 0.04)))
    if s.chance(0.7):
        for sx in (-1, 1):
            root = np.array([sx * r1 * 0.8, y1 + r1 * 0.35, 0])
            parts.append(("arm", tube([root, root + [sx * 0.35, 0.2, 0], root + [sx * 0.5, 0.35, 0.05]], 0.025)))
    return parts


def mushroom(s: Sampler) -> PartList:
    parts: PartList = []
    n = 1 + s.count(0, 2, "extra_mushrooms")
    for i in range(n):
        scale = 1.0 if i == 0 else s.u(0.4, 0.6)
        a = 2 * math.pi * i / max(n - 1, 1) + 0.5
        x = 0.0 if i == 0 else 0.65 * math.cos(a)
        z = 0.0 if i == 0 else 0.65 * math.sin(a)
        sh = s.prop(0.6, 1.0, "stem_height") * scale
        sr = s.u(0.12, 0.18) * scale
        parts.append(("stem", lathe([x, 0, z], [[0, 0], [sr * 1.3, 0], [sr, sh * 0.5], [sr * 0.85, sh], [0, sh]])))
        cr = s.u(0.4, 0.55) * scale
        ch = cr * s.u(0.5, 0.8)
        cap_e = ellipsoid([x, sh - 0.05 * scale, z], [cr, ch, cr])
        cut = Intersection(cap_e, Transformed(half_space_below(0.0), rot_x(math.pi), [x, sh - 0.1 * scale, z]))
        parts.append(("cap", cut))
    return parts


def tree(s: Sampler) -> PartList:
    h = s.prop(0.9, 1.3, "trunk_height")
    tr = s.u(0.08, 0.13)
    parts: PartList = [("trunk", lathe([0, 0, 0], [[0, 0], [tr * 1.6, 0], [tr, 0.15], [tr * 0.7, h], [0, h]]))]
    if s.chance(0.4):
        nl = s.count(2, 4, "tiers")
        for i in range(nl):
            y = h * 0.5 + i * 0.35
            r = 0.6 - i * 0.1
            parts.append(("foliage", cone([0, y + 0.25, 0], 0.25, r, 0.05 + 0.02 * i)))
        return parts
    nb = s.count(1, 3, "branches")
    tips = []
    for i in range(nb):
        a = 2 * math.pi * i / nb + s.u(-0.4, 0.4)
        y0 = h * s.u(0.45, 0.8)
        tip = np.array([0.45 * math.cos(a), y0 + s.u(0.25, 0.45), 0.45 * math.sin(a)])
        parts.append(("branch", capsule([0, y0, 0], tip, tr * 0.45)))
        tips.append(tip)
    parts.append(("crown", ellipsoid([0, h + 0.3, 0], [s.u(0.45, 0.6), s.u(0.35, 0.5), s.u(0.45, 0.6)])))
    for tip in tips:
        parts.append(("leaf_cluster", ellipsoid(tip + [0, 0.05, 0], [0.22, 0.17, 0.22])))
    return parts


def cactus(s: Sampler) -> PartList:
    pot_h = s.u(0.3, 0.45)
    pr = s.u(0.3, 0.4)
    parts: PartList = [("pot", lathe([0, 0, 0], _cup_profile(pr * 0.8, pr, pot_h, 0.04, 0.05), thickness=0.04))]
    parts.append(("soil", cylinder([0, pot_h - 0.05, 0], pr - 0.035, 0.03)))
    h = s.prop(1.0, 1.4, "height")
    r = s.u(0.13, 0.18)
    parts.append(("stem", capsule([0, pot_h - 0.1, 0], [0, pot_h + h, 0], r)))
    n = s.count(1, 3, "arms")
    for i in range(n):
        side = 1 if i % 2 == 0 else -1
        ay = pot_h + h * (0.3 + 0.4 * (i / max(n, 1))) + s.u(-0.05, 0.05)
        out = r + s.u(0.15, 0.25)
        up = s.u(0.2, 0.4)
        ang = 0.25 * (i // 2)
        d = np.array([math.cos(ang) * side, 0, math.sin(ang)])
        pts = [np.array([0, ay, 0]), d * out + [0, ay, 0], d * out + [0, ay + up, 0]]
        parts.append(("arm", Union([capsule(pts[0], pts[1], r * 0.7), capsule(pts[1], pts[2], r * 0.7)], k=0.04)))
    if s.chance(0.4):
        parts.append(("flower", Union([ellipsoid([0, pot_h + h + r + 0.02, 0], [0.09, 0.06, 0.09]),
                                       sphere([0, pot_h + h + r + 0.06, 0], 0.04)], k=0.02)))
    return parts


def windmill(s: Sampler) -> PartList:
    h = s.prop(1.2, 1.6, "tower_height")
    rb = s.u(0.35, 0.45)
    parts: PartList = [("tower", cone([0, h / 2, 0], h / 2, rb, rb * 0.6))]
    rr = rb * 0.6 + 0.05
    parts.append(("roof", cone([0, h + 0.18, 0], 0.2, rr, 0.02)))
    hub = np.array([0, h - 0.05, rb * 0.6 + 0.08])
    parts.append(("hub", cylinder(hub, 0.08, 0.08, 0.02, rot_x(math.pi / 2))))
    n = s.count(3, 5, "blades")
    bl = s.u(0.65, 0.8)
    blade = np.array([[0.05, -0.04], [bl, -0.1], [bl, 0.1], [0.05, 0.04]])
    phase = s.u(0, math.pi)
    for i in range(n):
        a = phase + 2 * math.pi * i / n
        parts.append(("blade", extrusion(hub + [0, 0, 0.04], blade, 0.015, rot_z(a))))
    if s.chance(0.6):
        z = rb * 0.98
        parts.append(("door", box([0, 0.18, z - 0.1 * (rb - rb * 0.6) / h], [0.1, 0.18, 0.04], 0.01)))
    return parts


def hammer(s: Sampler) -> PartList:
    hl = s.prop(1.4, 1.8, "handle_length")
    parts: PartList = [("handle", rod([0, 0, 0], [0, hl, 0], s.u(0.05, 0.07), 0.02))]
    hw = s.u(0.35, 0.5)
    head = box([0, hl - 0.03, 0], [hw, 0.08, 0.07], 0.02)
    if s.chance(0.5):
        claw = capsule([-hw + 0.02, hl - 0.03, 0], [-hw - 0.2, hl - 0.15, 0], 0.045)
        head = Union([head, claw], k=0.04)
    parts.append(("head", head))
    if s.chance(0.6):
        parts.append(("grip", rod([0, 0.0, 0], [0, hl * 0.4, 0], 0.075, 0.03)))
    return parts


def screwdriver(s: Sampler) -> PartList:
    gl = s.u(0.5, 0.7)
    gr = s.u(0.1, 0.14)
    parts: PartList = [("handle", superellipsoid([0, gl / 2, 0], [gr, gl / 2, gr], 0.4, s.u(0.5, 1.0)))]
    sl = s.prop(0.9, 1.2, "shaft_length")
    parts.append(("shaft", rod([0, gl - 0.1, 0], [0, gl + sl, 0], 0.03)))
    parts.append(("tip", box([0, gl + sl + 0.04, 0], [0.05, 0.06, 0.012], 0.004)))
    if s.chance(0.6):
        parts.append(("ferrule", cylinder([0, gl, 0], gr * 0.6, 0.05, 0.01)))
    return parts


def axe(s: Sampler) -> PartList:
    hl = s.prop(1.5, 1.9, "handle_length")
    curve = s.u(-0.1, 0.1)
    parts: PartList = [("handle", tube(bezier([0, 0, 0], [curve, hl / 2, 0], [0, hl, 0], 8), 0.05))]
    bw = s.u(0.35, 0.5)
    bh = s.u(0.25, 0.4)
    blade = np.array([[-0.08, -0.08], [0.08, -0.08], [bw * 0.6, -0.05], [bw, -bh / 2], [bw + 0.03, bh / 2],
                      [bw * 0.6, 0.06], [0.08, 0.08], [-0.08, 0.08]])
    parts.append(("head", extrusion([0, hl - 0.12, 0], blade, 0.05, thickness=0.1)))
    if s.chance(0.5):
        parts.append(("knob", ellipsoid([0, 0.0, 0], [0.08, 0.05, 0.08])))
    return parts


CATEGORIES: dict[str, Callable[[Sampler], PartList]] = {
    "chair": chair, "table": table, "stool": stool, "bench": bench, "bookshelf": bookshelf,
    "cabinet": cabinet, "bed": bed, "sofa": sofa, "desk_lamp": desk_lamp, "floor_lamp": floor_lamp,
    "mug": mug, "bottle": bottle, "teapot": teapot, "vase_with_flowers": vase_with_flowers, "bucket": bucket,
    "car": car, "truck": truck, "airplane": airplane, "rocket": rocket, "boat": boat, "bicycle": bicycle,
    "humanoid_toy": humanoid_toy, "robot": robot, "snowman": snowman, "mushroom": mushroom, "tree": tree,
    "cactus": cactus, "windmill": windmill, "hammer": hammer, "screwdriver": screwdriver, "axe": axe,
}

# ---------------------------------------------------------------------------------------------------
# Meshing, normalisation, canonical order.
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


def build_object(category: str, seed: int, resolution: int = 64, ood: bool = False) -> PartObject:
    """Build one object of ``category`` from ``seed``.

    ``resolution`` is the number of grid cells across the object's largest extent (each part's grid is
    refined further so its thinnest feature spans at least three cells). Raises ``KeyError`` for an
    unknown category.
    """
    builder = CATEGORIES[category]
    # Attempt 0 uses ``seed`` itself; further attempts (an OOD draw that stayed in range, or too many
    # parts) use the derived stream (seed, attempt), so the result is still a pure function of the seed.
    for attempt in range(16):
        sampler = Sampler(np.random.default_rng(seed if attempt == 0 else [seed, attempt]), ood=ood)
        raw = builder(sampler)
        if MIN_PARTS <= len(raw) <= MAX_PARTS and (not ood or sampler.ood_params):
            break
    else:
        raise RuntimeError(f"{category} seed {seed}: no valid draw in 16 attempts ({len(raw)} parts)")
    lo = np.min([shape.lo for _, shape in raw], axis=0)
    hi = np.max([shape.hi for _, shape in raw], axis=0)
    base_cell = float((hi - lo).max()) / resolution
    meshes, cells = [], []
    for name, shape in raw:
        cell = max(min(base_cell, shape.thickness / 3.0), base_cell / 3.0)
        mesh, cell = mesh_from_sdf(shape, cell)
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
            logger.debug("%s seed %d: dropping %s (inside another part)", category, seed, part.name)
            continue
        keep.append(part)
    order = canonical_order([p.mesh for p in keep], [p.name for p in keep])
    return PartObject(category, int(seed), [keep[i] for i in order], ood, list(sampler.ood_params), centre, scale)


def category_for_seed(seed: int, categories: list[str] | None = None) -> str:
    """The category of object ``seed`` in a corpus over ``categories`` (round robin on the seed)."""
    cats = list(categories) if categories else list(CATEGORIES)
    return cats[int(seed) % len(cats)]


def generate_object(seed: int, category: str | None = None, resolution: int = 64, ood: bool = False) -> PartObject:
    """Generate object ``seed`` (category from :func:`category_for_seed` unless given)."""
    return build_object(category or category_for_seed(seed), seed, resolution, ood)
