"""Vehicles (v1: car, truck, airplane, rocket, boat, bicycle)."""

from __future__ import annotations

import math

import numpy as np

from autopartgen.data.procedural.primitives import (
    Intersection, Shape, Union, box, capsule, cone, cylinder, ellipsoid, extrusion, half_space_below, rod,
    rot_x, rot_y, superellipsoid, torus,
)
from autopartgen.data.procedural.registry import PartList, register
from autopartgen.data.procedural.sampler import Sampler


def _wheel(center, radius, width, tyre: bool) -> Shape:
    rot = rot_x(math.pi / 2)
    if tyre:
        return Union([torus(center, radius - width * 0.5, width * 0.5, rot),
                      cylinder(center, radius - width * 0.5, width * 0.35, 0.01, rot)])
    return cylinder(center, radius, width / 2, width * 0.2, rot)


@register("car")
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


@register("truck")
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


@register("airplane")
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


@register("rocket")
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


@register("boat")
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


@register("bicycle")
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
