"""`AutoPartGen`: the three networks of one configuration and the part loop that runs them.

The loop (``AutoPartGen.generate`` -> ``_generate``), for any mix of image / mask / mesh:

    prepare_inputs       load and validate the image, mask regions and mesh
    encode_conditions    image features; whole latent = VAE-encode(mesh) or sample it from the image
    part_loop            for each part position (or each mask region):
        sample_accepted_part   latent = DiT sample from [whole, history] and [whole image ; part image];
                               stop on the end token, else the policy makes a candidate (a decoded mesh,
                               or the cells of the input mesh it claims) and accepts it or tries again
        history              = encoding of what the accepted parts cover so far
    policy.finish        output parts: decoded meshes, or parts cut from the input mesh
    -> PartResult (meshes, latents, timings, why it stopped)

What differs between the released pipeline's decisions, our generated parts and parts cut from a mesh
input is one policy object (``autopartgen/part_loop.py``), not flags inside the loop.

A model folder holds ``config.yaml`` plus the weight files its ``weights:`` section names
(safetensors for our models; the official ``.pth`` files for the release configs):

    AutoPartGen.from_pretrained("weights/tiny")                       # a folder with config.yaml
    AutoPartGen.from_pretrained("/models/autopartgen", config="release-2048")   # official files
    pipe.save_pretrained("my_model")                                  # config.yaml + safetensors
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import random
import time
from dataclasses import dataclass
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
from autopartgen.modes import input_mode  # noqa: F401 (re-exported)
from autopartgen.options import GenerationOptions
from autopartgen.part_loop import GeneratedPart, LoopState, derive_seed, make_policy  # noqa: F401
from autopartgen.geometry.cleanup import remove_floaters_with_areas, simplify
from autopartgen.geometry.extraction import extract_isosurface
from autopartgen.geometry.normalize import apply_normalization, invert_normalization, normalization_transform
from autopartgen.geometry.sampling import resample_surface_for_encoder
from autopartgen.geometry.regions import NUM_FEATURES
from autopartgen.models import ImageEncoder, PartDiT, ShapeVAE, build_model
from autopartgen.models.region_merger import RegionMerger
from autopartgen.sampling import inference_autocast, noise_history_slots, resolve_part_guidance, sample_latents

logger = logging.getLogger(__name__)

MODEL_KINDS = ("vae", "dit", "image_encoder")


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# Query points per VAE field call. On a CPU the decoder's per-query activations (chunk x 4 x width floats
# in the feed-forward) must stay in cache: 16k-point chunks evaluate about 2x more queries per second than
# 131k ones on the 2-core dev CPU (docs/performance.md). A GPU wants large launches instead. A config's
# ``pipeline.query_chunk_size`` overrides both.
QUERY_CHUNK_SIZE = {"cpu": 16_384, "cuda": 262_144}


# ------------------------------------------------------------------------------------------------
# Results and the small pieces of the part loop
# ------------------------------------------------------------------------------------------------
@dataclass
class PartResult:
    """What :meth:`AutoPartGen.generate` returns.

    parts: accepted parts in generation order. whole_latent: (N, C) native latent of the whole.
    whole_mesh: decoded whole (when ``decode_whole``). timings: seconds per stage. counts: DiT
    forwards, field queries, attempts. stop_reason: ``end_token`` | ``max_parts`` | ``num_parts`` |
    ``mask_regions`` | ``input_covered`` (the unclaimed rest of a mesh input is negligible) |
    ``retries_exhausted`` | ``consecutive_skips``. unfilled_regions: mask labels that gave no part,
    with the reason. normalization: (center (3,), scale) mapping the input mesh to [-1, 1]^3.
    parts_kind: ``input`` (cut from the input mesh), ``generated`` or ``reference`` (generated, the
    released pipeline's decisions). generated_parts: with ``parts="both"``, the decoded part latents.
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
    parts_kind: str = "generated"
    generated_parts: list | None = None
    anchor_claims: tuple | None = None  # mesh input: (inside (n,n,n) bool, claims (n,n,n) int) before splits/merges


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


@dataclass
class AutoPartGen:
    """The networks of one configuration, in eval mode on one device."""

    config: ModelConfig
    vae: ShapeVAE
    dit: PartDiT
    image_encoder: ImageEncoder
    device: torch.device
    weights_identity: dict | None = None  # file name -> size, for manifests
    region_merger: RegionMerger | None = None  # optional: merges basins of a mesh input into parts

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
        merger_file = config.pipeline.get("region_merger")
        if merger_file:
            path = folder / merger_file
            if not path.is_file():
                raise CheckpointError(f"weights file {path} for the region merger is missing; put it in {folder} "
                                      "or remove pipeline.region_merger from the config")
            # on the CPU whatever the device: it scores a few hundred rows of pair features per object
            width = int(config.pipeline.get("region_merger_width", 64))
            features = int(config.pipeline.get("region_merger_features", NUM_FEATURES))
            models["region_merger"] = load_weights(RegionMerger(features, width), path, name="region merger").eval()
            identity["region_merger"] = {"file": path.name, "bytes": path.stat().st_size}
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
        if self.region_merger is not None:
            config.pipeline["region_merger"] = config.pipeline.get("region_merger") or "region_merger.safetensors"
            save_safetensors(self.region_merger.state_dict(), folder / config.pipeline["region_merger"])
            config.pipeline["region_merger_width"] = self.region_merger.width
            if self.region_merger.num_features != NUM_FEATURES:  # with crease features
                config.pipeline["region_merger_features"] = self.region_merger.num_features
            else:
                config.pipeline.pop("region_merger_features", None)
        else:
            config.pipeline.pop("region_merger", None)
            config.pipeline.pop("region_merger_width", None)
            config.pipeline.pop("region_merger_features", None)
        save_config(config, folder / "config.yaml")

    def num_parameters(self) -> dict[str, int]:
        """Parameters per network (the region merger too, when the model has one)."""
        kinds = MODEL_KINDS + (("region_merger",) if self.region_merger is not None else ())
        return {kind: sum(p.numel() for p in getattr(self, kind).parameters()) for kind in kinds}

    # ------------------------------------------------------------------------------- stages
    @property
    def image_size(self) -> int:
        return int(self.config.conditioner.get("img_size", 448))

    def _setting(self, key: str, default):
        return self.config.pipeline.get(key, default)

    @property
    def query_chunk_size(self) -> int:
        """Query points per VAE field call on this pipeline's device (see :data:`QUERY_CHUNK_SIZE`)."""
        return int(self._setting("query_chunk_size", QUERY_CHUNK_SIZE.get(self.device.type, 65_536)))

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
            with torch.autocast("cpu", enabled=False):  # cached across runs: never in a run's CPU bf16
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
            with torch.autocast("cpu", enabled=False):  # cached across runs: never in a run's CPU bf16
                self._empty_history = self.encode_cloud(np.zeros((size, 6), np.float32),
                                                        torch.Generator().manual_seed(0))
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
                                                    chunk_size=self.query_chunk_size)
        mesh = trimesh.Trimesh(vertices, faces, process=True) if len(faces) else trimesh.Trimesh()
        return mesh, stats

    @torch.no_grad()
    def field_at(self, latent: torch.Tensor, points: np.ndarray) -> np.ndarray:
        """A native latent's inside-positive field at points (P, 3) of the [-1, 1] frame: (P,) float32."""
        chunk = self.query_chunk_size
        with self.autocast():
            tokens = self.vae.decoder_tokens(latent[None].to(self.device))
            values = [self.vae.query_field(tokens, torch.from_numpy(np.ascontiguousarray(points[i:i + chunk],
                                                                                          np.float32))[None]
                                           .to(self.device))[0].float().cpu()
                      for i in range(0, len(points), chunk)]
        return torch.cat(values).numpy() if values else np.zeros(0, np.float32)

    @torch.no_grad()
    def reconstruct_parts(self, meshes: list, options: GenerationOptions | None = None) -> list:
        """VAE round trip of each mesh, in the frame of their union: the geometry ceiling of the model.

        Every mesh is normalised with the transform that maps the union to [-1, 1]^3 (as the pipeline
        places parts of an input object), encoded (posterior mode), decoded at ``options.grid_size``
        and mapped back. Returns one trimesh per input (empty where the decoder finds no surface).
        """
        options = options or GenerationOptions()
        grid_size = options.grid_size or self._setting("grid_size", 512)
        normalization = normalization_transform(np.concatenate([np.asarray(m.vertices) for m in meshes]))
        rebuilt = []
        for latent in self.encode_meshes(meshes, normalization, options.seed):
            decoded, _ = self.decode_mesh(latent, grid_size, options)
            if len(decoded.faces):
                decoded = trimesh.Trimesh(invert_normalization(np.asarray(decoded.vertices), *normalization),
                                          np.asarray(decoded.faces), process=False)
            rebuilt.append(decoded)
        return rebuilt

    @torch.no_grad()
    def encode_meshes(self, meshes: list, normalization: tuple, seed: int = 0) -> list:
        """Each mesh, mapped by ``normalization`` (center, scale), encoded: native latents (N, C) (posterior mode)."""
        rng = np.random.default_rng(seed)
        generator = torch.Generator().manual_seed(seed)
        latents = []
        for mesh in meshes:
            normalized = trimesh.Trimesh(apply_normalization(np.asarray(mesh.vertices), *normalization),
                                         np.asarray(mesh.faces), process=False)
            latents.append(self.encode_cloud(self.mesh_cloud([normalized], rng), generator)[0]
                           / self.config.scale_factor)
        return latents

    @torch.no_grad()
    def split_input_with_latents(self, mesh: trimesh.Trimesh, latents: list,
                                 options: GenerationOptions | None = None) -> list:
        """Cut a mesh into parts with given part latents (no DiT): each claims the unclaimed cells its field
        covers, in order, as in the input-anchored loop. With ground-truth latents this is the ceiling of
        the anchored pipeline for a VAE. Returns the accepted :class:`GeneratedPart` list (input frame)."""
        options = options or GenerationOptions()
        rng = np.random.default_rng(options.seed)
        normalization = normalization_transform(np.asarray(mesh.vertices))
        normalized = trimesh.Trimesh(apply_normalization(np.asarray(mesh.vertices), *normalization),
                                     np.asarray(mesh.faces), process=False)
        from autopartgen import inputs

        policy = make_policy(self, dataclasses.replace(options, parts="input"), rng, None,
                             options.grid_size or self._setting("grid_size", 512), False, normalization, normalized,
                             inputs.vertex_colors_of(mesh), inputs.texture_of(mesh))
        state, timer, counts = LoopState(), _Timer(), {"anchor_queries": 0}
        for position, latent in enumerate(latents):
            candidate, _ = policy.candidate(latent, state, timer, counts)
            if candidate is not None:
                state.parts.append(GeneratedPart(latent=latent.cpu(), seed=options.seed, retries=0, position=position,
                                                 **policy.accept(candidate, state)))
        return policy.finish(state, timer)

    def postprocess_part(self, mesh: trimesh.Trimesh, options: GenerationOptions) -> trimesh.Trimesh:
        """Simplify to ``simplify_faces`` and drop small disconnected pieces (SPEC 7.3)."""
        return self.postprocess_part_with_areas(mesh, options)[0]

    def postprocess_part_with_areas(self, mesh: trimesh.Trimesh,
                                    options: GenerationOptions) -> tuple[trimesh.Trimesh, np.ndarray]:
        """:meth:`postprocess_part`, also returning its (F,) face areas (measured by the floater test)."""
        vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
        if options.simplify_faces and len(faces) > options.simplify_faces:
            vertices, faces = simplify(vertices, faces, options.simplify_faces,
                                       **({"aggressiveness": 1.0} if options.reference_compat else {}))
        vertices, faces, face_areas = remove_floaters_with_areas(vertices, faces)
        return trimesh.Trimesh(vertices, faces, process=False), face_areas

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
        with rng_scope, self.run_precision(options), torch.no_grad():
            return self._generate(mode, image, mesh, mask, options)

    def run_precision(self, options: GenerationOptions):
        """The number format around one run on a CPU: bf16 autocast with ``--cpu-precision bfloat16`` (not in
        reference mode), which every network call inside inherits; float32 otherwise. CUDA runs use the
        config's ``float_precision`` (:meth:`autocast`)."""
        wanted = options.cpu_precision == "bfloat16" and not options.reference_compat and self.device.type == "cpu"
        return inference_autocast(self.device, cpu_bfloat16=True) if wanted else contextlib.nullcontext()

    def _generate(self, mode: str, image, mesh, mask, options: GenerationOptions) -> PartResult:
        timer, counts = _Timer(), {"attempts": 0, "dit_forwards": 0, "dit_rows": 0, "field_queries": 0,
                                   "dense_queries": 0, "anchor_queries": 0}
        rng = np.random.default_rng(options.seed)
        torch_rng = None if options.reference_compat else torch.Generator().manual_seed(options.seed)
        grid_size = options.grid_size or self._setting("grid_size", 512)

        loaded = self.prepare_inputs(image, mesh, mask, options, timer)
        conditions = self.encode_conditions(loaded, options, rng, torch_rng, timer, counts)
        whole_mesh = None
        if options.decode_whole:
            with timer("decode"):
                whole_mesh, stats = self.decode_mesh(conditions.whole_native, grid_size, options)
                counts["field_queries"] += stats.queries
        with timer("prepare_loop"):
            policy = make_policy(self, options, rng, torch_rng, grid_size, loaded.labels is not None,
                                 conditions.normalization, conditions.normalized_mesh, loaded.mesh_colors,
                                 loaded.mesh_texture)
        state, stop_reason = self.part_loop(policy, loaded, conditions, mode, options, timer, counts)
        parts = policy.finish(state, timer)
        if whole_mesh is not None and not options.reference_compat:
            whole_mesh = policy.to_output_frame(whole_mesh)
        return PartResult(mode=mode, parts=parts, whole_latent=conditions.whole_native.cpu(), stop_reason=stop_reason,
                          timings=dict(timer.seconds), counts=counts, options=options, whole_mesh=whole_mesh,
                          unfilled_regions=state.unfilled, normalization=conditions.normalization,
                          mask_labels=loaded.labels, mask=loaded.mask, parts_kind=policy.name,
                          generated_parts=getattr(policy, "generated_parts", None) if options.parts == "both" else None,
                          anchor_claims=getattr(policy, "anchor_claims", None))

    def prepare_inputs(self, image, mesh, mask, options: GenerationOptions, timer) -> "LoadedInputs":
        """Paths or objects -> validated image tensor, mask regions and mesh (see :class:`LoadedInputs`)."""
        from autopartgen import inputs  # local: keeps model-only users free of image/mesh I/O imports

        reference = options.reference_compat
        loaded = LoadedInputs()
        with timer("load"):
            if image is not None:
                image = inputs.load_image(image) if isinstance(image, (str, os.PathLike)) else image
                if options.remove_background and not inputs.has_valid_alpha(image):
                    image = inputs.segment_background(image)
                loaded.pixels, box = inputs.prepare_image_with_box(image, self.image_size, reference_compat=reference)
            if mask is not None:
                mask = (inputs.load_mask(mask, image_size=image.size) if isinstance(mask, (str, os.PathLike))
                        else np.asarray(mask))
                # a DiT trained on size-ordered parts expects the largest region first (config pipeline.mask_order)
                mask_order = "position" if reference else self._setting("mask_order", "position")
                loaded.mask, loaded.labels = mask, order_mask_labels(mask, mask_order)
                if len(loaded.labels) == 0:
                    raise InputFileError("the part mask has no labelled pixels (all 0); label each part 1, 2, ...")
                if options.num_parts is not None and options.num_parts != len(loaded.labels):
                    raise InputFileError(f"--num_parts {options.num_parts} conflicts with the mask, which has "
                                         f"{len(loaded.labels)} regions (one part each); drop --num_parts")
                loaded.masked_pixels = inputs.masked_part_images(image, mask, loaded.labels, box, self.image_size,
                                                                 reference_compat=reference)
            if mesh is not None:
                loaded.mesh = inputs.load_mesh(mesh) if isinstance(mesh, (str, os.PathLike)) else mesh
                loaded.mesh_colors = inputs.vertex_colors_of(loaded.mesh)
                loaded.mesh_texture = inputs.texture_of(loaded.mesh)
        return loaded

    def encode_conditions(self, loaded: "LoadedInputs", options: GenerationOptions, rng, torch_rng, timer,
                          counts) -> "Conditions":
        """Image features (whole image, each mask region) and the whole-object latent."""
        conditions = Conditions()
        with timer("image_encode"):
            conditions.drop = self.drop_features()
            conditions.whole_features = (self.image_features(loaded.pixels[None]) if loaded.pixels is not None
                                         else conditions.drop)
            if loaded.labels is not None:
                conditions.mask_features = torch.cat([self.image_features(chunk[None])
                                                      for chunk in loaded.masked_pixels])
        if loaded.mesh is not None:
            with timer("whole_encode"):
                center, scale = normalization_transform(np.asarray(loaded.mesh.vertices))
                normalized = trimesh.Trimesh(apply_normalization(np.asarray(loaded.mesh.vertices), center, scale),
                                             np.asarray(loaded.mesh.faces), process=False)
                cloud = self.mesh_cloud([normalized], rng, reference_rng=options.reference_compat)
                whole_scaled = self.encode_cloud(cloud, torch_rng, options.sample_posterior)
                conditions.normalization, conditions.normalized_mesh = (center, scale), normalized
        else:
            with timer("whole_sample"):
                whole_cfg = options.whole_cfg_scale if options.whole_cfg_scale is not None else \
                    self.config.whole_cfg_scale
                whole_native = self.sample_whole(conditions.whole_features, conditions.drop, options.seed, whole_cfg,
                                                 options, counts)
                whole_scaled = whole_native[None] * self.config.scale_factor
        conditions.whole_scaled = whole_scaled
        conditions.whole_native = whole_scaled[0] / self.config.scale_factor
        return conditions

    def part_loop(self, policy, loaded: "LoadedInputs", conditions: "Conditions", mode: str,
                  options: GenerationOptions, timer, counts) -> tuple[LoopState, str]:
        """Sample accepted parts one position at a time until the policy, the end token or the count stops it."""
        masked = loaded.labels is not None
        max_parts = options.num_parts or options.max_parts or self._setting("max_parts", 40)
        positions = len(loaded.labels) if masked else max_parts
        if options.num_parts is not None and not masked:
            positions = 3 * options.num_parts + 2  # room for skipped positions on the way to an exact count
        scales = self.part_guidance(mode, options)
        dummy = torch.cat([conditions.drop, conditions.drop], dim=-1)
        with timer("history_encode"):
            history = policy.initial_history(conditions.whole_scaled)
        state = LoopState()
        stop_reason = "mask_regions" if masked else "max_parts"
        bar = tqdm(total=positions, desc="parts", disable=not options.progress)
        for position in range(positions):
            label = int(loaded.labels[position]) if masked else None
            part_image = conditions.mask_features[position:position + 1] if masked else conditions.drop
            image_condition = torch.cat([conditions.whole_features, part_image], dim=-1)
            geometry = torch.stack([conditions.whole_scaled, history], dim=1)
            accepted, failure = self.sample_accepted_part(policy, state, position, image_condition, dummy, geometry,
                                                          scales, options, timer, counts)
            bar.update(1)
            if failure == "end_token" and accepted is None and not policy.end_retries(state):
                stop_reason = "end_token"
                break
            if accepted is None:
                if masked:
                    state.unfilled.append({"mask_label": label, "reason": failure})
                    logger.warning("mask region %d gave no part (%s)", label, failure)
                    continue
                reason = policy.position_failed(state)
                if reason is not None:
                    stop_reason = reason
                    break
                continue
            state.skips = 0
            accepted.mask_label = label
            state.parts.append(accepted)
            reason = policy.finished(state)
            if reason is not None:
                stop_reason = reason
                break
            if position + 1 < positions:  # the last position needs no history
                with timer("history_encode"):
                    history = self.encode_cloud(policy.history_cloud(state), policy.torch_rng,
                                                options.sample_posterior)
        bar.total = bar.n  # the bar ends full at the stop, with how many samples were accepted and why
        bar.set_postfix_str(f"{len(state.parts)} accepted, {stop_reason}")  # the cut may split or merge them
        bar.close()
        return state, stop_reason

    def sample_accepted_part(self, policy, state: LoopState, position: int, image_condition, dummy, geometry,
                             scales, options: GenerationOptions, timer, counts) -> tuple[GeneratedPart | None, str]:
        """Up to ``policy.attempts`` samples at one position: (the accepted part or None, the last failure)."""
        sigma_history = None
        if options.infer_sigma_history > 0 and state.parts:
            sigma_history = torch.tensor([[0.0, options.infer_sigma_history]], device=self.device)
            noise = torch.randn(geometry.shape, generator=policy.torch_rng, device="cpu").to(self.device)
            geometry = noise_history_slots(geometry, noise, sigma_history)
        failure = ""
        for retry in range(policy.attempts):
            seed = policy.seed(position, retry)
            counts["attempts"] += 1
            with timer("part_sample"):
                latent = self.sample_part(image_condition, dummy, geometry, seed, scales, options, sigma_history,
                                          counts)
            if policy.tests_end(state) and policy.is_end(latent):
                failure = "end_token"
                if policy.end_retries(state):
                    continue
                return None, failure
            candidate, failure = policy.candidate(latent, state, timer, counts)
            if candidate is None:
                continue
            return GeneratedPart(latent=latent.cpu(), seed=seed, retries=retry, position=position,
                                 **policy.accept(candidate, state)), ""
        return None, failure


