"""Over-segment and merge (geometry/regions.py, models/region_merger.py, train/region_merger.py) and the
anchored loop's use of the merger: checked on voxel shapes whose answer is known and against independent
counts (partition.contact_faces, brute-force hull volumes). The ground-truth cell labels the training reads
are partition.labels_from_parts, tested in test_anchored.py."""

import argparse
import json
import shutil

import numpy as np
import pytest
from scipy import ndimage
import torch
import trimesh

from autopartgen.errors import CheckpointError, ConfigError
from autopartgen.geometry import partition, regions
from autopartgen.models.region_merger import RegionMerger
from autopartgen.pipeline import AutoPartGen, GenerationOptions
from autopartgen.train.region_merger import fit_region_merger
from tests.test_anchored import pipe, voxel_dumbbell  # noqa: F401 (fixture)

FEATURE = {name: i for i, name in enumerate(regions.FEATURE_NAMES)}


def dumbbell_graph():
    inside, left, right = voxel_dumbbell()
    depth = regions.depth_field(inside)
    segments = regions.basin_segments(inside, depth, min_distance=3)
    return inside, left, right, segments, regions.RegionGraph.from_segments(segments, depth)


def halves(inside):
    """(n, n, n) int truth for the dumbbell: the left half 0, the right half 1, -1 outside."""
    return np.where(inside, np.where(np.arange(inside.shape[0])[:, None, None] < 20, 0, 1), -1)


def test_basins_cover_the_solid_and_keep_each_lobe_apart():
    inside, left, right, segments, graph = dumbbell_graph()
    assert (segments[~inside] == -1).all() and (segments[inside] >= 0).all()
    assert len(graph.alive) == int(segments.max()) + 1 >= 2
    # No basin holds cells of both cubes' cores (the bar between them is 2 cells thick).
    left_core, right_core = set(np.unique(segments[5:13, 16:24, 16:24])), set(np.unique(segments[27:35, 16:24, 16:24]))
    assert not left_core & right_core
    assert regions.depth_field(inside)[9, 20, 20] == pytest.approx(5.0)


def test_touching_pairs_count_the_shared_faces():
    inside, _, _, segments, graph = dumbbell_graph()
    for (a, b), faces in graph.contact.items():
        assert a < b and faces == partition.contact_faces(segments == a, segments == b)
    pairs = {(a, b) for a in range(segments.max() + 1) for b in range(a + 1, segments.max() + 1)
             if partition.contact_faces(segments == a, segments == b) > 0}
    assert pairs == set(graph.contact)


def test_merging_adds_up_sizes_and_contacts():
    inside, _, _, segments, graph = dumbbell_graph()
    (a, b), _ = max(graph.contact.items(), key=lambda item: item[1])
    size = graph.size[a] + graph.size[b]
    expected = {}
    for (x, y) in graph.contact:  # contacts of the union, counted afresh on the grid
        for other in (x, y):
            if other not in (a, b) and {x, y} & {a, b}:
                expected[(min(a, other), max(a, other))] = partition.contact_faces(
                    (segments == a) | (segments == b), segments == other)
    graph.merge(a, b)
    assert b not in graph.alive and graph.size[a] == size
    for key, faces in expected.items():
        assert graph.contact[key] == faces
    assert all(b not in pair for pair in graph.contact)
    grid = graph.label_grid(inside.shape)
    assert (grid[inside] >= 0).all() and (grid[~inside] == -1).all()
    assert int(grid.max()) + 1 == len(graph.alive)


def test_pair_features_are_symmetric_and_read_sizes_and_contacts():
    inside, _, _, segments, graph = dumbbell_graph()
    for a, b in graph.contact:
        features = graph.features(a, b)
        assert np.allclose(features, graph.features(b, a))
        assert np.isfinite(features).all() and len(features) == regions.NUM_FEATURES
        # Recounted on the grid: the smaller region's log share and its contact over size^(2/3).
        small, large = sorted((int((segments == a).sum()), int((segments == b).sum())))
        faces = partition.contact_faces(segments == a, segments == b)
        assert features[FEATURE["log_share_small"]] == pytest.approx(np.log(small / inside.sum()))
        assert features[FEATURE["log_share_large"]] == pytest.approx(np.log(large / inside.sum()))
        assert features[FEATURE["contact_small"]] == pytest.approx(np.log(faces / small ** (2 / 3)))


def turned_box_with_door(yaw_degrees: float):
    """A 40^3 grid: a 24 x 24 x 16-cell box turned by ``yaw_degrees`` about the grid's first axis, with a
    3-cell door on one side face covering its lower two thirds (a strip of the face stays visible above
    it). Returns (inside, door) bool grids."""
    index = np.indices((40, 40, 40)).reshape(3, -1).T + 0.5 - 20.0
    turn = np.radians(yaw_degrees)
    # box frame: u along the first axis (not turned), v and w turned in the plane of the other two
    u = index[:, 0]
    v = np.cos(turn) * index[:, 1] + np.sin(turn) * index[:, 2]
    w = -np.sin(turn) * index[:, 1] + np.cos(turn) * index[:, 2]
    body = (np.abs(u) < 12) & (np.abs(v) < 12) & (np.abs(w) < 8)
    door = (u > -12) & (u < 4) & (np.abs(v) < 11) & (w >= 8) & (w < 11)
    return (body | door).reshape(40, 40, 40), door.reshape(40, 40, 40)


@pytest.mark.parametrize("yaw", [0.0, 27.0])
def test_face_planes_find_the_faces_of_a_turned_box(yaw):
    inside, _ = turned_box_with_door(yaw)
    planes = regions.face_planes(inside, min_cells=40)
    turn = np.radians(yaw)
    expected = [np.array([sign, 0.0, 0.0]) for sign in (1, -1)]
    expected += [sign * np.array([0.0, np.cos(turn), np.sin(turn)]) for sign in (1, -1)]
    expected += [sign * np.array([0.0, -np.sin(turn), np.cos(turn)]) for sign in (1, -1)]
    for normal in expected:  # each face of the box (outward normal) is found
        assert max(float(plane[:3] @ normal) for plane in planes) > 0.97
    assert np.allclose(np.linalg.norm(planes[:, :3], axis=1), 1.0)


@pytest.mark.parametrize("yaw", [0.0, 27.0])
def test_face_cuts_separate_a_flush_door_from_its_body(yaw):
    """The door adds no neck, so the basins mix it with the body; the plane of the body's visible face
    strip cuts it off: every region is then nearly all door or nearly all body."""
    inside, door = turned_box_with_door(yaw)
    depth = regions.depth_field(inside)
    basins, none = regions.over_segment(inside, depth, 4, face_cuts=False)
    assert none is None
    share = lambda segments, r: door[segments == r].mean()  # noqa: E731
    assert any(0.02 < share(basins, r) < 0.98 for r in range(basins.max() + 1))
    segments, sides = regions.over_segment(inside, depth, 4, face_cuts=True)
    assert (segments[inside] >= 0).all() and (segments[~inside] == -1).all()
    door_regions = [r for r in range(segments.max() + 1) if share(segments, r) > 0.5]
    assert door_regions
    for r in range(segments.max() + 1):
        assert share(segments, r) < 0.1 or share(segments, r) > 0.9
    assert np.isin(segments[door], door_regions).mean() > 0.65  # cells within the margin of a turned face stay behind


def test_face_cut_pieces_are_connected_and_not_small():
    inside, _ = turned_box_with_door(27.0)
    depth = regions.depth_field(inside)
    segments, _ = regions.over_segment(inside, depth, 3, face_cuts=True)
    sizes = np.bincount(segments[inside])
    assert (sizes >= 20).all() and len(sizes) == int(segments.max()) + 1
    for r in range(len(sizes)):
        assert ndimage.label(segments == r)[1] == 1


