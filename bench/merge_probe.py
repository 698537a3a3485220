"""The merge stage alone: score merge settings and region mergers in seconds, not a full `eval`.

    python bench/merge_probe.py dump --data DATA --out STATES [--weights DIR] [--shard 0/2]
    python bench/merge_probe.py solids --data DATA --out STATES [--every 3 --offset 1 2] [--cache RUN]
    python bench/merge_probe.py score STATES [--weights DIR] [--thresholds 0.6,0.9] [--max-parts 16] [--per-object CSV]
    python bench/merge_probe.py stops STATES [--weights DIR] [--thresholds 0.5,0.6,0.7] [--max-parts 16]
    python bench/merge_probe.py errors STATES [--weights DIR] [--threshold 0.6] [--max-parts 16]

``dump`` runs the anchored pipeline on each object's fused whole (as ``autopartgen eval`` feeds it, seed 0)
and saves, at the moment it merges regions, the input's solid on the anchor grid, the parts the DiT
claimed and their count, how the input surface bends near each inside cell (``regions.surface_turns``,
read by the config's crease rule), with the ground-truth part of each inside cell (``partition.labels_from_parts``,
the rule the training prep uses): ``STATES/<object id>.npz``. It takes as long as the pipeline (10-40 s an
object on the 2-core CPU); run shards in parallel with ``--shard i/n``.

``solids`` saves states without running the pipeline, for many objects in little time: each object's fused
whole on the anchor grid as ``autopartgen train region-merger`` holds it (``train/region_merger.object_solid``;
read from ``RUN/solids/`` of a merger run when ``--cache RUN`` has it), with no DiT claims (``claimed`` 0,
so the merge threshold applies at every count). ``--every`` / ``--offset`` pick the objects as the
training command does (``train/region_merger.select_objects``): with the offsets a merger was not trained
on, these are training-split objects it never saw, far more of them than val holds (the shipped merger
took offset 0 of every 3; offsets 1 and 2 give 1,200 states of corpus v2's train split, about 13 minutes
on the 2-core CPU with a third of them cached).

``score`` replays the merge (``regions.merged_regions``, as the anchored loop calls it) on the
saved states with the region merger of ``--weights`` (default: the shipped model) and each threshold
``t`` (``t`` above the claimed count, ``max(t, merge_threshold_below_claims)`` below it), and prints one
markdown row per threshold: cell-level matched-part IoU and F1 at IoU 0.5 (``eval/metrics.part_scores``
on the cells of the solid rather than on the cut meshes, so the values differ a little from `eval`'s) and
the mean part-count error; ``--per-object CSV`` also writes each object's numbers per row (state, row,
part IoU, F1, predicted and true part counts), so that two runs on the same states can be paired. The cut,
slivers and whole pieces that follow the merge are not replayed.
A last row, "true grouping", gives each region the merge starts from (``regions.initial_regions``) to
the ground-truth part holding most of its cells: the best any merger can do with those regions, so the
gap between it and a threshold's row is the merger's, the rest the over-segmentation's.

``stops`` asks where the merge should stop. It follows the merger's greedy path from the starting regions
down to one region (the likeliest pair first, as the loop merges; no part count of the DiT's) and scores
the regions after every merge: rows for stopping at each threshold (the first merge scored at or below it,
once at most ``--max-parts`` regions remain), at the ground-truth part count (the region count nearest to
it: the best a perfect part-count predictor could do with this merger), and at the count with the best
part IoU, then the best F1, of each object (oracles: the most any stopping rule can reach on this path).
Small regions are not joined after the stop, so the threshold rows differ a little from ``score``'s.

``errors`` asks which of the merger's errors cost the most. It replays the merge as ``score`` does at one
threshold, then again with a ground-truth referee (``regions.merge_regions(referee=...)``): once refusing
every wrong merge (a pair whose regions' plurality parts differ scores 0), once making every missed merge
(a pair of one plurality part scores 1), the merger's scores elsewhere; beside them the true grouping. The
gap between the shipped row and each referee row is what that kind of error costs.
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


def save_solids(data: Path, out: Path, every: int, offsets: list[int], cache: Path | None, weights: str | None = None,
                seed: int = 0) -> int:
    """Save a claim-free state (``claimed`` 0) of each object ``select_objects(every, offsets)`` picks from
    ``data``: its solid, ground-truth part per inside cell and surface turns, made as the merger's training
    makes them (``cache/solids/<name>.npz`` when there, else ``object_solid`` with the settings of
    ``weights``' pipeline, ``solid_settings``, and ``seed``; a cache made with another anchor grid or surface
    sampling is refused). An object with an inside cell no part holds is skipped, as training skips it.
    Each state is written whole or not at all (a rerun keeps the states it finds). Returns the number of
    states written."""
    import json

    from autopartgen.data.dataset import list_objects, write_npz
    from autopartgen.eval.ours import _pipeline
    from autopartgen.eval.runner import load_gt_parts
    from autopartgen.train.region_merger import object_solid, read_cached_solid, select_objects, solid_settings

    object_dirs = select_objects(list_objects(data), every, offsets)
    if not object_dirs:
        raise SystemExit(f"{data} holds no objects at offsets {offsets} of every {every}; pass a dataset folder")
    settings = solid_settings(_pipeline(weights))
    record = None if cache is None else cache / "examples.json"  # train/region_merger.EXAMPLE_SETTINGS
    if record is not None and record.is_file():
        made_with = json.loads(record.read_text())
        changed = [key for key in ("grid", "surface_samples") if made_with.get(key) != settings[key]]
        if changed:
            raise SystemExit(f"{cache}: its solids were made with another {' and '.join(changed)} than the model's "
                             f"({settings['grid']}^3 grid, {settings['surface_samples']} samples); pass --weights "
                             "of that run's model or no --cache")
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for object_dir in object_dirs:
        target = out / f"{object_dir.name}.npz"
        if target.exists():
            continue
        cached = None if cache is None else read_cached_solid(cache / "solids" / f"{object_dir.name}.npz")
        if cached is not None and cached[2] is not None:
            inside, truth, inside_turns = cached
        else:  # as the training command makes it with this model
            inside, truth, turns = object_solid(object_dir, settings["grid"], settings["surface_samples"], seed)
            inside_turns = turns[:, inside]
        truth = truth[inside]
        if not inside.any() or (truth < 0).any():
            print(f"{object_dir.name}: a cell of its solid lies in no part; skipped", file=sys.stderr)
            continue
        # all its parts, as `dump` and `eval` count them (a part too thin for any cell is one no merge finds)
        write_npz(target, {"inside": inside, "claims": np.where(inside, 0, -1), "claimed": 0, "truth": truth,
                           "parts": len(load_gt_parts(object_dir)), "turns": inside_turns.astype(np.float32)})
        written += 1
    return written


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


def merge_settings(weights: str | None, max_parts: int | None) -> tuple:
    """The model of ``weights`` (default: the shipped one) and how its loop merges: (pipeline, basin
    spacing in cells, face cuts, the part limit: ``max_parts`` or the config's)."""
    from autopartgen.eval.ours import _pipeline
    from autopartgen.geometry import regions
    from autopartgen.options import GenerationOptions
    from autopartgen.part_loop import max_input_parts_setting

    pipe = _pipeline(weights)
    if pipe.region_merger is None:
        raise SystemExit(f"{weights or 'the shipped model'} has no region merger; pass a model folder with one")
    spacing = regions.spacing_cells(float(pipe._setting("basin_spacing", 0.125)), GenerationOptions().anchor_grid)
    return pipe, spacing, bool(pipe._setting("face_cuts", False)), max_parts or max_input_parts_setting(pipe)


def merge_rule(pipe) -> tuple[float, tuple[float, float] | None]:
    """How the loop of ``pipe``'s config merges past the thresholds: (the threshold below the DiT's claimed
    count, the crease rule ``(turn, factor)`` or None)."""
    crease_turn = pipe._setting("crease_turn", None)
    crease = None if crease_turn is None else (float(crease_turn), float(pipe._setting("crease_factor", 0.5)))
    return float(pipe._setting("merge_threshold_below_claims", 0.8)), crease


def state_files(states: Path) -> list[Path]:
    files = sorted(states.glob("*.npz"))
    if not files:
        raise SystemExit(f"{states} holds no saved states; run `python bench/merge_probe.py dump` first")
    return files


def read_state(file: Path, merger) -> tuple[dict, np.ndarray, np.ndarray, int, np.ndarray | None]:
    """A saved state: (its arrays, (n, n, n) inside, (N,) ground-truth part per inside cell, part count,
    (3, n, n, n) surface turns or None for states saved before the crease rule, refused when ``merger``
    reads the crease features)."""
    state = dict(np.load(file))
    inside, truth, parts = state["inside"], state["truth"].astype(np.int64), int(state["parts"])
    turns = None
    if "turns" in state:
        turns = np.zeros((3,) + inside.shape)
        turns[:, inside] = state["turns"]
    elif merger.reads_crease_features:
        raise SystemExit(f"{file} holds no surface turns, which this merger reads (crease features); "
                         "dump the states again with this version of the probe")
    return state, inside, truth, parts, turns


def score(states: Path, weights: str | None, thresholds: list[float], max_parts: int | None,
          per_object: Path | None = None) -> str:
    from autopartgen.geometry import regions
    from autopartgen.part_loop import AnchoredPolicy, smaller_side_setting, thin_ends_setting

    pipe, spacing, face_cuts, limit = merge_settings(weights, max_parts)
    below_claims, crease = merge_rule(pipe)
    thin_ends, smaller_side = thin_ends_setting(pipe), smaller_side_setting(pipe)
    # with thin_ends.first the starting regions are reclaimed once per object below, not in every merge
    after_merge = None if thin_ends is None else thin_ends._replace(first=False)
    files = state_files(states)
    columns = {threshold: [] for threshold in thresholds}
    columns["true grouping"] = []
    if thin_ends is not None:
        columns["true grouping, thin ends reclaimed"] = []
    for file in files:
        state, inside, truth, parts, turns = read_state(file, pipe.region_merger)
        start = regions.initial_regions(inside, spacing, face_cuts, AnchoredPolicy.min_part_cells)
        thickness = None if thin_ends is None else regions.local_thickness(inside, start[1])
        if thin_ends is not None and thin_ends.first:  # the merges start from these regions (reclaimed once
            start = regions.reclaimed_start(start, thickness, thin_ends)  # here), the true grouping groups them
        for threshold in thresholds:  # each merge starts from the same over-segmentation
            predicted = regions.merged_regions(inside, pipe.region_merger.probability, spacing, face_cuts, threshold,
                                               limit, AnchoredPolicy.min_part_cells, floor=int(state["claimed"]),
                                               threshold_below_floor=max(threshold, below_claims), start=start,
                                               turns=turns, crease=crease,
                                               context=pipe.region_merger.reads_object_features,
                                               thin_ends=after_merge,
                                               thickness=thickness, smaller_side=smaller_side)
            columns[threshold].append(cell_scores(predicted[inside], truth, parts))
        grouped = np.unique(true_grouping(start[0][inside], truth), return_inverse=True)[1].reshape(-1)
        columns["true grouping"].append(cell_scores(grouped, truth, parts))
        if thin_ends is not None:
            grid = np.full(inside.shape, -1, np.int64)
            grid[inside] = grouped
            reclaimed = regions.reclaim_thin_ends(grid, thickness, thin_ends.ratio, thin_ends.reach)[inside]
            columns["true grouping, thin ends reclaimed"].append(cell_scores(reclaimed, truth, parts))
    if per_object is not None:
        write_per_object(per_object, [file.stem for file in files], columns)
    lines = [f"{len(files)} objects of {states}, part limit {limit}", "",
             "| threshold | part IoU | F1 | mean part-count error |", "|---|---|---|---|"]
    for name, scores in columns.items():
        iou, f1, count_error = np.mean([(s["part_iou"], s["f1"], s["n_pred"] - s["n_gt"]) for s in scores], 0)
        label = f"{name:g}" if isinstance(name, float) else name
        lines.append(f"| {label} | {iou:.3f} | {f1:.3f} | {count_error:+.2f} |")
    return "\n".join(lines)


def write_per_object(path: Path, names: list[str], columns: dict) -> None:
    """``columns`` (row name -> one ``cell_scores`` dict per object, in the order of ``names``) as a CSV of
    one line per object and row, written whole (a temporary file renamed over ``path``)."""
    import csv

    temporary = path.with_name(path.name + ".partial")
    with temporary.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["state", "row", "part_iou", "f1", "n_pred", "n_gt"])
        for row, scores in columns.items():
            label = f"{row:g}" if isinstance(row, float) else row
            for name, value in zip(names, scores):
                writer.writerow([name, label, f"{value['part_iou']:.6f}", f"{value['f1']:.6f}",
                                 int(value["n_pred"]), int(value["n_gt"])])
    temporary.replace(path)


