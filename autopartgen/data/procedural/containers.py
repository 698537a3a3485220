"""Containers and tableware (v1: mug, bottle, teapot, vase, bucket; v2: kettle, jar, spray bottle)."""

from __future__ import annotations

import math

import numpy as np

from autopartgen.data.procedural.primitives import (
    Union, bezier, box, capsule, cone, cylinder, ellipsoid, lathe, rot_z, sphere, torus, tube,
)
from autopartgen.data.procedural.registry import PartList, register
from autopartgen.data.procedural.sampler import Sampler


def cup_profile(r_bottom, r_top, height, wall, bottom):
    """(radius, y) outline (6, 2) of an open cup with a solid bottom, for :func:`lathe`."""
    return np.array([[0, 0], [r_bottom, 0], [r_top, height], [r_top - wall, height],
                     [r_bottom - wall, bottom], [0, bottom]])


@register("mug")
def mug(s: Sampler) -> PartList:
    r = s.u(0.4, 0.55)
    h = s.prop(0.9, 1.3, "height")
    wall = 0.06
    y0 = 0.0
    parts: PartList = []
    if s.chance(0.35):
        parts.append(("saucer", lathe([0, 0, 0], [[0, 0], [r * 1.7, 0.04], [r * 1.8, 0.1], [r * 1.7, 0.11],
                                                  [r * 1.2, 0.07], [0, 0.05]], thickness=0.05)))
        y0 = 0.045
    rt = r * s.u(1.0, 1.15)
    parts.append(("body", lathe([0, y0, 0], cup_profile(r, rt, h, wall, 0.08), thickness=wall)))
    hr = s.u(0.25, 0.35) * h
    pts = bezier([rt - 0.03, y0 + h * 0.8, 0], [rt + hr * 1.3, y0 + h * 0.5, 0], [r - 0.03, y0 + h * 0.2, 0], 10)
    parts.append(("handle", tube(pts, s.u(0.045, 0.06))))
    return parts


@register("bottle")
def bottle(s: Sampler) -> PartList:
    r = s.u(0.3, 0.45)
    h = s.prop(1.2, 1.6, "height")
    nr = r * s.u(0.3, 0.45)
    sh = h * s.u(0.55, 0.7)
    prof = [[0, 0], [r * 0.9, 0], [r, 0.08], [r, sh], [nr, sh + 0.3 * (h - sh)], [nr, h], [0, h]]
    parts: PartList = [("body", lathe([0, 0, 0], prof))]
    cap_h = s.u(0.08, 0.15)
    parts.append(("cap", cylinder([0, h + cap_h / 2 - 0.04, 0], nr + 0.025, cap_h / 2, 0.015)))
    if s.chance(0.6):
        ly = sh * s.u(0.35, 0.6)
        parts.append(("label", cylinder([0, ly, 0], r + 0.015, sh * 0.2, 0.005)))
    return parts


@register("teapot")
def teapot(s: Sampler) -> PartList:
    r = s.prop(0.6, 0.8, "body_radius")
    hy = r * s.u(0.65, 0.85)
    parts: PartList = [("body", ellipsoid([0, hy, 0], [r, hy, r]))]
    top = 2 * hy
    parts.append(("lid", ellipsoid([0, top - 0.05, 0], [r * 0.5, 0.1, r * 0.5])))
    parts.append(("knob", sphere([0, top + 0.08, 0], 0.07)))
    sx = s.choice([-1, 1])
    base = np.array([sx * r * 0.7, hy * 0.8, 0])
    tip = np.array([sx * (r + s.u(0.35, 0.5)), top * s.u(0.8, 1.0), 0])
    pts = bezier(base, [sx * (r + 0.2), hy * 0.9, 0], tip, 6)
    spout = Union([capsule(pts[i], pts[i + 1], 0.1 - 0.05 * i / 6) for i in range(6)], k=0.03)
    parts.append(("spout", spout))
    hp = bezier([-sx * r * 0.8, top * 0.8, 0], [-sx * (r + 0.45), hy, 0], [-sx * r * 0.85, hy * 0.35, 0], 10)
    parts.append(("handle", tube(hp, 0.05)))
    return parts


@register("vase_with_flowers")
def vase_with_flowers(s: Sampler) -> PartList:
    r = s.u(0.3, 0.4)
    h = s.prop(0.8, 1.1, "vase_height")
    mr = r * s.u(0.5, 0.7)
    prof = [[0, 0], [r * 0.7, 0], [r, h * 0.4], [mr, h * 0.85], [mr * 1.2, h], [mr * 1.2 - 0.05, h],
            [mr - 0.05, h * 0.85], [0, h * 0.8]]
    parts: PartList = [("vase", lathe([0, 0, 0], prof, thickness=0.05))]
    n = s.count(1, 4, "stems")
    if n == 1:
        ty = h + s.u(0.6, 0.9)
        parts.append(("stem", tube(bezier([0, h * 0.8, 0], [0.05, (h + ty) / 2, 0.02], [0, ty, 0], 6), 0.025)))
        parts.append(("flower_centre", sphere([0, ty, 0.02], 0.08)))
        m = s.count(5, 7, "petals")
        pl = s.u(0.15, 0.22)
        for i in range(m):
            a = 2 * math.pi * i / m
            c = np.array([math.cos(a) * (pl + 0.02), ty + math.sin(a) * (pl + 0.02), 0.0])
            parts.append(("petal", ellipsoid(c, [pl, 0.07, 0.025], rot_z(a))))
        return parts
    for i in range(n):
        a = 2 * math.pi * i / n + s.u(-0.3, 0.3)
        lean = s.u(0.15, 0.4)
        ty = h + s.u(0.4, 0.8)
        tip = np.array([lean * math.cos(a), ty, lean * math.sin(a)])
        parts.append(("stem", tube(bezier([0, h * 0.8, 0], [tip[0] * 0.3, (h + ty) / 2, tip[2] * 0.3], tip, 6), 0.022)))
        petals = [sphere(tip + [0, 0.02, 0], 0.06)]
        for j in range(5):
            b = 2 * math.pi * j / 5
            petals.append(ellipsoid(tip + [0.08 * math.cos(b), 0.03, 0.08 * math.sin(b)], [0.08, 0.03, 0.08]))
        parts.append(("flower", Union(petals, k=0.03)))
    return parts


