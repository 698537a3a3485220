"""Per-object training inputs that do not depend on any network, computed once per dataset.

For each object folder ``<data>/<id>`` this writes ``<data>/.train_prep/<key>/<id>.npz`` with

* ``whole`` (P, 6) float16: the encoder cloud of the whole object (all parts together),
* ``parts`` (K, P, 6) float16: the encoder cloud of every part,
* ``prefixes`` (K - 1, P, 6) float16: the cloud of the union of parts 0..k-1 for k = 1..K-1 (the
  history the DiT sees; the union of all K parts is ``whole``),
* ``images`` (V, S, S, 3) uint8: every view composited on white and framed exactly as the pipeline
  frames an input image (``inputs.prepare_image_with_box``),
* ``labels`` (V, S, S) uint8: the view's part mask framed with the same box (nearest), so the masked
  image of part k is ``where(labels == k + 1, image, 255)`` (as ``inputs.masked_part_images``).

With ``history="anchored"`` (``autopartgen train dit --history anchored``) ``whole`` and ``prefixes`` are
what the input-anchored pipeline encodes for a mesh input instead: ``whole`` samples the object as one
fused, decimated, slightly noisy surface (``data/fused_input.realistic_input_mesh``, seeded by the
object id), and prefix k samples the surface of the region of that input's volume that parts 0..k-1
hold (``geometry/partition.claimed_region_cloud`` over the ground-truth cell labels at the pipeline's
``anchor_grid``): the input's own surface there plus the cut towards the rest, with no inner faces
between parts. ``parts`` stay the ground-truth parts (the DiT's targets).

``history="remainder"`` is ``anchored`` with prefix k the surface of the region the parts k..K-1 hold
instead: the DiT is shown what is left to split rather than what is done (the pipeline's
``history_region: remainder``); the whole stands for the remainder before the first part and the empty
cloud for the remainder after the last (``train/latents.py``).

``history="mixed"`` is ``anchored`` for half of the objects and, for the other half (chosen by a hash of
the object id), the same with the input given as the ground-truth part meshes concatenated, the form a
multi-mesh asset (a URDF's links, a game model's sub-meshes) reaches the pipeline in: its surface keeps
the walls between touching parts, which a fused whole never shows.

Clouds use the pipeline's own sampler (``resample_surface_for_encoder``) with the config's
``point_cloud_size`` / ``num_surface_samples`` / ``fps_max_points``, so training sees the clouds the
pipeline will encode. ``key`` names those settings and the image size, so a config change gets its
own folder.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)


HISTORY_FORMS = ("parts", "anchored", "mixed", "remainder")
PART_ORDERS = ("dataset", "size")
# the 2-D mask order (masks.MASK_ORDERS) a model trained with each part order expects at inference
MASK_ORDER_OF_PART_ORDER = {"dataset": "position", "size": "area"}
SIZE_BIN = 1.1  # part volumes within a factor of about this share one size rank (then position decides)


def part_order(meshes: list, rule: str = "dataset") -> list[int]:
    """The order in which the DiT learns to produce an object's parts: a permutation of ``range(len(meshes))``.

    ``meshes``: ``(vertices (V, 3), faces (F, 3))`` per part, y up. ``dataset``: as stored (the generator's
    grammar order: a chair's four legs, then its seat...). ``size``: the largest part first; parts whose
    volumes fall in the same factor-of-``SIZE_BIN`` bin (a chair's legs) go lowest first, then by x, then z,
    of their centroids. The teacher-forced localisation metric showed the stored order to be partly
    unpredictable (a sample matches some remaining part 2.5-3x better than the next one in that order).
    """
    if rule not in PART_ORDERS:
        raise ValueError(f"unknown part order {rule!r}; use one of {', '.join(PART_ORDERS)}")
    if rule == "dataset":
        return list(range(len(meshes)))
    import trimesh

    keys = []
    for index, (vertices, faces) in enumerate(meshes):
        mesh = trimesh.Trimesh(np.asarray(vertices, np.float64), np.asarray(faces, np.int64), process=False)
        volume = abs(float(mesh.volume)) if mesh.is_volume else float(mesh.convex_hull.volume)
        size_rank = -int(np.floor(np.log(max(volume, 1e-12)) / np.log(SIZE_BIN)))
        centre = np.asarray(vertices, np.float64).mean(axis=0)
        keys.append((size_rank, round(centre[1], 3), round(centre[0], 3), round(centre[2], 3), index))
    return [key[-1] for key in sorted(keys)]


def prep_settings(config, history: str = "parts", order: str = "dataset") -> dict:
    # The pipeline draws num_surface_samples i.i.d. area-weighted points and keeps a random
    # fps_max_points of them; drawing fps_max_points directly has the same distribution and is
    # several times cheaper, so prep does that.
    pipe = config.pipeline
    subset = int(pipe.get("fps_max_points", 65536))
    # Clouds are stored with up to 4096 points (at least point_cloud_size); loaders reduce them to the config's size with FPS
    # (:func:`fit_cloud`), so configs that differ only in point_cloud_size share one prep.
    size = int(pipe.get("point_cloud_size", 32768))
    return {"point_cloud_size": max(size, min(4096, subset)),
            "num_surface_samples": min(subset, int(pipe.get("num_surface_samples", 500_000))),
            "fps_max_points": subset,
            "image_size": int(config.conditioner.get("img_size", 448)),
            "history": history, "part_order": order}


def prep_dir(data_dir: Path, settings: dict) -> Path:
    key = "p{point_cloud_size}-s{num_surface_samples}-f{fps_max_points}-i{image_size}".format(**settings)
    if settings.get("history", "parts") != "parts":
        key += "-" + settings["history"]
    if settings.get("part_order", "dataset") != "dataset":
        key += "-order-" + settings["part_order"]
    return Path(data_dir) / ".train_prep" / key


def _frame_labels(labels: np.ndarray, box, size: int) -> np.ndarray:
    """Crop/pad an (H, W) label map to ``box`` and resize to size x size with nearest sampling."""
    height, width = labels.shape
    if box is None:
        side = max(width, height)
        box = ((width - side) / 2.0, (height - side) / 2.0, (width + side) / 2.0, (height + side) / 2.0)
    x0, y0, x1, y1 = (float(v) for v in box)
    centres = (np.arange(size) + 0.5) / size
    xs = np.floor(x0 + centres * (x1 - x0)).astype(np.int64)
    ys = np.floor(y0 + centres * (y1 - y0)).astype(np.int64)
    valid = (ys[:, None] >= 0) & (ys[:, None] < height) & (xs[None] >= 0) & (xs[None] < width)
    out = labels[np.clip(ys, 0, height - 1)[:, None], np.clip(xs, 0, width - 1)[None]]
    return np.where(valid, out, 0).astype(np.uint8)


def prepare_object(folder: Path, out_dir: Path, settings: dict, seed: int = 0, overwrite: bool = False) -> str:
    """Write the prep file of one object folder; returns its id."""
    from autopartgen.data.dataset import load_object
    from autopartgen.geometry.sampling import resample_surface_for_encoder
    from autopartgen.inputs import prepare_image_with_box

    folder = Path(folder)
    target = Path(out_dir) / f"{folder.name}.npz"
    if target.exists() and not overwrite:
        return folder.name
    obj = load_object(folder, views=True, samples=False)
    meshes = [(p["vertices"], p["faces"]) for p in obj["parts"]]
    order = part_order(meshes, settings.get("part_order", "dataset"))
    meshes = [meshes[k] for k in order]
    # view masks hold stored part k as k + 1: relabel them to the training order
    relabel = np.zeros(256, np.uint8)
    relabel[np.asarray(order) + 1] = np.arange(len(order)) + 1
    rng = np.random.default_rng([seed, int.from_bytes(folder.name.encode()[:8].ljust(8, b"\0"), "little")])
    kwargs = dict(point_cloud_size=settings["point_cloud_size"], num_samples=settings["num_surface_samples"],
                  fps_max_points=settings["fps_max_points"])

    def cloud(subset):
        return resample_surface_for_encoder(subset, rng, **kwargs).astype(np.float16)

    parts = np.stack([cloud([m]) for m in meshes])
    history = settings.get("history", "parts")
    if history in ("anchored", "mixed", "remainder"):
        fuse = history != "mixed" or not is_concatenated_input(folder.name)
        whole, prefixes = anchored_clouds(meshes, folder.name, rng, settings, fuse=fuse,
                                          remainder=history == "remainder")
    else:
        whole = cloud(meshes)
        prefixes = (np.stack([cloud(meshes[:k]) for k in range(1, len(meshes))]) if len(meshes) > 1
                    else np.zeros((0,) + whole.shape, np.float16))
    size = settings["image_size"]
    images, labels = [], []
    for view in obj["views"]:
        pil = Image.fromarray(view["rgba"])
        tensor, box = prepare_image_with_box(pil, size)
        images.append((tensor.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8))
        mask = np.asarray(view["mask"])
        labels.append(relabel[_frame_labels(np.minimum(mask, 255).astype(np.uint8), box, size)])
    images = np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)
    labels = np.stack(labels) if labels else np.zeros((0, size, size), np.uint8)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, whole=whole, parts=parts, prefixes=prefixes, images=images, labels=labels)
    os.replace(tmp, target)
    return folder.name


def is_concatenated_input(object_id: str) -> bool:
    """Whether ``history="mixed"`` gives this object's input as its part meshes concatenated (half of the ids)."""
    from autopartgen.data.fused_input import seed_of

    return (seed_of(object_id) >> 7) % 2 == 1


def anchored_clouds(meshes: list, object_id: str, rng: np.random.Generator, settings: dict,
                    anchor_grid: int = 64, fuse: bool = True, remainder: bool = False
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(whole (P, 6), prefixes (K - 1, P, 6))`` float16 as the input-anchored pipeline sees a mesh input.

    ``meshes``: the ground-truth parts as ``(vertices, faces)`` in the normalised frame. The default
    ``anchor_grid`` is ``GenerationOptions.anchor_grid``'s. ``fuse``: the input is the object as one fused,
    degraded surface (True) or the part meshes concatenated as they are (False). ``remainder``: prefix k is
    the surface of the region parts k..K-1 hold (what is left to split) instead of parts 0..k-1's.
    """
    import trimesh

    from autopartgen.data.fused_input import realistic_input_mesh, seed_of
    from autopartgen.geometry import partition
    from autopartgen.geometry.sampling import resample_surface_for_encoder

    size = settings["point_cloud_size"]
    # Fused at 128 cells rather than the evaluation's 192: 3x cheaper, and the decimation and noise that
    # follow blur the difference anyway.
    part_meshes = [trimesh.Trimesh(v, f, process=False) for v, f in meshes]
    if fuse:
        fused, _ = realistic_input_mesh(part_meshes, seed_of(object_id), resolution=128)
    else:
        fused = trimesh.util.concatenate(part_meshes)
    vertices, faces = np.asarray(fused.vertices), np.asarray(fused.faces)
    whole = resample_surface_for_encoder([(vertices, faces)], rng, point_cloud_size=size,
                                         num_samples=settings["num_surface_samples"],
                                         fps_max_points=settings["fps_max_points"]).astype(np.float16)
    inside, surface = partition.anchored_input(vertices, faces, anchor_grid, settings["num_surface_samples"],
                                               float(fused.area), rng)
    owner = partition.labels_from_parts([np.asarray(v)[np.asarray(f)] for v, f in meshes], inside)
    prefixes = []
    for k in range(1, len(meshes)):
        labels = np.where(owner >= k, partition.UNCLAIMED, owner).astype(np.int32)
        if remainder:
            labels = partition.remainder_labels(labels)
        prefixes.append(partition.history_cloud(labels, surface, settings["fps_max_points"], size, rng)
                        .astype(np.float16))
    prefixes = np.stack(prefixes) if prefixes else np.zeros((0,) + whole.shape, np.float16)
    return whole, prefixes


def _safe_prepare(folder, out_dir, settings):
    try:
        return prepare_object(folder, out_dir, settings), None
    except Exception as error:  # a broken object is skipped and reported, not fatal
        return Path(folder).name, f"{type(error).__name__}: {error}"


def prepare_dataset(data_dir: Path, config, workers: int = 1, progress: bool = True,
                    limit: int | None = None, history: str = "parts", order: str = "dataset"
                    ) -> tuple[Path, list[str]]:
    """Prepare every object of ``data_dir`` (skipping done ones); returns (prep folder, ready ids).

    ``history``: one of :data:`HISTORY_FORMS` (see the module docstring); ``order``: of :data:`PART_ORDERS`
    (:func:`part_order`)."""
    from autopartgen.data.dataset import list_objects

    settings = prep_settings(config, history, order)
    out_dir = prep_dir(data_dir, settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    folders = list_objects(data_dir)
    # A fixed shuffle (folder names sort by category), so a partial prep or ``limit`` is a fair sample.
    order = np.random.default_rng(1234).permutation(len(folders))
    folders = [folders[i] for i in order][:limit] if limit else [folders[i] for i in order]
    todo = [f for f in folders if not (out_dir / f"{f.name}.npz").exists()]
    job = partial(_safe_prepare, out_dir=out_dir, settings=settings)
    failures = []
    if todo:
        bar = tqdm(total=len(todo), desc="prepare clouds/images", unit="obj", disable=not progress)
        if workers <= 1:
            results = (job(f) for f in todo)
            for name, error in results:
                failures += [f"{name}: {error}"] if error else []
                bar.update()
        else:
            from autopartgen.cli import worker_signals

            ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
            with ctx.Pool(workers, initializer=worker_signals) as pool:
                for name, error in pool.imap_unordered(job, todo, chunksize=4):
                    failures += [f"{name}: {error}"] if error else []
                    bar.update()
        bar.close()
    for failure in failures:
        logger.warning("skipped %s", failure)
    ready = sorted(f.name for f in folders if (out_dir / f"{f.name}.npz").exists())
    return out_dir, ready


def fit_cloud(cloud: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """(P, 6) cloud -> (size, 6): farthest-point subsample when P > size (seeded start), else unchanged."""
    if len(cloud) <= size:
        return cloud
    from autopartgen.geometry.sampling import farthest_point_sample

    start = int(np.random.default_rng(seed).integers(len(cloud)))
    return cloud[farthest_point_sample(np.asarray(cloud[:, :3], np.float32), size, start)]


def load_prep(out_dir: Path, object_id: str) -> dict:
    with np.load(Path(out_dir) / f"{object_id}.npz") as data:
        return {key: data[key] for key in data.files}