def merge_path(inside: np.ndarray, score, spacing: int, face_cuts: bool, min_cells: int,
               turns: np.ndarray | None = None, context: bool = False) -> tuple[np.ndarray, list]:
    """The greedy merge of ``inside``'s starting regions (``regions.initial_regions``) down to one region
    per separate piece of the solid, every pair merged as the loop would take it (``regions.merge_regions``
    with no threshold). Returns the
    (N,) starting region of each inside cell and the merges, a list of ``(a, b, score)``: region ``b``
    joined into ``a`` (starting-region ids) when the likeliest touching pair scored ``score``."""
    from autopartgen.geometry import regions

    start = regions.initial_regions(inside, spacing, face_cuts, min_cells)
    graph = regions.RegionGraph.from_segments(*start, turns, context)
    merges: list = []
    regions.merge_regions(graph, score, threshold=-1.0, on_merge=lambda a, b, p: merges.append((a, b, p)))
    return start[0][inside], merges


def path_scores(cell_regions: np.ndarray, merges: list, truth: np.ndarray, parts: int) -> list[dict]:
    """``part_scores`` of the regions before each merge of ``merges`` and after the last (len + 1 dicts,
    from the starting regions down): ``cell_regions`` (N,) starting region per cell, ``truth`` (N,)
    ground-truth part per cell. Each region's overlap with the parts is a sum over its starting
    regions, so no label grid is rebuilt per step."""
    from autopartgen.eval.metrics import part_scores

    count = int(cell_regions.max()) + 1
    overlap = np.zeros((count, parts))
    np.add.at(overlap, (cell_regions, truth), 1)
    part_size = overlap.sum(0)
    alive = set(range(count))
    steps = []
    for merge in list(merges) + [None]:
        rows = overlap[sorted(alive)]
        iou = rows / (rows.sum(1)[:, None] + part_size[None] - rows)
        steps.append(part_scores(iou))
        if merge is not None:
            a, b, _ = merge
            overlap[a] += overlap[b]
            alive.discard(b)
    return steps


