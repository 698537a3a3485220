"""The benchmark runner: a dataset in our on-disk format x a set of methods -> a table, a summary, plots.

A *method* is any callable ``method(mesh, **context) -> list[trimesh.Trimesh]`` registered in
:data:`METHODS` (use :func:`register_method`). The context always holds ``gt_count`` (number of
ground-truth parts), ``seed``, ``object_dir`` (a ``Path``), ``mode`` (``mesh``, ``image`` or
``image_mask``) and ``weights`` (the ``--weights`` path or ``None``); a method takes what it needs and
ignores the rest (``**_``). The baselines are registered here; our model registers itself the same way.

Per object the runner

1. reads the ground-truth parts from ``parts.glb`` (nodes ``part_000``, ``part_001``, ...) and the
   category from ``meta.json``;
2. builds the input mesh (:func:`make_input_mesh`): ``fused`` (default) is one watertight surface
   extracted from the union of the parts, the way a user's scan or a generated mesh arrives, so the part
   structure cannot leak through separate shells; ``concat`` passes the parts concatenated into one mesh;
3. runs every method on it, timing the call (wall clock, ``time.perf_counter``);
4. scores the parts with :func:`autopartgen.eval.metrics.evaluate_parts` against the ground truth (the
   ground truth is voxelised and sampled once per object and reused for every method).

:func:`run_eval` does this over a split (in parallel worker processes when ``workers > 1``, with a
progress bar) and writes ``results.csv``, ``summary.md``, plots and ``gallery.png``.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import trimesh

from autopartgen.errors import InputFileError, OutputPathError, PartGenError
from autopartgen.eval import baselines
from autopartgen.eval.metrics import (DEFAULT_GRID, DEFAULT_SAMPLES, FSCORE_THRESHOLDS, evaluate_parts,
                                      iou_matrix, match_parts, occupancy, prepare_parts)

log = logging.getLogger(__name__)

MODES = ("mesh", "image", "image_mask")
INPUT_FORMS = ("fused", "concat", "realistic")
_PART_NODE = re.compile(r"^part_(\d+)$")


# --------------------------------------------------------------------------------------------------
# method registry
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: the callable and the input modes it supports."""

    fn: Callable[..., list]
    modes: tuple = ("mesh",)
    description: str = ""


METHODS: dict[str, MethodSpec] = {}


def register_method(name: str, fn: Callable[..., list], *, modes: Sequence[str] = ("mesh",),
                    description: str = "") -> None:
    """Add (or replace) a method: ``fn(mesh, **context) -> list[trimesh.Trimesh]``.

    With ``workers > 1`` the worker processes are forked from the process that called
    :func:`run_eval`, so anything registered before that call is available in them.
    """
    unknown = set(modes) - set(MODES)
    if unknown:
        raise ValueError(f"register_method: unknown modes {sorted(unknown)}; use {MODES}")
    METHODS[name] = MethodSpec(fn=fn, modes=tuple(modes), description=description)


def _baseline(name: str) -> Callable[..., list]:
    def method(mesh, *, gt_count=None, seed=0, **_):
        return baselines.run_baseline(name, mesh, gt_count=gt_count, seed=seed)

    method.__name__ = f"baseline_{name}"
    return method


for _name, _text in [("single", "the input as one part"),
                     ("components", "connected components of the input mesh"),
                     ("coacd", "coacd convex decomposition, documented defaults"),
                     ("coacd_tuned", "coacd with max_convex_hull = GT count, threshold lowered while too few")]:
    register_method(_name, _baseline(_name), description=_text)
BASELINE_METHODS = ("single", "components", "coacd", "coacd_tuned")


# --------------------------------------------------------------------------------------------------
# dataset reading
# --------------------------------------------------------------------------------------------------


@dataclass
class EvalObject:
    """One ground-truth object: its folder, id, category and part meshes (normalised frame)."""

    path: Path
    object_id: str
    category: str
    parts: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)


def _is_object_dir(path: Path) -> bool:
    return path.is_dir() and (path / "parts.glb").is_file()


