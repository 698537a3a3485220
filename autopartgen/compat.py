"""`autopartgen compat-check DIR`: run a golden set made from the reference and compare.

A golden directory holds ``configs.json`` (constructor arguments, weight files, and per case the
calls to run with their inputs, expected outputs and tolerances) and one ``.npz`` per case. Models
are built only from that ``configs.json``, so any golden set in the same format (other small
configs, other seeds) is checked the same way. The format is described in the set's README.

Each call names a ``function``; :data:`CALLS` maps it to our implementation. An output passes when
``|actual - expected| <= atol + rtol * |expected|`` everywhere (``exact``: equal arrays).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from autopartgen.checkpoints import load_weights
from autopartgen.errors import InputFileError
from autopartgen.masks import split_mask
from autopartgen.models import build_model
from autopartgen.models.image_encoder import imagenet_normalize
from autopartgen.geometry.sampling import farthest_point_sample
from autopartgen.models.vae import fps_start_index
from autopartgen.sampling import (SamplerTrace, build_scheduler, initial_noise, is_end_latent, noise_history_slots,
                                  resolve_part_guidance, sample_latents)

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- results
@dataclass
class ArrayResult:
    array: str
    max_abs: float
    max_rel: float
    passed: bool
    intermediate: bool = False


@dataclass
class CaseResult:
    case: str
    arrays: list[ArrayResult] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(a.passed for a in self.arrays)


def compare(actual, expected: np.ndarray, spec: dict) -> tuple[float, float, bool]:
    """(max abs error, max relative error, passed) of ``actual`` against ``expected`` under ``spec``."""
    actual = np.asarray(actual)
    if actual.shape != expected.shape:
        if actual.size == expected.size:
            actual = actual.reshape(expected.shape)
        else:
            return float("inf"), float("inf"), False
    if expected.dtype == bool or spec.get("exact"):
        equal = np.array_equal(actual.astype(expected.dtype), expected)
        diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
        return float(diff.max(initial=0.0)), float("nan") if not equal else 0.0, bool(equal)
    diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    scale = np.abs(expected.astype(np.float64))
    significant = scale > 1e-6
    max_rel = float((diff[significant] / scale[significant]).max(initial=0.0))
    passed = bool(np.all(diff <= spec.get("atol", 0.0) + spec.get("rtol", 0.0) * scale))
    return float(diff.max(initial=0.0)), max_rel, passed


# --------------------------------------------------------------------------- runner
class GoldenRunner:
    """Builds the golden set's models from its configs.json and runs its calls."""

    def __init__(self, directory: str | Path, weight_format: str = "safetensors"):
        self.directory = Path(directory)
        config_path = self.directory / "configs.json"
        if not config_path.is_file():
            raise InputFileError(f"golden directory {self.directory} has no configs.json; pass a folder laid out "
                                 "like shared/compat/golden")
        try:
            self.configs = json.loads(config_path.read_text())
        except json.JSONDecodeError as error:
            raise InputFileError(f"{config_path} is not valid JSON ({error.msg} at line {error.lineno})") from None
        self.weight_format = weight_format
        self._models: dict[str, torch.nn.Module] = {}

    def model(self, kind: str) -> torch.nn.Module:
        if kind not in self._models:
            kwargs = self.configs["image_encoder"]["kwargs"] if kind == "image_encoder" else self.configs[kind]
            model = build_model(kind, kwargs, "cpu", empty=True)
            weights = self.configs["models"][kind]["weights"]
            load_weights(model, self.directory / weights[self.weight_format], name=kind)
            self._models[kind] = model
        return self._models[kind]

    def run_all(self, only: list[str] | None = None) -> list[CaseResult]:
        results = []
        for case_name, case in self.configs["cases"].items():
            if only and not any(o in case_name for o in only):
                continue
            results.append(self.run_case(case_name, case))
        return results

    def run_case(self, case_name: str, case: dict) -> CaseResult:
        result = CaseResult(case_name)
        try:
            data = dict(np.load(self.directory / case_name))
            for call in case["calls"]:
                function = CALLS.get(call["function"])
                if function is None:
                    raise NotImplementedError(f"unknown golden function {call['function']!r}")
                rows = _column_rows(call["args"], data)
                if rows is None:
                    outputs, intermediates = function(self, _resolve(call["args"], data))
                else:  # one call per row of a column argument, outputs stacked
                    per_row = [function(self, _resolve(call["args"], data, row)) for row in range(rows)]
                    outputs = [np.stack([np.asarray(r[0][i]) for r in per_row]) for i in range(len(per_row[0][0]))]
                    intermediates = {}
                for spec, actual in zip(call["outputs"], outputs):
                    self._record(result, call, spec, actual, data, intermediate=False)
                for spec in call.get("intermediates", []):
                    actual = _find_intermediate(intermediates, spec["array"])
                    if actual is not None:
                        self._record(result, call, spec, actual, data, intermediate=True)
        except Exception as error:  # report, keep checking the other cases
            logger.debug("case %s failed", case_name, exc_info=True)
            result.error = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        return result

    @staticmethod
    def _record(result, call, spec, actual, data, intermediate):
        name = spec["array"]
        max_abs, max_rel, passed = compare(_to_numpy(actual), data[name], spec)
        result.arrays.append(ArrayResult(f"{call['name']}:{name}", max_abs, max_rel, passed, intermediate))


