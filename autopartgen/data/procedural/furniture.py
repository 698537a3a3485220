"""Furniture: seats, tables, shelves, beds (v1 categories)."""

from __future__ import annotations

import math

import numpy as np

from autopartgen.data.procedural.primitives import (
    Union, align_y, box, capsule, cylinder, rod, rot_x, sphere, superellipsoid, torus,
)
from autopartgen.data.procedural.registry import PartList, register
from autopartgen.data.procedural.sampler import Sampler


def _legs(corners_xz, y_top, y_bottom, radius, square: bool, splay=0.0) -> PartList:
    parts = []
    for x, z in corners_xz:
        top = np.array([x, y_top, z])
        bottom = np.array([x * (1 + splay), y_bottom, z * (1 + splay)])
        if square:
            mid = (top + bottom) / 2
            h = np.linalg.norm(top - bottom) / 2
            parts.append(("leg", box(mid, [radius, h, radius], 0.2 * radius, align_y(top - bottom))))
        else:
            parts.append(("leg", rod(bottom, top, radius, 0.2 * radius)))
    return parts


@register("chair")
def chair(s: Sampler) -> PartList:
    w = s.prop(0.45, 0.65, "seat_width")
    d = s.u(0.45, 0.6)
    seat_y = s.prop(0.8, 1.0, "seat_height")
    t = s.u(0.05, 0.09)
    leg_r = s.u(0.035, 0.05)
    square = s.chance(0.5)
    parts: PartList = [("seat", box([0, seat_y, 0], [w, t, d], s.u(0.01, 0.04)))]
    inset = leg_r + 0.03
    corners = [(sx * (w - inset), sz * (d - inset)) for sx in (-1, 1) for sz in (-1, 1)]
    parts += _legs(corners, seat_y - t * 0.5, 0.0, leg_r, square, s.u(0.0, 0.12))
    back_h = s.prop(0.7, 1.0, "back_height")
    back_z = -d + 0.04
    if s.chance(0.5):
        parts.append(("backrest", box([0, seat_y + back_h / 2 + t * 0.5, back_z], [w * 0.95, back_h / 2, 0.04],
                                      0.02, rot_x(-s.u(0.0, 0.15)))))
    else:
        top_y = seat_y + back_h
        parts.append(("back_rail", box([0, top_y, back_z], [w, 0.08, 0.05], 0.02)))
        n = s.count(2, 4, "slats")
        for i in range(n):
            x = -w * 0.75 + 1.5 * w * (i + 0.5) / n
            parts.append(("back_slat", box([x, (seat_y + top_y) / 2, back_z], [0.035, (top_y - seat_y) / 2, 0.03], 0.01)))
    if s.chance(0.35):
        for sx in (-1, 1):
            parts.append(("armrest", box([sx * (w - 0.03), seat_y + 0.3, 0.0], [0.04, 0.035, d * 0.85], 0.02)))
            parts[-1] = ("armrest", Union([parts[-1][1], rod([sx * (w - 0.03), seat_y, d * 0.7],
                                                                [sx * (w - 0.03), seat_y + 0.3, d * 0.7], 0.03)]))
    return parts


@register("table")
def table(s: Sampler) -> PartList:
    h = s.prop(1.0, 1.4, "height")
    t = s.u(0.05, 0.09)
    parts: PartList = []
    if s.chance(0.6):
        w, d = s.prop(0.9, 1.5, "width"), s.u(0.5, 0.9)
        parts.append(("tabletop", box([0, h, 0], [w, t, d], s.u(0.01, 0.05))))
        r = s.u(0.04, 0.07)
        corners = [(sx * (w - 0.12), sz * (d - 0.12)) for sx in (-1, 1) for sz in (-1, 1)]
        parts += _legs(corners, h - t * 0.5, 0.0, r, s.chance(0.5))
        if s.chance(0.4):
            parts.append(("shelf", box([0, h * s.u(0.2, 0.35), 0], [w - 0.12, 0.03, d - 0.12], 0.01)))
    else:
        rad = s.prop(0.6, 0.9, "radius")
        parts.append(("tabletop", cylinder([0, h, 0], rad, t, 0.02)))
        parts.append(("pedestal", rod([0, 0.05, 0], [0, h - t * 0.5, 0], s.u(0.06, 0.1))))
        if s.chance(0.5):
            parts.append(("base", cylinder([0, 0.04, 0], rad * s.u(0.4, 0.6), 0.04, 0.02)))
        else:
            n = s.count(3, 4, "feet")
            for i in range(n):
                a = 2 * math.pi * i / n
                parts.append(("foot", capsule([0, 0.06, 0], [rad * 0.6 * math.cos(a), 0.04, rad * 0.6 * math.sin(a)], 0.04)))
    return parts


