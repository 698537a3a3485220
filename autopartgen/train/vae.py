"""VAE training: surface cloud in, signed distance at near-surface and uniform query points out.

Each item is one shape of one object, drawn per item: the whole object (30 %), a single part (50 %)
or a union of the first k parts (20 %, the histories the DiT conditions on). The encoder input is
the shape's cloud from ``train/prep.py``; the query points and exact SDFs come from the object's
``samples.npz`` (near-surface points jittered at two scales plus uniform points, with the SDF of
every part, so a part's SDF is its column and a union's is the minimum over its parts).

Loss: logistic occupancy loss on the decoder output read as a logit (negative inside, as the
reference), plus 0.1 x L1 to the SDF truncated to ``+-truncation`` and divided by it, plus
``kl_weight`` x KL (per-element mean, as the reference). (A pure truncated-SDF L1 was tried first: it
blurred thin parts to "outside" and the reconstruction IoU stayed flat.) Half
the queries of an item are drawn from points within ``truncation`` of the surface of that shape. The
number of latent tokens is drawn per micro-batch from ``latent_random_downscales``, as the reference.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from autopartgen.models import ShapeVAE, build_model
from autopartgen.train.common import mix_seed
from autopartgen.train.prep import fit_cloud

logger = logging.getLogger(__name__)


class VAEDataset(Dataset):
    """Items by global index (see common.ResumableBatchSampler): {surface (P,6), queries (M,3), sdf (M,)}."""

    def __init__(self, data_dir: Path, prep_dir: Path, ids: list[str], num_queries: int = 2048,
                 truncation: float = 0.1, seed: int = 0, kinds=(0.3, 0.5, 0.2), cloud_size: int = 4096,
                 latent_cache=None, surface_offset: float = 0.004):
        self.data_dir, self.prep_dir, self.ids = Path(data_dir), Path(prep_dir), list(ids)
        self.num_queries, self.truncation, self.seed, self.kinds = num_queries, truncation, seed, kinds
        self.cloud_size = cloud_size
        # Decoder-only training: items carry the cached latent ("latent" (N, C)) instead of the cloud.
        self.latent_cache = latent_cache
        self.cache_row = {object_id: row for row, object_id in enumerate(latent_cache.ids)} if latent_cache else {}
        self.surface_offset = surface_offset

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, global_index: int) -> dict:
        rng = np.random.default_rng(mix_seed(self.seed, global_index))
        object_id = self.ids[global_index % len(self.ids)]
        return self.make_item(object_id, rng)

    def make_item(self, object_id: str, rng: np.random.Generator, kind: str | None = None,
                  index: int | None = None) -> dict:
        with np.load(self.prep_dir / f"{object_id}.npz") as prep:
            whole, parts, prefixes = prep["whole"], prep["parts"], prep["prefixes"]
        with np.load(self.data_dir / object_id / "samples.npz") as samples:
            points = np.concatenate([samples["near_points"], samples["uniform_points"]])
            part_sdf = np.concatenate([samples["near_part_sdf"], samples["uniform_part_sdf"]]).astype(np.float32)
            part_points, part_normals = samples["part_points"], samples["part_normals"]
        count = len(parts)
        if kind is None:
            kind = rng.choice(["whole", "part", "prefix"], p=self.kinds) if count > 1 else "part"
        cache, row = self.latent_cache, self.cache_row.get(object_id)
        shell = None
        if kind == "whole":
            surface, sdf = whole, part_sdf.min(axis=1)
            latent = cache.whole(row) if cache is not None else None
        elif kind == "part":
            k = int(rng.integers(count)) if index is None else index
            surface, sdf = parts[k], part_sdf[:, k]
            latent = cache.part(row, k) if cache is not None else None
            shell = (part_points[k], part_normals[k])
        else:
            k = int(rng.integers(1, count)) if index is None else index  # union of parts 0..k-1
            surface, sdf = prefixes[k - 1], part_sdf[:, :k].min(axis=1)
            latent = cache.history(row, k) if cache is not None else None
        queries, values = self._pick_queries(points, sdf, shell, rng)
        item = {"queries": torch.from_numpy(queries), "sdf": torch.from_numpy(values)}
        if latent is not None:
            item["latent"] = latent.float()
        else:
            item["surface"] = torch.from_numpy(fit_cloud(surface, self.cloud_size,
                                                         int(rng.integers(1 << 31))).astype(np.float32))
        return item

    def _pick_queries(self, points, sdf, shell, rng) -> tuple[np.ndarray, np.ndarray]:
        """Half of the queries anywhere (uniform and near points), half within ``truncation`` of the surface.

        The near half is balanced: as many inside points as outside ones. A thin part holds a few dozen
        of the object's near points inside it, so unbalanced draws teach the decoder that it is empty.
        For a single part, a quarter of the near half are its own surface samples moved
        ``+-surface_offset`` along the normal (SDF ``+-offset``: exact on flat faces, which most parts
        are), the band where thin parts are won or lost.
        """
        near = np.abs(sdf) < self.truncation
        inside, outside = np.flatnonzero(near & (sdf < 0)), np.flatnonzero(near & (sdf >= 0))
        half = self.num_queries // 2 if near.any() else 0
        shell_count = half // 4 if shell is not None and self.surface_offset > 0 else 0
        inside_count = (half - shell_count) // 2 if len(inside) else 0
        outside_pool = outside if len(outside) else inside
        pick = np.concatenate([rng.integers(len(points), size=self.num_queries - half),
                               _draw(inside, inside_count, rng),
                               _draw(outside_pool, half - shell_count - inside_count, rng)])
        queries, values = [points[pick]], [sdf[pick]]
        if shell_count:
            chosen = rng.integers(len(shell[0]), size=shell_count)
            side = np.where(rng.random(shell_count) < 0.5, -1.0, 1.0) * self.surface_offset
            queries.append(shell[0][chosen] + side[:, None] * shell[1][chosen])
            values.append(side)
        return (np.concatenate(queries).astype(np.float32), np.concatenate(values).astype(np.float32))


def _draw(pool: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` entries of ``pool`` with replacement (none when count is 0)."""
    return pool[rng.integers(len(pool), size=count)] if count else np.zeros(0, np.int64)


