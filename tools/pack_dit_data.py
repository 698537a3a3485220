"""Copy what `autopartgen train dit --ready-only` reads into a small folder that travels to a GPU machine.

The DiT trains on the VAE latent cache and on the prepared views; the object meshes and point clouds
stay behind. The folder holds ``.latent_cache/<fingerprint>/`` (latents in float16, which the loader
reads as they are) and ``.train_prep/<key>/<id>.npz`` with only the views and their part labels
(compressed). Objects are taken in a fixed shuffled order until ``--max-mb`` is reached.

    python tools/pack_dit_data.py --data DATA --history anchored --out .carry/v2 --max-mb 24
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from autopartgen.checkpoints import save_safetensors
from autopartgen.config import load_config
from autopartgen.train.prep import HISTORY_FORMS, prep_dir, prep_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="prepared dataset with a latent cache")
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--history", choices=HISTORY_FORMS, default="parts")
    parser.add_argument("--out", required=True, type=Path, help="folder to write (replaced)")
    parser.add_argument("--max-mb", type=float, default=24.0, help="size budget of the folder")
    args = parser.parse_args()

    settings = prep_settings(load_config(args.config), args.history)
    source_prep = prep_dir(args.data, settings)
    caches = [d for d in (args.data / ".latent_cache").iterdir() if (d / "index.json").is_file()]
    if len(caches) != 1:
        raise SystemExit(f"{args.data}: expected one latent cache, found {len(caches)}")
    index = json.loads((caches[0] / "index.json").read_text())
    tensors = load_file(str(caches[0] / "latents.safetensors"))
    offsets = np.concatenate([[0], np.cumsum(index["counts"])])

    if args.out.exists():
        shutil.rmtree(args.out)
    out_prep = prep_dir(args.out, settings)
    out_prep.mkdir(parents=True)
    per_latent = tensors["empty"].numel() * 2  # bytes in float16
    budget, used, chosen = args.max_mb * 1e6, 0, []
    for i in np.random.default_rng(1234).permutation(len(index["ids"])):
        object_id, count = index["ids"][i], index["counts"][i]
        with np.load(source_prep / f"{object_id}.npz") as prep:
            target = out_prep / f"{object_id}.npz"
            np.savez_compressed(target, images=prep["images"], labels=prep["labels"])
        size = target.stat().st_size + (1 + 2 * count) * per_latent
        if used + size > budget:
            target.unlink()
            break
        used += size
        chosen.append(int(i))
    if not chosen:
        shutil.rmtree(args.out)
        raise SystemExit(f"--max-mb {args.max_mb} holds no object: raise it")
    chosen.sort(key=lambda i: index["ids"][i])  # --ready-only lists ids sorted
    rows = lambda name: torch.cat([tensors[name][offsets[i]:offsets[i + 1]] for i in chosen])
    packed = {"whole": tensors["whole"][chosen].half(), "parts": rows("parts").half(),
              "history": rows("history").half(), "empty": tensors["empty"].half()}
    out_cache = args.out / ".latent_cache" / caches[0].name
    out_cache.mkdir(parents=True)
    save_safetensors(packed, out_cache / "latents.safetensors")
    (out_cache / "index.json").write_text(json.dumps({**index, "ids": [index["ids"][i] for i in chosen],
                                                      "counts": [index["counts"][i] for i in chosen]}) + "\n")
    print(f"{len(chosen)} of {len(index['ids'])} objects, {used / 1e6:.3f} MB -> {args.out}")


if __name__ == "__main__":
    main()
