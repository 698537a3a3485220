"""Training loops (autopartgen/train): overfitting, exact resume, torchrun DDP, latent-cache invalidation.

Everything runs on a 4-object procedural dataset and a micro configuration (set here), on CPU.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from autopartgen.config import ModelConfig, load_config, save_config

MICRO = {
    "vae": {"latent_channels": 8, "num_attention_heads": 2, "encoder_width": 32, "width_decoder": 32,
            "num_layers_encoder": 1, "num_layers_decoder": 1, "latent_random_downscales": [16, 32],
            "latent_eval_downscale": 32},
    "dit": {"num_latents": 8, "in_channels": 8, "latent_dim": 8, "width": 32, "num_layers": 2,
            "num_attention_heads": 2, "cross_attention_dim": 16, "token_cross_attention_layer": 1},
    "image_encoder": {"img_size": 28, "patch_size": 14, "embed_dim": 16, "depth": 1, "num_heads": 2,
                      "num_register_tokens": 1},
    "conditioner": {"img_size": 28},
    "pipeline": {"point_cloud_size": 256, "num_surface_samples": 1024, "fps_max_points": 512, "grid_size": 32,
                 "max_parts": 4},
}


def micro_config() -> ModelConfig:
    config = load_config("tiny")
    for section, values in MICRO.items():
        getattr(config, section).update(copy.deepcopy(values))
    config.name = "micro"
    return config


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    from autopartgen.data.dataset import generate_and_write

    root = tmp_path_factory.mktemp("train")
    data = root / "data"
    for seed in range(4):
        generate_and_write(data, seed, n_views=1, size=64, resolution=24)
    config_path = root / "micro.yaml"
    save_config(micro_config(), config_path)
    return {"root": root, "data": data, "config": config_path}


def run_cli(*args: str) -> int:
    from autopartgen.cli import main

    return main([str(a) for a in args])


def csv_losses(run: Path) -> list[float]:
    from autopartgen.train.common import read_csv

    return [float(row["loss"]) for row in read_csv(run / "log.csv")]


def _overfit(module, batch, steps: int, lr: float) -> tuple[float, float]:
    torch.manual_seed(0)
    optimizer = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=lr)
    module.train()
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss, _ = module(batch, seed=7)  # same seed: same tokens, noise and timesteps every step
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses[0], min(losses[-3:])


def test_vae_overfits_a_fixed_batch(workspace):
    from autopartgen.models import build_model
    from autopartgen.train.prep import prepare_dataset
    from autopartgen.train.vae import VAEDataset, VAETrainModule, collate

    config = load_config(workspace["config"])
    prep, ids = prepare_dataset(workspace["data"], config, progress=False)
    assert len(ids) == 4
    dataset = VAEDataset(workspace["data"], prep, ids, num_queries=256, cloud_size=256)
    batch = collate([dataset[i] for i in range(4)])
    torch.manual_seed(0)
    module = VAETrainModule(build_model("vae", config.vae), kl_weight=1e-4)
    first, last = _overfit(module, batch, steps=25, lr=3e-3)
    assert last < 0.7 * first, (first, last)


def test_dit_overfits_a_fixed_batch(workspace):
    from autopartgen.models import build_model
    from autopartgen.train.dit import DiTDataset, DiTTrainModule, TrainingTables, collate
    from autopartgen.train.latents import build_latent_cache
    from autopartgen.train.prep import prepare_dataset

    config = load_config(workspace["config"])
    prep, ids = prepare_dataset(workspace["data"], config, progress=False)
    torch.manual_seed(0)
    vae = build_model("vae", config.vae)
    cache = build_latent_cache(workspace["data"], prep, ids, vae, config, progress=False, keep_old=True)
    tables, views = TrainingTables.from_cache(cache, prep, list(range(len(cache))))
    dataset = DiTDataset(cache, list(range(len(cache))), views, mask_prob=0.5)
    batch = collate([dataset[i] for i in range(8)])
    assert set(batch["slots"].tolist()) <= {1, 2}
    module = DiTTrainModule(build_model("dit", config.dit), build_model("image_encoder", config.image_encoder),
                            tables, 1.0 / cache.latent_std(), config.scheduler, image_drop=0.3, geometry_drop=0.1,
                            forcing_prob=0.5)
    first, last = _overfit(module, batch, steps=25, lr=3e-3)
    assert last < 0.7 * first, (first, last)


def test_vae_resume_is_exact(workspace):
    root, data, config = workspace["root"], workspace["data"], workspace["config"]
    common = ["train", "vae", "--config", config, "--data", data, "--steps", 4, "--batch", 2, "--queries", 64,
              "--warmup", 2, "--val-every", 0, "--log-every", 1, "--workers", 0, "--quiet"]
    assert run_cli(*common, "--out", root / "vae_full") == 0
    assert run_cli(*common, "--out", root / "vae_cut", "--stop-at", 2) == 0
    assert len(csv_losses(root / "vae_cut")) == 2
    assert run_cli(*common, "--out", root / "vae_cut", "--resume") == 0
    assert csv_losses(root / "vae_cut") == csv_losses(root / "vae_full")


def test_vae_part_items_have_signed_surface_shell_queries(workspace):
    """Shell queries (part surface samples moved +-offset along the normal) carry the right sign."""
    from autopartgen.data.dataset import load_object
    from autopartgen.eval.metrics import points_inside
    from autopartgen.train.prep import prepare_dataset
    from autopartgen.train.vae import VAEDataset

    config = load_config(workspace["config"])
    prep, ids = prepare_dataset(workspace["data"], config, progress=False)
    offset = 0.004
    dataset = VAEDataset(workspace["data"], prep, ids, num_queries=512, cloud_size=256, surface_offset=offset)
    parts = load_object(workspace["data"] / ids[0], views=False, samples=False)["parts"]
    checked = 0
    for k, part in enumerate(parts):
        item = dataset.make_item(ids[0], np.random.default_rng(k), kind="part", index=k)
        values, queries = item["sdf"].numpy(), item["queries"].numpy()
        shell = np.isclose(np.abs(values), offset, rtol=0, atol=1e-7)
        assert shell.sum() >= 512 // 8 - 1  # a quarter of the near-surface half
        inside = points_inside((part["vertices"], part["faces"]), queries[shell].astype(np.float64))
        assert (inside == (values[shell] < 0)).mean() > 0.9, k
        checked += 1
    assert checked == len(parts)


def test_decoder_only_finetune_keeps_the_encoder_and_the_cache(workspace):
    from safetensors.torch import load_file

    from autopartgen.train.latents import DECODER_PREFIXES

    root, data, config = workspace["root"], workspace["data"], workspace["config"]
    base = ["train", "vae", "--config", config, "--data", data, "--batch", 2, "--queries", 64, "--warmup", 1,
            "--val-every", 0, "--log-every", 1, "--workers", 0, "--quiet"]
    assert run_cli(*base, "--steps", 2, "--out", root / "vae_base") == 0
    caches_before = {p.name for p in (data / ".latent_cache").glob("*")} if (data / ".latent_cache").is_dir() else set()
    assert run_cli(*base, "--steps", 3, "--lr", 1e-2, "--decoder-only", "--init", root / "vae_base",
                   "--out", root / "vae_dec") == 0
    before = load_file(str(root / "vae_base" / "checkpoint" / "vae.ema.safetensors"))  # what --init loads
    after = load_file(str(root / "vae_dec" / "checkpoint" / "vae.safetensors"))
    changed = {key for key in before if not torch.equal(before[key], after[key])}
    assert changed and all(key.startswith(DECODER_PREFIXES) for key in changed), changed
    assert any(key.startswith("decoder.") for key in changed)
    # The fine-tuned VAE maps to the same cache folder (encoder-only fingerprint): a DiT on it stays valid.
    from autopartgen.models import build_model
    from autopartgen.train.latents import vae_fingerprint

    cfg = load_config(config)
    vae_a, vae_b = build_model("vae", cfg.vae), build_model("vae", cfg.vae)
    vae_a.load_state_dict(before)
    vae_b.load_state_dict(after)
    assert vae_fingerprint(vae_a, cfg.vae) == vae_fingerprint(vae_b, cfg.vae)
    caches_after = {p.name for p in (data / ".latent_cache").glob("*")}
    assert any(name.startswith(vae_fingerprint(vae_a, cfg.vae) + "-") for name in caches_after)
    assert caches_before <= caches_after


def test_dit_resume_is_exact_and_exports(workspace, tmp_path):
    from autopartgen.pipeline import AutoPartGen

    root, data, config = workspace["root"], workspace["data"], workspace["config"]
    if not (root / "vae_full" / "checkpoint").is_dir():
        pytest.skip("needs the VAE run of test_vae_resume_is_exact")
    common = ["train", "dit", "--config", config, "--data", data, "--vae", root / "vae_full", "--steps", 4,
              "--batch", 4, "--accum", 2, "--warmup", 2, "--val-every", 2, "--log-every", 1, "--workers", 0, "--quiet"]
    assert run_cli(*common, "--out", root / "dit_full") == 0
    assert run_cli(*common, "--out", root / "dit_cut", "--stop-at", 3) == 0
    assert run_cli(*common, "--out", root / "dit_cut", "--resume") == 0
    assert csv_losses(root / "dit_cut") == csv_losses(root / "dit_full")
    run_config = yaml.safe_load((root / "dit_full" / "config.yaml").read_text())
    scale = run_config["dit"]["scale_factor"]
    assert scale > 0 and scale != 1.0
    # The end-token threshold sits between zero and the smallest real part latents of the cache.
    from autopartgen.train.latents import LatentCache

    cache = LatentCache(next((data / ".latent_cache").glob("*/")))
    smallest = float(cache.parts.float().abs().mean(dim=(1, 2)).min())
    assert 0 < run_config["pipeline"]["eot_threshold"] < smallest
    assert run_config["pipeline"]["mask_order"] == "position"  # dataset part order: the release's mask order
    assert run_config["pipeline"]["history_region"] == "held"  # --history parts: the union of earlier parts

    out = tmp_path / "model"
    assert run_cli("train", "export", root / "vae_full", root / "dit_full", "--out", out) == 0
    assert (out / "MODEL_CARD.md").read_text().startswith("# autopartgen")
    pipe = AutoPartGen.from_pretrained(out, device="cpu")
    assert pipe.config.scale_factor == scale
    assert pipe._setting("mask_order", None) == "position"
    ema = __import__("safetensors.torch", fromlist=["load_file"]).load_file(
        str(root / "dit_full" / "checkpoint" / "dit.ema.safetensors"))
    for key, value in pipe.dit.state_dict().items():
        assert torch.equal(value, ema[key]), key


def test_torchrun_two_ranks_hold_identical_weights(workspace):
    root, data, config = workspace["root"], workspace["data"], workspace["config"]
    hashes = root / "hashes"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "autopartgen", "train", "vae", "--config", str(config), "--data", str(data),
               "--out", str(root / "vae_ddp"), "--steps", "2", "--batch", "2", "--queries", "64",
               "--val-every", "0", "--workers", "0", "--quiet", "--device", "cpu", "--hash-dir", str(hashes)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (hashes / "rank0.txt").read_text(), (hashes / "rank1.txt").read_text()
    assert rank0 == rank1
    summary = yaml.safe_load((root / "vae_ddp" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["step"] == 2


def test_latent_cache_follows_the_vae_weights(workspace):
    from autopartgen.models import build_model
    from autopartgen.train.latents import build_latent_cache, vae_fingerprint
    from autopartgen.train.prep import prepare_dataset

    config = load_config(workspace["config"])
    data = workspace["data"]
    prep, ids = prepare_dataset(data, config, progress=False)
    torch.manual_seed(1)
    vae = build_model("vae", config.vae)
    first = build_latent_cache(data, prep, ids, vae, config, progress=False)
    stamp = (first.folder / "latents.safetensors").stat().st_mtime_ns
    again = build_latent_cache(data, prep, ids, vae, config, progress=False)
    assert again.folder == first.folder
    assert (again.folder / "latents.safetensors").stat().st_mtime_ns == stamp  # reused, not rebuilt
    with torch.no_grad():
        vae.post_quant.bias.add_(0.01)  # a decoder-only change keeps the latents, so the cache stays
    assert vae_fingerprint(vae, config.vae) == first.fingerprint
    with torch.no_grad():
        vae.encoder.proj_in.weight.mul_(1.1)
    second = build_latent_cache(data, prep, ids, vae, config, progress=False)
    assert second.fingerprint == vae_fingerprint(vae, config.vae) != first.fingerprint
    assert not first.folder.exists()  # stale cache removed
    assert not torch.allclose(second.wholes, first.wholes)
    assert np.array_equal(second.counts, first.counts)


def test_anchored_prep_packs_into_a_cache_the_trainer_reuses(workspace, tmp_path):
    """history="anchored" prep -> latent cache -> tools/pack_dit_data.py: the packed folder holds the same
    latents (float16) and views for a subset, and `train dit --ready-only` finds its cache current."""
    from autopartgen.models import build_model
    from autopartgen.train.latents import LatentCache, build_latent_cache
    from autopartgen.train.prep import prep_dir, prep_settings, prepare_dataset

    config = load_config(workspace["config"])
    data = tmp_path / "data"
    import shutil

    shutil.copytree(workspace["data"], data, ignore=shutil.ignore_patterns(".train_prep", ".latent_cache"))
    prep, ids = prepare_dataset(data, config, progress=False, history="anchored")
    assert prep.name.endswith("-anchored") and len(ids) == 4
    torch.manual_seed(1)
    vae = build_model("vae", config.vae)
    vae_dir = tmp_path / "vae" / "checkpoint"
    vae_dir.mkdir(parents=True)
    from autopartgen.checkpoints import save_safetensors

    save_safetensors(vae.state_dict(), vae_dir / "vae.ema.safetensors")
    full = build_latent_cache(data, prep, ids, vae, config, progress=False)
    # The same VAE on the parts-form prep gets its own cache: the forms' whole/history latents differ.
    parts_prep, _ = prepare_dataset(data, config, progress=False, history="parts")
    parts_cache = build_latent_cache(data, parts_prep, ids, vae, config, progress=False)
    assert parts_cache.folder != full.folder and full.folder.is_dir()
    assert torch.equal(parts_cache.parts, full.parts)  # targets: the same ground-truth part clouds
    assert not torch.equal(parts_cache.wholes, full.wholes)

    def pack(max_mb: float, *extra: str) -> str:
        result = subprocess.run([sys.executable, "tools/pack_dit_data.py", "--data", str(data), "--config",
                                 str(workspace["config"]), "--history", "anchored", "--out", str(packed_dir),
                                 "--max-mb", str(max_mb), *extra],
                                cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("not ours")
    refused = subprocess.run([sys.executable, "tools/pack_dit_data.py", "--data", str(data), "--config",
                              str(workspace["config"]), "--history", "anchored", "--out", str(foreign)],
                             cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True)
    assert refused.returncode != 0 and "was not written by this tool" in refused.stderr
    assert [f.name for f in foreign.iterdir()] == ["keep.txt"]  # a folder we did not write is left alone

    packed_dir = tmp_path / "packed"
    everything = pack(100.0)
    assert everything.startswith("4 of 4 objects")
    size_mb = float(everything.split(", ")[1].split(" MB")[0])
    pack(0.6 * size_mb, "--localization", "1")  # a budget for some objects only
    packed = LatentCache(packed_dir / ".latent_cache" / full.folder.name)
    assert 1 <= len(packed) < len(full) and packed.ids == sorted(packed.ids)
    for i, object_id in enumerate(packed.ids):
        j = full.ids.index(object_id)
        assert packed.counts[i] == full.counts[j]
        assert torch.allclose(packed.whole(i).float(), full.whole(j), atol=2e-2, rtol=2e-3)
        for k in range(packed.counts[i]):
            assert torch.allclose(packed.part(i, k).float(), full.part(j, k), atol=2e-2, rtol=2e-3)
            assert torch.allclose(packed.history(i, k).float(), full.history(j, k), atol=2e-2, rtol=2e-3)
        with np.load(prep_dir(packed_dir, prep_settings(config, "anchored")) / f"{object_id}.npz") as slim, \
                np.load(prep / f"{object_id}.npz") as source:
            assert set(slim.files) == {"images", "labels"}
            assert np.array_equal(slim["images"], source["images"])

    stamp = (packed.folder / "latents.safetensors").stat().st_mtime_ns
    from autopartgen.train.dit import localization_indices

    meshes = [p.name for p in packed_dir.iterdir() if (p / "parts.glb").is_file()]
    assert meshes == [packed.ids[localization_indices(list(range(len(packed))))[0]]]
    assert run_cli("train", "dit", "--config", workspace["config"], "--data", packed_dir, "--ready-only",
                   "--history", "anchored", "--vae", tmp_path / "vae", "--out", tmp_path / "dit_packed",
                   "--steps", 1, "--batch", 2, "--val-every", 1, "--val-localization", 1,
                   "--val-localization-steps", 2, "--device", "cpu", "--quiet") == 0
    assert (packed.folder / "latents.safetensors").stat().st_mtime_ns == stamp  # reused, not rebuilt
    from autopartgen.train.common import read_csv

    validation = read_csv(tmp_path / "dit_packed" / "val.csv")[-1]
    assert 0.0 <= float(validation["val_loc_any"]) <= 1.0  # the metric ran on the packed meshes


def test_int8_latents_round_trip_within_half_a_step():
    from autopartgen.train.latents import quantize_latents, read_latents

    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(5, 64, 16, generator=generator) * torch.linspace(0.1, 8.0, 16)  # channels of any spread
    packed = quantize_latents(latents)
    assert packed["q8"].dtype == torch.int8 and packed["step"].shape == (5, 1, 16)
    decoded = read_latents({f"latents.{k}": v for k, v in packed.items()}, "latents").float()
    half_step = packed["step"].float() / 2
    error = (decoded - latents).abs()
    assert bool((error <= half_step + 1e-3 * latents.abs() + 1e-6).all())  # + float16 rounding of the result
    assert float(error.max()) > 0  # lossy, so the bound above is what is being tested
    assert torch.equal(read_latents({"latents": latents}, "latents"), latents)  # stored as they are


def test_dit_items_gather_the_cached_latents_and_masked_views(workspace):
    """Items are rows of the training tables: what the module gathers is the cache's latent for each slot
    and the object's view, masked to the part for mask-mode items (an independent np.where)."""
    from autopartgen.models import build_model
    from autopartgen.train.dit import (KIND_END, KIND_PART, KIND_WHOLE, DiTDataset, DiTTrainModule,
                                       TrainingTables, collate, load_views)
    from autopartgen.train.latents import build_latent_cache
    from autopartgen.train.prep import prepare_dataset

    config = load_config(workspace["config"])
    prep, ids = prepare_dataset(workspace["data"], config, progress=False)
    torch.manual_seed(0)
    cache = build_latent_cache(workspace["data"], prep, ids, build_model("vae", config.vae), config, progress=False,
                               keep_old=True)
    tables, views = TrainingTables.from_cache(cache, prep, list(range(len(cache))))
    dataset = DiTDataset(cache, list(range(len(cache))), views, mask_prob=1.0)
    scale = 0.5
    module = DiTTrainModule(build_model("dit", config.dit), build_model("image_encoder", config.image_encoder),
                            tables, scale, config.scheduler)
    seen = set()
    for i in range(len(cache)):
        for e in range(cache.counts[i] + 2):
            item = dataset.make_item(i, np.random.default_rng(e), element=e)
            target = module.latents[item["target"]].float()
            whole, second = (module.latents[row].float() for row in item["context"])
            if e == 0:
                assert item["kind"] == KIND_WHOLE and torch.equal(target, cache.whole(i).half().float())
                assert not whole.any() and not second.any()
            elif e <= cache.counts[i]:
                assert item["kind"] == KIND_PART and torch.equal(target, cache.part(i, e - 1).half().float())
                assert torch.equal(second, cache.history(i, e - 1).half().float())
            else:
                assert item["kind"] == KIND_END and not target.any()
                assert torch.equal(second, cache.history(i, cache.counts[i]).half().float())
            if e > 0:
                assert torch.equal(whole, cache.whole(i).half().float())
            images, labels = load_views(prep, cache.ids[i])
            images_batch, masked = module.batch_images(collate([item]))
            view = [v for v, (row, _) in enumerate(views[i]) if row == item["view"]][0]
            assert torch.equal(images_batch[0], torch.from_numpy(images[view]).permute(2, 0, 1).float() / 255)
            if item["mask_label"] >= 0:
                expected = np.where((labels[view] == e)[..., None], images[view], 255)
                assert torch.equal(masked[0], torch.from_numpy(expected).permute(2, 0, 1).float() / 255)
                seen.add("masked")
            elif item["kind"] == KIND_PART:  # mask_prob 1: only a part the view does not show is unmasked
                assert not (labels[view] == e).any()
    assert "masked" in seen


