"""Part DiT training on cached VAE latents, with the image encoder trained jointly.

Sequence format (SPEC 8.2): for an object with K parts, element e is drawn uniformly from 0..K+1:

* e = 0: the whole object; context one all-zero slot (start of sequence); image ``[F_whole ; F_whole]``.
* 1 <= e <= K: part e-1; context ``[whole, history]``, history = encoding of the union of parts
  0..e-2 (the empty cloud's encoding for e = 1); image ``[F_whole ; F_part]`` for mask-mode items
  (``--mask-prob``; F_part = features of the view with everything outside part e-1 white) and
  ``[F_whole ; F_drop]`` otherwise, F_drop = features of a black image (as the pipeline's dummy).
* e = K+1: the end token, an all-zero target, after the union of all parts.

Guidance training (SPEC 8.4): the image pair is replaced by ``[F_drop ; F_drop]`` with probability
``--image-drop`` and, independently, the context slots by zeros with ``--geometry-drop``.
Diffusion forcing (SPEC 8.5): with ``--forcing-prob`` the history slot is noised flow-style,
``(1 - s) x + s eps`` with s ~ U(0, ``--forcing-max-sigma``), and ``sigma_history = [0, s]`` is passed;
clean items pass ``sigma_history=None``, which is what the pipeline passes by default.
Objective (SPEC 8.1): v-prediction MSE on the DDPM form of the sampler's betas (scaled_linear,
zero-terminal-SNR rescale), integer timesteps uniform in [0, 1000). Latents are native x scale_factor,
with scale_factor = 1 / std of the cached latents.

The image encoder (a 4-block ViT at 112 px for ``tiny``) trains jointly: it costs about a tenth of a
training step (two images per item through a 0.9M-parameter ViT vs. the DiT over 65 tokens), there
is no pretrained small encoder to freeze, and a frozen random one would leave the image modes with
random features. ``--freeze-image-encoder`` keeps it fixed (e.g. when fine-tuning from a model folder).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from autopartgen.train.common import mix_seed
from autopartgen.train.latents import ZERO_ROW, LatentCache

logger = logging.getLogger(__name__)

KIND_WHOLE, KIND_PART, KIND_END = 0, 1, 2


@dataclass
class TrainingTables:
    """What every item indexes, held once (on the training device once the module is moved there).

    latents: (R, N, C) float16, :meth:`LatentCache.table` (native, not scaled; row -1 is zeros).
    view_images: (M + 1, 3, H, W) uint8, every view of the objects; the last row is a white image (the
        view of an object that has none).
    view_labels: (M + 1, H, W) uint8 part labels of those views (k + 1 for part k, 0 background).
    """

    latents: torch.Tensor
    view_images: torch.Tensor
    view_labels: torch.Tensor

    @classmethod
    def from_cache(cls, cache: LatentCache, prep_folder: Path, indices: list[int], image_size: int = 112):
        """Tables for the objects ``indices`` of ``cache``; returns (tables, views), views: object index ->
        [(view row, the part labels visible in that view)]."""
        images, labels, views = [], [], {}
        for i in sorted(set(indices)):
            object_images, object_labels = load_views(prep_folder, cache.ids[i])
            views[i] = [(len(images) + v, frozenset(np.unique(label).tolist()))
                        for v, label in enumerate(object_labels)]
            images += list(object_images)
            labels += list(object_labels)
        if images:
            image_size = images[0].shape[0]
        images.append(np.full((image_size, image_size, 3), 255, np.uint8))
        labels.append(np.zeros((image_size, image_size), np.uint8))
        view_images = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
        return cls(cache.table(), view_images, torch.from_numpy(np.stack(labels))), views


class DiTDataset(Dataset):
    """Items by global index, as rows of :class:`TrainingTables`: the target latent, the context latents,
    the object's view and, for mask-mode items, the part label to keep in it.

    Items are a few integers, so a data-loader worker ships almost nothing to the trainer, and the
    training module gathers latents and images on its own device (reading a compressed npz of views per
    item bound a GPU run to its data loader at about 700 items/s).
    """

    def __init__(self, cache: LatentCache, indices: list[int], views: dict[int, list[tuple[int, frozenset]]],
                 seed: int = 0, mask_prob: float = 0.5):
        self.cache, self.indices, self.views = cache, list(indices), views
        self.seed, self.mask_prob = seed, mask_prob

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, global_index: int) -> dict:
        rng = np.random.default_rng(mix_seed(self.seed, global_index))
        return self.make_item(self.indices[global_index % len(self.indices)], rng)

    def make_item(self, i: int, rng: np.random.Generator, element: int | None = None) -> dict:
        cache = self.cache
        count = cache.counts[i]
        e = int(rng.integers(0, count + 2)) if element is None else element
        whole = cache.whole_row(i)
        if e == 0:
            target, context, slots, kind = whole, [ZERO_ROW, ZERO_ROW], 1, KIND_WHOLE
        elif e <= count:
            target, context, slots, kind = cache.part_row(i, e - 1), [whole, cache.history_row(i, e - 1)], 2, KIND_PART
        else:
            target, context, slots, kind = ZERO_ROW, [whole, cache.history_row(i, count)], 2, KIND_END
        views = self.views.get(i, [])
        view, visible = views[int(rng.integers(len(views)))] if views else (-1, frozenset())  # -1: white image
        has_part = kind == KIND_PART and rng.random() < self.mask_prob and e in visible
        return {"target": target, "context": context, "slots": slots, "kind": kind, "view": view,
                "mask_label": e if has_part else -1}


def load_views(prep_folder: Path, object_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(V, H, W, 3) uint8 views and (V, H, W) uint8 part labels of one prepared object."""
    with np.load(Path(prep_folder) / f"{object_id}.npz") as prep:
        return prep["images"], prep["labels"]


