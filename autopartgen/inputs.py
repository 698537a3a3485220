"""Loading and validating user inputs: meshes, images, indexed part masks (SPEC 1.10, 5.3, 5.4).

Every function here is pure (no global state) and every user-caused failure raises
:class:`~autopartgen.errors.InputFileError` with a one-line message that names the file and the fix.

Meshes
    :func:`load_mesh` reads GLB / glTF / OBJ / PLY / STL / OFF, flattens scenes with their node transforms
    and returns one triangle mesh in the file's own frame. :func:`normalize_mesh` maps it into the
    [-1, 1] cube the model expects (SPEC 1.10) and returns the transform needed to map parts back.

Images
    :func:`load_image` reads PNG / JPEG / WebP into an RGB or RGBA PIL image. :func:`has_valid_alpha`
    is the reference's test for a usable alpha channel; :func:`ensure_alpha` keeps such an alpha and
    otherwise segments the background (with a user-supplied model, or :func:`segment_background`).
    :func:`prepare_image_with_box` / :func:`prepare_image` turn it into the (3, 448, 448) tensor the
    image encoder takes, and :func:`masked_part_images` builds the per-part images of the mask modes.

Masks
    :func:`load_mask` reads an indexed mask (8/16-bit grey, palette, 1-bit, or a colour mask) into an
    (H, W) int64 label image; label 0 is background. The generation order of the labels is
    :func:`autopartgen.masks.order_mask_labels`.

Pixel coordinates follow PIL: x to the right, y down, boxes ``(x0, y0, x1, y1)`` with exclusive right
and bottom edges, sizes ``(width, height)``.
"""

from __future__ import annotations

import logging
import math
import struct
import warnings
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
import trimesh
from PIL import Image, ImageOps
from scipy import ndimage

from .errors import InputFileError
from .geometry.cleanup import simplify
from .geometry.normalize import apply_normalization, normalization_transform

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]
Box = tuple  # (x0, y0, x1, y1): ints in reference-compat mode, floats otherwise

MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply", ".stl", ".off")
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")
DEFAULT_MAX_FACES = 2_000_000
MIN_IMAGE_SIDE = 16
MAX_IMAGE_SIDE = 8192
MAX_MASK_LABELS = 64
IMAGE_SIZE = 448

# SPEC 5.3 constants.
FOREGROUND_ALPHA = 204  # alpha > 0.8 * 255 is foreground for the crop box
BOX_MARGIN = 1.2  # the crop box side is 1.2 x the longest foreground extent
VALID_ALPHA_LOW = 8  # "valid alpha": >= 1% of pixels with alpha <= 8 ...
VALID_ALPHA_HIGH = 247  # ... and >= 1% with alpha >= 247
VALID_ALPHA_FRACTION = 0.01
MASK_ASPECT_TOLERANCE = 0.01
FLAT_COLOUR_SPREAD = 16  # an image whose channels each span at most this (0-255) is one flat colour: blank


# ----------------------------------------------------------------------------------------------------
# shared file checks
# ----------------------------------------------------------------------------------------------------


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _error(kind: str, path: Path, problem: str, fix: str) -> InputFileError:
    """InputFileError with the one-line message ``<kind> '<path>': <problem>; <fix>``."""
    return InputFileError(_one_line(f"{kind} '{path}': {problem}; {fix}"))


def _check_file(kind: str, path: PathLike) -> Path:
    """Existence, not-a-directory and non-empty checks shared by every loader."""
    path = Path(path)
    if not path.exists():
        raise _error(kind, path, "file not found", "check the path and spelling")
    if path.is_dir():
        raise _error(kind, path, "is a directory, not a file", f"pass the {kind} file itself")
    try:
        size = path.stat().st_size
    except OSError as exc:  # pragma: no cover - permission races
        raise _error(kind, path, f"cannot be read ({exc})", "check the file permissions") from exc
    if size == 0:
        raise _error(kind, path, "file is empty (0 bytes)", f"re-export or re-download the {kind}")
    return path


# ----------------------------------------------------------------------------------------------------
# meshes
# ----------------------------------------------------------------------------------------------------


def _check_mesh_container(path: Path) -> None:
    """Cheap structural checks that give better messages than the parsers do.

    GLB: the 12-byte header must start with ``glTF`` and declare the file's length (a text file named
    ``.glb`` or a truncated download fails here). Binary STL: the size must be 84 + 50 x triangle count.
    """
    suffix = path.suffix.lower()
    with path.open("rb") as fh:
        head = fh.read(84)
    size = path.stat().st_size
    if suffix == ".glb":
        if len(head) < 12 or head[:4] != b"glTF":
            looks_text = all(32 <= b < 127 or b in (9, 10, 13) for b in head[:64])
            what = "is a text file, not a binary glTF" if looks_text else "is not a binary glTF (no 'glTF' header)"
            raise _error("mesh", path, what, "export the mesh again as .glb, or rename it to its real format")
        declared = struct.unpack("<I", head[8:12])[0]
        if declared > size:
            raise _error(
                "mesh", path, f"GLB is truncated ({size} of {declared} bytes)", "re-export or re-download the file"
            )
    elif suffix == ".stl" and not head.lstrip().lower().startswith(b"solid"):
        if len(head) < 84:
            raise _error("mesh", path, "binary STL is truncated (shorter than its 84-byte header)",
                         "re-export or re-download the file")
        count = struct.unpack("<I", head[80:84])[0]
        if size < 84 + 50 * count:
            raise _error("mesh", path, f"binary STL is truncated ({size} bytes, its header announces "
                         f"{count} triangles = {84 + 50 * count} bytes)", "re-export or re-download the file")


