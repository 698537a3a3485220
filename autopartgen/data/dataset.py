"""The on-disk part dataset: one folder per object (see ``DESIGN.md``).

```
<object_id>/
  parts.glb          one node per part, named part_000, part_001, ... in canonical order, normalised frame
  meta.json          category, seed, split, part names, cameras, lights, materials, normalisation, licence
  views/rgba_XX.png  RGBA view (object on transparent background)
  views/mask_XX.png  indexed mask: pixel value k + 1 = part k, 0 = background (8-bit, 16-bit past 254 parts)
  samples.npz        optional cached training samples (see :func:`compute_samples`)
```

Everything here is torch-free: :func:`load_object` returns numpy arrays. Files are written atomically
(temporary file + ``os.replace``) and an object folder only appears under its final name once complete.

Splits are disjoint seed ranges (:data:`SPLIT_SEED_BASE`); ``test-ood`` objects are drawn with the
generator's out-of-distribution sampler (proportions and repeat counts beyond the training ranges).
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from autopartgen.errors import ConfigError, InputFileError, OutputPathError
from autopartgen.render import Camera, Lighting, part_colors, render_views

logger = logging.getLogger(__name__)

FORMAT_NAME = "autopartgen-parts"
FORMAT_VERSION = 1
SPLITS = ("train", "val", "test", "test-ood")
SPLIT_SEED_BASE = {"train": 0, "val": 1_000_000_000, "test": 2_000_000_000, "test-ood": 3_000_000_000}
SPLIT_SEED_SPAN = 1_000_000_000
MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply", ".stl", ".off")


# --- splits -----------------------------------------------------------------------------------------


def split_seeds(split: str, start: int, n: int) -> list[int]:
    """The ``n`` generator seeds of ``split`` beginning at offset ``start`` (disjoint across splits)."""
    if split not in SPLIT_SEED_BASE:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if start < 0 or start + n > SPLIT_SEED_SPAN:
        raise ConfigError(f"--seed {start} with --n {n} leaves the split's seed range; keep seed + n <= {SPLIT_SEED_SPAN}")
    base = SPLIT_SEED_BASE[split]
    return [base + start + i for i in range(n)]


def split_of_seed(seed: int) -> str:
    """The split a generator seed belongs to."""
    for split in SPLITS:
        base = SPLIT_SEED_BASE[split]
        if base <= seed < base + SPLIT_SEED_SPAN:
            return split
    raise ValueError(f"seed {seed} is outside every split range")


def object_id(category: str, seed: int) -> str:
    return f"{category}_{seed:010d}"


# --- atomic writes ----------------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    if array.dtype == np.uint16:
        Image.fromarray(array.astype(np.uint16), mode="I;16").save(buf, format="PNG")
    else:
        Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def write_png(path: Path, array: np.ndarray) -> None:
    """Write an RGBA (H, W, 4) uint8 image or an indexed (H, W) uint8/uint16 mask atomically."""
    _atomic_write_bytes(Path(path), _png_bytes(np.ascontiguousarray(array)))


def write_json(path: Path, obj) -> None:
    _atomic_write_bytes(Path(path), (json.dumps(obj, indent=1) + "\n").encode())


def write_npz(path: Path, arrays: dict) -> None:
    """Write named arrays as an uncompressed npz atomically (temp file in the same folder, then rename)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # float samples barely compress; plain npz is several times faster to write
    _atomic_write_bytes(Path(path), buf.getvalue())


# --- GLB ----------------------------------------------------------------------------------------------


def parts_to_glb(meshes, colors=None) -> bytes:
    """A GLB (bytes) with one node per mesh, named ``part_000``... in the given order, coloured per part."""
    colors = part_colors(len(meshes)) if colors is None else np.asarray(colors, float)
    scene = trimesh.Scene()
    for k, mesh in enumerate(meshes):
        name = f"part_{k:03d}"
        m = trimesh.Trimesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), process=False)
        rgba = [int(round(c * 255)) for c in colors[k][:3]] + [255]
        m.visual = trimesh.visual.TextureVisuals(
            material=trimesh.visual.material.PBRMaterial(name=name, baseColorFactor=rgba, metallicFactor=0.0,
                                                         roughnessFactor=0.7))
        scene.add_geometry(m, node_name=name, geom_name=name)
    return scene.export(file_type="glb")


