"""Robots (corpus v2) as chains of rigid links, the way a user would rig or simulate them: a robot arm
(base, turret, links with rounded joint housings, wrist, gripper palm and two fingers), a quadruped (body,
hip / thigh / calf per leg) and a wheeled robot (chassis, one part per wheel, optional turning sensor).
Joint angles are drawn within plausible limits, so every object is one pose of the robot."""

from __future__ import annotations

import math

import numpy as np

from autopartgen.data.procedural.assembly import joint_housing, link_segment, planar_chain, wheel
from autopartgen.data.procedural.primitives import Union, box, capsule, cylinder, rod, rot_x, rot_z, sphere, superellipsoid
from autopartgen.data.procedural.registry import PartList, register
from autopartgen.data.procedural.sampler import Sampler


@register("robot_arm", since="v2")
def robot_arm(s: Sampler) -> PartList:
    """base - link_1 (turret) - link_2 (upper arm) - link_3 (forearm) - [link_4 (wrist)] - gripper - fingers."""
    style = s.choice(["capsule", "rod", "box"])
    base_r = s.u(0.22, 0.3)
    base_h = s.u(0.08, 0.16)
    parts: PartList = [("base", cylinder([0, base_h / 2, 0], base_r, base_h / 2, 0.02))]
    turret_h = s.u(0.15, 0.3)
    r1 = base_r * s.u(0.55, 0.75)
    shoulder = np.array([0.0, base_h + turret_h, 0.0])
    parts.append(("link_1", Union([cylinder([0, base_h + turret_h / 2 - 0.01, 0], r1, turret_h / 2 + 0.01, 0.02),
                                   joint_housing(shoulder, r1 * 0.9, r1 * 0.8)])))
    n_links = s.count(2, 3, "links")
    # upper arm, forearm, then short wrist links (out-of-distribution draws add more of them)
    lengths = [s.prop(0.45, 0.7, "upper_arm"), s.u(0.4, 0.6)] + [s.u(0.15, 0.25) for _ in range(n_links - 2)]
    angles = [s.u(-1.0, 1.0), s.u(0.3, 1.8) * s.choice([-1, 1])] + [s.u(-1.0, 1.0) for _ in range(n_links - 2)]
    joints = planar_chain(shoulder, lengths, angles)
    radius = r1 * s.u(0.45, 0.6)
    for i in range(n_links):
        a, b = joints[i], joints[i + 1]
        r = radius * (0.85 ** i)
        shape = [link_segment(a, b, r, style)]
        if i + 1 < n_links:  # the joint housing at the link's far end turns the next link
            shape.append(joint_housing(b, r * 1.35, r * 1.2))
        parts.append((f"link_{i + 2}", Union(shape)))
    tip = joints[-1]
    direction = (tip - joints[-2]) / np.linalg.norm(tip - joints[-2])
    side = np.array([-direction[1], direction[0], 0.0])  # in-plane normal: fingers close along it
    palm_len = s.u(0.06, 0.1)
    palm_w = s.u(0.1, 0.16)
    palm_c = tip + direction * palm_len / 2
    angle = math.atan2(direction[1], direction[0])
    parts.append(("gripper", box(palm_c, [palm_len / 2, palm_w, radius * 0.9], 0.01, rot_z(angle))))
    finger_len = s.u(0.1, 0.18)
    opening = s.u(0.2, 0.85) * palm_w
    for name, sign in (("finger_left", 1.0), ("finger_right", -1.0)):
        root = tip + direction * palm_len + side * sign * opening
        parts.append((name, box(root + direction * (finger_len / 2 - 0.005), [finger_len / 2, 0.018, radius * 0.6],
                                0.008, rot_z(angle))))
    return parts


