"""Signed-distance primitives and the small SDF tree the category grammars build parts from.

Every SDF is a pure function of ``(N, 3)`` float64 points in the primitive's local frame returning ``(N,)``
distances in object units (before normalisation, objects are roughly 2 units tall). Exactness:

* rounded box, cylinder, capsule, capped cone / frustum, torus, extrusion of a polygon and revolution of
  a polygon are exact signed distances;
* ``min`` unions (swept tubes, multi-primitive parts) are exact outside and a bound inside;
* the ellipsoid uses Inigo Quilez's first-order approximation (exact on the axes, a good bound elsewhere);
* the superellipsoid is its radial inside/outside function scaled by the smallest radius (exact only for
  a sphere), a sign-correct approximation;
* smooth unions (polynomial smooth minimum) are a bound within ``k`` of the blend.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

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
