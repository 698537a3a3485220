"""`AutoPartGen`: the three networks, their configuration and the device they run on.

A model folder holds ``config.yaml`` plus the weight files its ``weights:`` section names
(safetensors for our models; the official ``.pth`` files for the release configs):

    AutoPartGen.from_pretrained("weights/tiny")                       # a folder with config.yaml
    AutoPartGen.from_pretrained("/models/autopartgen", config="release-2048")   # official files
    pipe.save_pretrained("my_model")                                  # config.yaml + safetensors
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from autopartgen.checkpoints import load_weights, save_safetensors
from autopartgen.config import ModelConfig, load_config, save_config
from autopartgen.errors import CheckpointError
from autopartgen.models import ImageEncoder, PartDiT, ShapeVAE, build_model

logger = logging.getLogger(__name__)

MODEL_KINDS = ("vae", "dit", "image_encoder")


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class AutoPartGen:
    """The networks of one configuration, in eval mode on one device."""

    config: ModelConfig
    vae: ShapeVAE
    dit: PartDiT
    image_encoder: ImageEncoder
    device: torch.device
    weights_identity: dict | None = None  # file name -> size, for manifests

    @classmethod
    def from_config(cls, config: ModelConfig | str, device: str | torch.device | None = None,
                    seed: int = 0) -> "AutoPartGen":
        """Randomly initialised networks (seeded) of a configuration: for tests and training from scratch."""
        config = load_config(config) if not isinstance(config, ModelConfig) else config
        device = torch.device(device) if device is not None else default_device()
        torch.manual_seed(seed)
        models = {kind: build_model(kind, getattr(config, kind), device) for kind in MODEL_KINDS}
        return cls(config=config, device=device, **models)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, config: ModelConfig | str | None = None,
                        device: str | torch.device | None = None,
                        weight_files: dict[str, str | os.PathLike] | None = None) -> "AutoPartGen":
        """Load a model folder; ``config`` (preset name, YAML path or ModelConfig) overrides its config.yaml.

        ``weight_files`` maps a kind (``vae``, ``dit``, ``image_encoder``) to an explicit file, e.g. the
        DINOv2 checkpoint kept elsewhere.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise CheckpointError(f"weights folder {folder} does not exist; pass the folder holding the model files")
        if config is None:
            if not (folder / "config.yaml").is_file():
                raise CheckpointError(f"weights folder {folder} has no config.yaml; pass --config "
                                      "(e.g. release-2048 for the official files)")
            config = load_config(folder / "config.yaml")
        elif not isinstance(config, ModelConfig):
            config = load_config(config)
        device = torch.device(device) if device is not None else default_device()
        weight_files = dict(weight_files or {})
        paths = {kind: Path(weight_files.get(kind) or folder / config.weights.get(kind, f"{kind}.safetensors"))
                 for kind in MODEL_KINDS}
        for kind, path in paths.items():  # check all files before the (slow) loads
            if not path.is_file():
                raise CheckpointError(f"weights file {path} for the {kind} is missing; put it in {folder} or "
                                      f"name it in the config's weights: section")
        models, identity = {}, {}
        for kind, path in paths.items():
            model = build_model(kind, getattr(config, kind), device, empty=True)
            models[kind] = load_weights(model, path, name=kind)
            identity[kind] = {"file": path.name, "bytes": path.stat().st_size}
        logger.info("loaded %s from %s on %s", config.name, folder, device)
        return cls(config=config, device=device, weights_identity=identity, **models)

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        """Write config.yaml and one safetensors file per network into ``folder`` (created if needed)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = ModelConfig.from_dict(self.config.to_dict())
        config.weights = {kind: f"{kind}.safetensors" for kind in MODEL_KINDS}
        for kind in MODEL_KINDS:
            save_safetensors(getattr(self, kind).state_dict(), folder / config.weights[kind])
        save_config(config, folder / "config.yaml")

    def num_parameters(self) -> dict[str, int]:
        return {kind: sum(p.numel() for p in getattr(self, kind).parameters()) for kind in MODEL_KINDS}