def _to_numpy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _column_rows(args, data) -> int | None:
    for value in args.values():
        if isinstance(value, dict) and "column" in value:
            return len(data[value["column"][0]])
    return None


def _resolve(value, data, row: int | None = None):
    """Turn a call argument into a value: array names -> tensors, specials, literals (see module doc)."""
    if isinstance(value, str):
        return torch.from_numpy(np.array(data[value]))
    if isinstance(value, list):
        return [_resolve(v, data, row) for v in value]
    if isinstance(value, dict):
        if "zeros_like" in value:
            return torch.zeros_like(torch.from_numpy(np.array(data[value["zeros_like"]])))
        if "column" in value:
            name, column = value["column"]
            return torch.tensor(data[name][row, column])
        return {k: _resolve(v, data, row) for k, v in value.items()}
    return value


def _find_intermediate(intermediates: dict, array_name: str):
    """Intermediates are matched on the part of the array name after ``_inter_`` / ``trace_``."""
    for key, value in intermediates.items():
        if array_name == key or array_name.endswith("_inter_" + key) or array_name == "inter_" + key:
            return value
    return None


def _scalar(value) -> float:
    return float(value.item() if isinstance(value, torch.Tensor) else value)


# --------------------------------------------------------------------------- the calls
def _dit_forward(runner, args):
    dit = runner.model("dit")
    condition = args["condition"]
    image_emb, part_latents = condition if isinstance(condition, list) else (condition, None)
    sigma = args.get("sigma_history")
    with torch.no_grad():
        prepared = dit.prepare_condition(image_emb, part_latents, sigma)
        out, inner = dit.forward_prepared(args["hidden_states"], args["timesteps"], prepared,
                                          return_block_outputs=True)
    intermediates = {"cond_proj_out": prepared.image_tokens, "time_proj_out": inner["time_proj"],
                     "norm_out_out": inner["norm_out"]}
    if prepared.part_tokens is not None:
        intermediates["part_tokens"] = prepared.part_tokens
    if prepared.sigma_embedding is not None:
        intermediates["sigma_history_proj_out"] = prepared.sigma_embedding
    for i, block_out in enumerate(inner["blocks"]):
        intermediates[f"block{i}_out"] = block_out
    return [out], intermediates