def find_objects(data_dir: Path | str, split: str | None = "test") -> list[Path]:
    """Object folders of a split, sorted by name.

    The split is found, in this order, as: a sub-folder ``DATA/<split>/`` of object folders; a list of
    object ids in ``DATA/splits/<split>.txt``, ``DATA/<split>.txt`` or ``DATA/splits.json``
    (``{"test": [...]}``); a ``"split"`` field in each ``meta.json``. When none exists, every object folder
    under ``DATA`` is used and a warning is logged. ``split=None`` takes every object folder.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputFileError(f"dataset folder {data_dir} does not exist; pass --data with a folder of objects")
    if _is_object_dir(data_dir):
        return [data_dir]
    all_objects = sorted({p.parent for p in data_dir.rglob("parts.glb")}, key=lambda p: str(p))
    if split is None:
        return all_objects
    if (data_dir / split).is_dir():
        return sorted({p.parent for p in (data_dir / split).rglob("parts.glb")}, key=lambda p: str(p))
    ids: list[str] | None = None
    for list_file in (data_dir / "splits" / f"{split}.txt", data_dir / f"{split}.txt"):
        if list_file.is_file():
            ids = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]
            break
    if ids is None and (data_dir / "splits.json").is_file():
        ids = json.loads((data_dir / "splits.json").read_text()).get(split)
    if ids is not None:
        by_name = {p.name: p for p in all_objects}
        missing = [i for i in ids if i not in by_name]
        if missing:
            log.warning("split %s: %d listed objects not found (first: %s)", split, len(missing), missing[0])
        return [by_name[i] for i in ids if i in by_name]
    tagged = [p for p in all_objects if _read_meta(p).get("split") == split]
    if tagged:
        return tagged
    log.warning("no split %r found under %s; evaluating all %d objects", split, data_dir, len(all_objects))
    return all_objects


def _read_meta(object_dir: Path) -> dict:
    path = object_dir / "meta.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputFileError(f"{path} is not valid JSON ({error}); regenerate or fix the object") from error


def load_gt_parts(object_dir: Path | str) -> list[trimesh.Trimesh]:
    """Ground-truth parts of an object: the ``part_NNN`` nodes of ``parts.glb`` in index order, transforms applied.

    A GLB without ``part_NNN`` node names is read as one part per geometry node, in node order.
    """
    path = Path(object_dir) / "parts.glb"
    try:
        scene = trimesh.load(str(path), force="scene", process=False)
    except Exception as error:  # trimesh raises many types for a corrupt file
        raise InputFileError(f"cannot read {path}: {error}; the object folder needs a valid parts.glb") from error
    named = []
    for node in scene.graph.nodes_geometry:
        transform, geometry_name = scene.graph[node]
        geometry = scene.geometry[geometry_name]
        if not isinstance(geometry, trimesh.Trimesh) or len(geometry.faces) == 0:
            continue
        mesh = geometry.copy()
        mesh.apply_transform(transform)
        match = _PART_NODE.match(str(node))
        named.append((int(match.group(1)) if match else None, str(node), mesh))
    if not named:
        raise InputFileError(f"{path} holds no triangle meshes; expected nodes part_000, part_001, ...")
    if all(index is not None for index, _, _ in named):
        named.sort(key=lambda item: item[0])
    else:
        named.sort(key=lambda item: item[1])
    return [mesh for _, _, mesh in named]


def load_object(object_dir: Path | str) -> EvalObject:
    """Read one object folder (``parts.glb`` + ``meta.json``)."""
    object_dir = Path(object_dir)
    meta = _read_meta(object_dir)
    return EvalObject(path=object_dir, object_id=str(meta.get("object_id", object_dir.name)),
                      category=str(meta.get("category", "unknown")), parts=load_gt_parts(object_dir), meta=meta)


def concatenate(parts: Sequence[trimesh.Trimesh]) -> trimesh.Trimesh:
    """All parts as one mesh (faces re-indexed), no vertex merging."""
    vertices = np.concatenate([np.asarray(p.vertices) for p in parts])
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts[:-1]])
    faces = np.concatenate([np.asarray(p.faces) + o for p, o in zip(parts, offsets)])
    return trimesh.Trimesh(vertices, faces, process=False)


def make_input_mesh(parts: Sequence[trimesh.Trimesh], form: str = "fused", resolution: int = 192,
                    smooth_sigma: float = 0.5, max_faces: int | None = 20_000) -> trimesh.Trimesh:
    """The whole-object mesh a method receives.

    Args:
        parts: ground-truth parts in the normalised frame.
        form: ``fused``: the union of the parts' occupancies on a ``resolution**3`` grid of the [-1, 1]
            cube, blurred by a Gaussian of ``smooth_sigma`` cells, iso-surfaced at 0.5 (marching cubes) and
            simplified to ``max_faces``: one watertight surface with no trace of the part boundaries.
            ``concat``: the part meshes concatenated (part shells stay separate, so connected components
            can see them).
        resolution: cells per axis of the fused grid. The default 192 = 3 x 64 puts every cell centre of
            the 64^3 evaluation grid on a centre of this grid, so fusing changes no evaluation cell of a
            shape whose features are not thinner than a fused cell (an even multiple such as 128 puts
            the evaluation centres exactly on the extracted surface, where they flip either way).
        smooth_sigma: Gaussian blur in cells before iso-surfacing (0 = none).
        max_faces: quadric decimation target (``fast_simplification``); ``None`` keeps every face.

    Returns:
        a new mesh in the normalised frame.
    """
    if form == "concat":
        return concatenate(parts)
    if form != "fused":
        raise ValueError(f"make_input_mesh: form must be one of {INPUT_FORMS}, got {form!r}")
    from scipy.ndimage import gaussian_filter
    from skimage.measure import marching_cubes

    union = np.zeros((resolution,) * 3, dtype=bool)
    for part in parts:
        union |= occupancy(part, resolution)
    volume = np.pad(union.astype(np.float32), 1)
    if smooth_sigma > 0:
        volume = gaussian_filter(volume, smooth_sigma)
    if volume.max() <= 0.5:
        log.warning("fused input: the parts have no volume at %d^3; passing them concatenated", resolution)
        return concatenate(parts)
    vertices, faces, _, _ = marching_cubes(volume, level=0.5)
    vertices = -1.0 + (vertices - 1.0 + 0.5) * (2.0 / resolution)  # padded index -> cell centre coordinate
    if max_faces is not None and len(faces) > max_faces:
        try:
            import fast_simplification

            vertices, faces = fast_simplification.simplify(vertices.astype(np.float32), faces.astype(np.int32),
                                                           target_reduction=1.0 - max_faces / len(faces))
        except ImportError:
            log.debug("fast_simplification is not installed; the fused input keeps %d faces", len(faces))
    mesh = trimesh.Trimesh(np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64), process=True)
    if mesh.volume < 0:  # wind the faces outward whatever skimage's convention
        mesh.invert()
    return mesh


# --------------------------------------------------------------------------------------------------
# one object
# --------------------------------------------------------------------------------------------------

METRIC_COLUMNS = (["part_iou", "precision", "recall", "f1", "count_exact", "count_abs_error", "part_chamfer_l1"]
                  + [f"part_fscore@{t:g}" for t in FSCORE_THRESHOLDS]
                  + ["object_iou", "object_chamfer_l1"] + [f"object_fscore@{t:g}" for t in FSCORE_THRESHOLDS])
CSV_COLUMNS = (["object_id", "category", "method", "mode", "input", "n_gt", "n_pred"] + METRIC_COLUMNS
               + ["time_s", "stop", "error"])


class MethodParts(list):
    """The part meshes a method returns, with ``stop``: why it stopped making parts (our pipeline's stop
    reason, such as ``end_token``; empty for the baselines). A plain list works as a method's result too."""

    def __init__(self, parts=(), stop: str = ""):
        super().__init__(parts)
        self.stop = stop


