"""Lamps (v1: desk and floor lamps; v2: architect lamp as links)."""

from __future__ import annotations

import math

import numpy as np

from autopartgen.data.procedural.primitives import (
    Difference, Union, align_y, capsule, cone, cylinder, rod, rot_x, sphere,
)
from autopartgen.data.procedural.registry import PartList, register
from autopartgen.data.procedural.sampler import Sampler


@register("desk_lamp")
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


@register("floor_lamp")
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


@register("arm_lamp", since="v2")
def arm_lamp(s: Sampler) -> PartList:
    """An architect lamp as links: base, swivel, lower arm, upper arm (each arm a pair of rods with its
    elbow housing) and the head (shade with bulb)."""
    base_r = s.u(0.18, 0.28)
    parts: PartList = [("base", cylinder([0, 0.03, 0], base_r, 0.03, 0.015))]
    swivel_top = np.array([0.0, 0.06 + s.u(0.08, 0.15), 0.0])
    parts.append(("swivel", Union([cylinder([0, (0.05 + swivel_top[1]) / 2, 0], 0.05, (swivel_top[1] - 0.05) / 2, 0.01),
                                   cylinder(swivel_top, 0.04, 0.045, 0.01, rot_x(math.pi / 2))])))
    l1, l2 = s.prop(0.6, 0.9, "arm_length"), s.u(0.5, 0.8)
    a1 = s.u(-0.6, 0.6)
    a2 = s.u(1.2, 2.4) * (1 if a1 <= 0 else -1)
    elbow = swivel_top + l1 * np.array([math.sin(a1), math.cos(a1), 0.0])
    wrist = elbow + l2 * np.array([math.sin(a1 + a2), math.cos(a1 + a2), 0.0])
    gap = 0.03
    for name, a, b in (("lower_arm", swivel_top, elbow), ("upper_arm", elbow, wrist)):
        rods = [rod(a + [0, 0, sz * gap], b + [0, 0, sz * gap], 0.012) for sz in (-1, 1)]
        rods.append(cylinder(b, 0.035, gap + 0.012, 0.008, rot_x(math.pi / 2)))
        parts.append((name, Union(rods)))
    sh = s.u(0.1, 0.18)
    down = np.array([math.sin(a1 + a2) * 0.3, -1.0, 0.0])
    rot = align_y(-down)
    centre = wrist + rot @ np.array([0, -sh * 0.8, 0])
    shade = Difference(cone(centre, sh, s.u(0.14, 0.22), 0.05, rot), cone(centre + rot @ [0, -0.03, 0], sh, 0.12, 0.03, rot),
                       0.03)
    parts.append(("head", Union([shade, sphere(centre + rot @ np.array([0, -sh * 0.3, 0]), 0.06),
                                 rod(wrist, centre + rot @ np.array([0, sh * 0.9, 0]), 0.02)])))
    return parts
