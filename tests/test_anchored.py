"""Parts cut from the input mesh (the input-anchored loop): tiling, closed solids, frame and appearance.

The DiT and the VAE field are replaced by controlled stand-ins where a decision is checked: part latent k
carries a point (its first three channels); its field is ``0.55 - |x - point|`` (a ball), and an all-zero
latent is the end token. One test runs the real random-weight networks of the golden small config.
"""

import json

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from autopartgen.api import generate_parts
from autopartgen.errors import ConfigError
from autopartgen.eval import metrics
from autopartgen.geometry import partition
from autopartgen.geometry.extraction import ExtractionStats
from autopartgen.geometry.normalize import apply_normalization
from autopartgen.inputs import load_mesh
from autopartgen.pipeline import AutoPartGen, GenerationOptions
from tests.test_pipeline import small_config

BALL_RADIUS = 0.55


@pytest.fixture(scope="module")
def pipe():
    return AutoPartGen.from_config(small_config(), device="cpu", seed=0)


def ball_latent(pipe, centre):
    latent = torch.full((pipe.dit.num_latents, pipe.dit.in_channels), 1.0)
    latent[:, :3] = torch.tensor(centre, dtype=torch.float32)
    return latent


@pytest.fixture()
def ball_pipe(pipe, monkeypatch):
    """Parts: balls at the given centres (normalised frame), in order, then the end token."""
    centres = [(-0.6, 0.0, 0.0), (0.6, 0.0, 0.0), (0.0, 0.5, 0.0)]
    calls = {"n": 0}

    def sample_part(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > len(centres):
            return torch.zeros(pipe.dit.num_latents, pipe.dit.in_channels)
        return ball_latent(pipe, centres[calls["n"] - 1])

    def field_at(latent, points):
        return (BALL_RADIUS - np.linalg.norm(points - latent[0, :3].numpy(), axis=1)).astype(np.float32)

    monkeypatch.setattr(pipe, "sample_part", sample_part)
    monkeypatch.setattr(pipe, "field_at", field_at)
    calls["reset"] = lambda: calls.update(n=0)
    return pipe, calls


def textured_mesh(frame_seed=0):
    """A closed, UV-textured solid (a box fused with a cylinder) in an arbitrary frame, and its texture."""
    body = trimesh.creation.box(extents=(2.0, 1.0, 1.0))
    post = trimesh.creation.cylinder(radius=0.3, height=1.2, sections=24)
    post.apply_translation((0.0, 0.0, 0.0))
    post.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (1, 0, 0)))
    post.apply_translation((0.0, 0.9, 0.0))
    solid = body.union(post)
    solid = solid.subdivide()
    # Planar UVs from x, z; the texture is a smooth colour ramp with a stripe, so colours differ per vertex.
    v = solid.vertices
    uv = np.stack([(v[:, 0] + 1.0) / 2.0, (v[:, 2] + 0.5)], axis=1).clip(0, 1)
    size = 64
    yy, xx = np.mgrid[0:size, 0:size]
    texture = np.stack([xx * 4, yy * 4, np.where((xx // 8) % 2 == 0, 200, 40)], axis=-1).astype(np.uint8)
    image = Image.fromarray(texture, "RGB")
    solid.visual = trimesh.visual.TextureVisuals(uv=uv, image=image)
    rng = np.random.default_rng(frame_seed)
    rotation = trimesh.transformations.random_rotation_matrix(rng.random(3))
    solid.apply_transform(rotation)
    solid.apply_scale(3.7)
    solid.apply_translation((12.0, -4.0, 30.0))
    return solid, texture


def texture_colour(texture, uv):
    """Independent nearest-texel lookup (OpenGL UV: v up, image row 0 at the top)."""
    h, w = texture.shape[:2]
    col = np.clip(np.round(uv[:, 0] * (w - 1)).astype(int), 0, w - 1)
    row = np.clip(np.round((1.0 - uv[:, 1]) * (h - 1)).astype(int), 0, h - 1)
    return texture[row, col]


def occupancy_in(mesh_or_parts, normalization, grid=64):
    meshes = mesh_or_parts if isinstance(mesh_or_parts, list) else [mesh_or_parts]
    return [metrics.occupancy((apply_normalization(np.asarray(m.vertices), *normalization), np.asarray(m.faces)),
                              grid) for m in meshes]


# ------------------------------------------------------------------------------------------------
# the label grid
# ------------------------------------------------------------------------------------------------
def test_unclaimed_regions_join_the_part_they_touch_most():
    labels = np.full((6, 6, 6), partition.OUTSIDE, np.int32)
    labels[1:5, 1:5, 1:5] = partition.UNCLAIMED
    labels[1:5, 1:5, 1] = 0        # a 4x4 wall of part 0
    labels[1, 1:5, 2:5] = 1        # a 4x3 wall of part 1
    filled = partition.fill_unclaimed(labels)
    assert (filled[1:5, 1:5, 1:5] >= 0).all() and (filled[labels == partition.OUTSIDE] == partition.OUTSIDE).all()
    # The one unclaimed region touches part 0 on 3x4 = 12 faces and part 1 on 3x3 = 9: it joins part 0.
    assert (filled[2:5, 1:5, 2:5] == 0).all()


def test_stray_pieces_rejoin_a_neighbour():
    labels = np.full((8, 8, 8), partition.OUTSIDE, np.int32)
    labels[1:7, 1:7, 1:7] = 0
    labels[1:7, 1:7, 4:7] = 1
    labels[3, 3, 2] = 1  # a crumb of part 1 inside part 0
    cleaned = partition.fill_unclaimed(partition.release_fragments(labels))
    assert cleaned[3, 3, 2] == 0 and (cleaned[1:7, 1:7, 4:7] == 1).all()


def test_strongest_field_moves_a_boundary_to_where_the_fields_cross():
    """Two balls claimed in order: the first claims the whole lens they share; with the strongest field each
    cell of the lens goes to the nearer centre (the fields are 0.55 - distance), unclaimed cells stay."""
    grid = 16
    labels = np.full((grid, grid, grid), partition.UNCLAIMED, np.int32)
    labels[0] = partition.OUTSIDE
    cells = np.argwhere(labels == partition.UNCLAIMED)
    points = partition.cell_centres(cells, grid)
    centres = np.array([[-0.3, 0.0, 0.0], [0.3, 0.0, 0.0]])
    fields = [(BALL_RADIUS - np.linalg.norm(points - c, axis=1)).astype(np.float32) for c in centres]
    for k, field in enumerate(fields):  # the pipeline's claim order
        claimed = partition.claim_cells(labels, cells, field)
        labels[tuple(cells[claimed].T)] = k
    lens = (fields[0] > 0) & (fields[1] > 0)
    assert lens.sum() > 20 and (labels[tuple(cells[lens].T)] == 0).all()
    moved = partition.strongest_field_labels(labels, cells, fields)
    nearer = np.argmin(np.linalg.norm(points[:, None] - centres[None], axis=2), axis=1)
    held = labels[tuple(cells.T)] >= 0
    assert np.array_equal(moved[tuple(cells[held].T)], nearer[held])
    assert (moved[labels == partition.UNCLAIMED] == partition.UNCLAIMED).all()
    assert (moved[labels == partition.OUTSIDE] == partition.OUTSIDE).all()
    assert np.array_equal(partition.strongest_field_labels(labels, cells, []), labels)


def test_regions_tile_space_and_cut_a_closed_mesh_into_closed_parts():
    solid = trimesh.creation.icosphere(subdivisions=3, radius=0.9)
    grid = 32
    inside = partition.input_volume(solid.vertices, solid.faces, grid)
    labels = partition.new_label_grid(inside)
    x = partition.grid_centres(grid)[:, None, None] * np.ones((grid, grid, grid))
    y = partition.grid_centres(grid)[None, :, None] * np.ones((grid, grid, grid))
    labels[inside & (x < 0)] = 0
    labels[inside & (x >= 0) & (y < 0)] = 1
    labels[inside & (x >= 0) & (y >= 0)] = 2
    regions = partition.region_meshes(partition.extend_labels(labels), 3)
    parts = partition.cut_by_regions(solid.vertices, solid.faces, regions)
    volumes = []
    for part in parts:
        mesh = trimesh.Trimesh(part.vertices, part.faces, process=False)
        assert part.closed and mesh.is_watertight and mesh.volume > 0
        assert part.cut_faces.any() and not part.cut_faces.all()
        volumes.append(mesh.volume)
    assert sum(volumes) == pytest.approx(solid.volume, rel=2e-3)  # no gap or overlap beyond triple-junction slivers
    assert volumes[0] == pytest.approx(solid.volume / 2, rel=0.05)


def test_open_mesh_is_split_by_its_own_triangles():
    sheet = trimesh.creation.icosphere(subdivisions=2, radius=0.9)
    sheet.update_faces(sheet.triangles_center[:, 2] < 0.5)  # an open bowl: not a closed manifold
    labels = np.zeros((16, 16, 16), np.int32)
    labels[8:] = 1
    regions = partition.region_meshes(labels, 2)
    face_labels = partition.face_region_labels(sheet.vertices, sheet.faces, labels)
    parts = partition.cut_by_regions(sheet.vertices, sheet.faces, regions, face_labels=face_labels)
    assert [p.closed for p in parts] == [False, False]
    assert sum(len(p.faces) for p in parts) == len(sheet.faces)


# ------------------------------------------------------------------------------------------------
# the loop
# ------------------------------------------------------------------------------------------------
def test_vertex_coloured_mesh_gives_vertex_coloured_parts(ball_pipe, tmp_path):
    pipe, _ = ball_pipe
    mesh = trimesh.creation.box(extents=(2.0, 1.2, 1.0)).subdivide()
    colours = np.concatenate([(mesh.vertices[:, :3] * 100 + 128).clip(0, 255),
                              np.full((len(mesh.vertices), 1), 255)], axis=1).astype(np.uint8)
    mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=colours)
    mesh.export(tmp_path / "coloured.ply")
    result = pipe.generate(mesh=load_mesh(tmp_path / "coloured.ply"), options=GenerationOptions(progress=False))
    colour_of = {tuple(np.round(v, 5)): c for v, c in zip(mesh.vertices, colours)}
    matched = 0
    for part in result.parts:
        assert part.mesh.visual.kind == "vertex"
        for vertex, colour in zip(part.mesh.vertices, part.mesh.visual.vertex_colors):
            expected = colour_of.get(tuple(np.round(vertex, 5)))
            if expected is not None:
                matched += 1
                assert np.abs(colour.astype(int) - expected.astype(int)).max() <= 1
    assert matched >= len(mesh.vertices) // 2


def test_textured_mesh_in_any_frame_is_tiled_by_parts_that_keep_its_look(ball_pipe, tmp_path):
    pipe, _ = ball_pipe
    solid, texture = textured_mesh()
    path = tmp_path / "textured.glb"
    solid.export(path)
    mesh = load_mesh(path)
    result = generate_parts(pipe, mesh=mesh, output_dir=tmp_path / "out", progress=False, seed=0)
    assert result.parts_kind == "input" and len(result.parts) == 3
    assert result.stop_reason in ("end_token", "input_covered")

    # Tiling: the parts' union is the input's volume and they hardly overlap (64^3, normalised frame).
    target = occupancy_in(mesh, result.normalization)[0]
    occupancies = occupancy_in([p.mesh for p in result.parts], result.normalization)
    union = np.logical_or.reduce(occupancies)
    assert (union & target).sum() / (union | target).sum() >= 0.95
    pairwise = sum((a & b).sum() for i, a in enumerate(occupancies) for b in occupancies[:i])
    assert pairwise / target.sum() <= 0.03
    for part in result.parts:  # a closed input gives closed parts (welded by position: UV seams split vertices)
        assert trimesh.Trimesh(part.mesh.vertices, part.mesh.faces, process=True).is_watertight
    assert sum(p.volume_share for p in result.parts) == pytest.approx(1.0, abs=1e-6)

    # Appearance: the parts keep the texture. Every part vertex on the input's surface that is an input
    # vertex (the boolean keeps them) shows, through its new UV in the part's image, the colour the
    # input's texture has at that vertex's original UV; cut faces show one plain colour.
    uv_of = {tuple(np.round(v, 5)): uv for v, uv in zip(solid.vertices, solid.visual.uv)}
    errors, plain = [], []
    for part in result.parts:
        assert part.mesh.visual.kind == "texture"
        image = np.asarray(part.mesh.visual.material.baseColorTexture.convert("RGB"))
        shown = texture_colour(image, part.mesh.visual.uv)
        cut = part.mesh.metadata["cut_faces"]
        for index in np.unique(part.mesh.faces[~cut]):
            uv = uv_of.get(tuple(np.round(part.mesh.vertices[index], 5)))
            if uv is not None:
                errors.append(np.abs(shown[index].astype(int) - texture_colour(texture, uv[None])[0]).max())
        plain.append(shown[np.unique(part.mesh.faces[cut])])
    assert len(errors) > 100
    assert np.percentile(errors, 95) <= 20  # a texel off where rounding lands on a stripe edge, at most
    plain = np.concatenate(plain)
    assert len(plain) and (plain == plain[0]).all()

    # The written GLB carries the texture and UVs, and parts.json the kind and volume shares.
    reloaded = trimesh.load(tmp_path / "out" / "mesh_000.glb", force="mesh")
    assert reloaded.visual.kind == "texture" and reloaded.visual.uv is not None
    manifest = json.loads((tmp_path / "out" / "parts.json").read_text())
    assert manifest["run"]["parts"] == "input"
    assert [p["kind"] for p in manifest["parts"]] == ["input"] * 3
    assert sum(p["input_volume_share"] for p in manifest["parts"]) == pytest.approx(1.0, abs=1e-4)


def test_parts_both_writes_generated_parts_in_a_subfolder(ball_pipe, tmp_path, monkeypatch):
    pipe, _ = ball_pipe

    def decode_mesh(latent, grid_size, options):
        ball = trimesh.creation.icosphere(subdivisions=2, radius=BALL_RADIUS)
        ball.apply_translation(latent[0, :3].numpy().astype(np.float64))
        return ball, ExtractionStats(grid_size, 0)

    monkeypatch.setattr(pipe, "decode_mesh", decode_mesh)
    mesh = trimesh.creation.box(extents=(2.0, 1.2, 1.0))
    result = generate_parts(pipe, mesh=mesh, output_dir=tmp_path / "out", progress=False, parts="both")
    assert len(result.generated_parts) == len(result.parts) == 3
    assert sorted(p.name for p in (tmp_path / "out" / "generated").iterdir()) == \
        ["mesh_000.glb", "mesh_001.glb", "mesh_002.glb", "mesh_combined.glb"]
    # generated parts are the balls (amodal), cut parts stay inside the box
    assert result.generated_parts[0].mesh.extents.max() == pytest.approx(2 * BALL_RADIUS, rel=0.05)
    for part in result.parts:
        assert np.all(part.mesh.bounds[0] >= mesh.bounds[0] - 1e-6) and np.all(part.mesh.bounds[1] <= mesh.bounds[1] + 1e-6)


def test_strongest_field_boundaries_give_a_later_part_what_its_field_holds_most(ball_pipe):
    """The third ball (between the first two) gets only their leftovers in claim order, and the cells
    nearer its centre with the strongest field; the parts still tile the input."""
    pipe, calls = ball_pipe
    mesh = trimesh.creation.box(extents=(2.4, 1.6, 1.0))
    shares = {}
    for rule in ("claim-order", "strongest-field"):
        calls["reset"]()
        result = pipe.generate(mesh=mesh, options=GenerationOptions(progress=False, part_boundaries=rule))
        assert len(result.parts) == 3
        shares[rule] = [part.volume_share for part in result.parts]
        assert sum(shares[rule]) == pytest.approx(1.0, abs=1e-6)
    assert shares["strongest-field"][2] > shares["claim-order"][2] + 0.02


@pytest.mark.parametrize("num_parts", [None, 3])
def test_an_end_token_first_leaves_the_input_whole(pipe, monkeypatch, num_parts):
    """The model's first sample is the end token: the input comes back as one part (it used to raise an
    IndexError), or split to num_parts when asked (the end token is then ignored until the retries run out)."""
    monkeypatch.setattr(pipe, "sample_part", lambda *a, **k: torch.zeros(pipe.dit.num_latents, pipe.dit.in_channels))
    mesh = trimesh.creation.box(extents=(2.0, 1.2, 1.0))
    result = pipe.generate(mesh=mesh, options=GenerationOptions(progress=False, num_parts=num_parts))
    assert len(result.parts) == (num_parts or 1)
    assert sum(part.volume_share for part in result.parts) == pytest.approx(1.0, abs=1e-6)
    assert sum(part.mesh.volume for part in result.parts) == pytest.approx(mesh.volume, rel=1e-3)
    if num_parts is None:
        assert result.stop_reason == "end_token"


@pytest.mark.parametrize("num_parts", [2, 5])
def test_num_parts_is_exact_with_parts_cut_from_the_input(ball_pipe, num_parts):
    pipe, _ = ball_pipe
    mesh = trimesh.creation.box(extents=(2.0, 1.2, 1.0))
    result = pipe.generate(mesh=mesh, options=GenerationOptions(progress=False, num_parts=num_parts))
    assert len(result.parts) == num_parts
    if num_parts == 2:
        assert result.stop_reason == "num_parts"


def test_release_style_networks_run_the_anchored_loop(pipe, tmp_path):
    """The golden small config (release architecture, random weights): whatever it proposes, the parts tile."""
    mesh = trimesh.creation.capsule(height=1.0, radius=0.4)
    mesh.apply_translation((5.0, 1.0, -2.0))
    result = pipe.generate(mesh=mesh, options=GenerationOptions(progress=False, max_parts=3, grid_size=16))
    assert result.parts_kind == "input" and 1 <= len(result.parts) <= 3
    target = occupancy_in(mesh, result.normalization)[0]
    union = np.logical_or.reduce(occupancy_in([p.mesh for p in result.parts], result.normalization))
    assert (union & target).sum() / (union | target).sum() >= 0.95


def test_reference_mode_ignores_parts_input(pipe, monkeypatch):
    mesh = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    monkeypatch.setattr(pipe, "sample_part", lambda *a, **k: torch.zeros(pipe.dit.num_latents, pipe.dit.in_channels))
    result = pipe.generate(mesh=mesh, options=GenerationOptions(progress=False, reference_compat=True))
    assert result.parts_kind == "reference"


@pytest.mark.parametrize("num_parts", [2, 4])
def test_num_parts_is_exact_with_generated_parts(pipe, monkeypatch, num_parts):
    """Generated parts: the end token is ignored before the count; a model that gives too few distinct parts
    has its largest part halved until the count is met (one ball, always the same, here)."""
    monkeypatch.setattr(pipe, "sample_part", lambda *a, **k: ball_latent(pipe, (0.0, 0.0, 0.0)))

    def decode_mesh(latent, grid_size, options):
        return trimesh.creation.icosphere(subdivisions=2, radius=BALL_RADIUS), ExtractionStats(grid_size, 0)

    monkeypatch.setattr(pipe, "decode_mesh", decode_mesh)
    result = pipe.generate(mesh=trimesh.creation.box(extents=(2.0, 1.0, 1.0)),
                           options=GenerationOptions(progress=False, num_parts=num_parts, parts="generated"))
    assert len(result.parts) == num_parts
    volume = sum(trimesh.Trimesh(p.mesh.vertices, p.mesh.faces).volume for p in result.parts)
    assert volume == pytest.approx(trimesh.creation.icosphere(subdivisions=2, radius=BALL_RADIUS).volume
                                   * result.normalization[1] ** 3, rel=1e-3)  # halves of the one ball


def test_num_parts_conflicting_with_a_mask_is_refused(pipe):
    from autopartgen.errors import InputFileError

    image = Image.fromarray(np.full((32, 32, 3), 200, np.uint8))
    mask = np.zeros((32, 32), np.int64)
    mask[4:12, 4:28] = 1
    mask[16:28, 4:28] = 2
    with pytest.raises(InputFileError, match="2 regions"):
        pipe.generate(image=image, mask=mask, options=GenerationOptions(progress=False, num_parts=3))


def test_parts_too_small_to_cut_join_a_neighbour():
    labels = np.full((10, 10, 10), partition.OUTSIDE, np.int32)
    labels[1:9, 1:9, 1:9] = 0
    labels[1:9, 1:9, 5:9] = 2
    labels[4, 4, 4] = 1  # one cell: its smoothed region would vanish
    kept_labels, kept = partition.drop_small_parts(labels, min_cells=8)
    assert kept == [0, 2]
    assert set(np.unique(kept_labels[kept_labels >= 0])) == {0, 1}  # renumbered in order
    assert kept_labels[4, 4, 4] == 0 and (kept_labels[1:9, 1:9, 5:9] == 1).all()


def voxel_dumbbell():
    """Two 10-cell cubes joined by a 2x2-cell bar along x, in a 40^3 grid: (inside, left cube, right cube)."""
    inside = np.zeros((40, 40, 40), bool)
    left, right = np.zeros_like(inside), np.zeros_like(inside)
    left[4:14, 15:25, 15:25] = True
    right[26:36, 15:25, 15:25] = True
    inside |= left | right
    inside[14:26, 19:21, 19:21] = True  # the bar
    return inside, left, right


def test_neck_segments_separate_lobes_joined_by_a_thin_bar():
    inside, left, right = voxel_dumbbell()
    segments = partition.neck_segments(inside, depth_cells=1.0)
    assert (segments[~inside] == 0).all() and (segments[inside] > 0).all()
    # Each cube lies in one basin, and the two basins differ.
    assert len(np.unique(segments[left])) == 1 and len(np.unique(segments[right])) == 1
    assert segments[left][0] != segments[right][0]
    # A neck shallower than asked is no neck: the cubes' distance peaks (5 cells) rise about 4 cells above
    # the bar's (1 cell), so a depth of 6 leaves one basin; a lone cube is one basin at any depth.
    assert len(np.unique(partition.neck_segments(inside, depth_cells=6.0)[inside])) == 1
    assert len(np.unique(partition.neck_segments(left, depth_cells=0.5)[left])) == 1


def test_parts_are_split_at_necks_and_small_pieces_rejoin():
    inside, left, right = voxel_dumbbell()
    segments = partition.neck_segments(inside, depth_cells=1.0)
    whole = np.where(inside, 0, partition.OUTSIDE).astype(np.int32)
    split = partition.split_parts_at_necks(whole, segments, min_cells=100)
    assert int(split.max()) == 1 and (split[~inside] == partition.OUTSIDE).all() and (split[inside] >= 0).all()
    assert len(np.unique(split[left])) == 1 and len(np.unique(split[right])) == 1
    assert split[left][0] != split[right][0]
    # Too small a piece (a cube is 1,000 cells) or no room under max_parts: no split.
    assert (partition.split_parts_at_necks(whole, segments, min_cells=2_000)[inside] == 0).all()
    assert (partition.split_parts_at_necks(whole, segments, min_cells=100, max_parts=1)[inside] == 0).all()
    # A part spilling one slice over the neck: the slice (100 cells) is too small to stand alone and joins
    # the part it touches most, the other cube's part; the boundary moves to the neck.
    labels = np.where(left, 0, np.where(inside, 1, partition.OUTSIDE)).astype(np.int32)
    labels[26, 15:25, 15:25] = 0
    moved = partition.split_parts_at_necks(labels, segments, min_cells=200)
    assert int(moved.max()) == 1
    assert (moved[right] == moved[27, 20, 20]).all() and (moved[left] == 0).all()


def test_a_thin_slice_along_a_wide_interface_stays_with_its_part():
    """A basin that is a 2-cell slab over a block's whole top meets the block over 400 faces, about 4.6x
    the 86 faces of a cube of its 800 cells: with max_contact 1.5 it stays with its part (without the
    limit it splits off); the dumbbell's cubes, joined by the 4-face bar, still split."""
    block = np.zeros((30, 30, 30), bool)
    block[5:25, 5:25, 5:17] = True
    basins = np.where(block, 1, 0).astype(np.int32)
    basins[5:25, 5:25, 15:17] = 2  # the slab: 20 x 20 x 2 = 800 cells
    whole = np.where(block, 0, partition.OUTSIDE).astype(np.int32)
    assert partition.contact_faces(basins == 1, basins == 2) == 400
    assert int(partition.split_parts_at_necks(whole, basins, min_cells=100).max()) == 1
    assert int(partition.split_parts_at_necks(whole, basins, min_cells=100, max_contact=1.5).max()) == 0
    assert int(partition.split_parts_at_necks(whole, basins, min_cells=100, max_contact=5.0).max()) == 1
    inside, left, right = voxel_dumbbell()
    segments = partition.neck_segments(inside, depth_cells=1.0)
    dumbbell = np.where(inside, 0, partition.OUTSIDE).astype(np.int32)
    assert int(partition.split_parts_at_necks(dumbbell, segments, min_cells=100, max_contact=1.5).max()) == 1


def test_neck_depth_splits_a_part_the_model_left_whole(pipe, monkeypatch):
    """The model stops at once (an end token first): without neck_depth the input is one part; with it
    the two heads of a dumbbell (joined by a thin bar) become two parts that still tile the input."""
    monkeypatch.setattr(pipe, "sample_part", lambda *a, **k: torch.zeros(pipe.dit.num_latents, pipe.dit.in_channels))
    heads = [trimesh.creation.box(extents=(0.8, 0.8, 0.8)).apply_translation((x, 0, 0)) for x in (-1.0, 1.0)]
    bar = trimesh.creation.cylinder(radius=0.1, height=2.0, sections=16)
    bar.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (0, 1, 0)))
    mesh = heads[0].union(heads[1]).union(bar)
    whole = pipe.generate(mesh=mesh, options=GenerationOptions(progress=False))
    assert len(whole.parts) == 1
    result = pipe.generate(mesh=mesh, options=GenerationOptions(progress=False, neck_depth=0.03))
    assert len(result.parts) == 2
    assert sum(part.volume_share for part in result.parts) == pytest.approx(1.0, abs=1e-6)
    assert sum(part.mesh.volume for part in result.parts) == pytest.approx(mesh.volume, rel=1e-3)
    # Each head lies in one part (its centre and its far corner), and the two heads in different parts.
    owner = [[next(k for k, part in enumerate(result.parts) if metrics.points_inside(part.mesh, np.array([point]))[0])
              for point in ((x, 0.0, 0.0), (x * 1.35, 0.35, 0.35))] for x in (-1.0, 1.0)]
    assert owner[0][0] == owner[0][1] and owner[1][0] == owner[1][1] and owner[0][0] != owner[1][0]


def test_small_components_go_whole_to_the_part_holding_most_of_them():
    # Components: 0 (area 4, 3/4 in part 1), 1 (area 2, split evenly), 2 (area 10: over half the input).
    components = np.array([0, 0, 0, 0, 1, 1, 2])
    labels = np.array([1, 1, 1, 0, 0, 1, 0])
    areas = np.array([1, 1, 1, 1, 1, 1, 10], float)
    whole = partition.whole_component_parts(components, labels, areas)
    assert whole.tolist() == [1, 1, 1, 1, 0, 0, -1]  # a 1:1 tie goes to the lower part number
    assert (partition.whole_component_parts(components, labels, areas, min_majority=0.6)[4:] == -1).all()
    assert (partition.whole_component_parts(np.zeros(7, int), labels, areas) == -1).all()  # one piece: cut
    # With min_majority 0 (the pipeline's) a piece always goes whole to the part holding most of it.
    assert partition.whole_component_parts(components, labels, areas, min_majority=0.0).tolist() == [1, 1, 1, 1,
                                                                                                   0, 0, -1]


def test_sizable_pieces_in_one_part_get_parts_of_their_own():
    # Part 0 holds components 0 (area 5), 1 (area 3) and 2 (area 0.5); part 1 holds component 3 (area 1.5);
    # component 4 (area 10) is cut.
    components = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 3, 4])
    whole = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, -1])
    areas = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0.5, 1.5, 10])
    new, sources = partition.separate_whole_components(whole, components, areas, num_parts=2, min_share=0.1)
    # 0.1 of the area (21) is 2.1: components 0 and 1 are sizable; 0, the larger, stays in part 0, 1 moves to
    # the new part 2; component 2 (too small) stays; part 1 has one piece only.
    assert new.tolist() == [0, 0, 0, 0, 0, 2, 2, 2, 0, 1, -1] and sources == [0]
    same, none = partition.separate_whole_components(whole, components, areas, num_parts=2, min_share=0.1,
                                                     max_new=0)
    assert same.tolist() == whole.tolist() and none == []
    # A lower bar makes component 3 sizable too, but it is alone in its part; component 2 (0.5) now moves.
    new, sources = partition.separate_whole_components(whole, components, areas, num_parts=2, min_share=0.02)
    assert new.tolist() == [0, 0, 0, 0, 0, 2, 2, 2, 3, 1, -1] and sources == [0, 0]