def collate(items: list[dict]) -> dict:
    """Items of integers -> a batch of int64 tensors, (B,) or (B, 2) for ``context``."""
    return {key: torch.tensor([item[key] for item in items]) for key in items[0]}


def training_alphas_cumprod(scheduler_config: dict) -> torch.Tensor:
    """alpha-bar of the DDPM scheduler with the sampler's betas (scaled_linear + zero-SNR rescale)."""
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(
        num_train_timesteps=int(scheduler_config.get("num_train_timesteps", 1000)),
        beta_start=float(scheduler_config.get("beta_start", 0.00085)),
        beta_end=float(scheduler_config.get("beta_end", 0.012)),
        beta_schedule=scheduler_config.get("beta_schedule", "scaled_linear"),
        rescale_betas_zero_snr=bool(scheduler_config.get("rescale_betas_zero_snr", True)),
        prediction_type=scheduler_config.get("prediction_type", "v_prediction"),
        clip_sample=False)
    return scheduler.alphas_cumprod.clone().float()


class DiTTrainModule(nn.Module):
    """forward(batch, seed) -> (loss, metrics): v-prediction MSE with condition dropout and forcing."""

    metric_names = ["loss_whole", "loss_part", "loss_end", "n_whole", "n_part", "n_end"]

    def __init__(self, dit, image_encoder, tables: TrainingTables, scale_factor: float, scheduler_config: dict,
                 image_drop: float = 0.4, geometry_drop: float = 0.1, forcing_prob: float = 0.3,
                 forcing_max_sigma: float = 0.5, freeze_image_encoder: bool = False):
        super().__init__()
        self.dit, self.image_encoder = dit, image_encoder
        self.scale = float(scale_factor)
        # Buffers, so that they move to the training device with the module; not saved (not persistent).
        self.register_buffer("latents", tables.latents, persistent=False)
        self.register_buffer("view_images", tables.view_images, persistent=False)
        self.register_buffer("view_labels", tables.view_labels, persistent=False)
        self.image_drop, self.geometry_drop = image_drop, geometry_drop
        self.forcing_prob, self.forcing_max_sigma = forcing_prob, forcing_max_sigma
        self.freeze_image_encoder = freeze_image_encoder
        if freeze_image_encoder:
            image_encoder.requires_grad_(False)
        self.register_buffer("alphas_cumprod", training_alphas_cumprod(scheduler_config), persistent=False)

    def batch_images(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) views in [0, 1] and (P, 3, H, W) masked-part views of the P mask-mode items: the view
        with everything outside the part white (as ``inputs.masked_part_images``)."""
        views = self.view_images[batch["view"]]
        has_part = batch["mask_label"] >= 0
        keep = self.view_labels[batch["view"][has_part]] == batch["mask_label"][has_part, None, None]
        masked = torch.where(keep[:, None], views[has_part], 255)
        return views.float() / 255.0, masked.float() / 255.0

    def image_condition(self, batch: dict, generator: torch.Generator) -> torch.Tensor:
        images, masked = self.batch_images(batch)
        batch_size, _, height, width = images.shape
        has_part = batch["mask_label"] >= 0
        black = torch.zeros(1, 3, height, width, device=images.device)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_image_encoder):
            features = self.image_encoder(torch.cat([images, masked, black]))
        whole = features[:batch_size]
        drop = features[-1:].expand(batch_size, -1, -1)
        second = drop.clone()
        if has_part.any():
            second[has_part] = features[batch_size:batch_size + int(has_part.sum())]
        is_whole = (batch["slots"] == 1)[:, None, None]
        second = torch.where(is_whole, whole, second)
        condition = torch.cat([whole, second], dim=-1)
        dropped = (torch.rand(batch_size, generator=generator) < self.image_drop).to(images.device)
        return torch.where(dropped[:, None, None], torch.cat([drop, drop], dim=-1), condition)

    def forward(self, batch: dict, seed: int):
        generator = torch.Generator().manual_seed(seed)
        x0 = self.latents[batch["target"]].float() * self.scale
        device, (batch_size, length, channels) = x0.device, x0.shape
        condition = self.image_condition(batch, generator)

        context = self.latents[batch["context"]].float() * self.scale
        geo_drop = (torch.rand(batch_size, generator=generator) < self.geometry_drop).to(device)
        context = torch.where(geo_drop[:, None, None, None], torch.zeros_like(context), context)
        parts = batch["slots"] == 2
        noisy = (torch.rand(batch_size, generator=generator) < self.forcing_prob).to(device) & parts & ~geo_drop
        sigma = (torch.rand(batch_size, generator=generator) * self.forcing_max_sigma).to(device)
        history_noise = torch.randn(batch_size, length, channels, generator=generator).to(device)
        s = torch.where(noisy, sigma, torch.zeros_like(sigma))[:, None, None]
        context = torch.stack([context[:, 0], (1 - s) * context[:, 1] + s * history_noise], dim=1)

        timesteps = torch.randint(0, len(self.alphas_cumprod), (batch_size,), generator=generator).to(device)
        noise = torch.randn(x0.shape, generator=generator).to(device)
        alpha_bar = self.alphas_cumprod[timesteps][:, None, None]
        x_t = alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise
        velocity = alpha_bar.sqrt() * noise - (1 - alpha_bar).sqrt() * x0

        per_item = torch.zeros(batch_size, device=device)
        groups = [(~parts, 1, False), (parts & ~noisy, 2, False), (noisy, 2, True)]
        for selector, slots, forced in groups:
            if not selector.any():
                continue
            index = selector.nonzero().squeeze(1)
            sigma_history = None
            if forced:
                sigma_history = torch.stack([torch.zeros_like(sigma[index]), sigma[index]], dim=1)
            pred = self.dit(x_t[index], timesteps[index], [condition[index], context[index, :slots]],
                            sigma_history=sigma_history)
            per_item = per_item.index_put((index,), (pred.float() - velocity[index]).pow(2).mean(dim=(1, 2)))
        loss = per_item.mean()
        metrics = {}
        for name, kind in (("whole", 0), ("part", 1), ("end", 2)):
            chosen = batch["kind"] == kind
            metrics[f"n_{name}"] = float(chosen.sum())
            metrics[f"loss_{name}"] = float(per_item[chosen].detach().mean()) if chosen.any() else 0.0
        return loss, metrics


@torch.no_grad()
def validate_dit(dit, image_encoder, dataset: DiTDataset, tables: TrainingTables, scale_factor: float,
                 scheduler_config: dict, device, items: int = 96) -> dict:
    """Validation v-loss on fixed items, timesteps and noise (comparable across steps and runs)."""
    module = DiTTrainModule(dit, image_encoder, tables, scale_factor, scheduler_config, image_drop=0.0,
                            geometry_drop=0.0, forcing_prob=0.0).to(device).eval()
    losses = {"val_loss": [], "val_whole": [], "val_part": [], "val_end": []}
    rng_items = [dataset.make_item(dataset.indices[n % len(dataset.indices)], np.random.default_rng(n))
                 for n in range(items)]
    for start in range(0, items, 32):
        batch = {k: v.to(device) for k, v in collate(rng_items[start:start + 32]).items()}
        loss, metrics = module(batch, seed=start)
        losses["val_loss"].append(float(loss))
        for name in ("whole", "part", "end"):
            if metrics[f"n_{name}"]:
                losses[f"val_{name}"].append(metrics[f"loss_{name}"])
    return {k: float(np.mean(v)) for k, v in losses.items() if v}


#: How a DiT run picks its validation objects: ``spread`` (evenly over the cache, whose ids sort by category)
#: or ``last`` (the last ones: runs made before 2026-12-05, which keep it when resumed).
HOLDOUT_RULES = ("spread", "last")


def split_holdout(indices: list[int], rule: str = "spread") -> tuple[list[int], list[int]]:
    """(train, validation) cache indices: min(64, n / 20) objects are held out (none up to 8).

    ``spread`` holds out one object in every n / holdout, the middle one of each stretch, so the
    validation covers the categories (ids sort by category: the last 64 of corpus v2 were all windows and
    windmills); ``last`` holds out the last ones.
    """
    if rule not in HOLDOUT_RULES:
        raise ValueError(f"unknown hold-out rule {rule!r}; use one of {', '.join(HOLDOUT_RULES)}")
    holdout = min(64, max(1, len(indices) // 20)) if len(indices) > 8 else 0
    if rule == "last" or holdout == 0:
        return indices[:len(indices) - holdout], indices[len(indices) - holdout:]
    stride = len(indices) / holdout
    held = {int((j + 0.5) * stride) for j in range(holdout)}
    return ([index for n, index in enumerate(indices) if n not in held],
            [index for n, index in enumerate(indices) if n in held])


def localization_indices(indices: list[int], rule: str = "spread") -> list[int]:
    """The objects of the teacher-forced localisation metric, in order: the held-out ones (or the last 8
    trained on when none are held out); the metric takes the first ``--val-localization`` of them."""
    train_indices, val_indices = split_holdout(indices, rule)
    return val_indices or train_indices[-8:]


def holdout_rule_of(run_dir: Path, resume: bool) -> str:
    """The hold-out rule of a run: a resumed run keeps the one it started with (``last`` when its
    args.json predates the rule), a new run uses ``spread``."""
    import json

    args_file = Path(run_dir) / "args.json"
    if resume and args_file.is_file():
        return json.loads(args_file.read_text()).get("holdout_rule", "last")
    return "spread"


def train_dit(args) -> int:
    """`autopartgen train dit`: see train/cli.py for the arguments."""
    from autopartgen.checkpoints import load_weights
    from autopartgen.config import load_config
    from autopartgen.models import build_model
    from autopartgen.train.common import (Trainer, TrainSettings, cleanup_distributed, setup_distributed,
                                          weights_source, write_run_files)
    from autopartgen.train.latents import shared_latent_cache
    from autopartgen.train.prep import MASK_ORDER_OF_PART_ORDER
    from autopartgen.train.vae import ready_objects

    env = setup_distributed(args.device)
    try:
        run_dir = Path(args.out)
        resumed_config = args.resume and (run_dir / "config.yaml").exists()
        config = load_config(run_dir / "config.yaml" if resumed_config else args.config)
        prep, ids = ready_objects(args, config, env, need_samples=False)
        vae = build_model("vae", config.vae, env.device)
        vae_file = weights_source(Path(args.vae), "vae")
        load_weights(vae, vae_file, name="vae")
        remainder = getattr(args, "history", "parts") == "remainder"
        cache = shared_latent_cache(Path(args.data), prep, ids, vae, config, env, progress=not args.quiet,
                                    remainder=remainder)
        vae.eval()  # kept for the localisation metric (its decoder turns samples into fields)
        if resumed_config or args.scale_factor == "config":
            scale = float(config.dit.get("scale_factor", 1.0))
        elif args.scale_factor == "auto":
            scale = round(1.0 / cache.latent_std(), 6)
        else:
            scale = float(args.scale_factor)
        config.dit["scale_factor"] = scale
        logger.info("latent std %.4f -> scale_factor %.6f", cache.latent_std(), scale)
        if not resumed_config and args.eot_threshold != "config":
            eot = cache.end_threshold() if args.eot_threshold == "auto" else float(args.eot_threshold)
            config.pipeline["eot_threshold"] = eot
            logger.info("end-token threshold %.3f (mean |z| of a native latent)", eot)
        part_order_rule = getattr(args, "part_order", "dataset")
        if not resumed_config:  # the pipeline orders mask regions as the DiT learned the parts (masks.py)
            config.pipeline["mask_order"] = MASK_ORDER_OF_PART_ORDER[part_order_rule]
            # the history the pipeline encodes: what earlier parts hold, or what is left (--history remainder)
            config.pipeline["history_region"] = "remainder" if remainder else "held"

        indices = list(range(len(cache)))
        holdout_rule = holdout_rule_of(run_dir, args.resume)
        train_indices, val_indices = split_holdout(indices, holdout_rule)
        write_run_files(run_dir, config, {**vars(args), "vae_file": str(vae_file), "latent_cache": cache.fingerprint,
                                          "objects": len(train_indices), "holdout": len(val_indices),
                                          "holdout_rule": holdout_rule}, env)

        torch.manual_seed(args.seed)
        dit = build_model("dit", config.dit, env.device).train()
        image_encoder = build_model("image_encoder", config.image_encoder, env.device).train()
        if args.init is not None:
            load_weights(dit, weights_source(args.init, "dit"), name="dit")
            load_weights(image_encoder, weights_source(args.init, "image_encoder"), name="image_encoder")
        tables, views = TrainingTables.from_cache(cache, prep, indices)
        dataset = DiTDataset(cache, train_indices, views, seed=args.seed, mask_prob=args.mask_prob)
        val_dataset = DiTDataset(cache, val_indices or train_indices[-8:], views, seed=12345,
                                 mask_prob=args.mask_prob)
        module = DiTTrainModule(dit, image_encoder, tables, scale, config.scheduler, args.image_drop,
                                args.geometry_drop, args.forcing_prob, args.forcing_max_sigma,
                                args.freeze_image_encoder)
        settings = TrainSettings(steps=args.steps, batch=args.batch, accum=args.accum, lr=args.lr,
                                 warmup=args.warmup, seed=args.seed, val_every=args.val_every,
                                 save_every=args.save_every, workers=args.workers, progress=not args.quiet,
                                 max_minutes=args.max_minutes, log_every=args.log_every,
                                 fit_to_time=args.fit_to_time, snapshots=args.snapshots,
                                 stop_at=args.stop_at, hash_dir=args.hash_dir)
        localization = []
        if env.is_main and args.val_every > 0 and args.val_localization > 0:
            from autopartgen.errors import PartGenError
            from autopartgen.train.localization import localization_objects

            try:
                localization = localization_objects(Path(args.data), cache, localization_indices(indices, holdout_rule),
                                                    max_objects=args.val_localization,
                                                    order=part_order_rule)
            except (OSError, ValueError, PartGenError) as error:  # a packed folder (tools/pack_dit_data.py): no meshes
                logger.warning("no localisation metric: %s", str(error).splitlines()[0])

        def validate(parts: dict) -> dict:
            # The training module's copies of the tables, already on the device (not sent there again).
            on_device = TrainingTables(module.latents, module.view_images, module.view_labels)
            results = validate_dit(parts["dit"], parts["image_encoder"], val_dataset, on_device, scale,
                                   config.scheduler, env.device)
            if localization:
                from autopartgen.pipeline import AutoPartGen
                from autopartgen.train.localization import teacher_forced_localization

                pipe = AutoPartGen(config=config, vae=vae, dit=parts["dit"], image_encoder=parts["image_encoder"],
                                   device=env.device)
                results.update(teacher_forced_localization(pipe, cache, localization, args.val_localization_steps))
            return results

        trainer = Trainer(module, {"dit": dit, "image_encoder": image_encoder}, dataset, collate, run_dir,
                          settings, env, resume=args.resume, validate=validate)
        trainer.run()
    finally:
        cleanup_distributed()
    return 0
