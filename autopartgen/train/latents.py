"""The VAE latent cache the part DiT trains on.

For every prepared object (``train/prep.py``) the VAE encodes, once, with FPS starts seeded per object:

* the whole object,
* every part k,
* every prefix union of parts 0..k-1 for k = 1..K (the history before part k; the union of all K
  parts is the whole object's cloud), and, once per cache, the empty cloud (the history before the
  first part: the encoding of an all-zero cloud, as the pipeline's ``empty_history``).

A ``remainder`` cache (``--history remainder``) holds what is left instead: the history before part k is
the region parts k..K-1 hold, so before the first part it is the whole object and after the last the
empty cloud; ``index.json`` records ``history_region``.

Latents are stored native (posterior mode, not scaled) in
``<data>/.latent_cache/<vae fingerprint>/latents.safetensors`` with an ``index.json`` (object ids,
part counts, offsets, the fingerprint). The fingerprint is a hash of the VAE's config section and
weights, so a changed VAE gets a new cache and a stale one is never read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from autopartgen.checkpoints import save_safetensors
from autopartgen.train.common import mix_seed
from autopartgen.train.prep import fit_cloud, load_prep

logger = logging.getLogger(__name__)


#: State-dict prefixes that do not take part in encoding: changing them leaves every latent as it was.
DECODER_PREFIXES = ("decoder.", "post_quant.")


def vae_fingerprint(vae: torch.nn.Module, vae_config: dict | None = None) -> str:
    """16 hex digits identifying the VAE's encoding path: its config and every weight but the decoder's.

    Latents depend only on the encoder side, so a decoder fine-tuned on the cache
    (``autopartgen train vae --decoder-only``) keeps the cache, and the DiT trained on it, valid.
    """
    h = hashlib.sha256(json.dumps(vae_config or {}, sort_keys=True, default=str).encode())
    for key, value in sorted(vae.state_dict().items()):
        if key.startswith(DECODER_PREFIXES):
            continue
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().float().numpy().tobytes())
    return h.hexdigest()[:16]


def cache_dir(data_dir: Path, fingerprint: str, prep_folder: Path) -> Path:
    """``<data>/.latent_cache/<fingerprint>-<prep key>``: one cache per VAE encoder and per prep form, so
    training with ``--history anchored`` never reads latents of the ``parts`` clouds or the reverse."""
    return Path(data_dir) / ".latent_cache" / f"{fingerprint}-{Path(prep_folder).name}"


def quantize_latents(latents: torch.Tensor) -> dict[str, torch.Tensor]:
    """(..., N, C) latents -> int8 codes (..., N, C) and float16 steps (..., 1, C), one per latent and channel.

    The error is at most half a step, |x| max / 254 over the latent's tokens (about 0.3 % of the latent
    std here, far below the VAE posterior's own spread). ``tools/pack_dit_data.py`` uses it to fit a whole
    corpus into what travels to a GPU machine.
    """
    step = (latents.float().abs().amax(dim=-2, keepdim=True) / 127.0).clamp_min(1e-8).half()
    codes = torch.round(latents.float() / step.float()).clamp(-127, 127).to(torch.int8)
    return {"q8": codes, "step": step}


def read_latents(tensors: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    """``tensors[name]`` as stored, or the float16 decoding of ``name.q8`` x ``name.step``."""
    if name in tensors:
        return tensors[name]
    return (tensors[f"{name}.q8"].float() * tensors[f"{name}.step"].float()).half()


#: The row of :meth:`LatentCache.table` holding all zeros (the start slot and the end token's target).
ZERO_ROW = -1


class LatentCache:
    """In-memory view of one cache: ``whole(i)``, ``part(i, k)``, ``history(i, k)`` as (N, C) tensors."""

    def __init__(self, folder: Path):
        from safetensors.torch import load_file

        self.folder = Path(folder)
        self.index = json.loads((self.folder / "index.json").read_text())
        tensors = load_file(str(self.folder / "latents.safetensors"))
        self.wholes, self.parts, self.histories, self.empty = (read_latents(tensors, name) for name in
                                                               ("whole", "parts", "history", "empty"))
        self.ids = self.index["ids"]
        self.counts = self.index["counts"]
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)
        self.fingerprint = self.index["fingerprint"]
        self.remainder = self.index.get("history_region", "held") == "remainder"

    def __len__(self) -> int:
        return len(self.ids)

    def whole(self, i: int) -> torch.Tensor:
        return self.wholes[i]

    def part(self, i: int, k: int) -> torch.Tensor:
        return self.parts[self.offsets[i] + k]

    def history(self, i: int, k: int) -> torch.Tensor:
        """Encoding of the union of parts 0..k-1 (k = 0: the empty cloud), or for a remainder cache of the
        union of parts k..K-1 (k = 0: the whole object, k = K: the empty cloud)."""
        if k == 0:
            return self.wholes[i] if self.remainder else self.empty
        return self.histories[self.offsets[i] + k - 1]

    # Rows of :meth:`table`, the form the DiT training module gathers latents from.
    def whole_row(self, i: int) -> int:
        return i

    def part_row(self, i: int, k: int) -> int:
        return len(self.wholes) + int(self.offsets[i]) + k

    def history_row(self, i: int, k: int) -> int:
        """Row of :meth:`history` (i, k); k = 0 is the empty cloud's row (a remainder cache: the whole's)."""
        if k == 0:
            return self.whole_row(i) if self.remainder else len(self.wholes) + 2 * len(self.parts)
        return len(self.wholes) + len(self.parts) + int(self.offsets[i]) + k - 1

    def table(self) -> torch.Tensor:
        """(R, N, C) float16: wholes, parts, histories, the empty cloud's latent, then a zero latent, which
        row -1 (:data:`ZERO_ROW`) reads."""
        zero = torch.zeros_like(self.empty)[None]
        return torch.cat([self.wholes, self.parts, self.histories, self.empty[None], zero]).half()

    def end_threshold(self, quantile: float = 0.01, fraction: float = 0.5) -> float:
        """An end-token threshold for this latent space: ``fraction`` x the ``quantile`` of mean |z| over
        the part latents (native).

        The end latent is all zeros and real parts sit far from it (mean |z| ~ the latent std), but the
        sampler lands only near zero; the release's 0.1 fits its latent scale (std ~0.8), not a VAE whose
        latents have another spread, so the threshold is placed between zero and the smallest real parts.
        """
        magnitudes = self.parts.float().abs().mean(dim=(1, 2))
        return round(fraction * float(torch.quantile(magnitudes, quantile)), 3)

    def latent_std(self) -> float:
        """Std of the whole and part latents (all elements): the DiT's scale factor is 1 / this."""
        return float(torch.cat([self.wholes.flatten(), self.parts.flatten()]).float().std())


