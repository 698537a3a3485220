"""Model folders: from_pretrained / save_pretrained, presets, config errors."""

import shutil

import pytest
import torch

from autopartgen.config import available_presets, load_config
from autopartgen.errors import CheckpointError, ConfigError
from autopartgen.pipeline import AutoPartGen
from conftest import COMPAT


@pytest.fixture()
def golden_folder(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("small_dit.pth", "small_vae.pth", "small_dinov2.pth"):
        shutil.copy(COMPAT / name, folder / name)
    return folder


def test_from_pretrained_with_official_file_layout_and_round_trip(golden_folder, tmp_path):
    config = load_config("test-small")
    config.weights = {"dit": "small_dit.pth", "vae": "small_vae.pth", "image_encoder": "small_dinov2.pth"}
    pipe = AutoPartGen.from_pretrained(golden_folder, config=config, device="cpu")
    reference = torch.load(COMPAT / "small_dit.pth", weights_only=True)["model"]
    assert all(torch.equal(pipe.dit.state_dict()[k], v) for k, v in reference.items())
    assert not pipe.dit.training and pipe.weights_identity["vae"]["file"] == "small_vae.pth"

    saved = tmp_path / "saved"
    pipe.save_pretrained(saved)
    assert sorted(p.name for p in saved.iterdir()) == ["config.yaml", "dit.safetensors", "image_encoder.safetensors",
                                                       "vae.safetensors"]
    again = AutoPartGen.from_pretrained(saved, device="cpu")
    # the frequency buffer of the VAE (not in the file) is rebuilt correctly after an empty build
    queries = torch.rand(1, 50, 3) * 2 - 1
    latent = torch.randn(1, 32, 16)
    with torch.no_grad():
        torch.testing.assert_close(again.vae.decode(latent, queries), pipe.vae.decode(latent, queries))
    assert again.num_parameters() == pipe.num_parameters()


def test_missing_weights_and_config(golden_folder, tmp_path):
    with pytest.raises(CheckpointError, match="no config.yaml"):
        AutoPartGen.from_pretrained(golden_folder)
    with pytest.raises(CheckpointError, match="small_vae.safetensors for the vae is missing"):
        AutoPartGen.from_pretrained(golden_folder, config="test-small")
    with pytest.raises(CheckpointError, match="does not exist"):
        AutoPartGen.from_pretrained(tmp_path / "absent", config="test-small")


def test_release_weights_into_small_config_fail_readably(golden_folder):
    config = load_config("release-2048")
    config.weights = {"dit": "small_dit.pth", "vae": "small_vae.pth", "image_encoder": "small_dinov2.pth"}
    with pytest.raises(CheckpointError, match="does not match the vae architecture"):
        AutoPartGen.from_pretrained(golden_folder, config=config, device="meta")


def test_presets_and_config_errors(tmp_path):
    assert {"release-2048", "release-4096", "test-small"} <= set(available_presets())
    release = load_config("release-4096")
    assert release.guidance_for("mesh") == (0.0, 3.0) and release.guidance_for("image") == (2.0, 2.0)
    assert load_config("release-2048").guidance_for("image_mask") == (5.0, 5.0)
    with pytest.raises(ConfigError, match="no config preset"):
        load_config("release-9999")
    bad = tmp_path / "bad.yaml"
    bad.write_text("vae: {}\nunknown_section: 1\n")
    with pytest.raises(ConfigError, match="unknown_section"):
        load_config(bad)
    bad.write_text("vae: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    reference_style = tmp_path / "ref.yaml"
    reference_style.write_text("dit:\n  width: 64\n  checkpoint_path: /x/dit.pth\n")
    assert "checkpoint_path" not in load_config(reference_style).dit
