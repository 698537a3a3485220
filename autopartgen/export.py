"""Writers for the output folder: part GLBs, the combined GLB, ``parts.json``, the preview and the mask palette.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), so an
interrupted run never leaves a half-written file under a final name. :func:`prepare_output_dir`
guards the folder: it refuses files and unwritable folders, never touches files autopartgen did not
write, and swaps a new run's outputs in as a set only after the run succeeded::

    out = prepare_output_dir("results/chair")
    with out.transaction() as stage:          # a hidden staging folder inside results/chair
        names = write_part_glbs(parts, stage)
        write_combined_glb(parts, stage / COMBINED_GLB)
        write_manifest(stage / MANIFEST, records, run_info)
    # here the new files have replaced the previous run's; on an exception nothing changed

Which files are ours is recorded in a hidden ``.autopartgen-outputs.json`` next to them.
"""

from __future__ import annotations

import colorsys
import contextlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import trimesh
from trimesh.visual import ColorVisuals, TextureVisuals
from trimesh.visual.material import PBRMaterial

from autopartgen.version import __version__
from autopartgen.errors import OutputPathError
from autopartgen.geometry.sampling import as_mesh_arrays
from autopartgen.geometry.topology import SolidStatistics, solid_statistics
from autopartgen.threads import map_in_threads

logger = logging.getLogger(__name__)

COMBINED_GLB = "mesh_combined.glb"
MANIFEST = "parts.json"
PREVIEW = "preview.png"
MASK_COLORED = "mask_colored.png"
MASK_PALETTE = "mask_palette.json"
WHOLE_GLB = "whole.glb"
OWNERSHIP_FILE = ".autopartgen-outputs.json"
_STAGING_PREFIX = ".autopartgen-staging-"
MANIFEST_FORMAT = "autopartgen.parts"
MANIFEST_FORMAT_VERSION = 1

# Names autopartgen may write (relative, "/"-separated); an existing file with such a name that we did not
# write is a conflict. The simulation bundle's meshes live one level down, in meshes/.
_OUTPUT_NAME = re.compile(
    r"^(mesh_\d{3,}\.glb|mesh_combined\.glb|parts\.json|preview\.png|mask_colored\.png|mask_palette\.json|whole\.glb"
    r"|object\.urdf|object\.xml|meshes/part_\d{3,}(?:_collision_\d{3,})?\.obj"
    r"|generated/mesh_\d{3,}\.glb|generated/mesh_combined\.glb)$"
)
_OUTPUT_SUBFOLDERS = ("meshes", "generated")
GENERATED_DIR = "generated"  # with --parts both: the generated (decoded) parts beside the cut ones


def part_file_name(index: int) -> str:
    """``mesh_000.glb``, ``mesh_001.glb``, ... for part ``index``."""
    return f"mesh_{index:03d}.glb"


def part_node_name(index: int) -> str:
    """``part_000``, ``part_001``, ... : the node (and mesh and material) name of part ``index``."""
    return f"part_{index:03d}"


