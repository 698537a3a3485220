"""Copy what `autopartgen train dit --ready-only` reads into a small folder that travels to a GPU machine.

The DiT trains on the VAE latent cache and on the prepared views; the object meshes and point clouds
stay behind. The folder holds ``.latent_cache/<fingerprint>-<prep key>/`` (latents in float16, or with
``--int8`` as int8 codes and a step per latent and channel, which the loader decodes) and
``.train_prep/<key>/<id>.npz`` with only the views and their part labels (compressed). Objects are
taken in a fixed shuffled order until ``--max-mb`` is reached. ``--localization N`` also copies the
meshes (``meta.json``, ``parts.glb``, about 0.4 MB each) of the first N objects the trainer's
teacher-forced localisation metric reads (``train/dit.localization_indices``; not counted in
``--max-mb``), so that metric runs on the packed folder too. ``--out`` must be new or a folder this tool
wrote (it holds ``pack.json``); such a folder is replaced.

    python tools/pack_dit_data.py --data DATA --history anchored --out .carry/v2 --max-mb 24 [--int8]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from autopartgen.checkpoints import save_safetensors
from autopartgen.config import load_config
from autopartgen.train.dit import localization_indices
from autopartgen.train.latents import LatentCache, quantize_latents
from autopartgen.train.prep import HISTORY_FORMS, PART_ORDERS, prep_dir, prep_settings

MARKER = "pack.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="prepared dataset with a latent cache")
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--history", choices=HISTORY_FORMS, default="parts")
    parser.add_argument("--part-order", choices=PART_ORDERS, default="dataset")
    parser.add_argument("--out", required=True, type=Path, help="folder to write (replaced)")
    parser.add_argument("--max-mb", type=float, default=24.0, help="size budget of the folder")
    parser.add_argument("--localization", type=int, default=0,
                        help="copy the meshes of the first N objects of the localisation metric")
    parser.add_argument("--int8", action="store_true",
                        help="latents as int8 codes with a float16 step per latent and channel (half the size)")
    args = parser.parse_args()

    settings = prep_settings(load_config(args.config), args.history, args.part_order)
    source_prep = prep_dir(args.data, settings)
    caches = [d for d in (args.data / ".latent_cache").iterdir()
              if (d / "index.json").is_file() and d.name.endswith(f"-{source_prep.name}")]
    if len(caches) != 1:
        raise SystemExit(f"{args.data}: expected one latent cache of the {source_prep.name} prep, found "
                         f"{len(caches)}; run autopartgen train dit --history {args.history} "
                         f"--part-order {args.part_order} on it first")
    cache = LatentCache(caches[0])

    if args.out.exists():
        if not (args.out / MARKER).is_file():
            raise SystemExit(f"--out {args.out} exists and was not written by this tool; choose a new folder")
        shutil.rmtree(args.out)
    out_prep = prep_dir(args.out, settings)
    out_prep.mkdir(parents=True)
    (args.out / MARKER).write_text(json.dumps({"data": str(args.data), "history": args.history,
                                           "part_order": args.part_order}) + "\n")
    tokens, channels = cache.empty.shape
    per_latent = tokens * channels + 2 * channels if args.int8 else tokens * channels * 2  # bytes
    budget, used, chosen = args.max_mb * 1e6, 0, []
    for i in np.random.default_rng(1234).permutation(len(cache)):
        object_id, count = cache.ids[i], cache.counts[i]
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
    chosen.sort(key=lambda i: cache.ids[i])  # --ready-only lists ids sorted
    rows = lambda block: torch.cat([block[cache.offsets[i]:cache.offsets[i + 1]] for i in chosen])
    packed = {"whole": cache.wholes[chosen], "parts": rows(cache.parts), "history": rows(cache.histories),
              "empty": cache.empty}
    if args.int8:
        packed = {f"{name}.{key}": value for name, block in packed.items()
                  for key, value in quantize_latents(block).items()}
    else:
        packed = {name: block.half() for name, block in packed.items()}
    out_cache = args.out / ".latent_cache" / caches[0].name
    out_cache.mkdir(parents=True)
    save_safetensors(packed, out_cache / "latents.safetensors")
    (out_cache / "index.json").write_text(json.dumps({**cache.index, "ids": [cache.ids[i] for i in chosen],
                                                      "counts": [cache.counts[i] for i in chosen]}) + "\n")
    copied = 0
    for i in localization_indices(list(range(len(chosen))))[:args.localization]:
        object_id = cache.ids[chosen[i]]
        (args.out / object_id).mkdir()
        for name in ("meta.json", "parts.glb"):
            shutil.copy2(args.data / object_id / name, args.out / object_id / name)
            copied += (args.out / object_id / name).stat().st_size
    print(f"{len(chosen)} of {len(cache)} objects, {used / 1e6:.3f} MB -> {args.out}"
          + (f" (+ {copied / 1e6:.3f} MB of localisation meshes)" if copied else ""))


if __name__ == "__main__":
    main()
