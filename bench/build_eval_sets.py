"""Build every evaluation set the model card reports, in one command, as the card's tables were made.

    pip install gymnasium && pip install --no-deps example-robot-data   # real-val (see build_real_val.py)
    pip install -e ".[import]"                                          # real-val-2 (Collada meshes)
    python bench/build_eval_sets.py --root DATA [--states STATES] [--only val test] [--workers 2]

Writes under ``DATA``: ``val_v2`` (40 corpus-v2 validation objects), ``test_v2`` and ``test_ood_v2`` (120
each), ``real_val`` and ``real_val2`` (``build_real_val.py``), ``v2`` (300 corpus-v2 training objects), and
with ``--states`` the merge probe's 200 held-out states of ``v2`` (``merge_probe.py solids --every 3 --offset
1 2``: training objects the shipped merger never saw). Every set is generated from fixed seeds, so a rebuild
gives the same objects and the shipped pipeline the card's numbers. A set whose folder already holds its
object count is kept; a partly written one is completed (the generators keep what they find).

About 15 minutes on the 2-core CPU for everything (the states alone 5-10). Then, for example,
``autopartgen eval --data DATA/test_v2 --split all --method ours --workers 2 --out OUT``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent

# name -> (folder under --root, objects it holds when complete, the command after the interpreter)
GENERATE = ["-m", "autopartgen", "data", "generate", "--corpus", "v2", "--views", "1", "--quiet"]
SETS = {
    "val": ("val_v2", 40, GENERATE + ["--split", "val", "--n", "40", "--size", "160", "--no-samples"]),
    "test": ("test_v2", 120, GENERATE + ["--split", "test", "--n", "120", "--size", "160"]),
    "test-ood": ("test_ood_v2", 120, GENERATE + ["--split", "test-ood", "--n", "120", "--size", "160"]),
    "real-val": ("real_val", 36, [str(BENCH / "build_real_val.py")]),
    "real-val-2": ("real_val2", 50, [str(BENCH / "build_real_val.py"), "--sources",
                                     str(BENCH / "real_val2_sources.json")]),
    "probe-train": ("v2", 300, GENERATE + ["--split", "train", "--n", "300", "--no-samples"]),
}


def object_count(folder: Path) -> int:
    """Objects in a dataset folder: its subfolders holding a ``meta.json``."""
    return sum(1 for child in folder.iterdir() if (child / "meta.json").is_file()) if folder.is_dir() else 0


def build(name: str, root: Path, workers: int) -> None:
    folder, count, command = SETS[name]
    out = root / folder
    if object_count(out) >= count:
        print(f"{name}: {out} holds its {count} objects; kept")
        return
    command = [sys.executable, *command, "--out", str(out)]
    if command[1] == "-m":
        command += ["--workers", str(workers)]
    print(f"{name}: {' '.join(command[1:])}", flush=True)
    subprocess.run(command, check=True)
    if object_count(out) < count:  # build_real_val skips a model whose package is missing
        print(f"{name}: {out} holds {object_count(out)} of {count} objects; see the warnings above "
              "(a missing package: install it as this script's docstring says)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="folder to write the sets into")
    parser.add_argument("--states", type=Path, help="also save the merge probe's held-out states here")
    parser.add_argument("--only", nargs="+", choices=sorted(SETS), help="these sets only (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the procedural sets")
    args = parser.parse_args(argv)
    names = args.only or list(SETS)
    if args.states is not None and "probe-train" not in names:
        names.append("probe-train")
    args.root.mkdir(parents=True, exist_ok=True)
    try:
        for name in names:
            build(name, args.root, args.workers)
        if args.states is not None:  # merge_probe keeps the states it finds
            print(f"states: merge_probe.py solids -> {args.states}", flush=True)
            subprocess.run([sys.executable, str(BENCH / "merge_probe.py"), "solids", "--data",
                            str(args.root / SETS["probe-train"][0]), "--out", str(args.states), "--every", "3",
                            "--offset", "1", "2"], check=True)
    except subprocess.CalledProcessError as error:
        print(f"build_eval_sets: {' '.join(map(str, error.cmd[1:3]))} failed (exit {error.returncode}); "
              "rerun to complete the set", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