# ----------------------------------------------------------------------------------------------------
# Atomic writes


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[io.BufferedWriter]:
    """Open a binary file that appears at ``path`` only if the ``with`` block completes.

    The data goes to a hidden temporary file in the same folder, is flushed to disk, then renamed over
    ``path``. On any exception (KeyboardInterrupt included) the temporary file is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (str is UTF-8 encoded) to ``path`` atomically; returns the path."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_writer(path) as handle:
        handle.write(data)
    return Path(path)


# ----------------------------------------------------------------------------------------------------
# Colours and GLB


def part_palette(n: int) -> np.ndarray:
    """Distinct part colours (SPEC 7.5): HSV (i/n, 0.7, 0.95) -> RGB truncated to bytes, alpha 255.

    Returns:
        (n, 4) uint8 RGBA.
    """
    colors = np.empty((n, 4), dtype=np.uint8)
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb(i / n, 0.7, 0.95)
        colors[i] = (int(r * 255), int(g * 255), int(b * 255), 255)
    return colors


def colored_meshes(meshes: Sequence[Any], names: Sequence[str], colors: np.ndarray | None = None,
                   color_mode: str = "material") -> list[trimesh.Trimesh]:
    """Each mesh as :func:`write_glb` writes it: its own look (texture, vertex colours) or ``colors[i]``."""
    return [_colored_mesh(mesh, name, None if colors is None else colors[i], color_mode)
            for i, (mesh, name) in enumerate(zip(meshes, names))]


def _colored_mesh(mesh: Any, name: str, rgba: np.ndarray | None, color_mode: str) -> trimesh.Trimesh:
    vertices, faces = as_mesh_arrays(mesh)
    if len(faces) == 0:
        raise ValueError(f"{name} has no faces; drop empty parts before export")
    result = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
    if getattr(getattr(mesh, "visual", None), "kind", None) == "texture":
        result.visual = mesh.visual.copy()  # a part cut from a textured input keeps the texture and its UVs
        return result
    own_colors = _own_vertex_colors(mesh)
    if own_colors is not None:
        # A part cut from a coloured or textured input keeps the input's look; its new cut faces (vertices
        # with alpha 0 from the cut) take the part's plain colour.
        own_colors = own_colors.copy()
        plain = own_colors[:, 3] == 0
        own_colors[plain] = np.asarray(rgba, np.uint8) if rgba is not None else (180, 180, 180, 255)
        result.visual = ColorVisuals(result, vertex_colors=own_colors)
        return result
    if rgba is None:
        return result
    rgba = np.asarray(rgba, dtype=np.uint8)
    if color_mode == "material":
        # A material colour is what Blender and three.js show by default; vertex colours need a shader
        # set-up in Blender, and three.js multiplies both when both exist.
        material = PBRMaterial(name=name, baseColorFactor=rgba, metallicFactor=0.0, roughnessFactor=0.8)
        result.visual = TextureVisuals(material=material)
    elif color_mode == "vertex":
        result.visual = ColorVisuals(result, vertex_colors=np.tile(rgba, (len(vertices), 1)))
    else:
        raise ValueError(f"unknown color_mode {color_mode!r}; use 'material' or 'vertex'")
    return result


def _own_vertex_colors(mesh: Any) -> np.ndarray | None:
    """(V, 4) uint8 vertex colours a trimesh carries (parts cut from a coloured input), else None."""
    visual = getattr(mesh, "visual", None)
    if visual is None or getattr(visual, "kind", None) != "vertex":
        return None
    colors = np.asarray(visual.vertex_colors, np.uint8)
    return colors if colors.shape == (len(mesh.vertices), 4) else None


def write_glb(
    path: str | os.PathLike,
    meshes: Sequence[Any],
    names: Sequence[str],
    colors: np.ndarray | None = None,
    color_mode: str = "material",
    include_normals: bool = True,
    colored: Sequence[trimesh.Trimesh] | None = None,
) -> Path:
    """Write meshes as one GLB scene, one named node per mesh, atomically.

    Args:
        path: destination ``.glb``.
        meshes: ``(vertices (V,3), faces (F,3))`` pairs or trimesh-like objects, F >= 1 each.
        names: node (and mesh/material) name of each mesh.
        colors: optional (n, 4) uint8 RGBA per mesh.
        color_mode: ``"material"`` (PBR base colour) or ``"vertex"`` (COLOR_0, as the reference).
        include_normals: store vertex normals (smooth shading in viewers).
        colored: the meshes as :func:`colored_meshes` made them for these names, colours and mode, to
            write instead of making them again: a mesh written to several files then computes its
            vertex normals once (seconds on the million-face parts of noisy fields).
    """
    if len(names) != len(meshes):
        raise ValueError(f"{len(meshes)} meshes but {len(names)} names")
    colored = colored if colored is not None else colored_meshes(meshes, names, colors, color_mode)
    scene = trimesh.Scene()
    for mesh, name in zip(colored, names):
        scene.add_geometry(mesh, node_name=name, geom_name=name)
    data = scene.export(file_type="glb", include_normals=include_normals)
    return atomic_write(path, data)


def write_part_glbs(
    parts: Sequence[Any],
    out_dir: str | os.PathLike,
    colors: np.ndarray | None = None,
    color_mode: str = "material",
    include_normals: bool = True,
    colored: Sequence[trimesh.Trimesh] | None = None,
) -> list[Path]:
    """Write ``mesh_000.glb``, ... one file per part; the node in file i is named ``part_{i:03d}``.

    Args:
        parts: part meshes in order (``(vertices, faces)`` pairs or trimesh-like objects).
        out_dir: an existing folder.
        colors: (n, 4) uint8 RGBA per part; default :func:`part_palette`.
        color_mode, include_normals, colored: see :func:`write_glb`.

    Returns:
        The written paths, in part order.
    """
    colors = part_palette(len(parts)) if colors is None else np.asarray(colors, dtype=np.uint8)
    return [
        write_glb(Path(out_dir) / part_file_name(i), [part], [part_node_name(i)], colors[i : i + 1],
                  color_mode, include_normals, colored=None if colored is None else colored[i : i + 1])
        for i, part in enumerate(parts)
    ]


def write_combined_glb(
    parts: Sequence[Any],
    path: str | os.PathLike,
    colors: np.ndarray | None = None,
    color_mode: str = "material",
    include_normals: bool = True,
    colored: Sequence[trimesh.Trimesh] | None = None,
) -> Path:
    """Write ``mesh_combined.glb``: every part as its own node ``part_000``, ... with its own colour.

    Separate nodes (not one concatenated mesh, as the reference writes) so Blender and three.js import
    one object per part. Arguments as in :func:`write_part_glbs`; ``path`` is the file.
    """
    colors = part_palette(len(parts)) if colors is None else np.asarray(colors, dtype=np.uint8)
    names = [part_node_name(i) for i in range(len(parts))]
    return write_glb(path, parts, names, colors, color_mode, include_normals, colored)


# ----------------------------------------------------------------------------------------------------
# Manifest, preview, mask palette


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=_json_default, allow_nan=False) + "\n"


def part_record(
    mesh: Any,
    file: str,
    color: Sequence[int],
    mask_label: int | None = None,
    seed: int | None = None,
    retries: int | None = None,
    solid: SolidStatistics | None = None,
    **extra: Any,
) -> dict:
    """The ``parts.json`` entry of one part.

    Args:
        mesh: ``(vertices, faces)`` or trimesh-like, in the output frame.
        file: its GLB file name.
        color: RGBA bytes.
        mask_label: the mask label it was generated for, if any.
        seed: the seed of the accepted attempt.
        retries: rejected attempts before it was accepted.
        solid: its :func:`~autopartgen.geometry.topology.solid_statistics` if already computed (else
            computed here: the welded copy and its edge test take seconds on million-face parts).
        extra: further JSON-serialisable fields, appended as given.

    Returns:
        dict with ``file, vertices, faces, bbox_min, bbox_max, volume (None unless watertight),
        watertight, color, mask_label, seed, retries`` (floats rounded to 6 decimals).
    """
    vertices, faces = as_mesh_arrays(mesh)
    solid = solid if solid is not None else solid_statistics(vertices, faces)
    has_vertices = len(vertices) > 0
    record = {
        "file": file,
        "vertices": int(len(vertices)),
        "faces": int(len(faces)),
        "bbox_min": [round(float(x), 6) for x in vertices.min(axis=0)] if has_vertices else None,
        "bbox_max": [round(float(x), 6) for x in vertices.max(axis=0)] if has_vertices else None,
        "volume": round(solid.volume, 6) if solid.watertight else None,
        "watertight": solid.watertight,
        "color": [int(c) for c in color],
        "mask_label": None if mask_label is None else int(mask_label),
        "seed": None if seed is None else int(seed),
        "retries": None if retries is None else int(retries),
    }
    record.update(extra)
    return record


def write_manifest(path: str | os.PathLike, parts: Sequence[dict], run: dict, joints: list | None = None) -> Path:
    """Write ``parts.json`` atomically.

    Args:
        path: destination file.
        parts: per-part records (see :func:`part_record`).
        run: per-run fields: mode, options, config and weights identity, per-stage timings, stop reason,
            unfilled mask regions, ... written as given (must be JSON-serialisable; numpy scalars are
            converted).
        joints: optional joint hints (:func:`autopartgen.simulation.joint_hints`), written as ``"joints"``.

    Returns:
        The path. The file holds ``{"format", "format_version", "package_version", "num_parts",
        "run", "parts"}``.
    """
    manifest = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_FORMAT_VERSION,
        "package_version": __version__,
        "num_parts": len(parts),
        "run": run,
        "parts": list(parts),
    }
    if joints is not None:
        manifest["joints"] = list(joints)
    return atomic_write(path, _dumps(manifest))


def _png_bytes(image: Any) -> bytes:
    from PIL import Image

    if not isinstance(image, Image.Image):
        array = np.asarray(image)
        if array.dtype != np.uint8:
            raise ValueError(f"preview image must be uint8, got {array.dtype}")
        image = Image.fromarray(array)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_preview(path: str | os.PathLike, image: Any) -> Path:
    """Write a rendered preview (an (H, W, 3|4) uint8 array or a PIL image) as PNG, atomically."""
    return atomic_write(path, _png_bytes(image))


def write_mask_visualisation(
    out_dir: str | os.PathLike,
    mask: np.ndarray,
    label_order: Sequence[int],
    palette: np.ndarray,
    part_files: Sequence[str | None] | None = None,
) -> tuple[Path, Path]:
    """Write ``mask_colored.png`` and ``mask_palette.json`` whose colours match the part colours.

    Args:
        out_dir: an existing folder.
        mask: (H, W) int label image, 0 = background.
        label_order: mask labels in generation order; region i is ``label_order[i]``.
        palette: (len(label_order), 4) uint8; ``palette[i]`` must be the colour given to the part made
            from region i.
        part_files: the GLB of region i's part, or None where the region produced no part (named as
            such in the JSON rather than shifting later regions onto the wrong file, SPEC 10.8).
            Default ``mesh_{i:03d}.glb``.

    Returns:
        ``(png path, json path)``. Pixels of labels not in ``label_order`` stay transparent black.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be a 2-D label image, got shape {mask.shape}")
    palette = np.asarray(palette, dtype=np.uint8)
    if len(palette) < len(label_order):
        raise ValueError(f"{len(label_order)} mask regions but {len(palette)} palette colours")
    if part_files is None:
        part_files = [part_file_name(i) for i in range(len(label_order))]
    colored = np.zeros(mask.shape + (4,), dtype=np.uint8)
    entries = []
    for i, label in enumerate(label_order):
        colored[mask == label] = palette[i]
        entries.append(
            {"part_index": i, "mask_label": int(label), "rgba": [int(c) for c in palette[i]], "mesh": part_files[i]}
        )
    out_dir = Path(out_dir)
    png = write_preview(out_dir / MASK_COLORED, colored)
    return png, atomic_write(out_dir / MASK_PALETTE, _dumps(entries))


