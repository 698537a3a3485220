"""Loop policies: how the part loop decides, for each kind of output.

``AutoPartGen._generate`` runs one loop for every mode (see ``pipeline.py``): at each part position it
samples a latent, asks the policy whether it is the end, turns it into a candidate part, accepts it or
tries again, and asks the policy for the next history. Everything that differs between the outputs
lives in one of these classes:

=====================  ==========================  ==========================  =================================
                       ReferencePolicy             GeneratedPolicy (ours)      AnchoredPolicy (mesh inputs)
=====================  ==========================  ==========================  =================================
seeds                  seed + retry * 1009         independent per position    independent per position
end token              not in mask modes           yes (retry in mask modes)   yes (retry in mask modes)
a candidate is         the decoded mesh            the decoded mesh            the input cells its field claims
duplicate test         surface-voxel containment   overlap of the fields'      claims < min_claim of the volume
                                                   inside nodes
position fails         stop                        skip (stop after 2 skips)   skip (stop after 2 skips)
history                re-sampled union of parts   cached samples of parts     surface of the claimed region
 (history_region:        --                          the decoded whole minus     the unclaimed region
  remainder)                                         the parts' fields
also stops when        --                          --                          the unclaimed rest is negligible
parts                  decoded, normalised frame   decoded, input frame        cut from the input, input frame
=====================  ==========================  ==========================  =================================

``num_parts`` (all policies): the end token is ignored before that count and the loop stops at it;
the anchored policy also splits its largest part while it has fewer (a generated mesh cannot be split).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
import trimesh

from autopartgen.geometry import partition, protrusions, regions
from autopartgen.geometry.texture import add_plain_band, band_uv
from autopartgen.geometry.normalize import invert_normalization
from autopartgen.geometry.overlap import containment_ratio, overlap_ratio, volumetric_overlap
from autopartgen.geometry.cleanup import face_component_labels, taubin_smooth
from autopartgen.geometry.sampling import MeshSurface, farthest_point_sample, sample_surface, triangle_areas
from autopartgen.errors import ConfigError
from autopartgen.options import PART_BOUNDARIES, GenerationOptions
from autopartgen.sampling import is_end_latent

logger = logging.getLogger(__name__)


@dataclass
class GeneratedPart:
    """One accepted part: mesh in the output frame, its native latent (N, C) and provenance.

    ``volume_share``: for parts cut from an input mesh, the share of the input's volume it holds.
    """

    mesh: "trimesh.Trimesh"
    latent: torch.Tensor
    seed: int
    retries: int
    position: int
    mask_label: int | None = None
    volume_share: float | None = None


@dataclass
class Candidate:
    """What a sampled latent became: a decoded mesh (generated parts) or claimed input cells (anchored)."""

    latent: torch.Tensor
    mesh: "trimesh.Trimesh | None" = None
    claimed: np.ndarray | None = None  # (M,) bool over the policy's inside cells
    field_values: np.ndarray | None = None
    inside: np.ndarray | None = None  # (n, n, n) bool: where the decoded field is positive (ExtractionStats.inside)
    face_areas: np.ndarray | None = None  # (F,) of the post-processed mesh, as its floater test measured them


@dataclass
class LoopState:
    """What the loop has so far; policies read it, ``pipeline`` writes it."""

    parts: list = field(default_factory=list)
    unfilled: list = field(default_factory=list)
    skips: int = 0


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


HISTORY_REGIONS = ("held", "remainder")


class RegionCells:
    """A solid on the anchor grid, as the anchored loop holds an input: which cells are inside, the surface
    samples, and which part claimed each inside cell (``labels``, see ``geometry/partition.py``)."""

    def __init__(self, pipe, vertices: np.ndarray, faces: np.ndarray, grid: int, area: float,
                 rng: np.random.Generator):
        count = min(int(pipe._setting("num_surface_samples", 200_000)), 200_000)  # surface samples drawn
        self.inside, self.surface = partition.anchored_input(vertices, faces, grid, count, area, rng)
        self.labels = partition.new_label_grid(self.inside)
        self.cells = np.argwhere(self.inside)
        self.cell_points = partition.cell_centres(self.cells, grid)

    def history_cloud(self, region: str, pool_size: int, size: int, rng: np.random.Generator) -> np.ndarray:
        """(size, 6): the surface of the claimed cells (``held``) or of the unclaimed ones (``remainder``)."""
        labels = partition.remainder_labels(self.labels) if region == "remainder" else self.labels
        return partition.history_cloud(labels, self.surface, pool_size, size, rng)


def history_region_setting(pipe) -> str:
    """The model config's ``pipeline.history_region``: what the DiT was trained to see as its history."""
    region = pipe._setting("history_region", "held")
    if region not in HISTORY_REGIONS:
        raise ConfigError(f"the model config's pipeline.history_region {region!r} is unknown; use one of "
                          f"{', '.join(HISTORY_REGIONS)}")
    return region