def test_pieces_kept_whole_leave_out_triangles_with_no_area():
    """Two boxes kept whole, and two degenerate triangles (a corner repeated) glued to the first box's
    corner: they hold no surface and would open the box, so they are left out and both parts stay closed."""
    boxes = [trimesh.creation.box(bounds=bounds) for bounds in (((-1, -1, -1), (0, 0, 0)), ((0.5, 0, 0), (1, 1, 1)))]
    vertices = np.concatenate([boxes[0].vertices, boxes[1].vertices])
    faces = np.concatenate([boxes[0].faces, boxes[1].faces + 8])
    corner = boxes[0].vertices[0]
    vertices = np.concatenate([vertices, [corner, corner + 0.3, corner + 0.3]])
    faces = np.concatenate([faces, [[16, 17, 18], [16, 18, 17]]])
    whole = np.array([0] * 12 + [1] * 12 + [0, 0])
    parts = partition.cut_keeping_components(vertices, faces, [None, None], np.zeros(len(faces), int), whole)
    assert [len(part.faces) for part in parts] == [12, 12] and all(part.closed for part in parts)
    assert all(trimesh.Trimesh(part.vertices, part.faces).is_watertight for part in parts)


def separate_pieces():
    """Four separate closed boxes, centred on the origin: a long bar from x = -1 to 0.45 and a short one from
    0.55 to 1 (both across y = 0), a block above them and a plate below."""
    boxes = [trimesh.creation.box(bounds=bounds) for bounds in (((-1.0, -0.2, -0.3), (0.45, 0.2, 0.3)),
                                                                 ((0.55, -0.2, -0.3), (1.0, 0.2, 0.3)),
                                                                 ((-0.3, 0.4, -0.2), (0.3, 1.0, 0.2)),
                                                                 ((-0.8, -1.0, -0.3), (0.8, -0.4, 0.3)))]
    return boxes, trimesh.util.concatenate(boxes)


