"""Tests of the procedural part generator (autopartgen.data.procedural).

The default run checks 2 seeds per v1 category and 1 per later category on a coarse grid. The full quality sweep of the
issue (500 seeds across all categories, at the default grid and with out-of-distribution draws) runs
with ``AUTOPARTGEN_SLOW=1 pytest tests/test_procedural.py`` (several minutes on 2 cores).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import trimesh

from autopartgen.data import procedural as P

SLOW = os.environ.get("AUTOPARTGEN_SLOW") == "1"

ISSUE_CATEGORIES = [
    "chair", "table", "stool", "bench", "bookshelf", "cabinet", "bed", "sofa", "desk_lamp", "floor_lamp",
    "mug", "bottle", "teapot", "vase_with_flowers", "bucket", "car", "truck", "airplane", "rocket", "boat",
    "bicycle", "humanoid_toy", "robot", "snowman", "mushroom", "tree", "cactus", "windmill", "hammer",
    "screwdriver", "axe",
]


def test_categories_cover_the_issue():
    assert len(P.CATEGORIES) >= 20
    assert set(ISSUE_CATEGORIES) <= set(P.CATEGORIES)


def _check_object(obj: P.PartObject) -> list[str]:
    """Every quality bar of the issue for one object; returns the violations."""
    bad = []
    n = len(obj.parts)
    if not P.MIN_PARTS <= n <= P.MAX_PARTS:
        bad.append(f"{n} parts")
    allv = np.concatenate([p.mesh.vertices for p in obj.parts])
    if abs(np.abs(allv).max() - 1.0) > 1e-9:
        bad.append(f"not normalised: {np.abs(allv).max()}")
    lows = [(round(float(p.mesh.vertices[:, 1].min()), 4), round(float(p.mesh.vertices[:, 0].min()), 4))
            for p in obj.parts]
    if lows != sorted(lows):
        bad.append("not in canonical order")
    for k, part in enumerate(obj.parts):
        mesh = part.mesh
        if not part.name or len(mesh.faces) < 4:
            bad.append(f"part {k} empty")
            continue
        if not mesh.is_watertight or not mesh.is_winding_consistent:
            bad.append(f"part {k} ({part.name}) not watertight")
        if mesh.volume <= 0:
            bad.append(f"part {k} ({part.name}) inside out or flat")
        if (mesh.area_faces <= 0).any():
            bad.append(f"part {k} ({part.name}) has zero-area faces")
        err = np.abs(part.sdf(mesh.vertices)).max()
        if err > 0.5 * part.cell:
            bad.append(f"part {k} ({part.name}) surface {err / part.cell:.2f} cells off its SDF zero")
        for j, other in enumerate(obj.parts):
            if j != k and np.all(other.sdf(mesh.vertices) < 0):
                bad.append(f"part {k} ({part.name}) fully inside part {j} ({other.name})")
    return bad


# v1 categories: 2 seeds each; later corpora: 1 seed each (their structure is tested in test_procedural_v2.py)
FAST_CASES = [(c, s) for c in P.CATEGORIES for s in ((11, 12) if c in P.V1_CATEGORIES else (11,))]


@pytest.mark.parametrize("category,seed", FAST_CASES)
def test_objects_meet_quality_bars(category, seed):
    obj = P.build_object(category, seed, resolution=28)
    assert obj.category == category and obj.seed == seed
    assert _check_object(obj) == []


@pytest.mark.skipif(not SLOW, reason="500-seed sweep: set AUTOPARTGEN_SLOW=1")
def test_500_seed_sweep_default_grid():
    failures = []
    for seed in range(500):
        ood = seed % 5 == 4  # one in five drawn out of distribution
        obj = P.generate_object(seed, resolution=64, ood=ood)
        failures += [f"{obj.category} {seed}: {b}" for b in _check_object(obj)]
    assert failures == []


def test_same_seed_same_object_and_different_seeds_differ():
    a = P.build_object("chair", 123, resolution=24)
    b = P.build_object("chair", 123, resolution=24)
    c = P.build_object("chair", 124, resolution=24)
    assert [p.name for p in a.parts] == [p.name for p in b.parts]
    for pa, pb in zip(a.parts, b.parts):
        np.testing.assert_array_equal(pa.mesh.vertices, pb.mesh.vertices)
        np.testing.assert_array_equal(pa.mesh.faces, pb.mesh.faces)
    same = len(a.parts) == len(c.parts) and all(
        pa.mesh.vertices.shape == pc.mesh.vertices.shape and np.allclose(pa.mesh.vertices, pc.mesh.vertices)
        for pa, pc in zip(a.parts, c.parts))
    assert not same


def test_generation_does_not_touch_global_rng():
    np.random.seed(0)
    before = np.random.random()
    np.random.seed(0)
    P.generate_object(3, resolution=20)
    assert np.random.random() == before


def test_category_for_seed_round_robin():
    cats = ["mug", "axe"]
    assert [P.category_for_seed(s, cats) for s in range(4)] == ["mug", "axe", "mug", "axe"]


def test_ood_draws_leave_the_training_ranges():
    for seed in range(20):
        obj = P.build_object("bookshelf", seed, resolution=20, ood=True)
        assert obj.ood and obj.ood_params
    s = P.Sampler(np.random.default_rng(0), ood=True)
    vals = [s.prop(1.0, 2.0, "x") for _ in range(200)]
    outside = [v for v in vals if v > 2.0]
    assert len(outside) == s.ood_params.count("x") > 50
    counts = [s.count(2, 4, "n") for _ in range(200)]
    assert max(counts) == 6 and min(counts) == 2
    s_in = P.Sampler(np.random.default_rng(0), ood=False)
    assert all(1.0 <= s_in.prop(1.0, 2.0) <= 2.0 for _ in range(200))
    assert all(2 <= s_in.count(2, 4) <= 4 for _ in range(200))


def _dense_surface_distance(shape: P.Shape, points: np.ndarray, cell: float) -> np.ndarray:
    mesh, _ = P.mesh_from_sdf(shape, cell)
    pts, _ = trimesh.sample.sample_surface_even(mesh, 40000, seed=0)
    from scipy.spatial import cKDTree

    return cKDTree(pts).query(points)[0]


@pytest.mark.parametrize("shape", [
    P.box([0.1, 0, 0], [0.3, 0.2, 0.4], 0.05, P.rot_y(0.3)),
    P.cylinder([0, 0, 0], 0.3, 0.4, 0.05, P.rot_x(0.5)),
    P.capsule([0, -0.3, 0], [0.2, 0.3, 0.1], 0.15),
    P.cone([0, 0, 0], 0.4, 0.35, 0.1),
    P.torus([0, 0, 0], 0.35, 0.1, P.rot_z(0.4)),
    P.extrusion([0, 0, 0], [[0, 0], [0.5, 0], [0.1, 0.4]], 0.1),
    P.lathe([0, 0, 0], [[0, 0], [0.4, 0], [0.2, 0.6], [0, 0.6]]),
], ids=["round_box", "cylinder", "capsule", "frustum", "torus", "extrusion", "revolution"])
def test_exact_primitives_match_distance_to_their_surface(shape):
    rng = np.random.default_rng(0)
    q = rng.uniform(shape.lo - 0.3, shape.hi + 0.3, (300, 3))
    cell = 0.01
    d = shape(q)
    ref = _dense_surface_distance(shape, q, cell)
    np.testing.assert_allclose(np.abs(d), ref, atol=0.02)


def test_approximate_primitives_have_the_right_sign_and_zero_set():
    e = P.ellipsoid([0, 0, 0], [0.5, 0.2, 0.3])
    s = P.superellipsoid([0, 0, 0], [0.5, 0.2, 0.3], 0.5, 0.7)
    for shape, radii in ((e, [0.5, 0.2, 0.3]), (s, [0.5, 0.2, 0.3])):
        axes = np.diag(radii)
        np.testing.assert_allclose(shape(axes), 0.0, atol=1e-9)
        assert (shape(axes * 0.5) < 0).all() and (shape(axes * 1.5) > 0).all()


def test_normalised_sdf_scales_distances():
    sphere = P.sphere([1.0, 2.0, 3.0], 0.5)
    n = P.Normalised(sphere, np.array([1.0, 2.0, 3.0]), 2.0)
    np.testing.assert_allclose(n(np.array([[0.0, 0, 0], [1.0, 0, 0], [3.0, 0, 0]])), [-1.0, 0.0, 2.0])


def test_narrow_band_matches_full_grid():
    for category in ("mug", "bicycle", "teapot"):
        raw = P.CATEGORIES[category](P.Sampler(np.random.default_rng(5)))
        for _, shape in raw:
            a, _ = P.mesh_from_sdf(shape, 0.03, narrow_band=True)
            b, _ = P.mesh_from_sdf(shape, 0.03, narrow_band=False)
            np.testing.assert_array_equal(a.faces, b.faces)
            np.testing.assert_allclose(a.vertices, b.vertices)


def test_canonical_order_bottom_to_top_then_left_to_right():
    def cube(x, y):
        return trimesh.creation.box([0.2, 0.2, 0.2]).apply_translation([x, y, 0])

    meshes = [cube(0.5, 0.5), cube(0.5, 0.0), cube(-0.5, 0.0), cube(-0.5, 0.5)]
    assert P.canonical_order(meshes, ["a", "b", "c", "d"]) == [2, 1, 3, 0]
    # exact ties fall back to z, then name, then index: deterministic
    assert P.canonical_order([cube(0, 0), cube(0, 0)], ["y", "x"]) == [1, 0]


def _digest(obj: P.PartObject) -> str:
    import hashlib

    h = hashlib.sha256()
    for part in obj.parts:
        h.update(part.name.encode())
        h.update(np.round(np.asarray(part.mesh.vertices), 5).tobytes())
        h.update(np.asarray(part.mesh.faces, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def test_v1_objects_are_those_of_the_single_module_generator():
    """Golden digests made by procedural.py before it became a package: one seed per v1 category."""
    import json
    from pathlib import Path

    golden = json.loads((Path(__file__).parent / "data" / "procedural_v1_golden.json").read_text())
    assert [P.category_for_seed(s, corpus="v1") for s in range(40)] == golden["category_for_seed_0_40"]
    assert [P.category_for_seed(s) for s in range(40)] == golden["category_for_seed_0_40"]  # library default
    changed = []
    for key, digest in golden["digests"].items():
        category, seed, ood = key.split("/")
        obj = P.build_object(category, int(seed), resolution=16, ood=bool(int(ood)))
        if _digest(obj) != digest:
            changed.append(key)
    assert changed == []
    assert P.corpus_categories("v1") == list(golden["category_for_seed_0_40"][:31])
    assert P.corpus_categories("v2")[:31] == P.corpus_categories("v1")