def test_crossing_faces_are_counted_and_added_up_on_merges():
    inside, _ = turned_box_with_door(0.0)
    depth = regions.depth_field(inside)
    segments, sides = regions.over_segment(inside, depth, 3, face_cuts=True)
    graph = regions.RegionGraph.from_segments(segments, depth, sides)

    def recount(grid, a, b):  # faces between regions a and b whose two cells differ in side code
        total = 0
        for axis in range(3):
            x, y = np.moveaxis(grid, axis, 0), np.moveaxis(sides, axis, 0)
            pair = ((x[:-1] == a) & (x[1:] == b)) | ((x[:-1] == b) & (x[1:] == a))
            total += int((pair & (y[:-1] != y[1:])).sum())
        return total

    assert any(graph.crossing.values())
    for (a, b), crossing in graph.crossing.items():
        assert crossing == recount(segments, a, b)
        assert graph.features(a, b)[FEATURE["plane_share"]] == pytest.approx(crossing / graph.contact[(a, b)])
    (a, b), _ = max(graph.crossing.items(), key=lambda item: item[1])
    graph.merge(a, b)
    merged = np.where(segments == b, a, segments)
    for (x, y), crossing in graph.crossing.items():
        assert crossing == recount(merged, x, y)
    assert not any(regions.RegionGraph.from_segments(segments, depth).crossing.values())


def test_solidity_is_one_for_a_box_and_less_for_an_l_shape():
    box = np.argwhere(np.ones((4, 5, 6), bool))
    assert regions.shape_stats(box)[0] == pytest.approx(1.0)
    l_shape = np.zeros((6, 6, 2), bool)
    l_shape[:6, :2] = True
    l_shape[:2, :6] = True
    cells = np.argwhere(l_shape)
    # Hull of the L's corners: the 6x6 square minus the triangle cut off at the inner corner (area 8).
    assert regions.shape_stats(cells)[0] == pytest.approx(len(cells) / ((36 - 8) * 2))


def test_a_merger_fitted_on_true_merges_recovers_the_parts():
    """Fitted on the oracle walks of the dumbbell cut into halves, the merger merges its basins back into
    the halves: each of the two regions left holds one half's cells (IoU > 0.9)."""
    inside, _, _, _, graph = dumbbell_graph()
    truth = halves(inside)
    examples = [regions.oracle_pairs(dumbbell_graph()[-1], truth, np.random.default_rng(seed)) for seed in range(8)]
    merger = fit_region_merger(np.concatenate([f for f, _ in examples]), np.concatenate([l for _, l in examples]),
                               epochs=300, batch_size=256)
    regions.merge_regions(graph, merger.probability, threshold=0.5)
    grid = graph.label_grid(inside.shape)
    assert int(grid.max()) + 1 == 2
    for label in range(2):
        region = grid == label
        best = max(((region & (truth == half)).sum() / (region | (truth == half)).sum()) for half in range(2))
        assert best > 0.9


def test_part_limit_and_small_regions_force_merges():
    inside, _, _, segments, graph = dumbbell_graph()
    never = lambda features: np.zeros(len(features))  # noqa: E731
    regions.merge_regions(graph, never, threshold=0.5, max_regions=1)
    assert len(graph.alive) == 1
    _, _, _, segments, graph = dumbbell_graph()
    smallest = float(graph.size.min())
    regions.merge_regions(graph, never, threshold=0.5, min_cells=smallest + 1)
    assert graph.size[list(graph.alive)].min() >= smallest + 1


def test_oracle_pairs_label_pairs_by_the_true_parts():
    inside, left, right, segments, graph = dumbbell_graph()
    truth = halves(inside)
    part_of = {r: int(np.bincount(truth[segments == r]).argmax()) for r in graph.alive}
    initial = {pair: float(part_of[pair[0]] == part_of[pair[1]]) for pair in graph.contact}
    features, labels = regions.oracle_pairs(graph, truth, np.random.default_rng(0), record_share=0.0)
    assert len(labels) == len(initial) and sorted(labels) == sorted(initial.values())
    assert 0 < labels.mean() < 1 and features.shape == (len(labels), regions.NUM_FEATURES)
    # The walk merged every same-part pair: two regions remain, one per half.
    assert len(graph.alive) == 2


def test_the_merger_walk_records_its_own_states_with_true_labels():
    """A scorer that always merges walks down to one region, recording the pairs of every state it passes
    (each labelled by the regions' plurality halves, so pairs across the halves are 0); one that never
    merges records exactly the first state's pairs, labelled as the oracle labels them."""
    inside, _, _, segments, graph = dumbbell_graph()
    truth = halves(inside)
    initial = regions.oracle_pairs(dumbbell_graph()[-1], truth, np.random.default_rng(0), record_share=0.0)
    features, labels = regions.merger_walk_pairs(graph, truth, lambda f: np.zeros(len(f)))
    assert len(graph.alive) == int(segments.max()) + 1  # nothing merged
    order = lambda f: np.lexsort(f.T)  # noqa: E731  (compare as sets of rows)
    assert np.allclose(features[order(features)], initial[0][order(initial[0])])
    assert np.array_equal(labels[order(features)], initial[1][order(initial[0])])
    _, _, _, _, graph = dumbbell_graph()
    features, labels = regions.merger_walk_pairs(graph, truth, lambda f: np.ones(len(f)))
    assert len(graph.alive) == 1 and len(labels) > len(initial[1])
    assert 0 < labels.mean() < 1  # the walk crossed the halves and recorded that as "not one part"


def test_fitting_learns_a_separable_rule_and_standardises_inside_the_model():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, regions.NUM_FEATURES)) * 5 + 3
    labels = (features[:, 2] > 3).astype(float)
    model = fit_region_merger(features, labels, epochs=300, batch_size=128)
    assert torch.allclose(model.feature_mean, torch.tensor(features.mean(0), dtype=torch.float32), atol=1e-4)
    assert ((model.probability(features) > 0.5) == (labels > 0.5)).mean() > 0.97


def test_a_saved_merger_loads_strictly_with_its_model(pipe, tmp_path):  # noqa: F811
    model = AutoPartGen.from_config(pipe.config, device="cpu", seed=0)
    model.region_merger = RegionMerger(width=16)  # a width other than the default: the config records it
    torch.nn.init.normal_(model.region_merger.mlp[0].weight)
    model.save_pretrained(tmp_path / "m")
    loaded = AutoPartGen.from_pretrained(tmp_path / "m", device="cpu")
    assert loaded.config.pipeline["region_merger"] == "region_merger.safetensors"
    assert loaded.config.pipeline["region_merger_width"] == 16 and loaded.region_merger.width == 16
    features = np.random.default_rng(1).normal(size=(5, regions.NUM_FEATURES))
    assert np.allclose(loaded.region_merger.probability(features), model.region_merger.probability(features))
    from autopartgen.checkpoints import save_safetensors
    save_safetensors(RegionMerger(width=8).state_dict(), tmp_path / "m" / "region_merger.safetensors")
    with pytest.raises(CheckpointError, match="region merger"):
        AutoPartGen.from_pretrained(tmp_path / "m", device="cpu")
    (tmp_path / "m" / "region_merger.safetensors").unlink()
    with pytest.raises(CheckpointError, match="region merger is missing"):
        AutoPartGen.from_pretrained(tmp_path / "m", device="cpu")


def constant_merger(logit: float) -> RegionMerger:
    merger = RegionMerger()
    with torch.no_grad():
        for parameter in merger.mlp.parameters():
            parameter.zero_()
        merger.mlp[-1].bias.fill_(logit)
    return merger


def dumbbell_mesh():
    heads = [trimesh.creation.box(extents=(0.8, 0.8, 0.8)).apply_translation((x, 0, 0)) for x in (-1.0, 1.0)]
    bar = trimesh.creation.cylinder(radius=0.1, height=2.0, sections=16)
    bar.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (0, 1, 0)))
    return heads[0].union(heads[1]).union(bar)


