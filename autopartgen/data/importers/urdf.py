"""Read a URDF robot into an :class:`~autopartgen.data.importers.articulated.ArticulatedModel`.

Every ``<link>`` with ``<visual>`` geometry (``box``, ``cylinder``, ``sphere``, ``mesh`` in STL / OBJ / PLY, or
Collada with ``autopartgen[import]``, with ``scale``; the ``<collision>`` geometry where no link has a
visual one) is a link; joints ``revolute`` / ``continuous`` / ``prismatic`` move their child link,
``fixed`` welds it to its parent's part. Mesh paths: ``package://NAME/rest`` is looked up in
``package_dirs`` (folders that hold ``NAME``) and in the URDF's own ancestors; plain paths are relative to
the URDF file. Visual meshes are decimated to ``max_faces`` each (quadric, ``fast_simplification``).
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import trimesh

from autopartgen.data.importers.articulated import ArticulatedModel, Geom, Joint, Link, homogeneous, rotation
from autopartgen.errors import InputFileError

logger = logging.getLogger(__name__)


def _floats(text: str | None, default) -> np.ndarray:
    return np.asarray(default, float) if text is None else np.array([float(v) for v in text.split()], float)


def rpy_matrix(rpy) -> np.ndarray:
    """URDF roll-pitch-yaw (3,) in radians: ``Rz(yaw) @ Ry(pitch) @ Rx(roll)``."""
    r, p, y = rpy
    return rotation([0, 0, 1.0], y) @ rotation([0, 1.0, 0], p) @ rotation([1.0, 0, 0], r)


def _origin(elem: ET.Element | None) -> np.ndarray:
    o = elem.find("origin") if elem is not None else None
    if o is None:
        return np.eye(4)
    return homogeneous(rpy_matrix(_floats(o.get("rpy"), [0, 0, 0])), _floats(o.get("xyz"), [0, 0, 0]))


def resolve_mesh_path(filename: str, urdf_path: Path, package_dirs: list[Path]) -> Path | None:
    """The file a URDF mesh ``filename`` names, or None if it cannot be found."""
    if filename.startswith("file://"):
        return Path(filename[7:])
    if filename.startswith("package://"):
        package, _, rest = filename[len("package://"):].partition("/")
        roots = list(package_dirs) + list(urdf_path.resolve().parents)
        for root in roots:
            for candidate in (root / package / rest, root / rest):
                if candidate.is_file():
                    return candidate
        return None
    path = urdf_path.parent / filename
    return path if path.is_file() else None


def _load_mesh(path: Path, scale: np.ndarray, max_faces: int) -> trimesh.Trimesh:
    try:
        mesh = trimesh.load(str(path), force="mesh", process=False)
    except Exception as error:
        if path.suffix.lower() == ".dae":
            raise InputFileError(f"{path}: cannot read Collada mesh ({error}); install the reader with "
                                 "pip install 'autopartgen[import]'") from error
        raise InputFileError(f"{path}: cannot read mesh ({error}); STL, OBJ and PLY are supported") from error
    mesh = trimesh.Trimesh(np.asarray(mesh.vertices, float) * scale, np.asarray(mesh.faces), process=True)
    if len(mesh.faces) > max_faces:
        import fast_simplification

        v, f = fast_simplification.simplify(mesh.vertices.astype(np.float32), mesh.faces.astype(np.int32),
                                            target_reduction=1.0 - max_faces / len(mesh.faces))
        mesh = trimesh.Trimesh(np.asarray(v, float), np.asarray(f), process=True)
    return mesh


def _link_geoms(link: ET.Element, urdf_path: Path, package_dirs: list[Path], max_faces: int,
                element: str = "visual") -> list[Geom]:
    """The geometry of a link's ``<visual>`` (or ``<collision>``) elements."""
    geoms = []
    for item in link.findall(element):
        geometry = item.find("geometry")
        if geometry is None or len(geometry) == 0:
            continue
        shape = geometry[0]
        frame = _origin(item)
        name = item.get("name", link.get("name", ""))
        if shape.tag == "box":
            geoms.append(Geom("box", _floats(shape.get("size"), [0, 0, 0]) / 2, frame, name=name))
        elif shape.tag == "cylinder":
            size = np.array([float(shape.get("radius", 0)), float(shape.get("length", 0)) / 2, 0.0])
            geoms.append(Geom("cylinder", size, frame, name=name))
        elif shape.tag == "sphere":
            geoms.append(Geom("sphere", np.array([float(shape.get("radius", 0)), 0, 0]), frame, name=name))
        elif shape.tag == "mesh":
            path = resolve_mesh_path(shape.get("filename", ""), urdf_path, package_dirs)
            if path is None:
                raise InputFileError(f"{urdf_path}: mesh {shape.get('filename')!r} not found; pass the folder "
                                     "that holds its package with package_dirs")
            mesh = _load_mesh(path, _floats(shape.get("scale"), [1, 1, 1]), max_faces)
            geoms.append(Geom("mesh", np.zeros(3), frame, mesh, name))
    return geoms


def read_urdf(path: Path, package_dirs: list[Path] | None = None, max_faces: int = 20_000) -> ArticulatedModel:
    """Read ``path`` (URDF) with its visual geometry (its collision geometry when no link has a visual
    one, as in models written for simulation only). Links are ordered parents first from the root link."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as error:
        raise InputFileError(f"{path}: cannot read URDF ({error})") from error
    if root.tag != "robot":
        raise InputFileError(f"{path}: not a URDF file (root element <{root.tag}>, expected <robot>)")
    link_elems = {l.get("name"): l for l in root.findall("link")}
    children: dict[str, list[ET.Element]] = {}
    child_names = set()
    for j in root.findall("joint"):
        parent, child = j.find("parent").get("link"), j.find("child").get("link")
        children.setdefault(parent, []).append(j)
        child_names.add(child)
    roots = [n for n in link_elems if n not in child_names]
    if len(roots) != 1:
        raise InputFileError(f"{path}: expected one root link, found {roots}")
    package_dirs = [Path(p) for p in (package_dirs or [])]
    element = "visual"
    if not any(l.find("visual/geometry/*") is not None for l in link_elems.values()):
        logger.info("%s: no link has <visual> geometry; importing the <collision> geometry", path)
        element = "collision"
    links: list[Link] = []

    def add(name: str, parent: int, frame: np.ndarray, joint: Joint | None) -> None:
        link = Link(name, parent, frame, [joint] if joint else [],
                    _link_geoms(link_elems[name], path, package_dirs, max_faces, element))
        links.append(link)
        index = len(links) - 1
        for j in children.get(name, []):
            kind = j.get("type", "fixed")
            limit = j.find("limit")
            limits = None
            if kind in ("revolute", "prismatic") and limit is not None and "lower" in limit.attrib:
                lo, hi = float(limit.get("lower", 0)), float(limit.get("upper", 0))
                limits = (lo, hi) if hi > lo else None
            axis_elem = j.find("axis")
            axis = _floats(axis_elem.get("xyz") if axis_elem is not None else None, [1, 0, 0])
            add(j.find("child").get("link"), index, _origin(j), Joint(j.get("name", ""), kind, axis, np.zeros(3), limits))

    add(roots[0], -1, np.eye(4), None)
    return ArticulatedModel(root.get("name", path.stem), links, source=str(path))
