"""A kinematic tree of links with primitive or mesh geometry, posed and written as one object.

Units are the model's (metres); frames are 4x4 homogeneous matrices. The model's up axis is +Z (MuJoCo
and ROS); the object is written +Y up (``(x, y, z) -> (x, z, -y)``), normalised to ``[-1, 1]^3``, with one
part per rigid group of links: a link attached to its parent without a moving joint belongs to its
parent's part.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from autopartgen.data.procedural.build import Part, mesh_from_sdf, mesh_parts
from autopartgen.data.procedural.primitives import Shape, Union, box, capsule, cylinder, ellipsoid, rot_x, sphere
from autopartgen.errors import InputFileError

logger = logging.getLogger(__name__)

Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
MOVING = ("hinge", "slide", "ball", "free", "revolute", "continuous", "prismatic", "floating", "planar")


@dataclass
class Geom:
    """One piece of a link's geometry in the link frame.

    ``kind``: ``box`` (``size`` = half extents (3,)), ``sphere`` (radius,), ``capsule`` / ``cylinder``
    (radius, half length) along the geom's local z, ``ellipsoid`` (radii (3,)), or ``mesh`` (``mesh`` holds
    the triangles in the geom frame, already scaled). ``frame`` (4, 4): geom frame in the link frame.
    """

    kind: str
    size: np.ndarray
    frame: np.ndarray
    mesh: trimesh.Trimesh | None = None
    name: str = ""


@dataclass
class Joint:
    """A joint moving its link relative to the parent: ``kind`` (hinge/revolute/continuous turn about
    ``axis``; slide/prismatic translate along it; fixed; ball/free/floating/planar are held at their
    default), ``axis`` (3,) and ``anchor`` (3,) in the link frame, ``limits`` (lo, hi) in rad or m, or None."""

    name: str
    kind: str
    axis: np.ndarray
    anchor: np.ndarray = field(default_factory=lambda: np.zeros(3))
    limits: tuple[float, float] | None = None


@dataclass
class Link:
    """A rigid body: ``frame`` (4, 4) in the parent's frame at the zero pose, ``parent`` index (-1: world)."""

    name: str
    parent: int
    frame: np.ndarray
    joints: list[Joint] = field(default_factory=list)
    geoms: list[Geom] = field(default_factory=list)

    @property
    def moves(self) -> bool:
        return any(j.kind in MOVING for j in self.joints)


@dataclass
class ArticulatedModel:
    """Links in parent-before-child order, the model's name and where it came from."""

    name: str
    links: list[Link]
    source: str = ""


def rotation(axis, angle: float) -> np.ndarray:
    """3x3 rotation by ``angle`` radians about ``axis`` (3,) (Rodrigues)."""
    a = np.asarray(axis, float)
    a = a / max(np.linalg.norm(a), 1e-12)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


def homogeneous(rot: np.ndarray | None = None, pos=None) -> np.ndarray:
    out = np.eye(4)
    if rot is not None:
        out[:3, :3] = rot
    if pos is not None:
        out[:3, 3] = np.asarray(pos, float)
    return out


def joint_motion(joint: Joint, q: float) -> np.ndarray:
    """The 4x4 motion of the link frame for joint value ``q`` (about / along the axis through the anchor)."""
    if joint.kind in ("hinge", "revolute", "continuous"):
        r = rotation(joint.axis, q)
        return homogeneous(r, joint.anchor - r @ joint.anchor)
    if joint.kind in ("slide", "prismatic"):
        return homogeneous(None, np.asarray(joint.axis, float) / max(np.linalg.norm(joint.axis), 1e-12) * q)
    return np.eye(4)


def forward_kinematics(model: ArticulatedModel, q: dict[str, float] | None = None) -> list[np.ndarray]:
    """World frames (4, 4) of every link for joint values ``q`` (name -> value; missing joints: 0)."""
    q = q or {}
    world = []
    for link in model.links:
        frame = link.frame.copy()
        for joint in link.joints:
            frame = frame @ joint_motion(joint, q.get(joint.name, 0.0))
        world.append(frame if link.parent < 0 else world[link.parent] @ frame)
    return world