@pytest.mark.parametrize("logit", [-10.0, 10.0])
def test_the_anchored_loop_cuts_the_merged_regions(pipe, monkeypatch, logit):  # noqa: F811
    """The model stops at once (one claimed part). A merger that never merges leaves the basins as parts
    (more than one, at most max_parts, tiling the input); one that always merges leaves one part."""
    monkeypatch.setattr(pipe, "sample_part", lambda *a, **k: torch.zeros(pipe.dit.num_latents, pipe.dit.in_channels))
    monkeypatch.setattr(pipe, "region_merger", constant_merger(logit))
    mesh = dumbbell_mesh()
    result = pipe.generate(mesh=mesh, options=GenerationOptions(progress=False, max_parts=6))
    inside, claims = result.anchor_claims
    assert (claims[inside] == 0).all()  # the claims before merging: the one part
    if logit > 0:
        assert len(result.parts) == 1
    else:
        assert 2 <= len(result.parts) <= 6
        assert sum(p.latent.numel() > 0 for p in result.parts) <= 1  # only the claimed part has a latent
    # A basin too thin to keep any triangle after the cut is dropped with its few cells.
    assert sum(part.volume_share for part in result.parts) == pytest.approx(1.0, abs=1e-3)
    assert sum(part.mesh.volume for part in result.parts) == pytest.approx(mesh.volume, rel=1e-3)
    off = pipe.generate(mesh=mesh, options=GenerationOptions(progress=False, max_parts=6, merge_regions=False))
    assert len(off.parts) == 1


class MergeAllButSlabsOnFaces:
    """A stand-in merger: joins every pair except a thin region on a thick one across an interface that
    a face plane crosses (the plane of the door's top cuts the box too; those two pieces rejoin)."""

    def probability(self, features: np.ndarray) -> np.ndarray:
        slab = (features[:, FEATURE["plane_share"]] > 0.5) & (features[:, FEATURE["thickness_ratio"]] < 0.5)
        return (~slab).astype(float)


def test_face_cuts_in_the_anchored_loop_give_a_flush_door_its_own_part(pipe, monkeypatch):  # noqa: F811
    """A box with a door flush on its front, fused into one surface: with the config's face_cuts the
    loop cuts the door off along the plane of the box's visible front strip; without, nothing separates it."""
    import manifold3d  # noqa: F401 (trimesh's boolean engine)

    body = trimesh.creation.box(extents=(1.6, 1.6, 1.0))
    door = trimesh.creation.box(extents=(1.6, 1.0, 0.16)).apply_translation((0.0, -0.3, 0.58))  # flush below
    mesh = trimesh.boolean.union([body, door], engine="manifold")
    assert len(mesh.split(only_watertight=False)) == 1
    monkeypatch.setattr(pipe, "sample_part", lambda *a, **k: torch.zeros(pipe.dit.num_latents, pipe.dit.in_channels))
    monkeypatch.setattr(pipe, "region_merger", MergeAllButSlabsOnFaces())
    monkeypatch.setitem(pipe.config.pipeline, "face_cuts", True)
    result = pipe.generate(mesh=mesh, options=GenerationOptions(progress=False, max_parts=6))
    # A part of the door lies wholly in front of the box's face (z = 0.5). (The voxel staircase of the
    # door's edges can add a tilted plane that leaves a slice of the door to the box: the stand-in is no
    # learned merger.)
    in_front = [part for part in result.parts if part.mesh.bounds[0][2] > 0.45 and part.volume_share > 0.01]
    assert len(in_front) == 1 and in_front[0].mesh.volume > 0.3 * door.volume
    # The box's extreme faces lie exactly on cell boundaries of the anchor grid, where a region can cut a
    # skin off the surface: such slivers rejoin their neighbours (every part at least a quarter cell thick
    # on average; a cell is 2 / 64 of the normalised frame, where the box's half-width 0.8 becomes 1).
    cell = 2.0 / 64 * 0.8
    assert all(2 * part.mesh.volume / part.mesh.area > 0.25 * cell for part in result.parts)
    assert sum(part.mesh.volume for part in result.parts) == pytest.approx(mesh.volume, rel=1e-3)
    monkeypatch.setitem(pipe.config.pipeline, "face_cuts", False)
    assert len(pipe.generate(mesh=mesh, options=GenerationOptions(progress=False, max_parts=6)).parts) == 1


def test_every_inside_cell_gets_a_basin_even_on_islands_without_a_peak():
    inside = np.zeros((20, 20, 20), bool)
    inside[2:12, 2:12, 2:12] = True
    inside[15, 15, 15] = True  # one stray cell, within min_distance of no deeper cell but its own
    inside[17:19, 17, 17] = True
    segments = regions.basin_segments(inside, regions.depth_field(inside), min_distance=8)
    assert (segments[inside] >= 0).all() and (segments[~inside] == -1).all()
    assert len({segments[15, 15, 15], segments[17, 17, 17], segments[5, 5, 5]}) == 3


def test_small_separate_pieces_join_the_region_nearest_to_them():
    """Two boxes and three specks: each speck smaller than min_cells takes the region of its nearest
    cell in a larger piece; a separate piece of min_cells or more keeps its own region; the labels stay
    0..R-1 with every inside cell labelled."""
    inside = np.zeros((30, 30, 30), bool)
    inside[2:12, 2:12, 2:12] = True  # box A
    inside[16:26, 2:12, 2:12] = True  # box B, apart from A
    inside[13, 5, 5] = True  # a speck in the gap, nearer A (x = 11) than B (x = 16)
    inside[15, 8, 8] = True  # a speck one cell from B
    inside[5, 20:22, 5] = True  # a 2-cell speck off A's side
    inside[20:23, 20:23, 20:23] = True  # a 27-cell piece: kept
    segments = regions.basin_segments(inside, regions.depth_field(inside), min_distance=8)
    joined = regions.join_small_pieces(segments, inside, min_cells=8)
    assert (joined[inside] >= 0).all() and (joined[~inside] == -1).all()
    assert set(np.unique(joined[inside])) == set(range(int(joined.max()) + 1))
    assert joined[13, 5, 5] == joined[11, 5, 5] and joined[15, 8, 8] == joined[16, 8, 8]
    assert joined[5, 20, 5] == joined[5, 21, 5] == joined[5, 11, 5]
    assert joined[21, 21, 21] not in {joined[5, 5, 5], joined[20, 5, 5]}
    # independent count: the regions left are those of the pieces of min_cells or more
    pieces, _ = ndimage.label(inside)
    big = [k for k in range(1, pieces.max() + 1) if (pieces == k).sum() >= 8]
    assert int(joined.max()) + 1 == len(np.unique(segments[np.isin(pieces, big)]))
    # nothing to join: unchanged
    assert np.array_equal(regions.join_small_pieces(segments, inside, min_cells=1), segments)


def test_specks_of_a_mesh_input_are_no_parts_of_their_own(pipe, monkeypatch):  # noqa: F811
    """A dumbbell with a ring of tiny separate cubes around it (thin details that fall apart on the
    anchor grid): a merger that never merges leaves the dumbbell's basins as parts, and no part is made
    of specks alone."""
    specks = [trimesh.creation.box(extents=(0.04, 0.04, 0.04)).apply_translation((x, 0.3, 0.3))
              for x in np.linspace(-0.45, 0.45, 5)]  # inside the dumbbell's box: the same normalisation
    body = dumbbell_mesh()
    mesh = trimesh.util.concatenate([body, *specks])
    monkeypatch.setattr(pipe, "sample_part", lambda *a, **k: torch.zeros(pipe.dit.num_latents, pipe.dit.in_channels))
    monkeypatch.setattr(pipe, "region_merger", constant_merger(-10.0))
    options = GenerationOptions(progress=False, max_parts=12, keep_components=False)
    result = pipe.generate(mesh=mesh, options=options)
    pieces, _ = ndimage.label(result.anchor_claims[0])
    assert (np.bincount(pieces.ravel())[1:] < 8).sum() >= 5  # the specks are on the grid, each under 8 cells
    without = pipe.generate(mesh=body, options=options)
    assert len(result.parts) == len(without.parts) >= 2
    assert all(part.mesh.volume > 10 * specks[0].volume for part in result.parts)


