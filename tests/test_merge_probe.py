"""bench/merge_probe.py: the replayed merge and its true-grouping ceiling, on a merge state built by hand."""

import json

import numpy as np
import pytest

from autopartgen.eval.ours import _pipeline
from autopartgen.geometry import regions
from autopartgen.part_loop import AnchoredPolicy
from test_regions import turned_box_with_door


def test_true_grouping_gives_each_region_its_majority_part(bench_script):
    probe = bench_script("merge_probe")
    cell_regions = np.array([0, 0, 0, 1, 1, 2, 2])
    truth = np.array([1, 1, 0, 0, 0, 2, 0])
    assert probe.true_grouping(cell_regions, truth).tolist() == [1, 1, 1, 0, 0, 0, 0]  # a tie goes to the lower part


def table_rows(table: str) -> dict:
    """'| name | iou | f1 | count error |' rows of the probe's markdown table, by name."""
    rows = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("threshold", "---"):
            rows[cells[0]] = [float(value) for value in cells[1:]]
    return rows


def test_score_replays_the_merge_and_reports_the_true_grouping(tmp_path, bench_script):
    probe = bench_script("merge_probe")
    inside, door = turned_box_with_door(0.0)
    state = dict(inside=inside, claims=np.where(inside, 0, -1), claimed=2, truth=door[inside].astype(np.int64),
                 parts=2, output_parts=2)
    np.savez_compressed(tmp_path / "box_with_door.npz", **state)
    # the shipped merger reads the crease features: a state saved without the input's surface turns is refused
    with pytest.raises(SystemExit, match="no surface turns"):
        probe.score(tmp_path, None, [0.6], None)
    # a voxel solid has no mesh: its turns are zero (no surface folds anywhere)
    np.savez_compressed(tmp_path / "box_with_door.npz", turns=np.zeros((3, int(inside.sum())), np.float32), **state)
    rows = table_rows(probe.score(tmp_path, None, [0.6, 1.0], None, per_object=tmp_path / "objects.csv"))
    assert set(rows) == {"0.6", "1", "true grouping", "true grouping, thin ends reclaimed"}  # the shipped config's
    # the per-object CSV: one line per object and row, the table's means of one object
    import csv

    lines = list(csv.DictReader((tmp_path / "objects.csv").open()))
    assert [line["row"] for line in lines] == list(rows) and {line["state"] for line in lines} == {"box_with_door"}
    for line in lines:
        assert float(line["part_iou"]) == pytest.approx(rows[line["row"]][0], abs=5e-4)
        assert float(line["f1"]) == pytest.approx(rows[line["row"]][1], abs=5e-4)
        assert int(line["n_pred"]) - int(line["n_gt"]) == pytest.approx(rows[line["row"]][2], abs=5e-3)

    # the true grouping by hand: each starting region to the part holding most of its cells
    pipe = _pipeline(None)
    spacing = regions.spacing_cells(float(pipe._setting("basin_spacing", 0.125)), 64)
    start = regions.initial_regions(inside, spacing, bool(pipe._setting("face_cuts", False)),
                                    AnchoredPolicy.min_part_cells)[0]
    door_regions = [r for r in range(int(start.max()) + 1) if door[start == r].mean() > 0.5]
    predicted_door = np.isin(start, door_regions)
    body, predicted_body = inside & ~door, inside & ~predicted_door
    ious = [(a & b).sum() / (a | b).sum() for a, b in ((predicted_door, door), (predicted_body, body))]
    assert rows["true grouping"][0] == pytest.approx(np.mean(ious), abs=1e-3)
    assert rows["true grouping"][0] > 0.9  # face cuts separate the flush door (test_regions)
    # with thin ends reclaimed (the config's thin_end_ratio / thin_end_reach), as regions does it
    grouped = np.where(predicted_door, 1, np.where(inside, 0, -1))
    thickness = regions.local_thickness(inside, regions.depth_field(inside))
    reclaimed = regions.reclaim_thin_ends(grouped, thickness, float(pipe._setting("thin_end_ratio", None)),
                                          float(pipe._setting("thin_end_reach", None)))
    ious = [((reclaimed == 1) & door).sum() / ((reclaimed == 1) | door).sum(),
            ((reclaimed == 0) & body).sum() / ((reclaimed == 0) | body).sum()]
    assert rows["true grouping, thin ends reclaimed"][0] == pytest.approx(np.mean(ious), abs=1e-3)
    assert rows["true grouping"][2] == 0.0
    # a stricter merge threshold never leaves fewer parts: the same greedy order, stopped sooner
    assert rows["1"][2] >= rows["0.6"][2]
    for name in ("0.6", "1"):
        assert rows[name][0] <= rows["true grouping"][0] + 1e-9


