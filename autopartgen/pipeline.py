"""`AutoPartGen`: the three networks of one configuration and the part loop that runs them.

The loop (``AutoPartGen.generate``), for any mix of image / mask / mesh:

    whole latent   = VAE-encode(mesh)  or  sample it from the image features
    history        = encoding of an empty surface
    for each part position (or each mask region):
        latent     = DiT sample from [whole, history] and [whole image ; part image]
        stop on the end token; decode -> extract -> reject empty / duplicate (retry with new noise)
        history    = encoding of the union of accepted parts
    -> PartResult (meshes, latents, timings, why it stopped)

A model folder holds ``config.yaml`` plus the weight files its ``weights:`` section names
(safetensors for our models; the official ``.pth`` files for the release configs):

    AutoPartGen.from_pretrained("weights/tiny")                       # a folder with config.yaml
    AutoPartGen.from_pretrained("/models/autopartgen", config="release-2048")   # official files
    pipe.save_pretrained("my_model")                                  # config.yaml + safetensors
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import trimesh
from tqdm.auto import tqdm

from autopartgen.checkpoints import load_weights, save_safetensors
from autopartgen.config import ModelConfig, load_config, save_config
from autopartgen.errors import ConfigError
from autopartgen.errors import CheckpointError, InputFileError
from autopartgen.masks import order_mask_labels
from autopartgen.options import GenerationOptions
from autopartgen.geometry.cleanup import remove_floaters, simplify, taubin_smooth
from autopartgen.geometry.extraction import extract_isosurface
from autopartgen.geometry.normalize import apply_normalization, invert_normalization, normalization_transform
from autopartgen.geometry.overlap import containment_ratio, volumetric_overlap
from autopartgen.geometry.sampling import farthest_point_sample, resample_surface_for_encoder, sample_surface
from autopartgen.models import ImageEncoder, PartDiT, ShapeVAE, build_model
from autopartgen.sampling import (inference_autocast, is_end_latent, noise_history_slots, resolve_part_guidance,
                                  sample_latents)

logger = logging.getLogger(__name__)

MODEL_KINDS = ("vae", "dit", "image_encoder")


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ------------------------------------------------------------------------------------------------
# Results and the small pieces of the part loop
# ------------------------------------------------------------------------------------------------
@dataclass
class GeneratedPart:
    """One accepted part: mesh in the output frame, its native latent (N, C) and provenance."""

    mesh: "trimesh.Trimesh"
    latent: torch.Tensor
    seed: int
    retries: int
    position: int
    mask_label: int | None = None


@dataclass
class PartResult:
    """What :meth:`AutoPartGen.generate` returns.

    parts: accepted parts in generation order. whole_latent: (N, C) native latent of the whole.
    whole_mesh: decoded whole (when ``decode_whole``). timings: seconds per stage. counts: DiT
    forwards, field queries, attempts. stop_reason: ``end_token`` | ``max_parts`` | ``mask_regions``
    | ``retries_exhausted`` | ``consecutive_skips``. unfilled_regions: mask labels that gave no part,
    with the reason. normalization: (center (3,), scale) mapping the input mesh to [-1, 1]^3.
    """

    mode: str
    parts: list
    whole_latent: torch.Tensor
    stop_reason: str
    timings: dict
    counts: dict
    options: GenerationOptions
    whole_mesh: "trimesh.Trimesh | None" = None
    unfilled_regions: list = None
    normalization: tuple | None = None
    mask_labels: np.ndarray | None = None
    mask: np.ndarray | None = None


def input_mode(image: bool, mesh: bool, mask: bool) -> str:
    """The reference's mode key from which inputs are present."""
    if mask and not image:
        raise InputFileError("a part mask needs the image it was drawn on; pass --image as well as --mask")
    if not image and not mesh:
        raise InputFileError("nothing to split: pass an image, a mesh, or both")
    if mask:
        return "image_mesh_mask" if mesh else "image_mask"
    if image and mesh:
        return "image_mesh"
    return "mesh" if mesh else "image"