def test_members_fit_with_their_own_seeds_and_pack_into_one_merger_of_their_mean_logit(tmp_path):
    """--members 3: three fits with seeds 5, 6, 7 (each what a one-member fit with that seed gives), packed
    into one merger of three times the width whose logit is their mean."""
    rng = np.random.default_rng(1)
    features = rng.normal(size=(600, regions.NUM_FEATURES))
    labels = (features[:, 0] + 0.5 * features[:, 3] > 0).astype(float)
    singles = [fit_region_merger(features, labels, epochs=3, width=8, seed=seed) for seed in (5, 6, 7)]
    packed = fit_region_merger(features, labels, epochs=3, width=8, seed=5, members=3)
    assert packed.width == 24 and packed.num_features == regions.NUM_FEATURES
    x = torch.as_tensor(features, dtype=torch.float32)
    with torch.no_grad():
        mean_logit = torch.stack([single(x) for single in singles]).mean(0)
        assert torch.allclose(packed(x), mean_logit, atol=1e-5)
        assert not torch.allclose(singles[0](x), singles[1](x), atol=1e-3)  # the seeds differ
    block = packed.mlp[2].weight.detach()
    assert (block[:8, 8:] == 0).all() and (block[8:16, :8] == 0).all()  # a member's units see only its own


def test_offsets_take_the_union_of_every_nth_object():
    from autopartgen.train.cli import _offsets
    from autopartgen.train.region_merger import select_objects

    names = [f"object_{i}" for i in range(10)]
    assert select_objects(names, 3, _offsets("0")) == names[0::3]
    assert select_objects(names, 3, _offsets("0,1")) == [n for i, n in enumerate(names) if i % 3 != 2]
    assert select_objects(names, 1, _offsets("4")) == names[4:]  # one offset: as list[offset::every]
    with pytest.raises(argparse.ArgumentTypeError, match="0,1"):
        _offsets("0;1")


def test_train_region_merger_writes_a_model_folder_and_reuses_its_examples(pipe, tmp_path, monkeypatch,  # noqa: F811
                                                                           capsys):
    from autopartgen.cli import main
    from autopartgen.data.dataset import generate_and_write

    for seed in range(2):
        generate_and_write(tmp_path / "data", seed, n_views=1, size=64, resolution=24)
    monkeypatch.setitem(pipe.config.pipeline, "face_cuts", True)
    pipe.save_pretrained(tmp_path / "base")
    args = ["train", "region-merger", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
            "--weights", str(tmp_path / "base"), "--epochs", "5", "--rounds", "2", "--width", "8"]
    assert main(args) == 0
    rounds = [sorted((tmp_path / "run" / "pairs" / f"round{r}").glob("*.npz")) for r in range(2)]
    assert [len(caches) for caches in rounds] == [2, 2]
    features = np.concatenate([np.load(c)["features"] for caches in rounds for c in caches])
    labels = np.concatenate([np.load(c)["labels"] for caches in rounds for c in caches])
    assert features.shape[1] == regions.NUM_FEATURES and len(labels) > 0 and set(np.unique(labels)) <= {0.0, 1.0}
    loaded = AutoPartGen.from_pretrained(tmp_path / "run" / "model", device="cpu")
    # The saved merger is the fit of both rounds' cached examples (same seed and epochs: the same weights).
    refit = fit_region_merger(features, labels, epochs=5, width=8)
    assert loaded.region_merger.width == 8
    assert np.allclose(loaded.region_merger.probability(features), refit.probability(features), atol=1e-6)
    # A second run reads the cached examples instead of computing them again.
    stamps = [c.stat().st_mtime_ns for caches in rounds for c in caches]
    assert main(args) == 0
    assert [c.stat().st_mtime_ns for caches in rounds for c in caches] == stamps
    # A model folder that over-segments otherwise cannot reuse them: a clear error, the cache untouched.
    monkeypatch.setitem(pipe.config.pipeline, "face_cuts", False)
    pipe.save_pretrained(tmp_path / "base")
    assert main(args) != 0
    assert "face_cuts" in capsys.readouterr().err
    assert [c.stat().st_mtime_ns for caches in rounds for c in caches] == stamps
    # With the caches deleted, as the error says, the folder takes the new settings.
    shutil.rmtree(tmp_path / "run" / "solids")
    shutil.rmtree(tmp_path / "run" / "pairs")
    assert main(args) == 0
    assert json.loads((tmp_path / "run" / "examples.json").read_text())["face_cuts"] is False


def test_train_region_merger_on_an_empty_folder_says_so(tmp_path, capsys):
    from autopartgen.cli import main

    (tmp_path / "empty").mkdir()
    code = main(["train", "region-merger", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "run")])
    assert code != 0 and not (tmp_path / "run").exists()
    assert "holds no objects" in capsys.readouterr().err


def test_train_region_merger_without_any_example_says_so(pipe, tmp_path, capsys, monkeypatch):  # noqa: F811
    from autopartgen.cli import main
    from autopartgen.data.dataset import generate_and_write
    from autopartgen.train import region_merger

    generate_and_write(tmp_path / "data", 0, n_views=1, size=64, resolution=24)
    pipe.save_pretrained(tmp_path / "base")
    monkeypatch.setattr(region_merger, "solid_examples",
                        lambda *a, **k: (np.zeros((0, regions.NUM_FEATURES)), np.zeros(0)))
    code = main(["train", "region-merger", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
                 "--weights", str(tmp_path / "base")])
    assert code != 0 and not (tmp_path / "run" / "model").exists()
    assert "gave region-merger examples" in capsys.readouterr().err


def test_below_the_claimed_count_a_merge_needs_more_confidence():
    _, _, _, _, graph = dumbbell_graph()
    assert len(graph.alive) > 2
    fairly_sure = lambda features: np.full(len(features), 0.7)  # noqa: E731
    regions.merge_regions(graph, fairly_sure, threshold=0.5, floor=2, threshold_below_floor=0.9)
    assert len(graph.alive) == 2
    regions.merge_regions(graph, fairly_sure, threshold=0.5, floor=2, threshold_below_floor=0.6)
    assert len(graph.alive) == 1


def post_on_plate():
    """A post standing on a plate, fused into one surface (the concave crease runs around the post's
    foot, 0.5 to the right of the middle), and the post and plate as separate boxes."""
    import manifold3d  # noqa: F401 (trimesh's boolean engine)

    plate = trimesh.creation.box(extents=(1.6, 0.3, 1.0))
    post = trimesh.creation.box(extents=(0.3, 0.8, 0.3)).apply_translation((0.5, 0.5, 0.0))
    return trimesh.boolean.union([plate, post], engine="manifold"), plate, post


def test_surface_turns_put_the_concave_turn_at_the_foot_of_a_post():
    """A box turns only convexly; a post fused onto a plate turns concavely only along its foot. Unblurred,
    the length channel adds up to the mesh's edge length (an independent sum)."""
    box = trimesh.creation.box(extents=(1.2, 0.8, 1.0))
    inside = partition.input_volume(np.asarray(box.vertices), np.asarray(box.faces), 32)
    turns = regions.surface_turns(np.asarray(box.vertices), np.asarray(box.faces), inside, sigma=0.0)
    assert turns[0].sum() == pytest.approx(0.0, abs=1e-9) and turns[1].sum() > 0
    assert turns[2].sum() == pytest.approx(box.edges_unique_length.sum(), rel=1e-9)
    assert (turns[:, ~inside] == 0).all()

    mesh, plate, post = post_on_plate()
    inside = partition.input_volume(np.asarray(mesh.vertices), np.asarray(mesh.faces), 32)
    turns = regions.surface_turns(np.asarray(mesh.vertices), np.asarray(mesh.faces), inside, sigma=0.0)
    concave = np.argwhere(turns[0] > 0)
    assert len(concave) and turns[0].sum() == pytest.approx(4 * 0.3 * np.pi / 2, rel=1e-6)  # 4 edges x 0.3 x 90 deg
    centres = partition.cell_centres(concave, 32)
    foot = (np.abs(centres[:, 0] - 0.5) < 0.15 + 0.07) & (np.abs(centres[:, 2]) < 0.15 + 0.07) \
        & (np.abs(centres[:, 1] - 0.15) < 0.07)  # within a cell (2 / 32) of the foot's outline
    assert foot.all()
    blurred = regions.surface_turns(np.asarray(mesh.vertices), np.asarray(mesh.faces), inside)
    assert blurred[0].sum() <= turns[0].sum() + 1e-9 and blurred[0].sum() > 0.5 * turns[0].sum()


