"""Building blocks shared by the shape VAE and the part DiT.

Parameter names (``to_q``, ``to_out.0``, ``norm_q``, ``ff.net.0.proj``, ``linear_1`` ...) are the ones
the released checkpoints use, so their state dicts load strictly into these modules.

Numerics follow the reference under CUDA bf16 autocast (see ``docs/compat.md``):
``FP32LayerNorm`` computes in fp32 and returns the input dtype; ``RMSNorm`` returns fp32 when its
weight is fp32; the attention output is cast to the query dtype before the output projection.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class FP32LayerNorm(nn.LayerNorm):
    """LayerNorm computed in fp32 whatever the input dtype; the result has the input's dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.float() if self.weight is not None else None
        bias = self.bias.float() if self.bias is not None else None
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).to(x.dtype)


class RMSNorm(nn.Module):
    """RMS normalisation over the last dim with a learned gain (no bias), eps 1e-6.

    The variance is computed in fp32. With an fp32 gain the output is fp32 even for a bf16 input,
    which is what the released model saw in training (q/k reach attention in fp32).
    """

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.float().pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(variance + self.eps)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            x = x.to(self.weight.dtype)
        return x * self.weight


class Attention(nn.Module):
    """Multi-head attention with the head layout of the released TripoSG/AutoPartGen weights.

    Self-attention reads the concatenation ``[to_q(x) | to_k(x) | to_v(x)]`` as ``heads`` groups of
    ``3 * head_dim`` channels: head ``i`` takes its query, key and value from its own contiguous
    slice of that concatenation (the checkpoints were trained with a fused per-head qkv layout, so a
    head's "key" may come from rows of ``to_q``). Cross-attention splits the query normally and reads
    ``[to_k(c) | to_v(c)]`` as ``heads`` groups of ``2 * head_dim``.

    Args:
        dim: query width (B, L, dim).
        heads: number of heads; head_dim = dim // heads.
        context_dim: key/value input width for cross-attention; None makes a self-attention.
        qk_norm: RMS-normalise queries and keys per head (DiT).
        context_norm: LayerNorm the context before the key/value projections (VAE cross-attention).
    """

    def __init__(self, dim: int, heads: int, context_dim: int | None = None, qk_norm: bool = False,
                 context_norm: bool = False):
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.head_dim = dim // heads
        self.is_cross = context_dim is not None
        kv_dim = context_dim if self.is_cross else dim
        # Registration order = the checkpoints' key order.
        self.norm_cross = nn.LayerNorm(kv_dim) if context_norm else None
        self.norm_q = RMSNorm(self.head_dim) if qk_norm else None
        self.norm_k = RMSNorm(self.head_dim) if qk_norm else None
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(kv_dim, dim, bias=False)
        self.to_v = nn.Linear(kv_dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim, bias=True), nn.Dropout(0.0)])

    def context_keys_values(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of a cross-attention context, (B, heads, S, head_dim) each, q/k-normed.

        Depends only on the context, so callers can compute it once and reuse it across diffusion steps.
        """
        if self.norm_cross is not None:
            context = self.norm_cross(context)
        batch, length, _ = context.shape
        kv = torch.cat([self.to_k(context), self.to_v(context)], dim=-1)
        kv = kv.view(batch, length, self.heads, 2 * self.head_dim).transpose(1, 2)
        key, value = kv.split(self.head_dim, dim=-1)
        if self.norm_k is not None:
            key = self.norm_k(key)
        return key, value

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                context_kv: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """x (B, L, dim); context (B, S, context_dim) or precomputed ``context_kv`` -> (B, L, dim)."""
        batch, length, _ = x.shape
        if self.is_cross:
            query = self.to_q(x).view(batch, length, self.heads, self.head_dim).transpose(1, 2)
            key, value = context_kv if context_kv is not None else self.context_keys_values(context)
        else:
            qkv = torch.cat([self.to_q(x), self.to_k(x), self.to_v(x)], dim=-1)
            qkv = qkv.view(batch, length, self.heads, 3 * self.head_dim).transpose(1, 2)
            query, key, value = qkv.split(self.head_dim, dim=-1)
            if self.norm_k is not None:
                key = self.norm_k(key)
        if self.norm_q is not None:
            query = self.norm_q(query)
        out = F.scaled_dot_product_attention(query, key, value)
        out = out.transpose(1, 2).reshape(batch, length, self.heads * self.head_dim).to(query.dtype)
        return self.to_out[1](self.to_out[0](out))


class GELUProjection(nn.Module):
    """Linear followed by exact (erf) GELU; the ``net.0`` of :class:`FeedForward`."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.proj(x))


class FeedForward(nn.Module):
    """dim -> inner (GELU) -> dim, with the key layout ``net.0.proj`` / ``net.2``."""

    def __init__(self, dim: int, inner_dim: int):
        super().__init__()
        self.net = nn.ModuleList([GELUProjection(dim, inner_dim), nn.Dropout(0.0), nn.Linear(inner_dim, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = layer(x)
        return x


def sinusoidal_embedding(values: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """[sin(v * f_j), cos(v * f_j)] with f_j = exp(-ln(max_period) * j / (dim / 2)), j < dim / 2.

    values: (B,) any dtype (cast to fp32) -> (B, dim) fp32. Used for diffusion timesteps, the
    diffusion-forcing sigmas (as 1000 * sigma) and the part-slot index.
    """
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=values.device) / half
    angles = values.float()[:, None] * torch.exp(exponent)[None, :]
    embedding = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
    if dim % 2:
        embedding = F.pad(embedding, (0, 1))
    return embedding


class TimestepEmbedding(nn.Module):
    """MLP on a sinusoidal embedding: ``linear_1`` -> exact GELU -> ``linear_2``."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int):
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, hidden_dim)
        self.linear_2 = nn.Linear(hidden_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.gelu(self.linear_1(x)))


class FourierPointEmbedding(nn.Module):
    """Point coordinates -> [x, sin(x_i 2^k), cos(x_i 2^k)], k < num_freqs, coordinate-major.

    (B, P, 3) -> (B, P, 3 * (1 + 2 * num_freqs)); no learned parameters (the frequency table is a
    non-persistent buffer, absent from checkpoints). ``include_pi`` multiplies the frequencies by pi.
    """

    def __init__(self, num_freqs: int = 8, include_pi: bool = False, in_dim: int = 3):
        super().__init__()
        self.num_freqs = num_freqs
        self.include_pi = include_pi
        self.register_buffer("freqs", self._frequencies(), persistent=False)
        self.out_dim = in_dim * (1 + 2 * num_freqs)

    def _frequencies(self, device=None) -> torch.Tensor:
        freqs = 2.0 ** torch.arange(self.num_freqs, dtype=torch.float32, device=device)
        return freqs * math.pi if self.include_pi else freqs

    def reset_buffers(self) -> None:
        """Recompute the frequency table (after building on the meta device and ``to_empty``)."""
        self.freqs = self._frequencies(self.freqs.device)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        angles = (points[..., None] * self.freqs).flatten(-2)
        return torch.cat([points, torch.sin(angles), torch.cos(angles)], dim=-1)