def _scene_meshes(scene: trimesh.Scene) -> list[tuple[str, trimesh.Trimesh]]:
    """(node name, mesh in world frame) for every geometry node of ``scene``, sorted by node name."""
    out = []
    for node in sorted(scene.graph.nodes_geometry):
        transform, geom_name = scene.graph[node]
        geom = scene.geometry[geom_name]
        if not isinstance(geom, trimesh.Trimesh) or len(geom.faces) == 0:
            continue
        mesh = trimesh.Trimesh(np.asarray(geom.vertices, float), np.asarray(geom.faces), process=False)
        if not np.allclose(transform, np.eye(4)):
            mesh.apply_transform(transform)
        out.append((node, mesh))
    return out


def read_glb_parts(path: Path) -> list[tuple[str, trimesh.Trimesh]]:
    """Read a GLB whose geometry nodes are parts: ``[(node name, mesh)]`` sorted by node name."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: file not found; pass an existing .glb file")
    try:
        scene = trimesh.load(str(path), force="scene", process=False)
    except Exception as error:  # trimesh raises many types for corrupt files
        raise InputFileError(f"{path}: cannot read as GLB ({error}); re-export it as binary glTF (.glb)") from error
    return _scene_meshes(scene)


# --- samples ------------------------------------------------------------------------------------------


def sample_surface(vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator,
                   return_faces: bool = False):
    """``n`` area-uniform surface points (n, 3) and their face normals (n, 3) (float64).

    With ``return_faces`` also the index (n,) of the face each point lies on.
    """
    v = np.asarray(vertices, float)
    f = np.asarray(faces, np.int64).reshape(-1, 3)
    tri = v[f]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = np.linalg.norm(cross, axis=1)
    if len(f) == 0 or area.sum() <= 0:
        empty = (np.zeros((n, 3)), np.zeros((n, 3)))
        return (*empty, np.zeros(n, np.int64)) if return_faces else empty
    face = rng.choice(len(f), size=n, p=area / area.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    w = np.stack([1 - s, s * (1 - r2), s * r2], axis=1)
    pts = np.einsum("nk,nkj->nj", w, tri[face])
    normals = cross[face] / np.maximum(area[face], 1e-20)[:, None]
    return (pts, normals, face) if return_faces else (pts, normals)


def compute_samples(meshes, part_sdfs=None, seed: int = 0, n_part: int = 1024, n_whole: int = 4096,
                    n_near: int = 4096, n_uniform: int = 2048, near_sigma=(0.005, 0.03)) -> dict:
    """Cached training samples for one object (all float32 except the per-part SDFs, float16).

    * ``part_points``/``part_normals`` (K, n_part, 3): surface samples of each part;
    * ``points``/``normals`` (n_whole, 3): samples of the whole object's outer surface (points of a part
      inside another part are rejected when ``part_sdfs`` are given);
    * with ``part_sdfs`` (K callables on (N, 3)): ``near_points`` (n_near, 3) surface points jittered by
      N(0, sigma) for each sigma in ``near_sigma`` (in equal shares), ``uniform_points`` (n_uniform, 3)
      uniform in [-1, 1]^3, their whole-object SDF ``near_sdf``/``uniform_sdf`` and per-part SDF
      ``near_part_sdf``/``uniform_part_sdf`` (N, K).
    """
    rng = np.random.default_rng(seed)
    arrays = [(np.asarray(m.vertices, float), np.asarray(m.faces)) for m in meshes]
    out = {}
    pp, pn = zip(*[sample_surface(v, f, n_part, rng) for v, f in arrays])
    out["part_points"] = np.stack(pp).astype(np.float32)
    out["part_normals"] = np.stack(pn).astype(np.float32)
    allv = np.concatenate([v for v, _ in arrays])
    allf = np.concatenate([f + off for (_, f), off in zip(arrays, np.cumsum([0] + [len(v) for v, _ in arrays])[:-1])])
    owner = np.concatenate([np.full(len(f), k) for k, (_, f) in enumerate(arrays)])
    pts, nrm, face = sample_surface(allv, allf, 2 * n_whole, rng, return_faces=True)
    if part_sdfs is not None:
        # Reject points buried inside another part (their own part's SDF is ~0 there, ignore it).
        d = np.stack([sdf(pts) for sdf in part_sdfs], axis=1)
        d[np.arange(len(pts)), owner[face]] = np.inf
        buried = d.min(axis=1) < -1e-3
        pts, nrm = pts[~buried], nrm[~buried]
    idx = rng.choice(len(pts), size=n_whole, replace=len(pts) < n_whole) if len(pts) else np.zeros(0, int)
    out["points"] = pts[idx].astype(np.float32)
    out["normals"] = nrm[idx].astype(np.float32)
    if part_sdfs is not None:
        shares = np.array_split(np.arange(n_near), len(near_sigma))
        base = out["points"][rng.choice(len(out["points"]), size=n_near)].astype(np.float64)
        near = base.copy()
        for share, sigma in zip(shares, near_sigma):
            near[share] += rng.normal(0.0, sigma, (len(share), 3))
        uniform = rng.uniform(-1.0, 1.0, (n_uniform, 3))
        for key, q in (("near", near), ("uniform", uniform)):
            d = np.stack([sdf(q) for sdf in part_sdfs], axis=1)
            out[f"{key}_points"] = q.astype(np.float32)
            out[f"{key}_sdf"] = d.min(axis=1).astype(np.float32)
            out[f"{key}_part_sdf"] = d.astype(np.float16)
    return out


# --- write / read one object ---------------------------------------------------------------------------


def write_object(out_dir: Path, obj_id: str, meshes, meta: dict, views: list[dict] | None = None,
                 samples: dict | None = None, overwrite: bool = True) -> Path:
    """Write one object folder ``out_dir/obj_id`` atomically and return its path.

    ``meshes`` are the parts in canonical order (trimesh objects, normalised frame). ``meta`` is stored as
    given plus the format fields, part node names and view records. ``views`` are dicts from
    :func:`autopartgen.render.render_views`. The folder is assembled under a hidden temporary name and
    renamed into place, so readers never see a half-written object.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputPathError(f"{out_dir}: exists and is not a folder; pass a folder path to --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / obj_id
    if final.exists() and not overwrite:
        raise OutputPathError(f"{final}: already exists; remove it or write to another --out folder")
    tmp = Path(tempfile.mkdtemp(prefix=f".{obj_id}.", suffix=".partial", dir=out_dir))
    try:
        os.chmod(tmp, 0o777 & ~_UMASK)
        colors = None
        if views:
            colors = views[0]["materials"]["colors"]
        _atomic_write_bytes(tmp / "parts.glb", parts_to_glb(meshes, colors))
        view_records = []
        if views:
            (tmp / "views").mkdir()
            for i, view in enumerate(views):
                write_png(tmp / "views" / f"rgba_{i:02d}.png", view["rgba"])
                write_png(tmp / "views" / f"mask_{i:02d}.png", view["mask"])
                light: Lighting = view["lighting"]
                view_records.append({
                    "rgba": f"views/rgba_{i:02d}.png", "mask": f"views/mask_{i:02d}.png",
                    "camera": view["camera"].to_dict(),
                    "lighting": {"direction": list(light.direction), "ambient": light.ambient, "diffuse": light.diffuse},
                })
        if samples is not None:
            write_npz(tmp / "samples.npz", samples)
        full_meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "object_id": obj_id, **meta}
        full_meta["n_parts"] = len(meshes)
        part_meta = list(meta.get("parts", [{} for _ in meshes]))
        for k, mesh in enumerate(meshes):
            v = np.asarray(mesh.vertices)
            part_meta[k] = {"node": f"part_{k:03d}", **part_meta[k], "n_vertices": int(len(v)),
                            "n_faces": int(len(mesh.faces)),
                            "bbox": [v.min(0).round(6).tolist(), v.max(0).round(6).tolist()]}
        full_meta["parts"] = part_meta
        full_meta["views"] = view_records
        if views:
            mats = views[0]["materials"]
            full_meta["materials"] = {key: np.asarray(val).round(6).tolist() for key, val in mats.items()}
        full_meta["samples"] = "samples.npz" if samples is not None else None
        write_json(tmp / "meta.json", full_meta)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load_object(folder: Path, views: bool = True, samples: bool = True) -> dict:
    """Read one object folder (no torch).

    Returns ``{"id", "path", "meta", "parts": [{"node", "name", "vertices" (V, 3) float32, "faces" (F, 3)
    int64}], "views": [{"rgba" (H, W, 4) uint8, "mask" (H, W), "camera": Camera}], "samples": dict or
    None}``. Raises :class:`InputFileError` naming the broken file.
    """
    folder = Path(folder)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise InputFileError(f"{meta_path}: not found; is {folder} an object folder (parts.glb + meta.json)?")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputFileError(f"{meta_path}: invalid JSON ({error}); regenerate or re-import the object") from error
    glb = folder / "parts.glb"
    nodes = read_glb_parts(glb)
    names = {p.get("node"): p.get("name") for p in meta.get("parts", [])}
    parts = [{"node": node, "name": names.get(node, node), "vertices": np.asarray(m.vertices, np.float32),
              "faces": np.asarray(m.faces, np.int64)} for node, m in nodes]
    out = {"id": meta.get("object_id", folder.name), "path": str(folder), "meta": meta, "parts": parts,
           "views": [], "samples": None}
    if views:
        for record in meta.get("views", []):
            rgba = _read_png(folder / record["rgba"])
            mask = _read_png(folder / record["mask"])
            out["views"].append({"rgba": rgba, "mask": mask, "camera": Camera.from_dict(record["camera"])})
    if samples and meta.get("samples"):
        path = folder / meta["samples"]
        try:
            with np.load(path) as data:
                out["samples"] = {key: data[key] for key in data.files}
        except (OSError, ValueError) as error:
            raise InputFileError(f"{path}: unreadable samples ({error}); delete it and regenerate") from error
    return out


