"""The bad-input battery of `autopartgen generate`: each case is refused in one line with a non-zero exit
before any work, and the output folder is exactly as it was (absent stays absent, a previous run's
outputs stay byte for byte), or it is handled and the run succeeds.

Runs on a tiny random-weight model folder (the decisions of the model do not matter here).
"""

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from autopartgen.cli import main
from autopartgen.options import GenerationOptions, flag_name, value_kind
from test_generate_cli import generate, mesh_file, model_dir, one_line_error  # noqa: F401  (fixtures)


def folder_state(folder):
    """Everything under ``folder`` (names and bytes), or None when it does not exist."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else "dir") for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def previous_run(model_dir, mesh_file, tmp_path_factory):
    """An output folder holding a complete earlier run."""
    out = tmp_path_factory.mktemp("previous") / "out"
    assert generate(model_dir, "--mesh", mesh_file, "--output", out) == 0
    return out


def refused(capsys, model_dir, output, *args, expect: str) -> str:
    """Run generate with ``args`` into ``output``: non-zero exit, one line naming ``expect``, folder unchanged."""
    before = folder_state(output)
    try:
        code = generate(model_dir, *args, "--output", output)
    except SystemExit as exit_:  # argparse refuses the command line itself
        code = exit_.code
    assert code != 0
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "error:" in error, error
    assert expect in error, error
    assert folder_state(output) == before
    return error


def bad_values(spec):
    """Values the field must refuse (from its metadata): below / above its range, outside its choices."""
    kind, _ = value_kind(spec)
    low, high, choices = (spec.metadata.get(key) for key in ("low", "high", "choices"))
    values = []
    if low is not None:
        values.append(low - 1 if kind == "int" else low - 0.5)
    if high is not None:
        values.append(high + 1 if kind == "int" else high + 0.5)
    if choices:
        values.append("nope")
    return values


CASES = [(spec.name, value) for spec in dataclasses.fields(GenerationOptions) for value in bad_values(spec)]


def test_every_ranged_option_has_a_refused_value():
    ranged = {name for name, _ in CASES}
    numeric = {spec.name for spec in dataclasses.fields(GenerationOptions) if value_kind(spec)[0] in ("int", "float")}
    assert numeric <= ranged  # no number without a range
    assert {"max_parts", "grid_size", "num_steps", "seed", "iou_threshold", "parts", "isosurface_backend"} <= ranged


@pytest.mark.parametrize("name,value", CASES)
def test_bad_option_value_refused_before_any_work(name, value, model_dir, mesh_file, tmp_path, capsys, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded for a bad command line")

    monkeypatch.setattr("autopartgen.pipeline.AutoPartGen.from_pretrained", no_model)
    dashed = flag_name(name)
    refused(capsys, model_dir, tmp_path / "new", "--mesh", mesh_file, dashed, value, expect=dashed)
    underscored = f"--{name}"  # the old spelling, refused the same way
    refused(capsys, model_dir, tmp_path / "new", "--mesh", mesh_file, underscored, value, expect=dashed)


def test_issue_examples(model_dir, mesh_file, previous_run, capsys):
    refused(capsys, model_dir, previous_run, "--mesh", mesh_file, "--grid_size", "-4", expect="--grid-size -4")
    refused(capsys, model_dir, previous_run, "--mesh", mesh_file, "--max_parts", "0", expect="--max-parts 0")
    refused(capsys, model_dir, previous_run, "--mesh", mesh_file, "--grid-size", "100", expect="--grid-size 100")
    refused(capsys, model_dir, previous_run, "--mesh", mesh_file, "--max-parts", "abc", expect="--max-parts")
    refused(capsys, model_dir, previous_run, "--mesh", mesh_file, "--num-parts", "5", "--max-parts", "3",
            expect="--num-parts 5")


def test_threads_zero_refused(model_dir, mesh_file, tmp_path, capsys):
    refused(capsys, model_dir, tmp_path / "o", "--mesh", mesh_file, "--threads", "0", expect="--threads")


@pytest.fixture()
def transparent_image(tmp_path):
    path = tmp_path / "transparent.png"
    Image.new("RGBA", (256, 256), (0, 0, 0, 0)).save(path)
    return path


def test_fully_transparent_image(model_dir, transparent_image, previous_run, tmp_path, capsys):
    refused(capsys, model_dir, tmp_path / "new", "--image", transparent_image, expect="fully transparent")
    refused(capsys, model_dir, previous_run, "--image", transparent_image, expect="transparent.png")


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_flat_colour_image(model_dir, tmp_path, capsys, suffix):
    path = tmp_path / f"flat{suffix}"
    Image.new("RGB", (200, 120), (90, 160, 220)).save(path)
    refused(capsys, model_dir, tmp_path / "new", "--image", path, expect="one flat colour")


def test_nested_output_folders_are_not_left_behind(model_dir, transparent_image, tmp_path, capsys):
    refused(capsys, model_dir, tmp_path / "a" / "b" / "c", "--image", transparent_image, expect="transparent")
    assert not (tmp_path / "a").exists()


def test_a_failure_after_the_folder_was_made_removes_it(mesh_file, tmp_path, capsys):
    empty_weights = tmp_path / "weights"
    empty_weights.mkdir()
    out = tmp_path / "new" / "out"
    code = main(["generate", "--weights", str(empty_weights), "--mesh", str(mesh_file), "--output", str(out)])
    assert code == 2 and "config.yaml" in one_line_error(capsys)
    assert not (tmp_path / "new").exists()


def test_interrupt_in_a_new_folder_leaves_nothing(model_dir, mesh_file, tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("autopartgen.pipeline.AutoPartGen.generate", interrupted)
    assert generate(model_dir, "--mesh", mesh_file, "--output", tmp_path / "new") == 130
    assert not (tmp_path / "new").exists()


def test_existing_empty_folder_is_kept(model_dir, transparent_image, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    refused(capsys, model_dir, out, "--image", transparent_image, expect="transparent")
    assert out.is_dir()


def test_point_cloud_without_faces(model_dir, previous_run, tmp_path, capsys):
    path = tmp_path / "cloud.ply"
    trimesh.PointCloud(np.random.default_rng(0).normal(size=(500, 3))).export(path)
    refused(capsys, model_dir, previous_run, "--mesh", path, expect="point cloud")


def test_mask_with_hundreds_of_labels(model_dir, previous_run, tmp_path, capsys):
    image = tmp_path / "image.png"
    pixels = np.full((64, 64, 3), 255, np.uint8)
    pixels[8:56, 8:56] = (200, 40, 40)
    Image.fromarray(pixels).save(image)
    labels = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 300) + 1  # 300 labels, 16-bit
    mask = tmp_path / "mask.png"
    Image.fromarray(labels).save(mask)
    refused(capsys, model_dir, previous_run, "--image", image, "--mask", mask, expect="300 labels")


def _image_and_regions(tmp_path):
    pixels = np.full((64, 64, 3), 255, np.uint8)
    pixels[10:54, 10:30] = (200, 40, 40)
    pixels[10:54, 34:54] = (40, 40, 200)
    image = tmp_path / "image.png"
    Image.fromarray(pixels).save(image)
    return image, (slice(10, 54), slice(10, 30)), (slice(10, 54), slice(34, 54))


@pytest.mark.parametrize("kind", ["colour", "16-bit"])
def test_colour_and_16_bit_masks_are_handled(kind, model_dir, tmp_path):
    image, left, right = _image_and_regions(tmp_path)
    if kind == "colour":
        arr = np.zeros((64, 64, 3), np.uint8)
        arr[left], arr[right] = (255, 0, 0), (0, 255, 0)  # green packs below red: label 1 is the right region
        expected = [1, 2]
    else:
        arr = np.zeros((64, 64), np.uint16)
        arr[left], arr[right] = 1000, 40000
        expected = [1000, 40000]
    mask = tmp_path / "mask.png"
    Image.fromarray(arr).save(mask)
    out = tmp_path / "out"
    assert generate(model_dir, "--image", image, "--mask", mask, "--output", out) == 0
    palette = json.loads((out / "mask_palette.json").read_text())
    assert sorted(entry["mask_label"] for entry in palette) == expected


def test_meshes_over_the_face_budget_are_decimated(model_dir, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("autopartgen.inputs.DEFAULT_MAX_FACES", 300)
    path = tmp_path / "dense.ply"
    trimesh.creation.icosphere(subdivisions=3).export(path)  # 1280 faces
    with caplog.at_level(logging.WARNING, logger="autopartgen.inputs"):
        assert generate(model_dir, "--mesh", path, "--output", tmp_path / "out") == 0
    assert "decimated to" in caplog.text


def test_sigterm_during_a_run_leaves_no_folder_and_no_temporary_files(model_dir, mesh_file, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "new"
    command = [sys.executable, "-m", "autopartgen", "generate", "--weights", str(model_dir), "--mesh", str(mesh_file),
               "--output", str(out), "--no-progress", "--num-steps", "1000", "--max-parts", "4", "--threads", "1"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": ""},
                               cwd=Path(__file__).resolve().parents[1])
    deadline = time.monotonic() + 120
    while not out.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # the folder appears once the inputs passed their checks; the run follows
    process.send_signal(signal.SIGTERM)
    _, error = process.communicate(timeout=120)
    assert process.returncode == 130, error
    assert error.strip().splitlines()[-1] == "autopartgen: interrupted"
    assert not out.exists() and list(tmp_path.iterdir()) == []


def _sleep_after(initializer, ready) -> None:
    if initializer is not None:
        initializer()
    ready.set()
    import time

    time.sleep(60)


@pytest.mark.parametrize("initializer_name, exit_code", [("worker_signals", -15), (None, 1)])
def test_forked_workers_of_a_command_end_quietly_on_sigterm(initializer_name, exit_code):
    # A command turns SIGTERM into KeyboardInterrupt; the workers it forks (data generate, prep, eval) inherit
    # that, so a pool closing (terminate() sends SIGTERM) printed a traceback per worker. With
    # cli.worker_signals as their initializer they end by the signal (exit -15); without it (the control)
    # the inherited handler raises in the worker (exit 1).
    import multiprocessing
    import os
    import signal

    from autopartgen import cli

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    with cli._sigterm_as_interrupt():
        initializer = getattr(cli, initializer_name) if initializer_name else None
        worker = context.Process(target=_sleep_after, args=(initializer, ready))
        worker.start()
    assert ready.wait(30)
    os.kill(worker.pid, signal.SIGTERM)
    worker.join(30)
    assert worker.exitcode == exit_code
