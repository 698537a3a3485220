"""The training machinery both loops share: distributed setup, the resumable data order, EMA,
learning-rate schedule, checkpoints and the CSV log, and :class:`Trainer`, the step loop.

A model-specific loop (``train/vae.py``, ``train/dit.py``) supplies a *training module*: an
``nn.Module`` whose ``forward(batch, seed)`` returns ``(loss, metrics)``. The trainer wraps it in
DDP when running under ``torchrun``, so every gradient passes through one DDP forward.

Determinism (exact resume): the data order is a pure function of (seed, epoch) through
``DistributedSampler``; each item draws its randomness from ``(seed, global index)``; each micro-batch
draws the model-side randomness (timesteps, noise, dropout, FPS starts) from a generator seeded with
``(seed, step, micro-batch, rank)``. A resumed run therefore replays exactly the batches and noise an
uninterrupted run would have seen.

Run folder layout::

    RUN_DIR/config.yaml           the model config (scale_factor filled in for DiT runs)
    RUN_DIR/args.json             the command-line arguments
    RUN_DIR/log.csv               one row per optimiser step (loss, lr, grad norm, samples/s, ...)
    RUN_DIR/val.csv               validation rows
    RUN_DIR/summary.json          steps, samples, wall time, last losses (read by the model card)
    RUN_DIR/checkpoint/<part>.safetensors, <part>.ema.safetensors, state.pt
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from autopartgen.checkpoints import load_weights, read_state_dict, save_safetensors

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------- distributed
@dataclass
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def setup_distributed(device: str | None = None) -> DistEnv:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK); init gloo on CPU, nccl on CUDA."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.cuda.set_device(local_rank)
        device_obj = torch.device("cuda", local_rank)
    else:
        device_obj = torch.device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_obj.type == "cuda" else "gloo")
    return DistEnv(rank, world_size, local_rank, device_obj)


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def mix_seed(*values: int) -> int:
    """A 63-bit seed from integers (stable across processes and runs)."""
    digest = hashlib.sha256(",".join(str(int(v)) for v in values).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


# ------------------------------------------------------------------------------------------ data order
class ResumableBatchSampler:
    """Batches of *global* item indices (``epoch * len(dataset) + index``) for one rank, from step 0.

    Each epoch's order is ``DistributedSampler(shuffle=True, seed, drop_last=True)``; batches never span
    epochs. ``start_batch`` skips the batches a resumed run has already consumed, without loading them.
    """

    def __init__(self, dataset_size: int, batch_size: int, env: DistEnv, seed: int, start_batch: int = 0):
        # A dataset smaller than one global batch is repeated (items take ``index % len(dataset)``).
        dataset_size = max(dataset_size, batch_size * env.world_size)
        self.size, self.batch_size, self.env, self.seed, self.start_batch = dataset_size, batch_size, env, seed, start_batch
        self.sampler = DistributedSampler(range(dataset_size), num_replicas=env.world_size, rank=env.rank,
                                          shuffle=True, seed=seed, drop_last=True)
        self.batches_per_epoch = len(self.sampler) // batch_size

    def __iter__(self):
        epoch, offset = divmod(self.start_batch, self.batches_per_epoch)
        while True:
            self.sampler.set_epoch(epoch)
            order = list(self.sampler)
            for b in range(offset, self.batches_per_epoch):
                yield [epoch * self.size + i for i in order[b * self.batch_size:(b + 1) * self.batch_size]]
            epoch, offset = epoch + 1, 0


def make_loader(dataset: Dataset, batch_size: int, env: DistEnv, seed: int, start_batch: int, workers: int,
                collate_fn) -> DataLoader:
    sampler = ResumableBatchSampler(len(dataset), batch_size, env, seed, start_batch)
    return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, collate_fn=collate_fn,
                      persistent_workers=False, prefetch_factor=4 if workers else None)


# ---------------------------------------------------------------------------------------------- EMA
class EMA:
    """Exponential moving average of a module's floating-point parameters and buffers (fp32 copies).

    decay_t = min(decay, (1 + t) / (10 + t)): fast tracking early, ``decay`` later.
    """

    def __init__(self, module: nn.Module, decay: float = 0.999):
        self.decay = decay
        self.shadow = {k: v.detach().float().clone() for k, v in module.state_dict().items()
                       if v.dtype.is_floating_point}

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        decay = min(self.decay, (1.0 + step) / (10.0 + step))
        for key, value in module.state_dict().items():
            if key in self.shadow:
                self.shadow[key].mul_(decay).add_(value.detach().float(), alpha=1.0 - decay)

    def state_dict(self, module: nn.Module) -> dict[str, torch.Tensor]:
        """A full state dict of ``module`` with the averaged values."""
        return {k: (self.shadow[k].to(v.dtype) if k in self.shadow else v) for k, v in module.state_dict().items()}

    def load(self, state: dict[str, torch.Tensor]) -> None:
        for key in self.shadow:
            self.shadow[key] = state[key].detach().float().clone().to(self.shadow[key].device)


def is_replan_step(step: int, fit_at: int, planned_steps: int) -> bool:
    """Whether a time-fitted run plans its step count at ``step``: at the end of the warm-up (``fit_at``), then
    at each doubling of it (2x, 4x, 8x ...) while within the first three quarters of the current plan.

    The first pace includes start-up (data-loader workers, kernel selection, a neighbour run starting on the
    same GPU), which can make it half the later one; later plans fix that while the learning rate is still
    high enough for the stretched cosine to matter little.
    """
    if fit_at <= 0 or step < fit_at or step % fit_at:
        return False
    ratio = step // fit_at
    return ratio & (ratio - 1) == 0 and (ratio == 1 or step < 0.75 * planned_steps)


def warmup_cosine(warmup: int, total: int, min_ratio: float = 0.05):
    """LR multiplier: linear warm-up over ``warmup`` steps, then cosine decay to ``min_ratio`` at ``total``."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return factor


