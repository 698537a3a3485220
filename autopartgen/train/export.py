"""`autopartgen train export RUN... --out DIR`: a model folder from training runs.

Takes the VAE from the first run that holds one and the DiT + image encoder from the first run that
holds them (EMA weights when the run has them), the configuration of the DiT run (it carries the
``scale_factor`` fitted to the VAE's latents), and writes a folder ``AutoPartGen.from_pretrained``
loads: ``config.yaml``, ``vae/dit/image_encoder.safetensors`` (fp32), and ``MODEL_CARD.md`` built from
the runs' ``summary.json``, ``log.csv`` and ``val.csv``.
"""

from __future__ import annotations

import json
import logging
import platform
from pathlib import Path

import torch

from autopartgen.checkpoints import load_weights
from autopartgen.config import ModelConfig, load_config
from autopartgen.models import build_model
from autopartgen.train.common import read_csv, weights_source

logger = logging.getLogger(__name__)

KINDS = ("vae", "dit", "image_encoder")


def _find(runs: list[Path], kind: str) -> tuple[Path, Path]:
    for run in runs:
        try:
            return run, weights_source(run, kind, ema=True)
        except FileNotFoundError:
            continue
    raise FileNotFoundError(f"none of {', '.join(map(str, runs))} holds {kind} weights")


def _run_info(run: Path) -> dict:
    info = {"run": str(run)}
    if (run / "summary.json").is_file():
        info["summary"] = json.loads((run / "summary.json").read_text())
    if (run / "args.json").is_file():
        info["args"] = json.loads((run / "args.json").read_text())
    for name in ("log", "val"):
        path = run / f"{name}.csv"
        if path.is_file():
            rows = read_csv(path)
            info[name] = rows[-1] if rows else {}
            info[f"{name}_first"] = rows[0] if rows else {}
    return info


def export_model(runs, out: Path, notes: str | None = None, eval_json: str | None = None) -> Path:
    from autopartgen.pipeline import AutoPartGen

    runs = [Path(r) for r in runs]
    dit_run, _ = _find(runs, "dit")
    config = load_config(dit_run / "config.yaml") if (dit_run / "config.yaml").is_file() else load_config("tiny")
    models = {}
    sources = {}
    for kind in KINDS:
        run, path = _find(runs, kind)
        model = build_model(kind, getattr(config, kind), "cpu", empty=True)
        models[kind] = load_weights(model, path, name=kind).float().eval()
        sources[kind] = (run, path)
    pipe = AutoPartGen(config=config, device=torch.device("cpu"), **models)
    out = Path(out)
    pipe.save_pretrained(out)
    card = model_card(config, pipe.num_parameters(), sources, [_run_info(r) for r in dict.fromkeys(
        run for run, _ in sources.values())], notes, eval_json)
    (out / "MODEL_CARD.md").write_text(card)
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    logger.info("exported %s (%.1f MB) from %s", out, size / 1e6, ", ".join(map(str, runs)))
    return out


def _fmt_params(n: int) -> str:
    return f"{n / 1e6:.2f}M"


def model_card(config: ModelConfig, params: dict, sources: dict, runs: list[dict], notes: str | None,
               eval_json: str | None) -> str:
    v, d, e = config.vae, config.dit, config.image_encoder
    pipe = config.pipeline
    lines = [
        f"# autopartgen `{config.name}` model",
        "",
        "The compact AutoPartGen model shipped with autopartgen: the release architecture (TripoSG-style shape "
        "VAE, part DiT, DINOv2-style ViT with registers) at a small size, trained from scratch on autopartgen's "
        "procedural part corpus. Weights are our own; licence: CC0-1.0 (same as the procedural data).",
        "",
        "## Architecture and sizes",
        "",
        "| network | configuration | parameters |",
        "| --- | --- | --- |",
        f"| shape VAE | {pipe.get('point_cloud_size')} surface points -> {pipe.get('point_cloud_size', 0) // v.get('latent_eval_downscale', 1)} "
        f"tokens x {v.get('latent_channels')} channels; encoder width {v.get('encoder_width')} x "
        f"{v.get('num_layers_encoder')} blocks, decoder width {v.get('width_decoder')} x {v.get('num_layers_decoder')} "
        f"blocks, {v.get('num_attention_heads')} heads | {_fmt_params(params['vae'])} |",
        f"| part DiT | width {d.get('width')}, {d.get('num_layers')} blocks, {d.get('num_attention_heads')} heads, "
        f"{d.get('num_latents')} latent tokens x {d.get('in_channels')}, part cross-attention in the first "
        f"{d.get('token_cross_attention_layer')} blocks, image cross-attention dim {d.get('cross_attention_dim')}, "
        f"diffusion forcing; scale_factor {d.get('scale_factor')} | {_fmt_params(params['dit'])} |",
        f"| image encoder | ViT {e.get('img_size')} px (input {config.conditioner.get('img_size')} px), patch "
        f"{e.get('patch_size')}, width {e.get('embed_dim')}, {e.get('depth')} blocks, {e.get('num_register_tokens')} "
        f"registers | {_fmt_params(params['image_encoder'])} |",
        f"| **total** | | **{_fmt_params(sum(params.values()))}** |",
        "",
        f"Sampler: {config.scheduler.get('class_name')} ({config.scheduler.get('algorithm_type')}), "
        f"{config.scheduler.get('num_inference_timesteps')} steps, v-prediction on the zero-terminal-SNR "
        f"scaled-linear schedule. Default extraction grid {pipe.get('grid_size')}, at most {pipe.get('max_parts')} parts.",
        "",
        "## Training runs",
        "",
    ]
    for info in runs:
        summary, args = info.get("summary", {}), info.get("args", {})
        kinds = [k for k, (run, _) in sources.items() if str(run) == info["run"]]
        lines += [f"### {', '.join(kinds)} (`{Path(info['run']).name}`)", ""]
        if args:
            lines.append(f"- data: `{args.get('data')}`" + (f", {args['objects']} objects" if "objects" in args else "")
                         + (f" (+{args['holdout']} held out for validation)" if args.get("holdout") else ""))
        if summary:
            lines.append(f"- steps {summary.get('step')}, batch {summary.get('batch')} x accum {summary.get('accum')} x "
                         f"{summary.get('world_size')} process(es), {summary.get('samples_seen')} samples, peak lr "
                         f"{summary.get('lr')}, wall time {summary.get('wall_seconds', 0) / 60:.1f} min on "
                         f"{summary.get('device')}")
        if info.get("log"):
            first, last = info.get("log_first", {}), info["log"]
            lines.append(f"- training loss {first.get('loss')} (step {first.get('step')}) -> {last.get('loss')} "
                         f"(step {last.get('step')}); last throughput {last.get('samples_per_s')} samples/s")
        if info.get("val"):
            lines.append("- last validation: " + ", ".join(f"{k} {v}" for k, v in info["val"].items()))
        lines.append("")
    lines += [f"Hardware: {platform.machine()} CPU, 2 cores shared with other jobs, no GPU; PyTorch "
              f"{torch.__version__}.", ""]
    if eval_json and Path(eval_json).is_file():
        lines += ["## Evaluation", "", "```json", Path(eval_json).read_text().strip(), "```", ""]
    if notes and Path(notes).is_file():
        lines += [Path(notes).read_text().strip(), ""]
    return "\n".join(lines) + "\n"
