"""`autopartgen train region-merger`: teach the region merger which touching basins are one part.

For each object of a part dataset: take its fused whole (as a user's mesh arrives,
``eval/runner.make_input_mesh``) onto the anchor grid as the anchored loop holds it, label the cells with
the ground-truth parts (``partition.labels_from_parts``), over-segment into basins and walk random
ground-truth merges, recording each touching pair's features and whether it is one part
(``geometry/regions.oracle_pairs``); with the model config's ``face_cuts``, walk the basins cut by the
solid's face planes too (``geometry/regions.over_segment``); fit the MLP (``models/region_merger.py``).
``--rounds 2`` adds a round that walks the merges the fitted merger itself makes
(``geometry/regions.merger_walk_pairs``) and refits on both rounds' examples, so the merger also sees the
states its own mistakes lead to (measured worse on val and real-val: it learned to merge more;
MODEL_CARD). ``--creases`` adds how the fused surface turns along each interface
(``regions.CREASE_FEATURE_NAMES``), and ``--context`` after them what kind of solid the pair lies in
(``regions.OBJECT_FEATURE_NAMES``, the same for all pairs of an object; measured, not shipped: MODEL_CARD,
session 24); ``--members K`` fits K seeds and ships their mean (measured no better than one seed on val
and worse on real-val-2: MODEL_CARD, session 22). With the model config's ``thin_ends_first`` the walks
start from the basins with their thin ends reclaimed, as the pipeline merges them (MODEL_CARD, session 28).
No network runs here (the features read only the solid and its surface), so this takes about a second per
object (about two with face cuts).
Writes a model folder: the input model plus ``region_merger.safetensors`` and its config entries.

    autopartgen train region-merger --data DATA --out runs/merger [--weights MODEL] [--limit N] [--workers 2]

Solids are cached per object under ``OUT/solids/`` and examples per object and round under
``OUT/pairs/round<r>/`` (a rerun, or a run with more objects, reuses them; the second round's examples
depend on the first round's fit, so delete ``round1`` after changing the first). ``OUT/examples.json``
records the settings they were made with; a run whose model folder asks for others is refused.
"""

from __future__ import annotations

import argparse
import json
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


def object_solid(object_dir: Path, grid: int, surface_samples: int, seed: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One object's solid as the anchored loop holds its fused whole (as a user's mesh arrives,
    ``eval/runner.make_input_mesh``; ``partition.anchored_input`` in the [-1, 1] frame on the ``grid``^3
    anchor grid), the ground-truth part of each cell and how the fused surface turns near each cell:
    ``(inside (n, n, n) bool, truth (n, n, n) int, turns (3, n, n, n) float32)``, truth -1 outside and
    where no part solid holds the cell, turns as ``regions.surface_turns``."""
    from autopartgen.eval.runner import load_gt_parts, make_input_mesh
    from autopartgen.geometry.normalize import apply_normalization, normalization_transform

    parts = load_gt_parts(object_dir)
    whole = make_input_mesh(parts, "fused")
    normalization = normalization_transform(np.asarray(whole.vertices))
    vertices = apply_normalization(np.asarray(whole.vertices), *normalization)
    inside, _ = partition.anchored_input(vertices, np.asarray(whole.faces), grid, surface_samples,
                                         float(whole.area), np.random.default_rng(seed))
    # as the DiT's training prep labels the cells (smallest part wins)
    triangles = [apply_normalization(np.asarray(part.vertices), *normalization)[np.asarray(part.faces)]
                 for part in parts]
    turns = regions.surface_turns(vertices, np.asarray(whole.faces), inside).astype(np.float32)
    return inside, partition.labels_from_parts(triangles, inside), turns


def solid_examples(inside: np.ndarray, truth: np.ndarray, spacing: int, seed: int,
                   merger: RegionMerger | None = None, face_cuts: bool = False,
                   turns: np.ndarray | None = None, context: bool = False,
                   thin_ends_first: regions.ThinEnds | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pair features and labels of one solid (:func:`object_solid`): (P, F), (P,) 0/1, F the shape
    features, plus the crease features when ``turns`` (the solid's surface turns) are given, plus the
    object features with ``context`` (needs ``turns``).

    ``spacing`` is the basins' ``min_distance`` in cells. Without ``merger`` the pairs come from random
    walks of true merges (``regions.oracle_pairs``, seeded) over the basins, and with ``face_cuts`` also
    over the basins cut by the solid's face planes (the regions the pipeline starts from; both walks, so
    the merger also learns solids without flat faces, where the two coincide). With a merger, from the
    walk the merger itself takes from the pipeline's regions (``regions.merger_walk_pairs``).
    ``thin_ends_first``: ``regions.ThinEnds``, applied to each walk's starting regions
    (``regions.reclaimed_start``) as the pipeline applies it before its merge (config ``thin_ends_first``), so the merger learns
    the regions it will be given. A solid with a cell no part holds gives no examples."""
    if not inside.any() or (truth[inside] < 0).any():
        width = (regions.NUM_FEATURES + (0 if turns is None else len(regions.CREASE_FEATURE_NAMES))
                 + (len(regions.OBJECT_FEATURE_NAMES) if context else 0))
        return np.zeros((0, width)), np.zeros(0)  # as wide as the other objects' rows: they are stacked
    depth = regions.depth_field(inside)
    thickness = None if thin_ends_first is None else regions.local_thickness(inside, depth)

    def start(segments: np.ndarray) -> np.ndarray:  # the regions a walk starts from
        if thin_ends_first is None:
            return segments
        return regions.reclaimed_start((segments, depth, None), thickness, thin_ends_first)[0]

    if merger is not None:
        segments, sides = regions.over_segment(inside, depth, spacing, face_cuts)
        return regions.merger_walk_pairs(
            regions.RegionGraph.from_segments(start(segments), depth, sides, turns, context), truth, merger.probability)
    basins = regions.basin_segments(inside, depth, spacing)
    walks = [regions.oracle_pairs(regions.RegionGraph.from_segments(start(basins), depth, None, turns, context), truth,
                                  np.random.default_rng(seed))]
    if face_cuts:  # the same basins, cut (not computed again)
        segments, sides = regions.face_cut(inside, basins)
        walks.append(regions.oracle_pairs(
            regions.RegionGraph.from_segments(start(segments), depth, sides, turns, context), truth,
            np.random.default_rng(seed + 1)))
    return np.concatenate([features for features, _ in walks]), np.concatenate([labels for _, labels in walks])


