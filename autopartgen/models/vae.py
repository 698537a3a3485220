"""The shape VAE (3DShape2VecSet / TripoSG): surface point cloud -> latent tokens -> SDF-like field.

encode:  surface (B, P, 6) [xyz, normal] -> FPS picks N = P // downscale query points ->
         one cross-attention from the queries to all points, then self-attention blocks ->
         posterior params (B, N, 2C) -> mean / log-variance.
decode:  latent (B, N, C) -> post_quant -> self-attention blocks (once per latent) ->
         each query point cross-attends to those tokens -> one value per point.

``decode`` returns the reference's sign: negative inside, positive outside (SDF-like). The field
used for mesh extraction, ``h = -decode(...)``, is positive inside.

Constructor keyword arguments are those of the reference YAML ``vae:`` section.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from autopartgen.geometry.sampling import farthest_point_sample
from autopartgen.models.layers import Attention, FeedForward, FourierPointEmbedding, FP32LayerNorm


class VAEBlock(nn.Module):
    """Pre-norm transformer block: optional self-attention, optional cross-attention, feed-forward.

    Key names: ``norm1``/``attn1`` (self), ``norm2``/``attn2`` (cross, LayerNorm on the context),
    ``norm3``/``ff`` (feed-forward).
    """

    def __init__(self, dim: int, heads: int, self_attention: bool, cross_attention: bool):
        super().__init__()
        if self_attention:
            self.norm1 = FP32LayerNorm(dim, eps=1e-5)
            self.attn1 = Attention(dim, heads)
        if cross_attention:
            self.norm2 = FP32LayerNorm(dim, eps=1e-5)
            self.attn2 = Attention(dim, heads, context_dim=dim, context_norm=True)
        self.norm3 = FP32LayerNorm(dim, eps=1e-5)
        self.ff = FeedForward(dim, 4 * dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        if hasattr(self, "attn1"):
            x = x + self.attn1(self.norm1(x))
        if hasattr(self, "attn2"):
            x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))


class VAEEncoder(nn.Module):
    """Point features (B, P, 51 + 3) and query features (B, N, 51 + 3) -> tokens (B, N, width)."""

    def __init__(self, in_dim: int, width: int, heads: int, num_layers: int):
        super().__init__()
        self.proj_in = nn.Linear(in_dim, width)
        self.blocks = nn.ModuleList(
            [VAEBlock(width, heads, self_attention=False, cross_attention=True)]
            + [VAEBlock(width, heads, self_attention=True, cross_attention=False) for _ in range(num_layers)]
        )
        self.norm_out = nn.LayerNorm(width)

    def forward(self, query_features: torch.Tensor, point_features: torch.Tensor) -> torch.Tensor:
        tokens = self.proj_in(query_features)
        context = self.proj_in(point_features)
        tokens = self.blocks[0](tokens, context)
        for block in self.blocks[1:]:
            tokens = block(tokens)
        return self.norm_out(tokens)


class VAEDecoder(nn.Module):
    """Latent tokens (B, N, width) -> self-attention stack; query points cross-attend to it."""

    def __init__(self, query_dim: int, width: int, heads: int, num_layers: int):
        super().__init__()
        self.blocks = nn.ModuleList(
            [VAEBlock(width, heads, self_attention=True, cross_attention=False) for _ in range(num_layers)]
            + [VAEBlock(width, heads, self_attention=False, cross_attention=True)]
        )
        self.proj_query = nn.Linear(query_dim, width)
        self.norm_out = nn.LayerNorm(width)
        self.proj_out = nn.Linear(width, 1)

    def latent_tokens(self, z: torch.Tensor) -> torch.Tensor:
        """(B, N, width) post-quant latent -> the tokens every query attends to (computed once)."""
        for block in self.blocks[:-1]:
            z = block(z)
        return z

    def query(self, query_features: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """(B, M, query_dim) embedded points and (B, N, width) tokens -> raw head h (B, M)."""
        x = self.blocks[-1](self.proj_query(query_features), tokens)
        return self.proj_out(self.norm_out(x)).squeeze(-1)


@dataclass
class DiagonalGaussian:
    """Posterior over latent tokens: ``params`` (B, N, 2C) = [mean | log-variance]."""

    params: torch.Tensor

    def __post_init__(self):
        self.mean, logvar = self.params.chunk(2, dim=-1)
        self.logvar = logvar.clamp(-30.0, 20.0)
        self.std = torch.exp(0.5 * self.logvar)

    def mode(self) -> torch.Tensor:
        return self.mean

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * noise

    def kl(self) -> torch.Tensor:
        """KL to N(0, I), mean over tokens and channels -> (B,)."""
        return 0.5 * torch.mean(self.mean.pow(2) + self.std.pow(2) - 1.0 - self.logvar, dim=(1, 2))


def fps_start_index(num_points: int, generator: torch.Generator | None = None) -> int:
    """Random FPS start: one ``torch.randint`` on the CPU generator (the global one when None)."""
    return int(torch.randint(num_points, (1,), generator=generator))


class ShapeVAE(nn.Module):
    """The TripoSG shape VAE (class ``TripoSGVAEModel`` of the reference).

    Args (reference YAML ``vae:`` spelling; release defaults):
        in_channels: coordinate channels (3).
        latent_channels: C, channels per latent token (64).
        num_attention_heads: heads in encoder and decoder (8).
        width_encoder / encoder_width: encoder width (512); ``encoder_width`` is the YAML spelling.
        width_decoder: decoder width (1024).
        num_layers_encoder / num_layers_decoder: self-attention blocks (8 / 16).
        embed_frequency, embed_include_pi: Fourier point embedding (8, False).
        latent_random_downscales: P // d tokens in training, d drawn per batch ([16, 64]).
        latent_eval_downscale: P // d tokens in eval (16 -> 2048 tokens from 32768 points).
        random_start_point: random FPS start (True; in eval too).
        Other reference keys (embedding_type, surface_sampling_*, grad_*) are accepted; only the
        values the release uses are supported.
    """

    def __init__(self, in_channels: int = 3, latent_channels: int = 64, num_attention_heads: int = 8,
                 width_encoder: int = 512, width_decoder: int = 1024, num_layers_encoder: int = 8,
                 num_layers_decoder: int = 16, embedding_type: str = "frequency", embed_frequency: int = 8,
                 embed_include_pi: bool = False, latent_random_downscales=(16, 64), latent_eval_downscale: int = 16,
                 surface_sampling_chunks: int = 1, random_start_point: bool = True,
                 surface_sampling_type: str = "fps", grad_type: str = "numerical", grad_interval: float = 0.001,
                 encoder_width: int | None = None, checkpoint_path: str | None = None):
        super().__init__()
        if embedding_type != "frequency" or surface_sampling_type != "fps":
            raise ValueError("ShapeVAE supports embedding_type='frequency' and surface_sampling_type='fps' only")
        width_encoder = encoder_width if encoder_width is not None else width_encoder
        self.latent_channels = latent_channels
        self.latent_random_downscales = list(latent_random_downscales)
        self.latent_eval_downscale = latent_eval_downscale
        self.random_start_point = random_start_point
        self.grad_interval = grad_interval

        self.embedder = FourierPointEmbedding(embed_frequency, embed_include_pi, in_channels)
        point_dim = self.embedder.out_dim
        self.encoder = VAEEncoder(point_dim + 3, width_encoder, num_attention_heads, num_layers_encoder)
        self.decoder = VAEDecoder(point_dim, width_decoder, num_attention_heads, num_layers_decoder)
        self.quant = nn.Linear(width_encoder, 2 * latent_channels)  # encoder tokens -> [mean | logvar]
        self.post_quant = nn.Linear(latent_channels, width_decoder)  # latent -> decoder width

    # ----------------------------------------------------------------------------------- encode
    def num_query_tokens(self, num_points: int) -> int:
        """Tokens for a cloud of ``num_points``: eval uses the fixed downscale, training a random one."""
        downscale = random.choice(self.latent_random_downscales) if self.training else self.latent_eval_downscale
        return num_points // downscale

    def select_query_indices(self, surface: torch.Tensor, num_tokens: int | None = None,
                             generator: torch.Generator | None = None) -> torch.Tensor:
        """FPS on xyz per batch element -> (B, N) int64 indices into the cloud.

        The start index is one ``torch.randint`` per element from ``generator`` (the global CPU
        generator when None, as the reference does), or 0 when ``random_start_point`` is off.
        """
        batch, num_points, _ = surface.shape
        num_tokens = num_tokens or self.num_query_tokens(num_points)
        xyz = surface[..., :3].detach().float().cpu().numpy()
        indices = []
        for b in range(batch):
            start = fps_start_index(num_points, generator) if self.random_start_point else 0
            indices.append(farthest_point_sample(xyz[b], num_tokens, start))
        return torch.from_numpy(np.stack(indices)).to(surface.device)

    def point_features(self, surface: torch.Tensor) -> torch.Tensor:
        """(B, P, 6) [xyz, normal] -> (B, P, 51 + 3) [embed(xyz), normal]."""
        return torch.cat([self.embedder(surface[..., :3]), surface[..., 3:6]], dim=-1)

    def encode_with_indices(self, surface: torch.Tensor, query_indices: torch.Tensor) -> DiagonalGaussian:
        """Deterministic encoder: surface (B, P, 6), query indices (B, N) -> posterior over (B, N, C)."""
        features = self.point_features(surface)
        gather_index = query_indices[..., None].expand(-1, -1, features.shape[-1])
        query_features = torch.gather(features, 1, gather_index)
        return DiagonalGaussian(self.quant(self.encoder(query_features, features)))

    def encode(self, surface: torch.Tensor, num_tokens: int | None = None,
               generator: torch.Generator | None = None) -> DiagonalGaussian:
        """surface (B, P, 6) -> posterior; FPS chooses the query tokens (see select_query_indices)."""
        indices = self.select_query_indices(surface, num_tokens, generator)
        return self.encode_with_indices(surface, indices)

    # ----------------------------------------------------------------------------------- decode
    def decoder_tokens(self, latent: torch.Tensor) -> torch.Tensor:
        """Native latent (B, N, C) -> decoder tokens (B, N, width); reuse them for many query chunks."""
        return self.decoder.latent_tokens(self.post_quant(latent))

    def query_field(self, tokens: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        """Decoder tokens (B, N, width), query points (B, M, 3) -> h (B, M), positive inside."""
        return self.decoder.query(self.embedder(queries), tokens)

    def decode(self, latent: torch.Tensor, queries: torch.Tensor, chunk_size: int = 50_000) -> torch.Tensor:
        """Native latent (B, N, C), queries (B, M, 3) -> SDF-like values (B, M), negative inside."""
        tokens = self.decoder_tokens(latent)
        chunks = [self.query_field(tokens, queries[:, start:start + chunk_size])
                  for start in range(0, queries.shape[1], chunk_size)]
        return -torch.cat(chunks, dim=1)
