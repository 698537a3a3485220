"""Simulation export: URDF / MJCF bundles loaded in pybullet and MuJoCo, mass properties, joint hints."""

import argparse
import json
import math
import sys
import types
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import trimesh

from autopartgen.errors import ConfigError, OutputPathError
from autopartgen.export import MANIFEST, OWNERSHIP_FILE, export_result, prepare_output_dir
from autopartgen.simulation import (
    MJCF_FILE,
    URDF_FILE,
    SimExportOptions,
    add_sim_export_arguments,
    export_simulation,
    joint_hints,
    mass_properties,
    plan_simulation,
    regularize_inertia,
    sim_options_from_args,
)

try:  # the simulators are test extras; the geometry tests run without them
    import mujoco
except ImportError:
    mujoco = None
try:
    import pybullet
except ImportError:
    pybullet = None
needs_pybullet = pytest.mark.skipif(pybullet is None, reason="pybullet not installed (pip install -e .[test])")
needs_mujoco = pytest.mark.skipif(mujoco is None, reason="mujoco not installed (pip install -e .[test])")

SIM_SECONDS = 2.0


# ----------------------------------------------------------------------------------------------------
# Synthetic part sets in the package's output frame (+Y up)


def _box(extents, centre):
    return trimesh.creation.box(extents=extents, transform=trimesh.transformations.translation_matrix(centre))


def _wheel(radius, width, centre):
    """A cylinder whose axis is the output frame's Z (a car's axle runs left-right)."""
    return trimesh.creation.cylinder(radius=radius, height=width, sections=48,
                                     transform=trimesh.transformations.translation_matrix(centre))


def _table():
    """Top + 4 legs, 1.2 x 0.75 x 0.8 units; legs touch the top face to face."""
    parts = [_box([1.2, 0.05, 0.8], [0, 0.725, 0])]
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(_box([0.05, 0.7, 0.05], [sx * 0.55, 0.35, sz * 0.35]))
    return parts


def _cart():
    """A two-wheel hand cart: a tray on an axle (wheels slightly sunk into it) and a stand at the back."""
    return [
        _box([0.8, 0.08, 0.5], [0.0, 0.26, 0.0]),          # tray, bottom at y = 0.22
        _wheel(0.15, 0.06, [0.25, 0.15, 0.28]),            # wheels: axle along z, resting on y = 0
        _wheel(0.15, 0.06, [0.25, 0.15, -0.28]),
        _box([0.05, 0.23, 0.3], [-0.35, 0.115, 0.0]),     # stand, touching the ground and the tray
    ]


def _colors(n):
    return np.array([[60 * i % 255, 120, 200, 255] for i in range(n)], dtype=np.uint8)


def _object_size(meshes, scale=1.0):
    v = np.concatenate([m.vertices for m in meshes]) * scale
    return float(np.linalg.norm(v.max(axis=0) - v.min(axis=0)))


# ----------------------------------------------------------------------------------------------------
# Loading and simulating the exported files


def _simulate_pybullet(urdf_path):
    """Load the URDF on a ground plane and step 2 s; returns facts about the loaded body."""
    client = pybullet.connect(pybullet.DIRECT)
    try:
        pybullet.setGravity(0, 0, -9.81, physicsClientId=client)
        ground = pybullet.createCollisionShape(pybullet.GEOM_PLANE, physicsClientId=client)
        pybullet.createMultiBody(0, ground, physicsClientId=client)
        body = pybullet.loadURDF(str(urdf_path), physicsClientId=client)
        joints = pybullet.getNumJoints(body, physicsClientId=client)
        links = [-1] + list(range(joints))
        dynamics = [pybullet.getDynamicsInfo(body, link, physicsClientId=client) for link in links]
        joint_types = [pybullet.getJointInfo(body, j, physicsClientId=client)[2] for j in range(joints)]
        start = np.array(pybullet.getBasePositionAndOrientation(body, physicsClientId=client)[0])
        positions = []
        for _ in range(int(SIM_SECONDS * 240)):  # pybullet's default step is 1/240 s
            pybullet.stepSimulation(physicsClientId=client)
            positions.append(pybullet.getBasePositionAndOrientation(body, physicsClientId=client)[0])
            positions += [pybullet.getLinkState(body, j, physicsClientId=client)[0] for j in range(joints)]
        end = np.array(pybullet.getBasePositionAndOrientation(body, physicsClientId=client)[0])
        return {"joints": joints, "masses": [d[0] for d in dynamics], "inertias": [d[2] for d in dynamics],
                "joint_types": joint_types, "start": start, "end": end, "positions": np.array(positions)}
    finally:
        pybullet.disconnect(client)