def _geometry_colors(geometry: trimesh.Trimesh) -> np.ndarray | None:
    """(V, 4) uint8 RGBA per vertex of one scene geometry, or None when it carries no appearance.

    A texture is sampled at each vertex's UV and a material without texture gives its base colour,
    so textured, vertex-coloured and multi-material inputs all reach the parts as vertex colours.
    """
    visual = getattr(geometry, "visual", None)
    if visual is None or visual.kind is None:
        return None
    try:
        colors = visual.to_color().vertex_colors if visual.kind == "texture" else visual.vertex_colors
    except Exception as exc:  # a broken texture reference must not make the mesh unreadable
        logger.warning("could not read the appearance of a mesh node (%s); it is left plain", _one_line(exc)[:120])
        return None
    colors = np.asarray(colors, dtype=np.uint8)
    if colors.ndim == 1 or len(colors) == 1:  # one material colour for the whole node
        colors = np.tile(colors.reshape(-1)[:4], (len(geometry.vertices), 1))
    if colors.shape != (len(geometry.vertices), 4):
        return None
    return colors


def _flatten_scene(scene: trimesh.Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int, int]:
    """Apply every node's world transform and concatenate the triangle geometry.

    Returns ``(vertices (V, 3) float64, faces (F, 3) int64, appearance, number of triangle nodes, number
    of point-cloud / line nodes that were ignored)``. ``appearance`` is a ``TextureVisuals`` when every
    node is textured from one image (UVs kept), else (V, 4) uint8 vertex colours, or None when no node
    has an appearance; nodes without one are grey where others have one.
    """
    vertices, faces, colors, textures = [], [], [], []
    offset, meshes, others = 0, 0, 0
    for node in scene.graph.nodes_geometry:
        transform, geometry_name = scene.graph[node]
        geometry = scene.geometry.get(geometry_name)
        if not isinstance(geometry, trimesh.Trimesh) or len(geometry.faces) == 0:
            others += geometry is not None
            continue
        v = np.asarray(geometry.vertices, dtype=np.float64)
        f = np.asarray(geometry.faces, dtype=np.int64)
        if f.min() < 0 or f.max() >= len(v):
            raise ValueError(f"node {node!r} has face indices outside its {len(v)} vertices")
        transform = np.asarray(transform, dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):  # non-finite input is reported by the caller
            v = v @ transform[:3, :3].T + transform[:3, 3]
        vertices.append(v)
        faces.append(f + offset)
        colors.append(_geometry_colors(geometry))
        textures.append(_geometry_texture(geometry))
        offset += len(v)
        meshes += 1
    if not meshes:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), None, 0, others
    if all(t is not None for t in textures) and len({id(t[1]) for t in textures}) == 1:
        # One texture image shared by every node (the common single-atlas asset): keep its UVs.
        visual = trimesh.visual.TextureVisuals(uv=np.concatenate([t[0] for t in textures]), material=textures[0][2])
        return np.concatenate(vertices), np.concatenate(faces), visual, meshes, others
    vertex_colors = None
    if any(c is not None for c in colors):
        vertex_colors = np.concatenate([c if c is not None else np.full((len(v), 4), (180, 180, 180, 255), np.uint8)
                                        for c, v in zip(colors, vertices)])
    return np.concatenate(vertices), np.concatenate(faces), vertex_colors, meshes, others


def _geometry_texture(geometry: trimesh.Trimesh):
    """``(uv (V, 2), image, material)`` of a geometry textured through its UVs, else None."""
    visual = getattr(geometry, "visual", None)
    if visual is None or visual.kind != "texture" or getattr(visual, "uv", None) is None:
        return None
    material = visual.material
    image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
    uv = np.asarray(visual.uv, dtype=np.float64)
    if image is None or uv.shape != (len(geometry.vertices), 2) or not np.isfinite(uv).all():
        return None
    return uv, image, material


def texture_of(mesh: trimesh.Trimesh):
    """``(uv (V, 2) float64, image (PIL), material)`` of a mesh textured from one image with UVs in [0, 1]
    (no tiling), else None: the case where parts keep the texture itself rather than vertex colours."""
    found = _geometry_texture(mesh)
    if found is None or found[0].min() < -1e-3 or found[0].max() > 1 + 1e-3:
        return None
    return np.clip(found[0], 0.0, 1.0), found[1], found[2]