class _Toy(torch.nn.Module):
    """A linear regression as a training module (forward(batch, seed) -> (loss, metrics))."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 1)

    def forward(self, batch, seed):
        return (self.linear(batch["x"]) - batch["y"]).pow(2).mean(), {}


class _ToyData(torch.utils.data.Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, index):
        x = torch.tensor([index % 7, index % 5, 1.0]) / 7
        return {"x": x, "y": x.sum(0, keepdim=True)}


def _toy_trainer(run_dir, resume=False, **settings):
    from torch.utils.data import default_collate

    from autopartgen.train.common import DistEnv, Trainer, TrainSettings

    toy = _Toy()
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    settings = TrainSettings(**{"steps": 8, "batch": 4, "warmup": 2, "val_every": 0, "save_every": 100,
                                "workers": 0, "progress": False, "log_every": 1, **settings})
    return Trainer(toy, {"toy": toy}, _ToyData(), default_collate, run_dir, settings, DistEnv(), resume=resume)


def test_snapshots_keep_the_ema_weights_at_even_steps(tmp_path):
    from safetensors.torch import load_file

    trainer = _toy_trainer(tmp_path / "run", snapshots=4)
    trainer.run()
    folders = sorted(p.name for p in (tmp_path / "run" / "checkpoint").glob("ema-*"))
    assert folders == ["ema-0000002", "ema-0000004", "ema-0000006", "ema-0000008"]
    last = load_file(str(tmp_path / "run" / "checkpoint" / "ema-0000008" / "toy.safetensors"))
    final = load_file(str(tmp_path / "run" / "checkpoint" / "toy.ema.safetensors"))
    assert all(torch.equal(last[k], final[k]) for k in final)
    early = load_file(str(tmp_path / "run" / "checkpoint" / "ema-0000002" / "toy.safetensors"))
    assert not all(torch.equal(early[k], final[k]) for k in final)


def test_a_schedule_fitted_to_the_time_limit_ends_its_decay_there(tmp_path):
    import math

    from autopartgen.train.common import warmup_cosine

    trainer = _toy_trainer(tmp_path / "run", steps=10_000, warmup=10, max_minutes=1.0, fit_to_time=True)
    trainer.step = 100
    # 100 steps took 10 s, 20 s into a 60 s run: 95 % of the 40 s left at 0.1 s per step = 380 steps more.
    assert trainer.fitted_steps(100, 10.0, 20.0) == 480
    assert trainer.fitted_steps(100, 0.001, 20.0) == 10_000  # never past the steps asked for
    before = trainer.schedule.lr_lambdas[0](245)
    trainer.set_schedule_steps(480)
    for step in (5, 50, 245, 479, 480):
        assert math.isclose(trainer.schedule.lr_lambdas[0](step), warmup_cosine(10, 480, 0.05)(step), rel_tol=1e-12)
    assert math.isclose(trainer.schedule.lr_lambdas[0](480), 0.05) and trainer.schedule.lr_lambdas[0](245) < before
    trainer.save_checkpoint()
    resumed = _toy_trainer(tmp_path / "run", steps=10_000, warmup=10, max_minutes=1.0, fit_to_time=True, resume=True)
    assert resumed.s.steps == 480  # a resumed run keeps the plan its state holds


def test_a_fitted_run_plans_again_at_each_doubling_of_the_warm_up_early_in_its_plan():
    from autopartgen.train.common import is_replan_step

    # warm-up 150, first plan 570 steps (a slow start): plan again at 300 (< 427.5), not at 600 (past the plan)
    assert [s for s in range(1, 2000) if is_replan_step(s, 150, 570)] == [150, 300]
    # a long plan keeps re-planning at every doubling up to three quarters of it
    assert [s for s in range(1, 5000) if is_replan_step(s, 50, 4000)] == [50, 100, 200, 400, 800, 1600]
    assert not any(is_replan_step(s, -1, 4000) for s in range(1, 100))  # not fitted: never


def test_size_order_puts_the_largest_part_first_and_equal_parts_lowest_first():
    import trimesh

    from autopartgen.train.prep import part_order

    def box(extents, centre):
        mesh = trimesh.creation.box(extents=extents)
        mesh.apply_translation(centre)
        return np.asarray(mesh.vertices), np.asarray(mesh.faces)

    legs = [box((0.1, 0.5, 0.1), (x, -0.5, z)) for x, z in ((0.4, 0.4), (-0.4, 0.4), (0.4, -0.4), (-0.4, -0.4))]
    seat = box((1.0, 0.1, 1.0), (0.0, 0.0, 0.0))
    back = box((1.0, 0.8, 0.05), (0.0, 0.45, -0.48))
    meshes = legs + [seat, back]  # stored as a generator writes a chair: legs first
    assert part_order(meshes, "dataset") == [0, 1, 2, 3, 4, 5]
    # seat 0.1, back 0.04 > legs 0.005 (equal): legs by y (equal), then x, then z
    assert part_order(meshes, "size") == [4, 5, 3, 1, 2, 0]
    with pytest.raises(ValueError):
        part_order(meshes, "random")


def test_a_size_ordered_prep_reorders_parts_histories_and_view_labels(workspace, tmp_path):
    """--part-order size: its own prep folder; part clouds follow the new order and view label k + 1 marks
    the new part k (the pixels the stored part order[k] covered)."""
    import shutil

    from autopartgen.data.dataset import load_object
    from autopartgen.train.prep import load_prep, part_order, prepare_dataset

    config = load_config(workspace["config"])
    data = tmp_path / "data"
    shutil.copytree(workspace["data"], data, ignore=shutil.ignore_patterns(".train_prep", ".latent_cache"))
    stored, ids = prepare_dataset(data, config, progress=False, history="anchored")
    sized, sized_ids = prepare_dataset(data, config, progress=False, history="anchored", order="size")
    assert sized.name == stored.name + "-order-size" and sized_ids == ids
    reordered = 0
    for object_id in ids:
        parts = load_object(data / object_id, views=False, samples=False)["parts"]
        order = part_order([(p["vertices"], p["faces"]) for p in parts], "size")
        a, b = load_prep(stored, object_id), load_prep(sized, object_id)
        for new, old in enumerate(order):  # the same part's cloud: its points lie within that part's box
            low, high = parts[old]["vertices"].min(0) - 1e-3, parts[old]["vertices"].max(0) + 1e-3
            assert np.all((b["parts"][new][:, :3] >= low) & (b["parts"][new][:, :3] <= high))
        for new, old in enumerate(order):
            assert np.array_equal(b["labels"] == new + 1, a["labels"] == old + 1)
        assert np.array_equal(a["labels"] == 0, b["labels"] == 0) and np.array_equal(a["images"], b["images"])
        reordered += order != sorted(order)
    assert reordered > 0  # the check above is not vacuous


def test_a_remainder_cache_starts_from_the_whole_and_ends_on_the_empty_cloud(workspace, tmp_path):
    """--history remainder: the same whole and part latents as the anchored form; the history before the
    first part is the whole, after the last the empty cloud, and the training table's rows agree."""
    import shutil

    from autopartgen.models import build_model
    from autopartgen.train.latents import build_latent_cache
    from autopartgen.train.prep import prepare_dataset

    config = load_config(workspace["config"])
    data = tmp_path / "data"
    shutil.copytree(workspace["data"], data, ignore=shutil.ignore_patterns(".train_prep", ".latent_cache"))
    rest_prep, ids = prepare_dataset(data, config, progress=False, history="remainder")
    held_prep, _ = prepare_dataset(data, config, progress=False, history="anchored")
    assert rest_prep.name.endswith("-remainder")
    torch.manual_seed(1)
    vae = build_model("vae", config.vae)
    rest = build_latent_cache(data, rest_prep, ids, vae, config, progress=False, keep_old=True, remainder=True)
    held = build_latent_cache(data, held_prep, ids, vae, config, progress=False, keep_old=True)
    assert rest.remainder and not held.remainder
    assert torch.equal(rest.wholes, held.wholes) and torch.equal(rest.parts, held.parts)
    table = rest.table()
    for i, count in enumerate(rest.counts):
        assert torch.equal(rest.history(i, 0), rest.wholes[i]) and torch.equal(held.history(i, 0), held.empty)
        assert torch.equal(rest.history(i, count), rest.empty) and torch.equal(held.history(i, count), held.wholes[i])
        for k in range(count + 1):
            assert torch.equal(table[rest.history_row(i, k)], rest.history(i, k).half())
        if count > 1:
            assert not torch.equal(rest.history(i, 1), held.history(i, 1))