@dataclass
class EvalSettings:
    """Everything that defines a run besides the data and the methods."""

    mode: str = "mesh"
    input_form: str = "fused"
    input_resolution: int = 192
    input_max_faces: int | None = 20_000
    grid: int = DEFAULT_GRID
    n_samples: int = DEFAULT_SAMPLES
    seed: int = 0
    weights: str | None = None
    generation_grid: int | None = None  # extraction grid of model methods (None: the model's default)


@dataclass
class GalleryEntry:
    """What the gallery shows for one object: the input, the GT parts, and each method's parts.

    ``colour_index[method][k]`` is the colour slot of predicted part k: the index of its Hungarian GT
    partner (so matched parts share the GT part's colour), or a slot after the GT parts when unmatched.
    """

    object_id: str
    input_mesh: trimesh.Trimesh
    gt_parts: list
    predictions: dict = field(default_factory=dict)
    colour_index: dict = field(default_factory=dict)


def matched_colour_index(iou: np.ndarray) -> list[int]:
    """Colour slot per predicted part from a ``(P, G)`` IoU matrix: its matched GT index, else G, G+1, ..."""
    n_pred, n_gt = iou.shape
    rows, cols = match_parts(iou)
    slots = dict(zip(rows.tolist(), cols.tolist()))
    next_free = n_gt
    index = []
    for k in range(n_pred):
        if k in slots and iou[k, slots[k]] > 0:
            index.append(slots[k])
        else:
            index.append(next_free)
            next_free += 1
    return index


def _evaluate_job(job: tuple) -> tuple:
    """(index, object_dir, method_names, settings, keep_parts) -> (index, rows, gallery): a pool task."""
    index, *arguments = job
    return (index, *evaluate_object(*arguments))