@dataclass
class LoadedInputs:
    """Validated inputs of one run: the image tensor (3, S, S), the mask and its ordered labels with one
    masked image per label (L, 3, S, S), the mesh in its own frame with per-vertex RGBA colours (or None)
    and, when it is textured from one image, ``(uv, image, material)`` (see ``inputs.texture_of``)."""

    pixels: torch.Tensor | None = None
    mask: np.ndarray | None = None
    labels: np.ndarray | None = None
    masked_pixels: torch.Tensor | None = None
    mesh: "trimesh.Trimesh | None" = None
    mesh_colors: np.ndarray | None = None
    mesh_texture: tuple | None = None


@dataclass
class Conditions:
    """What the DiT is conditioned on: image features (1, T, D) of the image (or the dropped image), one
    per mask region (L, T, D), the whole latent (scaled (1, N, C) and native (N, C)); for a mesh input,
    the normalisation (center, scale) and the mesh in the [-1, 1] frame."""

    drop: torch.Tensor | None = None
    whole_features: torch.Tensor | None = None
    mask_features: torch.Tensor | None = None
    whole_scaled: torch.Tensor | None = None
    whole_native: torch.Tensor | None = None
    normalization: tuple | None = None
    normalized_mesh: "trimesh.Trimesh | None" = None
