#!/usr/bin/env bash
# The GPU path in one run, on a machine with one NVIDIA GPU and no network (under 8 minutes on one GPU).
#
#   make gpu-check-data            # here: copies Fashion-MNIST's IDX files into benchmarks/data/
#   bash benchmarks/gpu_check.sh [OUT_DIR]
#
# Runs the tests that need CUDA (tests/test_cuda.py), then benchmarks/gpu_check.py: the defaults and the
# seeds' recipe to 91 % on Fashion-MNIST, fp32/bf16/fp16, torchrun with NCCL, prediction and Grad-CAM
# latency, training from pictures on disk, and the app's Train page offscreen on the GPU. Every figure
# lands in OUT_DIR/gpu_check.json (default: $OUT when set, else ./gpu-check-out); the exit status is 0
# only when every check passed (the app check counts as passed when skipped for want of PySide6).
set -u
cd "$(dirname "$0")/.."
out=${1:-${OUT:-gpu-check-out}}
mkdir -p "$out"
python=${PYTHON:-python3}
data=benchmarks/data/fashion-mnist
export PYTHONUNBUFFERED=1 QT_QPA_PLATFORM=offscreen CNNSTUDIO_OFFLINE=1
export CNNSTUDIO_HOME=${CNNSTUDIO_HOME:-$(mktemp -d)}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

"$python" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))" \
    || { echo "gpu_check: this machine has no usable CUDA device" >&2; exit 2; }
[ -f "$data/train-images-idx3-ubyte.gz" ] \
    || { echo "gpu_check: $data is missing: run 'make gpu-check-data' where the Debian package is installed" >&2; exit 2; }

status=0
"$python" -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$out/cuda_tests.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
timeout 420 "$python" benchmarks/gpu_check.py --data "$data" --device cuda --out "$out/gpu_check.json" \
    2>&1 | tee "$out/gpu_check.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
echo "gpu_check: figures in $out/gpu_check.json (exit $status)"
exit $status