def _read_png(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.array(image)
    except (OSError, ValueError) as error:
        raise InputFileError(f"{path}: cannot read PNG ({error}); regenerate the object's views") from error


def list_objects(root: Path) -> list[Path]:
    """Object folders (those holding ``meta.json``) directly under ``root``, sorted, hidden ones skipped."""
    root = Path(root)
    if not root.is_dir():
        raise InputFileError(f"{root}: not a folder; pass the dataset folder written by `autopartgen data generate`")
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "meta.json").is_file())


# --- procedural objects -----------------------------------------------------------------------------------


def generate_and_write(out_dir: Path, seed: int, category: str | None = None, split: str | None = None,
                       n_views: int = 2, size: int = 256, resolution: int = 64, with_samples: bool = True,
                       skip_existing: bool = True, corpus: str = "v1") -> dict:
    """Generate procedural object ``seed`` of ``corpus`` and write its folder. Returns a summary record.

    ``split`` defaults to the seed's split; ``test-ood`` objects use the out-of-distribution sampler.
    ``corpus``: ``v1`` (the 31 original categories, no shape variation) or ``v2`` (more categories; every
    object gets its seed's blended joints, turn about +Y and non-uniform scale).
    """
    from autopartgen.data.procedural import GENERATOR_VERSION, category_for_seed, build_object

    split = split or split_of_seed(seed)
    category = category or category_for_seed(seed, corpus=corpus)
    obj_id = object_id(category, seed)
    final = Path(out_dir) / obj_id
    if skip_existing and (final / "meta.json").is_file():
        meta = json.loads((final / "meta.json").read_text())
        return {"id": obj_id, "category": category, "n_parts": meta.get("n_parts"), "skipped": True}
    obj = build_object(category, seed, resolution=resolution, ood=(split == "test-ood"), variation=corpus != "v1")
    meshes = [p.mesh for p in obj.parts]
    rng = np.random.default_rng([seed, 1])
    views = render_views(meshes, n_views, rng, size) if n_views > 0 else []
    samples = None
    if with_samples:
        samples = compute_samples(meshes, [p.sdf for p in obj.parts], seed=seed)
    meta = {
        "category": category, "seed": int(seed), "split": split, "source": "procedural",
        "generator_version": GENERATOR_VERSION, "corpus": corpus, "variation": obj.variation, "licence": "CC0-1.0 (procedurally generated by autopartgen)",
        "ood": obj.ood, "ood_params": obj.ood_params,
        "normalisation": {"centre": np.round(obj.centre, 8).tolist(), "scale": float(obj.scale),
                          "note": "normalised = (generator units - centre) * scale"},
        "parts": [{"name": p.name, "label": p.name, "cell": round(float(p.cell), 8)} for p in obj.parts],
    }
    write_object(out_dir, obj_id, meshes, meta, views, samples)
    return {"id": obj_id, "category": category, "n_parts": len(meshes), "skipped": False}