def collate(items: list[dict]) -> dict:
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


class VAETrainModule(nn.Module):
    """forward(batch, seed) -> (loss, metrics): truncated-SDF L1 + small KL."""

    metric_names = ["occupancy", "sdf_l1", "kl", "sign_acc", "tokens"]

    def __init__(self, vae: ShapeVAE, kl_weight: float = 1e-3, truncation: float = 0.1, sdf_weight: float = 0.1):
        super().__init__()
        self.vae, self.kl_weight, self.truncation, self.sdf_weight = vae, kl_weight, truncation, sdf_weight

    def forward(self, batch: dict, seed: int):
        generator = torch.Generator().manual_seed(seed)
        if "latent" in batch:  # decoder-only: the cached posterior mode, the encoder is frozen
            latent, kl = batch["latent"], torch.zeros(())
            tokens = latent.shape[1]
        else:
            surface = batch["surface"]
            downscales = self.vae.latent_random_downscales if self.training else [self.vae.latent_eval_downscale]
            downscale = downscales[int(torch.randint(len(downscales), (1,), generator=generator))]
            tokens = surface.shape[1] // downscale
            indices = self.vae.select_query_indices(surface, tokens, generator=generator)
            posterior = self.vae.encode_with_indices(surface, indices)
            if self.training:
                noise = torch.randn(posterior.mean.shape, generator=generator).to(posterior.mean)
                latent = posterior.mean + posterior.std * noise
            else:
                latent = posterior.mode()
            kl = posterior.kl().mean().float()
        pred = self.vae.decode(latent, batch["queries"]).float()
        inside = (batch["sdf"] < 0).float()
        # Occupancy logits (positive inside = -decode): thin parts have SDFs of a few hundredths, which a
        # distance regression blurs to "outside"; the logistic loss keeps their sign. A small truncated
        # SDF term keeps the field distance-like near the surface.
        occupancy = F.binary_cross_entropy_with_logits(-pred, inside)
        target = batch["sdf"].clamp(-self.truncation, self.truncation) / self.truncation
        sdf_l1 = (pred - target).abs().mean()
        loss = occupancy + self.sdf_weight * sdf_l1 + self.kl_weight * kl
        sign_acc = ((pred < 0).float() == inside).float().mean()
        return loss, {"occupancy": occupancy.detach(), "sdf_l1": sdf_l1.detach(), "kl": kl.detach(),
                      "sign_acc": sign_acc.detach(), "tokens": tokens}


