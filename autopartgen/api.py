"""The Python API and the `autopartgen generate` command.

    from autopartgen import load_pipeline, generate_from_mesh
    pipe = load_pipeline()                                   # the shipped compact model, CPU
    result = generate_from_mesh(pipe, "chair.glb", output_dir="out/chair", seed=0)
    print(len(result.parts), result.stop_reason)

``load_pipeline(weights=DIR, config="release-2048")`` loads the official files instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from autopartgen.arguments import add_option_arguments, options_from_args
from autopartgen.errors import CheckpointError, InputFileError
from autopartgen.export import OutputDir, export_result, prepare_output_dir
from autopartgen.modes import input_mode
from autopartgen.pipeline import AutoPartGen, GenerationOptions, PartResult
from autopartgen.threads import add_threads_argument
from autopartgen.version import __version__

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
    """A validated copy of ``options`` (default: the defaults) with keyword ``overrides`` applied."""
    options = dataclasses.replace(options) if options is not None else GenerationOptions()
    for key, value in overrides.items():
        if not hasattr(options, key):
            raise TypeError(f"unknown generation option {key!r}")
        setattr(options, key, value)
    return options.validate()


def run_info(pipe: AutoPartGen, result: PartResult, inputs: dict) -> dict:
    """The per-run section of parts.json."""
    return {
        "mode": result.mode,
        "parts": result.parts_kind,
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


def load_inputs(image=None, mesh=None, mask=None, allow_large_mesh: bool = False) -> tuple:
    """Read and check the inputs of one run: ``(image, mesh, mask)`` as PIL image, trimesh and label array.

    Paths are loaded with the :mod:`autopartgen.inputs` loaders (which refuse bad files in one line);
    objects pass through, an in-memory image being checked for an object as a loaded file is. A mask
    needs the image it was drawn on (its size).
    """
    from autopartgen import inputs

    input_mode(image is not None, mesh is not None, mask is not None)
    if isinstance(image, (str, os.PathLike)):
        image = inputs.load_image(image)
    elif image is not None:
        inputs.check_image_has_object(image, "image")
    if isinstance(mesh, (str, os.PathLike)):
        mesh = inputs.load_mesh(mesh, allow_large=allow_large_mesh)
    if isinstance(mask, (str, os.PathLike)):
        mask = inputs.load_mask(mask, image_size=image.size)
    return image, mesh, mask


@contextlib.contextmanager
def output_folder(path: str | os.PathLike) -> Iterator[OutputDir]:
    """:func:`~autopartgen.export.prepare_output_dir`, undone on failure: the folders it created go again.

    On any exception (Ctrl-C included) inside the ``with`` block, the folders that did not exist
    before are removed, deepest first, and only while empty (``rmdir``): a folder that held anything
    before, or that someone else wrote into meanwhile, is never deleted.
    """
    created = []
    folder = Path(path).expanduser().absolute()
    while not os.path.lexists(folder) and folder != folder.parent:
        created.append(folder)
        folder = folder.parent
    try:
        yield prepare_output_dir(path)
    except BaseException:
        for new in created:
            try:
                new.rmdir()
            except OSError:
                break
        raise


PipelineSource = AutoPartGen | Callable[[], AutoPartGen]


def generate_parts(pipe: PipelineSource, image=None, mesh=None, mask=None, output_dir=None,
                   options: GenerationOptions | None = None, *, preview: bool = True, allow_large_mesh: bool = False,
                   input_names: dict | None = None, on_stage: Callable[[str], None] | None = None,
                   sim_export=None, **overrides) -> PartResult:
    """Run any mode (from which inputs are given) and, with ``output_dir``, write the outputs as one set.

    This is the one run path: the CLI, the web app and the benchmark all call it. Everything a user
    can get wrong is checked before any work, in this order: the options (:meth:`GenerationOptions.validate`),
    which inputs go together, the input files, the output folder. Nothing appears in ``output_dir``
    unless the run succeeds, and a folder this call created is removed again when it fails.

    Args:
        pipe: the model, or a callable returning it (called only once the inputs and the output folder
            passed their checks, so a bad command line does not wait for a model load).
        image, mesh, mask: paths or loaded objects (PIL image, trimesh, (H, W) label array).
        output_dir: folder for the outputs (created); ``None`` writes nothing.
        options: see :class:`GenerationOptions`; keyword ``overrides`` replace single fields.
        preview: render ``preview.png``.
        allow_large_mesh: keep a mesh over 2M faces whole instead of decimating it.
        input_names: how parts.json names the inputs (default: the paths given).
        on_stage: called with ``"loading model"``, ``"generating"``, ``"exporting"`` as the run proceeds.
        sim_export: a :class:`~autopartgen.simulation.SimExportOptions`: joint hints in parts.json and, for its
            formats, ``object.urdf`` / ``object.xml`` with ``meshes/``.

    Returns:
        The :class:`PartResult`; its ``timings`` include ``export`` when outputs were written.
    """
    options = _options(options, overrides)
    names = input_names if input_names is not None else {
        kind: value for kind, value in (("image", image), ("mesh", mesh), ("mask", mask))
        if isinstance(value, (str, os.PathLike))}
    image, mesh, mask = load_inputs(image, mesh, mask, allow_large_mesh)
    stage = on_stage or (lambda name: None)
    scope = output_folder(output_dir) if output_dir is not None else contextlib.nullcontext()
    with scope as out:
        if not isinstance(pipe, AutoPartGen):
            stage("loading model")
            pipe = pipe()
        stage("generating")
        result = pipe.generate(image=image, mesh=mesh, mask=mask, options=options)
        if out is not None:
            stage("exporting")
            start = time.perf_counter()
            info = run_info(pipe, result, names)
            if sim_export is not None:
                info["simulation"] = dataclasses.asdict(sim_export)
            written = export_result(result, out, info, preview=preview, write_whole=options.decode_whole,
                                    sim_export=sim_export)
            result.timings["export"] = time.perf_counter() - start
            logger.info("%d parts (%s) -> %s: %s", len(result.parts), result.stop_reason, out.path,
                        ", ".join(written))
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
def add_input_arguments(parser) -> None:
    """Inputs, output folder, model and device of `autopartgen generate`."""
    parser.add_argument("--image", help="object image (PNG/JPEG/WebP); alpha is used when present")
    parser.add_argument("--mesh", help="whole-object mesh (GLB/glTF/OBJ/PLY/STL/OFF)")
    parser.add_argument("--mask", help="indexed part mask aligned with --image (0 = background)")
    parser.add_argument("--output", "--output-path", "--output_path", dest="output", required=True,
                        help="output folder")
    parser.add_argument("--config", help="config preset or YAML (default: the model folder's config.yaml)")
    parser.add_argument("--weights", help="model folder (default: the shipped compact model)")
    parser.add_argument("--image-encoder-weights", "--image_encoder_weights", dest="image_encoder_weights",
                        help="DINOv2 ViT-L/14-reg4 file for the release configs, if kept elsewhere")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    parser.add_argument("--no-preview", "--no_preview", dest="no_preview", action="store_true",
                        help="do not render preview.png")
    parser.add_argument("--allow-large-mesh", "--allow_large_mesh", dest="allow_large_mesh", action="store_true",
                        help="accept meshes over 2M faces without decimating them first")


def add_generate_arguments(parser) -> None:
    """The flags of `autopartgen generate` (also used by the root inference.py)."""
    from autopartgen.simulation import add_sim_export_arguments

    add_input_arguments(parser)
    add_threads_argument(parser)
    add_option_arguments(parser)
    add_sim_export_arguments(parser)


def run_generate(args) -> int:
    """`autopartgen generate`: options checked, then inputs and output folder, then the model is loaded."""
    from autopartgen.simulation import sim_options_from_args

    options = options_from_args(args)
    sim_export = sim_options_from_args(args)
    generate_parts(lambda: load_pipeline(args.weights, args.config, args.device, args.image_encoder_weights),
                   image=args.image, mesh=args.mesh, mask=args.mask, output_dir=args.output, options=options,
                   preview=not args.no_preview, allow_large_mesh=args.allow_large_mesh, sim_export=sim_export)
    return 0


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("generate", help="split an image / mask / mesh into part meshes")
    add_generate_arguments(parser)
    parser.set_defaults(func=run_generate)