def evaluate_object(object_dir: Path | str, method_names: Sequence[str], settings: EvalSettings,
                    keep_parts: bool = False) -> tuple[list[dict], GalleryEntry | None]:
    """Run every method on one object and score it.

    Returns:
        ``(rows, gallery)``: one dict per method with the :data:`CSV_COLUMNS`, and, when ``keep_parts``, a
        :class:`GalleryEntry` with the meshes (else ``None``). A method that raises an ordinary exception
        gets a row with the error text and the scores of an empty prediction; a :class:`PartGenError`
        (a user error such as a missing package or weights file) stops the run.
    """
    obj = load_object(object_dir)
    options = dict(grid=settings.grid, n_samples=settings.n_samples, seed=settings.seed)
    gt_set = prepare_parts(obj.parts, **options)
    if settings.input_form == "realistic":  # fused, then decimated and noisy, seeded by the object id
        from autopartgen.data.fused_input import realistic_input_mesh, seed_of

        mesh, _ = realistic_input_mesh(obj.parts, seed_of(f"{obj.object_id}/{settings.seed}"),
                                       settings.input_resolution)
    else:
        mesh = make_input_mesh(obj.parts, settings.input_form, settings.input_resolution,
                               max_faces=settings.input_max_faces)
    gallery = GalleryEntry(obj.object_id, mesh, obj.parts) if keep_parts else None
    rows = []
    for name in method_names:
        spec = METHODS[name]
        error, stop = "", ""
        start = time.perf_counter()
        try:
            output = spec.fn(mesh.copy(), gt_count=len(obj.parts), seed=settings.seed, object_dir=obj.path,
                             mode=settings.mode, weights=settings.weights, generation_grid=settings.generation_grid)
            parts, stop = list(output), getattr(output, "stop", "")
        except PartGenError:
            raise
        except Exception as exc:  # a failing method is a result, not a crash of the benchmark
            log.warning("%s on %s failed: %s", name, obj.object_id, exc)
            parts, error = [], f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - start
        parts = [p for p in parts if len(getattr(p, "faces", [])) > 0]
        pred_set = prepare_parts(parts, **options)
        scores = evaluate_parts(pred_set, gt_set, **options)
        row = {"object_id": obj.object_id, "category": obj.category, "method": name, "mode": settings.mode,
               "input": settings.input_form, "n_gt": len(obj.parts), "n_pred": len(parts),
               **{key: scores[key] for key in METRIC_COLUMNS}, "time_s": elapsed, "stop": stop, "error": error}
        rows.append(row)
        if gallery is not None:
            gallery.predictions[name] = parts
            gallery.colour_index[name] = matched_colour_index(iou_matrix(pred_set.occupancy, gt_set.occupancy))
    return rows, gallery


# --------------------------------------------------------------------------------------------------
# the whole run
# --------------------------------------------------------------------------------------------------


def check_methods(method_names: Sequence[str], mode: str) -> None:
    """Raise a :class:`PartGenError` for an unknown method, a mode it does not support, or a missing package."""
    for name in method_names:
        if name not in METHODS:
            raise baselines.BaselineUnavailableError(
                f"unknown method {name!r}; registered methods: {', '.join(METHODS)}")
        if mode not in METHODS[name].modes:
            raise baselines.BaselineUnavailableError(
                f"method {name!r} does not take --mode {mode} (it takes: {', '.join(METHODS[name].modes)})")
        if name.startswith("coacd"):
            baselines._import_coacd()


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputPathError(f"--out {out_dir} is a file; give a folder for the results")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputPathError(f"cannot create the output folder {out_dir}: {error}") from error


RESULTS_CSV = "results.csv"
RUN_RECORD = "eval_run.json"  # the settings results.csv was scored with, checked by --resume


def _run_record(data_dir, split, settings: EvalSettings) -> dict:
    """What decides a row's scores (not workers or limit): a resumed run must match it."""
    return json.loads(json.dumps({"data": str(Path(data_dir).resolve()), "split": split, **vars(settings)}))