def stops(states: Path, weights: str | None, thresholds: list[float], max_parts: int | None) -> str:
    from autopartgen.part_loop import AnchoredPolicy

    pipe, spacing, face_cuts, limit = merge_settings(weights, max_parts)
    files = state_files(states)
    rules = [f"threshold {t:g}" for t in thresholds] + ["true part count", "best part IoU (oracle)",
                                                         "best F1 (oracle)"]
    chosen: dict = {rule: [] for rule in rules}
    for file in files:
        _, inside, truth, parts, turns = read_state(file, pipe.region_merger)
        cell_regions, merges = merge_path(inside, pipe.region_merger.probability, spacing, face_cuts,
                                          AnchoredPolicy.min_part_cells, turns,
                                          pipe.region_merger.reads_object_features)
        steps = path_scores(cell_regions, merges, truth, parts)
        counts = np.array([s["n_pred"] for s in steps])  # regions before each merge, then after the last
        pair_scores = np.array([p for _, _, p in merges] + [-np.inf])
        for t, rule in zip(thresholds, rules):
            stopping = np.flatnonzero((pair_scores <= t) & (counts <= limit))
            chosen[rule].append(steps[stopping[0]])
        chosen["true part count"].append(steps[int(np.argmin(np.abs(counts - parts)))])
        chosen["best part IoU (oracle)"].append(max(steps, key=lambda s: s["part_iou"]))
        chosen["best F1 (oracle)"].append(max(steps, key=lambda s: (s["f1"], s["part_iou"])))
    return "\n".join([f"{len(files)} objects of {states}, part limit {limit}", ""] + mean_rows("stop", chosen))