def test_a_concave_crease_along_an_interface_keeps_two_regions_apart():
    """Regions of the post-on-plate solid: the post, and the plate cut in two away from the post. A score
    that would merge everything merges the plate's halves but, with the crease rule, not the post onto
    the plate (its interface runs along the crease at its foot); without the rule, all is one."""
    mesh, _, _ = post_on_plate()
    inside = partition.input_volume(np.asarray(mesh.vertices), np.asarray(mesh.faces), 32)
    centres = partition.cell_centres(np.indices(inside.shape).reshape(3, -1).T, 32).reshape(32, 32, 32, 3)
    segments = np.where(centres[..., 1] > 0.15, 0, np.where(centres[..., 0] < -0.3, 1, 2))
    segments = np.where(inside, segments, -1).astype(np.int32)
    depth = regions.depth_field(inside)
    turns = regions.surface_turns(np.asarray(mesh.vertices), np.asarray(mesh.faces), inside)
    graph = regions.RegionGraph.from_segments(segments, depth, turns=turns)
    assert set(graph.contact) == {(0, 2), (1, 2)}
    assert graph.crease(0, 2) > 0.1 and graph.crease(1, 2) < 0.01
    sure = lambda features: np.full(len(features), 0.9)  # noqa: E731
    regions.merge_regions(graph, sure, threshold=0.6, crease=(0.05, 0.5))
    assert graph.alive == {0, 1} and set(graph.contact) == {(0, 1)}  # the plate's halves are one, the post apart
    assert graph.crease(0, 1) > 0.1  # the merged interface still runs along the foot (sums add up)
    again = regions.RegionGraph.from_segments(segments, depth, turns=turns)
    assert len(regions.merge_regions(again, sure, threshold=0.6).alive) == 1


def test_the_anchored_loop_keeps_a_post_apart_from_its_plate_along_the_crease(pipe, monkeypatch):  # noqa: F811
    """With the config's crease_turn, a merger that merges everything still leaves the post apart from the
    plate (a part whose volume is the post's); without, one part; a crease_turn out of range is refused."""
    from autopartgen.errors import ConfigError

    mesh, plate, post = post_on_plate()
    monkeypatch.setattr(pipe, "sample_part", lambda *a, **k: torch.zeros(pipe.dit.num_latents, pipe.dit.in_channels))
    monkeypatch.setattr(pipe, "region_merger", constant_merger(4.0))
    options = GenerationOptions(progress=False, max_parts=6)
    assert len(pipe.generate(mesh=mesh, options=options).parts) == 1
    monkeypatch.setitem(pipe.config.pipeline, "crease_turn", 0.05)
    monkeypatch.setitem(pipe.config.pipeline, "crease_factor", 0.0)
    result = pipe.generate(mesh=mesh, options=options)
    # The post above the plate is a part of its own (merges across interfaces near its foot are refused
    # too, so the plate may come in pieces); the parts still add up to the input.
    posts = [part for part in result.parts if part.mesh.bounds[0][1] > 0.1]
    assert len(result.parts) >= 2 and len(posts) == 1
    assert posts[0].mesh.volume == pytest.approx(0.3 * 0.3 * (0.9 - 0.15), rel=0.15)
    assert sum(part.mesh.volume for part in result.parts) == pytest.approx(mesh.volume, rel=1e-3)
    monkeypatch.setitem(pipe.config.pipeline, "crease_turn", -1.0)
    with pytest.raises(ConfigError, match="crease_turn"):
        pipe.generate(mesh=mesh, options=options)


def test_crease_features_follow_the_shape_features_and_a_shape_only_merger_ignores_them():
    """With turns, each pair's features are the shape features then the crease features (the net turn is
    RegionGraph.crease; the logs read the concave and convex sums); a merger of the shape features alone
    scores the longer rows as it scores their first columns."""
    mesh, _, _ = post_on_plate()
    inside = partition.input_volume(np.asarray(mesh.vertices), np.asarray(mesh.faces), 32)
    depth = regions.depth_field(inside)
    segments = regions.basin_segments(inside, depth, min_distance=3)
    turns = regions.surface_turns(np.asarray(mesh.vertices), np.asarray(mesh.faces), inside)
    plain = regions.RegionGraph.from_segments(segments, depth)
    graph = regions.RegionGraph.from_segments(segments, depth, turns=turns)
    assert plain.num_features == regions.NUM_FEATURES
    assert graph.num_features == regions.NUM_FEATURES + len(regions.CREASE_FEATURE_NAMES) == 21
    for pair in graph.contact:
        row = graph.features(*pair)
        assert np.allclose(row[:regions.NUM_FEATURES], plain.features(*pair))
        concave, convex, length = graph.turns[pair]
        length = max(length, 1e-9)  # no surface near the interface: no turn
        assert row[regions.NUM_FEATURES] == pytest.approx((concave - convex) / length if length > 1e-9 else 0.0)
        assert np.exp(row[-2]) - 1e-3 == pytest.approx(concave / length, rel=1e-6, abs=1e-9)
        assert np.exp(row[-1]) - 1e-3 == pytest.approx(convex / length, rel=1e-6, abs=1e-9)
    rows = np.random.default_rng(2).normal(size=(6, graph.num_features))
    shape_only = RegionMerger(regions.NUM_FEATURES, 8)
    assert np.allclose(shape_only.probability(rows), shape_only.probability(rows[:, :regions.NUM_FEATURES]))


def test_train_region_merger_with_creases_saves_a_merger_the_pipeline_loads(pipe, tmp_path):  # noqa: F811
    """--creases: the examples hold the crease features too, the saved config says so, the model folder
    loads with a merger of that width, and its examples folder refuses a run without the option."""
    from autopartgen.cli import main
    from autopartgen.data.dataset import generate_and_write

    generate_and_write(tmp_path / "data", 0, n_views=1, size=64, resolution=24)
    pipe.save_pretrained(tmp_path / "base")
    args = ["train", "region-merger", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
            "--weights", str(tmp_path / "base"), "--epochs", "2", "--width", "8"]
    assert main(args + ["--creases"]) == 0
    features = np.load(next((tmp_path / "run" / "pairs" / "round0").glob("*.npz")))["features"]
    assert features.shape[1] == regions.NUM_FEATURES + len(regions.CREASE_FEATURE_NAMES)
    loaded = AutoPartGen.from_pretrained(tmp_path / "run" / "model", device="cpu")
    assert loaded.region_merger.num_features == features.shape[1]
    assert loaded.config.pipeline["region_merger_features"] == features.shape[1]
    assert main(args) != 0  # the cached examples were made with the crease features


def test_an_input_is_cut_into_max_input_parts_while_the_dit_proposes_max_parts(pipe, monkeypatch):  # noqa: F811
    """Config max_parts 1: the DiT samples one position and the never-merging merger's basins are forced
    into one part. max_input_parts 6 lets the input keep 2-6 of them while the DiT samples exactly as
    before; --max-parts caps both."""
    calls = []

    def one_part(*args, **kwargs):
        calls.append(1)
        return torch.zeros(pipe.dit.num_latents, pipe.dit.in_channels)

    monkeypatch.setattr(pipe, "sample_part", one_part)
    monkeypatch.setattr(pipe, "region_merger", constant_merger(-10.0))
    monkeypatch.setitem(pipe.config.pipeline, "max_parts", 1)
    mesh = dumbbell_mesh()
    counts = {}
    for max_input_parts, max_parts in ((None, None), (6, None), (6, 2)):
        if max_input_parts is not None:
            monkeypatch.setitem(pipe.config.pipeline, "max_input_parts", max_input_parts)
        calls.clear()
        result = pipe.generate(mesh=mesh, options=GenerationOptions(progress=False, max_parts=max_parts))
        counts[(max_input_parts, max_parts)] = (len(result.parts), len(calls))
        assert sum(part.mesh.volume for part in result.parts) == pytest.approx(mesh.volume, rel=1e-3)
    assert counts[(None, None)][0] == 1
    assert 2 <= counts[(6, None)][0] <= 6 and counts[(6, None)][1] == counts[(None, None)][1]
    assert counts[(6, 2)][0] == 2