def start_results(out_dir: Path, record: dict, resume: bool) -> dict[tuple[str, str], dict]:
    """Open ``results.csv`` for appending; return the rows already scored (``(object_id, method) -> row``).

    Without ``resume`` the file starts afresh (header only). With ``resume`` the complete rows of an
    earlier run with the same settings are kept (a row cut short by a kill is dropped) and returned.

    Raises:
        InputFileError: resuming a folder whose results were scored with other settings, or whose
            results.csv has other columns.
    """
    path, record_path = out_dir / RESULTS_CSV, out_dir / RUN_RECORD
    previous: dict[tuple[str, str], dict] = {}
    if resume and path.is_file():
        with open(path, newline="") as handle:
            header = next(csv.reader(handle), [])
        if header != CSV_COLUMNS:
            raise InputFileError(f"--resume: {path} has other columns than this version writes; use another --out "
                                 "or drop --resume to start again")
        earlier = json.loads(record_path.read_text()) if record_path.is_file() else None
        if earlier is not None and earlier != record:
            changed = sorted(key for key in set(earlier) | set(record) if earlier.get(key) != record.get(key))
            raise InputFileError(f"--resume: the results in {out_dir} were scored with other settings "
                                 f"({', '.join(changed)}); use the same settings, another --out, or drop --resume")
        for row in read_csv(path):
            if row.get("error") is not None:  # None: the line was cut short
                previous[(str(row["object_id"]), str(row["method"]))] = row
        log.info("resuming: %d rows already scored in %s", len(previous), path)
    write_csv(previous.values(), path)
    record_path.write_text(json.dumps(record, indent=2))
    return previous


def append_csv(rows: Iterable[dict], path: Path) -> None:
    """Append result rows (no header) to ``results.csv`` and flush them to disk."""
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        for row in rows:
            writer.writerow(_csv_row(row))
        handle.flush()
        os.fsync(handle.fileno())


def _csv_row(row: dict) -> dict:
    return {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}


def run_eval(data_dir: Path | str, out_dir: Path | str, method_names: Sequence[str], *, split: str | None = "test",
             limit: int | None = None, workers: int = 1, settings: EvalSettings | None = None,
             gallery_count: int = 6, progress: bool = True, resume: bool = False) -> list[dict]:
    """Evaluate methods over a dataset split and write the report into ``out_dir``.

    ``results.csv`` grows as the run goes: each object's rows are appended (and flushed) as soon as it
    is scored, so an interrupted run keeps what it finished; ``resume`` then skips the (object, method)
    pairs already in it, provided the settings are the same.

    Args:
        data_dir: dataset root in our on-disk format (see :func:`find_objects`).
        out_dir: output folder (created); ``results.csv``, ``summary.md``, ``*.png`` are overwritten.
        method_names: names in :data:`METHODS`.
        split: split name, or ``None`` for every object.
        limit: evaluate only the first ``limit`` objects of the split (sorted by folder name).
        workers: worker processes (objects in parallel); 1 runs in this process.
        settings: protocol settings (defaults: mesh mode, fused input, 64^3 grid, 10k samples, seed 0).
        gallery_count: objects shown in ``gallery.png`` (the first ones of the split, among those scored
            in this run).
        progress: show a tqdm progress bar.
        resume: keep the rows of an earlier run in ``out_dir`` and score only what is missing.

    Returns:
        the result rows (one per object and method, in object then method order), as in ``results.csv``.
    """
    settings = settings or EvalSettings()
    out_dir = Path(out_dir)
    check_methods(method_names, settings.mode)
    objects = find_objects(data_dir, split)
    if limit is not None:
        objects = objects[:limit]
    if not objects:
        raise InputFileError(f"no objects (folders with parts.glb) for split {split!r} under {data_dir}")
    _prepare_out_dir(out_dir)
    csv_path = out_dir / RESULTS_CSV
    previous = start_results(out_dir, _run_record(data_dir, split, settings), resume)
    object_ids = [str(_read_meta(path).get("object_id", path.name)) for path in objects]
    todo = {index: [name for name in method_names if (object_ids[index], name) not in previous]
            for index in range(len(objects))}
    todo = {index: names for index, names in todo.items() if names}
    log.info("evaluating %d objects x %d methods (%s input, %s mode, grid %d) with %d worker(s)%s",
             len(objects), len(method_names), settings.input_form, settings.mode, settings.grid, workers,
             f"; {len(objects) - len(todo)} already scored" if resume else "")

    results: dict[int, list[dict]] = {}
    gallery: dict[int, GalleryEntry] = {}
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc="eval", unit="obj", disable=not progress)
    loads = [machine_load()]  # sampled as objects finish: time_s is only a timing on an otherwise idle machine

    def finished(index: int, rows: list[dict], kept: GalleryEntry | None) -> None:
        results[index] = rows
        loads.append(machine_load())
        append_csv(rows, csv_path)
        if kept:
            gallery[index] = kept
        bar.update(1)

    if workers <= 1:
        for index, names in todo.items():
            finished(index, *evaluate_object(objects[index], names, settings, keep_parts=index < gallery_count))
    else:
        import multiprocessing

        from autopartgen.cli import worker_signals

        context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        jobs = [(index, objects[index], names, settings, index < gallery_count) for index, names in todo.items()]
        # multiprocessing.Pool rather than ProcessPoolExecutor: leaving the block on an interrupt (Ctrl-C, or
        # SIGTERM, which the CLI turns into one) terminates the workers, where the executor's shutdown would
        # wait for every queued object to be scored first (minutes for a long run).
        with context.Pool(workers, initializer=worker_signals) as pool:
            for index, rows, kept in pool.imap_unordered(_evaluate_job, jobs):
                finished(index, rows, kept)
    bar.close()

    rows = []
    for index, object_id in enumerate(object_ids):
        fresh = {row["method"]: row for row in results.get(index, [])}
        rows += [fresh[name] if name in fresh else previous[(object_id, name)] for name in method_names]
    ours = {(str(row["object_id"]), row["method"]) for row in rows}
    write_csv(rows + [row for key, row in previous.items() if key not in ours], csv_path)  # in order
    load_text, loaded = load_summary(loads, os.cpu_count())
    run_info = {"data": str(data_dir), "split": split, "objects": len(objects), "workers": workers,
                "cpu_count": os.cpu_count(), "load_average": load_text, **vars(settings)}
    if todo and loaded:
        log.warning("the machine was loaded during this run (%s): time_s is not a timing; use `autopartgen "
                    "bench` on an idle machine for per-stage times", load_text)
    (out_dir / "summary.md").write_text(summary_markdown(rows, method_names, run_info))
    try:
        write_plots(rows, method_names, out_dir)
        if gallery:
            write_gallery([gallery[i] for i in sorted(gallery)], method_names, out_dir / "gallery.png")
    except ImportError:
        log.warning("matplotlib is not installed: no plots or gallery (pip install autopartgen[eval])")
    log.info("wrote %s", out_dir / "summary.md")
    return rows