@torch.no_grad()
def validate_vae(vae: ShapeVAE, dataset: VAEDataset, ids: list[str], device: torch.device, max_items: int = 32) -> dict:
    """IoU (uniform + near-surface points) and near-surface sign accuracy of single parts and whole objects."""
    vae.eval()
    results = {"part_iou": [], "whole_iou": [], "part_near_acc": []}
    rng = np.random.default_rng(0)
    for i, object_id in enumerate(ids[:max_items]):
        with np.load(dataset.data_dir / object_id / "samples.npz") as samples:
            uniform = torch.from_numpy(samples["uniform_points"].astype(np.float32))
            near = torch.from_numpy(samples["near_points"].astype(np.float32))
            u_sdf = samples["uniform_part_sdf"].astype(np.float32)
            n_sdf = samples["near_part_sdf"].astype(np.float32)
        with np.load(dataset.prep_dir / f"{object_id}.npz") as prep:
            parts, whole = prep["parts"], prep["whole"]
        k = i % len(parts)
        clouds = np.stack([fit_cloud(parts[k], dataset.cloud_size, i), fit_cloud(whole, dataset.cloud_size, i)])
        clouds = torch.from_numpy(clouds.astype(np.float32)).to(device)
        generator = torch.Generator().manual_seed(i)
        latent = vae.encode(clouds, generator=generator).mode()
        queries = torch.cat([uniform, near])[None].expand(2, -1, -1).to(device)
        pred = vae.decode(latent, queries).float().cpu()
        nu = len(uniform)
        for row, (gt_u, gt_n) in enumerate([(u_sdf[:, k], n_sdf[:, k]), (u_sdf.min(1), n_sdf.min(1))]):
            # IoU over uniform + near-surface points: a thin part holds few or no uniform points, and a
            # uniform-only IoU of an empty union would count as a perfect 1.0.
            inside_pred, inside_gt = (pred[row] < 0).numpy(), np.concatenate([gt_u, gt_n]) < 0
            union = np.logical_or(inside_pred, inside_gt).sum()
            iou = np.logical_and(inside_pred, inside_gt).sum() / union if union else 1.0
            results["part_iou" if row == 0 else "whole_iou"].append(float(iou))
            if row == 0:
                results["part_near_acc"].append(float(((pred[0, nu:] < 0).numpy() == (gt_n < 0)).mean()))
    del rng
    return {key: float(np.mean(values)) for key, values in results.items() if values}


def build_vae(config, init: Path | None, device) -> ShapeVAE:
    from autopartgen.checkpoints import load_weights
    from autopartgen.train.common import weights_source

    vae = build_model("vae", config.vae, device)
    if init is not None:
        load_weights(vae, weights_source(Path(init), "vae"), name="vae")
    else:
        # Start with a nearly deterministic posterior (log-variance -8): with the default init the
        # posterior noise (std ~1) drowns the means and the decoder learns to ignore the latent.
        channels = vae.latent_channels
        with torch.no_grad():
            vae.quant.weight[channels:].mul_(0.01)
            vae.quant.bias[channels:].fill_(-8.0)
    return vae.train()