@register("stool")
def stool(s: Sampler) -> PartList:
    h = s.prop(0.9, 1.5, "height")
    r = s.u(0.3, 0.45)
    parts: PartList = [("seat", cylinder([0, h, 0], r, s.u(0.04, 0.07), 0.03))]
    n = s.count(3, 4, "legs")
    spread = s.u(1.1, 1.4)
    for i in range(n):
        a = 2 * math.pi * (i + 0.5) / n
        top = np.array([0.7 * r * math.cos(a), h, 0.7 * r * math.sin(a)])
        bottom = np.array([spread * r * math.cos(a), 0.0, spread * r * math.sin(a)])
        parts.append(("leg", capsule(bottom + [0, 0.03, 0], top, 0.03)))
    if s.chance(0.6):
        y = h * s.u(0.3, 0.45)
        frac = y / h
        rr = (1 - frac) * spread * r + frac * 0.7 * r
        parts.append(("footring", torus([0, y, 0], rr, 0.025)))
    return parts


@register("bench")
def bench(s: Sampler) -> PartList:
    w = s.prop(1.6, 2.2, "length")
    h = s.u(0.6, 0.8)
    n = s.count(2, 4, "planks")
    d = 0.55
    parts: PartList = []
    pw = d / n
    for i in range(n):
        z = -d / 2 + pw * (i + 0.5)
        parts.append(("plank", box([0, h, z], [w / 2, 0.04, pw / 2 * 0.85], 0.015)))
    for sx in (-1, 1):
        x = sx * (w / 2 - 0.2)
        parts.append(("leg_frame", box([x, (h - 0.04) / 2, 0], [0.05, (h - 0.04) / 2 + 0.02, d / 2], 0.02)))
    if s.chance(0.5):
        bh = s.u(0.3, 0.5)
        parts.append(("backrest", box([0, h + bh, -d / 2 - 0.02], [w / 2, bh * 0.4, 0.03], 0.015)))
        for sx in (-1, 1):
            parts.append(("back_post", box([sx * (w / 2 - 0.2), h + bh / 2, -d / 2 - 0.02], [0.04, bh / 2 + 0.05, 0.04], 0.01)))
    return parts


@register("bookshelf")
def bookshelf(s: Sampler) -> PartList:
    h = s.prop(1.6, 2.2, "height")
    w = s.u(0.7, 1.1)
    d = s.u(0.25, 0.4)
    t = 0.04
    parts: PartList = []
    for sx in (-1, 1):
        parts.append(("side_panel", box([sx * (w / 2 - t), h / 2, 0], [t, h / 2, d / 2], 0.005)))
    parts.append(("bottom_panel", box([0, t + 0.05, 0], [w / 2 - t, t, d / 2], 0.005)))
    parts.append(("top_panel", box([0, h - t, 0], [w / 2, t, d / 2 + 0.01], 0.005)))
    n = s.count(2, 4, "shelves")
    for i in range(n):
        y = t + 0.05 + (h - 2 * t - 0.05) * (i + 1) / (n + 1)
        parts.append(("shelf", box([0, y, 0], [w / 2 - t - 0.005, 0.025, d / 2 - 0.01], 0.005)))
    if s.chance(0.5):
        parts.append(("back_panel", box([0, h / 2, -d / 2 + 0.01], [w / 2 - 0.01, h / 2 - 0.01, 0.02], 0.003)))
    return parts


