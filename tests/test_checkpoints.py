"""Checkpoint reading: safe unpickling, readable errors, strict loading, conversion."""

import os
import pickle
import zipfile

import pytest
import torch

from autopartgen.checkpoints import convert, load_weights, read_state_dict, remap_legacy_dit_keys
from autopartgen.cli import main
from autopartgen.errors import CheckpointError
from autopartgen.models import build_model
from conftest import COMPAT


class _Payload:
    """Unpickling this runs os.system: a weights-only loader must refuse it before that happens."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_payload_is_refused_without_running(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "evil.pth"
    torch.save({"model": {"w": torch.zeros(2)}, "extra": _Payload(marker)}, path)
    with pytest.raises(CheckpointError) as info:
        read_state_dict(path)
    assert not marker.exists()
    message = str(info.value)
    assert str(path) in message and "refused" in message and "\n" not in message


def test_plain_pickle_file_is_refused(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "legacy.pth"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(CheckpointError):
        read_state_dict(path)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["small_vae.pth", "small_vae.safetensors"])
def test_truncated_file_gives_one_line_error(tmp_path, name):
    data = (COMPAT / name).read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as info:
        read_state_dict(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_empty_and_text_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_state_dict(tmp_path / "absent.pth")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        read_state_dict(tmp_path / "empty.safetensors")
    (tmp_path / "notes.pth").write_text("these are not weights")
    with pytest.raises(CheckpointError, match="notes.pth"):
        read_state_dict(tmp_path / "notes.pth")


def test_wrong_architecture_lists_the_differences(golden_configs):
    other = dict(golden_configs["vae"], width_decoder=32, num_layers_decoder=3)
    model = build_model("vae", other)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_weights(model, COMPAT / "small_vae.safetensors", name="vae")
    message = str(info.value)
    assert "small_vae.safetensors" in message and "\n" not in message
    assert "missing (decoder.blocks.2.norm1.weight" in message  # the new self-attention block
    assert "wrong shape" in message and "file [64" in message
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched


def test_official_pth_layout_loads_strictly(golden_configs):
    """The reference {'model': state_dict} file and the bare DINOv2 file both load strictly."""
    dit = load_weights(build_model("dit", golden_configs["dit"]), COMPAT / "small_dit.pth", name="dit")
    raw = torch.load(COMPAT / "small_dit.pth", weights_only=True)["model"]
    assert all(torch.equal(dit.state_dict()[k], v) for k, v in raw.items())
    encoder = build_model("image_encoder", golden_configs["image_encoder"]["kwargs"])
    load_weights(encoder, COMPAT / "small_dinov2.pth", name="image_encoder")
    assert torch.equal(encoder.pos_embed, torch.load(COMPAT / "small_dinov2.pth", weights_only=True)["pos_embed"])


def test_legacy_dit_keys_are_renamed():
    state = {"blocks.0.attn_cross.0.to_q.weight": 1, "blocks.0.norm_cross.0.weight": 2, "blocks.0.norm3.bias": 3}
    assert set(remap_legacy_dit_keys(state)) == {"blocks.0.attn2.to_q.weight", "blocks.0.norm2.weight",
                                                 "blocks.0.norm_ff.bias"}
    native = {"blocks.0.norm3.bias": 1}
    assert remap_legacy_dit_keys(native) is native


def test_convert_round_trip(tmp_path):
    out = tmp_path / "dit.safetensors"
    assert main(["convert", str(COMPAT / "small_dit.pth"), str(out)]) == 0
    converted = read_state_dict(out)
    original = torch.load(COMPAT / "small_dit.pth", weights_only=True)["model"]
    assert converted.keys() == original.keys()
    assert all(torch.equal(converted[k], original[k]) for k in original)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(CheckpointError, match="must end in .safetensors"):
        convert(COMPAT / "small_dit.pth", tmp_path / "dit.bin")


def test_convert_refuses_bad_input_cleanly(tmp_path, capsys):
    bad = tmp_path / "bad.pth"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("junk", "not a torch archive")
    out = tmp_path / "out.safetensors"
    assert main(["convert", str(bad), str(out)]) == 2
    assert not out.exists()
    err = capsys.readouterr().err.strip()
    assert err.startswith("autopartgen: error:") and "bad.pth" in err and len(err.splitlines()) == 1


def test_saved_weights_are_readable_by_others_and_leave_no_temporary_file(tmp_path):
    from autopartgen.checkpoints import save_safetensors

    save_safetensors({"w": torch.ones(2)}, tmp_path / "w.safetensors")
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]