@pytest.mark.parametrize("keep", [True, False])
def test_an_input_of_separate_pieces_keeps_them_whole(ball_pipe, keep):
    """Ball parts at x = -0.6, x = +0.6 and y = +0.5 cross the pieces (the second ball claims the long bar's
    end): with keep_components each piece lands whole in one part, with no cut faces; without it the bar is
    cut. Either way the parts hold the input's volume."""
    pipe, calls = ball_pipe
    boxes, mesh = separate_pieces()
    result = pipe.generate(mesh=mesh, options=GenerationOptions(progress=False, keep_components=keep))
    assert sum(part.mesh.volume for part in result.parts) == pytest.approx(mesh.volume, rel=1e-3)
    cut_faces = sum(int(np.asarray(part.mesh.metadata["cut_faces"]).sum()) for part in result.parts)
    if not keep:
        assert cut_faces > 0
        return
    # Every piece holds over 1 % of the input's area: each is a part of its own, whole (its 8 corners
    # and 12 triangles, nothing else).
    assert cut_faces == 0 and len(result.parts) == len(boxes)
    for part in result.parts:
        matches = [box for box in boxes if len(part.mesh.faces) == 12
                   and np.isclose(np.asarray(part.mesh.vertices)[:, None], box.vertices[None]).all(-1).any(0).all()]
        assert len(matches) == 1
    assert all(part.mesh.is_watertight for part in result.parts)
    assert sum(part.volume_share for part in result.parts) == pytest.approx(1.0, abs=1e-6)


