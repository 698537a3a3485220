"""`autopartgen eval`: score part methods on a dataset in our format (protocol: docs/evaluation.md)."""

from __future__ import annotations

import logging
from pathlib import Path

from autopartgen.arguments import non_negative_int, positive_int
from autopartgen.eval.metrics import DEFAULT_GRID, DEFAULT_SAMPLES
from autopartgen.threads import add_threads_argument

log = logging.getLogger(__name__)


def _method_list(values: list[str]) -> list[str]:
    """``["single,components", "coacd"]`` -> ``["single", "components", "coacd"]`` (order kept, no repeats)."""
    names: list[str] = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    return names


def _run(args) -> int:
    from autopartgen.eval import ours, runner  # noqa: F401  (ours registers --method ours)
    from autopartgen.options import GenerationOptions

    GenerationOptions(grid_size=args.generation_grid).validate()  # a grid the extraction supports, before any work

    settings = runner.EvalSettings(mode=args.mode, input_form=args.input, input_resolution=args.input_resolution,
                                   input_max_faces=args.input_max_faces or None,
                                   grid=args.grid, n_samples=args.samples, seed=args.seed, weights=args.weights,
                                   generation_grid=args.generation_grid)
    methods = _method_list(args.method or ["single,components,coacd,coacd_tuned"])
    split = None if args.split in ("all", "") else args.split
    rows = runner.run_eval(Path(args.data), Path(args.out), methods, split=split, limit=args.limit,
                           workers=args.workers, settings=settings, gallery_count=args.gallery,
                           progress=not args.quiet, resume=args.resume)
    summary = (Path(args.out) / "summary.md").read_text()
    print(summary)
    failures = sum(1 for row in rows if row.get("error"))
    if failures:
        log.warning("%d method runs failed; see the Failures section of summary.md", failures)
    return 0


def add_cli(subparsers) -> None:
    """Add the ``eval`` sub-command."""
    parser = subparsers.add_parser(
        "eval", help="score part methods (ours, baselines) on a dataset split",
        description="Run part methods over a dataset in the autopartgen on-disk format and write results.csv, "
                    "summary.md, plots and gallery.png. The protocol is described in docs/evaluation.md.")
    parser.add_argument("--data", required=True, help="dataset folder (object folders with parts.glb + meta.json)")
    parser.add_argument("--split", default="test", help="split name, or 'all' for every object (default: test)")
    parser.add_argument("--mode", default="mesh", choices=["mesh", "image", "image_mask"],
                        help="what the methods receive (the baselines take only 'mesh')")
    parser.add_argument("--method", action="append", metavar="NAME[,NAME...]",
                        help="method(s) to run; repeat or comma-separate (default: single,components,coacd,coacd_tuned)")
    parser.add_argument("--weights", default=None, help="model folder for --method ours (default: the shipped model)")
    parser.add_argument("--out", required=True, help="output folder (results.csv, summary.md, *.png)")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="evaluate only the first N objects of the split")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="worker processes (objects in parallel; default 1, "
                        "use 1 when the timings matter)")
    parser.add_argument("--input", default="fused", choices=["fused", "concat", "realistic"],
                        help="input mesh: 'fused' one watertight surface of the union (default), 'concat' the "
                             "GT part meshes concatenated, or 'realistic' the fused surface decimated and noisy "
                             "(seeded by the object id)")
    parser.add_argument("--input-resolution", type=positive_int, default=192,
                        help="grid of the fused input (default 192 = 3 x 64, see docs/evaluation.md)")
    parser.add_argument("--input-max-faces", type=non_negative_int, default=20_000,
                        help="decimate the fused input to this many faces (default 20000, 0 keeps all)")
    parser.add_argument("--grid", type=positive_int, default=DEFAULT_GRID,
                        help=f"IoU grid per axis (default {DEFAULT_GRID})")
    parser.add_argument("--generation-grid", type=positive_int, default=None,
                        help="extraction grid of --method ours / vae_recon (default: the model's grid_size)")
    parser.add_argument("--samples", type=positive_int, default=DEFAULT_SAMPLES,
                        help=f"surface samples per part (default {DEFAULT_SAMPLES})")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed for methods and surface sampling (default 0)")
    parser.add_argument("--gallery", type=non_negative_int, default=6,
                        help="objects in gallery.png (default 6, 0 for none)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows already in --out's results.csv (same settings) and score only the rest")
    add_threads_argument(parser)
    parser.set_defaults(func=_run)
