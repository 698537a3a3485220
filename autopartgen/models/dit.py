"""The part diffusion transformer (class ``PartgenTripoSGDiTModel`` of the reference).

It predicts the diffusion velocity of one latent (B, N, C), given
  * the image condition: features of [whole image ; part image] concatenated on channels (B, T, 2D_img),
    projected by ``cond_proj`` and read by cross-attention in every block;
  * the geometry condition: ``part_latents`` (B, P, N, C) - slot 0 the whole object, slot 1 the VAE
    encoding of the parts generated so far - read by cross-attention in the first blocks;
  * the timestep, and for diffusion forcing the noise level of each context slot.

    tokens = [time token ; proj_in(x_t)]                        (B, 1 + N, width)
    for block i: (long skip from block L-1-i for the second half)
        tokens += attn1(norm1(tokens))                           self-attention
        tokens += attn2(norm2(tokens), image)                    image cross-attention
        tokens += attn3(norm3(tokens), parts)    (i < K only)    part cross-attention
        tokens += ff(norm_ff(tokens))
    v = proj_out(norm_out(tokens)[:, 1:])                       (B, N, C)

Everything that depends only on the condition (``cond_proj``, image and part key/value projections,
the sigma embeddings) is computed by :meth:`PartDiT.prepare_condition` and can be reused across the
diffusion steps of one sample; :meth:`PartDiT.forward` recomputes it every call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from autopartgen.models.layers import Attention, FeedForward, FP32LayerNorm, TimestepEmbedding, sinusoidal_embedding


class PartPositionEmbedding(nn.Module):
    """Slot index p -> Linear([sin(p f_k), cos(p f_k)]), 128 frequencies f_k = 10000^(-k/128)."""

    num_features = 256

    def __init__(self, width: int):
        super().__init__()
        self.linear = nn.Linear(self.num_features, width)

    def forward(self, slots: torch.Tensor) -> torch.Tensor:
        return self.linear(sinusoidal_embedding(slots, self.num_features))


class DiTBlock(nn.Module):
    """One DiT block: optional long skip, self-attention, image and (optional) part cross-attention, FF."""

    def __init__(self, width: int, heads: int, image_dim: int, part_dim: int, part_attention: bool, skip: bool):
        super().__init__()
        self.norm1 = FP32LayerNorm(width, eps=1e-5)
        self.attn1 = Attention(width, heads, qk_norm=True)
        self.norm2 = FP32LayerNorm(width, eps=1e-5)
        self.attn2 = Attention(width, heads, context_dim=image_dim, qk_norm=True)
        if part_attention:
            self.norm3 = FP32LayerNorm(width, eps=1e-5)
            self.attn3 = Attention(width, heads, context_dim=part_dim, qk_norm=True)
        self.norm_ff = FP32LayerNorm(width, eps=1e-5)
        self.ff = FeedForward(width, 4 * width)
        if skip:
            self.skip_norm = FP32LayerNorm(width, eps=1e-5)
            self.skip_linear = nn.Linear(2 * width, width)

    @property
    def has_part_attention(self) -> bool:
        return hasattr(self, "attn3")

    def forward(self, x: torch.Tensor, image_kv, part_kv=None, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            # Released weights expect the norm *after* the linear, and [skip, x] in that order.
            x = self.skip_norm(self.skip_linear(torch.cat([skip, x], dim=-1)))
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), context_kv=image_kv)
        if part_kv is not None and self.has_part_attention:
            x = x + self.attn3(self.norm3(x), context_kv=part_kv)
        return x + self.ff(self.norm_ff(x))


@dataclass
class DiTCondition:
    """Step-invariant work for one condition batch (see :meth:`PartDiT.prepare_condition`).

    image_kv: per block, (key, value) of the projected image tokens.
    part_kv: per part-attention block, (key, value) of the part tokens; None without part tokens.
    sigma_embedding: (B, width) diffusion-forcing term added to the time token.
    part_tokens: (B, P * N, C) the part tokens (kept for inspection / tests).
    image_tokens: (B, T, cross_attention_dim) ``cond_proj`` output.
    """

    image_kv: list
    part_kv: list | None
    sigma_embedding: torch.Tensor | None
    part_tokens: torch.Tensor | None
    image_tokens: torch.Tensor

    def repeat(self, times: int) -> "DiTCondition":
        """Repeat along the batch (e.g. several samples sharing one condition)."""
        rep = lambda t: t.repeat_interleave(times, dim=0)  # noqa: E731
        return DiTCondition(
            image_kv=[(rep(k), rep(v)) for k, v in self.image_kv],
            part_kv=None if self.part_kv is None else [(rep(k), rep(v)) for k, v in self.part_kv],
            sigma_embedding=None if self.sigma_embedding is None else rep(self.sigma_embedding),
            part_tokens=None if self.part_tokens is None else rep(self.part_tokens),
            image_tokens=rep(self.image_tokens),
        )


class PartDiT(nn.Module):
    """AutoPartGen's part DiT. Keyword arguments are those of the reference YAML ``dit:`` section.

    Args (release-2048 values):
        num_latents: N latent tokens (2048); only documents the expected sequence length.
        in_channels: C channels per latent token (64).
        width: model width (2048). num_layers: blocks (21). num_attention_heads: heads (16).
        cross_attention_dim: width of the projected image tokens (1024); the raw image condition
            has 2 * cross_attention_dim channels when ``mlp_encode_cond`` (whole + part features).
        latent_dim: channels of the part tokens (64).
        token_cross_attention_layer: blocks 0..K-1 read the part tokens (10).
        use_part_position_embedding: add a learned slot embedding to each context slot.
        use_diffusion_forcing: sigma embeddings for noisy history slots.
        scale_factor: latent scale (1.268390); the DiT works on native latent * scale_factor.
        latent_on_spatial, part_as_concat: reference variants; only False is supported.
        args_scheduler: ignored here (the sampler reads the scheduler section).
    """

    def __init__(self, num_latents: int = 2048, in_channels: int = 64, width: int = 2048, num_layers: int = 21,
                 num_attention_heads: int = 16, cross_attention_dim: int = 1024, latent_dim: int = 64,
                 use_part_position_embedding: bool = True, token_cross_attention_layer: int = 10,
                 latent_on_spatial: bool = False, mlp_encode_cond: bool = True, part_as_concat: bool = False,
                 scale_factor: float = 1.26839, use_diffusion_forcing: bool = True, args_scheduler: dict | None = None,
                 checkpoint_path: str | None = None):
        super().__init__()
        if latent_on_spatial or part_as_concat:
            raise ValueError("PartDiT supports latent_on_spatial=False and part_as_concat=False only")
        self.num_latents = num_latents
        self.in_channels = in_channels
        self.width = width
        self.latent_dim = latent_dim
        self.scale_factor = scale_factor
        self.use_diffusion_forcing = use_diffusion_forcing

        self.time_proj = TimestepEmbedding(width, 4 * width, width)
        if use_diffusion_forcing:
            self.sigma_history_proj = TimestepEmbedding(width, 4 * width, width)
            self.sigma_per_part_proj = TimestepEmbedding(width, 4 * width, latent_dim)
        self.proj_in = nn.Linear(in_channels, width)
        if use_part_position_embedding:
            self.part_position_embedding = PartPositionEmbedding(width)
            self.map_position = nn.Linear(width, latent_dim)
        if mlp_encode_cond:
            self.cond_proj = nn.Sequential(nn.Linear(2 * cross_attention_dim, cross_attention_dim), nn.GELU(),
                                           nn.LayerNorm(cross_attention_dim),
                                           nn.Linear(cross_attention_dim, cross_attention_dim))
        else:
            self.cond_proj = nn.Identity()
        half = num_layers // 2
        self.blocks = nn.ModuleList([
            DiTBlock(width, num_attention_heads, cross_attention_dim, latent_dim,
                     part_attention=i < token_cross_attention_layer, skip=i > half)
            for i in range(num_layers)
        ])
        self.num_skip_sources = half  # blocks 0..half-1 feed the skips of blocks num_layers-1..half+1
        self.norm_out = nn.LayerNorm(width)
        self.proj_out = nn.Linear(width, in_channels)

    # ------------------------------------------------------------------------- condition
    def sigma_embedding(self, sigma: torch.Tensor, projection: nn.Module) -> torch.Tensor:
        """sigma in [0, 1] (B,) -> projection(sinusoid(1000 * sigma))."""
        return projection(sinusoidal_embedding(1000.0 * sigma.float(), self.width))

    def part_tokens(self, part_latents: torch.Tensor, sigma_history: torch.Tensor | None) -> torch.Tensor:
        """(B, P, N, C) context slots -> (B, P * N, C) tokens with slot and noise-level embeddings."""
        batch, slots, length, channels = part_latents.shape
        if hasattr(self, "part_position_embedding"):
            slot_ids = torch.arange(slots, device=part_latents.device)
            slot_embedding = F.silu(self.map_position(self.part_position_embedding(slot_ids)))  # (P, C)
            part_latents = part_latents + slot_embedding[None, :, None, :]
        if sigma_history is not None and sigma_history.dim() == 2 and self.use_diffusion_forcing:
            per_slot = self.sigma_embedding(sigma_history.reshape(-1), self.sigma_per_part_proj)
            part_latents = part_latents + per_slot.view(batch, slots, 1, -1).to(part_latents.dtype)
        return part_latents.reshape(batch, slots * length, channels)

    def prepare_condition(self, image_emb: torch.Tensor, part_latents: torch.Tensor | None = None,
                          sigma_history: torch.Tensor | None = None) -> DiTCondition:
        """Everything that does not change across diffusion steps, for a batch of conditions.

        image_emb (B, T, 2 * cross_attention_dim); part_latents (B, P, N, C) scaled, or None for no
        part tokens; sigma_history None, (B,) or (B, P) noise levels of the context slots.
        """
        image_tokens = self.cond_proj(image_emb)
        image_kv = [block.attn2.context_keys_values(image_tokens) for block in self.blocks]
        part_tokens = part_kv = None
        if part_latents is not None:
            part_tokens = self.part_tokens(part_latents, sigma_history)
            part_kv = [block.attn3.context_keys_values(part_tokens) if block.has_part_attention else None
                       for block in self.blocks]
        sigma_embedding = None
        if self.use_diffusion_forcing:
            # The reference always adds this term; with no history noise it embeds sigma = 0.
            if sigma_history is None:
                sigma = torch.zeros(image_emb.shape[0], device=image_emb.device)
            elif sigma_history.dim() == 2:
                sigma = sigma_history.float().mean(dim=1)
            else:
                sigma = sigma_history
            sigma_embedding = self.sigma_embedding(sigma, self.sigma_history_proj)
        return DiTCondition(image_kv, part_kv, sigma_embedding, part_tokens, image_tokens)

    # ---------------------------------------------------------------------------- forward
    def forward_prepared(self, hidden_states: torch.Tensor, timesteps: torch.Tensor, condition: DiTCondition,
                         return_block_outputs: bool = False):
        """Velocity (B, N, C) for noisy scaled latents (B, N, C) at integer ``timesteps`` (B,)."""
        time_embedding = self.time_proj(sinusoidal_embedding(timesteps, self.width))
        time_token = time_embedding
        if condition.sigma_embedding is not None:
            time_token = time_embedding + condition.sigma_embedding
        x = torch.cat([time_token[:, None], self.proj_in(hidden_states)], dim=1)

        skips, block_outputs = [], []
        for i, block in enumerate(self.blocks):
            skip = skips.pop() if hasattr(block, "skip_linear") else None
            part_kv = condition.part_kv[i] if condition.part_kv is not None else None
            x = block(x, condition.image_kv[i], part_kv, skip)
            if i < self.num_skip_sources:
                skips.append(x)
            if return_block_outputs:
                block_outputs.append(x)
        x = self.norm_out(x)
        velocity = self.proj_out(x[:, 1:])
        if return_block_outputs:
            return velocity, {"blocks": block_outputs, "norm_out": x, "time_proj": time_embedding}
        return velocity

    def forward(self, hidden_states: torch.Tensor, timesteps: torch.Tensor, condition,
                sigma_history: torch.Tensor | None = None) -> torch.Tensor:
        """Reference call form: ``condition`` is ``[image_emb, part_latents]`` or a bare ``image_emb``."""
        if isinstance(condition, (list, tuple)):
            image_emb, part_latents = condition
        else:
            image_emb, part_latents = condition, None
        prepared = self.prepare_condition(image_emb, part_latents, sigma_history)
        return self.forward_prepared(hidden_states, timesteps, prepared)