def test_neck_depth_out_of_range_is_refused(pipe, monkeypatch):
    with pytest.raises(ConfigError, match="--neck-depth"):
        GenerationOptions(neck_depth=-0.1).validate()
    monkeypatch.setitem(pipe.config.pipeline, "neck_depth", 5)
    with pytest.raises(ConfigError, match="pipeline.neck_depth"):
        pipe.generate(mesh=trimesh.creation.box(), options=GenerationOptions(seed=0, num_steps=2, progress=False))


def test_ground_truth_cell_labels_follow_the_part_solids():
    """Two boxes side by side, fused into one volume: each cell goes to the box its centre lies in."""
    left = trimesh.creation.box(extents=(0.8, 0.6, 0.6)).apply_translation((-0.4, 0, 0))
    right = trimesh.creation.box(extents=(0.8, 0.6, 0.6)).apply_translation((0.4, 0, 0))
    knob = trimesh.creation.box(extents=(0.2, 0.2, 0.2)).apply_translation((0.5, 0.0, 0.0))  # inside `right`
    fused = trimesh.boolean.union([left, right], engine="manifold")
    grid = 32
    inside = partition.input_volume(fused.vertices, fused.faces, grid)
    labels = partition.labels_from_parts([m.triangles for m in (left, right, knob)], inside)
    assert ((labels >= 0) == inside).all()
    centres = partition.cell_centres(np.argwhere(inside), grid)
    got = labels[inside]
    in_knob = np.all(np.abs(centres - (0.5, 0, 0)) < 0.1, axis=1)
    expected = np.where(in_knob, 2, np.where(centres[:, 0] < 0, 0, 1))
    assert (got == expected).all()