def test_stops_follow_the_greedy_path_and_bound_every_threshold(tmp_path, bench_script):
    probe = bench_script("merge_probe")
    inside, door = turned_box_with_door(0.0)
    truth = door[inside].astype(np.int64)
    np.savez_compressed(tmp_path / "box_with_door.npz", inside=inside, claims=np.where(inside, 0, -1), claimed=2,
                        truth=truth, parts=2, turns=np.zeros((3, int(inside.sum())), np.float32))
    pipe = _pipeline(None)
    spacing = regions.spacing_cells(float(pipe._setting("basin_spacing", 0.125)), 64)
    face_cuts = bool(pipe._setting("face_cuts", False))
    turns = np.zeros((3,) + inside.shape)
    context = pipe.region_merger.reads_object_features  # the shipped merger reads the object features
    cell_regions, merges = probe.merge_path(inside, pipe.region_merger.probability, spacing, face_cuts,
                                            AnchoredPolicy.min_part_cells, turns, context)
    starting = int(cell_regions.max()) + 1
    assert starting > 2 and len(merges) == starting - 1  # one solid: merged down to one region
    steps = probe.path_scores(cell_regions, merges, truth, 2)
    assert [s["n_pred"] for s in steps] == list(range(starting, 0, -1))
    assert steps[0]["part_iou"] == pytest.approx(probe.cell_scores(cell_regions, truth, 2)["part_iou"])
    # two regions left on the path = the loop's merge asked to stop at two parts (same greedy order)
    two = regions.merged_regions(inside, pipe.region_merger.probability, spacing, face_cuts, -1.0, None, 0,
                                 floor=2, threshold_below_floor=2.0, turns=turns, context=context)
    assert steps[-2]["part_iou"] == pytest.approx(probe.cell_scores(two[inside], truth, 2)["part_iou"])

    rows = {}
    for line in probe.stops(tmp_path, None, [0.6, 1.0], None).splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 5 and cells[0] not in ("stop", "---"):
            rows[cells[0]] = [float(value) for value in cells[1:]]
    assert set(rows) == {"threshold 0.6", "threshold 1", "true part count", "best part IoU (oracle)", "best F1 (oracle)"}
    assert rows["true part count"][2] == 0.0 and rows["true part count"][3] == 1.0
    assert rows["true part count"][0] == pytest.approx(steps[-2]["part_iou"], abs=1e-3)
    assert rows["threshold 1"][0] == pytest.approx(steps[0]["part_iou"], abs=1e-3)  # no pair scores above 1
    for name in ("threshold 0.6", "threshold 1", "true part count"):
        assert rows[name][0] <= rows["best part IoU (oracle)"][0] + 1e-9
        assert rows[name][1] <= rows["best F1 (oracle)"][1] + 1e-9


def test_the_referee_rows_reach_the_true_grouping_from_either_extreme_merger(bench_script):
    """On a box with a flush door: a merger that never merges, refereed to make every missed merge, and one
    that always merges, refereed to refuse every wrong merge, both end at the true grouping of the starting
    regions; unrefereed, the first keeps the starting regions and the second leaves one part."""
    probe = bench_script("merge_probe")
    inside, door = turned_box_with_door(0.0)
    truth = door[inside].astype(np.int64)
    spacing = regions.spacing_cells(0.125, 64)
    start = regions.initial_regions(inside, spacing, True, AnchoredPolicy.min_part_cells)[0]
    assert start.max() + 1 > 2
    grouped = probe.cell_scores(probe.true_grouping(start[inside], truth), truth, 2)
    never = probe.refereed_merges(inside, truth, lambda f: np.zeros(len(f)), spacing, True, 0.5, 1000, 0, 0.8)
    always = probe.refereed_merges(inside, truth, lambda f: np.ones(len(f)), spacing, True, 0.5, 1000, 0, 0.8)
    for merged, referee in ((never, "no missed merges"), (always, "no wrong merges")):
        assert probe.cell_scores(merged[referee], truth, 2)["part_iou"] == pytest.approx(grouped["part_iou"])
        assert probe.cell_scores(merged["true grouping"], truth, 2)["part_iou"] == pytest.approx(grouped["part_iou"])
    assert len(np.unique(never["shipped"])) == start.max() + 1
    assert len(np.unique(always["shipped"])) == 1
    assert (never["no wrong merges"] == never["shipped"]).all()  # nothing to refuse when nothing merges