def mean_rows(first_column: str, rows: dict) -> list[str]:
    """Markdown table lines: per row name, the mean part IoU, F1, part-count error and exact-count share of
    its ``part_scores`` dicts (one per object)."""
    lines = [f"| {first_column} | part IoU | F1 | mean part-count error | exact counts |", "|---|---|---|---|---|"]
    for name, scores in rows.items():
        iou, f1, error, exact = np.mean([(s["part_iou"], s["f1"], s["n_pred"] - s["n_gt"], s["n_pred"] == s["n_gt"])
                                         for s in scores], 0)
        lines.append(f"| {name} | {iou:.3f} | {f1:.3f} | {error:+.2f} | {exact:.3f} |")
    return lines


def plurality_referee(truth: np.ndarray, refuse_wrong: bool, make_missed: bool):
    """A ``regions.merge_regions`` referee that knows the ground truth (``truth``: (n, n, n) int part per
    cell): a pair whose regions' plurality parts differ scores 0 with ``refuse_wrong``, one whose parts
    agree scores 1 with ``make_missed``; other scores stay the merger's."""
    from autopartgen.geometry.regions import plurality_part

    def referee(graph, pairs: list, probabilities: np.ndarray) -> np.ndarray:
        probabilities = probabilities.copy()
        for index, (a, b) in enumerate(pairs):
            same = plurality_part(graph, a, truth) == plurality_part(graph, b, truth)
            if same and make_missed:
                probabilities[index] = 1.0
            elif not same and refuse_wrong:
                probabilities[index] = 0.0
        return probabilities
    return referee


