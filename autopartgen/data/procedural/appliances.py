"""Household appliances (corpus v2): one part per rigid link. The cabinet (with its feet, vents and fixed
panels) is one part; each door or drawer carries its handle; knobs (turning) and buttons (pressing) are
parts of their own. Doors are sometimes drawn ajar."""

from __future__ import annotations

import math


from autopartgen.data.procedural.assembly import hinged, panel_with_handle
from autopartgen.data.procedural.primitives import Shape, Union, box, cylinder, rot_x, torus
from autopartgen.data.procedural.registry import PartList, register
from autopartgen.data.procedural.sampler import Sampler


def _knob(x, y, z_front, radius, depth) -> Shape:
    """A turning knob on a front face: a disc with a grip ridge, axis along +Z."""
    return Union([cylinder([x, y, z_front + depth / 2], radius, depth / 2, 0.3 * depth, rot_x(math.pi / 2)),
                  box([x, y, z_front + depth + 0.008], [radius * 0.9, radius * 0.22, 0.012], 0.005)])


def _button(x, y, z_front, half_w, half_h, depth) -> Shape:
    """A push button: a small rounded box standing ``depth`` proud of the front face at ``z_front``."""
    return box([x, y, z_front + depth / 2 - 0.003], [half_w, half_h, depth / 2], min(half_w, half_h, depth / 2) * 0.4)


def _ajar(s: Sampler, p: float, most: float) -> float:
    """An opening angle (radians): 0 (closed) or, with probability ``p``, uniform in [0.1, ``most``]."""
    return s.u(0.1, most) if s.chance(p) else 0.0


@register("fridge", since="v2")
def fridge(s: Sampler) -> PartList:
    h = s.prop(1.6, 2.0, "height")
    hw, hd = s.u(0.33, 0.48), s.u(0.3, 0.38)
    t = s.u(0.04, 0.06)
    layout = s.choice(["single", "top_freezer", "bottom_freezer", "side_by_side"])
    parts: PartList = [("body", Union([box([0, h / 2, 0], [hw, h / 2, hd], 0.02),
                                       box([0, 0.03, hd - 0.05], [hw - 0.02, 0.03, 0.06], 0.01)]))]
    handle = s.choice(["bar_v", "bar_v", "knob"])
    gap = 0.012

    def door(name, x0, x1, y0, y1, hinge_left: bool):
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        hx = x1 - 0.06 if hinge_left else x0 + 0.06
        shape = panel_with_handle(s, [cx, cy, hd + t / 2 - 0.005], [(x1 - x0) / 2 - gap, (y1 - y0) / 2 - gap, t / 2],
                                  handle, (hx, cy if y1 - y0 < 0.7 else y0 + 0.6 * (y1 - y0) if y0 < 0.2 else cy),
                                  min(0.5, 0.6 * (y1 - y0)))
        pivot = [x0 if hinge_left else x1, cy, hd]
        angle = _ajar(s, 0.3, 0.9) * (-1 if hinge_left else 1)
        parts.append((name, hinged(shape, pivot, "y", angle)))

    split = h * s.u(0.28, 0.38)
    left = s.chance(0.5)
    if layout == "single":
        door("door", -hw, hw, 0.06, h, left)
    elif layout == "top_freezer":
        door("door", -hw, hw, 0.06, h - split, left)
        door("freezer_door", -hw, hw, h - split, h, left)
    elif layout == "bottom_freezer":
        door("door", -hw, hw, 0.06 + split, h, left)
        drawer = panel_with_handle(s, [0, 0.06 + split / 2, hd + t / 2], [hw - gap, split / 2 - gap, t / 2], "bar_h",
                                   (0, 0.06 + split - 0.08), hw)
        parts.append(("freezer_drawer", drawer))
    else:
        door("freezer_door", -hw, 0.0 - hw * 0.1, 0.06, h, True)
        door("door", -hw * 0.1, hw, 0.06, h, False)
    if s.chance(0.3) and layout != "side_by_side":
        parts.append(("top_vent", box([0, h + 0.02, -hd * 0.3], [hw * 0.8, 0.025, hd * 0.5], 0.01)))
        parts[0] = ("body", Union([parts[0][1], parts.pop()[1]]))
    return parts