def test_anchored_training_history_is_the_surface_of_the_earlier_parts(tmp_path):
    """Prep with history="anchored": the whole cloud covers the fused object, prefix 1 only part 0's side."""
    from autopartgen.config import load_config
    from autopartgen.train.prep import anchored_clouds, prep_settings

    low = trimesh.creation.box(extents=(1.2, 0.5, 1.2)).apply_translation((0, -0.35, 0))
    high = trimesh.creation.box(extents=(1.2, 0.5, 1.2)).apply_translation((0, 0.15, 0))
    top = trimesh.creation.box(extents=(0.6, 0.3, 0.6)).apply_translation((0, 0.55, 0))
    meshes = [(np.asarray(m.vertices), np.asarray(m.faces)) for m in (low, high, top)]
    settings = prep_settings(load_config("tiny"), "anchored")
    whole, prefixes = anchored_clouds(meshes, "boxes", np.random.default_rng(0), settings)
    assert whole.shape == (settings["point_cloud_size"], 6) and prefixes.shape == (2,) + whole.shape
    cell = 2 / 64
    # The whole: the fused input's surface spans all three boxes.
    assert whole[:, 1].min() < -0.55 and whole[:, 1].max() > 0.65
    # Prefix 1 = the region part 0 holds: below the seam at y = -0.1 (up to a cell), with its cut on top.
    first = prefixes[0].astype(np.float32)
    assert first[:, 1].max() < -0.1 + 1.5 * cell
    seam = np.abs(first[:, 1] - (-0.1)) < 1.5 * cell
    assert seam.mean() > 0.1 and (first[seam & (np.abs(first[:, 4]) > 0.9), 4] > 0).all()  # cut normals point up
    # Prefix 2 = parts 0 and 1: everything below y = 0.4, no inner faces at the first seam.
    second = prefixes[1].astype(np.float32)
    assert second[:, 1].max() < 0.4 + 1.5 * cell
    inner = (np.abs(second[:, 1] - (-0.1)) < 0.5 * cell) & (np.abs(second[:, 0]) < 0.5) & (np.abs(second[:, 2]) < 0.5)
    assert inner.sum() == 0



