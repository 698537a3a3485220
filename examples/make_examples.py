"""Regenerate the example objects and the gallery in this folder.

    python examples/make_examples.py

Writes ``examples/<name>/mesh.glb`` (the whole object, one node per part, named part_000... in canonical
order), ``image.png`` (RGBA view, transparent background), ``mask.png`` (indexed: pixel k + 1 = part k)
and ``examples/gallery.png`` (one object per category, coloured parts). Meshes are simplified with
fast-simplification to keep the folder small; images are rendered from the full-resolution parts.
"""

from __future__ import annotations

from pathlib import Path

import fast_simplification
import numpy as np
import trimesh
from PIL import Image

from autopartgen.data.dataset import parts_to_glb
from autopartgen.data.procedural import CATEGORIES, build_object
from autopartgen.render import Camera, Lighting, fit_distance, part_colors, render

HERE = Path(__file__).parent
EXAMPLES = {"chair": ("chair", 4), "car": ("car", 2), "desk_lamp": ("desk_lamp", 1), "robot": ("robot", 3),
            "windmill": ("windmill", 5)}
FACES_PER_PART = 1200


def simplify(mesh: trimesh.Trimesh, target_faces: int) -> trimesh.Trimesh:
    if len(mesh.faces) <= target_faces:
        return mesh
    reduction = 1.0 - target_faces / len(mesh.faces)
    v, f = fast_simplification.simplify(np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces), reduction)
    return trimesh.Trimesh(v, f, process=False)


def front_view(meshes, size: int, azimuth: float = 25.0, elevation: float = 20.0):
    allv = np.concatenate([m.vertices for m in meshes])
    cam = Camera(azimuth, elevation, fit_distance(allv, 40.0, 1.1, azimuth, elevation), 40.0, size)
    colors = part_colors(len(meshes))
    return render(meshes, colors, cam, Lighting((-0.3, 0.9, 0.7)), np.full(len(meshes), 0.15), np.full(len(meshes), 24.0))


def main() -> None:
    for name, (category, seed) in EXAMPLES.items():
        obj = build_object(category, seed, resolution=64)
        meshes = [p.mesh for p in obj.parts]
        folder = HERE / name
        folder.mkdir(exist_ok=True)
        (folder / "mesh.glb").write_bytes(parts_to_glb([simplify(m, FACES_PER_PART) for m in meshes]))
        rgba, mask = front_view(meshes, 384)
        Image.fromarray(rgba).save(folder / "image.png", optimize=True)
        Image.fromarray(mask).save(folder / "mask.png", optimize=True)
        print(name, category, seed, len(meshes), "parts:", ", ".join(p.name for p in obj.parts))
    tile, cols = 160, 8
    tiles = []
    for i, category in enumerate(CATEGORIES):
        obj = build_object(category, 100 + i, resolution=48)
        rgba, _ = front_view([p.mesh for p in obj.parts], tile)
        a = rgba[..., 3:].astype(float) / 255.0
        tiles.append((rgba[..., :3] * a + 255.0 * (1 - a)).astype(np.uint8))
    while len(tiles) % cols:
        tiles.append(np.full((tile, tile, 3), 255, np.uint8))
    rows = [np.concatenate(tiles[r:r + cols], axis=1) for r in range(0, len(tiles), cols)]
    Image.fromarray(np.concatenate(rows, axis=0)).save(HERE / "gallery.png", optimize=True)


if __name__ == "__main__":
    main()
