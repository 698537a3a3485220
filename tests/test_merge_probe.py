"""bench/merge_probe.py: the replayed merge and its true-grouping ceiling, on a merge state built by hand."""

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
    rows = table_rows(probe.score(tmp_path, None, [0.6, 1.0], None))
    assert set(rows) == {"0.6", "1", "true grouping"}

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
    assert rows["true grouping"][2] == 0.0
    # a stricter merge threshold never leaves fewer parts: the same greedy order, stopped sooner
    assert rows["1"][2] >= rows["0.6"][2]
    for name in ("0.6", "1"):
        assert rows[name][0] <= rows["true grouping"][0] + 1e-9
