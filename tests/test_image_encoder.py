"""DINOv2-style encoder variants beyond the golden set: no registers, offset interpolation, native size."""

import numpy as np
import torch

from autopartgen.models import ImageEncoder


def keys_cubic_resize(grid: np.ndarray, size: int) -> np.ndarray:
    """Antialiased bicubic downscale along both axes, written from the kernel definition (float64)."""
    def kernel(x):
        x = abs(x)
        return 1.5 * x**3 - 2.5 * x**2 + 1 if x < 1 else (-0.5 * x**3 + 2.5 * x**2 - 4 * x + 2 if x < 2 else 0.0)

    def weights(n_in, n_out):
        scale = n_in / n_out
        w = np.zeros((n_out, n_in))
        for i in range(n_out):
            centre = scale * (i + 0.5)
            lo, hi = max(int(centre - 2 * scale + 0.5), 0), min(int(centre + 2 * scale + 0.5), n_in)
            for j in range(lo, hi):
                w[i, j] = kernel((j - centre + 0.5) / scale)
            w[i] /= w[i].sum()
        return w

    w = weights(grid.shape[0], size)
    return np.einsum("ij,jkd,lk->ild", w, grid, w)


def test_position_embedding_resize_matches_the_kernel_definition():
    torch.manual_seed(0)
    encoder = ImageEncoder(img_size=518, embed_dim=8, depth=1, num_heads=2, num_register_tokens=4)
    with torch.no_grad():
        encoder.pos_embed.normal_()
    ours = encoder.position_embedding(16, 16)[0, 1:].detach().numpy().reshape(16, 16, 8)
    stored = encoder.pos_embed[0, 1:].detach().numpy().astype(np.float64).reshape(37, 37, 8)
    np.testing.assert_allclose(ours, keys_cubic_resize(stored, 16), atol=1e-5)
    assert encoder.position_embedding(37, 37) is encoder.pos_embed  # native grid: used as stored


def test_no_register_variant_and_offset_interpolation():
    encoder = ImageEncoder(img_size=518, embed_dim=16, depth=1, num_heads=2, num_register_tokens=0,
                           interpolate_offset=0.1, init_values=None)
    assert "register_tokens" not in encoder.state_dict() and not any(".ls1." in k for k in encoder.state_dict())
    with torch.no_grad():
        tokens = encoder.forward_features(torch.rand(1, 3, 224, 308))
    assert tokens.shape == (1, 1 + 16 * 22, 16)  # non-square input: rows x cols patches
