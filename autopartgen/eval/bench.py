"""`autopartgen bench`: per-stage timings of mesh -> parts and image -> parts.

    autopartgen bench [--weights DIR] [--config tiny] [--grid-size N] [--repeats 2] [--threads N] [--json out.json]
    autopartgen bench --contention      mesh -> parts idle and beside one busy process, and their ratio
    python bench/pipeline.py ...        (the same, from a checkout)

Reports per stage (load, image encode, whole encode / sample, part sampling, decode / extraction,
duplicate check, post-process, history encode, export) min and median seconds over repeats, peak RSS,
DiT forward passes per accepted part and the fraction of dense-grid queries the band extraction made.

Runs the shipped model by default (``autopartgen/weights/tiny``); ``--random-weights`` builds the
config with random weights instead (timings only: the geometry is meaningless). Inputs are the
``examples/`` objects. Prints a markdown table (min / median seconds per stage over repeats).

``--compare-reference-mode`` runs each case in the released pipeline's mode (``reference_compat``) and
in the default mode on the same weights and input, alternating per repeat, and prints both with their
ratio per stage (reference / default) and each mode's decisions (parts, stop reason, attempts).

``--contention`` measures what a shared machine does to a run: each repeat times mesh -> parts once
alone and once while a child process of this benchmark spins on one core (``while True: pass``,
started before and killed after that run), alternating so that slow drifts in the machine's load hit
both alike; it reports both times and the loaded / idle ratio of their medians.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from autopartgen.api import generate_parts, load_pipeline
from autopartgen.arguments import ArgumentParser, positive_int
from autopartgen.threads import add_threads_argument
from autopartgen.inputs import load_image, load_mesh
from autopartgen.pipeline import AutoPartGen, GenerationOptions
from autopartgen.options import CPU_PRECISIONS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(pipe, inputs: dict, options: GenerationOptions) -> dict:
    """One generation + export into a temporary folder (:func:`autopartgen.api.generate_parts`); returns
    timings and counts."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        result = generate_parts(pipe, **inputs, output_dir=folder, options=options)
        total = time.perf_counter() - start
    counts = result.counts
    return {"timings": dict(result.timings, total=total), "parts": len(result.parts),
            "stop": result.stop_reason, "dit_forwards": counts["dit_forwards"], "attempts": counts["attempts"],
            "dit_forwards_per_part": counts["dit_forwards"] / max(len(result.parts), 1),
            "query_fraction": counts["field_queries"] / max(counts["dense_queries"], 1)}


CASES = ("mesh", "image")


def example_cases(example: Path, cases: tuple = CASES) -> dict:
    """{case name: generate_parts inputs} for mesh -> parts and/or image -> parts on one example folder."""
    made = {"mesh": lambda: {"mesh": load_mesh(example / "mesh.glb")},
            "image": lambda: {"image": load_image(example / "image.png")}}
    return {f"{case} -> parts": made[case]() for case in cases}


def benchmark(pipe, example: Path, options: GenerationOptions, repeats: int, cases: tuple = CASES) -> dict:
    """{case name: [run dict, ...]} for mesh -> parts and image -> parts on one example folder."""
    return {name: [run(pipe, inputs, options) for _ in range(repeats)]
            for name, inputs in example_cases(example, cases).items()}


def compare_reference_mode(pipe, example: Path, options: GenerationOptions, repeats: int,
                           cases: tuple = CASES) -> dict:
    """{case: {"reference mode": [run, ...], "default": [run, ...]}}, the two modes alternating per repeat."""
    reference = dataclasses.replace(options, reference_compat=True)
    results = {}
    for name, inputs in example_cases(example, cases).items():
        runs = {"reference mode": [], "default": []}
        for _ in range(repeats):
            runs["reference mode"].append(run(pipe, inputs, reference))
            runs["default"].append(run(pipe, inputs, options))
        results[name] = runs
    return results


def comparison_table(results: dict, header: str) -> str:
    """Median seconds per stage of both modes and their ratio (reference / default), per case."""
    columns = [(case, mode) for case in results for mode in ("reference mode", "default")]
    stages = sorted({s for case in results.values() for runs in case.values() for r in runs for s in r["timings"]},
                    key=lambda s: s == "total")
    lines = [header, "", "| stage | " + " | ".join(f"{c}: {m} (s)" for c, m in columns)
             + " | " + " | ".join(f"{c}: reference / default" for c in results) + " |",
             "| --- |" + " ---: |" * (len(columns) + len(results))]

    def median(case, mode, stage):
        return statistics.median(r["timings"].get(stage, 0.0) for r in results[case][mode])

    for stage in stages:
        cells = [f"{median(c, m, stage):.2f}" for c, m in columns]
        for case in results:
            default = median(case, "default", stage)
            cells.append(f"{median(case, 'reference mode', stage) / default:.2f}x" if default > 0 else "-")
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    for key in ("parts", "stop", "attempts", "dit_forwards"):
        cells = [str(results[c][m][0][key]) for c, m in columns] + [""] * len(results)
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@contextlib.contextmanager
def busy_process():
    """A child Python process spinning on one core for the duration of the block (killed after it)."""
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.2)  # let it start spinning
        yield child
    finally:
        child.kill()
        child.wait()


def contention(pipe, example: Path, options: GenerationOptions, repeats: int) -> dict:
    """mesh -> parts alone and beside one busy process, alternating; ``{"idle": [...], "loaded": [...], "ratio"}``."""
    inputs = {"mesh": load_mesh(example / "mesh.glb")}
    idle, loaded = [], []
    for _ in range(repeats):
        idle.append(run(pipe, inputs, options))
        with busy_process():
            loaded.append(run(pipe, inputs, options))
    ratio = (statistics.median(r["timings"]["total"] for r in loaded)
             / statistics.median(r["timings"]["total"] for r in idle))
    return {"idle": idle, "loaded": loaded, "ratio": ratio}


