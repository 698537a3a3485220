"""Buildings and fixed structures (v1: windmill)."""

from __future__ import annotations

import math

import numpy as np

from autopartgen.data.procedural.primitives import box, cone, cylinder, extrusion, rot_x, rot_z
from autopartgen.data.procedural.registry import PartList, register
from autopartgen.data.procedural.sampler import Sampler


@register("windmill")
def windmill(s: Sampler) -> PartList:
    h = s.prop(1.2, 1.6, "tower_height")
    rb = s.u(0.35, 0.45)
    parts: PartList = [("tower", cone([0, h / 2, 0], h / 2, rb, rb * 0.6))]
    rr = rb * 0.6 + 0.05
    parts.append(("roof", cone([0, h + 0.18, 0], 0.2, rr, 0.02)))
    hub = np.array([0, h - 0.05, rb * 0.6 + 0.08])
    parts.append(("hub", cylinder(hub, 0.08, 0.08, 0.02, rot_x(math.pi / 2))))
    n = s.count(3, 5, "blades")
    bl = s.u(0.65, 0.8)
    blade = np.array([[0.05, -0.04], [bl, -0.1], [bl, 0.1], [0.05, 0.04]])
    phase = s.u(0, math.pi)
    for i in range(n):
        a = phase + 2 * math.pi * i / n
        parts.append(("blade", extrusion(hub + [0, 0, 0.04], blade, 0.015, rot_z(a))))
    if s.chance(0.6):
        z = rb * 0.98
        parts.append(("door", box([0, 0.18, z - 0.1 * (rb - rb * 0.6) / h], [0.1, 0.18, 0.04], 0.01)))
    return parts
