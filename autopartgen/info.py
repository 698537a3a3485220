"""`autopartgen info`: versions, device and where things are, for bug reports."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

from autopartgen.version import __version__

_PACKAGES = ["torch", "numpy", "diffusers", "safetensors", "trimesh", "fpsample", "scikit-image",
             "fast-simplification", "pillow", "scipy", "pyyaml"]


def collect_info() -> dict:
    """Return a dict describing the installation: package versions, torch device, config folder."""
    import torch

    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "autopartgen": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "cuda_available": torch.cuda.is_available(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch_threads": torch.get_num_threads(),
        "configs_dir": str(Path(__file__).parent / "configs"),
        "shipped_model": _shipped_model(),
    }


def _shipped_model() -> str:
    folder = Path(__file__).parent / "weights" / "tiny"
    if not (folder / "config.yaml").is_file():
        return f"not found (expected in {folder})"
    size = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    return f"{folder} ({size / 1e6:.1f} MB of safetensors)"


def _run(args) -> int:
    info = collect_info()
    for key, value in info.items():
        if isinstance(value, dict):
            for sub_key, sub_value in value.items():
                print(f"{key}.{sub_key}: {sub_value if sub_value is not None else 'not installed'}")
        else:
            print(f"{key}: {value}")
    return 0


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("info", help="print versions, device and model locations")
    parser.set_defaults(func=_run)