def _simulate_mujoco(xml_path):
    model = mujoco.MjModel.from_xml_path(str(xml_path))
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    root = next(b for b in range(model.nbody) if model.body_parentid[b] == 0 and b != 0)
    start = data.xipos[root].copy()
    positions = []
    for _ in range(int(round(SIM_SECONDS / model.opt.timestep))):
        mujoco.mj_step(model, data)
        positions.append(data.xpos.copy())
    return {"model": model, "start": start, "end": data.xipos[root].copy(), "positions": np.array(positions)}


def _assert_valid_mujoco_inertias(model):
    for b in range(1, model.nbody):
        assert model.body_mass[b] > 0
        moments = np.sort(model.body_inertia[b])
        assert moments[0] > 0
        assert moments[0] + moments[1] >= moments[2] * (1 - 1e-9)


@pytest.fixture(scope="module")
def table_bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("table")
    parts = _table()
    names = export_simulation(parts, _colors(len(parts)), folder, SimExportOptions(formats=("urdf", "mjcf")))
    return folder, parts, names


def test_table_bundle_files_are_relative_and_complete(table_bundle):
    folder, parts, names = table_bundle
    assert URDF_FILE in names and MJCF_FILE in names
    assert {f"meshes/part_{i:03d}.obj" for i in range(len(parts))} <= set(names)
    for name in names:
        assert (folder / name).is_file()
    urdf = ET.parse(folder / URDF_FILE).getroot()
    mjcf = ET.parse(folder / MJCF_FILE).getroot()
    referenced = [m.get("filename") for m in urdf.iter("mesh")] + [m.get("file") for m in mjcf.iter("mesh")]
    assert referenced and all(not r.startswith("/") and (folder / r).is_file() for r in referenced)
    # part colours reach both formats
    colour = urdf.find("material[@name='part_001']/color").get("rgba")
    np.testing.assert_allclose([float(x) for x in colour.split()], _colors(len(parts))[1] / 255, atol=1e-6)
    geom = mjcf.find(".//geom[@name='part_001_visual']")
    assert geom.get("material") == "part_001" and geom.get("contype") == "0"


@needs_pybullet
def test_table_in_pybullet_stands_still(table_bundle):
    folder, parts, _ = table_bundle
    sim = _simulate_pybullet(folder / URDF_FILE)
    assert sim["joints"] == len(parts) - 1
    assert all(mass > 0 for mass in sim["masses"])
    assert all(min(inertia) > 0 for inertia in sim["inertias"])
    assert np.isfinite(sim["positions"]).all()
    assert np.linalg.norm(sim["end"] - sim["start"]) < 0.1 * _object_size(parts)
    assert sim["start"][2] > 0.3  # the root (a leg) starts with its centre above the ground, not under it


@needs_mujoco
def test_table_in_mujoco_stands_still(table_bundle):
    folder, parts, _ = table_bundle
    sim = _simulate_mujoco(folder / MJCF_FILE)
    model = sim["model"]
    assert model.nbody == len(parts) + 1  # + world
    assert model.njnt == 1 and model.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE  # fixed children are welded
    _assert_valid_mujoco_inertias(model)
    assert np.isfinite(sim["positions"]).all()
    assert np.linalg.norm(sim["end"] - sim["start"]) < 0.1 * _object_size(parts)
    np.testing.assert_allclose(model.body_mass[1:].sum(), sum(p.volume for p in parts) * 1000, rtol=1e-6)


