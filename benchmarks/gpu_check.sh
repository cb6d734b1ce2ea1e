#!/usr/bin/env bash
# GPU check: training and recommendation benchmarks on one CUDA GPU, 1M+ interactions, < 5 minutes.
# Usage: benchmarks/gpu_check.sh [python]   (prints two JSON lines: bench_train, bench_recommend)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-0}"
"$PY" - <<'PYEOF'
import torch, sys
if not torch.cuda.is_available():
    sys.exit("gpu_check: CUDA is not available to torch (" + torch.__version__ + ")")
print(f"[gpu_check] {torch.cuda.get_device_name(0)}, torch {torch.__version__}", file=sys.stderr)
PYEOF
T0=$(date +%s)
# Training: 1M interactions (50k users x 20k tracks); the reference is CPU-collation bound, so few
# steps suffice; the engine gets more steps to reach steady state. Quality on 200k, one epoch each.
timeout 200 "$PY" benchmarks/bench_train.py --device cuda --threads 8 --steps 300 --warmup 20
# Recommendation: 50k users x 20k tracks, 30 plays each (1.5M interactions).
timeout 150 "$PY" benchmarks/bench_recommend.py --device cuda --threads 8 --users 50000 --tracks 20000 \
    --artists 4000 --interactions-per-user 30 --epochs 1 --batch-users 2048
echo "[gpu_check] total $(( $(date +%s) - T0 ))s" >&2