def thin_ends_setting(pipe) -> regions.ThinEnds | None:
    """``regions.ThinEnds`` from the model config's ``pipeline.thin_end_ratio``, ``thin_end_reach``
    (default 2.0) and ``thin_ends_first`` (default off: only the merged regions get their ends back), or
    None where ``thin_end_ratio`` is absent (merged regions keep the basins' boundaries)."""
    ratio = pipe._setting("thin_end_ratio", None)
    if ratio is None:
        return None
    reach = pipe._setting("thin_end_reach", 2.0)
    try:
        in_range = float(ratio) >= 1.0 and 0.0 < float(reach) <= 16.0
    except (TypeError, ValueError):
        in_range = False
    if not in_range:
        raise ConfigError(f"the model config's pipeline.thin_end_ratio {ratio!r} or thin_end_reach {reach!r} is "
                          "out of range; use a ratio of at least 1 and a reach in (0, 16] (thin-part radii)")
    return regions.ThinEnds(float(ratio), float(reach), bool(pipe._setting("thin_ends_first", False)))


def smaller_side_setting(pipe) -> regions.SmallerSide | None:
    """``regions.SmallerSide`` from the model config's ``pipeline.smaller_side_layers`` and
    ``smaller_side_ratio`` (default 2.0), or None where ``smaller_side_layers`` is absent (the interfaces
    of the merged regions stay where the merge left them)."""
    layers = pipe._setting("smaller_side_layers", None)
    if layers is None:
        return None
    ratio = pipe._setting("smaller_side_ratio", 2.0)
    try:
        in_range = 0.0 < float(layers) <= 4.0 and float(ratio) >= 1.0
    except (TypeError, ValueError):
        in_range = False
    if not in_range:
        raise ConfigError(f"the model config's pipeline.smaller_side_layers {layers!r} or smaller_side_ratio "
                          f"{ratio!r} is out of range; use layers in (0, 4] (anchor cells) and a ratio of at least 1")
    return regions.SmallerSide(float(layers), float(ratio))


def max_input_parts_setting(pipe) -> int:
    """The most parts a mesh input is cut into by the model config: its ``pipeline.max_input_parts``, else
    its ``max_parts`` (the most the DiT proposes)."""
    return int(pipe._setting("max_input_parts", None) or pipe._setting("max_parts", 40))


@dataclass(frozen=True)
class SharpInputSettings:
    """How a detailed mesh input is merged (config ``pipeline.sharp_input_turn`` and the two entries after
    it; absent: off). The region merger learned from the corpus's smooth, bevelled surfaces; a real asset
    whose surface turns far more (``regions.surface_sharpness`` above ``turn`` radians: a robot's links with
    their chamfers, bolts and seams) meets it outside that range, and there the merger joins links
    confidently (real-val-2's wrong merges scored 0.93 on average). Such an input merges only above
    ``threshold`` and may be cut into up to ``max_parts`` parts (MODEL_CARD, session 23)."""

    turn: float
    threshold: float
    max_parts: int

    @classmethod
    def from_config(cls, pipe) -> "SharpInputSettings | None":
        turn = pipe._setting("sharp_input_turn", None)
        if turn is None:
            return None
        settings = cls(float(turn), float(pipe._setting("sharp_merge_threshold", 0.9)),
                       int(pipe._setting("sharp_max_input_parts", None) or max_input_parts_setting(pipe)))
        if not (settings.turn > 0.0 and 0.0 < settings.threshold < 1.0 and settings.max_parts >= 1):
            raise ConfigError(f"the model config's pipeline.sharp_input_turn {turn!r}, sharp_merge_threshold "
                              f"{settings.threshold!r} or sharp_max_input_parts {settings.max_parts!r} is out of "
                              "range; use a turn above 0 radians, a threshold in (0, 1) and at least 1 part")
        return settings


def derive_seed(seed: int, position: int, retry: int, options: GenerationOptions) -> int:
    """Seed of the sampling attempt ``retry`` at part ``position``.

    Reference: seed + position * part_seed_stride (0) + retry * 1009, so every position starts from
    the same noise. Default: an independent stream per (seed, position, retry).
    """
    if options.reference_compat:
        return seed + position * options.part_seed_stride + retry * options.retry_seed_stride
    return int(np.random.SeedSequence([seed, position, retry]).generate_state(1, dtype=np.uint32)[0])