def derive_seed(seed: int, position: int, retry: int, options: GenerationOptions) -> int:
    """Seed of the sampling attempt ``retry`` at part ``position``.

    Reference: seed + position * part_seed_stride (0) + retry * 1009, so every position starts from
    the same noise. Default: an independent stream per (seed, position, retry).
    """
    if options.reference_compat:
        return seed + position * options.part_seed_stride + retry * options.retry_seed_stride
    return int(np.random.SeedSequence([seed, position, retry]).generate_state(1, dtype=np.uint32)[0])


@contextlib.contextmanager
def seeded_global_rngs(seed: int):
    """Seed Python, numpy and torch global generators, restoring their states afterwards (reference mode)."""
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state(),
              torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if states[3] is not None:
            torch.cuda.set_rng_state_all(states[3])


class _Timer:
    """Accumulates wall time per stage name."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


class SurfaceCache:
    """Per-part surface samples, so the history cloud of a union is assembled without re-sampling.

    Each part is sampled once (``samples_per_part`` area-weighted points with face normals, in a
    random order); the union's cloud takes from each part a share proportional to its area.
    """

    def __init__(self, samples_per_part: int, rng: np.random.Generator):
        self.samples_per_part = samples_per_part
        self.rng = rng
        self.clouds: list[np.ndarray] = []
        self.areas: list[float] = []

    def add(self, mesh) -> None:
        points, normals = sample_surface(np.asarray(mesh.vertices), np.asarray(mesh.faces), self.samples_per_part,
                                         self.rng)
        self.clouds.append(np.concatenate([points, normals], axis=1))
        self.areas.append(float(mesh.area))

    def union_cloud(self, size: int) -> np.ndarray:
        """(size, 6) float32 area-proportional draw over all cached parts."""
        areas = np.asarray(self.areas)
        counts = np.floor(areas / areas.sum() * size).astype(int)
        counts[np.argmax(areas)] += size - counts.sum()
        counts = np.minimum(counts, self.samples_per_part)
        return np.concatenate([cloud[:n] for cloud, n in zip(self.clouds, counts)]).astype(np.float32)


@dataclass
class AutoPartGen:
    """The networks of one configuration, in eval mode on one device."""

    config: ModelConfig
    vae: ShapeVAE
    dit: PartDiT
    image_encoder: ImageEncoder
    device: torch.device
    weights_identity: dict | None = None  # file name -> size, for manifests

    @classmethod
    def from_config(cls, config: ModelConfig | str, device: str | torch.device | None = None,
                    seed: int = 0) -> "AutoPartGen":
        """Randomly initialised networks (seeded) of a configuration: for tests and training from scratch."""
        config = load_config(config) if not isinstance(config, ModelConfig) else config
        device = torch.device(device) if device is not None else default_device()
        torch.manual_seed(seed)
        models = {kind: build_model(kind, getattr(config, kind), device) for kind in MODEL_KINDS}
        return cls(config=config, device=device, **models)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, config: ModelConfig | str | None = None,
                        device: str | torch.device | None = None,
                        weight_files: dict[str, str | os.PathLike] | None = None) -> "AutoPartGen":
        """Load a model folder; ``config`` (preset name, YAML path or ModelConfig) overrides its config.yaml.

        ``weight_files`` maps a kind (``vae``, ``dit``, ``image_encoder``) to an explicit file, e.g. the
        DINOv2 checkpoint kept elsewhere.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise CheckpointError(f"weights folder {folder} does not exist; pass the folder holding the model files")
        if config is None:
            if not (folder / "config.yaml").is_file():
                raise CheckpointError(f"weights folder {folder} has no config.yaml; pass --config "
                                      "(e.g. release-2048 for the official files)")
            config = load_config(folder / "config.yaml")
        elif not isinstance(config, ModelConfig):
            config = load_config(config)
        device = torch.device(device) if device is not None else default_device()
        weight_files = dict(weight_files or {})
        paths = {kind: Path(weight_files.get(kind) or folder / config.weights.get(kind, f"{kind}.safetensors"))
                 for kind in MODEL_KINDS}
        for kind, path in paths.items():  # check all files before the (slow) loads
            if not path.is_file():
                raise CheckpointError(f"weights file {path} for the {kind} is missing; put it in {folder} or "
                                      f"name it in the config's weights: section")
        models, identity = {}, {}
        for kind, path in paths.items():
            model = build_model(kind, getattr(config, kind), device, empty=True)
            models[kind] = load_weights(model, path, name=kind)
            identity[kind] = {"file": path.name, "bytes": path.stat().st_size}
        logger.info("loaded %s from %s on %s", config.name, folder, device)
        return cls(config=config, device=device, weights_identity=identity, **models)

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        """Write config.yaml and one safetensors file per network into ``folder`` (created if needed)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = ModelConfig.from_dict(self.config.to_dict())
        config.weights = {kind: f"{kind}.safetensors" for kind in MODEL_KINDS}
        for kind in MODEL_KINDS:
            save_safetensors(getattr(self, kind).state_dict(), folder / config.weights[kind])
        save_config(config, folder / "config.yaml")

    def num_parameters(self) -> dict[str, int]:
        return {kind: sum(p.numel() for p in getattr(self, kind).parameters()) for kind in MODEL_KINDS}

    # ------------------------------------------------------------------------------- stages
    @property
    def image_size(self) -> int:
        return int(self.config.conditioner.get("img_size", 448))

    def _setting(self, key: str, default):
        return self.config.pipeline.get(key, default)

    def autocast(self):
        return inference_autocast(self.device, self.config.float_precision)

    @torch.no_grad()
    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """RGB images (B, 3, S, S) in [0, 1] -> encoder features (B, T, D)."""
        with self.autocast():
            return self.image_encoder(images.to(self.device)).float()

    def drop_features(self) -> torch.Tensor:
        """Features of an all-black image: the unconditional image slot (1, T, D); computed once."""
        if getattr(self, "_drop_features", None) is None:
            self._drop_features = self.image_features(torch.zeros(1, 3, self.image_size, self.image_size))
        return self._drop_features

    @torch.no_grad()
    def encode_cloud(self, cloud: np.ndarray, generator: torch.Generator | None = None,
                     sample_posterior: bool = False) -> torch.Tensor:
        """Surface cloud (P, 6) [xyz, normal] -> scaled latent (1, N, C) (posterior mode x scale factor).

        ``generator`` drives the FPS start (None: the global torch generator, as the reference).
        """
        surface = torch.from_numpy(np.ascontiguousarray(cloud, dtype=np.float32))[None].to(self.device)
        with self.autocast():
            posterior = self.vae.encode(surface, generator=generator)
            latent = posterior.sample(generator) if sample_posterior else posterior.mode()
        return latent.float() * self.config.scale_factor

    def empty_history(self) -> torch.Tensor:
        """Start-of-sequence history: the encoding of an all-zero cloud (1, N, C), scaled; computed once."""
        if getattr(self, "_empty_history", None) is None:
            size = self._setting("point_cloud_size", 32768)
            self._empty_history = self.encode_cloud(np.zeros((size, 6), np.float32), torch.Generator().manual_seed(0))
        return self._empty_history

    def mesh_cloud(self, meshes: list, rng: np.random.Generator, reference_rng: bool = False) -> np.ndarray:
        """Meshes in the normalised frame -> the encoder's input cloud (P, 6) (SPEC 1.10)."""
        return resample_surface_for_encoder(
            meshes, rng, point_cloud_size=self._setting("point_cloud_size", 32768),
            num_samples=self._setting("num_surface_samples", 500_000),
            fps_max_points=self._setting("fps_max_points", 65536), reference_rng=reference_rng)

    @torch.no_grad()
    def sample_whole(self, whole_features: torch.Tensor, drop_features: torch.Tensor, seed: int, cfg_scale: float,
                     options: GenerationOptions, counts: dict | None = None) -> torch.Tensor:
        """Whole-object latent from the image: native (N, C)."""
        num_latents, channels = self.dit.num_latents, self.dit.in_channels
        sot = torch.zeros(1, 1, num_latents, channels, device=self.device)
        condition = [torch.cat([whole_features, whole_features], dim=-1), sot]
        uncondition = [torch.cat([drop_features, drop_features], dim=-1), torch.zeros_like(sot)]
        with self.autocast():
            native = sample_latents(self.dit, condition, uncondition, [seed], self.config.scheduler, cfg_scale,
                                    num_steps=options.num_steps, reference_compat=options.reference_compat,
                                    counts=counts)
        return native[0].float()

    @torch.no_grad()
    def sample_part(self, image_condition: torch.Tensor, dummy: torch.Tensor, geometry: torch.Tensor, seed: int,
                    scales: tuple[float, float], options: GenerationOptions,
                    sigma_history: torch.Tensor | None = None, counts: dict | None = None) -> torch.Tensor:
        """One part latent: native (N, C), from [image_condition, geometry] vs [dummy, geometry] vs [dummy, 0]."""
        cfg_scale, weights = resolve_part_guidance(*scales)
        with self.autocast():
            native = sample_latents(
                self.dit, [[image_condition, geometry], [dummy, geometry]], [dummy, torch.zeros_like(geometry)],
                [seed], self.config.scheduler, cfg_scale, cond_weights=weights, sigma_history=sigma_history,
                sigma_floor=options.sigma_floor, num_steps=options.num_steps,
                reference_compat=options.reference_compat, counts=counts)
        return native[0].float()

    @torch.no_grad()
    def decode_mesh(self, latent: torch.Tensor, grid_size: int, options: GenerationOptions):
        """Native latent (N, C) -> (trimesh in the normalised frame, extraction stats); empty mesh if none."""
        with self.autocast():
            tokens = self.vae.decoder_tokens(latent[None].to(self.device))

        def field(points: np.ndarray) -> torch.Tensor:
            queries = torch.from_numpy(points).to(self.device)[None]
            with self.autocast():
                return self.vae.query_field(tokens, queries)[0].float()

        vertices, faces, stats = extract_isosurface(field, grid_size, reference_compat=options.reference_compat,
                                                    backend=options.isosurface_backend,
                                                    chunk_size=self._setting("query_chunk_size", 131_072))
        mesh = trimesh.Trimesh(vertices, faces, process=True) if len(faces) else trimesh.Trimesh()
        return mesh, stats

    @torch.no_grad()
    def reconstruct_parts(self, meshes: list, options: GenerationOptions | None = None) -> list:
        """VAE round trip of each mesh, in the frame of their union: the geometry ceiling of the model.

        Every mesh is normalised with the transform that maps the union to [-1, 1]^3 (as the pipeline
        places parts of an input object), encoded (posterior mode), decoded at ``options.grid_size``
        and mapped back. Returns one trimesh per input (empty where the decoder finds no surface).
        """
        options = options or GenerationOptions()
        grid_size = options.grid_size or self._setting("grid_size", 512)
        rng = np.random.default_rng(options.seed)
        generator = torch.Generator().manual_seed(options.seed)
        center, scale = normalization_transform(np.concatenate([np.asarray(m.vertices) for m in meshes]))
        rebuilt = []
        for mesh in meshes:
            normalized = trimesh.Trimesh(apply_normalization(np.asarray(mesh.vertices), center, scale),
                                         np.asarray(mesh.faces), process=False)
            latent = self.encode_cloud(self.mesh_cloud([normalized], rng), generator)[0] / self.config.scale_factor
            decoded, _ = self.decode_mesh(latent, grid_size, options)
            if len(decoded.faces):
                decoded = trimesh.Trimesh(invert_normalization(np.asarray(decoded.vertices), center, scale),
                                          np.asarray(decoded.faces), process=False)
            rebuilt.append(decoded)
        return rebuilt

    def postprocess_part(self, mesh: trimesh.Trimesh, options: GenerationOptions) -> trimesh.Trimesh:
        """Simplify to ``simplify_faces`` and drop small disconnected pieces (SPEC 7.3)."""
        vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
        if options.simplify_faces and len(faces) > options.simplify_faces:
            vertices, faces = simplify(vertices, faces, options.simplify_faces,
                                       **({"aggressiveness": 1.0} if options.reference_compat else {}))
        vertices, faces = remove_floaters(vertices, faces)
        return trimesh.Trimesh(vertices, faces, process=False)

    def part_guidance(self, mode: str, options: GenerationOptions) -> tuple[float, float]:
        """(image scale, geometry scale) of the part stage: option overrides, else the config's mode values."""
        image_scale, geometry_scale = self.config.guidance_for(mode)
        if mode.endswith("mask"):
            overrides = [(options.mask_image_cfg_scale, options.image_cfg_scale),
                         (options.mask_geometry_cfg_scale, options.geometry_cfg_scale)]
        else:
            overrides = [(options.image_cfg_scale,), (options.geometry_cfg_scale,)]
        resolved = []
        for candidates, fallback in zip(overrides, (image_scale, geometry_scale)):
            value = next((c for c in candidates if c is not None), fallback)
            if value < 0:
                raise InputFileError(f"guidance scales must be >= 0, got {value}")
            resolved.append(float(value))
        return resolved[0], resolved[1]

    def check_compatible(self) -> None:
        """The three networks must agree on widths (a config can pair parts that do not fit)."""
        first = self.dit.cond_proj[0] if isinstance(self.dit.cond_proj, torch.nn.Sequential) else None
        image_width = first.in_features if first is not None else self.dit.blocks[0].attn2.to_k.in_features
        if 2 * self.image_encoder.embed_dim != image_width:
            raise ConfigError(f"config {self.config.name}: image encoder width {self.image_encoder.embed_dim} gives "
                              f"{2 * self.image_encoder.embed_dim} condition channels but the DiT expects {image_width}")
        if self.vae.latent_channels != self.dit.in_channels:
            raise ConfigError(f"config {self.config.name}: VAE latents have {self.vae.latent_channels} channels but "
                              f"the DiT expects {self.dit.in_channels}")

    # ------------------------------------------------------------------------------- generate
    def generate(self, image=None, mesh=None, mask=None, options: GenerationOptions | None = None) -> PartResult:
        """Split an object into parts.

        Args:
            image: a path or PIL image (RGB, or RGBA with the object on transparent background).
            mesh: a path or trimesh.Trimesh of the whole object (any frame; parts come back in it).
            mask: a path or (H, W) integer label image aligned with ``image`` (0 = background).
            options: see :class:`GenerationOptions`.
        """
        options = options or GenerationOptions()
        mode = input_mode(image is not None, mesh is not None, mask is not None)
        self.check_compatible()
        rng_scope = seeded_global_rngs(options.seed) if options.reference_compat else contextlib.nullcontext()
        with rng_scope, torch.no_grad():
            return self._generate(mode, image, mesh, mask, options)

    def _generate(self, mode: str, image, mesh, mask, options: GenerationOptions) -> PartResult:
        from autopartgen import inputs  # local: keeps model-only users free of image/mesh I/O imports

        timer, counts = _Timer(), {"attempts": 0, "dit_forwards": 0, "dit_rows": 0, "field_queries": 0,
                                   "dense_queries": 0}
        reference = options.reference_compat
        rng = np.random.default_rng(options.seed)
        torch_rng = None if reference else torch.Generator().manual_seed(options.seed)
        grid_size = options.grid_size or self._setting("grid_size", 512)
        max_parts = options.max_parts or self._setting("max_parts", 40)
        eot_threshold = self._setting("eot_threshold", 0.1)

        # 1. inputs -----------------------------------------------------------------------------
        with timer("load"):
            if image is not None:
                image = inputs.load_image(image) if isinstance(image, (str, os.PathLike)) else image
                if options.remove_background and not inputs.has_valid_alpha(image):
                    image = inputs.segment_background(image)
                pixels, box = inputs.prepare_image_with_box(image, self.image_size, reference_compat=reference)
            labels = None
            if mask is not None:
                mask = (inputs.load_mask(mask, image_size=image.size) if isinstance(mask, (str, os.PathLike))
                        else np.asarray(mask))
                labels = order_mask_labels(mask)
                if len(labels) == 0:
                    raise InputFileError("the part mask has no labelled pixels (all 0); label each part 1, 2, ...")
                masked_pixels = inputs.masked_part_images(image, mask, labels, box, self.image_size,
                                                          reference_compat=reference)
            if mesh is not None:
                mesh = inputs.load_mesh(mesh) if isinstance(mesh, (str, os.PathLike)) else mesh

        # 2. image features ----------------------------------------------------------------------
        with timer("image_encode"):
            drop = self.drop_features()
            whole_features = self.image_features(pixels[None]) if image is not None else drop
            mask_features = (torch.cat([self.image_features(chunk[None]) for chunk in masked_pixels])
                             if labels is not None else None)
        dummy = torch.cat([drop, drop], dim=-1)

        # 3. whole-object latent -----------------------------------------------------------------
        normalization = None
        if mesh is not None:
            with timer("whole_encode"):
                center, scale = normalization_transform(np.asarray(mesh.vertices))
                normalized = trimesh.Trimesh(apply_normalization(np.asarray(mesh.vertices), center, scale),
                                             np.asarray(mesh.faces), process=False)
                cloud = self.mesh_cloud([normalized], rng, reference_rng=reference)
                whole_scaled = self.encode_cloud(cloud, torch_rng, options.sample_posterior)
                normalization = (center, scale)
        else:
            with timer("whole_sample"):
                whole_cfg = options.whole_cfg_scale if options.whole_cfg_scale is not None else \
                    self.config.whole_cfg_scale
                whole_native = self.sample_whole(whole_features, drop, options.seed, whole_cfg, options, counts)
                whole_scaled = whole_native[None] * self.config.scale_factor
        whole_native = whole_scaled[0] / self.config.scale_factor
        whole_mesh = None
        if options.decode_whole:
            with timer("decode"):
                whole_mesh, stats = self.decode_mesh(whole_native, grid_size, options)
                counts["field_queries"] += stats.queries

        # 4. the part loop -------------------------------------------------------------------------
        masked = labels is not None
        scales = self.part_guidance(mode, options)
        use_iou = options.iou_threshold >= 0
        check_end = (use_iou or not reference) and not (masked and reference)
        check_duplicates = use_iou and not masked
        single_attempt = reference and (masked or not use_iou)
        attempts = 1 if single_attempt else options.duplicate_retries + 1
        positions = len(labels) if masked else max_parts
        history = (self.encode_cloud(np.zeros((self._setting("point_cloud_size", 32768), 6), np.float32), None)
                   if reference else self.empty_history())
        surface_cache = None if reference else SurfaceCache(self._setting("fps_max_points", 65536), rng)
        parts, unfilled, skips = [], [], 0
        stop_reason = "mask_regions" if masked else "max_parts"

        for position in tqdm(range(positions), desc="parts", disable=not options.progress):
            label = int(labels[position]) if masked else None
            part_image = mask_features[position:position + 1] if masked else drop
            image_condition = torch.cat([whole_features, part_image], dim=-1)
            geometry = torch.stack([whole_scaled, history], dim=1)
            sigma_history = None
            if options.infer_sigma_history > 0 and parts:
                sigma_history = torch.tensor([[0.0, options.infer_sigma_history]], device=self.device)
                noise = torch.randn(geometry.shape, generator=torch_rng, device="cpu").to(self.device)
                geometry = noise_history_slots(geometry, noise, sigma_history)

            accepted, failure = None, None
            for retry in range(attempts):
                seed = derive_seed(options.seed, position, retry, options)
                counts["attempts"] += 1
                with timer("part_sample"):
                    latent = self.sample_part(image_condition, dummy, geometry, seed, scales, options,
                                              sigma_history, counts)
                if check_end and is_end_latent(latent, eot_threshold):
                    failure = "end_token"
                    if masked:
                        continue  # a region the user marked: try another seed before giving up on it
                    break
                with timer("decode"):
                    candidate, stats = self.decode_mesh(latent, grid_size, options)
                counts["field_queries"] += stats.queries
                counts["dense_queries"] += stats.dense_queries
                if len(candidate.faces) == 0:
                    failure = "empty"
                    continue
                if check_duplicates and parts:
                    with timer("duplicate_check"):
                        union = trimesh.util.concatenate([p.mesh for p in parts])
                        overlap = (containment_ratio(union, candidate, rng) if reference
                                   else volumetric_overlap(union, candidate))
                    if overlap > options.iou_threshold:
                        failure = "duplicate"
                        continue
                if options.postprocess:
                    with timer("postprocess"):
                        candidate = self.postprocess_part(candidate, options)
                    if len(candidate.faces) == 0:
                        failure = "empty"
                        continue
                accepted = GeneratedPart(candidate, latent.cpu(), seed, retry, position, label)
                break

            if failure == "end_token" and not masked and accepted is None:
                stop_reason = "end_token"
                break
            if accepted is None:
                if masked:
                    unfilled.append({"mask_label": label, "reason": failure})
                    logger.warning("mask region %d gave no part (%s)", label, failure)
                    continue
                if reference:
                    stop_reason = "retries_exhausted"
                    break
                skips += 1
                if skips >= options.max_consecutive_skips:
                    stop_reason = "consecutive_skips"
                    break
                continue
            skips = 0
            parts.append(accepted)
            if position + 1 < positions:  # the last position needs no history
                with timer("history_encode"):
                    if reference:
                        cloud = self.mesh_cloud([p.mesh for p in parts], rng, reference_rng=True)
                    else:
                        surface_cache.add(accepted.mesh)
                        pool = surface_cache.union_cloud(self._setting("fps_max_points", 65536))
                        size = self._setting("point_cloud_size", 32768)
                        start = int(rng.integers(len(pool)))
                        cloud = pool[farthest_point_sample(pool, size, start_index=start)]
                    history = self.encode_cloud(cloud, torch_rng, options.sample_posterior)

        # 5. finish --------------------------------------------------------------------------------
        with timer("finalize"):
            for part in parts:
                if options.postprocess and options.smooth_iters > 0 and len(part.mesh.faces) > 20:
                    vertices, faces = taubin_smooth(np.asarray(part.mesh.vertices), np.asarray(part.mesh.faces),
                                                    options.smooth_iters)
                    part.mesh = trimesh.Trimesh(vertices, faces, process=False)
                if normalization is not None and not reference:
                    part.mesh = trimesh.Trimesh(invert_normalization(np.asarray(part.mesh.vertices), *normalization),
                                                np.asarray(part.mesh.faces), process=False)
            if whole_mesh is not None and normalization is not None and not reference and len(whole_mesh.faces):
                whole_mesh = trimesh.Trimesh(invert_normalization(np.asarray(whole_mesh.vertices), *normalization),
                                             np.asarray(whole_mesh.faces), process=False)
        return PartResult(mode=mode, parts=parts, whole_latent=whole_native.cpu(), stop_reason=stop_reason,
                          timings=dict(timer.seconds), counts=counts, options=options, whole_mesh=whole_mesh,
                          unfilled_regions=unfilled, normalization=normalization, mask_labels=labels, mask=mask)