# ------------------------------------------------------------------------------------------- logging
class CSVLog:
    """Append rows to a CSV file; the header is written once (kept across resumes)."""

    def __init__(self, path: Path, fields: list[str]):
        self.path, self.fields = Path(path), fields
        if not self.path.exists():
            with self.path.open("w", newline="") as handle:
                csv.writer(handle).writerow(fields)

    def write(self, row: dict) -> None:
        with self.path.open("a", newline="") as handle:
            csv.writer(handle).writerow([_fmt(row.get(f, "")) for f in self.fields])


def _fmt(value):
    return f"{value:.6g}" if isinstance(value, float) else value


def read_csv(path: Path) -> list[dict]:
    with Path(path).open() as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------------------------------- checkpoints
def weights_source(path: Path, part: str, ema: bool = True) -> Path:
    """The weights file of ``part`` (vae, dit, image_encoder) in a run folder or a model folder."""
    path = Path(path)
    candidates = []
    if (path / "checkpoint").is_dir():
        ckpt = path / "checkpoint"
        candidates += [ckpt / f"{part}.ema.safetensors"] if ema else []
        candidates += [ckpt / f"{part}.safetensors"]
    candidates += [path / f"{part}.safetensors"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no {part} weights in {path} (looked for {', '.join(c.name for c in candidates)}); "
                            f"pass a run folder of `autopartgen train` or a model folder")


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class TrainSettings:
    steps: int
    batch: int
    accum: int = 1
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup: int = 200
    min_lr_ratio: float = 0.05
    clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    val_every: int = 500
    save_every: int = 200
    log_every: int = 10
    workers: int = 1
    progress: bool = True
    max_minutes: float = 0.0  # stop (with a checkpoint) after this wall time; 0 = no limit
    stop_at: int = 0  # stop (with a checkpoint) at this step although the schedule runs to `steps`
    # With max_minutes: once the warm-up is done, re-plan `steps` so that the cosine schedule ends when the
    # time does (a burst on a lent machine whose throughput is not known in advance).
    fit_to_time: bool = False
    snapshots: int = 0  # save the EMA weights at this many evenly spaced steps (checkpoint/ema-<step>/)
    hash_dir: str | None = None  # write a per-rank hash of the final weights here (DDP test)


