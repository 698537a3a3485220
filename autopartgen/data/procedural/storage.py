"""Storage furniture (corpus v2), one part per rigid link: a cupboard / wardrobe (carcass with its plinth
or legs, hinged doors and drawers, each with its handle) and a safe (body, door, handwheel, dial)."""

from __future__ import annotations

import math

import numpy as np

from autopartgen.data.procedural.assembly import hinged, panel_with_handle
from autopartgen.data.procedural.primitives import Union, box, cylinder, rod, rot_x, torus
from autopartgen.data.procedural.registry import PartList, register
from autopartgen.data.procedural.sampler import Sampler


@register("cupboard", since="v2")
def cupboard(s: Sampler) -> PartList:
    h = s.prop(1.0, 2.0, "height")
    hw, hd = s.u(0.35, 0.6), s.u(0.2, 0.32)
    legs = s.chance(0.4)
    y0 = s.u(0.1, 0.2) if legs else 0.06
    carcass = [box([0, y0 + (h - y0) / 2, 0], [hw, (h - y0) / 2, hd], 0.01)]
    if legs:
        carcass += [rod([sx * (hw - 0.05), 0, sz * (hd - 0.05)], [sx * (hw - 0.05), y0 + 0.02, sz * (hd - 0.05)], 0.025)
                    for sx in (-1, 1) for sz in (-1, 1)]
    else:
        carcass.append(box([0, y0 / 2, 0.0], [hw - 0.03, y0 / 2 + 0.005, hd - 0.03], 0.005))
    parts: PartList = [("carcass", Union(carcass))]
    t, gap = 0.025, 0.008
    n_drawers = s.count(0, 3, "drawers")
    dh = s.u(0.12, 0.2)
    top_of_drawers = y0 + n_drawers * dh
    handle = s.choice(["bar_v", "knob"])
    for i in range(n_drawers):
        y = y0 + dh * (i + 0.5)
        parts.append(("drawer", panel_with_handle(s, [0, y, hd + t / 2 - 0.003], [hw - gap, dh / 2 - gap, t / 2],
                                                  "bar_h" if handle == "bar_v" else "knob", (0, y), hw * 0.5)))
    n_doors = s.count(1, 2, "doors")
    door_h = h - top_of_drawers
    yc = top_of_drawers + door_h / 2
    for i in range(n_doors):
        x0 = -hw + 2 * hw * i / n_doors
        x1 = x0 + 2 * hw / n_doors
        hinge_left = (i == 0)
        hx = x1 - 0.06 if hinge_left else x0 + 0.06
        door = panel_with_handle(s, [(x0 + x1) / 2, yc, hd + t / 2 - 0.003], [(x1 - x0) / 2 - gap, door_h / 2 - gap, t / 2],
                                 handle, (hx, yc), min(0.4, door_h * 0.4))
        angle = (s.u(0.1, 1.2) if s.chance(0.3) else 0.0) * (-1 if hinge_left else 1)
        parts.append(("door", hinged(door, [x0 if hinge_left else x1, yc, hd], "y", angle)))
    return parts


@register("safe", since="v2")
def safe(s: Sampler) -> PartList:
    h = s.prop(0.6, 1.2, "height")
    hw, hd = h * s.u(0.35, 0.5), h * s.u(0.35, 0.45)
    feet = s.chance(0.5)
    y0 = 0.05 if feet else 0.0
    body = [box([0, y0 + h / 2, 0], [hw, h / 2, hd], 0.03)]
    if feet:
        body += [box([sx * (hw - 0.06), 0.025, sz * (hd - 0.06)], [0.05, 0.03, 0.05], 0.01) for sx in (-1, 1) for sz in (-1, 1)]
    t = s.u(0.05, 0.08)
    rim = 0.05
    yc = y0 + h / 2
    hinge_y = [yc - h * 0.3, yc + h * 0.3]
    body += [cylinder([-hw + rim * 0.4, y, hd + t / 2], 0.025, 0.06, 0.008) for y in hinge_y]
    parts: PartList = [("body", Union(body))]
    door = box([0, yc, hd + t / 2 - 0.005], [hw - rim, h / 2 - rim, t / 2], 0.01)
    angle = -s.u(0.1, 0.9) if s.chance(0.25) else 0.0
    pivot = [-hw + rim, yc, hd]
    parts.append(("door", hinged(door, pivot, "y", angle)))
    z_front = hd + t - 0.005
    wheel_r = min(hw, h / 2) * s.u(0.25, 0.35)
    wc = np.array([hw * 0.2, yc - h * 0.05, z_front + 0.05])
    rot = rot_x(math.pi / 2)
    spokes = [rod(wc + [0, 0, -0.05], wc, 0.02)]
    n = s.count(3, 5, "spokes")
    for i in range(n):
        a = 2 * math.pi * i / n
        spokes.append(rod(wc, wc + wheel_r * np.array([math.cos(a), math.sin(a), 0.0]), 0.014))
    handwheel = hinged(Union([torus(wc, wheel_r, 0.018, rot)] + spokes), wc, "z", s.u(0.0, 1.0))  # turned on its stem
    parts.append(("handwheel", hinged(handwheel, pivot, "y", angle)))  # and carried by the door
    dial_c = [hw * 0.2, yc + h * 0.28, z_front + 0.02]
    dial = cylinder(dial_c, min(0.07, hw * 0.2), 0.022, 0.008, rot)
    parts.append(("dial", hinged(dial, pivot, "y", angle)))
    return parts
