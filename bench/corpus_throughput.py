"""Throughput of the procedural corpus: objects per second written to disk, and the projected time for
10,000 objects (the issue's bar: 10,000 objects with 2 views each in under 45 minutes on 2 cores).

    python bench/corpus_throughput.py --n 200 --workers 2

It runs the same code as ``autopartgen data generate`` (meshes, 2 rendered views, samples.npz, GLB,
PNGs, meta.json) into a temporary folder that is deleted afterwards (``--keep DIR`` to keep it).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path

from autopartgen.data.cli import _generate_one
from autopartgen.data.dataset import split_seeds
from autopartgen.data.procedural import CATEGORIES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=124, help="objects to generate (default: 4 per category)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--no-samples", action="store_true")
    parser.add_argument("--keep", default=None, help="write here and keep the objects")
    args = parser.parse_args()

    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="apg-bench-"))
    seeds = split_seeds("train", 900_000_000, args.n)  # a fresh range: nothing is skipped as existing
    job = partial(_generate_one, out=str(out), categories=list(CATEGORIES), split="train", views=args.views,
                  size=args.size, resolution=args.resolution, samples=not args.no_samples)
    cpu0 = os.times()
    start = time.perf_counter()
    if args.workers == 1:
        results = [job(s) for s in seeds]
    else:
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            results = list(pool.imap_unordered(job, seeds, chunksize=4))
    elapsed = time.perf_counter() - start
    cpu1 = os.times()
    # CPU seconds spent on the objects (this process + finished worker processes): what the run would
    # take on idle cores, independent of other load on a shared machine.
    cpu = sum(getattr(cpu1, f) - getattr(cpu0, f) for f in ("user", "system", "children_user", "children_system"))
    failed = sum("error" in r for r in results)
    size_mb = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6
    rate = args.n / elapsed
    print(f"{args.n} objects, {args.views} views at {args.size} px, resolution {args.resolution}, "
          f"{args.workers} workers: {elapsed:.1f} s, {rate:.2f} objects/s, {failed} failed, "
          f"{size_mb / args.n:.2f} MB/object")
    print(f"projected for 10,000 objects: {10_000 / rate / 60:.1f} min wall at this rate (bar: 45 min); "
          f"CPU {cpu / args.n:.3f} s/object -> {10_000 * cpu / args.n / args.workers / 60:.1f} min on "
          f"{args.workers} idle cores")
    if not args.keep:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
