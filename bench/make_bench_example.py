"""Write a dataset object as an `autopartgen bench --example-dir` folder: mesh.glb and image.png.

The mesh is the object's fused input exactly as `autopartgen eval` builds it (one watertight surface of
the union at 192 cells, decimated to 20,000 faces); the image is its first rendered view. Used for the
"6-part object" timings in docs/performance.md:

    python bench/make_bench_example.py --object DATA/bookshelf_2000000034 --out /tmp/bookshelf
    autopartgen bench --example-dir /tmp/bookshelf --threads 2
"""

import argparse
from pathlib import Path

from PIL import Image

from autopartgen.eval.runner import load_object, make_input_mesh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--object", required=True, type=Path, help="object folder (parts.glb, meta.json, views/)")
    parser.add_argument("--out", required=True, type=Path, help="folder to write (must not exist)")
    args = parser.parse_args()
    if args.out.exists():
        raise SystemExit(f"--out {args.out} exists; choose a new folder")
    obj = load_object(args.object)
    views = sorted((args.object / "views").glob("rgba_*.png"))
    if not views:
        raise SystemExit(f"{args.object}: no rendered views in views/")
    mesh = make_input_mesh(obj.parts, "fused", 192, max_faces=20_000)
    args.out.mkdir(parents=True)
    mesh.export(args.out / "mesh.glb")
    Image.open(views[0]).save(args.out / "image.png")
    print(f"{obj.object_id}: {len(obj.parts)} parts, input {len(mesh.faces)} faces -> {args.out}")


if __name__ == "__main__":
    main()
