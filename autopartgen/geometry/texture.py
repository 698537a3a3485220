"""Keeping an input's texture on parts cut from it: one image for the input's faces and the plain cut faces.

A glTF primitive has one material, so a part cut from a textured mesh keeps the texture image and gives
its new cut faces a plain colour through the same image: :func:`add_plain_band` appends a band of one
colour below the texture, and :func:`band_uv` maps the input's UVs into the original area and the cut
faces' vertices into the band. UVs follow trimesh's (OpenGL) convention: ``v = 0`` at the image's bottom.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

PLAIN_RGB = (190, 190, 190)


def add_plain_band(image: Image.Image, rgb: tuple = PLAIN_RGB) -> tuple[Image.Image, float]:
    """``image`` with a band of ``rgb`` appended at the bottom; returns (new image, band height as a
    fraction of the new height). The band is at least 8 pixels tall (texture filtering needs margin)."""
    image = image.convert("RGBA") if image.mode not in ("RGB", "RGBA") else image
    width, height = image.size
    band = max(8, height // 32)
    fill = rgb + (255,) if image.mode == "RGBA" else rgb
    banded = Image.new(image.mode, (width, height + band), fill)
    banded.paste(image, (0, 0))
    return banded, band / (height + band)


def band_uv(uv: np.ndarray, band_fraction: float) -> np.ndarray:
    """(V, 2) UVs in [0, 1] of the original image -> UVs in the banded image; rows that are NaN (vertices of
    cut faces) go to the middle of the band."""
    uv = np.asarray(uv, dtype=np.float64)
    out = np.empty_like(uv)
    out[:, 0] = uv[:, 0]
    out[:, 1] = band_fraction + uv[:, 1] * (1.0 - band_fraction)
    plain = ~np.isfinite(uv).all(axis=1)
    out[plain] = (0.5, 0.5 * band_fraction)
    return out
