#!/usr/bin/env bash
# A DiT size sweep in one GPU lease: several `autopartgen train dit` runs from scratch at once on the one GPU
# (each run is bound by its own kernel dispatch, so two or three share an H200 at little cost to each).
#
#   OUT=out DATA=.carry/v3 TRAIN_MINUTES=7 SPECS="w256:256:8:4:4:6e-4 w320:320:8:5:4:5e-4" bash bench/gpu_sweep.sh
#
# SPECS: space-separated NAME:WIDTH:LAYERS:HEADS:PART_ATTENTION_LAYERS:LR; every other setting is the shipped
# config's (autopartgen/weights/tiny/config.yaml, its VAE, scale factor and end-token threshold).
# INIT_DIR: continue each run NAME from INIT_DIR/NAME (a run or model folder) instead of from scratch.
# PART_ORDER: dataset or size, as the pack was made (tools/pack_dit_data.py --part-order).
# LOCALIZATION: objects of the teacher-forced localisation metric at the end (0: off); at most the number of
# meshes the pack holds (tools/pack_dit_data.py --localization N).
# BATCH (1024), WARMUP (150), IMAGE_DROP (0.4), DEVICE (cuda), WORKERS (4 per run); INSTALL_WHEELS=0 skips the carried .whl/.
# Each run plans its cosine schedule to end with TRAIN_MINUTES (--fit-to-time).
# Writes to $OUT: gpu.txt, and per run NAME.tar.part-aa, -ab, ... (pieces of at most 15 MiB, what the device
# tool returns) of a tar with config.yaml, the final EMA weights in float16 (dit.safetensors,
# image_encoder.safetensors), train.log, log.csv, val.csv, summary.json, args.json.
# Rejoin here with: cat NAME.tar.part-* | tar -x -C FOLDER
set -uo pipefail
OUT=${OUT:?set OUT}; DATA=${DATA:?set DATA}; TRAIN_MINUTES=${TRAIN_MINUTES:-7}; SPECS=${SPECS:?set SPECS}
BATCH=${BATCH:-1024}; WARMUP=${WARMUP:-150}; INIT_DIR=${INIT_DIR:-}; IMAGE_DROP=${IMAGE_DROP:-0.4}; PART_ORDER=${PART_ORDER:-dataset}; LOCALIZATION=${LOCALIZATION:-0}; DEVICE=${DEVICE:-cuda}; WORKERS=${WORKERS:-4}
if [ "${INSTALL_WHEELS:-1}" = 1 ] && [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1; \
  python3 -c "import torch; print('torch', torch.__version__)"; } > "$OUT/gpu.txt"

WORK=${WORK:-/tmp/dit_sweep}
mkdir -p "$WORK"
for spec in $SPECS; do
    IFS=: read -r name width layers heads part_layers lr <<< "$spec"
    mkdir -p "$WORK/$name"
    python3 - "$WORK/$name.yaml" "$width" "$layers" "$heads" "$part_layers" <<'PY'
import sys
import yaml
path, width, layers, heads, part_layers = sys.argv[1], *map(int, sys.argv[2:])
config = yaml.safe_load(open("autopartgen/weights/tiny/config.yaml"))
config["name"] = f"dit-w{width}-l{layers}"
config["dit"].update(width=width, num_layers=layers, num_attention_heads=heads,
                     token_cross_attention_layer=part_layers)
yaml.safe_dump(config, open(path, "w"), sort_keys=False)
PY
    timeout $(( TRAIN_MINUTES * 60 + 90 )) python3 -m autopartgen train dit --config "$WORK/$name.yaml" \
        --data "$DATA" --ready-only --history anchored --part-order "$PART_ORDER" --vae autopartgen/weights/tiny \
        --out "$WORK/$name" --scale-factor config --eot-threshold config --device "$DEVICE" --workers "$WORKERS" \
        --batch "$BATCH" --steps 100000 --lr "$lr" --warmup "$WARMUP" ${INIT_DIR:+--init "$INIT_DIR/$name"} --image-drop "$IMAGE_DROP" \
        --val-localization "$LOCALIZATION" --save-every 500 --val-every 100000 --log-every 50 --max-minutes "$TRAIN_MINUTES" --fit-to-time \
        --quiet > "$WORK/$name.log" 2>&1 &
done
wait

for spec in $SPECS; do
    name=${spec%%:*}
    run="$WORK/$name"
    cp "$WORK/$name.log" "$run/train.log"
    python3 - "$run" <<'PY'
import sys
from pathlib import Path
from safetensors.torch import load_file, save_file
run = Path(sys.argv[1])
for part in ("dit", "image_encoder"):
    state = load_file(str(run / "checkpoint" / f"{part}.ema.safetensors"))
    save_file({k: v.half().contiguous() for k, v in state.items()}, str(run / f"{part}.safetensors"))
PY
    files=$(cd "$run" && ls config.yaml dit.safetensors image_encoder.safetensors train.log log.csv val.csv \
        summary.json args.json 2>/dev/null)
    tar -cf - -C "$run" $files | split -b 15m - "$OUT/$name.tar.part-"
done
ls -la "$OUT"