def machine_load() -> float | None:
    """The 1-minute load average (runnable processes), or None where the platform has none (Windows)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def load_summary(loads: Sequence[float | None], cpu_count: int | None) -> tuple[str, bool]:
    """What ``summary.md`` says about the machine's load over a run (the 1-minute load average's mean and
    peak over the samples taken as objects finished, against the core count), and whether the peak
    exceeded the cores: processes then queued for a core, so wall-clock seconds per object measure the
    queue as much as the method."""
    known = [load for load in loads if load is not None]
    if not known:
        return "unknown", False
    loaded = bool(cpu_count) and max(known) > cpu_count
    text = f"mean {np.mean(known):.2f}, peak {max(known):.2f} on {cpu_count} cores"
    return text + (" (loaded: time_s is not a timing)" if loaded else ""), loaded


def write_csv(rows: Iterable[dict], path: Path) -> None:
    """Write result rows with the :data:`CSV_COLUMNS` header (floats with 6 significant digits), atomically."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(_csv_row(row))
    os.replace(temporary, path)


def read_csv(path: Path | str) -> list[dict]:
    """Read ``results.csv`` back: numbers as float, the rest as text."""
    rows = []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            parsed = {}
            for key, value in row.items():
                try:
                    parsed[key] = float(value) if key not in ("object_id", "category", "method", "mode",
                                                               "input", "stop", "error") else value
                except (TypeError, ValueError):  # text, or None in a line cut short
                    parsed[key] = value
            rows.append(parsed)
    return rows


# --------------------------------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------------------------------

SUMMARY_METRICS = ["part_iou", "f1", "count_exact", "count_abs_error", "part_fscore@0.02", "part_chamfer_l1",
                   "object_iou", "object_fscore@0.02", "object_chamfer_l1", "time_s"]
HIGHER_IS_BETTER = {"part_iou", "precision", "recall", "f1", "count_exact", "part_fscore@0.02",
                    "part_fscore@0.1", "object_iou", "object_fscore@0.02", "object_fscore@0.1"}