@torch.no_grad()
def build_latent_cache(data_dir: Path, prep_folder: Path, ids: list[str], vae: torch.nn.Module, config,
                       device: torch.device | str = "cpu", batch_size: int = 32, progress: bool = True,
                       keep_old: bool = False, remainder: bool = False) -> LatentCache:
    """Encode (or reuse) the cache of ``ids`` for this VAE; returns it loaded. ``remainder``: the prep's
    prefixes are remainders (``--history remainder``), so the history after the last part is the empty cloud.

    A cache whose fingerprint matches and whose ids equal ``ids`` is reused; otherwise it is rebuilt.
    Caches of other fingerprints are deleted unless ``keep_old``.
    """
    vae = vae.eval().to(device)
    region = "remainder" if remainder else "held"
    fingerprint = vae_fingerprint(vae, config.vae)
    folder = cache_dir(data_dir, fingerprint, prep_folder)
    index_path = folder / "index.json"
    if index_path.is_file():
        index = json.loads(index_path.read_text())
        if (index.get("fingerprint") == fingerprint and index.get("ids") == list(ids)
                and index.get("history_region", "held") == region):
            logger.info("latent cache %s is current (%d objects)", folder, len(ids))
            return LatentCache(folder)
    root = Path(data_dir) / ".latent_cache"
    if root.is_dir() and not keep_old:
        for other in root.iterdir():  # caches of older VAEs on the same prep form
            if other.is_dir() and other.name != folder.name and other.name.endswith(f"-{Path(prep_folder).name}"):
                logger.info("removing stale latent cache %s", other)
                shutil.rmtree(other, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    size = int(config.pipeline.get("point_cloud_size", 32768))

    def encode(clouds: np.ndarray, seed: int) -> torch.Tensor:
        out = []
        for start in range(0, len(clouds), batch_size):
            chunk = torch.from_numpy(clouds[start:start + batch_size].astype(np.float32)).to(device)
            generator = torch.Generator().manual_seed(mix_seed(seed, start))
            out.append(vae.encode(chunk, generator=generator).mode().float().cpu())
        return torch.cat(out)

    empty = encode(np.zeros((1, size, 6), np.float32), 0)[0]
    wholes, parts, histories, counts = [], [], [], []
    for number, object_id in enumerate(tqdm(ids, desc="encode latents", unit="obj", disable=not progress)):
        prep = load_prep(prep_folder, object_id)
        count = len(prep["parts"])
        clouds = np.concatenate([prep["whole"][None], prep["parts"], prep["prefixes"]])
        clouds = np.stack([fit_cloud(c, size, mix_seed(number, j)) for j, c in enumerate(clouds)])
        latents = encode(clouds, mix_seed(17, number))
        wholes.append(latents[0])
        parts.append(latents[1:1 + count])
        # History before part k (k = 1..K): union of parts 0..k-1, k = K being the whole object; or the
        # remainder, parts k..K-1, k = K being the empty cloud.
        histories.append(torch.cat([latents[1 + count:], empty[None] if remainder else latents[:1]]))
        counts.append(count)
    tensors = {"whole": torch.stack(wholes), "parts": torch.cat(parts), "history": torch.cat(histories),
               "empty": empty}
    save_safetensors(tensors, folder / "latents.safetensors")
    index = {"fingerprint": fingerprint, "ids": list(ids), "counts": counts,
             "point_cloud_size": size, "latent_shape": list(empty.shape), "history_region": region}
    tmp = folder / "index.json.tmp"
    tmp.write_text(json.dumps(index) + "\n")
    os.replace(tmp, index_path)
    logger.info("latent cache %s: %d objects, %d parts", folder, len(ids), sum(counts))
    return LatentCache(folder)


def shared_latent_cache(data_dir: Path, prep_folder: Path, ids: list[str], vae: torch.nn.Module, config, env,
                        progress: bool = True, keep_old: bool = False, remainder: bool = False) -> LatentCache:
    """:func:`build_latent_cache` on rank 0 while the other ranks wait, then every rank holds the cache."""
    if env.is_main:
        cache = build_latent_cache(data_dir, prep_folder, ids, vae, config, env.device, progress=progress,
                                   keep_old=keep_old, remainder=remainder)
    env.barrier()
    if not env.is_main:
        cache = LatentCache(cache_dir(data_dir, vae_fingerprint(vae.eval(), config.vae), prep_folder))
    return cache
