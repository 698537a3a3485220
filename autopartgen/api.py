"""The Python API and the `autopartgen generate` command.

    from autopartgen import load_pipeline, generate_from_mesh
    pipe = load_pipeline()                                   # the shipped compact model, CPU
    result = generate_from_mesh(pipe, "chair.glb", output_dir="out/chair", seed=0)
    print(len(result.parts), result.stop_reason)

``load_pipeline(weights=DIR, config="release-2048")`` loads the official files instead.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import torch

from autopartgen.version import __version__
from autopartgen.config import load_config
from autopartgen.errors import CheckpointError, InputFileError
from autopartgen.export import export_result, prepare_output_dir
from autopartgen.pipeline import AutoPartGen, GenerationOptions, PartResult

logger = logging.getLogger(__name__)

SHIPPED_MODEL = Path(__file__).parent / "weights" / "tiny"


def load_pipeline(weights: str | os.PathLike | None = None, config: str | None = None,
                  device: str | None = None, image_encoder_weights: str | os.PathLike | None = None) -> AutoPartGen:
    """Load a model: the shipped compact model by default, or a weights folder (with ``config``)."""
    folder = Path(weights) if weights is not None else SHIPPED_MODEL
    if weights is None and not (folder / "config.yaml").is_file():
        raise CheckpointError(f"no shipped model in {folder}; pass --weights DIR (and --config release-2048 for "
                              "the official files)")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputFileError("--device cuda was requested but no CUDA GPU is available; use --device cpu")
    overrides = {"image_encoder": image_encoder_weights} if image_encoder_weights else None
    return AutoPartGen.from_pretrained(folder, config=config, device=device, weight_files=overrides)


def _options(options: GenerationOptions | None, overrides: dict) -> GenerationOptions:
    options = dataclasses.replace(options) if options is not None else GenerationOptions()
    for key, value in overrides.items():
        if not hasattr(options, key):
            raise TypeError(f"unknown generation option {key!r}")
        setattr(options, key, value)
    return options


def run_info(pipe: AutoPartGen, result: PartResult, inputs: dict) -> dict:
    """The per-run section of parts.json."""
    return {
        "mode": result.mode,
        "inputs": {k: str(v) for k, v in inputs.items() if v is not None},
        "options": dataclasses.asdict(result.options),
        "config": pipe.config.name,
        "weights": pipe.weights_identity,
        "device": str(pipe.device),
        "stop_reason": result.stop_reason,
        "unfilled_mask_regions": result.unfilled_regions or [],
        "timings_s": {k: round(v, 4) for k, v in result.timings.items()},
        "counts": result.counts,
        "frame": "input mesh" if result.normalization is not None and not result.options.reference_compat
        else "normalised [-1, 1]^3",
        "package_version": __version__,
        "torch_version": torch.__version__,
    }


def generate_parts(pipe: AutoPartGen, image=None, mesh=None, mask=None, output_dir=None,
                   options: GenerationOptions | None = None, **overrides) -> PartResult:
    """Run any mode (from which inputs are given) and, with ``output_dir``, write the outputs as one set."""
    options = _options(options, overrides)
    out = prepare_output_dir(output_dir) if output_dir is not None else None  # fail before the work
    result = pipe.generate(image=image, mesh=mesh, mask=mask, options=options)
    if out is not None:
        export_result(result, out, run_info(pipe, result, {"image": image if isinstance(image, (str, Path)) else None,
                                                           "mesh": mesh if isinstance(mesh, (str, Path)) else None,
                                                           "mask": mask if isinstance(mask, (str, Path)) else None}),
                      write_whole=options.decode_whole)
    return result


def generate_from_image(pipe, image, output_dir=None, **options) -> PartResult:
    return generate_parts(pipe, image=image, output_dir=output_dir, **options)


def generate_from_mesh(pipe, mesh, output_dir=None, **options) -> PartResult:
    return generate_parts(pipe, mesh=mesh, output_dir=output_dir, **options)


def generate_from_image_and_mesh(pipe, image, mesh, output_dir=None, **options) -> PartResult:
    return generate_parts(pipe, image=image, mesh=mesh, output_dir=output_dir, **options)


def generate_from_image_and_mask(pipe, image, mask, mesh=None, output_dir=None, **options) -> PartResult:
    return generate_parts(pipe, image=image, mesh=mesh, mask=mask, output_dir=output_dir, **options)


# ------------------------------------------------------------------------------------------- CLI
def add_generate_arguments(parser) -> None:
    """The flags of `autopartgen generate` (also used by the root inference.py)."""
    parser.add_argument("--image", help="object image (PNG/JPEG/WebP); alpha is used when present")
    parser.add_argument("--mesh", help="whole-object mesh (GLB/glTF/OBJ/PLY/STL/OFF)")
    parser.add_argument("--mask", help="indexed part mask aligned with --image (0 = background)")
    parser.add_argument("--output", "--output_path", dest="output", required=True, help="output folder")
    parser.add_argument("--config", help="config preset or YAML (default: the model folder's config.yaml)")
    parser.add_argument("--weights", help="model folder (default: the shipped compact model)")
    parser.add_argument("--image-encoder-weights", "--image_encoder_weights", dest="image_encoder_weights",
                        help="DINOv2 ViT-L/14-reg4 file for the release configs, if kept elsewhere")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    defaults = GenerationOptions()
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--max_parts", type=int, help="most parts to generate (default: the config's)")
    parser.add_argument("--grid_size", type=int, help="final extraction grid (default: the config's)")
    parser.add_argument("--num_steps", type=int, help="diffusion steps (default: the config's)")
    for flag in ("image_cfg_scale", "geometry_cfg_scale", "mask_image_cfg_scale", "mask_geometry_cfg_scale",
                 "whole_cfg_scale"):
        parser.add_argument(f"--{flag}", type=float)
    parser.add_argument("--iou_threshold", type=float, default=defaults.iou_threshold,
                        help="reject a part overlapping the parts so far by more than this (< 0: off)")
    parser.add_argument("--duplicate_retries", type=int, default=defaults.duplicate_retries)
    parser.add_argument("--simplify_faces", type=int, default=defaults.simplify_faces,
                        help="simplify parts above this many faces (<= 0: off)")
    parser.add_argument("--smooth_iters", type=int, default=defaults.smooth_iters)
    parser.add_argument("--isosurface_backend", choices=["auto", "skimage", "diso"], default="auto")
    parser.add_argument("--no_post", action="store_true", help="no simplification / floater removal")
    parser.add_argument("--no_remove_background", action="store_true",
                        help="do not segment the background of images without alpha")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    parser.add_argument("--no_preview", action="store_true", help="do not render preview.png")
    parser.add_argument("--write_whole", action="store_true", help="also decode and write whole.glb")
    parser.add_argument("--reference_compat", action="store_true",
                        help="reproduce the released pipeline's decisions exactly (for parity checks)")
    parser.add_argument("--allow_large_mesh", action="store_true",
                        help="accept meshes over 2M faces without decimating them first")


def options_from_args(args) -> GenerationOptions:
    return GenerationOptions(
        seed=args.seed, max_parts=args.max_parts, grid_size=args.grid_size, num_steps=args.num_steps,
        whole_cfg_scale=args.whole_cfg_scale, image_cfg_scale=args.image_cfg_scale,
        geometry_cfg_scale=args.geometry_cfg_scale, mask_image_cfg_scale=args.mask_image_cfg_scale,
        mask_geometry_cfg_scale=args.mask_geometry_cfg_scale, iou_threshold=args.iou_threshold,
        duplicate_retries=args.duplicate_retries, postprocess=not args.no_post,
        simplify_faces=args.simplify_faces if args.simplify_faces and args.simplify_faces > 0 else None,
        smooth_iters=args.smooth_iters, isosurface_backend=args.isosurface_backend,
        remove_background=not args.no_remove_background, decode_whole=args.write_whole,
        reference_compat=args.reference_compat, progress=not args.no_progress)


def run_generate(args) -> int:
    from autopartgen import inputs

    if args.mask and not args.image:
        raise InputFileError("--mask needs the image it was drawn on: pass --image too")
    if not (args.image or args.mesh):
        raise InputFileError("nothing to split: pass --image, --mesh, or both")
    out = prepare_output_dir(args.output)  # refuse a bad output path before any work
    image = inputs.load_image(args.image) if args.image else None
    mesh = inputs.load_mesh(args.mesh, allow_large=args.allow_large_mesh) if args.mesh else None
    mask = inputs.load_mask(args.mask, image_size=image.size) if args.mask else None
    pipe = load_pipeline(args.weights, args.config, args.device, args.image_encoder_weights)
    options = options_from_args(args)
    result = pipe.generate(image=image, mesh=mesh, mask=mask, options=options)
    info = run_info(pipe, result, {"image": args.image, "mesh": args.mesh, "mask": args.mask})
    written = export_result(result, out, info, preview=not args.no_preview, write_whole=args.write_whole)
    logger.info("%d parts (%s) -> %s: %s", len(result.parts), result.stop_reason, out.path, ", ".join(written))
    return 0


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("generate", help="split an image / mask / mesh into part meshes")
    add_generate_arguments(parser)
    parser.set_defaults(func=run_generate)
