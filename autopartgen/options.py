"""`GenerationOptions`: every option of one generation run, with its help text and valid range, in one place.

The CLI flags of `autopartgen generate` (:func:`autopartgen.arguments.add_option_arguments`), the web
app's form and the Python API all read these fields; :meth:`GenerationOptions.validate` refuses a bad
value in one line before any work. ``None`` means "the model config's value" (see ``AutoPartGen.generate``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from autopartgen.errors import ConfigError

PART_KINDS = ("input", "generated", "both")
ISOSURFACE_BACKENDS = ("auto", "skimage", "diso")
CPU_PRECISIONS = ("float32", "bfloat16")
PART_BOUNDARIES = ("claim-order", "strongest-field")
MAX_SEED = 2**63 - 1
MIN_GRID_SIZE, MAX_GRID_SIZE = 8, 2048
MAX_STEPS = 1000  # the schedulers' training timesteps: more inference steps than that are refused by diffusers


def _option(default, help: str, *, low=None, high=None, choices=None):
    """A dataclass field carrying its help text and valid values (``metadata``) for the CLI, the web app and
    :meth:`GenerationOptions.validate`. ``low`` / ``high`` are inclusive bounds."""
    metadata = {"help": help}
    if low is not None:
        metadata["low"] = low
    if high is not None:
        metadata["high"] = high
    if choices is not None:
        metadata["choices"] = tuple(choices)
    return field(default=default, metadata=metadata)


def flag_name(name: str) -> str:
    """The CLI flag of a field: ``max_parts`` -> ``--max-parts``."""
    return "--" + name.replace("_", "-")


SCALAR_KINDS = ("int", "float", "bool", "str")


def value_kind(spec) -> tuple[str, bool]:
    """(the type's name, e.g. ``"int"``, ``"float"``, ``"bool"``, ``"str"``; whether ``None`` is allowed) of a field."""
    parts = [part.strip() for part in str(spec.type).split("|")]
    return parts[0], "None" in parts


def supported_grid_size(grid_size: int, reference_compat: bool) -> bool:
    """Whether the iso-surface extraction can run at ``grid_size`` (see ``geometry.extraction``).

    Default mode refines a coarse grid of ``min(n, max(32, n // 4))`` cells by doubling, so ``n`` must be
    that times a power of two (any size up to 32, then 64, then multiples of 4 from 128); reference mode
    needs a power of two of at least 32 (its dense first level has 32 cells).
    """
    if reference_compat:
        return grid_size >= 32 and grid_size & (grid_size - 1) == 0
    coarse = min(grid_size, max(32, grid_size // 4))
    levels = grid_size / coarse
    return levels >= 1 and 2 ** round(math.log2(levels)) == levels


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

    seed: int = _option(0, "random seed; the same seed, inputs and weights give the same parts", low=0, high=MAX_SEED)
    parts: str = _option("input", "with a mesh input: 'input' cuts the parts from the mesh itself (they tile it "
                         "and keep its surface and look), 'generated' decodes the model's own amodal parts, "
                         "'both' writes the generated ones in a subfolder; image-only inputs always give "
                         "generated parts", choices=PART_KINDS)
    num_parts: int | None = _option(None, "exactly this many parts (the end token is ignored before it); "
                                    "default: the model decides", low=1)
    max_parts: int | None = _option(None, "most parts to generate, and to cut a mesh input into (default: the "
                                    "config's max_parts; its max_input_parts for a mesh input)", low=1)
    grid_size: int | None = _option(None, "extraction grid of generated parts, cells per axis (default: the "
                                    "config's)", low=MIN_GRID_SIZE, high=MAX_GRID_SIZE)
    anchor_grid: int = _option(64, "with --parts input: cells per axis of the grid on which the input's volume "
                               "is shared out between parts", low=8, high=512)
    min_claim: float = _option(0.002, "with --parts input: a candidate part that claims less than this share of "
                               "the input's volume is a duplicate", low=0.0, high=1.0)
    min_remainder: float = _option(0.02, "with --parts input: stop once the unclaimed share of the input's "
                                   "volume is below this", low=0.0, high=1.0)
    part_boundaries: str | None = _option(None, "with --parts input: which part keeps a cell that several "
                                          "parts' fields hold: 'claim-order' (the first to claim it) or "
                                          "'strongest-field' (the highest field there, once all parts are "
                                          "sampled); default: the config's (claim-order)",
                                          choices=PART_BOUNDARIES)
    neck_depth: float | None = _option(None, "with --parts input: once the parts are chosen, split a part where "
                                       "the input narrows by at least this much (in units of the [-1, 1] "
                                       "frame the input is scaled to) and the piece holds at least 4 % of the input; "
                                       "0: off; default: the config's (off); unused while the model's region merger "
                                       "runs (--merge-regions)", low=0.0, high=2.0)
    keep_components: bool = _option(True, "with --parts input: an input built from separate pieces keeps each "
                                    "piece whole, in the part holding most of it (unless the piece is half "
                                    "the input or more, or no part holds half of it), and pieces with 1 % of "
                                    "the input's area or more get parts of their own; off with --num-parts")
    merge_regions: bool = _option(True, "with --parts input and a model that has a region merger (the shipped "
                                  "one does): cut the input's solid into basins where it narrows and let the "
                                  "merger join them by their shapes (the DiT's claimed part count sets how "
                                  "far it may go); replaces --neck-depth; off with --num-parts")
    flush_parts: bool = _option(True, "with --parts input and a model whose config sets flush_part_height (the "
                                "shipped one does): thin pieces standing proud of an upright flat face of the "
                                "input (doors, drawer fronts, buttons, knobs) become parts of their own, cut "
                                "from the input at its own resolution; off with --num-parts")
    num_steps: int | None = _option(None, "diffusion sampler steps (default: the config's)", low=1,
                                     high=MAX_STEPS)
    whole_cfg_scale: float | None = _option(None, "guidance of the whole-object latent sampled from an image",
                                            low=0.0)
    image_cfg_scale: float | None = _option(None, "image guidance of the part sampler", low=0.0)
    geometry_cfg_scale: float | None = _option(None, "geometry (whole + history) guidance of the part sampler",
                                               low=0.0)
    mask_image_cfg_scale: float | None = _option(None, "image guidance in the mask modes (over image_cfg_scale)",
                                                 low=0.0)
    mask_geometry_cfg_scale: float | None = _option(None, "geometry guidance in the mask modes (over "
                                                    "geometry_cfg_scale)", low=0.0)
    iou_threshold: float = _option(0.3, "reject a generated part overlapping the parts so far by more than this "
                                   "(< 0: off)", high=1.0)
    duplicate_retries: int = _option(3, "new samples tried at a part position after a rejected one",
                                   low=0)
    postprocess: bool = _option(True, "simplify generated parts and drop their small floaters")
    simplify_faces: int | None = _option(50_000, "simplify generated parts above this many faces (0: off)",
                                         low=0)
    smooth_iters: int = _option(0, "Taubin smoothing iterations on generated parts (0: off)", low=0)
    isosurface_backend: str = _option("auto", "iso-surface backend", choices=ISOSURFACE_BACKENDS)
    remove_background: bool = _option(True, "segment the background of images without alpha")
    infer_sigma_history: float = _option(0.0, "noise level of the history slot at inference (diffusion forcing)",
                                         low=0.0)
    sigma_floor: float = _option(0.0, "lowest sampler noise level (sigma floor)", low=0.0)
    sample_posterior: bool = _option(False, "encode conditions with a posterior sample instead of its mode")
    max_consecutive_skips: int = _option(2, "stop after this many part positions in a row gave no part",
                                        low=1)
    retry_seed_stride: int = _option(1009, "seed offset between retries (reference mode)", low=0)
    part_seed_stride: int = _option(0, "seed offset between part positions (reference mode)", low=0)
    decode_whole: bool = _option(False, "also decode the whole-object latent (whole.glb)")
    cpu_precision: str = _option("float32", "number format of the networks on a CPU: "
                                 "bfloat16 is about 1.4x faster where the CPU computes it natively (AVX512-BF16, "
                                 "AMX) and measured as good (docs/performance.md), but its parts differ from "
                                 "float32's; reference mode always uses float32", choices=CPU_PRECISIONS)
    reference_compat: bool = _option(False, "reproduce the released pipeline's decisions exactly (parity checks)")
    progress: bool = _option(True, "show progress bars")

    def validate(self) -> "GenerationOptions":
        """Refuse a bad value before any work: raise :class:`ConfigError` naming the option and the fix.

        Checks each field's type, range and choices (from its metadata), the grid sizes the extraction
        supports, and that ``num_parts`` fits under ``max_parts``. Returns ``self``.
        """
        for spec in fields(self):
            problem = _field_problem(spec, getattr(self, spec.name))
            if problem:
                raise ConfigError(f"{flag_name(spec.name)} {getattr(self, spec.name)!r}: {problem}")
        if self.grid_size is not None and not supported_grid_size(self.grid_size, self.reference_compat):
            fix = ("a power of two from 32 (e.g. 64, 128, 256)" if self.reference_compat
                   else "a size up to 32, or 64, or a multiple of 4 from 128 (e.g. 128, 256, 512)")
            raise ConfigError(f"--grid-size {self.grid_size}: the extraction cannot refine to this grid; use {fix}")
        if self.num_parts is not None and self.max_parts is not None and self.num_parts > self.max_parts:
            raise ConfigError(f"--num-parts {self.num_parts} is more than --max-parts {self.max_parts}; raise "
                              "--max-parts or lower --num-parts")
        return self


def _field_problem(spec, value) -> str | None:
    """What is wrong with ``value`` for the field ``spec`` (with the fix), or None when it is valid."""
    kind, optional = value_kind(spec)
    if kind not in SCALAR_KINDS:
        return None  # a structured field: its own code checks it
    if value is None:
        return None if optional else f"a value is required; pass {_expected(spec, kind)}"
    type_ok = {"int": isinstance(value, int) and not isinstance(value, bool),
               "float": isinstance(value, (int, float)) and not isinstance(value, bool),
               "bool": isinstance(value, bool),
               "str": isinstance(value, str)}[kind]
    if not type_ok or (kind == "float" and not math.isfinite(value)):
        return f"not {_article(kind)}; pass {_expected(spec, kind)}"
    choices = spec.metadata.get("choices")
    if choices and value not in choices:
        return f"unknown choice; pass {_expected(spec, kind)}"
    low, high = spec.metadata.get("low"), spec.metadata.get("high")
    if (low is not None and value < low) or (high is not None and value > high):
        return f"out of range; pass {_expected(spec, kind)}"
    return None


def _article(kind: str) -> str:
    return {"int": "a whole number", "float": "a finite number", "bool": "true or false", "str": "text"}[kind]


def _expected(spec, kind: str) -> str:
    """``"a whole number from 8 to 2048"``, ``"one of auto, skimage, diso"``, ..."""
    choices = spec.metadata.get("choices")
    if choices:
        return "one of " + ", ".join(choices)
    low, high = spec.metadata.get("low"), spec.metadata.get("high")
    what = _article(kind)
    low, high = (f"{bound:g}" if isinstance(bound, float) else str(bound) for bound in (low, high))
    if low != "None" and high != "None":
        return f"{what} from {low} to {high}"
    if low != "None":
        return f"{what} of at least {low}"
    if high != "None":
        return f"{what} of at most {high}" + (" (negative: off)" if spec.name == "iou_threshold" else "")
    return what
