"""Input loading and validation: meshes, images, masks (autopartgen/inputs.py)."""

import logging

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from autopartgen.errors import InputFileError
from autopartgen.inputs import (
    colour_mask_to_labels,
    composite_on_white,
    ensure_alpha,
    foreground_box,
    has_valid_alpha,
    load_image,
    load_mask,
    load_mesh,
    masked_part_images,
    normalize_mesh,
    prepare_image,
    prepare_image_with_box,
    segment_background,
)
from autopartgen.masks import order_mask_labels


def raises_input_error(func, path, *args, **kwargs) -> str:
    """Call ``func(path, ...)``, assert an InputFileError with a one-line message naming the file."""
    with pytest.raises(InputFileError) as info:
        func(path, *args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    assert str(path) in message
    return message


# ---------------------------------------------------------------------------------------------- meshes


def test_mesh_missing_directory_empty_suffix(tmp_path):
    assert "not found" in raises_input_error(load_mesh, tmp_path / "nope.glb")
    assert "directory" in raises_input_error(load_mesh, tmp_path)
    empty = tmp_path / "empty.obj"
    empty.write_bytes(b"")
    assert "empty" in raises_input_error(load_mesh, empty)
    fbx = tmp_path / "model.fbx"
    fbx.write_bytes(b"binary")
    assert ".glb" in raises_input_error(load_mesh, fbx)


def test_mesh_text_file_named_glb(tmp_path):
    path = tmp_path / "fake.glb"
    path.write_text("this is not a mesh, just some notes\n")
    assert "text file" in raises_input_error(load_mesh, path)


def test_mesh_truncated_and_corrupt(tmp_path):
    box = trimesh.creation.box()
    for suffix in ("glb", "ply", "stl"):
        data = box.export(file_type=suffix)
        path = tmp_path / f"trunc.{suffix}"
        path.write_bytes(data[: len(data) // 2])
        raises_input_error(load_mesh, path)
    garbage = tmp_path / "garbage.ply"
    garbage.write_bytes(bytes(range(256)) * 4)
    raises_input_error(load_mesh, garbage)


def test_mesh_nan_vertices(tmp_path):
    box = trimesh.creation.box()
    vertices = box.vertices.copy()
    vertices[3] = np.nan
    path = tmp_path / "nan.ply"
    trimesh.Trimesh(vertices, box.faces, process=False).export(path)
    assert "NaN" in raises_input_error(load_mesh, path)
    obj = tmp_path / "inf.obj"
    obj.write_text("v inf 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    raises_input_error(load_mesh, obj)


def test_mesh_without_faces(tmp_path):
    cloud = tmp_path / "cloud.ply"
    trimesh.PointCloud(np.random.default_rng(0).random((50, 3))).export(cloud)
    assert "point cloud" in raises_input_error(load_mesh, cloud)
    obj = tmp_path / "verts.obj"
    obj.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    raises_input_error(load_mesh, obj)


def test_glb_scene_flattened_with_transforms(tmp_path):
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(), node_name="a",
                       transform=trimesh.transformations.translation_matrix([5.0, 0.0, 0.0]))
    scene.add_geometry(trimesh.creation.box(), node_name="b", transform=np.diag([2.0, 3.0, 2.0, 1.0]))
    path = tmp_path / "scene.glb"
    scene.export(path)
    mesh = load_mesh(path)
    assert isinstance(mesh, trimesh.Trimesh)
    assert len(mesh.faces) == 24
    np.testing.assert_allclose(mesh.bounds, [[-1.0, -1.5, -1.0], [5.5, 1.5, 1.0]], atol=1e-6)
    normalised, center, scale = normalize_mesh(mesh)
    np.testing.assert_allclose(center, [2.25, 0.0, 0.0], atol=1e-6)
    assert scale == pytest.approx(3.25)
    assert np.abs(normalised.vertices).max() == pytest.approx(1.0)


@pytest.mark.parametrize("suffix", ["obj", "ply", "stl", "off", "gltf"])
def test_mesh_round_trip(tmp_path, suffix):
    source = trimesh.creation.box(extents=[1.0, 2.0, 3.0])
    source.apply_translation([0.5, 0.0, -1.0])
    path = tmp_path / f"box.{suffix}"
    source.export(path)
    mesh = load_mesh(path)
    assert len(mesh.faces) == 12 and len(mesh.vertices) == 8
    np.testing.assert_allclose(mesh.bounds, source.bounds, atol=1e-5)
    assert mesh.volume == pytest.approx(6.0, rel=1e-5)


def test_large_mesh_decimated_or_kept(tmp_path, caplog):
    sphere = trimesh.creation.icosphere(subdivisions=3)  # 1280 faces
    path = tmp_path / "sphere.ply"
    sphere.export(path)
    with caplog.at_level(logging.WARNING, logger="autopartgen.inputs"):
        mesh = load_mesh(path, max_faces=300)
    assert 100 < len(mesh.faces) <= 300
    assert "--allow_large_mesh" in caplog.text
    assert len(load_mesh(path, max_faces=300, allow_large=True).faces) == 1280


# ---------------------------------------------------------------------------------------------- images


def _rgba_square(size=200, lo=50, hi=150) -> Image.Image:
    arr = np.zeros((size, size, 4), np.uint8)
    arr[lo:hi, lo:hi] = (200, 30, 30, 255)
    return Image.fromarray(arr)


def test_image_bad_files(tmp_path):
    assert "not found" in raises_input_error(load_image, tmp_path / "missing.png")
    raises_input_error(load_image, tmp_path)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    raises_input_error(load_image, empty)
    text = tmp_path / "notes.png"
    text.write_text("hello, not an image")
    assert "not an image" in raises_input_error(load_image, text)
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])
    assert "corrupt" in raises_input_error(load_image, truncated)
    bmp = tmp_path / "image.bmp"
    Image.new("RGB", (32, 32)).save(bmp)
    assert "PNG" in raises_input_error(load_image, bmp)


def test_image_size_limits(tmp_path):
    for name, size in [("one.png", (1, 1)), ("small.png", (15, 64))]:
        path = tmp_path / name
        Image.new("RGB", size).save(path)
        assert "at least 16" in raises_input_error(load_image, path)
    big = tmp_path / "wide.png"
    Image.new("L", (8193, 16)).save(big)
    assert "8192" in raises_input_error(load_image, big)


def test_image_formats_and_modes(tmp_path):
    rgba = _rgba_square()
    rgba.save(tmp_path / "a.png")
    rgba.convert("RGB").save(tmp_path / "a.jpg")
    rgba.save(tmp_path / "a.webp", lossless=True)
    grey_with_alpha = Image.new("LA", (32, 32))
    grey_with_alpha.paste((128, 255), (8, 8, 24, 24))  # an opaque grey square on transparent
    grey_with_alpha.save(tmp_path / "la.png")
    assert load_image(tmp_path / "a.png").mode == "RGBA"
    assert load_image(tmp_path / "a.jpg").mode == "RGB"
    webp = load_image(tmp_path / "a.webp")
    assert webp.mode == "RGBA" and webp.size == (200, 200)
    assert load_image(tmp_path / "la.png").mode == "RGBA"


def test_has_valid_alpha():
    assert has_valid_alpha(_rgba_square())
    assert not has_valid_alpha(_rgba_square().convert("RGB"))
    opaque = _rgba_square()
    opaque.putalpha(255)
    assert not has_valid_alpha(opaque)


def _bbox(tensor: torch.Tensor, thresh=0.55):
    """Bounding box (x0, y0, x1, y1) of the dark pixels (some channel < thresh) of a (3, S, S) tensor."""
    ys, xs = np.nonzero((tensor.numpy() < thresh).any(axis=0))
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def test_prepare_image_centred_square():
    image = _rgba_square(300, 100, 200)
    tensor, box = prepare_image_with_box(image)
    assert tensor.shape == (3, 448, 448) and tensor.dtype == torch.float32
    assert 0.0 <= tensor.min() and tensor.max() <= 1.0
    np.testing.assert_allclose(box, (90, 90, 210, 210))
    x0, y0, x1, y1 = _bbox(tensor)
    side = 448 / 1.2
    assert abs((x1 - x0) - side) <= 1 and abs((y1 - y0) - side) <= 1
    assert abs(x0 - (448 - x1)) <= 1 and abs(y0 - (448 - y1)) <= 1
    assert torch.allclose(tensor[:, 224, 224], torch.tensor([200, 30, 30]) / 255.0, atol=1e-6)
    assert torch.equal(prepare_image(image), tensor)


def test_prepare_image_reference_compat():
    image = _rgba_square(300, 100, 200)
    ref, box = prepare_image_with_box(image, reference_compat=True)
    # inclusive extents 100..199: cx = 149.5, half = int(1.2 * 99) // 2 = 59, int(90.5) = 90, int(208.5) = 208
    assert box == (90, 90, 208, 208)
    expected = Image.fromarray(np.where(np.asarray(image)[..., 3:] > 0, np.asarray(image)[..., :3], 255)
                               .astype(np.uint8)).crop(box).resize((448, 448), Image.Resampling.BICUBIC)
    assert torch.equal(ref, torch.from_numpy(np.array(expected)).permute(2, 0, 1).float() / 255)
    # away from the border both modes frame the object alike: centres within 1% of the side, sizes within
    # 2% (the reference measures the extent as xmax - xmin, one pixel short, and truncates the box)
    rx0, ry0, rx1, ry1 = _bbox(ref)
    dx0, dy0, dx1, dy1 = _bbox(prepare_image(image))
    assert abs((rx0 + rx1) - (dx0 + dx1)) / 2 < 4.5 and abs((ry0 + ry1) - (dy0 + dy1)) / 2 < 4.5
    assert abs((rx1 - rx0) / (dx1 - dx0) - 1) < 0.02 and abs((ry1 - ry0) / (dy1 - dy0) - 1) < 0.02


def test_border_object_keeps_aspect_by_default():
    size = 256
    yy, xx = np.mgrid[:size, :size]
    disc = (xx - 60) ** 2 + (yy - 128) ** 2 <= 60 ** 2  # touches the left border
    arr = np.zeros((size, size, 4), np.uint8)
    arr[disc] = (20, 120, 220, 255)
    image = Image.fromarray(arr)
    x0, y0, x1, y1 = _bbox(prepare_image(image))
    assert abs((x1 - x0) - (y1 - y0)) <= 2  # a circle stays round
    x0, y0, x1, y1 = _bbox(prepare_image(image, reference_compat=True))
    assert (x1 - x0) > (y1 - y0) * 1.05  # the reference clips the box and stretches


def test_composite_rounding_vs_truncation():
    image = Image.fromarray(np.full((4, 4, 4), (191, 191, 191, 128), np.uint8))
    # 191 * 128/255 + 255 * 127/255 = 222.87
    assert np.asarray(composite_on_white(image))[0, 0, 0] == 223
    assert np.asarray(composite_on_white(image, reference_compat=True))[0, 0, 0] == 222


def test_rgb_image_without_alpha_padded_or_stretched():
    image = Image.new("RGB", (200, 100), (10, 10, 10))
    tensor, box = prepare_image_with_box(image)
    x0, y0, x1, y1 = _bbox(tensor)
    assert (x1 - x0, y1 - y0) == (448, 224)
    ref, ref_box = prepare_image_with_box(image, reference_compat=True)
    assert ref_box is None and ref.max() < 0.1  # stretched over the whole square


def test_segment_background_disc():
    size = 160
    yy, xx = np.mgrid[:size, :size]
    disc = (xx - 90) ** 2 + (yy - 70) ** 2 <= 40 ** 2
    rng = np.random.default_rng(0)
    arr = np.clip(128 + rng.normal(0, 3, (size, size, 3)), 0, 255)
    arr[disc] = (220, 60, 40)
    image = Image.fromarray(arr.astype(np.uint8))
    out = segment_background(image)
    assert out.mode == "RGBA" and out.size == image.size
    found = np.asarray(out.getchannel("A")) > 127
    assert (found & disc).sum() / (found | disc).sum() > 0.95
    assert has_valid_alpha(out)
    assert ensure_alpha(image).mode == "RGBA"


def test_ensure_alpha_keeps_valid_alpha_and_uses_segmenter():
    image = _rgba_square()
    assert np.array_equal(np.asarray(ensure_alpha(image)), np.asarray(image))
    rgb = image.convert("RGB")
    out = ensure_alpha(rgb, segmenter=lambda im: np.ones((50, 50), np.float32))
    assert out.size == rgb.size and np.asarray(out.getchannel("A")).min() == 255


# ---------------------------------------------------------------------------------------------- masks


def test_mask_bad_files(tmp_path):
    raises_input_error(load_mask, tmp_path / "missing.png")
    text = tmp_path / "mask.png"
    text.write_text("nope")
    raises_input_error(load_mask, text)
    zeros = tmp_path / "zeros.png"
    Image.new("L", (32, 32)).save(zeros)
    assert "no labels" in raises_input_error(load_mask, zeros)
    many = tmp_path / "many.png"
    Image.fromarray(np.arange(1, 71, dtype=np.uint8).repeat(2).reshape(20, 7)).save(many)
    assert "64" in raises_input_error(load_mask, many)


def test_colour_mask_three_colours(tmp_path):
    arr = np.zeros((20, 30, 3), np.uint8)
    arr[2:8, 2:8] = (255, 0, 0)
    arr[10:18, 5:12] = (0, 255, 0)
    arr[4:16, 20:28] = (0, 0, 255)
    path = tmp_path / "colour.png"
    Image.fromarray(arr).save(path)
    labels = load_mask(path)
    assert labels.dtype == np.int64 and labels.shape == (20, 30)
    assert sorted(np.unique(labels).tolist()) == [0, 1, 2, 3]
    # packed-RGB order: blue < green < red
    assert labels[5, 5] == 3 and labels[12, 8] == 2 and labels[10, 24] == 1
    _, colours = colour_mask_to_labels(arr)
    assert colours.tolist() == [[0, 0, 255], [0, 255, 0], [255, 0, 0]]
    grey = tmp_path / "grey_rgb.png"
    Image.fromarray(np.stack([arr[..., 0] // 85] * 3, axis=-1)).save(grey)
    assert sorted(np.unique(load_mask(grey)).tolist()) == [0, 3]  # equal channels: grey values are labels


def test_palette_one_bit_and_16bit_masks(tmp_path):
    indices = np.zeros((16, 16), np.uint8)
    indices[:8, :8], indices[8:, 8:] = 5, 2
    palette = Image.fromarray(indices, mode="L").convert("P")
    palette.putpalette([0, 0, 0, 10, 10, 10, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200, 0] + [0] * (256 * 3 - 18))
    palette.putdata(indices.ravel().tolist())
    path = tmp_path / "palette.png"
    palette.save(path)
    assert Image.open(path).mode == "P"
    np.testing.assert_array_equal(load_mask(path), indices)

    one = tmp_path / "one.png"
    Image.fromarray(indices > 0).save(one)
    assert Image.open(one).mode == "1"
    np.testing.assert_array_equal(load_mask(one), (indices > 0).astype(np.int64))

    wide = np.zeros((16, 16), np.uint16)
    wide[2:6, 2:6], wide[10:14, 3:9] = 300, 1000
    path16 = tmp_path / "sixteen.png"
    Image.fromarray(wide).save(path16)
    labels = load_mask(path16)
    np.testing.assert_array_equal(labels, wide.astype(np.int64))
    assert order_mask_labels(labels).tolist() == [1000, 300]


def test_mask_size_mismatch(tmp_path, caplog):
    labels = np.zeros((20, 30), np.uint8)
    labels[5:15, 5:15], labels[5:15, 18:28] = 1, 2
    path = tmp_path / "half.png"
    Image.fromarray(labels).save(path)
    with caplog.at_level(logging.WARNING, logger="autopartgen.inputs"):
        resized = load_mask(path, image_size=(60, 40))
    assert resized.shape == (40, 60) and "resizing" in caplog.text
    np.testing.assert_array_equal(resized[::2, ::2], labels)
    message = raises_input_error(load_mask, path, image_size=(40, 40))
    assert "30x20" in message and "40x40" in message
    assert load_mask(path, image_size=(30, 20)).shape == (20, 30)


def test_masked_part_images():
    image = _rgba_square(100, 20, 80)
    mask = np.zeros((100, 100), np.int64)
    mask[20:80, 20:50], mask[20:80, 50:80] = 4, 7
    order = order_mask_labels(mask)
    assert order.tolist() == [4, 7]
    whole, box = prepare_image_with_box(image, size=64)
    parts = masked_part_images(image, mask, order, box, size=64)
    assert parts.shape == (2, 3, 64, 64) and parts.dtype == torch.float32
    # part 4 is the left half of the object: its right half is white
    assert torch.all(parts[0, :, 20:44, 40:] == 1.0)
    assert torch.allclose(parts[0, :, 32, 15], whole[:, 32, 15])
    assert torch.all(parts[1, :, 20:44, :24] == 1.0)
    # union of the parts reproduces the whole (away from the seam, bicubic ringing)
    assert torch.allclose(torch.minimum(parts[0], parts[1])[:, :, :28], whole[:, :, :28], atol=1e-6)
    # a half-size mask is resized nearest to the image
    small = mask[::2, ::2]
    parts_small = masked_part_images(image, small, order, box, size=64)
    assert torch.allclose(parts_small, parts, atol=1e-6)
    ref, ref_box = prepare_image_with_box(image, size=64, reference_compat=True)
    assert masked_part_images(image, mask, order, ref_box, size=64, reference_compat=True).shape == (2, 3, 64, 64)
    assert foreground_box(image.convert("RGB")) is None


def test_area_mask_order_puts_the_largest_region_first_and_ties_by_position():
    mask = np.zeros((40, 40), np.int64)
    mask[30:40, 0:5] = 3      # small, lowest: first by position
    mask[0:20, 0:20] = 5      # largest
    mask[20:30, 20:30] = 8    # 100 pixels, reaches lower than 9
    mask[0:10, 30:40] = 9     # 100 pixels
    assert order_mask_labels(mask).tolist() == [3, 8, 5, 9]
    assert order_mask_labels(mask, "area").tolist() == [5, 8, 9, 3]
    with pytest.raises(ValueError, match="mask order"):
        order_mask_labels(mask, "random")
