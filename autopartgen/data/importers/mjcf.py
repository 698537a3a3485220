"""Read a MuJoCo MJCF model into an :class:`~autopartgen.data.importers.articulated.ArticulatedModel`.

Supported: ``<compiler angle eulerseq meshdir>``, ``<default>`` classes (nested, ``class`` and
``childclass``), bodies with ``pos`` and ``quat`` / ``axisangle`` / ``euler`` / ``xyaxes`` / ``zaxis``,
hinge / slide / ball / free joints with ``range`` / ``limited``, geoms ``sphere``, ``capsule``,
``cylinder``, ``box``, ``ellipsoid`` (``size`` or ``fromto``) and ``mesh`` (STL/OBJ assets, loaded as
they are: MuJoCo's re-centring of meshes on their inertial frame is not reproduced). Planes and height
fields are the environment and are skipped. Not supported: ``coordinate="global"`` (pre-2.3 models),
``<include>``, ``<frame>``, ``<replicate>``.

The world body becomes the root link ``base``: the static geoms of the model (a rail, a robot's fixed
base) and every body welded to the world belong to it.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import trimesh

from autopartgen.data.importers.articulated import ArticulatedModel, Geom, Joint, Link, homogeneous, rotation
from autopartgen.errors import InputFileError

SKIPPED_GEOMS = ("plane", "hfield", "sdf")


def _floats(text: str | None, n: int | None = None, default=None) -> np.ndarray | None:
    if text is None:
        return None if default is None else np.asarray(default, float)
    values = np.array([float(v) for v in text.split()], float)
    if n is not None and len(values) < n:
        values = np.concatenate([values, np.zeros(n - len(values))])
    return values


def quat_matrix(q) -> np.ndarray:
    """3x3 rotation of the unit quaternion ``q`` = (w, x, y, z) (normalised first)."""
    w, x, y, z = np.asarray(q, float) / max(np.linalg.norm(q), 1e-12)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def _z_to(v) -> np.ndarray:
    """The smallest rotation taking +Z onto the direction ``v`` (3,)."""
    v = np.asarray(v, float) / max(np.linalg.norm(v), 1e-12)
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(z, v)
    s, c = np.linalg.norm(axis), float(z @ v)
    if s < 1e-12:
        return np.eye(3) if c > 0 else rotation([1.0, 0.0, 0.0], math.pi)
    return rotation(axis, math.atan2(s, c))


class _Reader:
    def __init__(self, root: ET.Element, base_dir: Path):
        self.base_dir = base_dir
        compiler = root.find("compiler")
        attrs = compiler.attrib if compiler is not None else {}
        if attrs.get("coordinate", "local") == "global":
            raise InputFileError("coordinate=\"global\" MJCF (MuJoCo < 2.3) is not supported; use a local-frame "
                                 "version of the model")
        self.degrees = attrs.get("angle", "degree") == "degree"
        self.eulerseq = attrs.get("eulerseq", "xyz")
        self.meshdir = base_dir / attrs.get("meshdir", attrs.get("assetdir", ""))
        self.defaults: dict[str, dict[str, dict]] = {}
        top = root.find("default")
        self._read_defaults(top, {}, "main") if top is not None else self.defaults.setdefault("main", {})
        self.meshes = {}
        for asset in root.findall("asset"):
            for mesh in asset.findall("mesh"):
                name = mesh.get("name") or Path(mesh.get("file", "")).stem
                self.meshes[name] = mesh.attrib

    def _read_defaults(self, elem: ET.Element, inherited: dict, name: str) -> None:
        attrs = {tag: dict(values) for tag, values in inherited.items()}
        for child in elem:
            if child.tag != "default":
                attrs.setdefault(child.tag, {}).update(child.attrib)
        self.defaults[name] = attrs
        for child in elem.findall("default"):
            self._read_defaults(child, attrs, child.get("class", name))

    def attrs(self, elem: ET.Element, childclass: str | None) -> dict:
        cls = elem.get("class") or childclass or "main"
        merged = dict(self.defaults.get(cls, self.defaults.get("main", {})).get(elem.tag, {}))
        merged.update(elem.attrib)
        return merged

    def angle(self, value: float) -> float:
        return math.radians(value) if self.degrees else value

    def orientation(self, a: dict) -> np.ndarray:
        if "quat" in a:
            return quat_matrix(_floats(a["quat"]))
        if "axisangle" in a:
            v = _floats(a["axisangle"])
            return rotation(v[:3], self.angle(v[3]))
        if "euler" in a:
            angles = [self.angle(v) for v in _floats(a["euler"])]
            rot = np.eye(3)
            seq = self.eulerseq
            axes = {"x": [1.0, 0, 0], "y": [0, 1.0, 0], "z": [0, 0, 1.0]}
            for ch, ang in zip(seq, angles):
                r = rotation(axes[ch.lower()], ang)
                rot = rot @ r if ch.islower() else r @ rot  # lower case: axes move with the frame
            return rot
        if "xyaxes" in a:
            v = _floats(a["xyaxes"])
            x = v[:3] / np.linalg.norm(v[:3])
            y = v[3:] - (v[3:] @ x) * x
            y /= np.linalg.norm(y)
            return np.stack([x, y, np.cross(x, y)], axis=1)
        if "zaxis" in a:
            return _z_to(_floats(a["zaxis"]))
        return np.eye(3)

    def frame(self, a: dict) -> np.ndarray:
        return homogeneous(self.orientation(a), _floats(a.get("pos"), 3, [0, 0, 0]))

    def geom(self, a: dict) -> Geom | None:
        kind = a.get("type", "sphere")
        if kind in SKIPPED_GEOMS:
            return None
        rgba = _floats(a.get("rgba"))
        if rgba is not None and len(rgba) == 4 and rgba[3] == 0:
            return None  # invisible helper geometry
        size = _floats(a.get("size"), 3, [0, 0, 0])
        if "fromto" in a and kind in ("capsule", "cylinder"):
            ft = _floats(a["fromto"])
            start, end = ft[:3], ft[3:]
            frame = homogeneous(_z_to(end - start) if np.linalg.norm(end - start) > 0 else np.eye(3), (start + end) / 2)
            size = np.array([size[0], np.linalg.norm(end - start) / 2, 0.0])
            return Geom(kind, size, frame, name=a.get("name", ""))
        if kind in ("sphere", "capsule", "cylinder", "box", "ellipsoid"):
            return Geom(kind, size, self.frame(a), name=a.get("name", ""))
        if kind == "mesh":
            asset = self.meshes.get(a.get("mesh", ""))
            if asset is None or "file" not in asset:
                return None
            path = self.meshdir / asset["file"]
            try:
                mesh = trimesh.load(str(path), force="mesh", process=False)
            except Exception as error:
                raise InputFileError(f"{path}: cannot read mesh ({error})") from error
            mesh.apply_scale(_floats(asset.get("scale"), 3, [1, 1, 1]))
            return Geom("mesh", np.zeros(3), self.frame(a), mesh, a.get("name", ""))
        return None

    def joint(self, a: dict, index: int) -> Joint:
        kind = a.get("type", "hinge")
        limits = None
        if "range" in a and a.get("limited", "auto") != "false" and kind in ("hinge", "slide"):
            lo, hi = _floats(a["range"])[:2]
            if hi > lo:
                limits = (self.angle(lo), self.angle(hi)) if kind == "hinge" else (float(lo), float(hi))
        return Joint(a.get("name", f"joint_{index}"), kind, _floats(a.get("axis"), 3, [0, 0, 1]),
                     _floats(a.get("pos"), 3, [0, 0, 0]), limits)


def _body_name(elem: ET.Element, index: int) -> str:
    """A body's name; an unnamed body is named after its first named geom (``left_ankle_geom`` ->
    ``left_ankle``), else ``body_<index>``."""
    if elem.get("name"):
        return elem.get("name")
    for g in elem.findall("geom"):
        if g.get("name"):
            return re.sub(r"_geom$", "", g.get("name"))
    return f"body_{index}"


def read_mjcf(path: Path, exclude: str | None = None) -> ArticulatedModel:
    """Read ``path`` (MJCF XML). ``exclude``: a regular expression; bodies (with their subtrees) and geoms
    whose names match it are left out (the scene around the object: targets, arena walls)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as error:
        raise InputFileError(f"{path}: cannot read MJCF ({error})") from error
    if root.tag != "mujoco":
        raise InputFileError(f"{path}: not an MJCF file (root element <{root.tag}>, expected <mujoco>)")
    reader = _Reader(root, path.parent)
    skip = re.compile(exclude) if exclude else None
    links: list[Link] = [Link("base", -1, np.eye(4))]
    worldbody = root.find("worldbody")
    if worldbody is None:
        raise InputFileError(f"{path}: no <worldbody>")
    n_joints = 0

    def add_geoms(elem: ET.Element, link: Link, childclass: str | None) -> None:
        for g in elem.findall("geom"):
            if skip and skip.search(g.get("name", "")):
                continue
            geom = reader.geom(reader.attrs(g, childclass))
            if geom is not None:
                link.geoms.append(geom)

    def add_body(elem: ET.Element, parent: int, childclass: str | None) -> None:
        nonlocal n_joints
        if skip and skip.search(elem.get("name", "")):
            return
        childclass = elem.get("childclass", childclass)
        link = Link(_body_name(elem, len(links)), parent, reader.frame(elem.attrib))
        for j in elem.findall("joint"):
            link.joints.append(reader.joint(reader.attrs(j, childclass), n_joints))
            n_joints += 1
        if elem.find("freejoint") is not None:
            link.joints.append(Joint("free", "free", np.zeros(3)))
        add_geoms(elem, link, childclass)
        links.append(link)
        index = len(links) - 1
        for child in elem.findall("body"):
            add_body(child, index, childclass)

    add_geoms(worldbody, links[0], None)
    for body in worldbody.findall("body"):
        add_body(body, 0, None)
    return ArticulatedModel(root.get("model", path.stem), links, source=str(path))