def test_solids_saves_claim_free_states_of_the_chosen_objects_as_training_holds_them(tmp_path, bench_script):
    """`solids` picks objects as the training command does, saves each one's solid, per-cell truth and turns
    as `object_solid` makes them (or reads them from a merger run's cache), all its parts and no claims; `score`
    then replays the merge at the threshold alone (no floor of claimed parts)."""
    from autopartgen.data.dataset import generate_and_write, list_objects
    from autopartgen.eval.runner import load_gt_parts
    from autopartgen.train.region_merger import object_solid, solid_settings

    probe = bench_script("merge_probe")
    for seed in range(3):
        generate_and_write(tmp_path / "data", seed, n_views=1, size=64, resolution=24)
    objects = list_objects(tmp_path / "data")
    # a merger run's cache holds the second object's solid: a box with a flush door, not its own shape
    inside, door = turned_box_with_door(0.0)
    cached_turns = np.full((3, int(inside.sum())), 0.5, np.float32)
    (tmp_path / "run" / "solids").mkdir(parents=True)
    np.savez_compressed(tmp_path / "run" / "solids" / f"{objects[1].name}.npz", inside=inside,
                        truth=np.where(inside, door, -1).astype(np.int16), turns=cached_turns)
    assert probe.save_solids(tmp_path / "data", tmp_path / "states", 3, [1, 2], tmp_path / "run") == 2
    assert sorted(f.stem for f in (tmp_path / "states").glob("*.npz")) == sorted(d.name for d in objects[1:])

    cached = dict(np.load(tmp_path / "states" / f"{objects[1].name}.npz"))
    assert (cached["inside"] == inside).all() and (cached["truth"] == door[inside]).all()
    assert np.array_equal(cached["turns"], cached_turns) and int(cached["claimed"]) == 0
    made = dict(np.load(tmp_path / "states" / f"{objects[2].name}.npz"))
    settings = solid_settings(_pipeline(None))
    solid, truth, turns = object_solid(objects[2], settings["grid"], settings["surface_samples"], 0)
    assert made["inside"].shape == (settings["grid"],) * 3 and (made["inside"] == solid).all()
    assert (made["truth"] == truth[solid]).all() and np.allclose(made["turns"], turns[:, solid])
    assert int(made["parts"]) == len(load_gt_parts(objects[2])) and int(made["claimed"]) == 0
    # a second run keeps the states it finds
    assert probe.save_solids(tmp_path / "data", tmp_path / "states", 3, [1, 2], tmp_path / "run") == 0
    # a cache whose solids were made on another anchor grid is refused, nothing written
    (tmp_path / "run" / "examples.json").write_text(json.dumps({**settings, "grid": settings["grid"] // 2}))
    with pytest.raises(SystemExit, match="grid"):
        probe.save_solids(tmp_path / "data", tmp_path / "other", 3, [1, 2], tmp_path / "run")
    assert not (tmp_path / "other").exists()

    # no claims: the replay merges at the threshold down to any count, as the loop with a floor of 0 parts
    pipe = _pipeline(None)
    spacing = regions.spacing_cells(float(pipe._setting("basin_spacing", 0.125)), settings["grid"])
    expected = []
    for state in (cached, made):
        state_turns = np.zeros((3,) + state["inside"].shape)
        state_turns[:, state["inside"]] = state["turns"]
        merged = regions.merged_regions(state["inside"], pipe.region_merger.probability, spacing, settings["face_cuts"],
                                        0.6, 16, AnchoredPolicy.min_part_cells, turns=state_turns, context=True)
        expected.append(probe.cell_scores(merged[state["inside"]], state["truth"].astype(np.int64),
                                          int(state["parts"]))["part_iou"])
    rows = table_rows(probe.score(tmp_path / "states", None, [0.6], 16))
    assert rows["0.6"][0] == pytest.approx(np.mean(expected), abs=1e-3)
