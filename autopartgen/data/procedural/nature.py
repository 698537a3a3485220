"""Plants and natural objects (v1: mushroom, tree, cactus)."""

from __future__ import annotations

import math

import numpy as np

from autopartgen.data.procedural.primitives import (
    Intersection, Transformed, Union, capsule, cone, cylinder, ellipsoid, half_space_below, lathe, rot_x,
    sphere,
)
from autopartgen.data.procedural.containers import cup_profile
from autopartgen.data.procedural.registry import PartList, register
from autopartgen.data.procedural.sampler import Sampler


@register("mushroom")
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


@register("tree")
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


@register("cactus")
def cactus(s: Sampler) -> PartList:
    pot_h = s.u(0.3, 0.45)
    pr = s.u(0.3, 0.4)
    parts: PartList = [("pot", lathe([0, 0, 0], cup_profile(pr * 0.8, pr, pot_h, 0.04, 0.05), thickness=0.04))]
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