# ----------------------------------------------------------------------------------------------------
# Output folder guard


def _read_owned(folder: Path) -> set[str]:
    """Names recorded as ours; an unreadable or foreign record protects everything (empty set)."""
    try:
        record = json.loads((folder / OWNERSHIP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(record, dict) or record.get("tool") != "autopartgen":
        return set()
    return {name for name in record.get("files", []) if isinstance(name, str) and _OUTPUT_NAME.match(name)}


def _write_owned(folder: Path, names: set[str]) -> None:
    atomic_write(folder / OWNERSHIP_FILE, _dumps({"tool": "autopartgen", "files": sorted(names)}))


def _listed_names(folder: Path) -> list[str]:
    """Relative names in ``folder`` and in our subfolders (only real folders: a link is never followed)."""
    names = [p.name for p in folder.iterdir()]
    for sub in _OUTPUT_SUBFOLDERS:
        if (folder / sub).is_dir() and not (folder / sub).is_symlink():
            names += [f"{sub}/{p.name}" for p in (folder / sub).iterdir()]
    return names


def _inside_plain_folders(folder: Path, name: str) -> bool:
    """Whether every folder between ``folder`` and ``name`` is a real folder (no link leads elsewhere)."""
    parent = folder
    for part in name.split("/")[:-1]:
        parent = parent / part
        if parent.is_symlink() or not parent.is_dir():
            return False
    return True


def _foreign_outputs(folder: Path, names: Sequence[str] | None = None) -> list[str]:
    """Existing files with one of our output names that we did not write (subfolders included).

    A subfolder name of ours (``meshes``) that exists as a file or a link counts as foreign when one of
    ``names`` would go inside it.
    """
    owned = _read_owned(folder)
    candidates = names if names is not None else _listed_names(folder)
    foreign = {n for n in candidates if _OUTPUT_NAME.match(n) and n not in owned and os.path.lexists(folder / n)}
    for name in candidates:
        sub = name.split("/")[0]
        if "/" in name and os.path.lexists(folder / sub) and not _inside_plain_folders(folder, name):
            foreign.add(sub)
    return sorted(foreign)


class OutputDir:
    """A checked output folder (from :func:`prepare_output_dir`) whose writes go through :meth:`transaction`."""

    def __init__(self, path: Path):
        self.path = path

    def owned_files(self) -> list[str]:
        """Names of the files in the folder that autopartgen wrote (its previous run's outputs)."""
        return sorted(n for n in _read_owned(self.path) if (self.path / n).exists())

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Path]:
        """Yield a hidden staging folder; on success its files replace our previous outputs as a set.

        On an exception (Ctrl-C included) the staging folder is deleted and the output folder is
        unchanged. On success: new files are moved in (``parts.json`` last), our previous files that
        the new run did not write are deleted, and the ownership record is updated. The record lists
        old and new files while the swap is in progress, so an interrupted swap never orphans a file.

        Raises:
            OutputPathError: a new file name is taken by a file autopartgen did not write.
        """
        staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=self.path))
        try:
            yield staging
            self._commit(staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _commit(self, staging: Path) -> None:
        new = sorted(name for name in (p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
                     if _OUTPUT_NAME.match(name))
        conflicts = _foreign_outputs(self.path, new)
        if conflicts:
            raise OutputPathError(
                f"output folder {self.path} holds {conflicts[0]}, which autopartgen did not write; "
                f"move it away or choose another --output folder"
            )
        old = _read_owned(self.path)
        _write_owned(self.path, old | set(new))
        for name in sorted(new, key=lambda n: n == MANIFEST):  # manifest last
            (self.path / name).parent.mkdir(exist_ok=True)
            os.replace(staging / name, self.path / name)
        for name in sorted(old - set(new)):
            target = self.path / name
            if _inside_plain_folders(self.path, name) and target.is_file() and not target.is_symlink():
                target.unlink()
        for sub in _OUTPUT_SUBFOLDERS:  # a subfolder we emptied goes too; one holding anything else stays
            with contextlib.suppress(OSError):
                if any(n.startswith(sub + "/") for n in old) and not (self.path / sub).is_symlink():
                    (self.path / sub).rmdir()
        _write_owned(self.path, set(new))
        logger.info("wrote %d files to %s", len(new), self.path)


def prepare_output_dir(path: str | os.PathLike) -> OutputDir:
    """Check (and create) the output folder before any work is done.

    Args:
        path: folder to write into; created with its parents if missing.

    Returns:
        An :class:`OutputDir`; write through ``with out.transaction() as stage: ...``.

    Raises:
        OutputPathError: ``path`` is an existing file, cannot be created, is not writable, or holds a
            file with one of our output names that autopartgen did not write.
    """
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"output path {folder} is an existing file; pass a folder path instead")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(
            f"cannot create output folder {folder} ({exc.strerror or exc}); choose a writable location"
        ) from exc
    try:
        fd, probe = tempfile.mkstemp(prefix=".autopartgen-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputPathError(
            f"output folder {folder} is not writable ({exc.strerror or exc}); fix its permissions or "
            f"choose another --output folder"
        ) from exc
    conflicts = _foreign_outputs(folder)
    if conflicts:
        raise OutputPathError(
            f"output folder {folder} holds {conflicts[0]}, which autopartgen did not write; move it away "
            f"or choose another --output folder"
        )
    return OutputDir(folder)


# ----------------------------------------------------------------------------------------------------
# A whole generation result


UNFILLED_REGION_RGBA = (128, 128, 128, 255)  # mask regions that produced no part


def export_result(result: Any, out: OutputDir, run: dict, preview: bool = True, write_whole: bool = False,
                  preview_size: int = 384, sim_export: Any = None) -> list[str]:
    """Write a :class:`~autopartgen.pipeline.PartResult` into a prepared output folder, as one set.

    Files: ``mesh_000.glb`` ... (one per part, node ``part_000`` ...), ``mesh_combined.glb`` (one
    coloured node per part), ``parts.json`` (per part and per run), ``preview.png`` (assembled and
    exploded), for mask inputs ``mask_colored.png`` + ``mask_palette.json`` (same colours as the parts;
    a region without a part is grey and maps to ``null``), and optionally ``whole.glb``. With
    ``result.generated_parts`` (``--parts both``) the generated parts go in ``generated/`` as well.
    With ``sim_export`` (a :class:`~autopartgen.simulation.SimExportOptions`), ``parts.json`` also holds the
    joint hints (``"joints"``) and, for its formats, ``object.urdf`` / ``object.xml`` + ``meshes/``.

    Returns:
        The names written.
    """
    meshes = [part.mesh for part in result.parts]
    colors = part_palette(len(meshes))
    with out.transaction() as stage:
        records = []
        if meshes:
            from autopartgen.render import preview_copies

            colored = colored_meshes(meshes, [part_node_name(i) for i in range(len(meshes))], colors)
            # The work that grows with the faces, on parallel threads: the preview's decimated copies (one
            # job: fast-simplification runs one call at a time), the vertex normals both GLBs store (computed
            # once, cached on the coloured mesh) and the solid statistics of parts.json.
            jobs = [lambda: preview_copies(meshes) if preview else None]
            jobs += [lambda mesh=mesh: mesh.vertex_normals for mesh in colored]
            jobs += [lambda mesh=mesh: solid_statistics(*as_mesh_arrays(mesh)) for mesh in meshes]
            done = map_in_threads(lambda job: job(), jobs)
            drawn, solids = done[0], done[1 + len(meshes):]
            write_part_glbs(meshes, stage, colors, colored=colored)
            write_combined_glb(meshes, stage / COMBINED_GLB, colors, colored=colored)
        for i, part in enumerate(result.parts):
            extra = {"kind": getattr(result, "parts_kind", "generated")}
            if getattr(part, "volume_share", None) is not None:
                extra["input_volume_share"] = round(float(part.volume_share), 6)
            records.append(part_record(part.mesh, part_file_name(i), colors[i], part.mask_label, part.seed,
                                       part.retries, solid=solids[i], position=part.position, **extra))
        generated = [p.mesh for p in (getattr(result, "generated_parts", None) or []) if len(p.mesh.faces)]
        if generated:
            (stage / GENERATED_DIR).mkdir()
            generated_colors = part_palette(len(generated))
            colored = colored_meshes(generated, [part_node_name(i) for i in range(len(generated))],
                                     generated_colors)
            map_in_threads(lambda mesh: mesh.vertex_normals, colored)
            write_part_glbs(generated, stage / GENERATED_DIR, generated_colors, colored=colored)
            write_combined_glb(generated, stage / GENERATED_DIR / COMBINED_GLB, generated_colors, colored=colored)
        if preview and meshes:
            from autopartgen.render import render_preview

            write_preview(stage / PREVIEW,
                          render_preview(drawn, colors[:, :3], size=preview_size, face_budget=None))
        if result.mask is not None and result.mask_labels is not None:
            index_of_label = {part.mask_label: i for i, part in enumerate(result.parts)}
            region_colors = np.array([colors[index_of_label[int(label)]] if int(label) in index_of_label
                                      else UNFILLED_REGION_RGBA for label in result.mask_labels], dtype=np.uint8)
            region_files = [part_file_name(index_of_label[int(label)]) if int(label) in index_of_label else None
                            for label in result.mask_labels]
            write_mask_visualisation(stage, result.mask, result.mask_labels, region_colors.reshape(-1, 4),
                                     region_files)
        if write_whole and result.whole_mesh is not None and len(result.whole_mesh.faces):
            write_glb(stage / WHOLE_GLB, [result.whole_mesh], ["whole"])
        joints = None
        if sim_export is not None and meshes:
            from autopartgen.simulation import export_simulation, joint_hints

            joints = joint_hints(meshes, sim_export.contact_tolerance)
            export_simulation(meshes, colors, stage, sim_export)
        write_manifest(stage / MANIFEST, records, run, joints)
        written = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
    return written