# --- import user data ---------------------------------------------------------------------------------------


def read_part_meshes(src: Path) -> list[tuple[str, trimesh.Trimesh]]:
    """Parts from a GLB/glTF whose nodes are parts, or from a folder of per-part mesh files."""
    src = Path(src)
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.suffix.lower() in MESH_SUFFIXES and not p.name.startswith("."))
        if not files:
            raise InputFileError(f"{src}: no mesh files ({', '.join(MESH_SUFFIXES)}); put one file per part in it")
        parts = []
        for path in files:
            try:
                loaded = trimesh.load(str(path), force="scene", process=False)
            except Exception as error:
                raise InputFileError(f"{path}: cannot read mesh ({error}); re-export it as .glb, .obj or .ply") from error
            meshes = [m for _, m in _scene_meshes(loaded)]
            if not meshes:
                raise InputFileError(f"{path}: holds no triangles; remove it or export the part with its faces")
            parts.append((path.stem, trimesh.util.concatenate(meshes) if len(meshes) > 1 else meshes[0]))
        return parts
    if not src.exists():
        raise InputFileError(f"{src}: not found; pass a .glb whose nodes are parts or a folder of part meshes")
    if src.suffix.lower() not in (".glb", ".gltf"):
        raise InputFileError(f"{src}: expected a .glb/.gltf file (or a folder of per-part meshes)")
    parts = read_glb_parts(src)
    if not parts:
        raise InputFileError(f"{src}: contains no triangle meshes; export each part as a mesh node")
    return parts


