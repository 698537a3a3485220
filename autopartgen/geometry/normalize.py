"""The object frame: centre on the bounding-box midpoint, scale the longest half-extent to 1 (SPEC 1.10).

The released model expects objects in the [-1, 1] cube. A user mesh is mapped in with
:func:`apply_normalization` and generated parts are mapped back with :func:`invert_normalization`, so
outputs land in the input mesh's own frame.
"""

from __future__ import annotations

import numpy as np


def normalization_transform(vertices: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and scale that map ``vertices`` into the [-1, 1] cube.

    Args:
        vertices: (V, 3) float array, any units.

    Returns:
        ``(center, scale)``: ``center`` (3,) float64 is the bounding-box midpoint; ``scale`` is the largest
        absolute coordinate of the centred vertices (the infinity norm), in the input's units. Normalised
        coordinates are ``(vertices - center) / scale``.

    Raises:
        ValueError: no vertices, non-finite coordinates, or all vertices at one point (scale 0).
    """
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise ValueError(f"expected a non-empty (V, 3) vertex array, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError("vertices contain NaN or infinite coordinates")
    center = 0.5 * (v.min(axis=0) + v.max(axis=0))
    scale = float(np.abs(v - center).max())
    if scale <= 0.0:
        raise ValueError("all vertices coincide; the mesh has no extent to normalise")
    return center, scale


def apply_normalization(vertices: np.ndarray, center: np.ndarray, scale: float) -> np.ndarray:
    """Map (V, 3) input-frame vertices into the normalised frame: ``(v - center) / scale`` (float64)."""
    return (np.asarray(vertices, dtype=np.float64) - np.asarray(center, dtype=np.float64)) / float(scale)


def invert_normalization(vertices: np.ndarray, center: np.ndarray, scale: float) -> np.ndarray:
    """Map (V, 3) normalised-frame vertices back to the input frame: ``v * scale + center`` (float64)."""
    return np.asarray(vertices, dtype=np.float64) * float(scale) + np.asarray(center, dtype=np.float64)