def refereed_merges(inside: np.ndarray, truth: np.ndarray, score, spacing: int, face_cuts: bool, threshold: float,
                    limit: int, floor: int, below_floor: float, turns: np.ndarray | None = None,
                    context: bool = False, crease: tuple[float, float] | None = None) -> dict:
    """(N,) merged region per inside cell for the merge as the loop makes it ("shipped"), with wrong merges
    refused ("no wrong merges"), with missed merges made ("no missed merges"), and the true grouping of
    the starting regions; ``truth`` (N,) ground-truth part per inside cell; ``crease`` the config's crease
    rule (read only with ``turns``, as ``regions.merged_regions`` does)."""
    from autopartgen.geometry import regions
    from autopartgen.part_loop import AnchoredPolicy

    start = regions.initial_regions(inside, spacing, face_cuts, AnchoredPolicy.min_part_cells)
    truth_grid = np.zeros(inside.shape, np.int64)
    truth_grid[inside] = truth
    results = {}
    for name, refuse_wrong, make_missed in (("shipped", False, False), ("no wrong merges", True, False),
                                            ("no missed merges", False, True)):
        graph = regions.RegionGraph.from_segments(*start, turns, context)
        referee = plurality_referee(truth_grid, refuse_wrong, make_missed) if refuse_wrong or make_missed else None
        regions.merge_regions(graph, score, threshold, limit, AnchoredPolicy.min_part_cells, floor=floor,
                              threshold_below_floor=max(threshold, below_floor), referee=referee,
                              crease=crease if turns is not None else None)
        results[name] = graph.label_grid(inside.shape)[inside]
    results["true grouping"] = np.unique(true_grouping(start[0][inside], truth), return_inverse=True)[1].reshape(-1)
    return results