@register("cabinet")
def cabinet(s: Sampler) -> PartList:
    h = s.prop(1.0, 1.5, "height")
    w = s.u(0.6, 0.9)
    d = s.u(0.4, 0.55)
    legs = s.chance(0.5)
    y0 = 0.15 if legs else 0.0
    parts: PartList = [("body", box([0, y0 + h / 2, 0], [w / 2, h / 2, d / 2], 0.01))]
    n = s.count(2, 4, "drawers")
    gap = 0.03
    dh = (h - gap * (n + 1)) / n
    round_handle = s.chance(0.5)
    for i in range(n):
        y = y0 + gap + dh / 2 + i * (dh + gap)
        parts.append(("drawer", box([0, y, d / 2 + 0.005], [w / 2 - 0.04, dh / 2, 0.03], 0.01)))
        if round_handle:
            parts.append(("handle", sphere([0, y, d / 2 + 0.05], 0.035)))
        else:
            parts.append(("handle", capsule([-0.1, y, d / 2 + 0.05], [0.1, y, d / 2 + 0.05], 0.02)))
    if legs and n <= 4:
        corners = [(sx * (w / 2 - 0.05), sz * (d / 2 - 0.05)) for sx in (-1, 1) for sz in (-1, 1)]
        parts += _legs(corners, y0 + 0.02, 0.0, 0.03, False)
    return parts


@register("bed")
def bed(s: Sampler) -> PartList:
    length = s.prop(1.8, 2.2, "length")
    w = s.u(1.0, 1.6)
    fh = s.u(0.25, 0.35)
    parts: PartList = [("frame", box([0, fh, 0], [w / 2, 0.08, length / 2], 0.02))]
    mt = s.u(0.1, 0.16)
    parts.append(("mattress", box([0, fh + 0.08 + mt - 0.02, 0.02], [w / 2 - 0.04, mt, length / 2 - 0.05], 0.06)))
    hb = s.u(0.5, 0.8)
    parts.append(("headboard", box([0, hb / 2 + 0.1, -length / 2 - 0.03], [w / 2 + 0.03, hb / 2 + 0.1, 0.04], 0.02)))
    if s.chance(0.5):
        parts.append(("footboard", box([0, 0.3, length / 2 + 0.03], [w / 2 + 0.03, 0.3, 0.04], 0.02)))
    n = s.count(1, 2, "pillows")
    for i in range(n):
        x = 0.0 if n == 1 else (-w / 4 + w / 2 * i)
        pw = (w / 2 - 0.1) if n == 1 else w / 4 - 0.04
        parts.append(("pillow", superellipsoid([x, fh + 0.08 + 2 * mt + 0.02, -length / 2 + 0.25],
                                               [pw, 0.07, 0.15], 0.5, 0.5)))
    corners = [(sx * (w / 2 - 0.06), sz * (length / 2 - 0.06)) for sx in (-1, 1) for sz in (-1, 1)]
    parts += _legs(corners, fh - 0.05, 0.0, 0.04, True)
    return parts


@register("sofa")
def sofa(s: Sampler) -> PartList:
    n = s.count(2, 3, "seats")
    w = s.prop(0.5, 0.65, "seat_width") * n
    d = s.u(0.8, 1.0)
    bh = s.u(0.25, 0.35)
    parts: PartList = [("base", box([0, 0.15 + bh / 2, 0], [w / 2, bh / 2, d / 2], 0.04))]
    top = 0.15 + bh
    cw = w / n
    ch = s.u(0.1, 0.15)
    for i in range(n):
        x = -w / 2 + cw * (i + 0.5)
        parts.append(("seat_cushion", box([x, top + ch - 0.02, 0.05], [cw / 2 - 0.01, ch, d / 2 - 0.1], 0.05)))
    back_h = s.u(0.4, 0.6)
    if s.chance(0.5):
        parts.append(("back", box([0, top + back_h / 2, -d / 2 + 0.1], [w / 2, back_h / 2 + 0.05, 0.1], 0.05)))
    else:
        for i in range(n):
            x = -w / 2 + cw * (i + 0.5)
            parts.append(("back_cushion", box([x, top + back_h / 2 + 0.05, -d / 2 + 0.12], [cw / 2 - 0.01, back_h / 2, 0.1],
                                              0.06, rot_x(-0.15))))
    aw = s.u(0.08, 0.15)
    ah = s.u(0.25, 0.4)
    for sx in (-1, 1):
        parts.append(("armrest", box([sx * (w / 2 + aw - 0.01), 0.15 + (bh + ah) / 2, 0], [aw, (bh + ah) / 2, d / 2], 0.05)))
    if s.chance(0.6):
        corners = [(sx * (w / 2 + aw - 0.06), sz * (d / 2 - 0.08)) for sx in (-1, 1) for sz in (-1, 1)]
        parts += _legs(corners, 0.17, 0.0, 0.035, False)
    return parts