def bootstrap_ci(values: Sequence[float], *, n_resamples: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap confidence interval of the mean.

    Args:
        values: per-object values; ``nan`` entries are dropped.
        n_resamples: bootstrap resamples (with replacement, same size as the data).
        level: interval coverage (0.95 -> 2.5th and 97.5th percentiles of the resampled means).
        seed: resampling seed.

    Returns:
        ``(mean, low, high)``; all ``nan`` for no finite value, ``(mean, mean, mean)`` for one.
    """
    data = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if data.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(data.mean())
    if data.size == 1:
        return (mean, mean, mean)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(n_resamples, data.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return (mean, float(low), float(high))


def _fmt(value: float, digits: int = 3) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def summary_markdown(rows: Sequence[dict], method_names: Sequence[str], run_info: dict) -> str:
    """The ``summary.md`` text: run settings, means with 95% bootstrap intervals, per-category means."""
    lines = ["# Part evaluation summary", ""]
    lines += [f"- {key}: `{value}`" for key, value in run_info.items()]
    lines += ["", "Means over objects with 95% percentile-bootstrap intervals (2000 resamples, seed 0). "
              "Higher is better except `count_abs_error`, `*chamfer_l1` and `time_s` (seconds per object, "
              "method call only). See docs/evaluation.md for the protocol.", ""]
    lines.append("| method | n | failed | " + " | ".join(SUMMARY_METRICS) + " |")
    lines.append("|---" * (3 + len(SUMMARY_METRICS)) + "|")
    for name in method_names:
        method_rows = [r for r in rows if r["method"] == name]
        failed = sum(1 for r in method_rows if r.get("error"))
        cells = []
        for metric in SUMMARY_METRICS:
            mean, low, high = bootstrap_ci([r[metric] for r in method_rows])
            digits = 2 if metric == "time_s" else 3
            cells.append(f"{_fmt(mean, digits)} [{_fmt(low, digits)}, {_fmt(high, digits)}]")
        lines.append(f"| {name} | {len(method_rows)} | {failed} | " + " | ".join(cells) + " |")

    categories = sorted({r["category"] for r in rows})
    per_category = ["part_iou", "f1", "count_exact", "object_fscore@0.02"]
    lines += ["", "## Per category (means)", ""]
    lines.append("| category | n objects | method | " + " | ".join(per_category) + " |")
    lines.append("|---" * (3 + len(per_category)) + "|")
    for category in categories:
        for name in method_names:
            cat_rows = [r for r in rows if r["method"] == name and r["category"] == category]
            if not cat_rows:
                continue
            cells = [_fmt(bootstrap_ci([r[m] for r in cat_rows])[0]) for m in per_category]
            lines.append(f"| {category} | {len(cat_rows)} | {name} | " + " | ".join(cells) + " |")
    stopped = [name for name in method_names if any(r.get("stop") for r in rows if r["method"] == name)]
    if stopped:
        lines += ["", "## Why each run stopped (share of objects)", ""]
        for name in stopped:
            reasons = [r.get("stop") or "-" for r in rows if r["method"] == name]
            shares = ", ".join(f"{reason} {reasons.count(reason) / len(reasons):.0%}"
                               for reason in sorted(set(reasons), key=lambda x: (-reasons.count(x), x)))
            lines.append(f"- {name}: {shares}")
    errors = [r for r in rows if r.get("error")]
    if errors:
        lines += ["", "## Failures", ""]
        lines += [f"- {r['method']} on {r['object_id']}: {r['error']}" for r in errors[:50]]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# plots and gallery (matplotlib, optional)
# --------------------------------------------------------------------------------------------------


def write_plots(rows: Sequence[dict], method_names: Sequence[str], out_dir: Path) -> list[Path]:
    """Write ``metrics_by_method.png``, ``iou_vs_part_count.png`` and ``time_per_object.png``; return their paths."""
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    names = list(method_names)
    by_method = {name: [r for r in rows if r["method"] == name] for name in names}
    paths = []

    metrics = ["part_iou", "f1", "part_fscore@0.02", "object_iou", "object_fscore@0.02", "count_abs_error"]
    fig = Figure(figsize=(4 * 3, 3.2 * 2), layout="constrained")
    for ax, metric in zip(fig.subplots(2, 3).ravel(), metrics):
        data = [[r[metric] for r in by_method[n] if np.isfinite(r[metric])] for n in names]
        ax.boxplot([d if d else [np.nan] for d in data], showmeans=True)
        ax.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(metric, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("per-object metric distributions")
    paths.append(out_dir / "metrics_by_method.png")
    fig.savefig(paths[-1], dpi=110)

    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.subplots()
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        counts = np.array([r["n_gt"] for r in by_method[name]], dtype=float)
        ious = np.array([r["part_iou"] for r in by_method[name]], dtype=float)
        if counts.size == 0:
            continue
        points = ax.scatter(counts + rng.uniform(-0.15, 0.15, counts.size), ious, s=10, alpha=0.35)
        levels = np.unique(counts)
        ax.plot(levels, [ious[counts == c].mean() for c in levels], "-o", color=points.get_facecolor()[0][:3],
                label=name, markersize=4)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("ground-truth part count")
    ax.set_ylabel("matched-part IoU")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    paths.append(out_dir / "iou_vs_part_count.png")
    fig.savefig(paths[-1], dpi=110)

    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.subplots()
    times = [[max(r["time_s"], 1e-4) for r in by_method[n]] or [np.nan] for n in names]
    ax.boxplot(times, showmeans=True)
    ax.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("seconds per object (method call)")
    ax.grid(axis="y", alpha=0.3)
    paths.append(out_dir / "time_per_object.png")
    fig.savefig(paths[-1], dpi=110)
    return paths


def part_colours(count: int) -> np.ndarray:
    """``(count, 3)`` distinct RGB colours in [0, 1] (golden-ratio hue steps, fixed saturation/value)."""
    import colorsys

    return np.array([colorsys.hsv_to_rgb((0.08 + k * 0.618034) % 1.0, 0.65, 0.95) for k in range(count)])


def draw_parts(ax, parts: Sequence, colours: np.ndarray | None = None, *, azimuth: float = 35.0,
               elevation: float = 25.0, max_faces: int = 40_000) -> None:
    """Draw part meshes on a 2D matplotlib axis: orthographic view, flat Lambert shading, painter's order.

    Args:
        ax: a matplotlib ``Axes``.
        parts: meshes in the [-1, 1] frame (+Y up).
        colours: ``(len(parts), 3)`` RGB in [0, 1]; default :func:`part_colours`.
        azimuth, elevation: camera angles in degrees.
        max_faces: above this many faces in all, a random subset is drawn (holes are acceptable in a thumbnail).
    """
    from matplotlib.collections import PolyCollection

    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_aspect("equal")
    ax.axis("off")
    if not parts:
        ax.text(0, 0, "no parts", ha="center", va="center", fontsize=8)
        return
    colours = part_colours(len(parts)) if colours is None else np.asarray(colours)
    az, el = np.radians(azimuth), np.radians(elevation)
    rot_y = np.array([[np.cos(az), 0, np.sin(az)], [0, 1, 0], [-np.sin(az), 0, np.cos(az)]])
    rot_x = np.array([[1, 0, 0], [0, np.cos(el), -np.sin(el)], [0, np.sin(el), np.cos(el)]])
    rotation = rot_x @ rot_y
    tris, cols = [], []
    for part, colour in zip(parts, colours):
        triangles = np.asarray(part.vertices)[np.asarray(part.faces)] @ rotation.T
        tris.append(triangles)
        cols.append(np.broadcast_to(colour, (len(triangles), 3)))
    tris, cols = np.concatenate(tris), np.concatenate(cols)
    if len(tris) > max_faces:
        keep = np.random.default_rng(0).choice(len(tris), max_faces, replace=False)
        tris, cols = tris[keep], cols[keep]
    normals = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    light = np.array([0.3, 0.6, 0.75]) / np.linalg.norm([0.3, 0.6, 0.75])
    shade = 0.35 + 0.65 * np.abs(normals @ light)  # two-sided: predictions may be wound either way
    order = np.argsort(tris[:, :, 2].mean(axis=1))  # camera looks down -z: far (small z) first
    ax.add_collection(PolyCollection(tris[order][:, :, :2], facecolors=np.clip(cols[order] * shade[order, None], 0, 1),
                                     edgecolors="none", antialiased=False))


def write_gallery(entries: Sequence[GalleryEntry], method_names: Sequence[str], path: Path) -> Path:
    """One row per object: input (grey), ground-truth parts, then each method's parts.

    GT part k has colour k; a predicted part takes the colour of its Hungarian GT partner, so equal colours
    mean matched parts, and unmatched predicted parts get colours no GT part uses.
    """
    from matplotlib.figure import Figure

    columns = ["input", "gt"] + list(method_names)
    fig = Figure(figsize=(2.2 * len(columns), 2.2 * len(entries)), layout="constrained")
    axes = fig.subplots(len(entries), len(columns), squeeze=False)
    for row, entry in enumerate(entries):
        n_slots = max([len(entry.gt_parts)] + [max(i) + 1 for i in entry.colour_index.values() if i])
        palette = part_colours(n_slots)
        for col, key in enumerate(columns):
            ax = axes[row, col]
            if key == "input":
                draw_parts(ax, [entry.input_mesh], np.full((1, 3), 0.75))
                ax.set_title(f"{entry.object_id}: input", fontsize=8)
            elif key == "gt":
                draw_parts(ax, entry.gt_parts, palette[: len(entry.gt_parts)])
                ax.set_title(f"ground truth ({len(entry.gt_parts)})", fontsize=8)
            else:
                parts = entry.predictions.get(key, [])
                draw_parts(ax, parts, palette[entry.colour_index.get(key, [])] if parts else None)
                ax.set_title(f"{key} ({len(parts)})", fontsize=8)
    fig.savefig(path, dpi=100)
    return Path(path)
