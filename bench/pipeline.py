"""Per-stage timings of mesh -> parts and image -> parts, and the fraction of dense-grid queries used.

    python bench/pipeline.py [--weights DIR] [--config tiny] [--grid-size N] [--repeats 2] [--json out.json]

Runs the shipped model by default (``autopartgen/weights/tiny``); ``--random-weights`` builds the
config with random weights instead (timings only: the geometry is meaningless). Inputs are the
``examples/`` objects. Prints a markdown table (min / median seconds per stage over repeats).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
from pathlib import Path

import torch

from autopartgen.api import load_pipeline
from autopartgen.inputs import load_image, load_mesh
from autopartgen.pipeline import AutoPartGen, GenerationOptions

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(pipe, inputs: dict, options: GenerationOptions) -> dict:
    start = time.perf_counter()
    result = pipe.generate(**inputs, options=options)
    total = time.perf_counter() - start
    counts = result.counts
    return {"timings": dict(result.timings, total=total), "parts": len(result.parts),
            "stop": result.stop_reason, "dit_forwards": counts["dit_forwards"], "attempts": counts["attempts"],
            "query_fraction": counts["field_queries"] / max(counts["dense_queries"], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="model folder (default: the shipped model)")
    parser.add_argument("--config", default=None, help="config for --weights / --random-weights")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--example", default="chair")
    parser.add_argument("--grid-size", type=int)
    parser.add_argument("--max-parts", type=int)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write the raw numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    load_start = time.perf_counter()
    if args.random_weights:
        pipe = AutoPartGen.from_config(args.config or "tiny", device="cpu")
    else:
        pipe = load_pipeline(args.weights, args.config, device="cpu")
    load_time = time.perf_counter() - load_start
    options = GenerationOptions(seed=0, grid_size=args.grid_size, max_parts=args.max_parts, progress=False)
    folder = EXAMPLES / args.example
    cases = {"mesh -> parts": {"mesh": load_mesh(folder / "mesh.glb")},
             "image -> parts": {"image": load_image(folder / "image.png")}}
    rows = {}
    for name, inputs in cases.items():
        rows[name] = [run(pipe, inputs, options) for _ in range(args.repeats)]

    stages = sorted({s for runs in rows.values() for r in runs for s in r["timings"]}, key=lambda s: s == "total")
    print(f"# pipeline timings: {pipe.config.name}, example {args.example}, grid "
          f"{args.grid_size or pipe.config.pipeline.get('grid_size')}, {args.threads} threads, "
          f"{platform.machine()}, torch {torch.__version__}; model load {load_time:.2f} s; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB\n")
    print("| stage | " + " | ".join(f"{n} min / median (s)" for n in rows) + " |")
    print("| --- |" + " ---: |" * len(rows))
    for stage in stages:
        cells = []
        for runs in rows.values():
            values = [r["timings"].get(stage, 0.0) for r in runs]
            cells.append(f"{min(values):.2f} / {statistics.median(values):.2f}")
        print(f"| {stage} | " + " | ".join(cells) + " |")
    for key in ("parts", "stop", "attempts", "dit_forwards", "query_fraction"):
        cells = [str(runs[0][key]) if key != "query_fraction" else f"{runs[0][key]:.3f}" for runs in rows.values()]
        print(f"| {key} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"load_s": load_time, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
