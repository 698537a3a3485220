"""`autopartgen data generate | check | import`: build, validate and convert on-disk part datasets."""

from __future__ import annotations

import logging
import multiprocessing
import time
from functools import partial
from pathlib import Path

from tqdm import tqdm

from autopartgen.errors import ConfigError, OutputPathError

logger = logging.getLogger(__name__)


def _generate_one(seed: int, out: str, categories: list[str], split: str, views: int, size: int,
                  resolution: int, samples: bool, corpus: str) -> dict:
    from autopartgen.data.dataset import generate_and_write
    from autopartgen.data.procedural import category_for_seed

    category = category_for_seed(seed, categories)
    try:
        return generate_and_write(Path(out), seed, category, split, views, size, resolution, samples, corpus=corpus)
    except Exception as error:  # one bad object must not stop a long run; it is reported at the end
        logger.debug("seed %d failed", seed, exc_info=True)
        return {"id": f"{category}_{seed}", "category": category, "error": f"{type(error).__name__}: {error}"}


def run_generate(args) -> int:
    from autopartgen.data.dataset import SPLITS, split_seeds
    from autopartgen.data.procedural import CATEGORIES, CORPUS_VERSIONS, corpus_categories

    if args.corpus not in CORPUS_VERSIONS:
        raise ConfigError(f"unknown corpus {args.corpus}; choose from {', '.join(CORPUS_VERSIONS)}")
    categories = args.categories or corpus_categories(args.corpus)
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise ConfigError(f"unknown categories {', '.join(unknown)}; choose from: {', '.join(CATEGORIES)}")
    if args.split not in SPLITS:
        raise ConfigError(f"unknown split {args.split}; choose from {', '.join(SPLITS)}")
    if args.n < 1 or args.workers < 1 or args.views < 0:
        raise ConfigError("--n and --workers must be >= 1 and --views >= 0")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"{out}: exists and is not a folder; pass a folder to --out")
    out.mkdir(parents=True, exist_ok=True)
    seeds = split_seeds(args.split, args.seed, args.n)
    job = partial(_generate_one, out=str(out), categories=categories, split=args.split, views=args.views,
                  size=args.size, resolution=args.resolution, samples=not args.no_samples,
                  corpus=args.corpus)
    start = time.perf_counter()
    results = []
    bar = tqdm(total=len(seeds), desc="objects", unit="obj", disable=args.quiet)
    if args.workers == 1:
        for seed in seeds:
            results.append(job(seed))
            bar.update()
    else:
        from autopartgen.cli import worker_signals

        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        with ctx.Pool(args.workers, initializer=worker_signals) as pool:
            for record in pool.imap_unordered(job, seeds, chunksize=max(1, min(8, len(seeds) // (4 * args.workers)))):
                results.append(record)
                bar.update()
    bar.close()
    elapsed = time.perf_counter() - start
    failed = [r for r in results if "error" in r]
    made = sum(1 for r in results if "error" not in r and not r.get("skipped"))
    skipped = sum(1 for r in results if r.get("skipped"))
    logger.info("%d objects written, %d already present, %d failed in %.1f s (%.2f objects/s) -> %s",
                made, skipped, len(failed), elapsed, len(results) / max(elapsed, 1e-9), out)
    for record in failed:
        logger.error("%s: %s", record["id"], record["error"])
    return 1 if failed else 0


def run_check(args) -> int:
    from autopartgen.data.dataset import check_dataset

    report = check_dataset(Path(args.dir))
    print(f"objects: {report['n_objects']}")
    print("splits: " + ", ".join(f"{k}={v}" for k, v in report["splits"].items()))
    print("categories: " + ", ".join(f"{k}={v}" for k, v in report["categories"].items()))
    print("part counts: " + ", ".join(f"{k}:{v}" for k, v in report["part_counts"].items()))
    if report["partial"]:
        print(f"unfinished (ignored, safe to delete): {len(report['partial'])}")
    print(f"failures: {len(report['failures'])}")
    for line in report["failures"][: args.max_failures]:
        print(f"  {line}")
    if len(report["failures"]) > args.max_failures:
        print(f"  ... and {len(report['failures']) - args.max_failures} more")
    return 1 if report["failures"] or report["n_objects"] == 0 else 0


def run_import(args) -> int:
    from autopartgen.data.dataset import import_object

    folder = import_object(Path(args.src), Path(args.out), obj_id=args.id, n_views=args.views, size=args.size,
                           seed=args.seed, category=args.category)
    print(folder)
    return 0


def run_import_articulated(args) -> int:
    from autopartgen.data.importers.articulated import write_pose_variants

    if args.data_command == "import-mjcf":
        from autopartgen.data.importers.mjcf import read_mjcf

        model = read_mjcf(Path(args.src), exclude=args.exclude)
    else:
        from autopartgen.data.importers.urdf import read_urdf

        model = read_urdf(Path(args.src), package_dirs=[Path(p) for p in args.package_dir])
    folders = write_pose_variants(model, Path(args.out), args.id or Path(args.src).stem, n_random=args.poses,
                                  seed=args.seed, category=args.category, licence=args.licence,
                                  resolution=args.resolution, n_views=args.views, size=args.size)
    for folder in folders:
        print(folder)
    return 0


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("data", help="generate, check or import part datasets")
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    gen = sub.add_parser("generate", help="generate procedural part objects (one folder each)")
    gen.add_argument("--out", required=True, help="dataset folder (created; existing objects are kept)")
    gen.add_argument("--n", type=int, required=True, help="number of objects")
    gen.add_argument("--seed", type=int, default=0, help="first seed offset within the split's seed range")
    gen.add_argument("--corpus", default="v2", help="v2 (default): 31 + robotics/appliance categories, blended "
                     "joints, turn about +Y, non-uniform scale; v1: the 31 original categories as first generated")
    gen.add_argument("--categories", nargs="+", default=None, help="categories (default: all of the corpus)")
    gen.add_argument("--views", type=int, default=2, help="rendered views per object")
    gen.add_argument("--size", type=int, default=256, help="view size in pixels")
    gen.add_argument("--resolution", type=int, default=64, help="marching-cubes cells across the object")
    gen.add_argument("--workers", type=int, default=1, help="worker processes")
    gen.add_argument("--split", default="train", choices=["train", "val", "test", "test-ood"])
    gen.add_argument("--no-samples", action="store_true", help="skip samples.npz")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(func=run_generate)

    chk = sub.add_parser("check", help="validate a dataset folder and print a summary")
    chk.add_argument("dir")
    chk.add_argument("--max-failures", type=int, default=50, help="failures to list")
    chk.set_defaults(func=run_check)

    imp = sub.add_parser("import", help="convert a GLB whose nodes are parts, or a folder of part meshes")
    imp.add_argument("src")
    imp.add_argument("--out", required=True, help="dataset folder to add the object to")
    imp.add_argument("--id", default=None, help="object folder name (default: the source name)")
    imp.add_argument("--category", default="imported")
    imp.add_argument("--views", type=int, default=2)
    imp.add_argument("--size", type=int, default=256)
    imp.add_argument("--seed", type=int, default=0, help="seed for view jitter, materials and samples")
    imp.set_defaults(func=run_import)

    for name, what in (("import-mjcf", "a MuJoCo MJCF model"), ("import-urdf", "a URDF robot")):
        art = sub.add_parser(name, help=f"convert {what} into object folders, one part per rigid link, in its "
                                        "default pose and random joint configurations")
        art.add_argument("src", help="the .xml / .urdf file")
        art.add_argument("--out", required=True, help="dataset folder to add the objects to")
        art.add_argument("--id", default=None, help="object id prefix (default: the file name)")
        art.add_argument("--poses", type=int, default=2, help="random joint configurations besides the default pose")
        art.add_argument("--seed", type=int, default=0, help="seed of the poses, views and samples")
        art.add_argument("--category", default="articulated")
        art.add_argument("--licence", default="", help="licence of the source model, stored in meta.json")
        art.add_argument("--resolution", type=int, default=64, help="marching-cubes cells across the object")
        art.add_argument("--views", type=int, default=2)
        art.add_argument("--size", type=int, default=256)
        if name == "import-mjcf":
            art.add_argument("--exclude", default=None, help="regex: bodies / geoms to leave out (targets, walls)")
        else:
            art.add_argument("--package-dir", action="append", default=[],
                             help="folder holding the packages that package:// mesh paths name (repeatable)")
        art.set_defaults(func=run_import_articulated)
