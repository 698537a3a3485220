"""Teacher-forced localisation: does the DiT put the next part where that part is?

The v-loss barely moves while the parts the pipeline cuts get much better or worse, so DiT training also
reports what the input-anchored mesh pipeline does with a sample, on a few held-out objects:

1. The object's volume on the pipeline's anchor grid (64^3 cells of the [-1, 1] cube): the union of its
   ground-truth part solids, each cell labelled with the part holding it (``partition.labels_from_parts``).
2. For part k, the DiT is conditioned on the cached whole latent and the cached history latent of parts
   0..k-1 (the ground truth so far: teacher forcing) and samples a part latent the way the pipeline does
   in mesh mode (its guidance scales, ``num_steps`` solver steps, one seed per object and part).
3. The sample claims the cells not held by parts 0..k-1 where its decoded field is positive
   (``partition.claim_cells``, the pipeline's rule); its score is the IoU of those cells with part k's.

``val_loc_iou`` is the mean IoU over every part of every object, ``val_loc_hit`` the share with IoU >= 0.5;
``val_loc_any`` scores each sample against the not-yet-held part it matches best instead of part k (the
pipeline takes parts in any order: a sample of another remaining part is no miss there).
Cost: parts x (num_steps DiT forwards + one field evaluation over the object's cells); the default 8
objects x 10 steps take about half a minute on a 2-core CPU with the tiny model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from autopartgen.geometry import partition


@dataclass
class LocalizationObject:
    """One held-out object on the anchor grid: its cache index, inside cells (M, 3), their centres (M, 3)
    float32 in the [-1, 1] frame and ground-truth part (M,) int."""

    cache_index: int
    cells: np.ndarray
    cell_points: np.ndarray
    owner: np.ndarray


def localization_objects(data_dir: Path, cache, indices: list[int], grid: int = 64,
                         max_objects: int = 8, order: str = "dataset") -> list[LocalizationObject]:
    """The first ``max_objects`` of ``indices`` (cache indices) with their ground-truth cell labels, parts
    numbered in the cache's ``order`` (``train/prep.part_order``)."""
    from autopartgen.data.dataset import load_object
    from autopartgen.train.prep import part_order

    objects = []
    for index in indices[:max_objects]:
        parts = load_object(Path(data_dir) / cache.ids[index], views=False, samples=False)["parts"]
        meshes = [(np.asarray(p["vertices"], np.float64), np.asarray(p["faces"], np.int64)) for p in parts]
        triangles = [meshes[k][0][meshes[k][1]] for k in part_order(meshes, order)]
        inside = np.zeros((grid,) * 3, bool)
        for tri in triangles:
            inside |= partition.input_volume(tri.reshape(-1, 3), np.arange(3 * len(tri)).reshape(-1, 3), grid,
                                             surface_points=tri.reshape(-1, 3))
        owner = partition.labels_from_parts(triangles, inside)
        cells = np.argwhere(inside)
        objects.append(LocalizationObject(index, cells, partition.cell_centres(cells, grid),
                                          owner[tuple(cells.T)].astype(np.int64)))
    return objects


def cell_iou(claimed: np.ndarray, truth: np.ndarray) -> float:
    """IoU of two (M,) bool cell sets (1 when both are empty)."""
    union = np.count_nonzero(claimed | truth)
    return float(np.count_nonzero(claimed & truth) / union) if union else 1.0


@torch.no_grad()
def teacher_forced_localization(pipe, cache, objects: list[LocalizationObject], num_steps: int = 10,
                                seed: int = 0) -> dict:
    """``{"val_loc_iou": mean IoU, "val_loc_hit": share of parts with IoU >= 0.5, "val_loc_any": mean IoU with
    the best-matching remaining part}`` over every part.

    ``pipe``: an ``AutoPartGen`` holding the networks being trained (eval mode is the caller's business).
    """
    from autopartgen.options import GenerationOptions

    options = GenerationOptions(num_steps=num_steps, progress=False)
    scales = pipe.part_guidance("mesh", options)
    drop = pipe.drop_features()
    dummy = torch.cat([drop, drop], dim=-1)
    scale = pipe.config.scale_factor
    scores, any_scores = [], []
    for obj in objects:
        whole = cache.whole(obj.cache_index).float().to(pipe.device) * scale
        labels = np.full(len(obj.cells), partition.UNCLAIMED, np.int64)
        for k in range(cache.counts[obj.cache_index]):
            history = cache.history(obj.cache_index, k).float().to(pipe.device) * scale  # parts 0..k-1
            geometry = torch.stack([whole, history])[None]
            latent = pipe.sample_part(dummy, dummy, geometry, seed * 1_000_003 + obj.cache_index * 101 + k, scales,
                                      options)
            values = pipe.field_at(latent, obj.cell_points)
            claimed = (labels == partition.UNCLAIMED) & (values > 0)
            scores.append(cell_iou(claimed, obj.owner == k))
            any_scores.append(max(cell_iou(claimed, obj.owner == g) for g in range(k, cache.counts[obj.cache_index])))
            labels[obj.owner == k] = k  # teacher forcing: the true part holds its cells from now on
    scores = np.asarray(scores)
    return {"val_loc_iou": float(scores.mean()), "val_loc_hit": float((scores >= 0.5).mean()),
            "val_loc_any": float(np.mean(any_scores))}
