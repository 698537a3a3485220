"""Build the real-object validation set: multi-link models shipped in public PyPI packages, converted to
our on-disk format with one part per rigid link, in their default pose and in random joint configurations.

    pip install gymnasium && pip install --no-deps example-robot-data
    python bench/build_real_val.py --out /work/data/real_val
    pip install -e ".[import]"   # real-val-2: most of its robots' meshes are Collada
    python bench/build_real_val.py --out /work/data/real_val2 --sources bench/real_val2_sources.json

Sources and licences: ``bench/real_val_sources.json`` / ``real_val2_sources.json`` (also copied, with
package versions and resolved paths, to ``OUT/manifest.json``); see ``docs/real_validation.md``. Evaluate with
``autopartgen eval --data OUT --split real-val``. A model whose package is missing is skipped with a
warning.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import re
import sys
import sysconfig
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autopartgen.data.importers.articulated import write_pose_variants  # noqa: E402
from autopartgen.data.importers.mjcf import read_mjcf  # noqa: E402
from autopartgen.data.importers.urdf import read_urdf  # noqa: E402

log = logging.getLogger("build_real_val")
FORBIDDEN = ("gymnasium_robotics", "gymnasium-robotics", "metaworld", "pybullet", "dm_control", "robosuite")


def package_root(package: str) -> Path | None:
    """Where a package's data lives: gymnasium's module folder; example-robot-data's cmeel prefix."""
    if package == "gymnasium":
        try:
            import gymnasium
        except ImportError:
            return None
        return Path(gymnasium.__file__).parent
    if package == "example-robot-data":
        root = Path(sysconfig.get_paths()["purelib"]) / "cmeel.prefix" / "share" / "example-robot-data"
        return root if root.is_dir() else None
    raise ValueError(f"unknown package {package}")


def readme_licence(urdf: Path) -> str:
    """The ``license:`` line of the robot's README in example-robot-data (each robot has its own)."""
    for folder in urdf.parents:
        readme = folder / "README.md"
        if readme.is_file():
            match = re.search(r"^\s*licen[sc]e:\s*(.+)$", readme.read_text(errors="ignore"), flags=re.I | re.M)
            if match:
                return match.group(1).strip()
        if folder.name.endswith("_description") or folder.name == "talos_data":
            break
    return "BSD-3-Clause (example-robot-data package licence)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output dataset folder")
    parser.add_argument("--sources", default=str(REPO / "bench" / "real_val_sources.json"))
    parser.add_argument("--poses", type=int, default=None, help="random joint configurations per model")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--only", default=None, help="regex on model ids")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    spec = json.loads(Path(args.sources).read_text())
    n_random = spec["random_poses"] if args.poses is None else args.poses
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"built": time.strftime("%Y-%m-%d"), "random_poses": n_random, "objects": []}
    for seed, entry in enumerate(spec["models"]):
        if args.only and not re.search(args.only, entry["id"]):
            continue
        if any(f in entry["package"].lower() for f in FORBIDDEN):
            raise SystemExit(f"{entry['id']}: {entry['package']} is reserved for the acceptance measurement")
        root = package_root(entry["package"])
        if root is None:
            log.warning("%s: package %s not installed; skipped", entry["id"], entry["package"])
            continue
        path = root / entry["file"]
        if entry["format"] == "mjcf":
            model = read_mjcf(path, exclude=entry.get("exclude"))
        else:
            model = read_urdf(path, package_dirs=[root.parent])
        version = importlib.metadata.version(entry["package"])
        licence = entry.get("licence") or readme_licence(path)
        source = f"PyPI {entry['package']}=={version}: {entry['file']}"
        model.source = source
        folders = write_pose_variants(model, out, entry["id"], n_random=entry.get("random_poses", n_random), seed=seed,
                                      include_default=entry.get("default_pose", True), category=entry["category"],
                                      licence=licence, resolution=args.resolution, n_views=args.views, size=args.size,
                                      extra_meta={"split": "real-val", "source_package": entry["package"],
                                                  "source_version": version, "source_file": entry["file"]})
        for folder in folders:
            meta = json.loads((folder / "meta.json").read_text())
            manifest["objects"].append({"id": folder.name, "category": entry["category"], "n_parts": meta["n_parts"],
                                        "source": source, "licence": licence})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    log.info("%d objects -> %s", len(manifest["objects"]), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
