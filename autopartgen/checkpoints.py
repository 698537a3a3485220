"""Checkpoint I/O: official ``.pth`` files, safetensors, strict loading with a readable diff.

* ``.pth`` / ``.pt`` / ``.bin``: ``torch.load(weights_only=True)`` only, so a file that carries a
  pickled Python object is refused without being executed. The released DiT and VAE files hold
  ``{"model": state_dict}``; the official DINOv2 file is a bare state dict; both are accepted.
* ``.safetensors``: read with the safetensors library.
* :func:`load_weights` checks every key and shape before touching the model and, on mismatch, raises
  a :class:`CheckpointError` whose one-line message lists missing / unexpected / wrong-shape keys.

``autopartgen convert in.pth out.safetensors`` converts a checkpoint once, so later loads are fast
and pickle-free.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from pathlib import Path

import torch
from torch import nn

from autopartgen.errors import CheckpointError

logger = logging.getLogger(__name__)

TORCH_SUFFIXES = {".pth", ".pt", ".bin", ".ckpt"}
_DIFF_EXAMPLES = 3  # keys shown per category in a mismatch message


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict (name -> CPU tensor) from a .safetensors or a torch checkpoint file.

    Raises CheckpointError (one line, naming the file) when the file is missing, empty, truncated,
    not a checkpoint, or carries pickled objects other than tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist; check the path passed as weights")
    if path.stat().st_size == 0:
        raise CheckpointError(f"weights file {path} is empty; download or convert it again")
    if path.suffix == ".safetensors":
        state = _read_safetensors(path)
    else:
        state = _read_torch(path)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"weights file {path} does not hold a state dict of tensors; "
                              "expected {'model': state_dict} or a plain state dict")
    return state


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"weights file {path} is not a valid safetensors file ({_first_line(error)}); "
                              "it may be truncated: download or convert it again") from None


def _read_torch(path: Path):
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(f"weights file {path} contains Python objects that are not tensors and was refused "
                              f"without running them ({_first_line(error)}); use a trusted checkpoint or convert it "
                              "to safetensors where it was made") from None
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as error:  # torch raises many types for a damaged archive (EOF, zip, index, runtime)
        raise CheckpointError(f"weights file {path} could not be read as a torch checkpoint ({_first_line(error)}); "
                              "it may be truncated or not a checkpoint: download it again") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def remap_legacy_dit_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an older DiT layout (``attn_cross.0.``, ``norm_cross.0``, FFN ``norm3``) to the native one.

    Applies only when some key contains ``attn_cross.0.``, as the reference does; otherwise returns
    the dict unchanged.
    """
    if not any("attn_cross.0." in key for key in state):
        return state
    renamed = {}
    for key, value in state.items():
        new = key.replace("attn_cross.0.", "attn2.").replace("norm_cross.0", "norm2")
        new = new.replace(".norm3.", ".norm_ff.")
        renamed[new] = value
    return renamed


def state_dict_diff(expected: dict[str, tuple], found: dict[str, tuple]) -> tuple[list, list, list]:
    """Compare key -> shape maps: (missing keys, unexpected keys, [(key, found shape, expected shape)])."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    wrong = [(k, tuple(found[k]), tuple(expected[k])) for k in expected if k in found
             and tuple(found[k]) != tuple(expected[k])]
    return missing, unexpected, wrong


def _describe_mismatch(missing, unexpected, wrong) -> str:
    def first(items):
        shown = ", ".join(str(item) for item in items[:_DIFF_EXAMPLES])
        return shown + (f", ... ({len(items) - _DIFF_EXAMPLES} more)" if len(items) > _DIFF_EXAMPLES else "")

    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({first(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({first(unexpected)})")
    if wrong:
        parts.append(f"{len(wrong)} wrong shape ({first([f'{k}: file {list(a)} vs model {list(b)}' for k, a, b in wrong])})")
    return "; ".join(parts)


def load_weights(model: nn.Module, source, name: str = "model") -> nn.Module:
    """Strictly load ``source`` (a path or a state dict) into ``model``; returns the model.

    Every key and shape is checked first; on mismatch a CheckpointError names the file, the model
    and the first differing keys. The model is left untouched in that case.
    """
    label = str(source) if not isinstance(source, dict) else "the given state dict"
    state = read_state_dict(source) if not isinstance(source, dict) else source
    if name == "dit":
        state = remap_legacy_dit_keys(state)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    missing, unexpected, wrong = state_dict_diff(expected, found)
    if missing or unexpected or wrong:
        raise CheckpointError(f"weights file {label} does not match the {name} architecture of this config: "
                              f"{_describe_mismatch(missing, unexpected, wrong)}; pass the config the weights "
                              "were made for (e.g. --config release-2048)")
    model.load_state_dict(state, strict=True)
    return model


def save_safetensors(state: dict[str, torch.Tensor], path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Write a state dict as safetensors atomically (temp file in the same folder, then rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        save_file(tensors, tmp, metadata={k: str(v) for k, v in (metadata or {}).items()})
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a weights file is meant to be shared and packaged
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def convert(source: str | os.PathLike, destination: str | os.PathLike) -> int:
    """Convert a checkpoint to safetensors; returns the number of tensors written."""
    destination = Path(destination)
    if destination.suffix != ".safetensors":
        raise CheckpointError(f"output {destination} must end in .safetensors")
    if not destination.parent.is_dir():
        raise CheckpointError(f"output folder {destination.parent} does not exist; create it first")
    state = read_state_dict(source)
    save_safetensors(state, destination, metadata={"source": Path(source).name})
    return len(state)


def _run_convert(args) -> int:
    count = convert(args.source, args.destination)
    logger.info("wrote %d tensors to %s", count, args.destination)
    return 0


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("convert", help="convert a .pth checkpoint to .safetensors (no pickle)")
    parser.add_argument("source", help="input checkpoint (.pth with {'model': state_dict}, plain state dict, "
                                       "or .safetensors)")
    parser.add_argument("destination", help="output .safetensors file")
    parser.set_defaults(func=_run_convert)
