"""Where the part DiT loses the parts: teacher-forced next-part localisation and what the history latents hold.

    python bench/diagnose_dit.py --data DATA [--weights DIR ...] [--objects 12] [--steps 10] [--out TABLE.md]

DATA is a dataset prepared for DiT training with ``--history anchored`` (it holds the latent cache of the
model's VAE). `autopartgen train dit` holds out the cache's last min(64, n / 20) objects (the cache is in
id order, so they are the last categories); the diagnosis takes objects spread over that hold-out and as
many trained-on objects just before it (the nearest categories), on the pipeline's anchor grid (64^3):

* ``loc_sample``: the teacher-forced localisation of ``train/localization.py``: the DiT, given the whole and
  the ground-truth history of parts 0..k-1, samples part k; IoU of the cells it claims with part k's;
* ``loc_any``: the same sample scored against the not-yet-held part it matches best (order-free);
* ``loc_gt``: part k's own (encoded ground-truth) latent instead of a sample: the ceiling the VAE sets;
* ``history_held``: share of the cells of parts 0..k-1 inside the decoded field of history latent k
  (k >= 1), and ``history_leak``: share of the cells of parts k..K-1 (not yet held) inside it. A history
  that leaks tells the DiT that parts are done which are not.

Output: a markdown table, one row per weights folder and object group.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from autopartgen.train.prep import PART_ORDERS


def history_scores(pipe, cache, obj) -> tuple[list[float], list[float]]:
    """Per k >= 1: (share of parts 0..k-1's cells, share of parts k..K-1's cells) inside history k's field."""
    held, leak = [], []
    for k in range(1, cache.counts[obj.cache_index]):
        inside = pipe.field_at(cache.history(obj.cache_index, k).float(), obj.cell_points) > 0
        held.append(float(inside[obj.owner < k].mean()))
        leak.append(float(inside[obj.owner >= k].mean()))
    return held, leak


def ground_truth_localization(pipe, cache, obj) -> list[float]:
    """Teacher-forced IoU of every part's own (encoded ground-truth) latent."""
    from autopartgen.geometry import partition
    from autopartgen.train.localization import cell_iou

    labels = np.full(len(obj.cells), partition.UNCLAIMED, np.int64)
    scores = []
    for k in range(cache.counts[obj.cache_index]):
        values = pipe.field_at(cache.part(obj.cache_index, k).float(), obj.cell_points)
        scores.append(cell_iou((labels == partition.UNCLAIMED) & (values > 0), obj.owner == k))
        labels[obj.owner == k] = k
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset with an anchored latent cache")
    parser.add_argument("--weights", nargs="+", default=["shipped"], help="model folders ('shipped': the shipped one)")
    parser.add_argument("--objects", type=int, default=12, help="objects per group")
    parser.add_argument("--steps", type=int, default=10, help="sampler steps of the localisation samples")
    parser.add_argument("--part-order", choices=PART_ORDERS, default="dataset",
                        help="the part order of the cache (autopartgen train dit --part-order)")
    parser.add_argument("--holdout-rule", choices=("spread", "last"), default="spread",
                        help="the hold-out rule of the runs diagnosed (args.json holdout_rule; 'last' before it)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)

    from autopartgen.api import load_pipeline
    from autopartgen.train.dit import split_holdout
    from autopartgen.train.latents import LatentCache
    from autopartgen.train.localization import localization_objects, teacher_forced_localization

    suffix = "-anchored" if args.part_order == "dataset" else f"-anchored-order-{args.part_order}"
    caches = sorted((args.data / ".latent_cache").glob(f"*{suffix}"))
    if not caches:
        sys.exit(f"diagnose_dit: {args.data} holds no anchored latent cache; prepare it with "
                 f"`autopartgen train dit --history anchored --data {args.data} ...` first")
    cache = LatentCache(caches[0])
    trained, held = split_holdout(list(range(len(cache))), args.holdout_rule)
    count = min(args.objects, len(held))
    groups = {"trained on": trained[-count:],
              "held out": [held[int(j)] for j in np.linspace(0, len(held) - 1, count).round()]}
    objects = {name: localization_objects(args.data, cache, indices, max_objects=count, order=args.part_order)
               for name, indices in groups.items()}
    rows = ["| weights | objects | parts | loc_sample | loc_any | loc_gt | history_held | history_leak |",
            "|---|---|---|---|---|---|---|---|"]
    for weights in args.weights:
        pipe = load_pipeline(None if weights == "shipped" else weights, device="cpu")
        for name, group in objects.items():
            localization = teacher_forced_localization(pipe, cache, group, args.steps)
            ceiling = np.mean([s for obj in group for s in ground_truth_localization(pipe, cache, obj)])
            held, leak = zip(*(history_scores(pipe, cache, obj) for obj in group))
            parts = sum(cache.counts[obj.cache_index] for obj in group)
            rows.append(f"| {weights} | {name}: {len(group)} | {parts} | {localization['val_loc_iou']:.3f} | "
                        f"{localization['val_loc_any']:.3f} | {ceiling:.3f} | "
                        f"{np.mean(np.concatenate(held)):.3f} | {np.mean(np.concatenate(leak)):.3f} |")
            print(rows[-1], flush=True)
    table = "\n".join(rows)
    print(table)
    if args.out is not None:
        args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main())
