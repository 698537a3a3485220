"""`GenerationOptions`: every option of one generation run, with its help text, in one place.

The CLI flags of `autopartgen generate`, the web app's form and the Python API all read these fields.
``None`` means "the model config's value" (see ``AutoPartGen.generate``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PART_KINDS = ("input", "generated", "both")


def _option(default, help: str, **extra):
    """A dataclass field carrying its help text (``metadata["help"]``) for the CLI and the docs."""
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class GenerationOptions:
    """Options of one generation run. ``None`` means "the config's value" (see ``AutoPartGen.generate``).

    Guidance: ``image_cfg_scale`` / ``geometry_cfg_scale`` override the mode's config values; in mask
    modes ``mask_image_cfg_scale`` / ``mask_geometry_cfg_scale`` take precedence over them.
    ``reference_compat`` reproduces the released pipeline's decisions (shared noise across part
    positions, stop when a position fails all retries, no end-token test in mask modes, surface-voxel
    containment as the duplicate test, outputs left in the normalised frame, history re-sampled from
    the union, reference extraction quirks); it always gives generated parts.
    """

    seed: int = _option(0, "random seed; the same seed, inputs and weights give the same parts")
    parts: str = _option("input", "with a mesh input: 'input' cuts the parts from the mesh itself (they tile it "
                         "and keep its surface and look), 'generated' decodes the model's own amodal parts, "
                         "'both' writes the generated ones in a subfolder; image-only inputs always give "
                         "generated parts", choices=PART_KINDS)
    num_parts: int | None = _option(None, "exactly this many parts (the end token is ignored before it); "
                                    "default: the model decides")
    max_parts: int | None = _option(None, "most parts to generate (default: the config's)")
    grid_size: int | None = _option(None, "extraction grid of generated parts, cells per axis (default: the "
                                    "config's)")
    anchor_grid: int = _option(64, "with --parts input: cells per axis of the grid on which the input's volume "
                               "is shared out between parts")
    min_claim: float = _option(0.002, "with --parts input: a candidate part that claims less than this share of "
                               "the input's volume is a duplicate")
    min_remainder: float = _option(0.02, "with --parts input: stop once the unclaimed share of the input's "
                                   "volume is below this")
    num_steps: int | None = _option(None, "diffusion sampler steps (default: the config's)")
    whole_cfg_scale: float | None = _option(None, "guidance of the whole-object latent sampled from an image")
    image_cfg_scale: float | None = _option(None, "image guidance of the part sampler")
    geometry_cfg_scale: float | None = _option(None, "geometry (whole + history) guidance of the part sampler")
    mask_image_cfg_scale: float | None = _option(None, "image guidance in the mask modes (over image_cfg_scale)")
    mask_geometry_cfg_scale: float | None = _option(None, "geometry guidance in the mask modes (over "
                                                    "geometry_cfg_scale)")
    iou_threshold: float = _option(0.3, "reject a generated part overlapping the parts so far by more than this "
                                   "(< 0: off)")
    duplicate_retries: int = _option(3, "new samples tried at a part position after a rejected one")
    postprocess: bool = _option(True, "simplify generated parts and drop their small floaters")
    simplify_faces: int | None = _option(50_000, "simplify generated parts above this many faces (None: off)")
    smooth_iters: int = _option(0, "Taubin smoothing iterations on generated parts (0: off)")
    isosurface_backend: str = _option("auto", "iso-surface backend", choices=("auto", "skimage", "diso"))
    remove_background: bool = _option(True, "segment the background of images without alpha")
    infer_sigma_history: float = _option(0.0, "noise level of the history slot at inference (diffusion forcing)")
    sigma_floor: float = _option(0.0, "lowest sampler noise level (sigma floor)")
    sample_posterior: bool = _option(False, "encode conditions with a posterior sample instead of its mode")
    max_consecutive_skips: int = _option(2, "stop after this many part positions in a row gave no part")
    retry_seed_stride: int = _option(1009, "seed offset between retries (reference mode)")
    part_seed_stride: int = _option(0, "seed offset between part positions (reference mode)")
    decode_whole: bool = _option(False, "also decode the whole-object latent (whole.glb)")
    reference_compat: bool = _option(False, "reproduce the released pipeline's decisions exactly (parity checks)")
    progress: bool = _option(True, "show progress bars")