def random_pose(model: ArticulatedModel, rng: np.random.Generator, unlimited: float = math.radians(30)
                ) -> dict[str, float]:
    """Joint values drawn uniformly within each joint's limits (``±unlimited`` for a hinge without limits).

    Joints of links attached to the world (the root's free / slide joints) stay at zero, so the model
    keeps its place; fixed, ball and free joints are not drawn."""
    q = {}
    for link in model.links:
        if link.parent < 0:
            continue
        for joint in link.joints:
            if joint.kind in ("hinge", "revolute", "continuous", "slide", "prismatic"):
                lo, hi = joint.limits if joint.limits else (-unlimited, unlimited)
                if joint.kind in ("slide", "prismatic") and not joint.limits:
                    continue
                q[joint.name] = float(rng.uniform(lo, hi))
    return q


def rigid_groups(model: ArticulatedModel) -> list[int]:
    """For each link, the index of the link whose part it belongs to (itself if it moves or is a root)."""
    group = []
    for i, link in enumerate(model.links):
        group.append(i if link.parent < 0 or link.moves else group[link.parent])
    return group


def geom_shape(geom: Geom, world: np.ndarray) -> Shape | None:
    """The SDF primitive of a primitive geom placed by ``world`` (4, 4) (model frame, +Z up)."""
    rot = Z_UP_TO_Y_UP @ world[:3, :3] @ geom.frame[:3, :3]
    centre = Z_UP_TO_Y_UP @ (world @ geom.frame)[:3, 3]
    s = np.asarray(geom.size, float)
    if geom.kind == "sphere":
        return sphere(centre, s[0])
    if geom.kind == "capsule":
        half = rot @ np.array([0.0, 0.0, s[1]])
        return capsule(centre - half, centre + half, s[0])
    if geom.kind == "cylinder":
        return cylinder(centre, s[0], s[1], 0.0, rot @ rot_x(math.pi / 2))  # our cylinders run along local +Y
    if geom.kind == "box":
        return box(centre, s[:3], 0.0, rot)
    if geom.kind == "ellipsoid":
        return ellipsoid(centre, s[:3], rot)
    return None


class MeshPart(Shape):
    """A part given as a triangle mesh (URDF / MJCF mesh geometry); meshing returns the mesh itself. Its
    "SDF" is the unsigned distance to the nearest vertex (a mesh part is never taken as swallowed by
    another part)."""

    def __init__(self, mesh: trimesh.Trimesh):
        self.mesh = mesh
        self.lo, self.hi = mesh.bounds[0], mesh.bounds[1]
        self.thickness = float(np.min(mesh.extents))

    def __call__(self, points):
        from scipy.spatial import cKDTree

        return cKDTree(self.mesh.vertices).query(np.asarray(points, float))[0]


def posed_parts(model: ArticulatedModel, q: dict[str, float] | None = None) -> list[tuple[str, list]]:
    """(part name, [Shape or posed trimesh, ...]) per rigid group that has geometry, +Y up, model units."""
    world = forward_kinematics(model, q)
    groups = rigid_groups(model)
    pieces: dict[int, list] = {}
    for i, link in enumerate(model.links):
        for geom in link.geoms:
            if geom.kind == "mesh":
                if geom.mesh is None:
                    continue
                m = geom.mesh.copy()
                m.apply_transform(homogeneous(Z_UP_TO_Y_UP) @ world[i] @ geom.frame)
                pieces.setdefault(groups[i], []).append(m)
            else:
                shape = geom_shape(geom, world[i])
                if shape is not None:
                    pieces.setdefault(groups[i], []).append(shape)
    return [(model.links[g].name, items) for g, items in sorted(pieces.items())]


