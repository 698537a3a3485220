"""bench/build_eval_sets.py: complete sets are kept, missing ones are built by the documented commands."""

import json
import subprocess
import sys

import pytest


def value(command: list, flag: str) -> str:
    return command[command.index(flag) + 1]


def test_a_complete_set_is_kept_and_a_missing_one_is_generated(bench_script, tmp_path, monkeypatch):
    sets = bench_script("build_eval_sets")
    for index in range(40):  # a complete val folder: 40 objects, each with its meta.json
        (tmp_path / "val_v2" / f"obj_{index}").mkdir(parents=True)
        (tmp_path / "val_v2" / f"obj_{index}" / "meta.json").write_text(json.dumps({}))
    (tmp_path / "test_v2" / "half_written").mkdir(parents=True)  # no meta.json: not an object yet
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda command, check: calls.append(command))
    assert sets.main(["--root", str(tmp_path), "--only", "val", "test", "--workers", "3"]) == 0
    assert len(calls) == 1  # val was complete
    command = calls[0]
    assert command[0] == sys.executable and command[1:5] == ["-m", "autopartgen", "data", "generate"]
    assert [value(command, flag) for flag in ("--split", "--n", "--corpus", "--workers")] == ["test", "120", "v2", "3"]
    assert value(command, "--out") == str(tmp_path / "test_v2")


def test_states_need_the_probe_training_objects_and_a_failure_says_what_to_do(bench_script, tmp_path, monkeypatch,
                                                                               capsys):
    sets = bench_script("build_eval_sets")
    calls = []

    def run(command, check):
        calls.append(command)
        if "solids" in command:
            raise subprocess.CalledProcessError(2, command)

    monkeypatch.setattr(subprocess, "run", run)
    assert sets.main(["--root", str(tmp_path), "--only", "val", "--states", str(tmp_path / "states")]) == 1
    assert [value(c, "--split") for c in calls if "--split" in c] == ["val", "train"]
    solids = calls[-1]
    assert value(solids, "--data") == str(tmp_path / "v2")
    assert solids[solids.index("--offset") + 1:] == ["1", "2"]
    assert "rerun to complete the set" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["val", "test", "test-ood", "probe-train"])
def test_every_procedural_set_names_its_split_and_count(bench_script, name):
    folder, count, command = bench_script("build_eval_sets").SETS[name]
    assert value(command, "--n") == str(count)
    assert value(command, "--split") == {"probe-train": "train"}.get(name, name)