def test_frame_is_z_up_metres_resting_on_the_ground():
    parts = [_box([0.2, 0.4, 0.6], [5.0, 3.0, 1.0])]  # floating 2.8 units up, 0.4 tall along +Y
    model = plan_simulation(parts, None, SimExportOptions(formats=("urdf",), scale=0.01))
    link = model.links[0]
    world = link.visual.vertices + link.anchor
    assert world[:, 2].min() == pytest.approx(0.0, abs=1e-12)
    extent = world.max(axis=0) - world.min(axis=0)
    np.testing.assert_allclose(extent, [0.002, 0.006, 0.004], atol=1e-12)  # (x, -z, y) * 0.01
    np.testing.assert_allclose(link.mass_properties.center_of_mass[:2], [0.05, -0.01], atol=1e-12)


def test_mass_and_inertia_match_a_box_analytically():
    a, b, c, density = 0.2, 0.6, 0.4, 500.0  # extents along Z-up x, y, z
    box = _box([a, b, c], [0.1, 0.2, 0.3])
    props = mass_properties(box, density)
    mass = a * b * c * density
    assert props.source == "mesh"
    assert props.mass == pytest.approx(mass)
    np.testing.assert_allclose(props.center_of_mass, [0.1, 0.2, 0.3], atol=1e-12)
    expected = mass / 12 * np.diag([b * b + c * c, a * a + c * c, a * a + b * b])
    np.testing.assert_allclose(props.inertia, expected, rtol=1e-9, atol=1e-15)
    # through the exporter: scale 2 -> mass x 8, inertia x 32, and the axes follow Y-up -> Z-up
    model = plan_simulation([box], None, SimExportOptions(formats=("urdf",), scale=2.0, density=density))
    exported = model.links[0].mass_properties
    assert exported.mass == pytest.approx(mass * 8)
    np.testing.assert_allclose(np.diag(exported.inertia), 32 * np.diag(expected)[[0, 2, 1]], rtol=1e-9)


def test_open_part_weighs_as_its_convex_hull():
    box = _box([0.3, 0.3, 0.3], [0, 0, 0])
    open_box = trimesh.Trimesh(box.vertices, box.faces[2:], process=False)
    assert not open_box.is_watertight
    props = mass_properties(open_box, 1000.0)
    assert props.source == "convex_hull"
    assert props.mass == pytest.approx(0.027 * 1000)


def test_regularize_inertia_gives_positive_triangle_moments():
    sheet = np.diag([1.0, 1.0, 2.0 * (1 + 1e-9)])  # a thin sheet plus rounding: breaks the inequality
    rotation = trimesh.transformations.random_rotation_matrix(np.random.default_rng(0).random(3))[:3, :3]
    for tensor in (rotation @ sheet @ rotation.T, np.zeros((3, 3)), np.diag([0.0, 1.0, 1.0])):
        fixed = regularize_inertia(tensor, min_moment=1e-9)
        moments = np.sort(np.linalg.eigvalsh(fixed))
        assert moments[0] > 0 and moments[0] + moments[1] >= moments[2]
        np.testing.assert_allclose(fixed, fixed.T)


# ----------------------------------------------------------------------------------------------------
# Joint hints


def test_cart_hints_find_the_wheel_axles_and_planar_contacts():
    parts = _cart()
    hints = joint_hints(parts)
    json.dumps(hints, allow_nan=False)  # plain JSON for parts.json
    by_pair = {tuple(h["parts"]): h for h in hints}
    assert set(by_pair) == {(0, 1), (0, 2), (0, 3)}  # wheels and stand touch the tray, not each other
    for wheel in (1, 2):
        best = by_pair[(0, wheel)]["candidates"][0]
        assert best["type"] == "revolute" and best["part"] == wheel
        assert abs(best["axis"][2]) > math.cos(math.radians(2))
        np.testing.assert_allclose(best["origin"], parts[wheel].center_mass, atol=1e-3)
    stand = by_pair[(0, 3)]
    assert stand["contact"]["shape"] == "planar"
    np.testing.assert_allclose(stand["contact"]["normal"], [0, -1, 0], atol=1e-3)  # out of the tray, down
    assert stand["contact"]["area"] == pytest.approx(0.05 * 0.3, rel=0.3)
    assert {c["type"] for c in stand["candidates"]} == {"revolute", "prismatic"}


