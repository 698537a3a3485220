"""Corpus v2: category structure (chains of links, wheels on axles), shape variation, realistic inputs.

Every v2 category also runs through the generic quality bars of ``test_procedural.py`` (its FAST_CASES
cover all registered categories).
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from autopartgen.data import procedural as P
from autopartgen.data.fused_input import InputDegradation, realistic_input_mesh
from autopartgen.data.procedural.variation import BlendedPart, ScaledTurned, ShapeVariation

V2 = P.corpus_categories("v2")[31:]


def _by_name(obj: P.PartObject) -> dict[str, P.Part]:
    return {p.name: p for p in obj.parts}


def _touches(a: P.Part, b: P.Part) -> bool:
    """Whether some vertex of ``a`` lies within about a cell of ``b``'s surface or inside it."""
    return bool(np.min(b.sdf(a.mesh.vertices)) < 1.5 * max(a.cell, b.cell))


def test_corpora():
    assert len(V2) >= 20 and not set(V2) & set(P.V1_CATEGORIES)
    assert list(P.CATEGORIES) == P.corpus_categories("v2")
    assert [P.category_for_seed(s, corpus="v2") for s in (0, 31, 53)] == ["chair", V2[0], "chair"]
    assert all(P.SINCE[c] == "v2" for c in V2)
    with pytest.raises(ValueError):
        P.register("chair2")(lambda s: [])  # v1 is frozen


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_robot_arm_is_a_chain_of_touching_links(seed):
    obj = P.build_object("robot_arm", seed, resolution=24)
    parts = _by_name(obj)
    links = ["base"] + sorted((n for n in parts if n.startswith("link_")), key=lambda n: int(n[5:])) + ["gripper"]
    assert len(links) >= 5 and [int(n[5:]) for n in links[1:-1]] == list(range(1, len(links) - 1))
    for a, b in zip(links, links[1:]):
        assert _touches(parts[a], parts[b]), (seed, a, b)
    for finger in ("finger_left", "finger_right"):
        assert _touches(parts[finger], parts["gripper"])
    # the base stands on the ground, the links rise from it
    assert parts["base"].mesh.vertices[:, 1].min() == pytest.approx(-1.0, abs=1e-6) or obj.parts[0].name == "base"


def _thinnest_axis(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    v = mesh.vertices - mesh.vertices.mean(0)
    evals, evecs = np.linalg.eigh(v.T @ v / len(v))
    return evals, evecs[:, 0]


@pytest.mark.parametrize("category", ["wheeled_robot", "cart", "tractor", "trolley"])
def test_wheels_are_discs_on_horizontal_axles(category):
    plain = P.build_object(category, 4, resolution=24, variation=False)
    wheels = [p for p in plain.parts if p.name.startswith("wheel")]
    assert len(wheels) >= 2
    for w in wheels:  # without variation: discs whose axle is the body's z axis
        evals, axis = _thinnest_axis(w.mesh)
        assert evals[0] < 0.5 * evals[1] and evals[2] < 1.05 * evals[1], (w.name, evals)
        assert abs(axis[2]) > 0.99, (w.name, axis)
    chassis = max(plain.parts, key=lambda p: p.mesh.volume)
    forks = [p for p in plain.parts if p.name.startswith("fork")]
    assert all(_touches(w, chassis) or any(_touches(w, f) for f in forks) for w in wheels)
    varied = P.build_object(category, 4, resolution=24)  # v2 default: turned and scaled
    axes = []
    for w in (p for p in varied.parts if p.name.startswith("wheel")):
        evals, axis = _thinnest_axis(w.mesh)
        assert evals[0] < 0.8 * evals[1] and abs(axis[1]) < 0.1, (w.name, evals, axis)  # horizontal axle
        axes.append(axis)
    for a in axes[1:]:  # all wheels share the (turned) axle direction
        assert abs(abs(float(a @ axes[0])) - 1.0) < 0.05


@pytest.mark.parametrize("category,names", [
    ("fridge", {"body", "door"}), ("oven", {"body", "door", "knob"}), ("microwave", {"body", "door", "button"}),
    ("washing_machine", {"body", "door", "knob"}), ("dishwasher", {"body", "door", "button"}),
    ("safe", {"body", "door", "handwheel", "dial"}), ("door", {"frame", "leaf", "handle"}),
    ("window", {"frame", "sash", "handle"}), ("quadruped", {"body", "thigh_fl", "calf_rr"}),
])
def test_articulated_objects_have_their_links(category, names):
    obj = P.build_object(category, 2, resolution=20)
    got = {p.name for p in obj.parts}
    assert names <= got, got
    for part in obj.parts:  # every link is attached to something: no floating parts
        assert any(_touches(part, other) for other in obj.parts if other is not part), part.name


def test_v1_categories_unchanged_by_default_and_varied_on_request():
    plain = P.build_object("chair", 5, resolution=20)
    assert plain.variation == ShapeVariation().as_dict()
    varied = P.build_object("chair", 5, resolution=20, variation=True)
    assert varied.variation["yaw"] != 0.0 and varied.variation["blend"] > 0
    assert sorted(p.name for p in varied.parts) == sorted(p.name for p in plain.parts)
    again = P.build_object("chair", 5, resolution=20, variation=True)
    for a, b in zip(varied.parts, again.parts):
        np.testing.assert_array_equal(a.mesh.vertices, b.mesh.vertices)
    assert P.generate_object(31, resolution=16, corpus="v2").category == V2[0]
    assert P.generate_object(31, resolution=16, corpus="v2").variation["yaw"] != 0.0


def test_blended_parts_tile_the_smooth_union_and_keep_their_own_volume():
    a = P.box([-0.25, 0, 0], [0.25, 0.25, 0.25])
    b = P.box([0.25, 0.2, 0], [0.25, 0.05, 0.25])  # a slab on the side of a: a concave joint below it
    k = 0.1
    ba, bb = BlendedPart(a, [b], k), BlendedPart(b, [a], k)
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.7, 0.7, (20000, 3))
    da, db = a(pts), b(pts)
    na, nb = ba(pts), bb(pts)
    assert np.all(na[da < 0] < 0) and np.all(nb[db < 0] < 0)  # nothing taken away
    whole = P.smooth_min(da, db, k)
    np.testing.assert_array_equal(np.minimum(na, nb) < 0, whole < 0)  # the parts tile the blended whole
    fillet = (whole < 0) & (np.minimum(da, db) >= 0)
    assert fillet.sum() > 20  # there is fillet material, and it is given to exactly one part
    assert not np.any((na < 0) & (nb < 0) & fillet)
    assert np.all(np.minimum(da, db)[fillet] < k / 4 + 1e-9)  # within k/4 of the parts