def vertex_colors_of(mesh: trimesh.Trimesh) -> np.ndarray | None:
    """(V, 4) uint8 RGBA per vertex of a loaded mesh, or None when it has no appearance."""
    return _geometry_colors(mesh)


def load_mesh(path: PathLike, max_faces: int | None = None, allow_large: bool = False) -> trimesh.Trimesh:
    """Read a mesh file into one triangle mesh in the file's own coordinate frame.

    Supported: GLB, glTF (with its side files), OBJ, PLY, STL, OFF. Scenes are flattened: every node
    holding triangles is moved by its world transform and all are concatenated; point clouds and line
    nodes inside a scene are ignored. Appearance is kept: a mesh textured from one image keeps its UVs
    and material; otherwise per-vertex RGBA colours (textures sampled at the vertices' UVs, materials
    give their base colour). Duplicate vertices are merged (not across UV seams).

    Large meshes: a mesh with more than ``max_faces`` triangles is decimated by default to at most
    ``max_faces`` with quadric edge collapse (fast-simplification) and a warning is logged; with
    ``allow_large=True`` (CLI ``--allow_large_mesh``) it is kept whole, at the cost of memory and time
    in surface sampling. We decimate rather than refuse because the model only sees a 32768-point
    surface sample, so 2M triangles lose nothing it could use.

    Args:
        path: mesh file.
        max_faces: triangle budget (default ``DEFAULT_MAX_FACES``, 2,000,000).
        allow_large: keep meshes over ``max_faces`` unchanged.

    Returns:
        ``trimesh.Trimesh`` with float64 (V, 3) vertices in the file's units and (F, 3) int64 faces.

    Raises:
        InputFileError: missing / directory / empty / truncated / corrupt file, unsupported suffix,
            no triangles (empty or point cloud), NaN or infinite vertices, zero extent.
    """
    path = _check_file("mesh", path)
    max_faces = DEFAULT_MAX_FACES if max_faces is None else max_faces
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise _error("mesh", path, f"unsupported mesh format '{path.suffix or '(no suffix)'}'",
                     f"convert it to one of {', '.join(MESH_SUFFIXES)}")
    _check_mesh_container(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scene = trimesh.load_scene(str(path), process=False)
        vertices, faces, colors, n_meshes, n_other = _flatten_scene(scene)
    except InputFileError:
        raise
    except Exception as exc:  # trimesh's parsers raise anything from KeyError to struct.error
        raise _error("mesh", path, f"cannot be parsed as {suffix[1:].upper()} ({type(exc).__name__}: "
                     f"{_one_line(exc)[:200]})", "the file is corrupt or truncated; re-export it") from exc
    if len(faces) == 0:
        what = "is a point cloud or lines without triangles" if n_other else \
            "contains no triangles (empty, truncated, or not a mesh)"
        raise _error("mesh", path, what, "pass a triangle (surface) mesh")
    if not np.isfinite(vertices).all():
        bad = int((~np.isfinite(vertices)).any(axis=1).sum())
        raise _error("mesh", path, f"{bad} vertices have NaN or infinite coordinates",
                     "repair the mesh in a modelling tool (e.g. Blender: Mesh > Clean Up) and export it again")
    if isinstance(colors, trimesh.visual.TextureVisuals):
        mesh = trimesh.Trimesh(vertices=vertices, faces=faces, visual=colors, process=True, validate=False)
    else:
        mesh = trimesh.Trimesh(vertices=vertices, faces=faces, vertex_colors=colors, process=True, validate=False)
    if len(mesh.faces) == 0 or float(np.ptp(mesh.vertices, axis=0).max()) <= 0.0:
        raise _error("mesh", path, "has no extent (all vertices at one point)", "pass a non-degenerate mesh")
    if mesh.area <= 0.0:
        raise _error("mesh", path, "has zero surface area (every triangle is degenerate)",
                     "pass a non-degenerate mesh")
    logger.info("loaded %s: %d vertices, %d faces from %d mesh node(s)%s", path, len(mesh.vertices),
                len(mesh.faces), n_meshes, f", {n_other} non-triangle node(s) ignored" if n_other else "")
    if len(mesh.faces) > max_faces:
        if allow_large:
            logger.warning("mesh '%s' has %d faces (over %d); kept whole as allow_large is set", path,
                           len(mesh.faces), max_faces)
        else:
            mesh = _decimate(mesh, max_faces)
            logger.warning("mesh '%s' had more than %d faces; decimated to %d faces (pass --allow_large_mesh "
                           "to keep it whole)", path, max_faces, len(mesh.faces))
    return mesh


def _decimate(mesh: trimesh.Trimesh, max_faces: int) -> trimesh.Trimesh:
    """Quadric decimation to at most ``max_faces`` triangles (retries with a lower target if it overshoots)."""
    target = int(max_faces)
    for _ in range(4):
        v, f = simplify(mesh.vertices, mesh.faces, target)
        if len(f) <= max_faces:
            break
        target = max(4, int(target * max_faces / len(f) * 0.95))
    return trimesh.Trimesh(vertices=v, faces=f, process=False)


def normalize_mesh(mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, np.ndarray, float]:
    """Map a mesh into the [-1, 1] cube (SPEC 1.10: bbox midpoint to the origin, longest half-extent to 1).

    Returns:
        ``(normalised copy, center (3,) float64, scale)``; parts generated in the normalised frame map
        back with :func:`autopartgen.geometry.normalize.invert_normalization` (``v * scale + center``).
    """
    center, scale = normalization_transform(mesh.vertices)
    out = trimesh.Trimesh(vertices=apply_normalization(mesh.vertices, center, scale),
                          faces=np.asarray(mesh.faces), process=False)
    return out, center, scale


# ----------------------------------------------------------------------------------------------------
# images
# ----------------------------------------------------------------------------------------------------


def _open_image(kind: str, path: Path) -> Image.Image:
    """Open and fully decode an image file, with the size limits checked from the header first."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            width, height = image.size
            if max(width, height) > MAX_IMAGE_SIDE:
                raise _error(kind, path, f"is {width}x{height} px, over the {MAX_IMAGE_SIDE} px limit per side",
                             f"downscale it to at most {MAX_IMAGE_SIDE} px (about 1024 px is plenty)")
            image.load()
    except InputFileError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _error(kind, path, "has too many pixels", f"downscale it to at most {MAX_IMAGE_SIDE} px") from exc
    except Exception as exc:  # UnidentifiedImageError, truncated data (OSError), bad chunks (SyntaxError)
        what = "is not an image file" if "cannot identify" in str(exc) else \
            f"is corrupt or truncated ({_one_line(exc)[:160]})"
        raise _error(kind, path, what, "re-export or re-download it as PNG") from exc
    return image


def load_image(path: PathLike) -> Image.Image:
    """Read a PNG, JPEG or WebP image.

    The EXIF orientation is applied (phone photos come out upright). Images with transparency (RGBA,
    LA, palette with a transparent colour) become RGBA; everything else becomes RGB. 16-bit grey is
    reduced to 8 bits.

    Returns:
        PIL image in mode ``"RGB"`` or ``"RGBA"``, ``width, height`` in [16, 8192] px.

    Raises:
        InputFileError: missing / directory / empty / corrupt / not an image / unsupported format,
            smaller than 16 px or larger than 8192 px on a side.
    """
    path = _check_file("image", path)
    image = _open_image("image", path)
    if image.format not in IMAGE_FORMATS:
        raise _error("image", path, f"unsupported image format {image.format}",
                     "convert it to PNG, JPEG or WebP")
    width, height = image.size
    if min(width, height) < MIN_IMAGE_SIDE:
        raise _error("image", path, f"is only {width}x{height} px", f"use an image at least {MIN_IMAGE_SIDE} px "
                     "on each side (ideally 512 px or more)")
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(image).astype(np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        image = Image.fromarray(np.clip(np.rint(arr * 255.0 / peak), 0, 255).astype(np.uint8))
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info)
    image = image.convert("RGBA" if has_alpha else "RGB")
    check_image_has_object(image, f"image '{path}'")
    return image


def check_image_has_object(image: Image.Image, name: str = "image") -> None:
    """Refuse an image with nothing in it to split: fully transparent, or one flat colour.

    Fully transparent: it has an alpha channel and no pixel is more than barely visible (alpha > 8).
    One flat colour: without a usable alpha cut-out (:func:`has_valid_alpha`), each colour channel spans
    at most ``FLAT_COLOUR_SPREAD`` levels over the whole image (so compression noise on a blank image
    counts as blank). An object cut out by a valid alpha is accepted whatever its colours.

    Raises:
        InputFileError: naming ``name`` (e.g. ``image 'photo.png'``) and what to pass instead.
    """
    if _has_alpha_channel(image):
        alpha = np.asarray(image.getchannel("A"))
        if int(alpha.max()) <= VALID_ALPHA_LOW:
            raise InputFileError(_one_line(f"{name}: is fully transparent, so there is no object to split; pass an "
                                           "image showing the object (on a transparent or plain background)"))
        if has_valid_alpha(image):
            return
    rgb = np.asarray(image.convert("RGB")).reshape(-1, 3)
    if int((rgb.max(axis=0).astype(np.int16) - rgb.min(axis=0)).max()) <= FLAT_COLOUR_SPREAD:
        raise InputFileError(_one_line(f"{name}: is one flat colour, so there is no object to split; pass an image "
                                       "showing the object"))


def has_valid_alpha(image: Image.Image) -> bool:
    """SPEC 5.3: mode RGBA or LA, >= 1% of pixels with alpha <= 8 and >= 1% with alpha >= 247."""
    if image.mode not in ("RGBA", "LA"):
        return False
    alpha = np.asarray(image.getchannel("A"))
    return bool((alpha <= VALID_ALPHA_LOW).mean() >= VALID_ALPHA_FRACTION
                and (alpha >= VALID_ALPHA_HIGH).mean() >= VALID_ALPHA_FRACTION)


# Why a colour-distance segmentation and not a network: the reference removes backgrounds with
# BriaRMBG-1.4, downloaded from the Hugging Face hub at run time and licensed for non-commercial use
# only. We can neither bundle it nor fetch it, so the default is this model-free heuristic, which is
# good for the common product-shot / render case (object on a roughly uniform background). Users who
# have a segmentation model pass it to :func:`ensure_alpha` as ``segmenter``.
def segment_background(
    image: Image.Image,
    threshold: Optional[float] = None,
    min_region_fraction: float = 0.05,
    max_hole_fraction: float = 0.01,
) -> Image.Image:
    """Border-colour background segmentation: estimate the background colour from the image border.

    Steps: the background colour is the per-channel median of a border strip (1% of the short side, at
    least 1 px); a pixel is foreground when its RGB distance to it exceeds ``threshold`` (default:
    ``max(30, 3 x the 90th percentile of the border's own distances)``, capped at 120, in 0-255 units);
    a 3x3 opening removes speckle and a 3x3 closing seals one-pixel cracks; connected regions with at
    least ``min_region_fraction`` of the largest region's area are kept; holes smaller than
    ``max_hole_fraction`` of the object's area are filled. The alpha is binary (0 / 255).

    Args:
        image: PIL image, any mode (converted to RGB; an existing alpha is ignored).

    Returns:
        RGBA PIL image of the same size, alpha 255 on the object. If nothing differs from the border
        colour, the alpha is 255 everywhere (a warning is logged).
    """
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    height, width = rgb.shape[:2]
    strip = max(1, int(round(0.01 * min(height, width))))
    border = np.concatenate([
        rgb[:strip].reshape(-1, 3), rgb[-strip:].reshape(-1, 3),
        rgb[strip:-strip, :strip].reshape(-1, 3), rgb[strip:-strip, -strip:].reshape(-1, 3),
    ])
    background = np.median(border, axis=0)
    distance = np.linalg.norm(rgb - background, axis=-1)
    if threshold is None:
        border_spread = float(np.percentile(np.linalg.norm(border - background, axis=-1), 90))
        threshold = min(120.0, max(30.0, 3.0 * border_spread))
    foreground = distance > threshold
    square = np.ones((3, 3), dtype=bool)
    foreground = ndimage.binary_opening(foreground, structure=square)
    foreground = ndimage.binary_closing(foreground, structure=square, border_value=0)
    labels, count = ndimage.label(foreground)
    if count == 0:
        logger.warning("background segmentation found no object (the image is one flat colour); "
                       "using the whole image as the object")
        alpha = np.full((height, width), 255, dtype=np.uint8)
    else:
        areas = ndimage.sum_labels(foreground, labels, index=np.arange(1, count + 1))
        keep = np.flatnonzero(areas >= min_region_fraction * areas.max()) + 1
        foreground = np.isin(labels, keep)
        holes, n_holes = ndimage.label(ndimage.binary_fill_holes(foreground) & ~foreground)
        if n_holes:
            hole_areas = ndimage.sum_labels(np.ones_like(foreground), holes, index=np.arange(1, n_holes + 1))
            small = np.flatnonzero(hole_areas < max_hole_fraction * foreground.sum()) + 1
            foreground |= np.isin(holes, small)
        coverage = float(foreground.mean())
        logger.debug("background colour %s, threshold %.1f, %d region(s) kept, coverage %.3f",
                     background.round(1).tolist(), threshold, len(keep), coverage)
        if coverage > 0.9:
            logger.warning("background segmentation kept %.0f%% of the image; the background is probably not "
                           "uniform; pass an image with an alpha channel for a clean cut-out", 100 * coverage)
        alpha = foreground.astype(np.uint8) * 255
    out = image.convert("RGB")
    out.putalpha(Image.fromarray(alpha))
    return out


def ensure_alpha(
    image: Image.Image, segmenter: Optional[Callable[[Image.Image], object]] = None
) -> Image.Image:
    """Give an image a usable alpha (SPEC 5.3 step 4, the reference's ``remove_background``).

    An image that :func:`has_valid_alpha` is returned as RGBA unchanged. Otherwise the alpha comes from
    ``segmenter`` (a callable taking the RGB PIL image and returning a PIL "L" image or an (h, w) array,
    uint8 in [0, 255] or float in [0, 1]; resized bilinearly to the image size if needed, as the
    reference does with RMBG) or, by default, from :func:`segment_background`.

    Returns:
        RGBA PIL image of the same size.
    """
    if has_valid_alpha(image):
        return image.convert("RGBA")
    rgb = image.convert("RGB")
    if segmenter is None:
        return segment_background(rgb)
    matte = segmenter(rgb)
    if not isinstance(matte, Image.Image):
        arr = np.asarray(matte)
        if arr.dtype.kind == "f":
            arr = np.clip(np.rint(arr * 255.0), 0, 255)
        matte = Image.fromarray(arr.astype(np.uint8))
    matte = matte.convert("L")
    if matte.size != rgb.size:
        matte = matte.resize(rgb.size, Image.Resampling.BILINEAR)
    rgb.putalpha(matte)
    return rgb


def _has_alpha_channel(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA")


def composite_on_white(image: Image.Image, reference_compat: bool = False) -> Image.Image:
    """SPEC 5.3 step 1: ``rgb * a + 255 * (1 - a)`` with ``a = alpha / 255``; RGB(-like) images pass through.

    Default rounds to the nearest integer (float64); ``reference_compat`` computes in float32 and
    truncates, as the reference does.

    Returns:
        RGB PIL image of the same size.
    """
    if not _has_alpha_channel(image):
        return image.convert("RGB")
    rgba = np.asarray(image.convert("RGBA"))
    if reference_compat:
        arr = rgba.astype(np.float32)
        a = arr[..., 3:4] / np.float32(255.0)
        out = arr[..., :3] * a + np.float32(255.0) * (np.float32(1.0) - a)
        return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    # exact rounding in integers: (rgb * alpha + 255 * (255 - alpha)) / 255 is never exactly halfway
    rgb, alpha = rgba[..., :3].astype(np.uint32), rgba[..., 3:4].astype(np.uint32)
    out = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
    return Image.fromarray(out.astype(np.uint8))


def foreground_box(image: Image.Image, reference_compat: bool = False) -> Optional[Box]:
    """SPEC 5.3 step 2: the square crop box around the alpha > 204 foreground, side 1.2 x its longest extent.

    Reference mode: integer box from the inclusive pixel extents with Python ``int`` truncation, clipped
    to the image, ``None`` when the clipped box is empty (no crop). Default: the exact float box around
    the foreground's pixel area (``[xmin, xmax + 1)``), not clipped: the parts outside the image are
    padded with white when cropping, so the object is centred and never stretched.

    Returns:
        ``(x0, y0, x1, y1)`` in pixels, or ``None`` when the image has no alpha or no foreground.
    """
    if not _has_alpha_channel(image):
        return None
    alpha = np.asarray(image.getchannel("A"))
    ys, xs = np.nonzero(alpha > FOREGROUND_ALPHA)
    if len(xs) == 0:
        return None
    xmin, xmax, ymin, ymax = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
    if reference_compat:
        cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
        half = int(BOX_MARGIN * max(xmax - xmin, ymax - ymin)) // 2
        x0, y0, x1, y1 = int(cx - half), int(cy - half), int(cx + half), int(cy + half)
        width, height = image.size
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
        return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None
    cx, cy = (xmin + xmax + 1) / 2.0, (ymin + ymax + 1) / 2.0
    half = BOX_MARGIN * max(xmax - xmin + 1, ymax - ymin + 1) / 2.0
    return (cx - half, cy - half, cx + half, cy + half)


def _frame(rgb: Image.Image, box: Optional[Box], size: int, reference_compat: bool) -> Image.Image:
    """Crop an RGB image to ``box`` and resize to ``size`` x ``size`` with PIL bicubic (antialiased).

    Reference mode: crop with the (clipped, integer) box and stretch the crop to the square; no box means
    the whole image is stretched. Default: the float box is resampled directly (PIL ``resize(box=...)``)
    from the image padded with white wherever the box leaves it; no box means the whole image padded to
    a centred square.
    """
    if reference_compat:
        if box is not None:
            rgb = rgb.crop(tuple(int(v) for v in box))
        return rgb.resize((size, size), Image.Resampling.BICUBIC)
    width, height = rgb.size
    if box is None:
        side = max(width, height)
        box = ((width - side) / 2.0, (height - side) / 2.0, (width + side) / 2.0, (height + side) / 2.0)
    x0, y0, x1, y1 = (float(v) for v in box)
    left, top = max(0, math.ceil(-x0)), max(0, math.ceil(-y0))
    right, bottom = max(0, math.ceil(x1 - width)), max(0, math.ceil(y1 - height))
    if left or top or right or bottom:
        canvas = Image.new("RGB", (width + left + right, height + top + bottom), (255, 255, 255))
        canvas.paste(rgb, (left, top))
        rgb = canvas
    return rgb.resize((size, size), Image.Resampling.BICUBIC, box=(x0 + left, y0 + top, x1 + left, y1 + top))


def _to_tensor(rgb: Image.Image) -> torch.Tensor:
    """torchvision ``to_tensor`` for an RGB PIL image: (3, H, W) float32 = uint8 / 255."""
    arr = np.array(rgb.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous().to(torch.float32).div(255)


def prepare_image_with_box(
    image: Image.Image, size: int = IMAGE_SIZE, reference_compat: bool = False, box: Optional[Box] = None
) -> tuple[torch.Tensor, Optional[Box]]:
    """SPEC 5.3 steps 1-3: white composite, foreground crop, resize to the encoder's input.

    Default mode differs from the reference in three ways: the crop box is padded with white instead of
    clipped (objects near the border are not stretched), an image without alpha is padded to a square
    instead of stretched, and compositing rounds instead of truncating. ``reference_compat=True``
    reproduces the reference exactly.

    Args:
        image: PIL image; with an alpha channel (RGBA / LA) it is composited and cropped.
        size: output side in pixels (448 for the released encoder).
        box: use this crop box instead of computing one (the reference only computes a box for images
            with alpha when none is supplied).

    Returns:
        ``(tensor (3, size, size) float32 in [0, 1], box)``; ``box`` is the ``(x0, y0, x1, y1)`` crop in
        the input's pixels (ints in reference mode, floats otherwise; may reach outside the image in
        default mode), or ``None`` when no crop was made. Pass it to :func:`masked_part_images`.
    """
    if box is None:
        box = foreground_box(image, reference_compat)
    elif reference_compat:
        width, height = image.size
        x0, y0, x1, y1 = (int(v) for v in box)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
        box = (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None
    rgb = composite_on_white(image, reference_compat)
    return _to_tensor(_frame(rgb, box, size, reference_compat)), box


def prepare_image(image: Image.Image, size: int = IMAGE_SIZE, reference_compat: bool = False) -> torch.Tensor:
    """:func:`prepare_image_with_box` without the box: (3, size, size) float32 in [0, 1]."""
    return prepare_image_with_box(image, size, reference_compat)[0]


def masked_part_images(
    image: Image.Image,
    mask_labels: np.ndarray,
    label_order: Sequence[int],
    box: Optional[Box],
    size: int = IMAGE_SIZE,
    reference_compat: bool = False,
) -> torch.Tensor:
    """SPEC 5.4: one image per mask part, everything outside the part white, framed like the whole image.

    For each label: start from the white-composited image, resize the part mask to the image size
    (nearest), set pixels outside it to 255, crop with the whole object's ``box`` (from
    :func:`prepare_image_with_box`, same ``reference_compat``), resize to ``size``.

    Args:
        image: the PIL image the whole-object tensor was made from (after background removal).
        mask_labels: (H, W) integer label image (0 = background), any size.
        label_order: (K,) labels in generation order (:func:`autopartgen.masks.order_mask_labels`).
        box: the whole object's crop box, or ``None`` for no crop.

    Returns:
        (K, 3, size, size) float32 tensor in [0, 1], in ``label_order`` order.
    """
    mask_labels = np.asarray(mask_labels)
    if mask_labels.ndim != 2:
        raise ValueError(f"mask_labels must be (H, W), got shape {mask_labels.shape}")
    rgb = np.array(composite_on_white(image, reference_compat), dtype=np.uint8)
    outputs = []
    for label in label_order:
        part = Image.fromarray((mask_labels == label).astype(np.uint8) * 255)
        if part.size != image.size:
            part = part.resize(image.size, Image.Resampling.NEAREST)
        masked = rgb.copy()
        masked[np.asarray(part) == 0] = 255
        outputs.append(_to_tensor(_frame(Image.fromarray(masked), box, size, reference_compat)))
    if not outputs:
        return torch.zeros((0, 3, size, size), dtype=torch.float32)
    return torch.stack(outputs)


# ----------------------------------------------------------------------------------------------------
# masks
# ----------------------------------------------------------------------------------------------------


def colour_mask_to_labels(rgb: np.ndarray, alpha: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """Map a colour mask to labels, one per distinct colour.

    Black (0, 0, 0) and fully transparent pixels (``alpha == 0``) are background (label 0). The other
    colours are numbered 1..K in ascending order of their packed value ``R * 65536 + G * 256 + B``, so
    the numbering depends only on which colours occur, not on where.

    Args:
        rgb: (H, W, 3) uint8.
        alpha: optional (H, W) uint8.

    Returns:
        ``(labels (H, W) int64, colours (K, 3) uint8)`` with ``colours[k - 1]`` the colour of label k.
    """
    rgb = np.asarray(rgb, dtype=np.uint8)
    packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    if alpha is not None:
        packed = np.where(np.asarray(alpha) == 0, 0, packed)
    colours = np.unique(packed)
    colours = colours[colours != 0]
    labels = np.where(packed == 0, 0, np.searchsorted(colours, packed) + 1).astype(np.int64)
    palette = np.stack([(colours >> 16) & 255, (colours >> 8) & 255, colours & 255], axis=1).astype(np.uint8)
    return labels, palette


def _mask_array(image: Image.Image, path: Path) -> np.ndarray:
    """PIL mask image -> (H, W) int64 labels, by mode (see :func:`load_mask`)."""
    mode = image.mode
    if mode in ("1", "L", "P", "I;16", "I;16B", "I;16L", "I"):
        labels = np.asarray(image).astype(np.int64)
        if labels.min() < 0:
            raise _error("mask", path, "has negative label values", "use labels 0 (background) and 1, 2, ...")
        return labels
    if mode in ("LA", "PA"):
        arr = np.asarray(image).astype(np.int64)
        return np.where(arr[..., 1] == 0, 0, arr[..., 0])
    if mode == "F":
        arr = np.asarray(image)
        if not np.isfinite(arr).all() or (arr < 0).any() or (arr != np.round(arr)).any():
            raise _error("mask", path, "holds non-integer float values", "save integer labels in an 8/16-bit PNG")
        return arr.astype(np.int64)
    rgba = np.asarray(image.convert("RGBA"))
    rgb, alpha = rgba[..., :3], rgba[..., 3]
    if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all() and (alpha == 255).all():
        return rgb[..., 0].astype(np.int64)  # a grey mask stored as RGB: the grey values are the labels
    labels, colours = colour_mask_to_labels(rgb, alpha)
    logger.info("mask '%s': colour mask, %d colours mapped to labels 1..%d in packed-RGB order", path,
                len(colours), len(colours))
    return labels


def _resize_nearest(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) labels -> (H, W) with nearest-neighbour sampling at pixel centres; ``size`` is (W, H)."""
    width, height = size
    h, w = labels.shape
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.int64), w - 1)
    return labels[rows[:, None], cols[None, :]]


