#!/usr/bin/env bash
# The one GPU check of the GPU issue, run on a lent device machine (H200, driver 580, Python 3.12 with torch
# 2.11.0+cu130, nvcc 13.0, no network) from the repository root, with the wheels of bench/gpu_prepare.sh in .whl/:
#
#   run(command="bash bench/gpu_device.sh", carry=[".whl"], timeout_s=600)
#
# Under 10 minutes: probe (real NVML facts), mmcv's CUDA ops built for the GPU through hoofenv's build steps,
# `hoofenv verify` (ops on the device, torch.arch), `hoofenv train` vs the bare Runner for RTMPose-t/s/m with and
# without --amp until the time budget is spent. Everything lands in $OUT (log.txt, facts-gpu.json, plan.json,
# build.json, verify.json, train.json, PERFORMANCE-gpu.md); a failing step is logged and the next one still runs.
set -u -o pipefail
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD" HOOFENV_CACHE_DIR=/tmp/hoofenv-cache
START=$(date +%s)
left() { echo $(( 570 - ($(date +%s) - START) )); }
PY=${GPU_PYTHON:-python3}
ENV=/tmp/gpu-env
WHL=${WHL:-.whl}

echo "== machine"; nvidia-smi --query-gpu=index,name,compute_cap,memory.total,driver_version,uuid --format=csv
$PY -c "import sys, torch, numpy; print(sys.version.split()[0], torch.__version__, torch.version.cuda, numpy.__version__, torch.cuda.get_device_name(0))"
which nvcc && nvcc --version | tail -2

echo "== probe ($(left) s left)"; $PY bench/gpu_device.py probe "$OUT"

echo "== env ($(left) s left)"
$PY -m venv --system-site-packages "$ENV"
# setuptools < 81 first: mmcv's and xtcocotools' setup.py import pkg_resources
"$ENV/bin/python" -m pip install -q --no-index --find-links "$WHL" "setuptools==80.9.0" wheel
# --no-deps: the image has their other dependencies (its opencv is opencv-python-headless, which mmengine's
# metadata does not name); xtcocotools compiles against the image's numpy
"$ENV/bin/python" -m pip install -q --no-index --find-links "$WHL" --no-build-isolation --no-deps \
  mmengine==0.10.7 mmdet==3.2.0 mmpose==1.3.2 xtcocotools json_tricks munkres terminaltables addict yapf termcolor \
  platformdirs pycocotools shapely || echo "env: some packages failed (see above)"
"$ENV/bin/python" -m pip list 2>/dev/null | grep -iE "^(torch|torchvision|numpy|mmengine|mmdet|mmpose|opencv|xtcocotools|setuptools) " > "$OUT/env-packages.txt"

echo "== mmcv CUDA build ($(left) s left)"; $PY bench/gpu_device.py build "$OUT" "$ENV" "$WHL"

echo "== verify ($(left) s left)"
$PY -m hoofenv verify --python "$ENV/bin/python" --json > "$OUT/verify.json"; echo "verify exit $?"
$PY -c "import json; r=json.load(open('$OUT/verify.json')); [print(c.get('id'), c.get('status'), c.get('detail', '')[:150]) for c in (r.get('checks') or r.get('result', {}).get('checks') or [])]"

echo "== train ($(left) s left)"
BUDGET=$(( $(left) - 60 ))
[ "$BUDGET" -gt 60 ] && $PY bench/bench_train_gpu.py --python "$ENV/bin/python" --models t,s,m --amp both \
  --rounds 2 --n-train 1024 --batch 64 --budget-s "$BUDGET" --json "$OUT/train.json"

echo "== summary ($(left) s left)"; $PY bench/gpu_device.py summary "$OUT"