# ------------------------------------------------------------------------------------------------
# generated parts: ours, and the released pipeline's decisions
# ------------------------------------------------------------------------------------------------
class GeneratedPolicy:
    """Parts are the decoded part latents (amodal meshes), in the input mesh's frame when there is one."""

    name = "generated"

    def __init__(self, pipe, options: GenerationOptions, rng: np.random.Generator, torch_rng, grid_size: int,
                 masked: bool, normalization: tuple | None):
        self.pipe, self.options, self.rng, self.torch_rng = pipe, options, rng, torch_rng
        self.grid_size, self.masked, self.normalization = grid_size, masked, normalization
        self.eot_threshold = pipe._setting("eot_threshold", 0.1)
        self.surface_cache = SurfaceCache(pipe._setting("fps_max_points", 65536), rng)
        self.parts_inside: np.ndarray | None = None  # union of the accepted parts' inside nodes
        self.history_region = history_region_setting(pipe)
        self.whole_cells: RegionCells | None = None  # the decoded whole, for remainder histories

    # -- decisions -----------------------------------------------------------------------------
    @property
    def attempts(self) -> int:
        return self.options.duplicate_retries + 1

    def seed(self, position: int, retry: int) -> int:
        return derive_seed(self.options.seed, position, retry, self.options)

    def tests_end(self, state: LoopState) -> bool:
        return True

    def end_retries(self, state: LoopState) -> bool:
        """An end token where a part must come (a mask region, or before num_parts): try another seed."""
        wanted = self.options.num_parts
        return self.masked or (wanted is not None and len(state.parts) < wanted)

    def is_end(self, latent: torch.Tensor) -> bool:
        return is_end_latent(latent, self.eot_threshold)

    def candidate(self, latent: torch.Tensor, state: LoopState, timer, counts) -> tuple[Candidate | None, str]:
        """Decode, drop empty results and duplicates of the parts so far, post-process."""
        with timer("decode"):
            mesh, stats = self.pipe.decode_mesh(latent, self.grid_size, self.options)
        counts["field_queries"] += stats.queries
        counts["dense_queries"] += stats.dense_queries
        if len(mesh.faces) == 0:
            return None, "empty"
        candidate = Candidate(latent, mesh=mesh, inside=stats.inside)
        if self.options.iou_threshold >= 0 and not self.masked and state.parts:
            with timer("duplicate_check"):
                if self.duplicate_score(candidate, state) > self.options.iou_threshold:
                    return None, "duplicate"
        if self.options.postprocess:
            with timer("postprocess"):
                candidate.mesh, candidate.face_areas = self.pipe.postprocess_part_with_areas(mesh, self.options)
            if len(candidate.mesh.faces) == 0:
                return None, "empty"
        return candidate, ""

    def duplicate_score(self, candidate: Candidate, state: LoopState) -> float:
        """Max containment between the candidate's solid and the accepted parts' union.

        The solids are the decoded fields' inside nodes that the extraction already holds, so the test
        costs the same whatever the meshes' face counts (a noisy field's mesh can have millions); the
        solid-voxel overlap of the meshes is the fallback when a field gave none.
        """
        if candidate.inside is not None and self.parts_inside is not None:
            return overlap_ratio(self.parts_inside, candidate.inside)
        union = trimesh.util.concatenate([p.mesh for p in state.parts])
        return volumetric_overlap(union, candidate.mesh)

    def accept(self, candidate: Candidate, state: LoopState) -> dict:
        """Extra fields of the accepted GeneratedPart."""
        if candidate.inside is not None and (not state.parts or self.parts_inside is not None):
            self.parts_inside = (candidate.inside.copy() if self.parts_inside is None
                                 else self.parts_inside | candidate.inside)
        else:
            self.parts_inside = None  # a part without a field solid: fall back to the meshes from now on
        if self.whole_cells is not None:  # the part's field claims the decoded whole's cells it covers
            cells = self.whole_cells
            claimed = partition.claim_cells(cells.labels, cells.cells, self.pipe.field_at(candidate.latent,
                                                                                        cells.cell_points))
            cells.labels[tuple(cells.cells[claimed].T)] = len(state.parts)
        return {"mesh": candidate.mesh}

    def position_failed(self, state: LoopState) -> str | None:
        """A position gave no part: the stop reason, or None to go on with the next position."""
        if self.masked:
            return None
        state.skips += 1
        if state.skips >= self.options.max_consecutive_skips and self.options.num_parts is None:
            return "consecutive_skips"
        if self.options.num_parts is not None and state.skips >= 2 * self.options.num_parts + 2:
            return "consecutive_skips"
        return None

    def finished(self, state: LoopState) -> str | None:
        """Stop before the next position? (the reason, or None)."""
        if self.options.num_parts is not None and len(state.parts) >= self.options.num_parts:
            return "num_parts"
        return None

    # -- history -------------------------------------------------------------------------------
    def history_cloud(self, state: LoopState) -> np.ndarray:
        """The encoder's input cloud (P, 6) for the union of the parts so far (or what they leave of the whole)."""
        if self.history_region == "remainder":
            size = self.pipe._setting("point_cloud_size", 32768)
            if self.whole_cells is None:  # the whole decoded to nothing: nothing is known to be left
                return np.zeros((size, 6), np.float32)
            return self.whole_cells.history_cloud("remainder", self.pipe._setting("fps_max_points", 65536), size,
                                                  self.rng)
        self.surface_cache.add(state.parts[-1].mesh)
        pool = self.surface_cache.union_cloud(self.pipe._setting("fps_max_points", 65536))
        size = self.pipe._setting("point_cloud_size", 32768)
        start = int(self.rng.integers(len(pool)))
        return pool[farthest_point_sample(pool, size, start_index=start)]

    def initial_history(self, whole_scaled: torch.Tensor) -> torch.Tensor:
        """The start-of-sequence history (1, N, C), scaled: the empty cloud's encoding, or for a DiT trained on
        remainders the whole itself (nothing split off yet). ``whole_scaled``: (1, N, C).

        Remainder histories of generated parts need a solid to take the parts from: the whole latent is
        decoded once and its cells are claimed by each accepted part's field, as an input mesh's would be.
        """
        if self.history_region == "held":
            return self.pipe.empty_history()
        whole, _ = self.pipe.decode_mesh(whole_scaled[0] / self.pipe.config.scale_factor, self.grid_size,
                                         self.options)
        if len(whole.faces):
            self.whole_cells = RegionCells(self.pipe, np.asarray(whole.vertices), np.asarray(whole.faces),
                                           self.options.anchor_grid, float(whole.area), self.rng)
        return whole_scaled

    # -- output ----------------------------------------------------------------------------------
    def finish(self, state: LoopState, timer) -> list:
        """Accepted parts -> output parts (smoothed, mapped to the input frame)."""
        with timer("finalize"):
            self.reach_part_count(state)
            for part in state.parts:
                if self.options.postprocess and self.options.smooth_iters > 0 and len(part.mesh.faces) > 20:
                    vertices, faces = taubin_smooth(np.asarray(part.mesh.vertices), np.asarray(part.mesh.faces),
                                                    self.options.smooth_iters)
                    part.mesh = trimesh.Trimesh(vertices, faces, process=False)
                part.mesh = self.to_output_frame(part.mesh)
        return state.parts

    def reach_part_count(self, state: LoopState) -> None:
        """With num_parts and fewer parts accepted: halve the largest part (by extent) until the count is met."""
        wanted = self.options.num_parts
        while wanted is not None and state.parts and len(state.parts) < wanted:
            largest = max(range(len(state.parts)), key=lambda i: float(np.ptp(state.parts[i].mesh.vertices, axis=0).max()))
            part = state.parts[largest]
            halves = partition.split_mesh_in_two(np.asarray(part.mesh.vertices), np.asarray(part.mesh.faces))
            if not halves:
                logger.warning("could not split a part to reach num_parts=%d; %d parts", wanted, len(state.parts))
                return
            part.mesh = trimesh.Trimesh(*halves[0], process=False)
            state.parts.insert(largest + 1, GeneratedPart(trimesh.Trimesh(*halves[1], process=False), part.latent,
                                                          part.seed, part.retries, part.position, part.mask_label))

    def to_output_frame(self, mesh):
        if self.normalization is None or len(mesh.faces) == 0:
            return mesh
        return trimesh.Trimesh(invert_normalization(np.asarray(mesh.vertices), *self.normalization),
                               np.asarray(mesh.faces), process=False)