def build_parts(model: ArticulatedModel, q: dict[str, float] | None = None, resolution: int = 64
                ) -> tuple[list[Part], np.ndarray, float]:
    """Normalised parts in canonical order (see :func:`autopartgen.data.procedural.mesh_parts`).

    Primitive-only parts are meshed from the union of their SDFs (watertight, no inner walls); parts with
    mesh geometry are the posed meshes concatenated (primitives tessellated by trimesh beside them)."""
    raw = []
    for name, items in posed_parts(model, q):
        if all(isinstance(x, Shape) for x in items):
            raw.append((name, items[0] if len(items) == 1 else Union(items)))
        else:
            meshes = [x for x in items if isinstance(x, trimesh.Trimesh)]
            shapes = [x for x in items if isinstance(x, Shape) and x.thickness > 0]  # zero-size ones hold nothing
            if shapes:
                union = Union(shapes) if len(shapes) > 1 else shapes[0]
                # the grid of the link's meshes (48 cells across them), refined to four cells across the
                # thinnest primitive where that is thinner: a sensor sphere beside a large body mesh would
                # otherwise fall between the grid points
                mesh_cell = float(np.max(np.concatenate([m.extents for m in meshes]))) / 48
                meshes += [mesh_from_sdf(union, resolving_cell(union, mesh_cell, 4))[0]]
            raw.append((name, MeshPart(trimesh.util.concatenate(meshes))))
    if not raw:
        raise InputFileError(f"{model.source or model.name}: no link has geometry to import (every geom is "
                             "invisible, excluded or empty); pass a model with visual or collision geometry")
    return mesh_parts(raw, resolution, model.name, mesher=mesh_or_sdf)


def mesh_or_sdf(shape: Shape, cell: float) -> tuple[trimesh.Trimesh, float]:
    """A part's triangles: a :class:`MeshPart`'s own mesh, else marching cubes of the SDF, on a grid at
    least two cells across the part's thinnest feature: a link far smaller than the object (a sensor, a
    pin) would otherwise fall between the grid points of the object's cell."""
    if isinstance(shape, MeshPart):
        return shape.mesh.copy(), cell
    return mesh_from_sdf(shape, resolving_cell(shape, cell, 2))


def resolving_cell(shape: Shape, cell: float, across: int) -> float:
    """``cell``, or a finer one that puts ``across`` cells across ``shape``'s thinnest feature."""
    return max(min(cell, shape.thickness / across), 1e-6)


def write_model(model: ArticulatedModel, out_dir: Path, obj_id: str, q: dict[str, float] | None = None,
                category: str = "articulated", licence: str = "", extra_meta: dict | None = None,
                resolution: int = 64, n_views: int = 2, size: int = 256, seed: int = 0) -> Path:
    """Pose ``model`` with ``q``, mesh one part per rigid group and write the object folder (parts.glb,
    meta.json with source and licence, rendered views and masks, surface samples). Returns the folder."""
    from autopartgen.data.dataset import compute_samples, write_object
    from autopartgen.render import render_views

    parts, centre, scale = build_parts(model, q, resolution)
    meshes = [p.mesh for p in parts]
    rng = np.random.default_rng([seed, 1])
    views = render_views(meshes, n_views, rng, size) if n_views > 0 else []
    samples = compute_samples(meshes, None, seed=seed, n_near=0, n_uniform=0)
    meta = {"category": category, "seed": int(seed), "split": "real-val", "source": model.source,
            "licence": licence, "ood": False, "ood_params": [],
            "pose": {k: round(float(v), 6) for k, v in (q or {}).items()},
            "normalisation": {"centre": np.round(centre, 8).tolist(), "scale": float(scale),
                              "note": "normalised = (model units, +Y up) - centre) * scale"},
            "parts": [{"name": p.name, "label": p.name, "watertight": bool(p.mesh.is_watertight)} for p in parts]}
    meta.update(extra_meta or {})
    return write_object(out_dir, obj_id, meshes, meta, views, samples)


def write_pose_variants(model: ArticulatedModel, out_dir: Path, base_id: str, n_random: int = 2, seed: int = 0,
                        include_default: bool = True, **write_kwargs) -> list[Path]:
    """Write ``model`` in its default pose (``<base_id>_default``, unless ``include_default`` is False: some
    models overlap links at zero, like a planar walker's two legs) and in ``n_random`` joint configurations
    drawn within the limits from ``seed`` (``<base_id>_pose1`` ...). Returns the object folders."""
    rng = np.random.default_rng(seed)
    poses = [("default", {})] if include_default else []
    poses += [(f"pose{k + 1}", random_pose(model, rng)) for k in range(n_random)]
    folders = []
    for tag, q in poses:
        folders.append(write_model(model, out_dir, f"{base_id}_{tag}", q, seed=seed, **write_kwargs))
        logger.info("%s: %s", folders[-1].name, "default pose" if not q else f"{len(q)} joints drawn")
    return folders
