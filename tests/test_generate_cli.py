"""`autopartgen generate` and inference.py on a tiny random-weight model folder: outputs and bad input."""

import json
import sys
from pathlib import Path

import pytest
import trimesh

from autopartgen.cli import main
from autopartgen.pipeline import AutoPartGen
from test_pipeline import box, small_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    AutoPartGen.from_config(small_config(), device="cpu", seed=0).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def mesh_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("inputs") / "object.glb"
    box().export(path)
    return path


def generate(model_dir, *args):
    return main(["generate", "--weights", str(model_dir), "--no_progress", "--max_parts", "2", "--grid_size", "16",
                 *map(str, args)])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("autopartgen: error:") and len(err.splitlines()) == 1, err
    return err


def test_generate_writes_a_consistent_folder(model_dir, mesh_file, tmp_path):
    out = tmp_path / "out"
    assert generate(model_dir, "--mesh", mesh_file, "--output", out, "--write_whole") == 0
    manifest = json.loads((out / "parts.json").read_text())
    assert manifest["run"]["mode"] == "mesh" and manifest["run"]["inputs"]["mesh"] == str(mesh_file)
    assert set(manifest["run"]["timings_s"]) >= {"load", "whole_encode", "image_encode"}
    assert len(list(out.glob("mesh_[0-9]*.glb"))) == manifest["num_parts"]
    if manifest["num_parts"]:
        scene = trimesh.load(out / "mesh_combined.glb", force="scene")
        assert len(scene.geometry) == manifest["num_parts"]


def test_inference_py_accepts_the_release_command_line(model_dir, mesh_file, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    import inference

    out = tmp_path / "ref"
    code = inference.main(["--mesh", str(mesh_file), "--output_path", str(out), "--weights", str(model_dir),
                           "--no_progress", "--max_parts", "1", "--grid_size", "16"])
    assert code == 0 and (out / "parts.json").is_file()


def test_mask_without_image(model_dir, mesh_file, tmp_path, capsys):
    assert generate(model_dir, "--mesh", mesh_file, "--mask", mesh_file, "--output", tmp_path / "o") == 2
    assert "--image" in one_line_error(capsys)
    assert not (tmp_path / "o").exists()


def test_no_input(model_dir, tmp_path, capsys):
    assert generate(model_dir, "--output", tmp_path / "o") == 2
    one_line_error(capsys)


def test_output_path_is_a_file(model_dir, mesh_file, tmp_path, capsys):
    target = tmp_path / "taken.txt"
    target.write_text("mine")
    assert generate(model_dir, "--mesh", mesh_file, "--output", target) == 2
    assert "taken.txt" in one_line_error(capsys) and target.read_text() == "mine"


def test_foreign_files_are_never_touched(model_dir, mesh_file, tmp_path, capsys):
    out = tmp_path / "shared"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert generate(model_dir, "--mesh", mesh_file, "--output", out) == 0
    assert (out / "notes.txt").read_text() == "keep me"
    # a file with one of our names that we did not write: refused, untouched
    (out / "mesh_combined.glb").unlink(missing_ok=True)
    (out / ".autopartgen-outputs.json").unlink()
    (out / "parts.json").write_text("user's own")
    assert generate(model_dir, "--mesh", mesh_file, "--output", out) == 2
    assert "autopartgen did not write" in one_line_error(capsys)
    assert (out / "parts.json").read_text() == "user's own"


def test_missing_and_bad_inputs(model_dir, tmp_path, capsys):
    assert generate(model_dir, "--mesh", tmp_path / "absent.glb", "--output", tmp_path / "o") == 2
    assert "absent.glb" in one_line_error(capsys)
    text = tmp_path / "fake.glb"
    text.write_text("this is not a mesh")
    assert generate(model_dir, "--mesh", text, "--output", tmp_path / "o2") == 2
    assert "fake.glb" in one_line_error(capsys)


def test_bad_weights_folder(mesh_file, tmp_path, capsys):
    empty = tmp_path / "weights"
    empty.mkdir()
    code = main(["generate", "--weights", str(empty), "--mesh", str(mesh_file), "--output", str(tmp_path / "o")])
    assert code == 2 and "config.yaml" in one_line_error(capsys)


def test_interrupt_leaves_previous_outputs(model_dir, mesh_file, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert generate(model_dir, "--mesh", mesh_file, "--output", out) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("autopartgen.export.write_combined_glb", interrupted)
    monkeypatch.setattr("autopartgen.export.write_manifest", interrupted)
    assert generate(model_dir, "--mesh", mesh_file, "--output", out, "--seed", "5") == 130
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before  # nothing half-written, nothing lost
    assert not [p for p in out.iterdir() if p.is_dir()]  # no staging folder left
