"""Helpers the category grammars share to assemble articulated objects: a part turned about a hinge,
door/drawer fronts with their (rigidly attached) handles, wheels with their axle along +Z, jointed links.

All take and return object units (objects about 2 units tall), +Y up, front +Z.
"""

from __future__ import annotations

import math

import numpy as np

from autopartgen.data.procedural.primitives import (
    Shape, Transformed, Union, box, capsule, cylinder, rod, rot_x, rot_y, rot_z, sphere, torus,
)
from autopartgen.data.procedural.sampler import Sampler


def hinged(shape: Shape, pivot, axis: str, angle: float) -> Shape:
    """``shape`` turned by ``angle`` radians about the line through ``pivot`` (3,) along ``axis`` (x|y|z)."""
    if angle == 0.0:
        return shape
    rot = {"x": rot_x, "y": rot_y, "z": rot_z}[axis](angle)
    pivot = np.asarray(pivot, float)
    return Transformed(shape, rot, pivot - rot @ pivot)


def front_handle(s: Sampler, x: float, y: float, z_front: float, kind: str, length: float) -> Shape:
    """A handle on a front face at ``z_front`` centred at (x, y): ``bar_v`` / ``bar_h`` (a rod on two posts,
    vertical or horizontal, ``length`` long), or ``knob`` (a ball on a short stem)."""
    stand = s.u(0.03, 0.05)
    r = s.u(0.012, 0.02)
    zc = z_front + stand
    if kind == "knob":
        return Union([rod([x, y, z_front - 0.01], [x, y, zc], r * 0.8), sphere([x, y, zc + r], 1.8 * r)])
    half = length / 2
    if kind == "bar_v":
        a, b = np.array([x, y - half, zc]), np.array([x, y + half, zc])
    else:
        a, b = np.array([x - half, y, zc]), np.array([x + half, y, zc])
    posts = [rod(p + [0, 0, -stand - 0.01], p + [0, 0, 0.0], r * 0.8) for p in (a * 0.9 + b * 0.1, a * 0.1 + b * 0.9)]
    return Union([rod(a, b, r, r * 0.3)] + posts)


def panel_with_handle(s: Sampler, centre, half, handle_kind: str, handle_at, handle_length: float,
                      edge: float = 0.01) -> Shape:
    """A door or drawer front: box ``half`` (3,) at ``centre`` (3,) with a handle on its front face at
    ``handle_at`` (x, y). One rigid link."""
    centre, half = np.asarray(centre, float), np.asarray(half, float)
    panel = box(centre, half, edge)
    handle = front_handle(s, handle_at[0], handle_at[1], centre[2] + half[2], handle_kind, handle_length)
    return Union([panel, handle])


def wheel(centre, radius: float, width: float, tyre: bool = True, hub: bool = True) -> Shape:
    """A wheel whose axle runs along +Z through ``centre``: a tyre (torus) on a rim disc, or a plain disc."""
    rot = rot_x(math.pi / 2)
    if tyre:
        parts = [torus(centre, radius - width * 0.5, width * 0.5, rot),
                 cylinder(centre, radius - width * 0.5, width * 0.3, 0.01, rot)]
    else:
        parts = [cylinder(centre, radius, width / 2, width * 0.2, rot)]
    if hub:
        parts.append(cylinder(centre, radius * 0.3, width * 0.55, 0.01, rot))
    return Union(parts)


def joint_housing(centre, radius: float, half_width: float) -> Shape:
    """A rounded revolute-joint housing: a cylinder with its axis along +Z."""
    return cylinder(centre, radius, half_width, 0.35 * min(radius, half_width), rot_x(math.pi / 2))


def link_segment(a, b, radius: float, style: str) -> Shape:
    """A link body from ``a`` to ``b``: ``capsule``, ``rod`` (rounded cylinder) or ``box`` (square section)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if style == "capsule":
        return capsule(a, b, radius)
    if style == "rod":
        return rod(a, b, radius, 0.3 * radius)
    d = b - a
    angle = math.atan2(d[1], d[0])
    return box((a + b) / 2, [np.linalg.norm(d) / 2, radius, radius * 0.9], 0.3 * radius, rot_z(angle))


def planar_chain(start, lengths, angles) -> list[np.ndarray]:
    """Joint positions (len(lengths) + 1 of (3,)) of a chain in the XY plane: each link turned by its
    ``angles`` entry relative to the previous one (radians; 0 = straight up for the first link)."""
    points = [np.asarray(start, float)]
    heading = 0.0
    for length, angle in zip(lengths, angles):
        heading += angle
        points.append(points[-1] + length * np.array([math.sin(heading), math.cos(heading), 0.0]))
    return points
