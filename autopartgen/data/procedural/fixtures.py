"""Fixtures (corpus v2), one part per rigid link: faucets (body, swivelling spout, lever or two taps),
lever panels, pipe valves (pipe with valve body, handwheel or lever), windows and doors (frame, sashes
or leaf, handles that turn)."""

from __future__ import annotations

import math

import numpy as np

from autopartgen.data.procedural.assembly import hinged, panel_with_handle
from autopartgen.data.procedural.primitives import (
    Union, bezier, box, capsule, cylinder, rod, rot_x, rot_z, sphere, torus, tube,
)
from autopartgen.data.procedural.registry import PartList, register
from autopartgen.data.procedural.sampler import Sampler


@register("faucet", since="v2")
def faucet(s: Sampler) -> PartList:
    h = s.prop(0.6, 1.0, "height")
    r = s.u(0.07, 0.11)
    plate_r = r * s.u(1.6, 2.4)
    body = [cylinder([0, 0.02, 0], plate_r, 0.02, 0.01), cylinder([0, h / 2, 0], r, h / 2, 0.02)]
    parts: PartList = [("body", Union(body))]
    reach = s.u(0.4, 0.7)
    swing = s.u(-0.6, 0.6)
    d = np.array([math.sin(swing), 0.0, math.cos(swing)])
    top = np.array([0.0, h + s.u(0.0, 0.3), 0.0])
    spout_r = r * s.u(0.35, 0.5)
    pts = bezier([0, h - 0.05, 0], top + d * reach * 0.4 + [0, 0.1, 0], d * reach + [0, h * 0.7, 0], 10)
    parts.append(("spout", Union([cylinder([0, h - 0.02, 0], r * 1.05, 0.04, 0.01), tube(pts, spout_r)])))
    if s.chance(0.5):
        lever_len = s.u(0.2, 0.35)
        tilt = s.u(0.1, 0.6)
        base = np.array([0, h + 0.02, -r * 0.5])
        end = base + lever_len * np.array([0.0, math.sin(tilt), -math.cos(tilt)])
        parts.append(("lever", Union([cylinder(base + [0, 0.03, 0], r * 0.8, 0.04, 0.01),
                                      capsule(base + [0, 0.05, 0], end, 0.025)])))
    else:
        for sx, name in ((-1, "tap_hot"), (1, "tap_cold")):
            c = np.array([sx * (plate_r + 0.1), 0.0, 0.0])
            parts.append((name, Union([cylinder(c + [0, 0.1, 0], 0.05, 0.1, 0.01), cylinder(c + [0, 0.21, 0], 0.03, 0.02),
                                       box(c + [0, 0.24, 0], [0.09, 0.02, 0.025], 0.01)])))
            parts[0] = ("body", Union([parts[0][1], rod([0, 0.06, 0], c + [0, 0.06, 0], 0.03)]))
    return parts


@register("lever_panel", since="v2")
def lever_panel(s: Sampler) -> PartList:
    """A housing with 1-4 levers (throttle, switch or brake style), each turning about its pivot."""
    n = s.count(1, 4, "levers")
    hw = 0.12 * n + 0.1
    hh, hd = s.u(0.12, 0.2), s.u(0.2, 0.3)
    parts: PartList = [("housing", box([0, hh, 0], [hw, hh, hd], 0.03))]
    length = s.prop(0.5, 0.8, "lever_length")
    for i in range(n):
        x = -hw + 2 * hw * (i + 0.5) / n
        tilt = s.u(-0.6, 0.6)
        pivot = np.array([x, 2 * hh, 0.0])
        end = pivot + length * np.array([0.0, math.cos(tilt), math.sin(tilt)])
        shape = Union([cylinder(pivot, 0.045, 0.035, 0.01, rot_z(math.pi / 2)), rod(pivot, end, 0.022),
                       sphere(end, s.u(0.04, 0.06))])
        parts.append(("lever", shape))
    return parts


