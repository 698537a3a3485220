"""Tests of the CPU renderer (autopartgen.render): camera conventions, coverage, occlusion, mask/alpha
consistency and mask labels against an independent brute-force ray caster."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from autopartgen.data.procedural import build_object
from autopartgen.render import (Camera, fit_distance, part_colors, rasterize, render, render_preview,
                                render_views)


def _ray_cast_labels(meshes, camera: Camera) -> np.ndarray:
    """Label (S, S) of the nearest part hit by the ray through each pixel centre (-1 = miss).

    Moller-Trumbore against every triangle whose projected bounding box overlaps the pixel's 8x8 tile
    (both facings): independent of the rasteriser's edge functions, depth test and culling.
    """
    size = camera.size
    tris, owners = [], []
    for k, m in enumerate(meshes):
        tris.append(np.asarray(m.vertices)[np.asarray(m.faces)])
        owners.append(np.full(len(m.faces), k))
    tri = np.concatenate(tris)
    owner = np.concatenate(owners)
    uv, _ = camera.project(tri.reshape(-1, 3))
    uv = uv.reshape(-1, 3, 2)
    tri_lo, tri_hi = uv.min(axis=1) - 1.0, uv.max(axis=1) + 1.0
    labels = np.full((size, size), -1)
    origin = camera.position
    tile = 8
    for i0 in range(0, size, tile):
        for j0 in range(0, size, tile):
            sel = np.nonzero((tri_hi[:, 0] >= j0) & (tri_lo[:, 0] <= j0 + tile) &
                             (tri_hi[:, 1] >= i0) & (tri_lo[:, 1] <= i0 + tile))[0]
            if len(sel) == 0:
                continue
            jj, ii = np.meshgrid(np.arange(j0, min(j0 + tile, size)), np.arange(i0, min(i0 + tile, size)))
            x = (jj.ravel() + 0.5 - size / 2) / camera.focal
            y = -(ii.ravel() + 0.5 - size / 2) / camera.focal
            d = (np.stack([x, y, np.ones_like(x)], axis=1) @ camera.rotation())[:, None, :]  # (R, 1, 3)
            t3 = tri[sel]
            v0, e1, e2 = t3[:, 0], t3[:, 1] - t3[:, 0], t3[:, 2] - t3[:, 0]
            pvec = np.cross(d, e2[None])  # (R, T, 3)
            det = np.einsum("rtk,tk->rt", pvec, e1)
            ok = np.abs(det) > 1e-15
            inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
            tvec = origin - v0
            u = np.einsum("rtk,tk->rt", pvec, tvec) * inv
            qvec = np.cross(tvec, e1)
            v = np.einsum("rk,tk->rt", d[:, 0], qvec) * inv
            t = np.einsum("tk,tk->t", e2, qvec)[None] * inv
            hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 1e-6)
            t = np.where(hit, t, np.inf)
            best = t.argmin(axis=1)
            found = np.isfinite(t[np.arange(len(best)), best])
            out = np.full(len(best), -1)
            out[found] = owner[sel[best[found]]]
            labels[ii.ravel(), jj.ravel()] = out
    return labels


def test_camera_conventions():
    cam = Camera(azimuth=0.0, elevation=0.0, distance=3.0, fov=40.0, size=64)
    np.testing.assert_allclose(cam.position, [0, 0, 3.0], atol=1e-12)  # front camera on +Z
    uv, z = cam.project(np.array([[0.0, 0, 0], [0.0, 1.0, 0], [1.0, 0, 0]]))
    np.testing.assert_allclose(uv[0], [32, 32])
    assert uv[1, 1] < 32  # +Y is up in the image
    assert uv[2, 0] > 32  # +X is to the right in the front view
    np.testing.assert_allclose(z, [3.0, 3.0, 3.0])
    side = Camera(azimuth=90.0, elevation=0.0, distance=3.0)
    np.testing.assert_allclose(side.position, [3.0, 0, 0], atol=1e-12)
    w2c = cam.world_to_camera()
    np.testing.assert_allclose(w2c[:3, :3] @ cam.position + w2c[:3, 3], 0.0, atol=1e-12)
    assert Camera.from_dict(cam.to_dict()) == cam


def test_sphere_coverage_matches_projected_disc():
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.5)
    cam = Camera(azimuth=10.0, elevation=15.0, distance=3.0, fov=30.0, size=200)
    rgba, mask = render([sphere], [[0.8, 0.2, 0.2]], cam)
    # Silhouette of a sphere of radius r at distance d: cone half-angle asin(r/d).
    radius_px = cam.focal * math.tan(math.asin(0.5 / 3.0))
    expected = math.pi * radius_px ** 2
    assert abs((mask > 0).sum() - expected) / expected < 0.02
    assert rgba[100, 100, 3] == 255 and rgba[0, 0, 3] == 0
    assert set(np.unique(mask)) == {0, 1}


def test_occlusion_front_part_wins():
    back = trimesh.creation.box([1.0, 1.0, 0.2]).apply_translation([0, 0, -0.5])
    front = trimesh.creation.box([0.4, 0.4, 0.2]).apply_translation([0, 0, 0.5])
    cam = Camera(0.0, 0.0, 4.0, 30.0, 64)
    _, mask = render([back, front], part_colors(2), cam)
    assert mask[32, 32] == 2  # the small front box covers the centre
    assert mask[32, 24] == 1 and mask[32, 8] == 0  # the big back box shows around it
    raster = rasterize([back, front], cam)
    assert raster["depth"][32, 32] == pytest.approx(4.0 - 0.6, abs=1e-6)


@pytest.mark.parametrize("category,seed", [("chair", 1), ("bicycle", 2), ("robot", 3), ("vase_with_flowers", 4),
                                           ("cabinet", 5), ("bookshelf", 6), ("windmill", 7), ("snowman", 8)])
def test_mask_labels_match_ray_casting_and_alpha(category, seed):
    obj = build_object(category, seed, resolution=20)
    meshes = [p.mesh for p in obj.parts]
    views = render_views(meshes, 2, np.random.default_rng(seed), size=64)
    for view in views:
        mask, rgba = view["mask"], view["rgba"]
        np.testing.assert_array_equal(mask > 0, rgba[..., 3] > 127)  # mask union == alpha region
        ray = _ray_cast_labels(meshes, view["camera"]) + 1
        visible_mask = set(np.unique(mask)) - {0}
        visible_ray = set(np.unique(ray)) - {0}
        assert visible_mask == visible_ray
        assert (mask == ray).mean() > 0.998  # only pixel centres on shared triangle edges may differ


def test_render_views_deterministic_and_jittered():
    obj = build_object("car", 0, resolution=20)
    meshes = [p.mesh for p in obj.parts]
    a = render_views(meshes, 3, np.random.default_rng(7), size=32)
    b = render_views(meshes, 3, np.random.default_rng(7), size=32)
    for va, vb in zip(a, b):
        np.testing.assert_array_equal(va["rgba"], vb["rgba"])
        np.testing.assert_array_equal(va["mask"], vb["mask"])
    assert abs(a[0]["camera"].azimuth) < 60  # first view near the canonical front
    assert len({round(v["camera"].azimuth) for v in a}) == 3
    for v in a:  # the tight framing keeps the whole object inside the image
        m = v["mask"] > 0
        assert m.any() and not m[0].any() and not m[-1].any() and not m[:, 0].any() and not m[:, -1].any()


def test_fit_distance_tight_fit_keeps_vertices_inside():
    rng = np.random.default_rng(0)
    v = rng.uniform(-1, 1, (500, 3))
    for az, el in ((0, 0), (40, 25), (-120, 60)):
        d = fit_distance(v, 40.0, 1.0, az, el)
        uv, z = Camera(az, el, d, 40.0, 100).project(v)
        assert (z > 0).all() and uv.min() >= -1e-6 and uv.max() <= 100 + 1e-6
        assert uv.min() < 1e-3 or uv.max() > 100 - 1e-3  # and it is tight


def test_render_preview_has_both_halves():
    obj = build_object("table", 2, resolution=20)
    img = render_preview([p.mesh for p in obj.parts], size=64)
    assert img.shape == (64, 128, 4) and img.dtype == np.uint8
    assert (img[:, :64, 3] > 0).sum() > 200 and (img[:, 64:, 3] > 0).sum() > 100
    colours = {tuple(c) for c in img[img[..., 3] > 0][:, :3][::7]}
    assert len(colours) > 5  # several parts, shaded


def _preview_as_before(meshes, size):
    """The preview as render_preview drew it before the face budget: every face, parts moved by hand."""
    import math as _math

    from autopartgen.render import Lighting

    arrays = [(np.asarray(m.vertices, float), np.asarray(m.faces)) for m in meshes]
    cents = np.array([v.mean(axis=0) for v, _ in arrays])
    centre_all = np.concatenate([v for v, _ in arrays]).mean(axis=0)
    halves = []
    for parts in (arrays, [(v + 0.6 * (c - centre_all), f) for (v, f), c in zip(arrays, cents)]):
        allv = np.concatenate([v for v, _ in parts])
        centre = (allv.min(0) + allv.max(0)) / 2
        cam = Camera(30.0, 20.0, fit_distance(allv - centre, 35.0, 1.06, 30.0, 20.0), 35.0, size)
        light = Lighting((-0.3 + _math.sin(_math.radians(30.0)), 0.9, 0.7))
        halves.append(render([(v - centre, f) for v, f in parts], part_colors(len(parts)), cam, light,
                             np.full(len(parts), 0.15), np.full(len(parts), 24.0))[0])
    return np.concatenate(halves, axis=1)


def test_preview_within_the_face_budget_is_unchanged():
    obj = build_object("table", 2, resolution=20)
    meshes = [p.mesh for p in obj.parts]
    assert sum(len(m.faces) for m in meshes) < 200_000
    np.testing.assert_array_equal(render_preview(meshes, size=64), _preview_as_before(meshes, 64))


def test_preview_over_the_face_budget_draws_decimated_copies_in_the_same_frame():
    """Parts over the budget are decimated (each to its share) for the picture only: the silhouettes stay
    where the full parts put them."""
    from autopartgen.render import preview_copies

    meshes = [trimesh.creation.icosphere(subdivisions=5, radius=0.3 + 0.1 * i).apply_translation((0.8 * i, 0, 0))
              for i in range(2)]
    meshes.append(trimesh.creation.box(extents=(0.2, 0.2, 0.2)))  # under its share: kept as it is
    faces = [len(m.faces) for m in meshes]
    assert faces == [20480, 20480, 12]
    copies = preview_copies(meshes, face_budget=8000)
    assert all(3000 < len(f) <= 4000 for _, f in copies[:2])  # 8000 * 20480 / 40972 each
    np.testing.assert_array_equal(copies[2][1], meshes[2].faces)
    full = render_preview(meshes, size=96, face_budget=None)
    drawn = render_preview(meshes, size=96, face_budget=8000)
    np.testing.assert_array_equal(full, _preview_as_before(meshes, 96))
    full_alpha, drawn_alpha = full[..., 3] > 0, drawn[..., 3] > 0
    iou = (full_alpha & drawn_alpha).sum() / (full_alpha | drawn_alpha).sum()
    assert iou > 0.98
    assert not np.array_equal(full, drawn)  # the copies are drawn, not the parts