def load_mask(path: PathLike, image_size: Optional[tuple[int, int]] = None) -> np.ndarray:
    """Read an indexed part mask into an (H, W) int64 label image; 0 is background.

    Accepted: 8-bit grey ("L"), 16/32-bit grey ("I;16", "I"), palette ("P": the palette index is the
    label, index 0 is background), 1-bit ("1"), grey with alpha ("LA": transparent = background), and
    colour masks (RGB / RGBA). An RGB mask whose three channels are equal is read as a grey mask (the
    grey value is the label, as in the reference); any other colour mask gets one label per colour,
    black and transparent being background, numbered in ascending packed-RGB order
    (:func:`colour_mask_to_labels`). The reference reads colour masks channel-wise, which is wrong.

    Args:
        path: mask file (a lossless format such as PNG; JPEG artefacts create spurious labels).
        image_size: ``(width, height)`` of the image the mask belongs to. A mask of another size with
            the same aspect ratio (within 1%) is resized nearest-neighbour with a warning; a different
            aspect ratio is an error.

    Returns:
        (H, W) int64 labels, at ``image_size`` when given.

    Raises:
        InputFileError: missing / directory / empty / corrupt / not an image; no non-zero label; more
            than 64 labels; size mismatch with a different aspect ratio.
    """
    path = _check_file("mask", path)
    image = _open_image("mask", path)
    if image.format == "JPEG":
        logger.warning("mask '%s' is a JPEG: compression artefacts change label values; save masks as PNG", path)
    labels = _mask_array(image, path)
    count = len(np.unique(labels)) - int((labels == 0).any())
    if count == 0:
        raise _error("mask", path, "has no labels (every pixel is 0 = background)",
                     "paint each part with its own non-zero value or colour")
    if count > MAX_MASK_LABELS:
        raise _error("mask", path, f"has {count} labels, more than the {MAX_MASK_LABELS} supported",
                     "merge parts, or save the mask losslessly without anti-aliasing (PNG, nearest-neighbour "
                     "resizing) so that edges do not create extra values")
    if image_size is not None:
        width, height = (int(v) for v in image_size)
        h, w = labels.shape
        if (w, h) != (width, height):
            ratio = (w / h) / (width / height)
            if abs(ratio - 1.0) > MASK_ASPECT_TOLERANCE:
                raise _error("mask", path, f"is {w}x{h} px but the image is {width}x{height} px (different "
                             "aspect ratio)", "make the mask the same size as the image")
            logger.warning("mask '%s' is %dx%d px, the image %dx%d px: resizing the mask (nearest)", path, w, h,
                           width, height)
            before = set(np.unique(labels).tolist())
            labels = _resize_nearest(labels, (width, height))
            lost = sorted(before - set(np.unique(labels).tolist()))
            if lost:
                logger.warning("mask '%s': labels %s vanished when resizing (regions too small)", path, lost)
            if not (labels != 0).any():
                raise _error("mask", path, "has no labels left after resizing to the image size",
                             "make the mask the same size as the image")
    return labels
