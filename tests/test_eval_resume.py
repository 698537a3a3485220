"""`autopartgen eval` writes results.csv as objects finish, and `--resume` scores only what is missing."""

import os
import signal
import threading
import time

import pytest

from autopartgen.errors import PartGenError
from autopartgen.eval import runner
from test_baselines import box, two_boxes, write_object

SETTINGS = runner.EvalSettings(input_form="concat", grid=16, n_samples=300)


@pytest.fixture()
def data(tmp_path):
    root = tmp_path / "data"
    write_object(root / "a", two_boxes())
    write_object(root / "b", [box((0.5, 0.5, 0.5))])
    write_object(root / "c", [box((0.3, 0.6, 0.3))])
    return root


class CountingMethod:
    """A registered method that records which objects it ran on and can fail on one (like a kill)."""

    def __init__(self, interrupt_on=None):
        self.seen, self.interrupt_on = [], interrupt_on

    def __call__(self, mesh, *, object_dir, **_):
        if object_dir.name == self.interrupt_on:
            raise KeyboardInterrupt
        self.seen.append(object_dir.name)
        return runner.load_gt_parts(object_dir)


@pytest.fixture()
def method():
    counting = CountingMethod()
    runner.register_method("counting", counting)
    yield counting
    runner.METHODS.pop("counting")


def evaluate(data, out, methods, **kwargs):
    return runner.run_eval(data, out, methods, split=None, settings=kwargs.pop("settings", SETTINGS),
                           gallery_count=0, progress=False, **kwargs)


def test_rows_are_on_disk_as_each_object_finishes(data, tmp_path, method):
    out = tmp_path / "out"
    method.interrupt_on = "c"  # the run dies on the third object
    with pytest.raises(KeyboardInterrupt):
        evaluate(data, out, ["single", "counting"])
    written = runner.read_csv(out / "results.csv")
    assert [(row["object_id"], row["method"]) for row in written] == [
        ("a", "single"), ("a", "counting"), ("b", "single"), ("b", "counting")]


def test_resume_scores_only_the_missing_pairs(data, tmp_path, method):
    out = tmp_path / "out"
    method.interrupt_on = "c"
    with pytest.raises(KeyboardInterrupt):
        evaluate(data, out, ["counting"])
    method.interrupt_on, method.seen = None, []
    rows = evaluate(data, out, ["counting", "single"], resume=True)
    assert method.seen == ["c"]  # a and b were scored before
    assert [(row["object_id"], row["method"]) for row in rows] == [
        (obj, name) for obj in "abc" for name in ("counting", "single")]
    assert all(row["part_iou"] == 1.0 for row in rows if row["method"] == "counting")
    on_disk = runner.read_csv(out / "results.csv")
    assert [(row["object_id"], row["method"]) for row in on_disk] == [
        (row["object_id"], row["method"]) for row in rows]

    method.seen = []
    evaluate(data, out, ["counting"])  # without --resume: everything again
    assert method.seen == ["a", "b", "c"] and len(runner.read_csv(out / "results.csv")) == 3


def test_a_line_cut_short_is_scored_again(data, tmp_path, method):
    out = tmp_path / "out"
    evaluate(data, out, ["counting"])
    csv_path = out / "results.csv"
    text = csv_path.read_text()
    csv_path.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 12])  # the last row loses its tail
    method.seen = []
    evaluate(data, out, ["counting"], resume=True)
    assert method.seen == ["c"] and len(runner.read_csv(csv_path)) == 3


def test_resume_with_other_settings_is_refused(data, tmp_path, method):
    out = tmp_path / "out"
    evaluate(data, out, ["single"])
    before = (out / "results.csv").read_bytes()
    other = runner.EvalSettings(input_form="concat", grid=32, n_samples=300)
    with pytest.raises(PartGenError, match="grid"):
        evaluate(data, out, ["single"], settings=other, resume=True)
    assert (out / "results.csv").read_bytes() == before


class SleepyMethod:
    """The ground truth at once on object "a", after a long sleep on the others."""

    def __call__(self, mesh, *, object_dir, **_):
        if object_dir.name != "a":
            time.sleep(60)
        return runner.load_gt_parts(object_dir)


def test_an_interrupt_stops_a_run_with_workers_at_once_and_keeps_finished_rows(data, tmp_path):
    """Ctrl-C (or SIGTERM through the CLI) while worker processes score objects: the workers are stopped
    rather than waited for, and the rows of the objects already scored stay on disk for --resume."""
    runner.register_method("sleepy", SleepyMethod())
    out = tmp_path / "out"
    timer = threading.Timer(6.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    # Python's Ctrl-C handler, even when the test run inherited SIGINT ignored (started in the background)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    start = time.monotonic()
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            evaluate(data, out, ["sleepy"], workers=2)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
        runner.METHODS.pop("sleepy")
    assert time.monotonic() - start < 30  # two objects still sleep for a minute each
    assert [row["object_id"] for row in runner.read_csv(out / "results.csv")] == ["a"]


def test_the_command_line_resume_flag_keeps_the_scored_rows(data, tmp_path, method):
    """`autopartgen eval --resume` reaches the runner: the objects already in results.csv are not run again
    (it once dropped the flag and scored everything afresh)."""
    from autopartgen.cli import main

    out = tmp_path / "out"
    args = ["eval", "--data", str(data), "--split", "all", "--method", "counting", "--out", str(out), "--quiet",
            "--gallery", "0", "--input", "concat", "--grid", "16", "--samples", "300"]
    method.interrupt_on = "c"
    assert main(args) != 0  # the command reports the interruption and exits with an error code
    assert len(runner.read_csv(out / "results.csv")) == 2
    method.interrupt_on, method.seen = None, []
    assert main(args + ["--resume"]) == 0
    assert method.seen == ["c"] and len(runner.read_csv(out / "results.csv")) == 3
    method.seen = []
    assert main(args) == 0  # without the flag: every object again
    assert method.seen == ["a", "b", "c"]


def test_the_summary_says_when_the_machine_was_loaded(data, tmp_path, monkeypatch, caplog):
    cores = os.cpu_count()
    samples = iter([0.2, cores + 1.5, 0.4, 0.3])  # one sample while more processes wanted a core than there were
    monkeypatch.setattr(runner, "machine_load", lambda: next(samples))
    evaluate(data, tmp_path / "loaded", ["single"])
    summary = (tmp_path / "loaded" / "summary.md").read_text()
    line = next(text for text in summary.splitlines() if text.startswith("- load_average:"))
    assert f"peak {cores + 1.5:.2f} on {cores} cores" in line and "not a timing" in line
    assert any("time_s is not a timing" in record.getMessage() for record in caplog.records)

    monkeypatch.setattr(runner, "machine_load", lambda: cores * 0.5)
    caplog.clear()
    evaluate(data, tmp_path / "idle", ["single"])
    line = next(text for text in (tmp_path / "idle" / "summary.md").read_text().splitlines()
                if text.startswith("- load_average:"))
    assert line == f"- load_average: `mean {cores * 0.5:.2f}, peak {cores * 0.5:.2f} on {cores} cores`"
    assert not any("not a timing" in record.getMessage() for record in caplog.records)