def test_remainder_training_history_is_the_surface_of_the_later_parts():
    """Prep with history="remainder": prefix k is what parts k..K-1 hold, above the seams, cut normals down."""
    from autopartgen.config import load_config
    from autopartgen.train.prep import anchored_clouds, prep_settings

    low = trimesh.creation.box(extents=(1.2, 0.5, 1.2)).apply_translation((0, -0.35, 0))
    high = trimesh.creation.box(extents=(1.2, 0.5, 1.2)).apply_translation((0, 0.15, 0))
    top = trimesh.creation.box(extents=(0.6, 0.3, 0.6)).apply_translation((0, 0.55, 0))
    meshes = [(np.asarray(m.vertices), np.asarray(m.faces)) for m in (low, high, top)]
    settings = prep_settings(load_config("tiny"), "remainder")
    whole, prefixes = anchored_clouds(meshes, "boxes", np.random.default_rng(0), settings, remainder=True)
    assert prefixes.shape == (2,) + whole.shape
    cell = 2 / 64
    # Remainder after part 0: the two upper boxes, from the seam at y = -0.1 up, the cut facing down.
    first = prefixes[0].astype(np.float32)
    assert first[:, 1].min() > -0.1 - 1.5 * cell and first[:, 1].max() > 0.65
    seam = np.abs(first[:, 1] - (-0.1)) < 1.5 * cell
    assert seam.mean() > 0.1 and (first[seam & (np.abs(first[:, 4]) > 0.9), 4] < 0).all()
    # Remainder after parts 0 and 1: the top box alone.
    second = prefixes[1].astype(np.float32)
    assert second[:, 1].min() > 0.4 - 1.5 * cell and np.abs(second[:, [0, 2]]).max() < 0.3 + 1.5 * cell
    # Held and remainder regions of one grid are complementary: together they are the input's inside cells.
    labels = np.full((8, 8, 8), partition.OUTSIDE, np.int32)
    labels[2:6, 2:6, 2:6] = partition.UNCLAIMED
    labels[2:4, 2:6, 2:6] = 0
    rest = partition.remainder_labels(labels)
    assert ((rest >= 0) == (labels == partition.UNCLAIMED)).all()
    assert ((rest == partition.OUTSIDE) == (labels == partition.OUTSIDE)).all()
    assert not (partition.remainder_labels(np.where(labels == partition.UNCLAIMED, 1, labels)) >= 0).any()


