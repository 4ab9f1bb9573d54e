#!/usr/bin/env bash
# Issue 17's GPU check as one prepared command: the CUDA tests, then
# benchmarks/forward.py --device cuda in float32 and in bfloat16.
#
# CI never has a GPU. A session lent one by the `device` tool has about 15
# minutes of device time, with no package registry there, so this runs in two
# steps:
#
#   bash benchmarks/cuda_check.sh wheels   # here: fetch what the GPU image lacks
#   bash benchmarks/cuda_check.sh run      # there (device `run`, carry [".whl"])
#
# that is, through the device tool: run(command="bash benchmarks/cuda_check.sh
# run", carry=[".whl"], timeout_s=480); then give_back.
#
# `wheels` downloads, for the GPU image's Python (3.12 unless PYTHON_VERSION
# says otherwise), the packages that image lacks into .whl/ (2.8 MB), which
# .git/info/exclude then ignores. The device tool's KINDS.md lists the
# image's packages: torch, jax, transformers, tokenizers, h5py, safetensors,
# matplotlib, pytest and hypothesis are there; keras, namex and optree not.
#
# `run` installs .whl/ into /tmp/site (when there is one), stops at once if
# torch sees no CUDA device, and writes into $OUT (or /tmp/cuda_check)
# gpu.txt (nvidia-smi), cuda_tests.log, forward_float32.txt, forward_bfloat16.txt.
# DEVICE=cpu ROUNDS=3 runs the same steps on a CPU, to check the script
# itself before spending device time.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
# Keras and the two packages it needs that the GPU image lacks. Not
# huggingface_hub 2 (its 1.x there is what that image's transformers wants)
# nor kagglehub: neither is imported unless a preset is downloaded.
wheels=("keras==3.15.1" "namex==0.1.0" "optree==0.20.0")

case "${1:-}" in
wheels)
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >>.git/info/exclude
    platforms=()
    for n in 17 24 27 28 31 34; do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
    "$python" -m pip download -q --no-deps --only-binary=:all: \
        --python-version "${PYTHON_VERSION:-3.12}" --implementation cp \
        "${platforms[@]}" --platform manylinux2014_x86_64 -d .whl "${wheels[@]}"
    ls -l .whl
    ;;
run)
    out=${OUT:-/tmp/cuda_check}
    device=${DEVICE:-cuda}
    rounds=${ROUNDS:-41}
    mkdir -p "$out"
    if [ -d .whl ]; then
        "$python" -m pip install -q --no-index --no-deps --no-compile \
            --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    fi
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
    export PYTHONUNBUFFERED=1 KERAS_BACKEND=torch
    if [ "$device" = cuda ]; then
        "$python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else
"cuda_check.sh run: this torch sees no CUDA device; allowed: a GPU machine, or DEVICE=cpu for a dry run")'
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
    fi
    failed=()
    # The tests marked `cuda` skip without a GPU; -rs prints why they skip.
    # No addopts: pyproject's name nbval, which the GPU image lacks.
    "$python" -m pytest -q -rs -m cuda -o addopts= -p no:cacheprovider \
        tests/runtime 2>&1 | tee "$out/cuda_tests.log" || failed+=(cuda_tests)
    for dtype in float32 bfloat16; do
        "$python" benchmarks/forward.py --device "$device" --dtype "$dtype" \
            --rounds "$rounds" 2>&1 | tee "$out/forward_$dtype.txt" ||
            failed+=("forward_$dtype")
    done
    if [ ${#failed[@]} -gt 0 ]; then
        echo "cuda_check.sh run: failed: ${failed[*]} (logs in $out)" >&2
        exit 1
    fi
    ;;
*)
    echo "usage: bash benchmarks/cuda_check.sh wheels|run (see its header); got: '${1:-}'" >&2
    exit 2
    ;;
esac