@register("valve", since="v2")
def valve(s: Sampler) -> PartList:
    """A pipe run with a valve body (one rigid part) and the valve's handwheel or lever on its stem."""
    length = s.prop(1.2, 1.8, "pipe_length")
    pr = s.u(0.07, 0.11)
    y = pr + 0.08
    pipe = [rod([-length / 2, y, 0], [length / 2, y, 0], pr, 0.01)]
    for sx in (-1, 1):
        pipe.append(cylinder([sx * (length / 2 - 0.04), y, 0], pr * 1.6, 0.03, 0.01, rot_z(math.pi / 2)))
    vb = pr * s.u(1.5, 2.0)
    pipe.append(capsule([-vb * 0.3, y, 0], [vb * 0.3, y, 0], vb) if s.chance(0.5)
                else box([0, y, 0], [vb, vb, vb], vb * 0.3))
    stem_top = y + vb + s.u(0.15, 0.3)
    pipe.append(rod([0, y + vb * 0.8, 0], [0, y + vb + 0.08, 0], pr * 0.9, 0.01))
    if s.chance(0.4):  # a mounting foot
        pipe.append(box([0, 0.04, 0], [vb * 0.8, 0.04, pr * 1.2], 0.01))
    parts: PartList = [("pipe", Union(pipe))]
    if s.chance(0.6):
        wr = s.u(0.15, 0.25)
        c = np.array([0.0, stem_top, 0.0])
        spokes = [rod(c + [0, -(stem_top - y - vb - 0.05), 0], c, 0.025)]
        for i in range(s.count(3, 5, "spokes")):
            a = 2 * math.pi * i / 4 + 0.3
            spokes.append(rod(c, c + wr * np.array([math.cos(a), 0.0, math.sin(a)]), 0.015))
        parts.append(("handwheel", Union([torus(c, wr, 0.025)] + spokes)))
    else:
        turn = s.u(0.0, math.pi / 2)
        d = np.array([math.cos(turn), 0.0, math.sin(turn)])
        c = np.array([0.0, y + vb + 0.1, 0.0])
        tip = c + d * s.u(0.3, 0.5) + [0, 0.06, 0]
        parts.append(("lever", Union([cylinder(c, pr * 0.7, 0.04, 0.01), capsule(c + [0, 0.03, 0], tip, 0.025)])))
    return parts


@register("window", since="v2")
def window(s: Sampler) -> PartList:
    """A window: frame (with its sill), one or two sashes (glass in a sash frame), each with a turning handle."""
    hw = s.prop(0.5, 0.9, "width")
    h = s.u(0.9, 1.6)
    f = s.u(0.05, 0.08)
    depth = s.u(0.06, 0.1)
    y0 = 0.06
    frame = [box([0, y0 + f / 2, 0], [hw, f / 2, depth], 0.005), box([0, y0 + h - f / 2, 0], [hw, f / 2, depth], 0.005),
             box([-hw + f / 2, y0 + h / 2, 0], [f / 2, h / 2, depth], 0.005),
             box([hw - f / 2, y0 + h / 2, 0], [f / 2, h / 2, depth], 0.005),
             box([0, y0 / 2, depth * 0.6], [hw + 0.05, y0 / 2, depth * 1.6], 0.01)]
    n = s.count(1, 2, "sashes")
    if n == 2:
        frame.append(box([0, y0 + h / 2, 0], [f / 2, h / 2, depth], 0.005))
    parts: PartList = [("frame", Union(frame))]
    inner_w = (2 * hw - (n + 1) * f) / n
    sh = h - 2 * f
    sf = s.u(0.035, 0.05)
    for i in range(n):
        x0 = -hw + f + i * (inner_w + f)
        cx, cy = x0 + inner_w / 2, y0 + h / 2
        sash = Union([box([cx, cy - sh / 2 + sf / 2, 0], [inner_w / 2, sf / 2, depth * 0.6], 0.004),
                      box([cx, cy + sh / 2 - sf / 2, 0], [inner_w / 2, sf / 2, depth * 0.6], 0.004),
                      box([cx - inner_w / 2 + sf / 2, cy, 0], [sf / 2, sh / 2, depth * 0.6], 0.004),
                      box([cx + inner_w / 2 - sf / 2, cy, 0], [sf / 2, sh / 2, depth * 0.6], 0.004),
                      box([cx, cy, 0], [inner_w / 2 - sf * 0.5, sh / 2 - sf * 0.5, 0.008], 0.002)])
        hinge_left = i == 0
        hx = x0 + inner_w - sf / 2 if hinge_left else x0 + sf / 2
        z_front = depth * 0.6
        handle_pivot = np.array([hx, cy, z_front + 0.02])
        turn = s.choice([0.0, 0.0, math.pi / 2])
        d = np.array([math.sin(turn), -math.cos(turn), 0.0])
        handle = Union([cylinder(handle_pivot, 0.022, 0.02, 0.006, rot_x(math.pi / 2)),
                        capsule(handle_pivot + [0, 0, 0.015], handle_pivot + d * 0.12 + [0, 0, 0.03], 0.013)])
        angle = (s.u(0.1, 0.7) if s.chance(0.3) else 0.0) * (-1 if hinge_left else 1)
        pivot = [x0 if hinge_left else x0 + inner_w, cy, z_front]
        parts.append(("sash", hinged(sash, pivot, "y", angle)))
        parts.append(("handle", hinged(handle, pivot, "y", angle)))
    return parts


