"""Vehicles (v1: car, truck, airplane, rocket, boat, bicycle; v2: cart, tractor, trolley)."""

from __future__ import annotations

import math

import numpy as np

from autopartgen.data.procedural.assembly import wheel
from autopartgen.data.procedural.primitives import (
    Intersection, Shape, Union, box, capsule, cone, cylinder, ellipsoid, extrusion, half_space_below, rod,
    rot_x, rot_y, rot_z, superellipsoid, torus,
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


# --- corpus v2: wheels and axles, one part per wheel (and per swivelling caster fork) ----------------


@register("cart", since="v2")
def cart(s: Sampler) -> PartList:
    """A hand cart: frame (tray with walls, push handle and axles) and two or four wheels."""
    length = s.prop(1.0, 1.5, "length")
    hw = s.u(0.3, 0.45)
    wr = s.u(0.12, 0.22)
    wall = s.u(0.1, 0.25)
    floor_y = wr + 0.08
    t = 0.025
    frame = [box([0, floor_y, 0], [length / 2, t, hw], 0.01)]
    for sx in (-1, 1):
        frame.append(box([sx * (length / 2 - t), floor_y + wall / 2, 0], [t, wall / 2, hw], 0.008))
    for sz in (-1, 1):
        frame.append(box([0, floor_y + wall / 2, sz * (hw - t)], [length / 2, wall / 2, t], 0.008))
    grip = np.array([-length / 2 - s.u(0.25, 0.4), floor_y + s.u(0.6, 0.8), 0.0])
    for sz in (-1, 1):
        frame.append(rod([-length / 2, floor_y + wall, sz * (hw - 0.04)], grip + [0, 0, sz * (hw - 0.04)], 0.02))
    frame.append(rod(grip + [0, 0, -hw], grip + [0, 0, hw], 0.025))
    four = s.chance(0.5)
    axles = [length / 2 - wr * 1.2, -length / 2 + wr * 1.2] if four else [s.u(-0.1, 0.1)]
    ww = s.u(0.05, 0.08)
    for x in axles:
        frame.append(rod([x, wr, -hw - ww], [x, wr, hw + ww], 0.02))
        frame.append(box([x, (wr + floor_y) / 2, 0], [0.03, (floor_y - wr) / 2 + 0.01, hw * 0.8], 0.01))
    if not four:  # a stand at the front keeps it level
        frame.append(rod([length / 2 - 0.1, floor_y, 0], [length / 2 - 0.1, 0.02, 0], 0.025))
    parts: PartList = [("frame", Union(frame))]
    tyre = s.chance(0.7)
    for tag, x in zip(("f", "r"), axles) if four else [("", axles[0])]:
        for sz, side in ((1, "l"), (-1, "r")):
            parts.append((f"wheel_{tag}{side}" if tag else f"wheel_{side}", _wheel3(x, wr, sz * (hw + ww), ww, tyre)))
    return parts


def _wheel3(x, radius, z, width, tyre) -> Shape:
    """A wheel standing on the ground (centre height = radius) at (x, z), axle along +Z."""
    return wheel([x, radius, z], radius, width, tyre)


@register("tractor", since="v2")
def tractor(s: Sampler) -> PartList:
    """A farm tractor: body (hood, cab frame, seat, axles, exhaust), four wheels (big at the rear), steering wheel."""
    length = s.prop(1.6, 2.0, "length")
    hw = s.u(0.3, 0.4)
    rr = s.u(0.45, 0.6)
    fr = rr * s.u(0.5, 0.7)
    rw, fw = s.u(0.18, 0.26), s.u(0.1, 0.16)
    rx, fx = -length / 2 + rr, length / 2 - fr
    hood_y = fr + 0.2
    body = [box([(fx + rx) / 2 + 0.2, hood_y, 0], [(fx - rx) / 2 + 0.1, 0.18, hw * 0.6], 0.05),
            rod([rx, rr, -hw - rw * 0.5], [rx, rr, hw + rw * 0.5], 0.05),
            rod([fx, fr, -hw * 0.9], [fx, fr, hw * 0.9], 0.04),
            box([rx, rr + 0.05, 0], [0.25, 0.12, hw * 0.7], 0.03)]
    seat_y = rr + 0.25
    body.append(box([rx, seat_y, 0], [0.13, 0.05, 0.16], 0.03))
    cab = s.chance(0.6)
    roof_y = seat_y + s.u(0.6, 0.8)
    if cab:
        for sx in (-1, 1):
            for sz in (-1, 1):
                body.append(rod([rx + sx * 0.3, rr + 0.1, sz * hw * 0.7], [rx + sx * 0.3, roof_y, sz * hw * 0.7], 0.025))
        body.append(box([rx, roof_y, 0], [0.38, 0.03, hw * 0.8], 0.015))
    if s.chance(0.7):
        body.append(rod([fx - 0.25, hood_y + 0.15, hw * 0.3], [fx - 0.25, hood_y + s.u(0.4, 0.6), hw * 0.3], 0.03))
    parts: PartList = [("body", Union(body))]
    for sz, side in ((1, "l"), (-1, "r")):
        parts.append((f"wheel_r{side}", wheel([rx, rr, sz * (hw + rw * 0.5)], rr, rw, True)))
        parts.append((f"wheel_f{side}", wheel([fx, fr, sz * (hw * 0.9 + fw * 0.5)], fr, fw, True)))
    col_top = np.array([rx + 0.3, seat_y + 0.3, 0.0])
    parts.append(("steering_wheel", Union([torus(col_top, 0.1, 0.015, rot_z(0.9)),
                                           rod(col_top, col_top + [0.1, -0.2, 0], 0.015)])))
    return parts


@register("trolley", since="v2")
def trolley(s: Sampler) -> PartList:
    """A shopping / utility trolley: basket frame with push handle, and per corner a swivelling caster fork
    and its wheel (fork_fl, wheel_fl, ...)."""
    length = s.prop(0.7, 1.0, "length")
    hw = s.u(0.25, 0.35)
    wr = s.u(0.05, 0.08)
    fork_h = wr * 2 + 0.04
    base_y = fork_h + 0.02
    basket_h = s.u(0.3, 0.5)
    basket_y = base_y + s.u(0.3, 0.5)
    t = 0.015
    frame = [box([0, base_y, 0], [length / 2, 0.02, hw], 0.01)]
    for sx in (-1, 1):
        for sz in (-1, 1):
            frame.append(rod([sx * (length / 2 - 0.03), base_y, sz * (hw - 0.03)],
                             [sx * (length / 2 - 0.03), basket_y, sz * (hw - 0.03)], 0.018))
    shell = [box([0, basket_y, 0], [length / 2, t, hw], 0.005)]
    for sx in (-1, 1):
        shell.append(box([sx * (length / 2 - t), basket_y + basket_h / 2, 0], [t, basket_h / 2, hw], 0.005))
    for sz in (-1, 1):
        shell.append(box([0, basket_y + basket_h / 2, sz * (hw - t)], [length / 2, basket_h / 2, t], 0.005))
    grip_y = basket_y + basket_h + s.u(0.05, 0.2)
    gx = -length / 2 - s.u(0.05, 0.15)
    for sz in (-1, 1):
        frame.append(rod([-length / 2, basket_y + basket_h * 0.8, sz * (hw - 0.05)], [gx, grip_y, sz * (hw - 0.05)], 0.016))
    frame.append(rod([gx, grip_y, -hw], [gx, grip_y, hw], 0.022))
    parts: PartList = [("frame", Union(frame + shell))]
    for sx, tx in ((1, "f"), (-1, "r")):
        for sz, tz in ((1, "l"), (-1, "r")):
            cx, cz = sx * (length / 2 - 0.06), sz * (hw - 0.06)
            plate_y, plate_h = wr + 0.01 + (base_y - 0.05 - wr) / 2, (base_y - 0.05 - wr) / 2 + 0.03
            fork = Union([cylinder([cx, base_y - 0.03, cz], 0.03, 0.02, 0.008),  # swivel, two side plates, bridge
                          box([cx, plate_y, cz + 0.035], [0.02, plate_h, 0.006], 0.003),
                          box([cx, plate_y, cz - 0.035], [0.02, plate_h, 0.006], 0.003),
                          box([cx, base_y - 0.055, cz], [0.02, 0.006, 0.04], 0.003)])
            parts.append((f"fork_{tx}{tz}", fork))
            parts.append((f"wheel_{tx}{tz}", wheel([cx, wr, cz], wr, 0.035, False, hub=False)))
    return parts