@register("oven", since="v2")
def oven(s: Sampler) -> PartList:
    h = s.prop(0.85, 1.0, "height")
    hw, hd = s.u(0.3, 0.45), s.u(0.3, 0.35)
    t = 0.05
    back_h = s.u(0.1, 0.2)
    body = [box([0, h / 2, 0], [hw, h / 2, hd], 0.015),
            box([0, h + back_h / 2, -hd + 0.04], [hw, back_h / 2, 0.04], 0.01)]
    n_burners = s.count(2, 4, "burners")
    for i in range(n_burners):
        bx = (-0.5 + (i % 2)) * hw
        bz = (-0.4 + 0.8 * (i // 2)) * hd if n_burners > 2 else 0.0
        body.append(torus([bx, h + 0.01, bz], hw * 0.28, 0.012))
    parts: PartList = [("body", Union(body))]
    drawer_h = s.u(0.1, 0.16) if s.chance(0.5) else 0.0
    y0 = 0.05 + drawer_h
    top_panel = 0.1
    door_y = (y0 + h - top_panel) / 2
    door_half = [hw - 0.02, (h - top_panel - y0) / 2 - 0.01, t / 2]
    door_shape = panel_with_handle(s, [0, door_y, hd + t / 2 - 0.005], door_half, "bar_h", (0, h - top_panel - 0.06),
                                   hw * 1.4)
    parts.append(("door", hinged(door_shape, [0, y0, hd], "x", _ajar(s, 0.3, 0.8))))
    if drawer_h:
        parts.append(("drawer", panel_with_handle(s, [0, 0.05 + drawer_h / 2, hd + t / 2 - 0.005],
                                                  [hw - 0.02, drawer_h / 2 - 0.01, t / 2], "bar_h",
                                                  (0, 0.05 + drawer_h * 0.6), hw)))
    n_knobs = s.count(2, 5, "knobs")
    for i in range(n_knobs):
        x = -hw * 0.8 + 1.6 * hw * (i + 0.5) / n_knobs
        parts.append(("knob", _knob(x, h - top_panel / 2, hd, 0.03, 0.035)))
    return parts


@register("microwave", since="v2")
def microwave(s: Sampler) -> PartList:
    hw = s.prop(0.5, 0.65, "width")
    hh, hd = hw * s.u(0.5, 0.65), hw * s.u(0.65, 0.8)
    t = 0.04
    panel_w = hw * s.u(0.3, 0.4)
    parts: PartList = [("body", Union([box([0, hh + 0.02, 0], [hw, hh, hd], 0.03)] +
                                      [box([sx * (hw - 0.06), 0.012, sz * (hd - 0.06)], [0.04, 0.012, 0.04], 0.008)
                                       for sx in (-1, 1) for sz in (-1, 1)]))]
    door_x1 = hw - 2 * panel_w
    door = panel_with_handle(s, [(-hw + door_x1) / 2, hh + 0.02, hd + t / 2 - 0.005],
                             [(door_x1 + hw) / 2 - 0.015, hh - 0.03, t / 2], "bar_v", (door_x1 - 0.05, hh + 0.02), hh)
    parts.append(("door", hinged(door, [-hw, hh, hd], "y", -_ajar(s, 0.3, 1.2))))
    px = hw - panel_w
    if s.chance(0.5):
        parts.append(("knob", _knob(px, hh + 0.02 + hh * 0.45, hd, 0.045, 0.04)))
    n = s.count(2, 6, "buttons")
    cols = 2 if n > 3 else 1
    rows = math.ceil(n / cols)
    for i in range(n):
        c, r = i % cols, i // cols
        x = px + (c - (cols - 1) / 2) * panel_w * 0.55
        y = hh + 0.02 + hh * 0.2 - r * (hh * 1.0 / max(rows, 1))
        parts.append(("button", _button(x, y, hd, panel_w * 0.22, 0.03, 0.025)))
    return parts


@register("washing_machine", since="v2")
def washing_machine(s: Sampler) -> PartList:
    h = s.prop(0.85, 1.0, "height")
    hw, hd = s.u(0.3, 0.35), s.u(0.28, 0.34)
    parts: PartList = [("body", box([0, h / 2, 0], [hw, h / 2, hd], 0.03))]
    r = hw * s.u(0.6, 0.78)
    cy = h * 0.45
    rot = rot_x(math.pi / 2)
    door = Union([torus([0, cy, hd + 0.03], r - 0.04, 0.045, rot), cylinder([0, cy, hd + 0.02], r - 0.05, 0.02, 0.01, rot),
                  box([r - 0.02, cy, hd + 0.07], [0.03, 0.08, 0.025], 0.01)])
    parts.append(("door", hinged(door, [-r, cy, hd], "y", -_ajar(s, 0.3, 1.2))))
    panel_y = h - 0.08
    parts.append(("detergent_drawer", panel_with_handle(s, [-hw * 0.6, panel_y, hd + 0.015],
                                                        [hw * 0.35, 0.05, 0.02], "bar_h", (-hw * 0.6, panel_y - 0.02),
                                                        hw * 0.35)))
    parts.append(("knob", _knob(hw * 0.55, panel_y, hd, 0.05, 0.04)))
    for i in range(s.count(0, 3, "buttons")):
        parts.append(("button", _button(hw * 0.05 + i * 0.07, panel_y, hd, 0.025, 0.018, 0.02)))
    return parts


@register("dishwasher", since="v2")
def dishwasher(s: Sampler) -> PartList:
    h = s.prop(0.8, 0.9, "height")
    hw, hd = s.u(0.28, 0.32), s.u(0.28, 0.32)
    t = 0.05
    strip = s.u(0.07, 0.11)
    parts: PartList = [("body", Union([box([0, h / 2, 0], [hw, h / 2, hd], 0.015),
                                       box([0, 0.04, hd - 0.02], [hw - 0.01, 0.04, 0.04], 0.01)]))]
    y0 = 0.09
    door_top = h - strip
    door = panel_with_handle(s, [0, (y0 + door_top) / 2, hd + t / 2 - 0.005], [hw - 0.01, (door_top - y0) / 2 - 0.008, t / 2],
                             s.choice(["bar_h", "knob"]), (0, door_top - 0.06), hw * 1.2)
    parts.append(("door", hinged(door, [0, y0, hd], "x", _ajar(s, 0.25, 1.3))))
    n = s.count(1, 5, "buttons")
    for i in range(n):
        x = -hw * 0.7 + 1.4 * hw * (i + 0.5) / n
        parts.append(("button", _button(x, h - strip / 2, hd, 0.025, strip * 0.25, 0.02)))
    return parts