def _vae_encode(runner, args):
    vae = runner.model("vae")
    surface = args["surface"]
    with torch.no_grad():
        torch.manual_seed(int(args["torch_seed"]))
        indices = vae.select_query_indices(surface)
        posterior = vae.encode_with_indices(surface, indices)
    queries = torch.gather(surface, 1, indices[..., None].expand(-1, -1, surface.shape[-1]))
    return [indices, queries, posterior.params, posterior.mean, posterior.logvar, posterior.std], {}


def _vae_encode_given_indices(runner, args):
    vae = runner.model("vae")
    surface, indices = args["surface"], args["fps_indices"]
    with torch.no_grad():
        posterior = vae.encode_with_indices(surface, indices)
        features = vae.point_features(surface)
    query_features = torch.gather(features, 1, indices[..., None].expand(-1, -1, features.shape[-1]))
    return [posterior.params], {"embed_surface": vae.embedder(surface[..., :3]), "x_q": query_features}


def _encode_surface(runner, args):
    vae = runner.model("vae")
    with torch.no_grad():
        torch.manual_seed(int(args["torch_seed"]))
        latent = vae.encode(args["surface"]).mode() * _scalar(args["scale_factor"])
    return [latent], {}


def _vae_decode(runner, args):
    with torch.no_grad():
        return [runner.model("vae").decode(args["latent"], args["queries"])], {}


def _zero_history(runner, args):
    vae = runner.model("vae")
    num_points = int(args["num_points"])
    with torch.no_grad():
        torch.manual_seed(int(args["torch_seed"]))
        latent = vae.encode(torch.zeros(1, num_points, 6)).mode() * _scalar(args["scale_factor"])
    if args.get("take_row") is not None:
        return [latent[0, int(args["take_row"])], latent.shape[1]], {}
    return [latent], {}


def _randint_start(runner, args):
    torch.manual_seed(int(args["torch_seed"]))
    return [fps_start_index(int(args["num_points"]))], {}


def _fps(runner, args):
    points = args["points"].numpy()
    if int(args.get("level", 7)) != (5 if len(points) <= 25_000 else 7):
        raise ValueError("golden FPS level differs from the size rule (5 up to 25 000 points, else 7)")
    return [farthest_point_sample(points, int(args["num_samples"]), int(args["start_idx"]))], {}


def _scheduler_tables(runner, args):
    scheduler = build_scheduler(runner.configs["scheduler"])
    scheduler.set_timesteps(runner.configs["scheduler"]["num_inference_timesteps"])
    return [scheduler.timesteps, scheduler.sigmas, scheduler.alphas_cumprod, scheduler.betas], {}


def _initial_noise(runner, args):
    dit = runner.configs["dit"]
    seeds = [int(s) for s in args["seeds"]]
    return [initial_noise(seeds, (dit["num_latents"], dit["in_channels"]))], {}


def _sample(runner, args):
    dit = runner.model("dit")
    trace = SamplerTrace()
    weights = args.get("cond_weights")
    sigma = args.get("sigma_history")
    with torch.no_grad():
        native = sample_latents(
            dit, args["cond"], args["uncond"], [int(s) for s in args["batch_seeds"]], runner.configs["scheduler"],
            cfg_scale=_scalar(args["cfg_scale"]),
            cond_weights=None if weights is None else [float(w) for w in weights],
            sigma_history=sigma, sigma_floor=_scalar(args.get("sigma_floor") or 0.0),
            reference_compat=True, trace=trace)
    scaled = native * torch.tensor(dit.scale_factor, dtype=torch.float32)
    stack = lambda items: torch.stack(items) if items else torch.zeros(0)  # noqa: E731
    intermediates = {"trace_step_timestep": stack(trace.timesteps), "trace_model_x_input": stack(trace.model_input),
                     "trace_model_pred_raw": stack(trace.model_output),
                     "trace_step_model_output": stack(trace.guided), "trace_step_sample_in": stack(trace.sample_in),
                     "trace_step_noise": stack(trace.noise), "trace_step_prev_sample": stack(trace.sample_out)}
    return [native, scaled], intermediates