def normalise_parts(meshes) -> tuple[list[trimesh.Trimesh], np.ndarray, float]:
    """Jointly normalise meshes to [-1, 1]^3 (bounding-box centre, max-abs = 1): (meshes, centre, scale)."""
    allv = np.concatenate([np.asarray(m.vertices, float) for m in meshes])
    centre = (allv.min(0) + allv.max(0)) / 2
    extent = float(np.abs(allv - centre).max())
    if not np.isfinite(extent) or extent <= 0:
        raise InputFileError("the parts have no extent (all vertices coincide or are not finite); check the input")
    scale = 1.0 / extent
    out = [trimesh.Trimesh((np.asarray(m.vertices, float) - centre) * scale, np.asarray(m.faces), process=False)
           for m in meshes]
    return out, centre, scale


def import_object(src: Path, out_dir: Path, obj_id: str | None = None, n_views: int = 2, size: int = 256,
                  seed: int = 0, category: str = "imported") -> Path:
    """Convert a GLB whose nodes are parts, or a folder of per-part meshes, into one object folder.

    Parts are normalised jointly, put in canonical order and rendered with ``n_views`` views. Samples hold
    surface points only (no SDF without watertight, exact parts). The inverse normalisation is stored in
    ``meta.json`` (``original = normalised / scale + centre``).
    """
    from autopartgen.data.procedural import canonical_order

    src = Path(src)
    named = read_part_meshes(src)
    names = [n for n, _ in named]
    meshes, centre, scale = normalise_parts([m for _, m in named])
    order = canonical_order(meshes, names)
    meshes = [meshes[i] for i in order]
    names = [names[i] for i in order]
    watertight = [bool(m.is_watertight) for m in meshes]
    if not all(watertight):
        logger.warning("%s: %d of %d parts are not watertight", src, watertight.count(False), len(meshes))
    rng = np.random.default_rng([seed, 1])
    views = render_views(meshes, n_views, rng, size) if n_views > 0 else []
    samples = compute_samples(meshes, None, seed=seed, n_near=0, n_uniform=0)
    meta = {"category": category, "seed": int(seed), "split": "imported", "source": str(src.name),
            "licence": "as the source data", "ood": False, "ood_params": [],
            "normalisation": {"centre": np.round(centre, 8).tolist(), "scale": float(scale),
                              "note": "normalised = (original - centre) * scale"},
            "parts": [{"name": n, "label": n, "watertight": w} for n, w in zip(names, watertight)]}
    return write_object(out_dir, obj_id or src.stem, meshes, meta, views, samples)