class Trainer:
    """The step loop: DDP, accumulation, AdamW + warm-up/cosine, clipping, EMA, bf16 on CUDA, checkpoints.

    Args:
        module: the training module (``forward(batch, seed) -> (loss, metrics dict of floats)``).
        parts: name -> submodule saved as ``<name>.safetensors`` (and its EMA twin).
        dataset / collate: items are fetched by global index (see :class:`ResumableBatchSampler`).
        validate: optional ``fn(ema_parts: dict name -> module) -> dict of floats``, run on rank 0.
    """

    def __init__(self, module: nn.Module, parts: dict[str, nn.Module], dataset: Dataset, collate, run_dir: Path,
                 settings: TrainSettings, env: DistEnv, validate=None, resume: bool = False):
        self.module, self.parts, self.dataset, self.collate = module, parts, dataset, collate
        self.run_dir, self.s, self.env, self.validate = Path(run_dir), settings, env, validate
        self.ckpt_dir = self.run_dir / "checkpoint"
        self.requested_steps = settings.steps  # the upper bound of a schedule fitted to the time limit
        module.to(env.device)
        params = [p for p in module.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                                            {"params": no_decay, "weight_decay": 0.0}],
                                           lr=settings.lr, betas=(0.9, 0.99), eps=1e-8)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_cosine(settings.warmup, settings.steps, settings.min_lr_ratio))
        self.emas = {name: EMA(part, settings.ema_decay) for name, part in parts.items()}
        self.step = 0
        self.samples_seen = 0
        self.wall_seconds = 0.0
        if resume:
            self.load_checkpoint()
        if env.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP
            ids = [env.local_rank] if env.device.type == "cuda" else None
            # Buffers are constants (schedules, the DiT's training tables): sent once at construction, not
            # at every forward.
            self.ddp = DDP(module, device_ids=ids, find_unused_parameters=True, broadcast_buffers=False)
        else:
            self.ddp = module

    # ---------------------------------------------------------------------------------- checkpoints
    def save_checkpoint(self) -> None:
        if not self.env.is_main:
            return
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        for name, part in self.parts.items():
            save_safetensors(part.state_dict(), self.ckpt_dir / f"{name}.safetensors")
            save_safetensors(self.emas[name].state_dict(part), self.ckpt_dir / f"{name}.ema.safetensors")
        state = {"step": self.step, "samples_seen": self.samples_seen, "wall_seconds": self.wall_seconds,
                 "schedule_steps": self.s.steps,
                 "optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
                 "torch_rng": torch.get_rng_state()}
        tmp = self.ckpt_dir / "state.pt.tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.ckpt_dir / "state.pt")

    def load_checkpoint(self) -> None:
        state_path = self.ckpt_dir / "state.pt"
        if not state_path.is_file():
            logger.info("no checkpoint in %s; starting from step 0", self.ckpt_dir)
            return
        for name, part in self.parts.items():
            load_weights(part, self.ckpt_dir / f"{name}.safetensors", name=name)
            self.emas[name].load(read_state_dict(self.ckpt_dir / f"{name}.ema.safetensors"))
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["torch_rng"])
        self.step, self.samples_seen = int(state["step"]), int(state["samples_seen"])
        if self.s.fit_to_time and int(state.get("schedule_steps", self.s.steps)) != self.s.steps:
            self.set_schedule_steps(int(state["schedule_steps"]))
        self.wall_seconds = float(state.get("wall_seconds", 0.0))
        logger.info("resumed from %s at step %d", self.ckpt_dir, self.step)

    def set_schedule_steps(self, steps: int) -> None:
        """Re-plan the run to ``steps`` in all: the cosine decay now ends there."""
        self.s.steps = steps
        factor = warmup_cosine(self.s.warmup, steps, self.s.min_lr_ratio)
        self.schedule.lr_lambdas = [factor] * len(self.optimizer.param_groups)

    def save_snapshot(self) -> None:
        """The EMA weights as they are now, in ``checkpoint/ema-<step>/<part>.safetensors``."""
        if not self.env.is_main:
            return
        folder = self.ckpt_dir / f"ema-{self.step:07d}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, part in self.parts.items():
            save_safetensors(self.emas[name].state_dict(part), folder / f"{name}.safetensors")

    def fitted_steps(self, steps_done: int, seconds: float, elapsed: float) -> int:
        """The step count at which the time limit falls, ``elapsed`` seconds into the run, from the pace of
        ``steps_done`` steps in ``seconds``.

        5 % of the remaining time is kept back for validations and the last checkpoint; never more than the
        ``steps`` asked for.
        """
        remaining = 60 * self.s.max_minutes - elapsed
        planned = self.step + max(1, int(0.95 * remaining / max(seconds / max(1, steps_done), 1e-6)))
        steps = torch.tensor([min(planned, self.requested_steps)], device=self.env.device)
        if self.env.distributed:  # every rank must plan the same schedule: rank 0's pace decides
            dist.broadcast(steps, src=0)
        return int(steps.item())

    def ema_modules(self) -> dict[str, nn.Module]:
        """Copies of the parts holding the EMA weights (for validation and export)."""
        import copy
        out = {}
        for name, part in self.parts.items():
            twin = copy.deepcopy(part).eval()
            twin.load_state_dict(self.emas[name].state_dict(part))
            out[name] = twin
        return out

    # ------------------------------------------------------------------------------------------ loop
    def autocast(self):
        if self.env.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def run(self) -> list[float]:
        """Train to ``settings.steps``; returns the per-step losses of this process (rank-local)."""
        s, env = self.s, self.env
        log = CSVLog(self.run_dir / "log.csv", ["step", "loss", "lr", "grad_norm", "samples_per_s", "wall_s",
                                                "samples", *self._metric_names()]) if env.is_main else None
        val_log = None
        loader = make_loader(self.dataset, s.batch, env, s.seed, self.step * s.accum, s.workers, self.collate)
        batches = iter(loader)
        losses = []
        bar = tqdm(total=s.steps, initial=self.step, desc=f"train {self.run_dir.name}", unit="step",
                   disable=not (s.progress and env.is_main), dynamic_ncols=True)
        started = time.perf_counter()
        wall_at_start = self.wall_seconds
        window_t, window_n = time.perf_counter(), 0
        # The step count is planned at the end of the warm-up, from the pace since step `first_timed` (past
        # start-up), and planned again as start-up effects fade (see `is_replan_step`). Only a run from step 0
        # is fitted; a resumed one keeps its state's plan.
        first_timed, pace_started = self.step + 10, None
        fit_at = max(50, s.warmup) if s.fit_to_time and s.max_minutes > 0 and self.step == 0 else -1
        self.module.train()
        while self.step < s.steps:
            t0 = time.perf_counter()
            self.optimizer.zero_grad(set_to_none=True)
            total, metrics_sum = 0.0, {}
            for micro in range(s.accum):
                batch = next(batches)
                batch = move_to(batch, env.device)
                sync = (micro == s.accum - 1) or not env.distributed
                context = contextlib.nullcontext() if sync else self.ddp.no_sync()
                with context:
                    with self.autocast():
                        loss, metrics = self.ddp(batch, mix_seed(s.seed, self.step, micro, env.rank))
                    (loss / s.accum).backward()
                total += float(loss.detach()) / s.accum
                for key, value in metrics.items():
                    metrics_sum[key] = metrics_sum.get(key, 0.0) + float(value) / s.accum
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.module.parameters(), s.clip))
            self.optimizer.step()
            self.schedule.step()
            self.step += 1
            for name, part in self.parts.items():
                self.emas[name].update(part, self.step)
            n = s.batch * s.accum * env.world_size
            self.samples_seen += n
            window_n += n
            losses.append(total)
            self.wall_seconds = wall_at_start + time.perf_counter() - started
            rate = window_n / max(1e-9, time.perf_counter() - window_t)
            if self.step % s.log_every == 0 or self.step == s.steps:
                if log:
                    log.write({"step": self.step, "loss": total, "lr": self.schedule.get_last_lr()[0],
                               "grad_norm": grad_norm, "samples_per_s": rate, "wall_s": self.wall_seconds,
                               "samples": self.samples_seen, **metrics_sum})
                window_t, window_n = time.perf_counter(), 0
            bar.set_postfix(loss=f"{total:.4f}", sps=f"{rate:.1f}", refresh=False)
            bar.update()
            del t0
            if self.step == first_timed:
                pace_started = time.perf_counter()
            if pace_started is not None and is_replan_step(self.step, fit_at, s.steps):
                now = time.perf_counter()
                self.set_schedule_steps(self.fitted_steps(self.step - first_timed, now - pace_started, now - started))
                first_timed, pace_started = self.step, time.perf_counter()  # the next plan measures the pace from here
                bar.total = s.steps
                logger.info("schedule fitted to %.1f min at step %d: %d steps", s.max_minutes, self.step, s.steps)
            if s.snapshots and self.step in {round(s.steps * j / s.snapshots) for j in range(1, s.snapshots + 1)}:
                self.save_snapshot()
            out_of_time = (s.max_minutes > 0 and (time.perf_counter() - started) > 60 * s.max_minutes) or \
                (s.stop_at > 0 and self.step >= s.stop_at)
            if self.step % s.save_every == 0 or self.step == s.steps or out_of_time:
                self.save_checkpoint()
            if self.validate and s.val_every and (self.step % s.val_every == 0 or self.step == s.steps or out_of_time):
                if env.is_main:
                    self.module.eval()
                    results = self.validate(self.ema_modules())
                    self.module.train()
                    if val_log is None:
                        val_log = CSVLog(self.run_dir / "val.csv", ["step", *sorted(results)])
                    val_log.write({"step": self.step, **results})
                    logger.info("step %d validation: %s", self.step,
                                ", ".join(f"{k}={v:.4g}" for k, v in sorted(results.items())))
                env.barrier()
            if out_of_time:
                logger.info("time limit of %.1f min reached at step %d", s.max_minutes, self.step)
                break
        bar.close()
        if env.is_main:
            self.write_summary(losses)
        if s.hash_dir:
            Path(s.hash_dir).mkdir(parents=True, exist_ok=True)
            (Path(s.hash_dir) / f"rank{env.rank}.txt").write_text(self.weights_hash() + "\n")
        return losses

    def weights_hash(self) -> str:
        """sha256 over the parts' weights and EMA weights (identical across DDP ranks when in sync)."""
        h = hashlib.sha256()
        for name, part in self.parts.items():
            for state in (part.state_dict(), self.emas[name].state_dict(part)):
                for key, value in sorted(state.items()):
                    h.update(key.encode())
                    h.update(value.detach().cpu().contiguous().float().numpy().tobytes())
        return h.hexdigest()

    def _metric_names(self) -> list[str]:
        return list(getattr(self.module, "metric_names", []))

    def write_summary(self, losses: list[float]) -> None:
        path = self.run_dir / "summary.json"
        summary = json.loads(path.read_text()) if path.exists() else {}
        summary.update({"step": self.step, "samples_seen": self.samples_seen, "wall_seconds": round(self.wall_seconds, 1),
                        "batch": self.s.batch, "accum": self.s.accum, "world_size": self.env.world_size,
                        "lr": self.s.lr, "device": str(self.env.device),
                        "last_losses_mean": (sum(losses[-50:]) / len(losses[-50:])) if losses else None,
                        "parameters": {n: sum(p.numel() for p in m.parameters()) for n, m in self.parts.items()}})
        path.write_text(json.dumps(summary, indent=1) + "\n")


def move_to(batch, device: torch.device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(v, device) for v in batch)
    return batch


def write_run_files(run_dir: Path, config, args: dict, env: DistEnv) -> None:
    from autopartgen.config import save_config
    if env.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")
        (run_dir / "args.json").write_text(json.dumps(args, indent=1, default=str) + "\n")
    env.barrier()