@register("door", since="v2")
def door(s: Sampler) -> PartList:
    """A door: frame (jambs and head), the leaf (sometimes ajar) and its turning handle or knob."""
    hw = s.u(0.4, 0.55)
    h = s.prop(1.8, 2.2, "height")
    f = s.u(0.05, 0.09)
    depth = s.u(0.07, 0.12)
    frame = [box([-hw - f / 2, h / 2, 0], [f / 2, h / 2, depth], 0.008),
             box([hw + f / 2, h / 2, 0], [f / 2, h / 2, depth], 0.008),
             box([0, h + f / 2, 0], [hw + f, f / 2, depth], 0.008)]
    parts: PartList = [("frame", Union(frame))]
    t = s.u(0.03, 0.05)
    leaf = [box([0, h / 2 + 0.005, 0], [hw - 0.005, h / 2 - 0.005, t], 0.006)]
    if s.chance(0.6):  # raised panels on the front face
        rows = s.count(1, 3, "panels")
        for r in range(rows):
            py = h * (0.12 + (r + 0.5) * 0.8 / rows)
            leaf.append(box([0, py, t], [hw * 0.7, h * 0.35 / rows, 0.012], 0.008))
    hinge_left = s.chance(0.5)
    hx = hw - 0.08 if hinge_left else -hw + 0.08
    hy = h * s.u(0.45, 0.5)
    pivot_handle = np.array([hx, hy, t])
    if s.chance(0.6):
        sx = -1 if hinge_left else 1
        handle = Union([cylinder(pivot_handle + [0, 0, 0.02], 0.03, 0.02, 0.006, rot_x(math.pi / 2)),
                        capsule(pivot_handle + [0, 0, 0.05], pivot_handle + [sx * 0.14, -0.01, 0.06], 0.016)])
    else:
        handle = Union([rod(pivot_handle, pivot_handle + [0, 0, 0.05], 0.015), sphere(pivot_handle + [0, 0, 0.07], 0.035)])
    angle = (s.u(0.1, 1.2) if s.chance(0.4) else 0.0) * (-1 if hinge_left else 1)
    pivot = [-hw if hinge_left else hw, h / 2, 0.0]
    parts.append(("leaf", hinged(Union(leaf), pivot, "y", angle)))
    parts.append(("handle", hinged(handle, pivot, "y", angle)))
    return parts