# --- validation -------------------------------------------------------------------------------------------


def validate_object(folder: Path) -> tuple[dict | None, list[str]]:
    """Check one object folder. Returns (its summary or None, list of problems, each naming the file)."""
    folder = Path(folder)
    try:
        obj = load_object(folder)
    except InputFileError as error:
        return None, [str(error)]
    except (KeyError, TypeError, ValueError) as error:
        return None, [f"{folder / 'meta.json'}: malformed ({error})"]
    meta, parts = obj["meta"], obj["parts"]
    problems = []
    n = len(parts)
    if meta.get("format") != FORMAT_NAME:
        problems.append(f"{folder / 'meta.json'}: format is {meta.get('format')!r}, expected {FORMAT_NAME!r}")
    if meta.get("n_parts") != n:
        problems.append(f"{folder / 'parts.glb'}: {n} part nodes but meta.json says {meta.get('n_parts')}")
    expected_nodes = [f"part_{k:03d}" for k in range(n)]
    if [p["node"] for p in parts] != expected_nodes:
        problems.append(f"{folder / 'parts.glb'}: nodes are not named part_000..part_{n - 1:03d}")
    if n == 0:
        problems.append(f"{folder / 'parts.glb'}: no parts")
        return None, problems
    allv = np.concatenate([p["vertices"] for p in parts])
    if not np.isfinite(allv).all():
        problems.append(f"{folder / 'parts.glb'}: non-finite vertices")
    elif abs(float(np.abs(allv).max()) - 1.0) > 1e-3:
        problems.append(f"{folder / 'parts.glb'}: not normalised (max |coordinate| = {np.abs(allv).max():.4f})")
    lows = [float(p["vertices"][:, 1].min()) for p in parts]
    if any(b < a - 1e-3 for a, b in zip(lows, lows[1:])):
        problems.append(f"{folder / 'parts.glb'}: parts are not in bottom-to-top order")
    if meta.get("source") == "procedural":
        for p in parts:
            mesh = trimesh.Trimesh(p["vertices"], p["faces"], process=False)
            if len(p["faces"]) < 4 or not mesh.is_watertight:
                problems.append(f"{folder / 'parts.glb'}: {p['node']} is not a closed, watertight mesh")
    for k, view in enumerate(obj["views"]):
        mask, rgba = view["mask"], view["rgba"]
        if rgba.ndim != 3 or rgba.shape[2] != 4 or mask.shape != rgba.shape[:2]:
            problems.append(f"{folder}/views/*_{k:02d}.png: RGBA and mask shapes differ or image is not RGBA")
            continue
        if int(mask.max()) > n:
            problems.append(f"{folder}/views/mask_{k:02d}.png: label {int(mask.max())} > {n} parts")
        if not np.array_equal(mask > 0, rgba[..., 3] > 127):
            problems.append(f"{folder}/views/mask_{k:02d}.png: mask union differs from the RGBA alpha")
    if len(obj["views"]) != len(meta.get("views", [])):
        problems.append(f"{folder}/views: view files missing")
    s = obj["samples"]
    if s is not None:
        if s.get("part_points") is None or s["part_points"].shape[0] != n:
            problems.append(f"{folder / 'samples.npz'}: part_points does not have one row per part")
    summary = {"id": obj["id"], "category": meta.get("category", "?"), "n_parts": n, "split": meta.get("split", "?"),
               "n_views": len(obj["views"])}
    return summary, problems


def check_dataset(root: Path) -> dict:
    """Validate every object folder under ``root``: counts per category / split, part-count histogram, failures."""
    folders = list_objects(root)
    categories, splits, hist = Counter(), Counter(), Counter()
    failures = []
    partial = [p.name for p in Path(root).iterdir() if p.name.endswith(".partial")]
    for folder in folders:
        summary, problems = validate_object(folder)
        failures.extend(problems)
        if summary:
            categories[summary["category"]] += 1
            splits[summary["split"]] += 1
            hist[summary["n_parts"]] += 1
    return {"n_objects": len(folders), "categories": dict(sorted(categories.items())), "splits": dict(splits),
            "part_counts": dict(sorted(hist.items())), "failures": failures, "partial": partial}
