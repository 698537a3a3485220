"""The three networks (one model per file) and a helper that builds them from a config section."""

from __future__ import annotations

import torch
from torch import nn

from autopartgen.models.dit import PartDiT
from autopartgen.models.image_encoder import ImageEncoder
from autopartgen.models.vae import ShapeVAE

MODEL_CLASSES = {"vae": ShapeVAE, "dit": PartDiT, "image_encoder": ImageEncoder}

__all__ = ["PartDiT", "ImageEncoder", "ShapeVAE", "MODEL_CLASSES", "build_model"]


def build_model(kind: str, kwargs: dict, device: str | torch.device = "cpu", empty: bool = False) -> nn.Module:
    """Construct ``MODEL_CLASSES[kind](**kwargs)`` in eval mode.

    ``device="meta"`` builds shapes only (no memory). ``empty=True`` skips the random initialisation
    (built on meta, then allocated uninitialised on ``device``): use it when weights are loaded next,
    which saves tens of seconds for the release sizes.
    """
    cls = MODEL_CLASSES[kind]
    if str(device) == "meta" or empty:
        with torch.device("meta"):
            model = cls(**kwargs)
        if str(device) != "meta":
            model = model.to_empty(device=device)
            for module in model.modules():
                if hasattr(module, "reset_buffers"):
                    module.reset_buffers()
    else:
        with torch.device(device):
            model = cls(**kwargs)
    return model.eval()