def test_surface_sharpness_is_the_length_weighted_mean_dihedral_angle():
    cube = trimesh.creation.box(extents=(1.0, 1.0, 1.0))  # 12 edges at 90 degrees, 6 face diagonals flat
    expected = 12 * (np.pi / 2) / (12 + 6 * np.sqrt(2))
    assert regions.surface_sharpness(cube.vertices, cube.faces) == pytest.approx(expected, rel=1e-6)
    big = cube.copy().apply_scale(7.0)
    assert regions.surface_sharpness(big.vertices, big.faces) == pytest.approx(expected, rel=1e-6)  # scale-free
    sphere = trimesh.creation.icosphere(subdivisions=4)
    assert regions.surface_sharpness(sphere.vertices, sphere.faces) < 0.1 < expected  # smooth reads low
    assert regions.surface_sharpness(np.zeros((3, 3)), np.array([[0, 1, 2]])) == 0.0  # no shared edge


def test_a_sharp_input_merges_above_its_own_threshold_into_up_to_its_own_part_count(pipe, monkeypatch):  # noqa: F811
    """A merger scoring every pair 0.75 joins the dumbbell's basins into the one part the DiT claims
    (above the 0.6 threshold). Marked sharp (its boxes' edges turn well above 0.05 rad on average), the
    input merges only above 0.9: no pair qualifies and the cap of 6 parts decides; --max-parts caps it."""
    monkeypatch.setattr(pipe, "sample_part", lambda *a, **k: torch.zeros(pipe.dit.num_latents, pipe.dit.in_channels))
    monkeypatch.setattr(pipe, "region_merger", constant_merger(float(np.log(3.0))))  # probability 0.75
    monkeypatch.setitem(pipe.config.pipeline, "max_parts", 1)
    monkeypatch.setitem(pipe.config.pipeline, "merge_threshold", 0.6)
    monkeypatch.setitem(pipe.config.pipeline, "merge_threshold_below_claims", 0.8)
    mesh = dumbbell_mesh()
    assert regions.surface_sharpness(mesh.vertices, mesh.faces) > 0.05

    def count(turn, max_parts=None):
        if turn is not None:
            monkeypatch.setitem(pipe.config.pipeline, "sharp_input_turn", turn)
            monkeypatch.setitem(pipe.config.pipeline, "sharp_merge_threshold", 0.9)
            monkeypatch.setitem(pipe.config.pipeline, "sharp_max_input_parts", 6)
        result = pipe.generate(mesh=mesh, options=GenerationOptions(progress=False, max_parts=max_parts))
        assert sum(part.mesh.volume for part in result.parts) == pytest.approx(mesh.volume, rel=1e-3)
        return len(result.parts)

    assert count(None) == 1
    assert count(10.0) == 1  # smoother than the bar: merged as any input
    assert count(0.05) == 6
    assert count(0.05, max_parts=2) == 2
    monkeypatch.setitem(pipe.config.pipeline, "sharp_merge_threshold", 1.5)
    with pytest.raises(ConfigError, match="sharp_merge_threshold"):
        pipe.generate(mesh=mesh, options=GenerationOptions(progress=False))


def test_object_features_of_a_cube_and_a_plate_count_their_layers():
    """A 10-cell cube on a 32^3 grid: its outer layer (488 of 1,000 cells) lies 1 cell from the surface,
    the next (296) 2 cells, so the median depth is 2; a plate 2 cells thick is all thin wall."""
    cube = np.zeros((32, 32, 32), bool)
    cube[5:15, 5:15, 5:15] = True
    features = regions.object_features(regions.depth_field(cube), cube)
    assert len(features) == len(regions.OBJECT_FEATURE_NAMES) == 3
    assert features == pytest.approx([np.log(1000 / 32 ** 3), 488 / 1000, np.log(2.0)])
    plate = np.zeros((32, 32, 32), bool)
    plate[4:28, 4:28, 10:12] = True
    features = regions.object_features(regions.depth_field(plate), plate)
    assert features == pytest.approx([np.log(24 * 24 * 2 / 32 ** 3), 1.0, 0.0])
    assert regions.object_features(regions.depth_field(cube & False), cube & False) == pytest.approx([0, 0, 0])


def test_object_features_follow_the_crease_features_the_same_for_every_pair():
    """With a context, each pair's row is its 21 shape and crease features, then the solid's object features;
    a merger of 21 features scores the longer rows as their first columns; no context without turns."""
    mesh, _, _ = post_on_plate()
    inside = partition.input_volume(np.asarray(mesh.vertices), np.asarray(mesh.faces), 32)
    depth = regions.depth_field(inside)
    segments = regions.basin_segments(inside, depth, min_distance=3)
    turns = regions.surface_turns(np.asarray(mesh.vertices), np.asarray(mesh.faces), inside)
    creases = regions.RegionGraph.from_segments(segments, depth, turns=turns)
    graph = regions.RegionGraph.from_segments(segments, depth, turns=turns, context=True)
    assert graph.num_features == 24
    expected = regions.object_features(depth, inside)
    for pair in graph.contact:
        row = graph.features(*pair)
        assert np.allclose(row[:21], creases.features(*pair)) and np.allclose(row[21:], expected)
    rows = np.random.default_rng(3).normal(size=(5, 24))
    with_creases = RegionMerger(21, 8)
    assert not with_creases.reads_object_features and RegionMerger(24, 8).reads_object_features
    assert with_creases.reads_crease_features and not RegionMerger(regions.NUM_FEATURES, 8).reads_crease_features
    assert np.allclose(with_creases.probability(rows), with_creases.probability(rows[:, :21]))
    with pytest.raises(ValueError, match="turns"):
        regions.RegionGraph.from_segments(segments, depth, context=True)


def test_the_anchored_loop_gives_a_context_merger_the_object_features(pipe, monkeypatch):  # noqa: F811
    """A merger trained with the object features gets rows of 24 whose last three are the input solid's
    object features (read off the loop's own anchor grid); a 21-feature merger gets rows of 21."""
    seen = []

    class Recording(RegionMerger):
        def probability(self, features):
            seen.append(np.array(features))
            return np.zeros(len(features))

    monkeypatch.setattr(pipe, "sample_part", lambda *a, **k: torch.zeros(pipe.dit.num_latents, pipe.dit.in_channels))
    mesh = dumbbell_mesh()
    for width in (21, 24):
        seen.clear()
        monkeypatch.setattr(pipe, "region_merger", Recording(width, 8))
        result = pipe.generate(mesh=mesh, options=GenerationOptions(progress=False, max_parts=6))
        rows = np.concatenate(seen)
        assert rows.shape[1] == width and len(result.parts) >= 2
        if width == 24:
            inside = result.anchor_claims[0]
            assert np.allclose(rows[:, 21:], regions.object_features(regions.depth_field(inside), inside))


def test_train_region_merger_with_context_writes_the_object_features_of_each_solid(pipe, tmp_path):  # noqa: F811
    """--context adds the cached solid's object features to each of its pairs and the model folder reads
    them; without --creases it is refused in one line."""
    from autopartgen.cli import main
    from autopartgen.data.dataset import generate_and_write

    generate_and_write(tmp_path / "data", 0, n_views=1, size=64, resolution=24)
    pipe.save_pretrained(tmp_path / "base")
    args = ["train", "region-merger", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
            "--weights", str(tmp_path / "base"), "--epochs", "2", "--width", "8", "--context"]
    assert main(args) != 0  # no --creases
    assert main(args + ["--creases"]) == 0
    for pairs in (tmp_path / "run" / "pairs" / "round0").glob("*.npz"):
        features = np.load(pairs)["features"]
        inside = np.load(tmp_path / "run" / "solids" / pairs.name)["inside"]
        assert features.shape[1] == 24
        assert np.allclose(features[:, 21:], regions.object_features(regions.depth_field(inside), inside))
    loaded = AutoPartGen.from_pretrained(tmp_path / "run" / "model", device="cpu")
    assert loaded.region_merger.reads_object_features