@register("bucket")
def bucket(s: Sampler) -> PartList:
    rb = s.u(0.45, 0.6)
    rt = rb * s.prop(1.15, 1.35, "flare")
    h = s.u(0.9, 1.2)
    wall = 0.05
    parts: PartList = [("body", lathe([0, 0, 0], cup_profile(rb, rt, h, wall, 0.06), thickness=wall))]
    if s.chance(0.6):
        parts.append(("rim", torus([0, h - 0.02, 0], rt - wall / 2, 0.045)))
    hy = h * 0.85
    rr = rb + (rt - rb) * 0.85 + 0.02
    arc = [[rr * math.cos(t), hy + rr * 0.9 * math.sin(t), 0] for t in np.linspace(0, math.pi, 14)]
    parts.append(("handle", tube(arc, 0.025)))
    if s.chance(0.5):
        for sx in (-1, 1):
            parts.append(("handle_mount", box([sx * (rr - 0.03), hy, 0], [0.05, 0.06, 0.06], 0.015)))
    return parts


@register("kettle", since="v2")
def kettle(s: Sampler) -> PartList:
    """An electric kettle: base (power stand), body (with its handle and spout), lid, switch."""
    r = s.u(0.35, 0.5)
    h = s.prop(0.8, 1.1, "height")
    base_h = s.u(0.05, 0.09)
    parts: PartList = [("base", cylinder([0, base_h / 2, 0], r * 1.1, base_h / 2, 0.02))]
    rt = r * s.u(0.6, 0.85)
    y0 = base_h
    body = [lathe([0, y0, 0], [[0, 0], [r, 0], [r * 1.02, h * 0.5], [rt, h], [0, h]])]
    sx = s.choice([-1, 1])
    hp = bezier([-sx * rt * 0.9, y0 + h * 0.9, 0], [-sx * (r + 0.35), y0 + h * 0.7, 0], [-sx * r * 0.95, y0 + h * 0.15, 0], 8)
    body.append(tube(hp, s.u(0.04, 0.06)))
    body.append(cone([sx * (rt + 0.05), y0 + h * 0.85, 0], 0.1, 0.09, 0.04, rot_z(-sx * 0.9)))
    parts.append(("body", Union(body)))
    parts.append(("lid", Union([cylinder([0, y0 + h + 0.02, 0], rt * 0.85, 0.03, 0.015),
                                sphere([0, y0 + h + 0.07, 0], 0.045)])))
    if s.chance(0.7):
        parts.append(("switch", box([0, y0 + h * 0.12, r * 1.01 + 0.01], [0.035, 0.03, 0.03], 0.01)))
    return parts


@register("jar", since="v2")
def jar(s: Sampler) -> PartList:
    """A jar with a screw lid (and an optional lid knob, part of the lid)."""
    r = s.u(0.35, 0.55)
    h = s.prop(0.8, 1.4, "height")
    nr = r * s.u(0.7, 0.95)
    prof = [[0, 0], [r * 0.95, 0], [r, 0.06], [r, h * 0.8], [nr, h * 0.92], [nr, h], [0, h]]
    parts: PartList = [("body", lathe([0, 0, 0], prof))]
    lh = s.u(0.08, 0.16)
    lid = [cylinder([0, h + lh / 2 - 0.04, 0], nr + 0.03, lh / 2, 0.02)]
    if s.chance(0.4):
        lid.append(sphere([0, h + lh - 0.02, 0], 0.06))
    parts.append(("lid", Union(lid)))
    return parts


@register("spray_bottle", since="v2")
def spray_bottle(s: Sampler) -> PartList:
    """A spray bottle: body, sprayer head (screwed on), trigger (turning)."""
    r = s.u(0.22, 0.3)
    h = s.prop(0.9, 1.2, "height")
    nr = r * 0.45
    parts: PartList = [("body", lathe([0, 0, 0], [[0, 0], [r, 0], [r, h * 0.75], [nr, h * 0.9], [nr, h], [0, h]]))]
    head_h = s.u(0.18, 0.26)
    hy = h + head_h / 2
    nozzle = s.u(0.18, 0.26)
    parts.append(("sprayer", Union([cylinder([0, h + 0.02, 0], nr + 0.03, 0.04, 0.01),
                                    box([nozzle / 2 - 0.02, hy, 0], [nozzle / 2 + 0.05, head_h / 2, 0.05], 0.03)])))
    tilt = s.u(0.1, 0.4)
    top = np.array([nozzle * 0.5, hy - head_h * 0.4, 0.0])
    tip = top + 0.22 * np.array([math.sin(tilt), -math.cos(tilt), 0.0])
    parts.append(("trigger", capsule(top, tip, 0.03)))
    return parts
