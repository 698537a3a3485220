"""Indexed part masks: splitting into per-part masks in generation order.

Generation order ``position`` (the release's) is bottom-to-top, then left-to-right: regions are sorted
by their lowest pixel row (descending, so the region reaching lowest in the image comes first), then by
their leftmost pixel column (ascending); ties keep ascending label order. Order ``area`` puts the largest
region first (ties as ``position``), the 2-D counterpart of a DiT trained with ``--part-order size``.
Label 0 is background.
"""

from __future__ import annotations

import numpy as np


MASK_ORDERS = ("position", "area")


def order_mask_labels(mask: np.ndarray, order: str = "position") -> np.ndarray:
    """(H, W) integer label image -> (K,) int64 non-zero labels in generation order (see the module doc)."""
    if order not in MASK_ORDERS:
        raise ValueError(f"unknown mask order {order!r}; use one of {', '.join(MASK_ORDERS)}")
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"an indexed mask must be 2-D (H, W), got shape {mask.shape}")
    labels = [int(v) for v in np.unique(mask) if v != 0]
    keys = []
    for label in labels:
        rows, cols = np.nonzero(mask == label)
        area_key = -len(rows) if order == "area" else 0
        keys.append((area_key, -int(rows.max()), int(cols.min()), label))
    return np.array([label for *_, label in sorted(keys)], dtype=np.int64)


def split_mask(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) label image -> (part masks (K, H, W) uint8 with values 0/255, labels (K,) int64), in order."""
    labels = order_mask_labels(mask)
    masks = np.stack([(np.asarray(mask) == label).astype(np.uint8) * 255 for label in labels]) if len(labels) \
        else np.zeros((0,) + np.asarray(mask).shape, dtype=np.uint8)
    return masks, labels