def fit_region_merger(features: np.ndarray, labels: np.ndarray, epochs: int = 40, batch_size: int = 4096,
                      width: int = 64, lr: float = 3e-3, weight_decay: float = 1e-4, seed: int = 0,
                      members: int = 1) -> RegionMerger:
    """AdamW with a one-cycle learning rate on the binary cross-entropy of (P, F) features -> (P,) 0/1
    labels, ``epochs`` passes in shuffled mini-batches (seeded: the same inputs give the same weights).

    ``members`` > 1 fits that many MLPs of ``width`` (seeds ``seed``, ``seed + 1``, ...) and returns their
    mean logit as one merger of width ``members x width`` (:func:`pack_members`): a refit with another
    seed moved val's part IoU by 0.014 (MODEL_CARD, session 22); the mean of several does not hang on
    one seed's luck."""
    x = torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.float32)
    mean, std = x.mean(0), x.std(0) + 1e-6
    fitted = [_fit_mlp(x, y, mean, std, epochs, batch_size, width, lr, weight_decay, seed + member)
              for member in range(max(members, 1))]
    return fitted[0] if len(fitted) == 1 else pack_members(fitted)


def _fit_mlp(x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, epochs: int, batch_size: int,
             width: int, lr: float, weight_decay: float, seed: int) -> RegionMerger:
    """One merger of ``width`` fitted on (P, F) ``x`` -> (P,) ``y`` with the given standardisation and seed."""
    torch.manual_seed(seed)
    order_rng = torch.Generator().manual_seed(seed)
    model = RegionMerger(x.shape[1], width)
    model.feature_mean.copy_(mean)
    model.feature_std.copy_(std)
    batches = (len(x) + batch_size - 1) // batch_size
    optimizer = torch.optim.AdamW(model.parameters(), lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=max(epochs * batches, 1))
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=order_rng)
        for start in range(0, len(x), batch_size):
            index = order[start:start + batch_size]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


@torch.no_grad()
def pack_members(members: list[RegionMerger]) -> RegionMerger:
    """Mergers of one width and one feature standardisation as one merger whose logit is the mean of
    theirs: the first layers stacked, the second block-diagonal (a member's units see only its own), the
    output layer their weights over the count. The same architecture, so model folders and the
    pipeline need nothing new; the packed layers cost ``members^2`` times the flops, tiny against a merge."""
    count, width, first = len(members), members[0].width, members[0]
    packed = RegionMerger(first.num_features, count * width)
    packed.feature_mean.copy_(first.feature_mean)
    packed.feature_std.copy_(first.feature_std)
    layers = [[member.mlp[k] for member in members] for k in (0, 2, 4)]
    packed.mlp[0].weight.copy_(torch.cat([layer.weight for layer in layers[0]]))
    packed.mlp[0].bias.copy_(torch.cat([layer.bias for layer in layers[0]]))
    packed.mlp[2].weight.copy_(torch.block_diag(*[layer.weight for layer in layers[1]]))
    packed.mlp[2].bias.copy_(torch.cat([layer.bias for layer in layers[1]]))
    packed.mlp[4].weight.copy_(torch.cat([layer.weight for layer in layers[2]], 1) / count)
    packed.mlp[4].bias.copy_(torch.stack([layer.bias for layer in layers[2]]).mean(0))
    return packed.eval()