class ReferencePolicy(GeneratedPolicy):
    """The released pipeline's decisions, for parity with its outputs (see the table in the module doc)."""

    name = "reference"

    @property
    def attempts(self) -> int:
        if self.masked or self.options.iou_threshold < 0:
            return 1
        return self.options.duplicate_retries + 1

    def tests_end(self, state: LoopState) -> bool:
        return self.options.iou_threshold >= 0 and not self.masked

    def end_retries(self, state: LoopState) -> bool:
        wanted = self.options.num_parts
        return wanted is not None and len(state.parts) < wanted

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.parts_surface = MeshSurface()  # the accepted parts, concatenated in order

    def initial_history(self, whole_scaled: torch.Tensor) -> torch.Tensor:
        size = self.pipe._setting("point_cloud_size", 32768)
        return self.pipe.encode_cloud(np.zeros((size, 6), np.float32), None)

    def duplicate_score(self, candidate: Candidate, state: LoopState) -> float:
        return containment_ratio(self.parts_surface, candidate.mesh, self.rng)

    def accept(self, candidate: Candidate, state: LoopState) -> dict:
        # The union's draws; face areas measured once per part (by post-processing when it ran).
        self.parts_surface.add(candidate.mesh, candidate.face_areas)
        return super().accept(candidate, state)

    def position_failed(self, state: LoopState) -> str | None:
        return None if self.masked else "retries_exhausted"

    def history_cloud(self, state: LoopState) -> np.ndarray:
        return self.pipe.mesh_cloud(self.parts_surface, self.rng, reference_rng=True)

    def to_output_frame(self, mesh):
        return mesh  # the reference leaves parts in the normalised frame


