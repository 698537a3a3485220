"""The region merger: how likely two touching regions of a solid belong to one part.

A small MLP over the pair features of ``geometry/regions.py`` (sizes, contact, neck depth, thickness,
convexity, axes; no trace of the DiT's claims). The anchored loop over-segments the input's solid
into basins and merges the likeliest pairs with it (``geometry/regions.merge_regions``); trained by
``autopartgen train region-merger`` on the same corpus as the DiT (``train/region_merger.py``).

Features are standardised inside the model (``feature_mean`` / ``feature_std`` buffers, set from the
training set), so callers pass raw features. A merger trained on the shape features alone
(``NUM_FEATURES``) reads the first columns of rows that also hold the crease features
(``regions.CREASE_FEATURE_NAMES``, then ``regions.OBJECT_FEATURE_NAMES``), so one graph serves every kind.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from autopartgen.geometry.regions import CREASE_FEATURE_NAMES, NUM_FEATURES


class RegionMerger(nn.Module):
    def __init__(self, num_features: int = NUM_FEATURES, width: int = 64):
        super().__init__()
        self.width = width  # hidden units per layer (config ``pipeline.region_merger_width``)
        self.num_features = num_features  # config ``pipeline.region_merger_features``
        self.register_buffer("feature_mean", torch.zeros(num_features))
        self.register_buffer("feature_std", torch.ones(num_features))
        self.mlp = nn.Sequential(nn.Linear(num_features, width), nn.GELU(), nn.Linear(width, width), nn.GELU(),
                                 nn.Linear(width, 1))

    @property
    def reads_crease_features(self) -> bool:
        """Trained with the crease features (``regions.CREASE_FEATURE_NAMES``, after the shape features;
        ``train region-merger --creases``): callers give its graphs the input surface's turns."""
        return self.num_features > NUM_FEATURES

    @property
    def reads_object_features(self) -> bool:
        """Trained with the object features (``regions.OBJECT_FEATURE_NAMES``, after the shape and crease
        features; ``train region-merger --context``): callers build its graphs with a context."""
        return self.num_features > NUM_FEATURES + len(CREASE_FEATURE_NAMES)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(P, num_features) raw pair features -> (P,) logits of "one part"."""
        return self.mlp((features - self.feature_mean) / self.feature_std)[:, 0]

    @torch.no_grad()
    def probability(self, features: np.ndarray) -> np.ndarray:
        """(P, F >= num_features) numpy -> (P,) probabilities (float64), on the model's device; columns past
        ``num_features`` (features the merger was not trained with) are not read."""
        weight = self.feature_mean
        features = np.asarray(features)[:, : self.num_features]
        logits = self(torch.as_tensor(features, dtype=weight.dtype, device=weight.device))
        return torch.sigmoid(logits).double().cpu().numpy()