_WORKER: dict = {}


def _init_worker(settings: dict, merger_state: dict | None):
    torch.set_num_threads(1)
    _WORKER["settings"] = settings
    _WORKER["merger"] = None
    if merger_state is not None:
        merger = RegionMerger(merger_state["feature_mean"].shape[0], merger_state["mlp.0.weight"].shape[0])
        merger.load_state_dict(merger_state)
        _WORKER["merger"] = merger.eval()


def read_cached_solid(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """A solid cached under a run's ``solids/`` (:func:`object_solid`'s, as the training writes it):
    ``(inside (n, n, n) bool, truth (n, n, n) int64, the inside cells' turns (3, N) float32 or None for a
    solid cached before the turns were)``, or None where nothing is cached."""
    if not path.is_file():
        return None
    cached = np.load(path)
    return cached["inside"], cached["truth"].astype(np.int64), cached["turns"] if "turns" in cached else None


def _collect_one(job) -> str:
    object_dir, solid_cache, pair_cache, seed = job
    settings = _WORKER["settings"]
    creases = settings.get("creases", False)
    cached = read_cached_solid(Path(solid_cache))
    if cached is not None and (not creases or cached[2] is not None):
        inside, truth, inside_turns = cached
        turns = np.zeros((3,) + inside.shape, np.float32)
        turns[:, inside] = 0.0 if inside_turns is None else inside_turns
    else:  # (a solid cached before the turns were: made again, the same cells)
        inside, truth, turns = object_solid(Path(object_dir), settings["grid"], settings["surface_samples"], seed)
        write_npz(Path(solid_cache), {"inside": inside, "truth": truth.astype(np.int16),
                                      "turns": turns[:, inside]})  # the inside cells' turns only: small
    features, labels = solid_examples(inside, truth, settings["spacing"], seed, _WORKER["merger"],
                                      settings["face_cuts"], turns if creases else None,
                                      settings.get("context", False),
                                      regions.ThinEnds(*settings["thin_ends_first"], first=True)
                                      if "thin_ends_first" in settings else None)
    if not len(labels):
        logger.warning("region pairs: %s: no part holds some cell of the input; skipped", Path(object_dir).name)
    write_npz(Path(pair_cache), {"features": features, "labels": labels})
    return Path(object_dir).name


EXAMPLE_SETTINGS = "examples.json"  # in the run folder: what its cached solids and examples were made with


def check_example_settings(out: Path, settings: dict, seed: int) -> None:
    """Record in ``out/examples.json`` the settings and seed that shape the cached solids and examples, or,
    if the folder already records others, refuse it: reusing examples of another anchor grid, basin
    spacing or face-cut setting would fit the merger to inputs the pipeline never makes. (A folder cached
    before this record existed is taken as is; one whose caches were deleted takes the new settings.)"""
    record = json.loads(json.dumps({**settings, "seed": seed}))
    path = out / EXAMPLE_SETTINGS
    cached = any(any(folder.rglob("*.npz")) for folder in (out / "solids", out / "pairs") if folder.is_dir())
    if path.is_file() and cached:
        earlier = json.loads(path.read_text())
        if earlier != record:
            changed = sorted(key for key in set(earlier) | set(record) if earlier.get(key) != record.get(key))
            raise InputFileError(f"{out}: its cached examples were made with other settings ({', '.join(changed)}); "
                                 f"use another --out, or delete {out / 'solids'} and {out / 'pairs'} to start again")
        return
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2))


