"""MJCF and URDF importers: one part per rigid link, joint transforms, the written object folders."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from autopartgen.data.dataset import load_object, validate_object
from autopartgen.data.importers.articulated import build_parts, forward_kinematics, random_pose, write_pose_variants
from autopartgen.data.importers.mjcf import read_mjcf
from autopartgen.data.importers.urdf import read_urdf
from autopartgen.errors import InputFileError

MJCF = """<mujoco model="cartpole">
  <compiler angle="degree"/>
  <default><geom rgba="1 0 0 1"/><default class="thin"><geom size="0.02"/></default></default>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 0.1"/>
    <geom name="rail" type="capsule" fromto="-1 0 0 1 0 0" size="0.03"/>
    <geom name="wall" type="box" pos="0 2 0" size="0.1 0.1 0.1"/>
    <body name="cart" pos="0 0 0">
      <joint name="slider" type="slide" axis="1 0 0" range="-0.5 0.5"/>
      <geom name="cart_geom" type="box" size="0.2 0.1 0.05"/>
      <body name="pole" pos="0 0 0.05">
        <joint name="hinge" type="hinge" axis="0 1 0" range="-90 90"/>
        <geom class="thin" type="capsule" fromto="0 0 0 0 0 0.8"/>
        <body name="tip" pos="0 0 0.8">
          <geom type="sphere" size="0.06"/>
        </body>
      </body>
    </body>
    <body name="ghost"><geom type="sphere" size="0.1" rgba="0 0 0 0"/></body>
  </worldbody>
</mujoco>
"""


def _model_frame(part, centre, scale) -> np.ndarray:
    """Part vertices back in model units (+Y up)."""
    return np.asarray(part.mesh.vertices) / scale + centre


def test_mjcf_parts_are_rigid_links_and_follow_the_joints(tmp_path):
    path = tmp_path / "cartpole.xml"
    path.write_text(MJCF)
    model = read_mjcf(path, exclude="^wall$")
    assert [l.name for l in model.links] == ["base", "cart", "pole", "tip", "ghost"]
    hinge = model.links[2].joints[0]
    assert hinge.limits == pytest.approx((-math.pi / 2, math.pi / 2))
    parts, centre, scale = build_parts(model, {}, resolution=32)
    names = sorted(p.name for p in parts)
    assert names == ["base", "cart", "pole"]  # tip welded to the pole, floor/wall/invisible ghost left out
    pole = _model_frame(next(p for p in parts if p.name == "pole"), centre, scale)
    # upright: along the model's z, which is +Y here; the tip ball is part of the pole
    assert pole[:, 1].max() == pytest.approx(0.05 + 0.8 + 0.06, abs=0.02)
    assert np.ptp(pole[:, 0]) < 0.15
    parts, centre, scale = build_parts(model, {"hinge": math.pi / 2, "slider": 0.3}, resolution=32)
    pole = _model_frame(next(p for p in parts if p.name == "pole"), centre, scale)
    cart = _model_frame(next(p for p in parts if p.name == "cart"), centre, scale)
    assert cart[:, 0].mean() == pytest.approx(0.3, abs=0.01)  # slid along x
    assert pole[:, 0].max() == pytest.approx(0.3 + 0.8 + 0.06, abs=0.02)  # turned about y: lies along +x
    assert np.ptp(pole[:, 1]) < 0.15
    world = forward_kinematics(model, {"hinge": math.pi / 2})
    np.testing.assert_allclose(world[3][:3, 3], [0.8, 0.0, 0.05], atol=1e-9)  # the tip's frame


URDF = """<robot name="twolink">
  <link name="base_link"><visual><geometry><box size="0.4 0.4 0.1"/></geometry></visual></link>
  <link name="link1"><visual><origin xyz="0 0 0.25"/><geometry><cylinder radius="0.05" length="0.5"/></geometry></visual></link>
  <link name="cap"><visual><geometry><sphere radius="0.07"/></geometry></visual></link>
  <link name="link2"><visual><origin xyz="0.1 0 0"/><geometry><mesh filename="package://twolink/meshes/block.stl" scale="2 2 2"/></geometry></visual></link>
  <joint name="j1" type="revolute"><parent link="base_link"/><child link="link1"/><origin xyz="0 0 0.05"/>
    <axis xyz="0 0 1"/><limit lower="-1" upper="1"/></joint>
  <joint name="weld" type="fixed"><parent link="link1"/><child link="cap"/><origin xyz="0 0 0.5"/></joint>
  <joint name="j2" type="revolute"><parent link="link1"/><child link="link2"/><origin xyz="0 0 0.5" rpy="0 0 0"/>
    <axis xyz="0 1 0"/><limit lower="-1.5" upper="1.5"/></joint>
