"""Model configuration: the YAML presets and the dataclass that holds one.

A config file has the sections of the reference YAML: ``vae:`` and ``dit:`` (constructor keyword
arguments of :class:`~autopartgen.models.ShapeVAE` and :class:`~autopartgen.models.PartDiT`),
``scheduler:``, ``guidance:`` (per input mode), ``conditioner:``, plus ours: ``image_encoder:``
(:class:`~autopartgen.models.ImageEncoder` arguments), ``weights:`` (file names inside a weights
folder) and ``pipeline:`` (surface-sampling sizes, end-token threshold, part limit).

Named presets live in ``autopartgen/configs/<name>.yaml``: ``release-2048``, ``release-4096`` (the
official models) and ``test-small`` (the golden random-weight set). The constructors' signatures
are the single source of defaults for the networks; a section only overrides them.
"""

from __future__ import annotations

import copy
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from autopartgen.errors import ConfigError

CONFIG_DIR = Path(__file__).parent / "configs"
MODES = ("image", "mesh", "image_mesh", "image_mask", "image_mesh_mask")


@dataclass
class ModelConfig:
    """One model configuration (see module doc for the sections)."""

    name: str = "custom"
    vae: dict = field(default_factory=dict)
    dit: dict = field(default_factory=dict)
    image_encoder: dict = field(default_factory=dict)
    scheduler: dict = field(default_factory=dict)
    guidance: dict = field(default_factory=dict)
    conditioner: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    pipeline: dict = field(default_factory=dict)
    float_precision: str = "bfloat16"

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "ModelConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"{source} is not a YAML mapping; see autopartgen/configs/release-2048.yaml")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source} has unknown sections {unknown}; allowed: {sorted(known)}")
        data = copy.deepcopy(data)
        for section in ("vae", "dit"):  # reference YAMLs carry checkpoint paths inside the sections
            data.get(section, {}).pop("checkpoint_path", None)
        return cls(**data)

    def to_dict(self) -> dict:
        return copy.deepcopy(asdict(self))

    def guidance_for(self, mode: str) -> tuple[float, float]:
        """(image_cfg_scale, geometry_cfg_scale) of an input mode; missing values fall back to 0 and 5."""
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}; choose one of {MODES}")
        section = self.guidance.get(mode, {})
        return float(section.get("image_cfg_scale", 0.0)), float(section.get("geometry_cfg_scale", 5.0))

    @property
    def whole_cfg_scale(self) -> float:
        return float(self.guidance.get("whole_cfg_scale", 5.0))

    @property
    def scale_factor(self) -> float:
        return float(self.dit.get("scale_factor", 1.26839))


def available_presets() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_config(name_or_path: str | os.PathLike) -> ModelConfig:
    """A preset name (``release-2048``) or a YAML file path -> ModelConfig."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = CONFIG_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ConfigError(f"no config preset named {name_or_path!r}; presets: {', '.join(available_presets())}, "
                              "or pass a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML ({str(error).splitlines()[0]})") from None
    return ModelConfig.from_dict(data, source=f"config file {path}")


def save_config(config: ModelConfig, path: str | os.PathLike) -> None:
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