def errors(states: Path, weights: str | None, threshold: float, max_parts: int | None) -> str:
    pipe, spacing, face_cuts, limit = merge_settings(weights, max_parts)
    below_claims, crease = merge_rule(pipe)
    files = state_files(states)
    rows: dict = {}
    for file in files:
        state, inside, truth, parts, turns = read_state(file, pipe.region_merger)
        merged = refereed_merges(inside, truth, pipe.region_merger.probability, spacing, face_cuts, threshold, limit,
                                 int(state["claimed"]), below_claims, turns, pipe.region_merger.reads_object_features,
                                 crease)
        for name, predicted in merged.items():
            rows.setdefault(name, []).append(cell_scores(predicted, truth, parts))
    title = f"{len(files)} objects of {states}, threshold {threshold:g}, part limit {limit}"
    return "\n".join([title, ""] + mean_rows("merge", rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    dumping = commands.add_parser("dump", help="save the merge-time state of every object")
    dumping.add_argument("--data", type=Path, required=True)
    dumping.add_argument("--out", type=Path, required=True)
    dumping.add_argument("--weights", default=None)
    dumping.add_argument("--shard", default="0/1", help="i/n: this process takes objects i, i+n, ...")
    solids = commands.add_parser("solids", help="save claim-free states of objects as the merger's training holds them")
    solids.add_argument("--data", type=Path, required=True)
    solids.add_argument("--out", type=Path, required=True)
    solids.add_argument("--every", type=int, default=1, help="take every N-th object ...")
    solids.add_argument("--offset", type=int, nargs="+", default=[0], help="... from these offsets (0-based)")
    solids.add_argument("--cache", type=Path, default=None, help="a `train region-merger` run folder: its solids")
    solids.add_argument("--weights", default=None, help="the model whose loop settings make uncached solids")
    scoring = commands.add_parser("score", help="replay the merge on saved states")
    scoring.add_argument("states", type=Path)
    scoring.add_argument("--weights", default=None)
    scoring.add_argument("--thresholds", default="0.6")
    scoring.add_argument("--max-parts", type=int, default=None)
    scoring.add_argument("--per-object", type=Path, default=None, help="also write each object's numbers to this CSV")
    stopping = commands.add_parser("stops", help="where to stop merging: thresholds, the true count, oracles")
    stopping.add_argument("states", type=Path)
    stopping.add_argument("--weights", default=None)
    stopping.add_argument("--thresholds", default="0.5,0.6,0.7")
    stopping.add_argument("--max-parts", type=int, default=None)
    refereeing = commands.add_parser("errors", help="what wrong and missed merges cost (a ground-truth referee)")
    refereeing.add_argument("states", type=Path)
    refereeing.add_argument("--weights", default=None)
    refereeing.add_argument("--threshold", type=float, default=0.6)
    refereeing.add_argument("--max-parts", type=int, default=None)
    args = parser.parse_args(argv)
    if args.command == "dump":
        index, count = (int(v) for v in args.shard.split("/"))
        dump(args.data, args.out, args.weights, (index, count))
    elif args.command == "solids":
        written = save_solids(args.data, args.out, max(args.every, 1), args.offset, args.cache, args.weights)
        print(f"{written} states written to {args.out}")
    elif args.command == "errors":
        print(errors(args.states, args.weights, args.threshold, args.max_parts))
    elif args.command == "stops":
        print(stops(args.states, args.weights, [float(t) for t in args.thresholds.split(",")], args.max_parts))
    else:
        print(score(args.states, args.weights, [float(t) for t in args.thresholds.split(",")], args.max_parts,
                    args.per_object))
    return 0


if __name__ == "__main__":
    sys.exit(main())