def test_the_holdout_spreads_over_the_cache_and_a_resumed_run_keeps_its_rule(tmp_path):
    """New runs hold out one object in every n / 64, so every stretch of the (category-sorted) ids is
    validated; a run resumed from an args.json written before the rule keeps its last-objects split."""
    import json

    from autopartgen.train.dit import holdout_rule_of, localization_indices, split_holdout

    indices = list(range(1800))
    train, held = split_holdout(indices)
    assert len(held) == 64 and sorted(train + held) == indices and not set(train) & set(held)
    gaps = np.diff(held)
    assert held[0] < 28 and held[-1] > 1800 - 28 and gaps.min() >= 28 and gaps.max() <= 29
    assert split_holdout(indices, "last") == (indices[:-64], indices[-64:])
    assert split_holdout(list(range(8))) == (list(range(8)), [])  # too few objects to hold any out
    assert localization_indices(indices)[:2] == held[:2]
    with pytest.raises(ValueError, match="hold-out rule"):
        split_holdout(indices, "first")

    run = tmp_path / "run"
    assert holdout_rule_of(run, resume=True) == "spread"  # nothing to resume: a new run
    run.mkdir()
    (run / "args.json").write_text(json.dumps({"holdout": 64}))
    assert holdout_rule_of(run, resume=True) == "last" and holdout_rule_of(run, resume=False) == "spread"
    (run / "args.json").write_text(json.dumps({"holdout": 64, "holdout_rule": "spread"}))
    assert holdout_rule_of(run, resume=True) == "spread"
