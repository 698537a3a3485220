"""Hand tools (v1: hammer, screwdriver, axe)."""

from __future__ import annotations

import numpy as np

from autopartgen.data.procedural.primitives import (
    Union, bezier, box, capsule, cylinder, ellipsoid, extrusion, rod, superellipsoid, tube,
)
from autopartgen.data.procedural.registry import PartList, register
from autopartgen.data.procedural.sampler import Sampler


@register("hammer")
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


@register("screwdriver")
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


@register("axe")
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