def rod_under_slab(n: int = 40):
    """(n, n, n) inside of a slab 24 x 10 x 24 cells (y 20..29) standing on a round rod of radius 2.5 cells
    (y 4..19, under the slab's centre), and the truth: 0 slab, 1 rod, -1 outside."""
    x, y, z = np.meshgrid(*(np.arange(n),) * 3, indexing="ij")
    slab = (x >= 8) & (x < 32) & (y >= 20) & (y < 30) & (z >= 8) & (z < 32)
    rod = ((x - 19.5) ** 2 + (z - 19.5) ** 2 <= 2.5 ** 2) & (y >= 4) & (y < 20)
    return slab | rod, np.where(slab, 0, np.where(rod, 1, -1))


def test_local_thickness_is_the_largest_inscribed_ball_holding_each_cell():
    """Against a brute force over every ball centre: cell x has radius r when some cell c with depth(c) >= r
    lies within r of x (the largest such r of THICKNESS_RADII)."""
    inside, truth = rod_under_slab(40)
    inside = inside[4:36, :32, 4:36]  # 32^3, the rod's foot at the grid border (outside by the padding)
    depth = regions.depth_field(inside)
    thickness = regions.local_thickness(inside, depth)
    cells = np.argwhere(inside)
    expected = np.zeros(len(cells))
    for radius in regions.THICKNESS_RADII:
        centres = np.argwhere(depth >= radius)
        if not len(centres):
            break
        for start in range(0, len(cells), 512):
            block = cells[start:start + 512]
            near = ((block[:, None, :] - centres[None]) ** 2).sum(-1).min(1) <= radius ** 2
            expected[start:start + 512][near] = radius
    assert np.array_equal(thickness[inside], expected)
    assert (thickness[~inside] == 0).all()
    assert thickness[15, 8, 15] <= 2.5 < thickness[15, 24, 15]  # the rod's own radius; the slab is thicker


def test_reclaimed_thin_ends_give_a_rods_stub_back_from_the_slab_it_meets():
    """The basins give the slab the top of the rod (depth rises into the slab); with the basins grouped
    by their true parts the rod misses that stub, and reclaiming thin ends returns it, no slab cell moves."""
    inside, truth = rod_under_slab()
    segments, depth, _ = regions.initial_regions(inside, 4, False, 8)
    counts = np.zeros((int(segments.max()) + 1, 2), np.int64)
    np.add.at(counts, (segments[inside], truth[inside]), 1)
    grouped = np.where(inside, counts.argmax(1)[np.maximum(segments, 0)], -1)
    rod, slab = truth == 1, truth == 0

    def rod_iou(labels):
        return (rod & (labels == 1)).sum() / (rod | (labels == 1)).sum()

    assert rod_iou(grouped) < 0.8  # the basins' stub: the rod's top 3-4 layers of 16 went to the slab
    reclaimed = regions.reclaim_thin_ends(grouped, regions.local_thickness(inside, depth))
    assert rod_iou(reclaimed) >= 15 / 16  # all but the layer the slab's largest ball touches
    assert (reclaimed[slab] == 0).all() and (reclaimed[~inside] == -1).all()
    # The rule reaches at most `reach` rod radii: with reach 0.5 (1 layer of a 2-cell rod) only one comes back.
    short = regions.reclaim_thin_ends(grouped, regions.local_thickness(inside, depth), reach=0.5)
    assert rod_iou(grouped) < rod_iou(short) < rod_iou(reclaimed)


def test_regions_of_equal_thickness_keep_their_boundary_and_none_disappears():
    """Two rods of one radius meeting in an L, split off-centre: neither is thinner than 1.5x the other,
    so nothing moves; a thin rod reaching deep into a thick slab stops at the slab's own thick cells."""
    n = 32
    x, y, z = np.meshgrid(*(np.arange(n),) * 3, indexing="ij")
    upright = ((x - 8) ** 2 + (z - 16) ** 2 <= 6.25) & (y >= 4) & (y < 28)
    arm = ((y - 25) ** 2 + (z - 16) ** 2 <= 6.25) & (x >= 8) & (x < 28)
    inside = upright | arm
    labels = np.where(inside, np.where(y < 22, 0, 1), -1)
    depth = regions.depth_field(inside)
    assert np.array_equal(regions.reclaim_thin_ends(labels, regions.local_thickness(inside, depth)), labels)
    slab_inside, truth = rod_under_slab()
    everything_slab = np.where(slab_inside, np.where(truth == 1, 1, 0), -1)
    everything_slab[(truth == 1) & (np.arange(40)[None, :, None] >= 10)] = 0  # the slab holds 2/3 of the rod
    reclaimed = regions.reclaim_thin_ends(everything_slab, regions.local_thickness(slab_inside, regions.depth_field(slab_inside)))
    assert set(np.unique(reclaimed[slab_inside])) == {0, 1}
    assert (reclaimed[truth == 0] == 0).all()  # the slab's cells are thicker than 1.25 rod radii


def test_by_decreasing_size_renumbers_largest_first():
    labels = np.full((4, 4, 4), -1)
    labels[0] = 2  # 16 cells
    labels[1, :2] = 0  # 8 cells
    labels[2, :2] = 1  # 8 cells (ties keep their order)
    labels[3, 0, 0] = 3  # 1 cell
    result = regions.by_decreasing_size(labels)
    assert result.dtype == np.int32
    assert np.array_equal(np.array([0, 1, 2, 3])[np.array([1, 2, 0, 3])][labels[labels >= 0]],
                          result[labels >= 0]) and (result[labels < 0] == -1).all()


def test_thin_end_settings_come_from_the_config_and_are_checked(pipe, monkeypatch):  # noqa: F811
    from autopartgen.part_loop import thin_ends_setting

    assert thin_ends_setting(pipe) is None  # absent: merged regions keep the basins' boundaries
    monkeypatch.setitem(pipe.config.pipeline, "thin_end_ratio", 1.5)
    assert thin_ends_setting(pipe) == regions.ThinEnds(1.5, 2.0, first=False)
    monkeypatch.setitem(pipe.config.pipeline, "thin_end_reach", 3)
    assert thin_ends_setting(pipe) == regions.ThinEnds(1.5, 3.0, first=False)
    monkeypatch.setitem(pipe.config.pipeline, "thin_ends_first", True)
    assert thin_ends_setting(pipe).first
    for ratio in (0.5, "wide"):
        monkeypatch.setitem(pipe.config.pipeline, "thin_end_ratio", ratio)
        with pytest.raises(ConfigError, match="thin_end_ratio"):
            thin_ends_setting(pipe)


class MergeEqualThickness:
    """A stand-in merger: joins two regions of about one thickness (a rod's basins, a slab's), never a
    thin region and a thick one."""

    def probability(self, features: np.ndarray) -> np.ndarray:
        return (features[:, FEATURE["thickness_ratio"]] > 0.7).astype(float)


def test_the_anchored_loop_gives_a_rod_its_end_back_from_the_block_it_meets(pipe, monkeypatch):  # noqa: F811
    """A block on a rod, fused into one surface, merged into the two of them: the rod's part stops short of
    the block (its top in the block's basin) unless the config reclaims thin ends, and then its volume
    is the rod's below the block to within two cell layers."""
    monkeypatch.setattr(pipe, "sample_part", lambda *a, **k: torch.zeros(pipe.dit.num_latents, pipe.dit.in_channels))
    monkeypatch.setattr(pipe, "region_merger", MergeEqualThickness())
    slab = trimesh.creation.box(extents=(1.2, 1.0, 1.2)).apply_translation((0, 0.7, 0))
    rod = trimesh.creation.cylinder(radius=0.1, height=1.4, sections=32)
    rod.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (1, 0, 0))).apply_translation((0, -0.4, 0))
    mesh = slab.union(rod)
    rod_below = rod.volume * (1.3 / 1.4)  # the rod from y = -1.1 to the slab's underside at y = 0.2

    def rod_part_volume(thin_end_ratio):
        if thin_end_ratio is not None:
            monkeypatch.setitem(pipe.config.pipeline, "thin_end_ratio", thin_end_ratio)
        result = pipe.generate(mesh=mesh, options=GenerationOptions(progress=False, max_parts=6))
        assert len(result.parts) == 2
        assert sum(part.mesh.volume for part in result.parts) == pytest.approx(mesh.volume, rel=1e-3)
        return min(part.mesh.volume for part in result.parts)

    before, after = rod_part_volume(None), rod_part_volume(1.5)
    assert before < 0.9 * rod_below  # the basins leave the rod's top 10-15 % with the block
    assert 0.95 * rod_below < after < 1.02 * rod_below  # within 2 cell layers of the block's underside


