"""`autopartgen train {vae,dit,region-merger,export}`.

Single process::

    autopartgen train vae --config tiny --data runs/data/train --out runs/vae --steps 4000 --batch 16
    autopartgen train dit --config tiny --data runs/data/train --vae runs/vae --out runs/dit --steps 20000
    autopartgen train export runs/vae runs/dit --out autopartgen/weights/tiny

Several processes / GPUs (the same command under torchrun; gloo on CPU, nccl on CUDA)::

    torchrun --nproc_per_node 8 -m autopartgen train dit --config tiny --data DATA --vae runs/vae --out runs/dit

``--resume`` continues RUN_DIR from its last checkpoint exactly (same batches, same noise);
``--init DIR`` starts a new run from the weights of another run or model folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from autopartgen.train.prep import HISTORY_FORMS, PART_ORDERS


def _common(parser: argparse.ArgumentParser, steps: int, batch: int, lr: float) -> None:
    parser.add_argument("--config", default="tiny", help="preset name or YAML file (default: tiny)")
    parser.add_argument("--data", required=True, help="dataset folder (autopartgen data generate)")
    parser.add_argument("--val-data", default=None, help="validation dataset folder (default: last train objects)")
    parser.add_argument("--out", required=True, help="run folder (checkpoints, log.csv, config.yaml)")
    parser.add_argument("--steps", type=int, default=steps, help=f"optimiser steps in all (default {steps})")
    parser.add_argument("--batch", type=int, default=batch, help=f"items per micro-batch per process (default {batch})")
    parser.add_argument("--accum", type=int, default=1, help="micro-batches per optimiser step")
    parser.add_argument("--lr", type=float, default=lr, help=f"peak learning rate (default {lr})")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up steps")
    parser.add_argument("--resume", action="store_true", help="continue RUN_DIR from its checkpoint")
    parser.add_argument("--init", type=Path, default=None, help="initial weights: a run folder or model folder")
    parser.add_argument("--val-every", type=int, default=500, help="validate every N steps (0: never)")
    parser.add_argument("--save-every", type=int, default=200, help="checkpoint every N steps")
    parser.add_argument("--log-every", type=int, default=10, help="log.csv row every N steps")
    parser.add_argument("--workers", type=int, default=1, help="data-loader worker processes per process")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N objects")
    parser.add_argument("--max-minutes", type=float, default=0.0, help="stop after this many minutes (0: no limit)")
    parser.add_argument("--fit-to-time", action="store_true",
                        help="with --max-minutes: after the warm-up, plan the step count so that the cosine "
                             "schedule ends when the time does (--steps is then an upper bound)")
    parser.add_argument("--snapshots", type=int, default=0,
                        help="keep the EMA weights at N evenly spaced steps (checkpoint/ema-<step>/)")
    parser.add_argument("--stop-at", type=int, default=0, help=argparse.SUPPRESS)  # tests: interrupt a run
    parser.add_argument("--hash-dir", default=None, help=argparse.SUPPRESS)  # tests: per-rank weight hashes
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--ready-only", action="store_true",
                        help="use only objects already prepared (no preparation pass)")


def _offsets(text: str) -> tuple[int, ...]:
    """``--offset``: one object index or several, comma-separated (``0,1``)."""
    try:
        offsets = tuple(int(value) for value in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an index or comma-separated indices (0 or 0,1)") from None
    if any(offset < 0 for offset in offsets):
        raise argparse.ArgumentTypeError(f"{text!r}: offsets are 0 or more")
    return offsets


def _run_vae(args) -> int:
    from autopartgen.train.vae import train_vae
    return train_vae(args)


def _run_dit(args) -> int:
    from autopartgen.train.dit import train_dit
    return train_dit(args)


def _run_region_merger(args) -> int:
    from autopartgen.train.region_merger import train_region_merger
    return train_region_merger(args)


def _run_export(args) -> int:
    from autopartgen.train.export import export_model
    export_model(args.runs, Path(args.out), notes=args.notes, eval_json=args.eval)
    return 0


def add_cli(subparsers) -> None:
    train = subparsers.add_parser("train", help="train the VAE or the part DiT; export a model folder",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = train.add_subparsers(dest="train_command", metavar="{vae,dit,region-merger,export}")
    sub.required = True

    vae = sub.add_parser("vae", help="train the shape VAE")
    _common(vae, steps=4000, batch=16, lr=5e-4)
    vae.add_argument("--kl-weight", type=float, default=1e-3, help="weight of the KL term")
    vae.add_argument("--queries", type=int, default=1024, help="SDF query points per item")
    vae.add_argument("--decoder-only", action="store_true",
                     help="fine-tune only the decoder of --init on its cached latents (keeps the latent space, "
                          "so a DiT trained on it stays valid)")
    vae.set_defaults(func=_run_vae)

    dit = sub.add_parser("dit", help="train the part DiT (and the image encoder) on cached VAE latents")
    _common(dit, steps=20000, batch=32, lr=4e-4)
    dit.add_argument("--vae", type=Path, required=True, help="VAE run folder or model folder (its EMA weights)")
    dit.add_argument("--scale-factor", default="auto", help="latent scale: 'auto' (1/std of the cached latents), "
                     "'config', or a number")
    dit.add_argument("--eot-threshold", default="auto",
                     help="end-token threshold written to the run's config: 'auto' (half the 1%% quantile of the "
                          "part latents' mean |z|), 'config', or a number")
    dit.add_argument("--history", choices=HISTORY_FORMS, default="parts",
                     help="what the whole and history clouds are: 'parts' (the union of ground-truth part surfaces, "
                          "as the released pipeline builds them) or 'anchored' (a fused, degraded whole and the "
                          "surface of the region earlier parts hold, as the input-anchored mesh pipeline builds them) or "
                          "'mixed' (anchored, with half of the objects given as their part meshes concatenated, "
                          "as a multi-mesh asset arrives) or 'remainder' (anchored, the history being the region "
                          "still to split rather than the one split off; writes pipeline.history_region)")
    dit.add_argument("--part-order", choices=PART_ORDERS, default="dataset",
                     help="the order the DiT learns to produce parts in: 'dataset' (as stored) or 'size' (largest "
                          "first; parts of about the same size lowest first, then by x and z); a new prep and cache")
    dit.add_argument("--image-drop", type=float, default=0.4, help="probability of dropping the image condition")
    dit.add_argument("--geometry-drop", type=float, default=0.1, help="probability of dropping the part context")
    dit.add_argument("--mask-prob", type=float, default=0.5, help="share of part items in mask mode")
    dit.add_argument("--forcing-prob", type=float, default=0.3, help="share of part items with a noisy history")
    dit.add_argument("--forcing-max-sigma", type=float, default=0.5, help="largest history noise level")
    dit.add_argument("--freeze-image-encoder", action="store_true", help="keep the image encoder fixed")
    dit.add_argument("--val-localization", type=int, default=8,
                     help="held-out objects of the teacher-forced localisation metric at each validation "
                          "(val_loc_iou / val_loc_hit in val.csv, see train/localization.py; 0: off)")
    dit.add_argument("--val-localization-steps", type=int, default=10,
                     help="sampler steps of the localisation metric's samples")
    dit.set_defaults(func=_run_dit)

    merger = sub.add_parser("region-merger", help="train the region merger of a model's mesh inputs "
                            "(train/region_merger.py); writes OUT/model, the model folder with it")
    merger.add_argument("--data", required=True, help="dataset folder (parts.glb per object)")
    merger.add_argument("--out", required=True, help="run folder: pairs/ (examples cached per object), model/")
    merger.add_argument("--weights", default=None, help="model folder the merger is added to (default: shipped); "
                        "its settings (basin_spacing, num_surface_samples) shape the examples")
    merger.add_argument("--every", type=int, default=1, help="use every N-th object of --data")
    merger.add_argument("--offset", type=_offsets, default=(0,), help="with --every: start at this object "
                        "(0-based); several, comma-separated, take the union (--every 3 --offset 0,1: two in three)")
    merger.add_argument("--limit", type=int, default=None, help="use at most N objects")
    merger.add_argument("--epochs", type=int, default=40, help="passes over the examples per fit")
    merger.add_argument("--width", type=int, default=64, help="hidden units per layer of the merger's MLP "
                        "(written to the model config as pipeline.region_merger_width)")
    merger.add_argument("--members", type=int, default=1, help="fit this many MLPs of --width (seeds --seed, "
                        "--seed + 1, ...) and ship their mean logit as one merger of members x width units")
    merger.add_argument("--rounds", type=int, default=1, help="1: examples from random walks of true merges; "
                        "each further round adds the examples of the walk the last fit takes itself (measured "
                        "worse: MODEL_CARD)")
    merger.add_argument("--creases", action="store_true", help="add the crease features (how the fused input "
                        "surface turns along each interface, regions.CREASE_FEATURE_NAMES) to the shape features")
    merger.add_argument("--context", action="store_true", help="with --creases: add the object features (what "
                        "kind of solid each pair lies in, regions.OBJECT_FEATURE_NAMES) after the crease features")
    merger.add_argument("--workers", type=int, default=1, help="processes collecting examples")
    merger.add_argument("--seed", type=int, default=0)
    merger.set_defaults(func=_run_region_merger)

    export = sub.add_parser("export", help="write a model folder (config + EMA safetensors + MODEL_CARD.md)")
    export.add_argument("runs", nargs="+", help="run folders: the VAE run and the DiT run (or a model folder)")
    export.add_argument("--out", required=True, help="model folder to write (e.g. autopartgen/weights/tiny)")
    export.add_argument("--notes", default=None, help="markdown file appended to the model card")
    export.add_argument("--eval", default=None, help="evaluation JSON to tabulate in the model card")
    export.set_defaults(func=_run_export)