</robot>
"""


def test_urdf_parts_meshes_and_pose_variants(tmp_path):
    pkg = tmp_path / "pkgs" / "twolink"
    (pkg / "meshes").mkdir(parents=True)
    trimesh.creation.box([0.1, 0.05, 0.05]).export(pkg / "meshes" / "block.stl")
    path = pkg / "robot.urdf"
    path.write_text(URDF)
    model = read_urdf(path, package_dirs=[tmp_path / "pkgs"])
    assert [l.name for l in model.links] == ["base_link", "link1", "cap", "link2"]
    parts, centre, scale = build_parts(model, {}, resolution=32)
    assert sorted(p.name for p in parts) == ["base_link", "link1", "link2"]
    block = next(p for p in parts if p.name == "link2")
    assert len(block.mesh.vertices) == 8  # the mesh itself, scaled x2
    v = _model_frame(block, centre, scale)
    np.testing.assert_allclose(v.mean(0), [0.1, 0.55, 0.0], atol=1e-6)  # x 0.1; model z 0.05 + 0.5 -> +Y
    np.testing.assert_allclose(np.ptp(v, axis=0), [0.2, 0.1, 0.1], atol=1e-6)
    parts, centre, scale = build_parts(model, {"j2": math.pi / 2}, resolution=32)
    v = _model_frame(next(p for p in parts if p.name == "link2"), centre, scale)
    # +90 deg about the model's y axis takes the block's +x offset to model -z, i.e. down in +Y
    np.testing.assert_allclose(v.mean(0), [0.0, 0.45, 0.0], atol=1e-6)
    q = random_pose(model, np.random.default_rng(0))
    assert set(q) == {"j1", "j2"} and -1 <= q["j1"] <= 1 and -1.5 <= q["j2"] <= 1.5

    folders = write_pose_variants(model, tmp_path / "out", "twolink", n_random=2, seed=0, category="robot_arm",
                                  licence="CC0-1.0 (test)", resolution=24, n_views=1, size=48)
    assert [f.name for f in folders] == ["twolink_default", "twolink_pose1", "twolink_pose2"]
    for folder in folders:
        summary, problems = validate_object(folder)
        assert problems == [] and summary["n_parts"] == 3
    obj = load_object(folders[1])
    assert obj["meta"]["licence"] == "CC0-1.0 (test)" and set(obj["meta"]["pose"]) == {"j1", "j2"}
    assert [p["name"] for p in obj["meta"]["parts"]] == [p.name for p in build_parts(
        model, obj["meta"]["pose"], resolution=24)[0]]


def test_a_small_primitive_beside_a_large_mesh_in_one_link_is_kept(tmp_path):
    # a 1 m body mesh with a 1 cm sensor sphere on the same link (as in many robot descriptions): the sphere
    # is meshed at its own scale, not on a grid sized by the body, where it fell between grid points
    pkg = tmp_path / "pkgs" / "bot"
    (pkg / "meshes").mkdir(parents=True)
    trimesh.creation.box([1.0, 0.3, 0.3]).export(pkg / "meshes" / "body.stl")
    (pkg / "bot.urdf").write_text("""<robot name="bot"><link name="body">
      <visual><geometry><mesh filename="package://bot/meshes/body.stl"/></geometry></visual>
      <visual><origin xyz="0.7 0.013 0.007"/><geometry><sphere radius="0.005"/></geometry></visual>
    </link></robot>""")
    parts, centre, scale = build_parts(read_urdf(pkg / "bot.urdf", package_dirs=[tmp_path / "pkgs"]), {}, resolution=32)
    v = _model_frame(parts[0], centre, scale)
    sphere_centre = np.array([0.7, 0.007, -0.013])  # model (x, y, z) -> (x, z, -y), +Y up
    near = np.linalg.norm(v - sphere_centre, axis=1)
    on_sphere = near[near < 0.05]
    assert len(on_sphere) > 20
    np.testing.assert_allclose(on_sphere.max(), 0.005, rtol=0.1)
    assert np.ptp(v[:, 0]) == pytest.approx(1.205, abs=1e-3)  # from the body's far end to the sphere's


def test_a_link_much_smaller_than_the_object_is_kept(tmp_path):
    path = tmp_path / "bot.urdf"  # a 2 m base and a 4 mm sensor link: the sensor is smaller than a grid cell
    path.write_text("""<robot name="bot">
      <link name="base"><visual><geometry><box size="2 0.5 0.5"/></geometry></visual></link>
      <link name="sensor"><visual><geometry><sphere radius="0.002"/></geometry></visual></link>
      <joint name="mount" type="revolute"><parent link="base"/><child link="sensor"/><origin xyz="1.1 0 0"/>
        <axis xyz="0 0 1"/><limit lower="-1" upper="1"/></joint>
    </robot>""")
    parts, centre, scale = build_parts(read_urdf(path), {}, resolution=32)
    sensor = next(p for p in parts if p.name == "sensor")
    radii = np.linalg.norm(_model_frame(sensor, centre, scale) - [1.1, 0.0, 0.0], axis=1)
    np.testing.assert_allclose(radii, 0.002, rtol=0.1)


def test_a_urdf_without_visual_geometry_imports_its_collision_geometry(tmp_path):
    path = tmp_path / "sim_only.urdf"
    path.write_text(URDF.replace("<visual>", "<collision>").replace("</visual>", "</collision>")
                    .replace("package://twolink/meshes/block.stl", "block.stl"))
    trimesh.creation.box([0.1, 0.05, 0.05]).export(tmp_path / "block.stl")
    collision_parts, _, _ = build_parts(read_urdf(path), {}, resolution=32)
    visual = tmp_path / "visual.urdf"
    visual.write_text(URDF.replace("package://twolink/meshes/block.stl", "block.stl"))
    visual_parts, _, _ = build_parts(read_urdf(visual), {}, resolution=32)
    assert [p.name for p in collision_parts] == [p.name for p in visual_parts] == ["base_link", "link1", "link2"]
    for a, b in zip(collision_parts, visual_parts):
        np.testing.assert_allclose(a.mesh.bounds, b.mesh.bounds, atol=1e-9)


def test_a_urdf_with_no_geometry_is_a_one_line_input_error(tmp_path):
    path = tmp_path / "empty.urdf"
    path.write_text('<robot name="empty"><link name="a"/><link name="b"/>'
                    '<joint name="j" type="fixed"><parent link="a"/><child link="b"/></joint></robot>')
    with pytest.raises(InputFileError, match="empty.urdf: no link has geometry to import"):
        build_parts(read_urdf(path), {})


def test_an_unreadable_collada_mesh_names_the_extra_that_reads_it(tmp_path, monkeypatch):
    (tmp_path / "link.dae").write_text("<COLLADA/>")
    path = tmp_path / "bot.urdf"
    path.write_text('<robot name="bot"><link name="a"><visual><geometry><mesh filename="link.dae"/></geometry>'
                    '</visual></link></robot>')

    def unreadable(*_, **__):
        raise ValueError("no reader")

    monkeypatch.setattr(trimesh, "load", unreadable)
    with pytest.raises(InputFileError, match=r"link.dae: cannot read Collada mesh .*autopartgen\[import\]"):
        read_urdf(path)