# ------------------------------------------------------------------------------------------------
# parts cut from the input mesh
# ------------------------------------------------------------------------------------------------
class AnchoredPolicy(GeneratedPolicy):
    """Each part latent claims cells of the input's unclaimed volume; parts are cut from the input itself.

    ``normalized_mesh`` is the input in the [-1, 1] frame; ``colors`` its per-vertex RGBA (or None).
    With ``keep_generated`` the accepted latents are also decoded as meshes (``generated_parts``).
    """

    name = "input"
    max_overlap = 0.6  # a candidate whose field lies more than this share on claimed cells is a duplicate
    min_part_cells = 8  # fewer cells vanish when the region boundaries are smoothed: they join a neighbour
    neck_min_share = 0.04  # with neck_depth: a piece split off at a neck holds at least this share of the input
    neck_max_contact = 1.5  # ... and meets the rest of its part across at most this x cells^(2/3) cell faces
    piece_min_share = 0.01  # keep_components: a separate piece with this share of the input's area gets its own part
    flush_body_share = 0.5  # flush parts are split off the largest part only when it holds this share of the solid

    def __init__(self, pipe, options, rng, torch_rng, grid_size, masked, normalization, normalized_mesh,
                 colors: np.ndarray | None = None, keep_generated: bool = False, texture=None):
        super().__init__(pipe, options, rng, torch_rng, grid_size, masked, normalization)
        self.vertices = np.asarray(normalized_mesh.vertices, np.float64)
        self.faces = np.asarray(normalized_mesh.faces, np.int64)
        self.colors = colors
        self.texture = texture  # (uv (V, 2), image, material) of an input textured from one image, or None
        self.keep_generated = keep_generated
        self.generated_parts: list = []
        self.input_cells = RegionCells(pipe, self.vertices, self.faces, options.anchor_grid,
                                       float(normalized_mesh.area), rng)
        self.inside, self.surface = self.input_cells.inside, self.input_cells.surface
        self.labels, self.cells, self.cell_points = (self.input_cells.labels, self.input_cells.cells,
                                                     self.input_cells.cell_points)
        self.part_fields: list[np.ndarray] = []  # strongest-field: each accepted part's field at self.cells
        self.boundaries = options.part_boundaries or pipe._setting("part_boundaries", "claim-order")
        if self.boundaries not in PART_BOUNDARIES:
            raise ConfigError(f"the model config's pipeline.part_boundaries {self.boundaries!r} is unknown; use one "
                              f"of {', '.join(PART_BOUNDARIES)}")
        self.neck_depth = options.neck_depth if options.neck_depth is not None else pipe._setting("neck_depth", 0.0)
        self.merges_regions = (pipe.region_merger is not None and options.merge_regions
                               and options.num_parts is None)
        self.merge_threshold = float(pipe._setting("merge_threshold", 0.5))
        self.merge_threshold_below_claims = float(pipe._setting("merge_threshold_below_claims", self.merge_threshold))
        self.basin_spacing = float(pipe._setting("basin_spacing", 0.125))
        self.face_cuts = bool(pipe._setting("face_cuts", False))
        crease_turn = pipe._setting("crease_turn", None)  # radians; None: creases of the input play no part
        self.crease = None if crease_turn is None else (float(crease_turn), float(pipe._setting("crease_factor", 0.5)))
        if self.crease is not None and not (0.0 < self.crease[0] < np.pi and 0.0 <= self.crease[1] <= 1.0):
            raise ConfigError(f"the model config's pipeline.crease_turn {crease_turn!r} or crease_factor "
                              f"{self.crease[1]!r} is out of range; use values in (0, pi) radians and [0, 1]")
        self.flush_part_height = float(pipe._setting("flush_part_height", 0.0))
        self.thin_ends = thin_ends_setting(pipe)
        self.smaller_side = smaller_side_setting(pipe)
        self.flush_parts: list | None = None  # found on the input mesh when first needed
        self._input_pieces: tuple | None = None  # see input_pieces
        if not (0.0 < self.merge_threshold < 1.0 and 0.0 < self.merge_threshold_below_claims < 1.0
                and 0.0 < self.basin_spacing <= 2.0):
            raise ConfigError(f"the model config's pipeline.merge_threshold {self.merge_threshold!r}, "
                              f"merge_threshold_below_claims {self.merge_threshold_below_claims!r} or basin_spacing "
                              f"{self.basin_spacing!r} is out of range; use values in (0, 1), (0, 1) and (0, 2]")
        self.sharp = SharpInputSettings.from_config(pipe)
        self.sharp_input = False  # set where the merge starts: the input's surface turns more than self.sharp.turn
        self.anchor_claims: tuple | None = None
        if not 0.0 <= float(self.neck_depth) <= 2.0:
            raise ConfigError(f"the model config's pipeline.neck_depth {self.neck_depth!r} is out of range; use a "
                              "value in [0, 2] (0: off)")

    def candidate(self, latent, state, timer, counts):
        """The unclaimed cells inside the latent's field; too few new cells make a duplicate."""
        with timer("decode"):
            values = self.pipe.field_at(latent, self.cell_points)
        counts["anchor_queries"] += len(self.cell_points)
        inside_field = int((values > 0).sum())
        if inside_field == 0:
            return None, "empty"
        claimed = partition.claim_cells(self.labels, self.cells, values)
        new = int(claimed.sum())
        if new < max(self.options.min_claim * len(self.cells), 1) or new < (1 - self.max_overlap) * inside_field:
            return None, "duplicate"
        return Candidate(latent, claimed=claimed, field_values=values), ""

    def accept(self, candidate: Candidate, state: LoopState) -> dict:
        index = len(state.parts)
        claimed_cells = self.cells[candidate.claimed]
        self.labels[tuple(claimed_cells.T)] = index
        if self.boundaries == "strongest-field":
            self.part_fields.append(np.asarray(candidate.field_values, np.float32))
        return {"mesh": None, "volume_share": float(candidate.claimed.sum() / len(self.cells))}

    def unclaimed_share(self) -> float:
        return float((self.labels == partition.UNCLAIMED).sum() / max(len(self.cells), 1))

    def finished(self, state: LoopState) -> str | None:
        reason = super().finished(state)
        if reason is None and self.options.num_parts is None and self.unclaimed_share() < self.options.min_remainder:
            reason = "input_covered"
        return reason

    def history_cloud(self, state: LoopState) -> np.ndarray:
        return self.input_cells.history_cloud(self.history_region, self.pipe._setting("fps_max_points", 65536),
                                              self.pipe._setting("point_cloud_size", 32768), self.rng)

    def initial_history(self, whole_scaled: torch.Tensor) -> torch.Tensor:
        """The empty cloud's encoding, or with remainder histories the encoded input itself."""
        return self.pipe.empty_history() if self.history_region == "held" else whole_scaled

    def finish(self, state: LoopState, timer) -> list:
        """Fill the unclaimed cells, reach num_parts, cut the input along the parts' regions (a part that
        comes out of the cut as a sliver of the surface gives its cells to its neighbours, and the input
        is cut again)."""
        with timer("cut"):
            if not state.parts:  # nothing accepted (an end token first): the input is one part
                labels = np.where(self.inside, 0, self.labels)
                state.parts.append(GeneratedPart(mesh=None, latent=torch.zeros(0), seed=self.options.seed,
                                                 retries=0, position=0))
            else:
                labels = self.labels
                if self.boundaries == "strongest-field":
                    labels = partition.strongest_field_labels(labels, self.cells, self.part_fields)
                labels = partition.fill_unclaimed(partition.release_fragments(partition.fill_unclaimed(labels)))
                labels, kept_positions = partition.drop_small_parts(labels, self.min_part_cells)
                state.parts[:] = [state.parts[k] for k in kept_positions]
            self.anchor_claims = (self.inside.copy(), labels.copy())
            if self.merges_regions:
                labels = self.merge_regions(labels, state)
            elif self.neck_depth > 0 and self.options.num_parts is None:
                labels = self.split_at_necks(labels, state)
            if self.find_flush_parts():
                labels = self.give_way_to_flush_parts(labels, state)
            num_parts = int(labels.max()) + 1
            while self.options.num_parts is not None and num_parts < self.options.num_parts:
                labels = partition.split_largest(labels)
                if int(labels.max()) + 1 == num_parts:
                    break  # nothing left to split
                num_parts += 1
                state.parts.append(GeneratedPart(mesh=None, latent=torch.zeros(0), seed=self.options.seed,
                                                 retries=0, position=state.parts[-1].position))
            before = list(state.parts)  # cut_input may append parts for separate pieces of the input
            cut, cut_labels = self.cut_input(labels, state)
            cell_size = 2.0 / labels.shape[0]
            slivers = [k for k, piece in enumerate(cut[:len(before)]) if partition.is_sliver(piece, cell_size)]
            if slivers and len(slivers) < len(before) and self.options.num_parts is None:
                logger.debug("parts %s came out of the cut as slivers of the surface; their cells join their "
                             "neighbours and the input is cut again", slivers)
                labels, kept_positions = partition.drop_parts(labels, slivers)
                state.parts[:] = [before[k] for k in kept_positions]
                cut, cut_labels = self.cut_input(labels, state)
            labels = cut_labels
            textured = self.textured_visual_maker() if self.texture is not None else None
            inside_labels = labels[self.inside]
            kept = []
            for k, (part, piece) in enumerate(zip(state.parts, cut)):
                if len(piece.faces) == 0:  # e.g. slices of pieces that went whole to other parts
                    logger.debug("part %d holds none of the input after the cut; dropped", k)
                    continue
                mesh = trimesh.Trimesh(piece.vertices, piece.faces, process=False)
                if piece.uv is not None and textured is not None:
                    mesh.visual = textured(piece.uv)
                elif piece.colors is not None:
                    mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=piece.colors)
                mesh.metadata["cut_faces"] = piece.cut_faces
                part.mesh = self.to_output_frame_keep_visual(mesh)
                part.volume_share = float((inside_labels == k).mean())
                kept.append(part)
        if self.keep_generated:
            with timer("decode"):
                for part in kept:
                    if part.latent.numel() == 0:
                        continue
                    mesh, _ = self.pipe.decode_mesh(part.latent, self.grid_size, self.options)
                    if len(mesh.faces) and self.options.postprocess:
                        mesh = self.pipe.postprocess_part(mesh, self.options)
                    if len(mesh.faces):
                        self.generated_parts.append(GeneratedPart(self.to_output_frame(mesh), part.latent, part.seed,
                                                                  part.retries, part.position, part.mask_label))
        state.parts[:] = kept
        return kept

    @property
    def max_parts(self) -> int:
        """Most parts the input is cut into: ``--max-parts``, else the config's ``max_input_parts``, else its
        ``max_parts``. The DiT still proposes at most ``max_parts`` (``Pipeline.part_loop``): an input's
        regions, pieces and flush parts need no latent of their own, so a robot of 30 links is not cut into
        the DiT's 16."""
        if self.options.max_parts:
            return self.options.max_parts
        return self.sharp.max_parts if self.sharp_input else max_input_parts_setting(self.pipe)

    def cut_input(self, labels: np.ndarray, state: LoopState) -> tuple[list, np.ndarray]:
        """Cut the input along the parts' regions of ``labels`` (parts 0..K-1 = ``state.parts``).

        With ``keep_components`` (and no exact ``num_parts``) an input built from separate pieces keeps
        them whole (``partition.whole_component_parts``), and sizable pieces grouped in one part get parts
        of their own (``partition.separate_whole_components``), appended to ``state.parts``. Returns the
        CutParts (one per part) and the label grid the parts' volume shares are read from."""
        num_parts = int(labels.max()) + 1
        full = partition.extend_labels(labels)
        regions = partition.region_meshes(full, num_parts)
        face_labels = partition.face_region_labels(self.vertices, self.faces, full)
        if self.flush_parts:  # thin pieces proud of a flat face: regions of their own, parts after the others
            regions = protrusions.carve_regions(regions, self.flush_parts)
            labels, face_labels = labels.copy(), face_labels.copy()
            owner = protrusions.inside_protrusions(partition.cell_centres(np.argwhere(self.inside), labels.shape[0]),
                                                   self.flush_parts)
            labels[self.inside] = np.where(owner >= 0, num_parts + owner, labels[self.inside])
            owner = protrusions.inside_protrusions(self.vertices[self.faces].mean(axis=1), self.flush_parts)
            face_labels = np.where(owner >= 0, num_parts + owner, face_labels)
            for _ in self.flush_parts:
                state.parts.append(GeneratedPart(mesh=None, latent=torch.zeros(0), seed=self.options.seed, retries=0,
                                                 position=state.parts[-1].position))
            num_parts = len(regions)
        uv = None if self.texture is None else self.texture[0]
        if not self.options.keep_components or self.options.num_parts is not None:
            return partition.cut_by_regions(self.vertices, self.faces, regions, self.colors, face_labels, uv=uv), labels
        areas = triangle_areas(self.vertices, self.faces)
        welded, components = self.input_pieces()
        whole = partition.whole_component_parts(components, face_labels, areas, min_majority=0.0)
        holding = np.union1d(whole[whole >= 0], face_labels[whole < 0])  # the parts that keep any triangle
        whole, sources = partition.separate_whole_components(whole, components, areas, num_parts,
                                                             self.piece_min_share, self.max_parts - len(holding))
        for source in sources:
            state.parts.append(GeneratedPart(mesh=None, latent=torch.zeros(0), seed=state.parts[source].seed,
                                             retries=0, position=state.parts[source].position))
        cut = partition.cut_keeping_components(self.vertices, self.faces, regions, face_labels, whole, self.colors,
                                               uv=uv, welded=welded)
        return cut, partition.relabel_whole_components(labels, self.vertices, self.faces, whole)

    def merge_regions(self, labels: np.ndarray, state: LoopState) -> np.ndarray:
        """Re-draw the parts as merged basins of the solid (``geometry/regions.py``, scored by the model's
        region merger from the basins' shapes; below the part count the claims in ``labels`` hold, a merge
        needs ``merge_threshold_below_claims``; a detailed input, :class:`SharpInputSettings`, merges only above
        its threshold and may hold more parts). Each merged region becomes a part: the claimed
        part holding most of it keeps its latent for its largest region; its further regions are parts with
        no latent at its position; a claimed part that holds most of no region is dropped."""
        spacing = regions.spacing_cells(self.basin_spacing, labels.shape[0])
        threshold, threshold_below_claims = self.merge_threshold, self.merge_threshold_below_claims
        if self.sharp is not None:
            self.sharp_input = regions.surface_sharpness(self.vertices, self.faces) > self.sharp.turn
            if self.sharp_input:
                threshold = max(threshold, self.sharp.threshold)
                threshold_below_claims = max(threshold_below_claims, self.sharp.threshold)
                logger.debug("the input's surface is sharper than %.2f rad: merged above %.2f, up to %d parts",
                             self.sharp.turn, threshold, self.max_parts)
        merged = regions.merged_regions(self.inside, self.pipe.region_merger.probability, spacing, self.face_cuts,
                                        threshold, max(self.max_parts, 1), self.min_part_cells,
                                        floor=len(state.parts),
                                        threshold_below_floor=threshold_below_claims, crease=self.crease,
                                        turns=(regions.surface_turns(self.vertices, self.faces, self.inside)
                                               if self.reads_turns else None),
                                        context=self.reads_context, thin_ends=self.thin_ends,
                                        smaller_side=self.smaller_side)[self.inside]
        claims = labels[self.inside]
        count = int(merged.max()) + 1
        overlap = np.zeros((count, len(state.parts)), np.int64)
        np.add.at(overlap, (merged, claims), 1)
        sources = overlap.argmax(1)
        order = sorted(range(count), key=lambda r: (sources[r], r))  # claim order first, then size
        parts, result = [], labels.copy()
        inside_labels = np.empty_like(claims)
        for new, region in enumerate(order):
            source = state.parts[sources[region]]
            if new > 0 and sources[order[new - 1]] == sources[region]:  # the source's latent is taken
                source = GeneratedPart(mesh=None, latent=torch.zeros(0), seed=source.seed, retries=0,
                                       position=source.position)
            parts.append(source)
            inside_labels[merged == region] = new
        state.parts[:] = parts
        result[self.inside] = inside_labels
        return result

    @property
    def reads_turns(self) -> bool:
        """Whether the merge reads the input surface's turns: for the crease rule or a merger trained with
        the crease features."""
        return self.crease is not None or bool(getattr(self.pipe.region_merger, "reads_crease_features", False))

    @property
    def reads_context(self) -> bool:
        """Whether the merger was trained with the object features (``regions.OBJECT_FEATURE_NAMES``, after
        the shape and crease features)."""
        return bool(getattr(self.pipe.region_merger, "reads_object_features", False))

    def input_pieces(self) -> tuple[np.ndarray, np.ndarray]:
        """The input's (F, 3) welded faces and (F,) separate-piece label of each triangle, computed once
        (the flush-part check and each cut read them)."""
        if self._input_pieces is None:
            welded = partition.welded_faces(self.vertices, self.faces)
            self._input_pieces = (welded, face_component_labels(welded))
        return self._input_pieces

    def find_flush_parts(self) -> list:
        """The input's thin pieces proud of an upright flat face (``geometry/protrusions.py``) that become
        parts of their own: only with ``flush_part_height`` set (their greatest height, in anchor cells), no
        exact part count asked for, and an input not modelled as separate pieces (two or more with
        ``piece_min_share`` of its area each; specks of thin details do not count) unless ``keep_components``
        is off; found once."""
        if self.flush_part_height <= 0 or not self.options.flush_parts or self.options.num_parts is not None:
            return []
        if self.flush_parts is None and self.options.keep_components:
            pieces = self.input_pieces()[1]
            area = np.bincount(pieces, weights=triangle_areas(self.vertices, self.faces)) if len(pieces) else []
            if (np.asarray(area) >= self.piece_min_share * np.sum(area)).sum() > 1:
                self.flush_parts = []  # an input modelled as separate pieces goes by its pieces
        if self.flush_parts is None:
            self.flush_parts = protrusions.thin_protrusions(self.vertices, self.faces, 2.0 / self.inside.shape[0],
                                                            max_height=self.flush_part_height)
        return self.flush_parts

    def give_way_to_flush_parts(self, labels: np.ndarray, state: LoopState) -> np.ndarray:
        """Keep the flush parts standing on the body, the largest part, when it holds ``flush_body_share``
        of the solid or more (a cabinet's or an appliance's casing; an object of many comparable links, a
        robot, keeps its links whole, and a handle on a door or a tyre on a wheel belongs to the smaller
        part it stands on), then drop the parts lying mostly (by cells) inside
        their regions, those cells going to their neighbours: the flush part takes their place when the
        input is cut; a part lying only partly inside keeps the rest. Keeps the total within ``max_parts``
        by leaving out the smallest flush parts."""
        grid = labels.shape[0]
        inside_labels = labels[self.inside]
        num_parts = int(labels.max()) + 1
        totals = np.bincount(inside_labels, minlength=num_parts)
        body = int(totals.argmax())
        hosts = protrusions.host_labels(self.flush_parts, labels)
        dominant = totals[body] >= self.flush_body_share * totals.sum()
        self.flush_parts = [piece for piece, host in zip(self.flush_parts, hosts) if dominant and host == body]
        if not self.flush_parts:
            return labels
        in_flush = protrusions.inside_protrusions(partition.cell_centres(np.argwhere(self.inside), grid),
                                                  self.flush_parts) >= 0
        covered = np.bincount(inside_labels[in_flush], minlength=num_parts)
        dropped = [k for k in range(num_parts) if totals[k] and covered[k] >= 0.5 * totals[k]]
        if len(dropped) == num_parts:
            dropped.remove(int(np.argmax(totals)))
        labels, kept = partition.drop_parts(labels, dropped)
        state.parts[:] = [state.parts[k] for k in kept]
        self.flush_parts = self.flush_parts[:max(0, self.max_parts - len(kept))]
        return labels

    def split_at_necks(self, labels: np.ndarray, state: LoopState) -> np.ndarray:
        """Split the parts where the input narrows (``partition.split_parts_at_necks``); a piece split off
        becomes a part with no latent of its own, at its source part's position."""
        grid = labels.shape[0]
        segments = partition.neck_segments(self.inside, self.neck_depth * grid / 2.0)
        before = int(labels.max()) + 1
        min_cells = max(self.min_part_cells, int(self.neck_min_share * self.inside.sum()))
        split = partition.split_parts_at_necks(labels, segments, min_cells, max(self.max_parts, before),
                                               self.neck_max_contact)
        for k in range(before, int(split.max()) + 1):
            source = state.parts[int(np.bincount(labels[split == k]).argmax())]
            state.parts.append(GeneratedPart(mesh=None, latent=torch.zeros(0), seed=source.seed, retries=0,
                                             position=source.position))
        return split

    def textured_visual_maker(self):
        """A function (V, 2) part UVs -> TextureVisuals sharing one banded copy of the input's texture."""
        from trimesh.visual.material import PBRMaterial

        _, image, material = self.texture
        banded, band = add_plain_band(image)
        shared = PBRMaterial(name=getattr(material, "name", None) or "input",
                             baseColorTexture=banded,
                             baseColorFactor=getattr(material, "baseColorFactor", None),
                             metallicFactor=getattr(material, "metallicFactor", None) or 0.0,
                             roughnessFactor=getattr(material, "roughnessFactor", None) or 0.8,
                             doubleSided=getattr(material, "doubleSided", None))
        return lambda uv: trimesh.visual.TextureVisuals(uv=band_uv(uv, band), material=shared)

    def to_output_frame_keep_visual(self, mesh):
        if self.normalization is not None:
            mesh.vertices = invert_normalization(np.asarray(mesh.vertices), *self.normalization)
        return mesh


def make_policy(pipe, options: GenerationOptions, rng, torch_rng, grid_size: int, masked: bool,
                normalization, normalized_mesh=None, colors=None, texture=None):
    """The policy of a run: reference parity, parts cut from a mesh input, or generated parts."""
    if options.reference_compat:
        return ReferencePolicy(pipe, options, rng, torch_rng, grid_size, masked, normalization)
    if normalized_mesh is not None and options.parts in ("input", "both"):
        return AnchoredPolicy(pipe, options, rng, torch_rng, grid_size, masked, normalization, normalized_mesh,
                              colors, keep_generated=options.parts == "both", texture=texture)
    return GeneratedPolicy(pipe, options, rng, torch_rng, grid_size, masked, normalization)