def test_car_from_the_corpus_gets_its_wheel_axes_within_10_degrees():
    from autopartgen.data.procedural import generate_object

    car = generate_object(0, category="car", resolution=40)
    names = [part.name for part in car.parts]
    assert names.count("wheel") == 4
    meshes = [part.mesh for part in car.parts]
    hints = joint_hints(meshes)
    # The procedural car turns its wheels' revolution axis (Y) onto Z with rot_x(pi/2): the true axle is Z.
    true_axis = np.array([0.0, 0.0, 1.0])
    wheels_hinted = set()
    for hint in hints:
        for candidate in hint["candidates"]:
            if candidate["type"] == "revolute" and candidate["part"] is not None and names[candidate["part"]] == "wheel":
                angle = math.degrees(math.acos(min(1.0, abs(float(np.dot(candidate["axis"], true_axis))))))
                assert angle < 10.0
                wheels_hinted.add(candidate["part"])
    assert wheels_hinted == {i for i, n in enumerate(names) if n == "wheel"}


@needs_pybullet
@needs_mujoco
def test_hinted_cart_loads_with_revolute_wheels_and_stays_put(tmp_path):
    parts = _cart()
    options = SimExportOptions(formats=("urdf", "mjcf"), joints="hinted")
    export_simulation(parts, _colors(len(parts)), tmp_path, options)
    size = _object_size(parts)

    sim = _simulate_pybullet(tmp_path / URDF_FILE)
    assert sim["joints"] == len(parts) - 1
    # the wheels turn on their axles; the stand's planar contact stays welded (a hint only)
    assert sorted(sim["joint_types"]) == sorted([pybullet.JOINT_REVOLUTE] * 2 + [pybullet.JOINT_FIXED])
    assert np.isfinite(sim["positions"]).all()
    assert np.linalg.norm(sim["end"] - sim["start"]) < 0.1 * size

    sim = _simulate_mujoco(tmp_path / MJCF_FILE)
    model = sim["model"]
    assert model.nbody == len(parts) + 1
    hinges = [j for j in range(model.njnt) if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE]
    assert len(hinges) == 2 and model.njnt == 3
    for j in hinges:  # axles along the output frame's Z, i.e. the simulation frame's -Y
        assert abs(model.jnt_axis[j][1]) > math.cos(math.radians(2))
    _assert_valid_mujoco_inertias(model)
    assert np.isfinite(sim["positions"]).all()
    assert np.linalg.norm(sim["end"] - sim["start"]) < 0.1 * size


def test_disconnected_part_is_attached_to_the_nearest_part(tmp_path):
    parts = _table() + [_box([0.1, 0.1, 0.1], [2.0, 0.05, 0.0])]  # a loose block on the floor
    model = plan_simulation(parts, None, SimExportOptions(formats=("mjcf",)))
    assert len(model.joints) == len(parts) - 1
    block = next(j for j in model.joints if j.child == 5 or j.parent == 5)
    other = block.parent if block.child == 5 else block.child
    assert other in (3, 4)  # the legs on the +x side are nearest
    assert "no contact" in block.reason


@needs_mujoco
def test_decomposed_collision_gives_several_convex_pieces(tmp_path):
    pytest.importorskip("coacd")
    # an L of two boxes, one on top of the other's end: concave, so one hull would fill the corner
    l_shape = trimesh.util.concatenate([_box([0.6, 0.1, 0.2], [0, 0.05, 0]), _box([0.1, 0.5, 0.2], [-0.25, 0.35, 0])])
    names = export_simulation([l_shape], None, tmp_path, SimExportOptions(formats=("mjcf",), collision="decomposed"))
    pieces = [n for n in names if "_collision_" in n]
    assert len(pieces) >= 2
    model = mujoco.MjModel.from_xml_path(str(tmp_path / MJCF_FILE))
    assert model.ngeom == 1 + 1 + len(pieces)  # ground, visual, pieces