def collect_examples(object_dirs: list[Path], out: Path, round_: int, settings: dict, seed: int, workers: int,
                     merger: RegionMerger | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Examples of every object for one round, computed once per object and cached as
    ``out/pairs/round<r>/<name>.npz`` (the solids, shared by the rounds, as ``out/solids/<name>.npz``)."""
    solids, pairs = out / "solids", out / "pairs" / f"round{round_}"
    solids.mkdir(parents=True, exist_ok=True)
    pairs.mkdir(parents=True, exist_ok=True)
    jobs = [(str(d), str(solids / f"{d.name}.npz"), str(pairs / f"{d.name}.npz"), seed) for d in object_dirs
            if not (pairs / f"{d.name}.npz").is_file()]
    merger_state = None if merger is None else {k: v.cpu() for k, v in merger.state_dict().items()}
    if jobs:
        if workers > 1:
            with multiprocessing.get_context("spawn").Pool(workers, _init_worker, (settings, merger_state)) as pool:
                for name in pool.imap_unordered(_collect_one, jobs):
                    logger.info("region pairs: round %d: %s", round_, name)
        else:
            _init_worker(settings, merger_state)
            for job in jobs:
                logger.info("region pairs: round %d: %s", round_, _collect_one(job))
    features, labels = [], []
    for d in object_dirs:
        cached = np.load(pairs / f"{d.name}.npz")
        features.append(cached["features"])
        labels.append(cached["labels"])
    return np.concatenate(features), np.concatenate(labels)


def solid_settings(pipe) -> dict:
    """How the anchored loop of ``pipe`` (a loaded pipeline) holds an input's solid, which shapes the cached
    solids and examples: the anchor grid (the pipeline's default), the basin spacing in cells, the surface
    samples that fill the grid (at most 200,000) and whether face planes cut the basins."""
    from autopartgen.options import GenerationOptions

    grid = GenerationOptions().anchor_grid
    return {"grid": grid,
            "spacing": regions.spacing_cells(float(pipe._setting("basin_spacing", 0.125)), grid),
            "surface_samples": min(int(pipe._setting("num_surface_samples", 200_000)), 200_000),
            "face_cuts": bool(pipe._setting("face_cuts", False))}


def select_objects(object_dirs: list, every: int, offsets) -> list:
    """Every ``every``-th of ``object_dirs`` from each of ``offsets`` (0-based), in their order: the union
    of ``object_dirs[offset::every]``."""
    chosen = set()
    for offset in offsets:
        chosen.update(range(offset, len(object_dirs), every))
    return [object_dirs[index] for index in sorted(chosen)]


def train_region_merger(args: argparse.Namespace) -> int:
    from autopartgen.api import load_pipeline
    from autopartgen.data.dataset import list_objects
    from autopartgen.part_loop import thin_ends_setting

    object_dirs = select_objects(list_objects(args.data), max(args.every, 1), args.offset)[: args.limit]
    if not object_dirs:
        raise InputFileError(f"dataset folder {args.data} holds no objects; pass a folder made by "
                             "`autopartgen data generate` or converted to the on-disk format")
    pipe = load_pipeline(args.weights, device="cpu")
    pipe.config.pipeline.setdefault("merge_threshold", 0.6)
    pipe.config.pipeline.setdefault("merge_threshold_below_claims", 0.8)
    pipe.config.pipeline.setdefault("basin_spacing", 0.125)
    settings = solid_settings(pipe)
    if args.context and not args.creases:
        raise InputFileError("train region-merger: --context needs --creases (the object features follow the "
                             "crease features); add --creases")
    if args.creases:  # recorded only when on: folders cached without the option stay valid
        settings["creases"] = True
    if args.context:
        settings["context"] = True
    thin_ends = thin_ends_setting(pipe)
    if thin_ends is not None and thin_ends.first:  # recorded only when on, as above
        settings["thin_ends_first"] = [thin_ends.ratio, thin_ends.reach]
    out = Path(args.out)
    check_example_settings(out, settings, args.seed)
    features, labels, merger = [], [], None
    for round_ in range(max(args.rounds, 1)):
        round_features, round_labels = collect_examples(object_dirs, out, round_, settings, args.seed,
                                                        args.workers, merger)
        if round_ == 0 and not len(round_labels):
            raise InputFileError(f"no object of {args.data} gave region-merger examples (each had input cells no "
                                 "part holds, or one basin); pass part meshes that fill their object")
        features.append(round_features)
        labels.append(round_labels)
        merger = fit_region_merger(np.concatenate(features), np.concatenate(labels), epochs=args.epochs,
                                   width=args.width, seed=args.seed, members=args.members)
        logger.info("region merger: round %d: %d pairs, %.2f one-part", round_, len(round_labels),
                    round_labels.mean())
    features, labels = np.concatenate(features), np.concatenate(labels)
    pipe.region_merger = merger
    accuracy = float(((merger.probability(features) > 0.5) == (labels > 0.5)).mean())
    pipe.save_pretrained(out / "model")
    print(f"region merger: {len(labels)} pairs from {len(object_dirs)} objects in {max(args.rounds, 1)} "
          f"round(s), train accuracy {accuracy:.3f}; model folder {out / 'model'}")
    return 0
