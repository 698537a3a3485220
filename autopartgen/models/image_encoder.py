"""A DINOv2-style vision transformer with register tokens.

At the release size (ViT-L/14, 4 registers) its state dict has exactly the key layout of the official
``dinov2_vitl14_reg4_pretrain.pth`` file, so that file loads strictly; at a small size it is the image
encoder of our shipped model.

    tokens = [cls + pos_cls ; registers ; patches(image) + pos_grid(resized)]   (B, 1 + R + h*w, D)
    for block: tokens += ls1 * attn(norm1(tokens)); tokens += ls2 * mlp(norm2(tokens))
    features = tokens            ("x_prenorm": AutoPartGen uses the tokens before the final norm)

Registers carry no positional embedding. When the patch grid differs from the stored one (37 x 37 for
518 px), the stored grid is resized with antialiased bicubic interpolation to the exact target size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PatchEmbed(nn.Module):
    """Non-overlapping patches: (B, 3, H, W) -> (B, H/p * W/p, D), row-major."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(images).flatten(2).transpose(1, 2)


class SelfAttention(nn.Module):
    """Standard multi-head self-attention with one fused ``qkv`` Linear laid out [q | k | v]."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool, proj_bias: bool):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, bias: bool):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class LayerScale(nn.Module):
    def __init__(self, dim: int, init_value: float):
        super().__init__()
        self.gamma = nn.Parameter(init_value * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class ViTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, qkv_bias: bool, proj_bias: bool, ffn_bias: bool,
                 init_values: float | None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = SelfAttention(dim, heads, qkv_bias, proj_bias)
        self.ls1 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), ffn_bias)
        self.ls2 = LayerScale(dim, init_values) if init_values else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class ImageEncoder(nn.Module):
    """DINOv2 ViT with registers. Keyword arguments follow DINOv2's ``DinoVisionTransformer``.

    Release (ViT-L/14-reg4): img_size 518, patch_size 14, embed_dim 1024, depth 24, num_heads 16,
    num_register_tokens 4, init_values 1.0. Only the options the released encoder uses are
    implemented: an MLP feed-forward and no drop-path. ``interpolate_offset`` 0 resizes the stored
    positional grid to the exact target size (register models); a non-zero offset uses DINOv2's
    scale factors (n + offset) / stored (models without registers).
    """

    def __init__(self, img_size: int = 518, patch_size: int = 14, in_chans: int = 3, embed_dim: int = 1024,
                 depth: int = 24, num_heads: int = 16, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 ffn_bias: bool = True, proj_bias: bool = True, drop_path_rate: float = 0.0,
                 drop_path_uniform: bool = False, init_values: float | None = 1.0, ffn_layer: str = "mlp",
                 block_chunks: int = 0, num_register_tokens: int = 4, interpolate_antialias: bool = True,
                 interpolate_offset: float = 0.0):
        super().__init__()
        if ffn_layer != "mlp" or block_chunks != 0:
            raise ValueError("ImageEncoder supports ffn_layer='mlp' and block_chunks=0 only")
        if drop_path_rate:
            raise ValueError("ImageEncoder does not implement drop-path; use drop_path_rate=0")
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.num_register_tokens = num_register_tokens
        self.interpolate_antialias = interpolate_antialias
        self.interpolate_offset = interpolate_offset
        grid = img_size // patch_size

        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, embed_dim))
        self.register_tokens = (nn.Parameter(torch.zeros(1, num_register_tokens, embed_dim))
                                if num_register_tokens else None)
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))  # in the official file; unused here
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        self.blocks = nn.ModuleList([
            ViTBlock(embed_dim, num_heads, mlp_ratio, qkv_bias, proj_bias, ffn_bias, init_values) for _ in range(depth)
        ])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)  # in the official file; AutoPartGen uses x_prenorm
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        if self.register_tokens is not None:
            nn.init.normal_(self.register_tokens, std=1e-6)

    def position_embedding(self, rows: int, cols: int) -> torch.Tensor:
        """(1, 1 + rows * cols, D): the class entry and the stored grid resized to rows x cols."""
        stored = self.pos_embed.shape[1] - 1
        side = int(round(stored ** 0.5))
        if rows == cols == side:
            return self.pos_embed
        pos = self.pos_embed.float()
        grid = pos[:, 1:].reshape(1, side, side, self.embed_dim).permute(0, 3, 1, 2)
        if self.interpolate_offset:
            # DINOv2 models without registers pass scale factors (n + offset) / stored instead of a size.
            scale = ((rows + self.interpolate_offset) / side, (cols + self.interpolate_offset) / side)
            grid = F.interpolate(grid, scale_factor=scale, mode="bicubic", align_corners=False,
                                 antialias=self.interpolate_antialias)
        else:
            grid = F.interpolate(grid, size=(rows, cols), mode="bicubic", align_corners=False,
                                 antialias=self.interpolate_antialias)
        grid = grid.permute(0, 2, 3, 1).reshape(1, rows * cols, self.embed_dim)
        return torch.cat([pos[:, :1], grid], dim=1).to(self.pos_embed.dtype)

    def forward_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Normalised images (B, 3, H, W), H and W multiples of patch_size -> x_prenorm (B, 1 + R + hw, D)."""
        batch, _, height, width = pixel_values.shape
        patches = self.patch_embed(pixel_values)
        x = torch.cat([self.cls_token.expand(batch, -1, -1), patches], dim=1)
        x = x + self.position_embedding(height // self.patch_size, width // self.patch_size).to(x.dtype)
        if self.register_tokens is not None:
            x = torch.cat([x[:, :1], self.register_tokens.expand(batch, -1, -1), x[:, 1:]], dim=1)
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """RGB images in [0, 1] (B, 3, H, W) -> ImageNet-normalised -> x_prenorm features."""
        return self.forward_features(imagenet_normalize(images))


def imagenet_normalize(images: torch.Tensor) -> torch.Tensor:
    """(image - mean) / std per channel, images (B, 3, H, W) in [0, 1]."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device)[None, :, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype, device=images.device)[None, :, None, None]
    return (images - mean) / std