# ----------------------------------------------------------------------------------------------------
# Options and the output folder


def _parse(*argv):
    parser = argparse.ArgumentParser()
    add_sim_export_arguments(parser)
    return sim_options_from_args(parser.parse_args(list(argv)))


def test_options_from_the_command_line():
    options = _parse("--export", "URDF, mjcf,urdf", "--scale", "0.01", "--joints", "hinted")
    assert options.formats == ("urdf", "mjcf") and options.scale == 0.01 and options.joints == "hinted"
    assert options.density == 1000.0 and options.collision == "hull"
    assert not _parse().enabled


@pytest.mark.parametrize("argv, message", [
    (["--export", "stl"], "--export 'stl'"),
    (["--export", "urdf", "--scale", "0"], "--scale must be"),
    (["--export", "urdf", "--density", "nan"], "--density must be"),
    (["--density", "500"], "add --export"),
])
def test_bad_options_are_refused_in_one_line(argv, message):
    with pytest.raises(ConfigError, match=message) as error:
        _parse(*argv)
    assert "\n" not in str(error.value)


def test_decomposed_without_coacd_is_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, "coacd", None)  # import coacd -> ImportError
    with pytest.raises(ConfigError, match="pip install coacd"):
        _parse("--export", "mjcf", "--collision", "decomposed")


def _result(parts):
    parts = [types.SimpleNamespace(mesh=m, mask_label=None, seed=0, retries=0, position=i) for i, m in enumerate(parts)]
    return types.SimpleNamespace(parts=parts, mask=None, mask_labels=None, whole_mesh=None)


def test_output_folder_owns_the_bundle_and_never_deletes_foreign_files(tmp_path):
    options = SimExportOptions(formats=("urdf", "mjcf"))
    out = prepare_output_dir(tmp_path)
    written = export_result(_result(_cart()), out, {}, preview=False, sim_export=options)
    assert {URDF_FILE, MJCF_FILE, "meshes/part_000.obj", MANIFEST} <= set(written)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert [h["parts"] for h in manifest["joints"]] == [[0, 1], [0, 2], [0, 3]]
    owned = json.loads((tmp_path / OWNERSHIP_FILE).read_text())["files"]
    assert "meshes/part_003_collision_000.obj" in owned
    assert not list(tmp_path.glob(".autopartgen-staging-*"))

    # a user's file in meshes/ survives a run without the bundle; our files and our names go
    (tmp_path / "meshes" / "notes.txt").write_text("mine")
    written = export_result(_result(_cart()[:2]), prepare_output_dir(tmp_path), {}, preview=False)
    assert URDF_FILE not in written and not (tmp_path / URDF_FILE).exists()
    assert sorted(p.name for p in (tmp_path / "meshes").iterdir()) == ["notes.txt"]
    assert "joints" not in json.loads((tmp_path / MANIFEST).read_text())

    # a mesh file we did not write blocks the next bundle, and nothing is replaced
    (tmp_path / "meshes" / "part_000.obj").write_text("mine too")
    with pytest.raises(OutputPathError, match="part_000.obj"):
        export_result(_result(_cart()), prepare_output_dir(tmp_path), {}, preview=False, sim_export=options)
    assert (tmp_path / "meshes" / "part_000.obj").read_text() == "mine too"


def test_meshes_folder_that_is_a_link_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "meshes").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OutputPathError, match="meshes"):
        export_result(_result(_cart()), prepare_output_dir(out_dir), {}, preview=False,
                      sim_export=SimExportOptions(formats=("urdf",)))
    assert not list(elsewhere.iterdir())
    assert not (out_dir / MANIFEST).exists()
