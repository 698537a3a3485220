#!/usr/bin/env bash
# What one GPU lease runs (the `device` tool's H200, 15 minutes in all): the release-size benchmarks of
# docs/performance.md and a DiT training burst on a packed dataset (tools/pack_dit_data.py), in that order,
# each under its own time limit so that the burst's weights always come back.
#
#   OUT=out DATA=.carry/v2 TRAIN_MINUTES=5 bash bench/gpu_lease.sh
#
# INIT: the model folder the burst starts from (default: the shipped one). BENCH=0 skips the benchmarks
# (all the time to the burst). BATCH, LR: the burst's batch and peak learning rate (128, 3e-4).
# The burst plans its step count to end its cosine schedule with TRAIN_MINUTES (--fit-to-time) and keeps
# the EMA weights at a half and three quarters of it (--snapshots 4).
# Carried: .whl/ (the project's pure-Python and manylinux dependencies the machine lacks) and $DATA.
# Writes to $OUT: gpu.txt, model_core.md, pipeline_release.md, logs.tar.gz (train.log, log.csv, val.csv,
# summary.json) and the burst's EMA weights in float16: dit.safetensors, image_encoder.safetensors (the
# end), and dit_half / image_encoder_half, dit_3q / image_encoder_3q (the snapshots).
set -uo pipefail
OUT=${OUT:?set OUT}; DATA=${DATA:?set DATA}; TRAIN_MINUTES=${TRAIN_MINUTES:-5}; INIT=${INIT:-autopartgen/weights/tiny}
BENCH=${BENCH:-1}; BATCH=${BATCH:-128}; LR=${LR:-3e-4}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch; print('torch', torch.__version__)" >> "$OUT/gpu.txt"

if [ "$BENCH" = 1 ]; then
# Release-size model core (random weights, bf16): one DiT step and one decode chunk, FLOPs and rates.
timeout 75 python3 bench/model_core.py --device cuda --dtype bfloat16 --latents 2048 --image-tokens 1029 \
    --chunk 262144 --repeats 5 > "$OUT/model_core.md" 2>&1
# Release-size pipeline per stage (random weights: timings only), mesh -> parts and image -> parts.
timeout 110 python3 -m autopartgen bench --random-weights --config release-2048 --device cuda --grid-size 128 \
    --max-parts 3 --repeats 1 > "$OUT/pipeline_release.md" 2>&1
fi

# DiT burst: fine-tune the shipped model on the packed latents, anchored histories.
RUN=/tmp/dit_burst
timeout $(( TRAIN_MINUTES * 60 + 75 )) python3 -m autopartgen train dit --config autopartgen/weights/tiny/config.yaml \
    --data "$DATA" --ready-only --history anchored --vae autopartgen/weights/tiny --init "$INIT" \
    --out "$RUN" --scale-factor config --eot-threshold config --device cuda --workers 14 --batch "$BATCH" \
    --steps "${TRAIN_STEPS:-100000}" --lr "$LR" --warmup 200 --save-every 1000 --val-every 1000 --log-every 50 \
    --max-minutes "$TRAIN_MINUTES" --fit-to-time --snapshots 4 --quiet > "$RUN.log" 2>&1
cp "$RUN.log" "$RUN/train.log"
tar -czf "$OUT/logs.tar.gz" -C "$RUN" train.log log.csv val.csv summary.json args.json
python3 - "$RUN" "$OUT" <<'PY'
import sys
from pathlib import Path
from safetensors.torch import load_file, save_file
run, out = Path(sys.argv[1]), Path(sys.argv[2])
snapshots = sorted((run / "checkpoint").glob("ema-*"))
sources = {"": run / "checkpoint", "_3q": snapshots[2] if len(snapshots) > 2 else None,
           "_half": snapshots[1] if len(snapshots) > 1 else None}
for suffix, folder in sources.items():
    for part in ("dit", "image_encoder"):
        if folder is None:
            continue
        name = f"{part}.ema.safetensors" if suffix == "" else f"{part}.safetensors"
        state = load_file(str(folder / name))
        save_file({k: v.half().contiguous() for k, v in state.items()}, str(out / f"{part}{suffix}.safetensors"))
print("weights written:", [p.name for p in sorted(out.glob("*.safetensors"))])
PY