def _resolve_guidance(runner, args):
    cfg, weights = resolve_part_guidance(_scalar(args["image_cfg_scale"]), _scalar(args["geometry_cfg_scale"]))
    return [np.float32(cfg), np.array(weights, dtype=np.float32)], {}


def _history_noising(runner, args):
    return [noise_history_slots(args["geo_clean"], args["geo_noise"], args["sigma_history"])], {}


def _preprocess_masks(runner, args):
    masks, labels = split_mask(args["mask"].numpy())
    return [masks, labels], {}


def _is_near_zero(runner, args):
    threshold = _scalar(args.get("threshold", 0.1))
    return [np.array([is_end_latent(x, threshold) for x in args["inputs"]])], {}


def _normalize(runner, args):
    return [imagenet_normalize(args["image"])], {}


def _forward_features(runner, args):
    encoder = runner.model("image_encoder")
    pixels = args["pixel_values"]
    patch = encoder.patch_size
    with torch.no_grad():
        features = encoder.forward_features(pixels)
        pos = encoder.position_embedding(pixels.shape[2] // patch, pixels.shape[3] // patch)
    return [features], {"pos_embed": pos}


def _image_conditioner(runner, args):
    with torch.no_grad():
        return [runner.model("image_encoder")(args["image"])], {}


CALLS = {
    "dit.forward": _dit_forward,
    "vae.encode": _vae_encode,
    "vae.encode_given_indices": _vae_encode_given_indices,
    "encode_surface": _encode_surface,
    "vae.decode": _vae_decode,
    "zero_history": _zero_history,
    "torch.randint_start_index": _randint_start,
    "fps": _fps,
    "scheduler.tables": _scheduler_tables,
    "initial_noise": _initial_noise,
    "dit.sample_with_condition": _sample,
    "resolve_part_guidance": _resolve_guidance,
    "history_noising": _history_noising,
    "preprocess_masks": _preprocess_masks,
    "is_near_zero_output": _is_near_zero,
    "imagenet_normalize": _normalize,
    "dinov2.forward_features": _forward_features,
    "image_conditioner": _image_conditioner,
}


# --------------------------------------------------------------------------- CLI
def format_result(result: CaseResult) -> str:
    if result.error:
        return f"{result.case:<28} error  {result.error}  FAIL"
    outputs = [a for a in result.arrays if not a.intermediate] or result.arrays
    max_abs = max((a.max_abs for a in outputs), default=0.0)
    max_rel = max((a.max_rel for a in outputs if a.max_rel == a.max_rel), default=0.0)
    checked = f"{len(outputs)} outputs, {len(result.arrays) - len(outputs)} intermediates"
    return (f"{result.case:<28} max_abs {max_abs:.3e}  max_rel {max_rel:.3e}  ({checked})  "
            f"{'PASS' if result.passed else 'FAIL'}")


def _run(args) -> int:
    torch.set_num_threads(max(1, min(torch.get_num_threads(), args.threads)))
    runner = GoldenRunner(args.directory, weight_format=args.format)
    results = runner.run_all(args.only)
    for result in results:
        print(format_result(result))
        for array in result.arrays:
            if not array.passed or args.all_arrays:
                print(f"    {array.array:<48} max_abs {array.max_abs:.3e}  max_rel {array.max_rel:.3e}  "
                      f"{'ok' if array.passed else 'FAIL'}")
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 0 if results and failed == 0 else 1


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("compat-check", help="check this implementation against a golden reference set")
    parser.add_argument("directory", help="golden folder with configs.json and .npz cases")
    parser.add_argument("--format", choices=["safetensors", "pth"], default="safetensors",
                        help="which weight files of the set to load")
    parser.add_argument("--only", nargs="*", help="run only cases whose file name contains one of these")
    parser.add_argument("--all-arrays", action="store_true", help="print every compared array")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.set_defaults(func=_run)