def test_remainder_histories_show_the_dit_the_unclaimed_rest(ball_pipe, monkeypatch):
    """pipeline.history_region: remainder: the first history is the encoded input itself, the next ones the
    surface of what the accepted balls leave unclaimed."""
    pipe, calls = ball_pipe
    monkeypatch.setitem(pipe.config.pipeline, "history_region", "remainder")
    geometries, clouds = [], []
    sample_part = pipe.sample_part
    encode_cloud = pipe.encode_cloud

    def recording_sample_part(image_condition, dummy, geometry, *args, **kwargs):
        geometries.append(geometry.clone())
        return sample_part(image_condition, dummy, geometry, *args, **kwargs)

    def recording_encode_cloud(cloud, *args, **kwargs):
        clouds.append(np.array(cloud))
        return encode_cloud(cloud, *args, **kwargs)

    monkeypatch.setattr(pipe, "sample_part", recording_sample_part)
    monkeypatch.setattr(pipe, "encode_cloud", recording_encode_cloud)
    mesh = trimesh.creation.box(extents=(1.8, 0.5, 0.5))  # thin: the first ball holds its whole left end
    result = pipe.generate(mesh=mesh, options=GenerationOptions(seed=0, num_steps=2, progress=False))
    assert len(result.parts) >= 2
    assert torch.equal(geometries[0][:, 0], geometries[0][:, 1])  # before any part: the whole is what is left
    # clouds: the input, then the history after part 0 (the ball at x = -0.6 claimed the left end)
    after_first = clouds[1]
    assert (after_first[:, 0] < -0.5).mean() < 0.1 and after_first[:, 0].mean() > 0.2
    assert after_first[:, 0].max() > 0.9
    assert not torch.equal(geometries[1][:, 1], geometries[0][:, 1])


