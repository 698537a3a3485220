"""Figures and toys (v1: humanoid toy, toy robot, snowman)."""

from __future__ import annotations

import math

import numpy as np

from autopartgen.data.procedural.primitives import (
    Union, box, capsule, cone, cylinder, rod, rot_x, sphere, superellipsoid, tube,
)
from autopartgen.data.procedural.registry import PartList, register
from autopartgen.data.procedural.sampler import Sampler


@register("humanoid_toy")
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


@register("robot")
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


@register("snowman")
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