def test_thin_ends_first_merges_from_starting_regions_with_the_ends_reclaimed():
    """With thin_ends_first the merger scores the pairs of the reclaimed starting regions (the rod's
    basins reaching the slab), and the merged regions are those reclaimed once more; without it, the
    pairs of the basins as they are."""
    inside, truth = rod_under_slab()
    start = regions.initial_regions(inside, 4, False, 8)
    thickness = regions.local_thickness(inside, start[1])
    reclaimed = regions.reclaimed_start(start, thickness, regions.ThinEnds(1.5, 2.0))
    assert not np.array_equal(reclaimed[0], start[0]) and reclaimed[1] is start[1]
    assert np.array_equal(np.unique(reclaimed[0]), np.unique(start[0]))  # no starting region disappears
    seen = []

    def never(features):
        seen.append(features)
        return np.zeros(len(features))

    for first, regions_scored in ((True, reclaimed), (False, start)):
        seen.clear()
        merged = regions.merged_regions(inside, never, 4, False, 0.5, None, 8, thin_ends=regions.ThinEnds(1.5, 2.0, first))
        graph = regions.RegionGraph.from_segments(*regions_scored)
        expected = np.stack([graph.features(*pair) for pair in graph.contact])
        assert np.allclose(seen[0], expected)
        again = regions.by_decreasing_size(regions.reclaim_thin_ends(regions_scored[0], thickness, 1.5, 2.0))
        assert np.array_equal(merged, again)  # nothing merged: the starting regions, reclaimed after the merge
        given = regions.merged_regions(inside, never, 4, False, 0.5, None, 8, thin_ends=regions.ThinEnds(1.5, 2.0, first),
                                       thickness=thickness)
        assert np.array_equal(given, merged)  # a caller's precomputed thickness is the one computed inside
        uniform = regions.merged_regions(inside, never, 4, False, 0.5, None, 8, thin_ends=regions.ThinEnds(1.5, 2.0),
                                         thickness=np.where(inside, 3.0, 0.0))
        assert np.array_equal(uniform, regions.by_decreasing_size(start[0]))  # and it is used: one thickness, no end moves


def test_interfaces_go_to_the_smaller_region_against_a_brute_force():
    """Smallest region first, every cell of a region at least ``ratio`` x larger within ``layers`` (Euclidean,
    cell centres) of the region's own cells moves to it, each cell once: checked by pairwise distances."""
    rng = np.random.default_rng(3)
    inside = ndimage.gaussian_filter(rng.random((18, 18, 18)), 2) > 0.5
    seeds, _ = ndimage.label(rng.random(inside.shape) < 0.004)
    from skimage.segmentation import watershed

    labels = np.where(inside, watershed(np.zeros(inside.shape), seeds, mask=inside) - 1, -1)
    labels = regions.by_decreasing_size(labels)  # no empty region
    for layers, ratio in ((1.0, 2.0), (1.5, 1.2)):
        expected, moved = labels.copy(), set()
        sizes = np.bincount(labels[labels >= 0])
        for region in np.argsort(sizes, kind="stable"):
            own = np.argwhere(labels == region)
            for cell in np.argwhere((labels >= 0) & (labels != region)):
                if (tuple(cell) not in moved and sizes[labels[tuple(cell)]] >= ratio * sizes[region]
                        and np.min(np.linalg.norm(own - cell, axis=1)) <= layers):
                    expected[tuple(cell)] = region
                    moved.add(tuple(cell))
        result = regions.give_interfaces_to_smaller(labels, layers, ratio)
        assert moved and np.array_equal(result, expected)


def test_a_rod_takes_one_layer_of_the_slab_it_meets_and_equal_regions_keep_their_boundary():
    inside, truth = rod_under_slab()
    result = regions.give_interfaces_to_smaller(truth, layers=1.0, ratio=2.0)
    rod_top = (truth == 1) & (np.arange(40)[None, :, None] == 19)
    gained = (result == 1) & (truth == 0)
    assert gained.sum() == rod_top.sum()  # the slab's cells right above the rod's top face, nothing else
    assert np.array_equal(np.argwhere(gained)[:, [0, 2]], np.argwhere(rod_top)[:, [0, 2]])
    assert (np.argwhere(gained)[:, 1] == 20).all()
    assert not ((result == 0) & (truth == 1)).any() and np.array_equal(result < 0, truth < 0)
    x = np.arange(40)[:, None, None]
    slab_halves = np.where(truth == 0, (x >= 20).astype(int) + np.zeros_like(truth), -1)  # 12 x 10 x 24 each
    assert np.array_equal(regions.give_interfaces_to_smaller(slab_halves, 1.0, 2.0), slab_halves)
    assert not np.array_equal(regions.give_interfaces_to_smaller(slab_halves, 1.0, 1.0), slab_halves)


def test_merged_regions_move_interfaces_to_the_smaller_region_last():
    inside, _ = rod_under_slab()
    rule, side = regions.ThinEnds(1.5, 2.0), regions.SmallerSide(1.0, 2.0)
    never = lambda features: np.zeros(len(features))  # noqa: E731
    reclaimed = regions.merged_regions(inside, never, 4, False, 0.5, None, 8, thin_ends=rule)
    both = regions.merged_regions(inside, never, 4, False, 0.5, None, 8, thin_ends=rule, smaller_side=side)
    expected = regions.by_decreasing_size(regions.give_interfaces_to_smaller(reclaimed, 1.0, 2.0))
    assert not np.array_equal(both, reclaimed) and np.array_equal(both, expected)


def test_smaller_side_settings_come_from_the_config_and_are_checked(pipe, monkeypatch):  # noqa: F811
    from autopartgen.part_loop import smaller_side_setting

    assert smaller_side_setting(pipe) is None  # absent: interfaces stay where the merge left them
    monkeypatch.setitem(pipe.config.pipeline, "smaller_side_layers", 1)
    assert smaller_side_setting(pipe) == regions.SmallerSide(1.0, 2.0)
    monkeypatch.setitem(pipe.config.pipeline, "smaller_side_ratio", 3)
    assert smaller_side_setting(pipe) == regions.SmallerSide(1.0, 3.0)
    for layers in (0, 5, "one"):
        monkeypatch.setitem(pipe.config.pipeline, "smaller_side_layers", layers)
        with pytest.raises(ConfigError, match="smaller_side_layers"):
            smaller_side_setting(pipe)


def test_merger_training_walks_start_from_reclaimed_regions_when_the_pipeline_does():
    """With ``thin_ends_first`` (as the config's ``thin_ends_first`` makes the pipeline merge from the reclaimed
    basins), the training walk's first rows are the pairs of the reclaimed basins; without it, of the basins
    as they are (the two differ on a rod under a slab: the rod's basin reaches the slab only when reclaimed)."""
    from autopartgen.train.region_merger import solid_examples

    inside, truth = rod_under_slab()
    depth = regions.depth_field(inside)
    basins = regions.basin_segments(inside, depth, 4)
    reclaimed = regions.by_decreasing_size(regions.reclaim_thin_ends(basins, regions.local_thickness(inside, depth),
                                                                     1.5, 2.0))
    assert not np.array_equal(reclaimed, basins)
    for setting, segments in ((regions.ThinEnds(1.5, 2.0, first=True), reclaimed), (None, basins)):
        features, labels = solid_examples(inside, truth, 4, seed=0, thin_ends_first=setting)
        graph = regions.RegionGraph.from_segments(segments, depth)
        expected = np.stack([graph.features(*pair) for pair in graph.contact])
        assert np.allclose(features[:len(expected)], expected)  # every starting pair, recorded first
        parts = {r: regions.plurality_part(graph, r, truth) for r in graph.alive}
        assert np.array_equal(labels[:len(expected)], [float(parts[a] == parts[b]) for a, b in graph.contact])