def test_unknown_history_region_is_a_config_error(pipe, monkeypatch):
    from autopartgen.errors import ConfigError

    monkeypatch.setitem(pipe.config.pipeline, "history_region", "future")
    with pytest.raises(ConfigError, match="history_region"):
        pipe.generate(mesh=trimesh.creation.box(), options=GenerationOptions(seed=0, num_steps=2, progress=False))


def test_remainder_histories_of_generated_parts_take_them_from_the_decoded_whole(ball_pipe, monkeypatch):
    """Generated parts (image modes, --parts generated) with history_region: remainder: the decoded whole is
    the solid the accepted parts' fields claim, and the history is what they leave of it."""
    pipe, _ = ball_pipe
    monkeypatch.setitem(pipe.config.pipeline, "history_region", "remainder")

    def decode_mesh(latent, grid_size, options):
        if torch.all(latent[:, 3:] == 1.0):  # a ball latent (see ball_latent)
            mesh = trimesh.creation.icosphere(subdivisions=2, radius=BALL_RADIUS)
            mesh.apply_translation(latent[0, :3].numpy().astype(np.float64))
        else:  # the whole: a thin bar along x, in the normalised frame
            mesh = trimesh.creation.box(extents=(1.9, 0.5, 0.5))
        return mesh, ExtractionStats(grid_size, 0)

    clouds = []
    encode_cloud = pipe.encode_cloud

    def recording_encode_cloud(cloud, *args, **kwargs):
        clouds.append(np.array(cloud))
        return encode_cloud(cloud, *args, **kwargs)

    monkeypatch.setattr(pipe, "decode_mesh", decode_mesh)
    monkeypatch.setattr(pipe, "encode_cloud", recording_encode_cloud)
    result = pipe.generate(mesh=trimesh.creation.box(extents=(2.0, 1.0, 1.0)),
                           options=GenerationOptions(seed=0, num_steps=2, progress=False, parts="generated"))
    assert len(result.parts) >= 2
    after_first, after_second = clouds[1], clouds[2]  # clouds[0]: the input
    assert (after_first[:, 0] < -0.5).mean() < 0.1 and after_first[:, 0].max() > 0.9
    # after the balls at x = -0.6 and x = +0.6, what is left is the middle of the bar
    assert np.abs(after_second[:, 0]).max() < 0.3


def test_a_skin_cut_off_the_surface_is_a_sliver_and_a_solid_part_is_not():
    """A region boundary running a hair inside a face of the input cuts a skin off it: closed, but with no
    thickness to speak of (2 x volume / area); the part beneath and any open part are not slivers."""
    import manifold3d  # noqa: F401 (the cut's boolean engine)

    cube = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    skin_region = trimesh.creation.box(bounds=((-1.0, -1.0, 0.499), (1.0, 1.0, 1.0)))
    rest_region = trimesh.creation.box(bounds=((-1.0, -1.0, -1.0), (1.0, 1.0, 0.499)))
    skin, rest = partition.cut_by_regions(cube.vertices, cube.faces, [(skin_region.vertices, skin_region.faces),
                                                                      (rest_region.vertices, rest_region.faces)])
    assert skin.closed and rest.closed and len(skin.faces) > 0
    cell = 2.0 / 64
    assert partition.is_sliver(skin, cell) and not partition.is_sliver(rest, cell)
    assert not partition.is_sliver(skin, cell, min_thickness=0.03)  # 0.001 thick is 0.032 cells
    open_skin = partition.CutPart(skin.vertices, skin.faces[:-1], None, skin.cut_faces[:-1], closed=False)
    assert not partition.is_sliver(open_skin, cell)


def test_dropped_parts_give_their_cells_to_their_neighbours():
    labels = np.full((10, 10, 10), partition.OUTSIDE, np.int32)
    labels[1:9, 1:9, 1:5] = 0
    labels[1:9, 1:9, 5:8] = 1
    labels[1:9, 1:9, 8] = 2  # a one-cell layer on top of part 1
    kept_labels, kept = partition.drop_parts(labels, [2])
    assert kept == [0, 1]
    assert (kept_labels[1:9, 1:9, 8] == 1).all() and (kept_labels[labels == 0] == 0).all()
    assert ((kept_labels >= 0) == (labels >= 0)).all()
    kept_labels, kept = partition.drop_parts(labels, [0])  # renumbered in order
    assert kept == [1, 2] and (kept_labels[1:9, 1:9, 1:8] == 0).all() and (kept_labels[1:9, 1:9, 8] == 1).all()