def markdown_table(rows: dict, header: str) -> str:
    stages = sorted({s for runs in rows.values() for r in runs for s in r["timings"]}, key=lambda s: s == "total")
    lines = [header, "", "| stage | " + " | ".join(f"{n}: min / median (s)" for n in rows) + " |",
             "| --- |" + " ---: |" * len(rows)]
    for stage in stages:
        cells = []
        for runs in rows.values():
            values = [r["timings"].get(stage, 0.0) for r in runs]
            cells.append(f"{min(values):.2f} / {statistics.median(values):.2f}")
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    for key in ("parts", "stop", "attempts", "dit_forwards", "dit_forwards_per_part", "query_fraction"):
        cells = [f"{runs[0][key]:.3f}" if isinstance(runs[0][key], float) else str(runs[0][key])
                 for runs in rows.values()]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _run(args) -> int:
    options = GenerationOptions(seed=0, grid_size=args.grid_size, max_parts=args.max_parts, num_steps=args.num_steps,
                                cpu_precision=args.cpu_precision, progress=False).validate()
    load_start = time.perf_counter()
    if args.random_weights:
        pipe = AutoPartGen.from_config(args.config or "tiny", device=args.device)
    else:
        pipe = load_pipeline(args.weights, args.config, device=args.device)
    load_time = time.perf_counter() - load_start
    on_gpu = pipe.device.type == "cuda"
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    example = Path(args.example_dir or EXAMPLES / args.example)
    where = (f"{torch.cuda.get_device_name(pipe.device)} ({pipe.config.float_precision})" if on_gpu
             else f"{torch.get_num_threads()} threads, {platform.machine()}")
    header = (f"{pipe.config.name}{' (random weights)' if args.random_weights else ''}, "
              f"{'CPU bf16, ' if args.cpu_precision == 'bfloat16' and not on_gpu else ''}"
              f"example {example.name}, grid {args.grid_size or pipe.config.pipeline.get('grid_size')}, "
              f"{where}, torch {torch.__version__}")
    if args.contention:
        measured = contention(pipe, example, options, args.repeats)
        rows = {"mesh -> parts, idle": measured["idle"], "mesh -> parts, beside a busy process": measured["loaded"]}
        print(markdown_table(rows, f"# contention: {header}; loaded / idle (medians of total): "
                                   f"{measured['ratio']:.2f}"))
        if args.json:
            Path(args.json).write_text(json.dumps({"load_s": load_time, "threads": torch.get_num_threads(),
                                                   "contention": measured}, indent=2))
        return 0
    if args.compare_reference_mode:
        results = compare_reference_mode(pipe, example, options, args.repeats, args.cases)
        print(comparison_table(results, f"# reference mode against the default: {header}; model load {load_time:.2f} s"))
        if args.json:
            Path(args.json).write_text(json.dumps({"load_s": load_time, "compare": results}, indent=2))
        return 0
    rows = benchmark(pipe, example, options, args.repeats, args.cases)
    memory = f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    if on_gpu:
        memory += f", peak GPU memory {torch.cuda.max_memory_allocated(pipe.device) / 2**30:.2f} GiB"
    print(markdown_table(rows, f"# pipeline timings: {header}; model load {load_time:.2f} s; {memory}"))
    if args.json:
        Path(args.json).write_text(json.dumps({"load_s": load_time, "runs": rows}, indent=2))
    return 0


def _cases(text: str) -> tuple:
    import argparse

    cases = tuple(dict.fromkeys(c.strip() for c in text.split(",") if c.strip()))
    if not cases or any(c not in CASES for c in cases):
        raise argparse.ArgumentTypeError(f"{text!r}: give mesh, image or mesh,image")
    return cases


def add_arguments(parser) -> None:
    parser.add_argument("--weights", help="model folder (default: the shipped model)")
    parser.add_argument("--config", default=None, help="config for --weights / --random-weights")
    parser.add_argument("--random-weights", action="store_true", help="time a randomly initialised model")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--example", default="chair", help="folder name under examples/")
    parser.add_argument("--example-dir", help="or any folder with mesh.glb and image.png")
    parser.add_argument("--grid-size", type=int, help="extraction grid (default: the model's)")
    parser.add_argument("--max-parts", type=positive_int, help="most parts (default: the model's)")
    parser.add_argument("--num-steps", type=positive_int, help="diffusion steps (default: the model's)")
    parser.add_argument("--repeats", type=positive_int, default=2, help="runs per case (default 2)")
    parser.add_argument("--cpu-precision", choices=CPU_PRECISIONS, default="float32",
                        help="number format of the networks on a CPU (see autopartgen generate --help)")
    parser.add_argument("--cases", type=_cases, default=CASES, metavar="mesh,image",
                        help="which inputs to time: mesh, image or both (default)")
    parser.add_argument("--contention", action="store_true",
                        help="time mesh -> parts alone and beside one busy process (and their ratio) instead")
    parser.add_argument("--compare-reference-mode", action="store_true",
                        help="run each case in the released pipeline's mode and in the default mode on the same "
                             "weights and input, and print the ratio per stage")
    add_threads_argument(parser)
    parser.add_argument("--json", help="also write the raw numbers here")


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="per-stage timings of mesh -> parts and image -> parts")
    add_arguments(parser)
    parser.set_defaults(func=_run)


def main() -> None:
    from autopartgen.cli import run_command

    parser = ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    raise SystemExit(run_command(_run, parser.parse_args()))


if __name__ == "__main__":
    main()