def train_vae(args) -> int:
    """`autopartgen train vae`: see train/cli.py for the arguments."""
    from autopartgen.config import load_config
    from autopartgen.train.common import (Trainer, TrainSettings, cleanup_distributed, setup_distributed,
                                          write_run_files)
    from autopartgen.train.prep import prepare_dataset

    env = setup_distributed(args.device)
    try:
        config = load_config(Path(args.out) / "config.yaml" if args.resume and (Path(args.out) / "config.yaml").exists()
                             else args.config)
        torch.manual_seed(args.seed)
        prep, ids = ready_objects(args, config, env)
        if not ids:
            raise SystemExit(f"no usable objects in {args.data} (need samples.npz and views)")
        val_ids = []
        if args.val_data:
            if env.is_main:
                prepare_dataset(Path(args.val_data), config, workers=args.workers, progress=False)
            env.barrier()
            val_prep, val_ids = prepare_dataset(Path(args.val_data), config, workers=1, progress=False)
        else:
            val_prep, val_ids = prep, ids[-16:]
        logger.info("VAE training on %d objects (%s)", len(ids), args.data)
        write_run_files(Path(args.out), config, vars(args), env)
        vae = build_vae(config, args.init, env.device)
        size = int(config.pipeline.get("point_cloud_size", 32768))
        cache = decoder_only_cache(args, vae, config, prep, ids, env) if args.decoder_only else None
        dataset = VAEDataset(Path(args.data), prep, ids, num_queries=args.queries, seed=args.seed, cloud_size=size,
                             latent_cache=cache)
        val_dataset = VAEDataset(Path(args.val_data or args.data), val_prep, val_ids, cloud_size=size)
        module = VAETrainModule(vae, kl_weight=args.kl_weight)
        settings = TrainSettings(steps=args.steps, batch=args.batch, accum=args.accum, lr=args.lr,
                                 warmup=args.warmup, seed=args.seed, val_every=args.val_every,
                                 save_every=args.save_every, workers=args.workers, progress=not args.quiet,
                                 max_minutes=args.max_minutes, log_every=args.log_every,
                                 fit_to_time=args.fit_to_time, snapshots=args.snapshots,
                                 stop_at=args.stop_at, hash_dir=args.hash_dir)
        trainer = Trainer(module, {"vae": vae}, dataset, collate, Path(args.out), settings, env,
                          validate=lambda parts: validate_vae(parts["vae"], val_dataset, val_ids, env.device),
                          resume=args.resume)
        trainer.run()
    finally:
        cleanup_distributed()
    return 0


def decoder_only_cache(args, vae: ShapeVAE, config, prep: Path, ids: list[str], env):
    """Freeze the encoding path of ``vae`` and return the latent cache of ``ids`` (built by rank 0).

    The decoder then learns from the exact latents a DiT trained on this cache sees, and the cache
    (fingerprinted on the encoder only) stays valid for the fine-tuned VAE.
    """
    from autopartgen.train.latents import DECODER_PREFIXES, shared_latent_cache

    if args.init is None:
        raise SystemExit("--decoder-only fine-tunes a trained VAE: pass --init RUN_OR_MODEL_DIR")
    for name, parameter in vae.named_parameters():
        parameter.requires_grad_(name.startswith(DECODER_PREFIXES))
    cache = shared_latent_cache(Path(args.data), prep, ids, vae, config, env, progress=not args.quiet, keep_old=True)
    vae.train()
    return cache


def ready_objects(args, config, env, need_samples: bool = True) -> tuple[Path, list[str]]:
    """Prepare the dataset (rank 0; others wait) and list the usable objects.

    ``need_samples``: keep only objects with ``samples.npz`` (the VAE's SDF queries; the DiT needs none).
    ``args.history`` and ``args.part_order`` (DiT runs) pick the prep's history form and part order
    (``train/prep.py``).

    With ``--ready-only`` nothing is prepared: the objects already prepared are used (handy while a
    background ``prepare`` is still filling a large dataset).
    """
    from autopartgen.train.prep import prep_dir, prep_settings, prepare_dataset

    data = Path(args.data)
    history = getattr(args, "history", "parts")
    order = getattr(args, "part_order", "dataset")
    if getattr(args, "ready_only", False):
        folder = prep_dir(data, prep_settings(config, history, order))
        ids = sorted(p.stem for p in folder.glob("*.npz") if not p.name.startswith("."))
        if args.limit and len(ids) > args.limit:  # a fixed random subset (names sort by category)
            pick = np.random.default_rng(1234).choice(len(ids), size=args.limit, replace=False)
            ids = sorted(ids[i] for i in pick)
    else:
        if env.is_main:
            prepare_dataset(data, config, workers=args.workers, progress=not args.quiet, limit=args.limit,
                            history=history, order=order)
        env.barrier()
        folder, ids = prepare_dataset(data, config, workers=1, progress=False, limit=args.limit, history=history,
                                      order=order)
    if need_samples:
        ids = [i for i in ids if (data / i / "samples.npz").is_file()]
    if not ids:
        raise SystemExit(f"no usable objects in {data} (need " + ("samples.npz and " if need_samples else "")
                         + "part meshes; `autopartgen data check` says what is wrong)")
    return folder, ids
