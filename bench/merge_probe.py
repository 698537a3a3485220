"""The merge stage alone: score merge settings and region mergers in seconds, not a full `eval`.

    python bench/merge_probe.py dump --data DATA --out STATES [--weights DIR] [--shard 0/2]
    python bench/merge_probe.py score STATES [--weights DIR] [--thresholds 0.6,0.9] [--max-parts 16]

``dump`` runs the anchored pipeline on each object's fused whole (as ``autopartgen eval`` feeds it, seed 0)
and saves, at the moment it merges regions, the input's solid on the anchor grid, the parts the DiT
claimed and their count, how the input surface bends near each inside cell (``regions.surface_turns``,
read by the config's crease rule), with the ground-truth part of each inside cell (``partition.labels_from_parts``,
the rule the training prep uses): ``STATES/<object id>.npz``. It takes as long as the pipeline (10-40 s an
object on the 2-core CPU); run shards in parallel with ``--shard i/n``.

``score`` replays the merge (``regions.merged_regions``, as the anchored loop calls it) on the
saved states with the region merger of ``--weights`` (default: the shipped model) and each threshold
``t`` (``t`` above the claimed count, ``max(t, merge_threshold_below_claims)`` below it), and prints one
markdown row per threshold: cell-level matched-part IoU and F1 at IoU 0.5 (``eval/metrics.part_scores``
on the cells of the solid rather than on the cut meshes, so the values differ a little from `eval`'s) and
the mean part-count error. The cut, slivers and whole pieces that follow the merge are not replayed.
A last row, "true grouping", gives each region the merge starts from (``regions.initial_regions``) to
the ground-truth part holding most of its cells: the best any merger can do with those regions, so the
gap between it and a threshold's row is the merger's, the rest the over-segmentation's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def dump(data: Path, out: Path, weights: str | None, shard: tuple[int, int]) -> None:
    import autopartgen.part_loop as part_loop
    from autopartgen.eval.ours import _pipeline
    from autopartgen.eval.runner import find_objects, load_object, make_input_mesh
    from autopartgen.geometry import partition, regions
    from autopartgen.geometry.normalize import apply_normalization
    from autopartgen.options import GenerationOptions

    captured: dict = {}
    merge_regions = part_loop.AnchoredPolicy.merge_regions

    def capturing_merge(policy, labels, state):
        captured.update(inside=policy.inside.copy(), claims=labels.copy(), claimed=len(state.parts),
                        normalization=policy.normalization,
                        turns=regions.surface_turns(policy.vertices, policy.faces, policy.inside)[:, policy.inside])
        return merge_regions(policy, labels, state)

    part_loop.AnchoredPolicy.merge_regions = capturing_merge  # this process only: a probe, not the product
    pipe = _pipeline(weights)
    out.mkdir(parents=True, exist_ok=True)
    index, count = shard
    for position, object_dir in enumerate(find_objects(data, "all")):
        target = out / f"{object_dir.name}.npz"
        if position % count != index or target.exists():
            continue
        obj = load_object(object_dir)
        captured.clear()
        options = GenerationOptions(seed=0, progress=False)
        result = pipe.generate(mesh=make_input_mesh(obj.parts, "fused"), options=options)
        if "inside" not in captured:
            print(f"{obj.object_id}: no merge ({result.stop_reason}); skipped", file=sys.stderr)
            continue
        inside = captured["inside"]
        triangles = [apply_normalization(np.asarray(part.vertices), *captured["normalization"])[np.asarray(part.faces)]
                     for part in obj.parts]
        truth = partition.labels_from_parts(triangles, inside)
        np.savez_compressed(target, inside=inside, claims=captured["claims"], claimed=captured["claimed"],
                            truth=truth[inside], parts=len(obj.parts), output_parts=len(result.parts),
                            turns=captured["turns"].astype(np.float32))
        print(f"{obj.object_id}: {len(obj.parts)} parts, {len(result.parts)} out", flush=True)


def cell_scores(predicted: np.ndarray, truth: np.ndarray, parts: int) -> dict:
    """``part_scores`` of (N,) predicted regions against (N,) ground-truth parts of the same cells."""
    from autopartgen.eval.metrics import iou_matrix, part_scores

    regions_one_hot = predicted[None] == np.arange(int(predicted.max()) + 1)[:, None]
    return part_scores(iou_matrix(regions_one_hot, truth[None] == np.arange(parts)[:, None]))


def true_grouping(regions: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N,) regions of N cells -> (N,) the ground-truth part (``truth``, (N,)) holding most of each
    region's cells: the parts a merger that never errs would make of these regions."""
    counts = np.zeros((int(regions.max()) + 1, int(truth.max()) + 1), np.int64)
    np.add.at(counts, (regions, truth), 1)
    return counts.argmax(1)[regions]