@register("quadruped", since="v2")
def quadruped(s: Sampler) -> PartList:
    """body, then per leg (fl, fr, rl, rr) an optional hip link, a thigh and a calf with its foot."""
    length = s.prop(0.9, 1.3, "body_length")
    hw = s.u(0.16, 0.25)
    bh = s.u(0.1, 0.16)
    thigh, calf = s.u(0.3, 0.45), s.u(0.3, 0.45)
    hips = s.chance(0.5)
    stance = s.u(0.6, 1.0)  # knee bend
    body_y = (thigh + calf) * (0.65 + 0.25 * (1 - stance)) + 0.04
    body = [superellipsoid([0, body_y, 0], [length / 2, bh, hw], 0.5, 0.6)]
    if s.chance(0.6):
        body.append(box([length / 2 + 0.06, body_y + bh * 0.5, 0], [0.1, bh * 0.7, hw * 0.7], 0.04))
    parts: PartList = [("body", Union(body))]
    leg_r = s.u(0.035, 0.05)
    for fore, tag_x in ((1, "f"), (-1, "r")):
        for sz, tag_z in ((1, "l"), (-1, "r")):
            hip = np.array([fore * (length / 2 - 0.12), body_y - bh * 0.3, sz * (hw + 0.02)])
            name = f"{tag_x}{tag_z}"
            if hips:
                out = hip + [0, 0, sz * 0.07]
                parts.append((f"hip_{name}", cylinder(hip + [0, 0, sz * 0.035], leg_r * 1.6, 0.05, 0.015,
                                                      rot_x(math.pi / 2))))
                hip = out
            swing = s.u(-0.5, 0.5) * stance
            knee_dir = -fore if s.chance(0.8) else fore
            a1 = swing + knee_dir * 0.5 * stance
            knee = hip + thigh * np.array([math.sin(a1), -math.cos(a1), 0.0])
            foot_y = 0.04
            dy = knee[1] - foot_y
            dx = math.sqrt(max(calf ** 2 - dy ** 2, 0.0)) * (-knee_dir)
            foot = np.array([knee[0] + dx, foot_y, knee[2]])
            parts.append((f"thigh_{name}", Union([capsule(hip, knee, leg_r * 1.3), sphere(hip, leg_r * 1.7)])))
            parts.append((f"calf_{name}", Union([capsule(knee, foot, leg_r), sphere(foot, leg_r * 1.1)])))
    return parts


@register("wheeled_robot", since="v2")
def wheeled_robot(s: Sampler) -> PartList:
    """chassis (with its fixed mast), wheels named by position (wheel_fl ...), optional caster and sensor."""
    length = s.prop(0.8, 1.2, "length")
    hw = s.u(0.25, 0.4)
    wr = s.u(0.1, 0.18)
    ww = s.u(0.05, 0.09)
    ch = s.u(0.12, 0.25)
    cy = wr + ch / 2
    chassis = [box([0, cy, 0], [length / 2, ch / 2, hw], 0.04)]
    mast_h = s.u(0.2, 0.6) if s.chance(0.6) else 0.0
    if mast_h:
        chassis.append(rod([length * 0.2, cy + ch / 2 - 0.01, 0], [length * 0.2, cy + ch / 2 + mast_h, 0], 0.04))
    four = s.chance(0.6)
    xs = [("f", length / 2 - wr * 1.1), ("r", -length / 2 + wr * 1.1)] if four else [("", 0.0)]
    axle_r = 0.025
    for tag, x in xs:
        chassis.append(rod([x, wr, -hw - ww * 0.5], [x, wr, hw + ww * 0.5], axle_r))
    parts: PartList = [("chassis", Union(chassis))]
    tyre = s.chance(0.6)
    for tag, x in xs:
        for sz, side in ((1, "l"), (-1, "r")):
            parts.append((f"wheel_{tag}{side}" if tag else f"wheel_{side}",
                          wheel([x, wr, sz * (hw + ww * 0.5 + 0.01)], wr, ww, tyre)))
    if not four:
        cr = wr * 0.4
        parts.append(("caster", Union([sphere([-length / 2 + cr * 1.5, cr, 0], cr),
                                       rod([-length / 2 + cr * 1.5, cr, 0], [-length / 2 + cr * 1.5, wr + 0.02, 0], cr * 0.5)])))
    if s.chance(0.6):
        top = cy + ch / 2 + mast_h
        x = length * 0.2 if mast_h else 0.0
        parts.append(("sensor", Union([cylinder([x, top + 0.05, 0], 0.08, 0.05, 0.015),
                                       box([x + 0.06, top + 0.05, 0], [0.03, 0.025, 0.05], 0.01)])))
    return parts