def test_scaled_turned_shape():
    s = ScaledTurned(P.sphere([0.0, 0.0, 0.0], 0.5), [2.0, 1.0, 1.0], np.pi / 2)
    # x is stretched to 1.0, then turned by +90 deg about +Y: local +x goes to world -z
    np.testing.assert_allclose(s(np.array([[0.0, 0, -1.0], [0.0, 0.5, 0], [0.0, 0, 0]])), [0.0, 0.0, -0.5], atol=1e-9)
    np.testing.assert_allclose(s.lo, [-0.5, -0.5, -1.0], atol=1e-9)


def test_realistic_input_is_one_decimated_noisy_surface():
    parts = [trimesh.creation.box([0.8, 0.4, 0.8]).apply_translation([0, -0.3, 0]),
             trimesh.creation.cylinder(0.2, 0.8)]  # along z, overlapping the box
    mesh, deg = realistic_input_mesh(parts, seed=3, resolution=64, degradation=InputDegradation(1500, 0.003))
    assert len(mesh.faces) <= 1500 and len(mesh.split(only_watertight=False)) == 1
    clean, _ = realistic_input_mesh(parts, seed=3, resolution=64, degradation=InputDegradation(1500, 0.0))
    again, _ = realistic_input_mesh(parts, seed=3, resolution=64, degradation=InputDegradation(1500, 0.003))
    np.testing.assert_array_equal(mesh.vertices, again.vertices)
    assert mesh.vertices.shape == clean.vertices.shape  # same decimation; the noise moves each vertex
    shift = np.linalg.norm(mesh.vertices - clean.vertices, axis=1)
    assert 0.002 < np.sqrt(np.mean(shift ** 2)) < 0.004  # along the normals, standard deviation 0.003
    assert abs(mesh.volume - 0.337) < 0.03  # box + cylinder - their overlap


def test_cli_generate_corpus_option(tmp_path):
    import argparse
    import json

    from autopartgen.data.cli import add_cli  # the `autopartgen data` parser alone: no model imports

    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers())

    def main(argv):
        args = parser.parse_args(argv)
        return args.func(args)

    common = ["--n", "1", "--seed", "31", "--views", "0", "--resolution", "16", "--no-samples", "--quiet"]
    assert main(["data", "generate", "--out", str(tmp_path / "v2"), *common]) == 0  # v2 is the default
    meta = json.loads((tmp_path / "v2" / f"{V2[0]}_0000000031" / "meta.json").read_text())
    assert meta["corpus"] == "v2" and meta["variation"]["blend"] > 0
    assert main(["data", "generate", "--out", str(tmp_path / "v1"), "--corpus", "v1", *common]) == 0
    meta = json.loads((tmp_path / "v1" / "chair_0000000031" / "meta.json").read_text())  # 31 % 31 -> chair
    assert meta["corpus"] == "v1" and meta["variation"] == ShapeVariation().as_dict()