def score(states: Path, weights: str | None, thresholds: list[float], max_parts: int | None) -> str:
    from autopartgen.eval.ours import _pipeline
    from autopartgen.geometry import regions
    from autopartgen.options import GenerationOptions
    from autopartgen.part_loop import AnchoredPolicy, max_input_parts_setting

    pipe = _pipeline(weights)
    if pipe.region_merger is None:
        raise SystemExit(f"{weights or 'the shipped model'} has no region merger; pass a model folder with one")
    grid = GenerationOptions().anchor_grid
    spacing = regions.spacing_cells(float(pipe._setting("basin_spacing", 0.125)), grid)
    face_cuts = bool(pipe._setting("face_cuts", False))
    below_claims = float(pipe._setting("merge_threshold_below_claims", 0.8))
    crease_turn = pipe._setting("crease_turn", None)
    crease = None if crease_turn is None else (float(crease_turn), float(pipe._setting("crease_factor", 0.5)))
    limit = max_parts or max_input_parts_setting(pipe)
    files = sorted(states.glob("*.npz"))
    if not files:
        raise SystemExit(f"{states} holds no saved states; run `python bench/merge_probe.py dump` first")
    columns = {threshold: [] for threshold in thresholds}
    columns["true grouping"] = []
    for file in files:
        state = dict(np.load(file))
        inside, truth, parts = state["inside"], state["truth"].astype(np.int64), int(state["parts"])
        start = regions.initial_regions(inside, spacing, face_cuts, AnchoredPolicy.min_part_cells)
        turns = None
        if "turns" in state:  # states saved before the crease rule have none: replayed without it
            turns = np.zeros((3,) + inside.shape)
            turns[:, inside] = state["turns"]
        elif pipe.region_merger.num_features > regions.NUM_FEATURES:
            raise SystemExit(f"{file} holds no surface turns, which this merger reads (crease features); "
                             "dump the states again with this version of the probe")
        for threshold in thresholds:  # each merge starts from the same over-segmentation
            predicted = regions.merged_regions(inside, pipe.region_merger.probability, spacing, face_cuts, threshold,
                                               limit, AnchoredPolicy.min_part_cells, floor=int(state["claimed"]),
                                               threshold_below_floor=max(threshold, below_claims), start=start,
                                               turns=turns, crease=crease)
            columns[threshold].append(cell_scores(predicted[inside], truth, parts))
        grouped = np.unique(true_grouping(start[0][inside], truth), return_inverse=True)[1].reshape(-1)
        columns["true grouping"].append(cell_scores(grouped, truth, parts))
    lines = [f"{len(files)} objects of {states}, part limit {limit}", "",
             "| threshold | part IoU | F1 | mean part-count error |", "|---|---|---|---|"]
    for name, scores in columns.items():
        iou, f1, count_error = np.mean([(s["part_iou"], s["f1"], s["n_pred"] - s["n_gt"]) for s in scores], 0)
        label = f"{name:g}" if isinstance(name, float) else name
        lines.append(f"| {label} | {iou:.3f} | {f1:.3f} | {count_error:+.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    dumping = commands.add_parser("dump", help="save the merge-time state of every object")
    dumping.add_argument("--data", type=Path, required=True)
    dumping.add_argument("--out", type=Path, required=True)
    dumping.add_argument("--weights", default=None)
    dumping.add_argument("--shard", default="0/1", help="i/n: this process takes objects i, i+n, ...")
    scoring = commands.add_parser("score", help="replay the merge on saved states")
    scoring.add_argument("states", type=Path)
    scoring.add_argument("--weights", default=None)
    scoring.add_argument("--thresholds", default="0.6")
    scoring.add_argument("--max-parts", type=int, default=None)
    args = parser.parse_args(argv)
    if args.command == "dump":
        index, count = (int(v) for v in args.shard.split("/"))
        dump(args.data, args.out, args.weights, (index, count))
    else:
        print(score(args.states, args.weights, [float(t) for t in args.thresholds.split(",")], args.max_parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
