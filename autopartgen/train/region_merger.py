"""`autopartgen train region-merger`: teach the region merger which touching basins are one part.

For each object of a part dataset: run the model's anchored loop on its fused whole (as a user's mesh
arrives, ``eval/runner.make_input_mesh``), keep the claims it made (``PartResult.anchor_claims``),
label the anchor grid's cells with the ground-truth parts (``partition.labels_from_parts``), over-segment into basins and walk random
ground-truth merges, recording each touching pair's features and whether it is one part
(``geometry/regions.oracle_pairs``). Then fit the MLP (``models/region_merger.py``) and write a model
folder: the input model plus ``region_merger.safetensors`` and its config entries.

    autopartgen train region-merger --data DATA --out runs/merger [--weights MODEL] [--limit N] [--workers 2]

Examples are cached per object under ``OUT/pairs/`` (a rerun, or a run with more objects, reuses them).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
from pathlib import Path

import numpy as np
import torch

from autopartgen.data.dataset import write_npz
from autopartgen.errors import InputFileError
from autopartgen.geometry import partition, regions
from autopartgen.models.region_merger import RegionMerger

logger = logging.getLogger(__name__)


def object_examples(pipe, object_dir: Path, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair features and labels of one object (see module doc)."""
    from autopartgen.eval.runner import load_gt_parts, make_input_mesh
    from autopartgen.geometry.normalize import apply_normalization
    from autopartgen.options import GenerationOptions

    parts = load_gt_parts(object_dir)
    result = pipe.generate(mesh=make_input_mesh(parts, "fused"),
                           options=GenerationOptions(seed=seed, progress=False, merge_regions=False))
    inside, claims = result.anchor_claims
    grid = inside.shape[0]
    # the ground-truth part of each inside cell, as the DiT's training prep labels them (smallest part wins)
    triangles = [apply_normalization(np.asarray(part.vertices), *result.normalization)[np.asarray(part.faces)]
                 for part in parts]
    truth = partition.labels_from_parts(triangles, inside)
    if (truth[inside] < 0).any():  # no part solid holds any cell: nothing to learn from this object
        logger.warning("region pairs: %s: no input cell lies in a part; skipped", Path(object_dir).name)
        return np.zeros((0, regions.NUM_FEATURES)), np.zeros(0)
    depth = regions.depth_field(inside)
    spacing = max(1, round(float(pipe._setting("basin_spacing", 0.125)) * grid / 2.0))
    graph = regions.RegionGraph.from_segments(regions.basin_segments(inside, depth, spacing), depth, claims)
    return regions.oracle_pairs(graph, truth, np.random.default_rng(seed))


def fit_region_merger(features: np.ndarray, labels: np.ndarray, steps: int = 3000, width: int = 64,
                      lr: float = 3e-3, weight_decay: float = 1e-4, seed: int = 0) -> RegionMerger:
    """Full-batch AdamW on the binary cross-entropy of (P, F) features -> (P,) 0/1 labels."""
    torch.manual_seed(seed)
    model = RegionMerger(features.shape[1], width)
    x = torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.float32)
    model.feature_mean.copy_(x.mean(0))
    model.feature_std.copy_(x.std(0) + 1e-6)
    optimizer = torch.optim.AdamW(model.parameters(), lr, weight_decay=weight_decay)
    model.train()
    for _ in range(steps):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


_WORKER: dict = {}


def _init_worker(weights, device, threads):
    from autopartgen.api import load_pipeline

    torch.set_num_threads(threads)
    _WORKER["pipe"] = load_pipeline(weights, device=device)


def _collect_one(job) -> str:
    object_dir, cache, seed = job
    features, labels = object_examples(_WORKER["pipe"], Path(object_dir), seed)
    write_npz(Path(cache), {"features": features, "labels": labels})
    return Path(object_dir).name


def collect_examples(object_dirs: list[Path], cache_dir: Path, weights, device: str, seed: int, workers: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Examples of every object, computed once per object (cached as ``cache_dir/<name>.npz``)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(str(d), str(cache_dir / f"{d.name}.npz"), seed) for d in object_dirs
            if not (cache_dir / f"{d.name}.npz").is_file()]
    if jobs:
        threads = max(1, (os.cpu_count() or 1) // max(workers, 1))
        if workers > 1:
            with multiprocessing.get_context("spawn").Pool(workers, _init_worker, (weights, device, threads)) as pool:
                for name in pool.imap_unordered(_collect_one, jobs):
                    logger.info("region pairs: %s", name)
        else:
            _init_worker(weights, device, threads)
            for job in jobs:
                logger.info("region pairs: %s", _collect_one(job))
    features, labels = [], []
    for d in object_dirs:
        cached = np.load(cache_dir / f"{d.name}.npz")
        features.append(cached["features"])
        labels.append(cached["labels"])
    return np.concatenate(features), np.concatenate(labels)


def train_region_merger(args: argparse.Namespace) -> int:
    from autopartgen.api import load_pipeline
    from autopartgen.data.dataset import list_objects

    object_dirs = list_objects(args.data)[args.offset:: max(args.every, 1)][: args.limit]
    if not object_dirs:
        raise InputFileError(f"dataset folder {args.data} holds no objects; pass a folder made by "
                             "`autopartgen data generate` or converted to the on-disk format")
    out = Path(args.out)
    features, labels = collect_examples(object_dirs, out / "pairs", args.weights, args.device or "cpu",
                                        args.seed, args.workers)
    logger.info("region merger: %d pairs from %d objects, %.2f one-part", len(labels), len(object_dirs),
                labels.mean())
    pipe = load_pipeline(args.weights, device="cpu")
    pipe.region_merger = fit_region_merger(features, labels, steps=args.steps, seed=args.seed)
    accuracy = float(((pipe.region_merger.probability(features) > 0.5) == (labels > 0.5)).mean())
    pipe.config.pipeline.setdefault("merge_threshold", 0.5)
    pipe.config.pipeline.setdefault("merge_threshold_below_claims", 0.9)
    pipe.config.pipeline.setdefault("basin_spacing", 0.125)
    pipe.save_pretrained(out / "model")
    print(f"region merger: {len(labels)} pairs from {len(object_dirs)} objects, train accuracy {accuracy:.3f}; "
          f"model folder {out / 'model'}")
    return 0
