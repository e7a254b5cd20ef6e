#!/usr/bin/env bash
# Fills .whl/ (git-ignored, carried to the device machine) with what bench/gpu_device.sh installs there offline:
# the mmcv 2.1.0 sdist (built there, for its GPU), and the packages its image lacks, for CPython 3.12 on
# manylinux x86_64. The image's own torch 2.11.0+cu130, numpy, opencv-python-headless, scipy, matplotlib,
# pillow and pyyaml are used as they are (bench/GPU.md says why). Run once here, from the repository root.
set -euo pipefail
# .whl/ is in .gitignore: it travels only where `carry` names it
mkdir -p .whl
PLAT="--python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64"
python3 -m pip download -q --no-deps --only-binary=:all: $PLAT -d .whl \
  mmengine==0.10.7 mmdet==3.2.0 mmpose==1.3.2 json_tricks==3.17.3 munkres==1.1.4 terminaltables==3.1.10 \
  addict==2.4.0 yapf==0.43.0 termcolor==3.1.0 platformdirs==4.3.8 pycocotools==2.0.10 shapely==2.1.1 \
  setuptools==80.9.0 wheel==0.45.1
# sdists, built on the device: mmcv (its CUDA ops) and xtcocotools (no cp312 wheel; built against the image's numpy).
# Fetched as files (pip download would run their setup.py, which needs pkg_resources)
python3 - <<'PY'
import json, urllib.request
for name, version in (("mmcv", "2.1.0"), ("xtcocotools", "1.14.3")):
    files = json.load(urllib.request.urlopen(f"https://pypi.org/pypi/{name}/json", timeout=60))["releases"][version]
    sdist = next(f for f in files if f["packagetype"] == "sdist")
    urllib.request.urlretrieve(sdist["url"], f".whl/{sdist['filename']}")
PY
du -sh .whl; ls .whl
