#!/usr/bin/env bash
# The model benches on a GPU machine, in under 8 minutes: encode (CHES), generate and judge.
# Prints each bench's RESULT line (and keeps their full output in $OUT or var/bench-gpu/).
#   bash bench/gpu.sh                 # the default model (SmolLM2-135M)
#   bash bench/gpu.sh --model PATH    # a local model folder or .gguf (a bigger judge, say)
# Needs CUDA (torch.cuda.is_available()); the runtime then loads the model in bf16 (fp16 where bf16 is
# unsupported) and sizes the encoder's batches from the free GPU memory (curation/llm/encode.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
MODEL_ARGS=("$@")
LOGS=${OUT:-var/bench-gpu}
mkdir -p "$LOGS"
export DOCKET_DEVICE=${DOCKET_DEVICE:-cuda}
"$PY" -c "import torch, sys; ok = torch.cuda.is_available(); print('cuda', ok, torch.cuda.get_device_name(0) if ok else ''); sys.exit(0 if ok else 1)" \
  || { echo "no CUDA device: these benches are for a GPU machine (the CPU figures are in the README)"; exit 1; }
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader || true

run() {  # name, timeout seconds, command...
  local name=$1 limit=$2; shift 2
  echo "== $name: $*"
  if timeout "$limit" "$@" > "$LOGS/$name.log" 2>&1; then :; else echo "   ($name exited $?; see $LOGS/$name.log)"; fi
  grep -E '^(model|set:|cached|run )' "$LOGS/$name.log" | tail -4 | sed 's/^/   /' || true
  grep '^RESULT' "$LOGS/$name.log" | tail -1 | sed "s/^RESULT/RESULT bench=$name/" || echo "RESULT bench=$name missing=1"
}

# The whole 2,300-pair chat-shaped set on the GPU; the fair baseline on a 300-pair sample would dominate, so
# the timed arms run on a 600-pair sample and project the full set (the per-pair reference is skipped).
run ches 200 "$PY" bench/ches.py --sample 600 --runs 1 --no-per-pair "${MODEL_ARGS[@]}"
run generate 150 "$PY" bench/generate.py --prompts 64 --batch-size 64 --runs 1 "${MODEL_ARGS[@]}"
run judge 120 "$PY" bench/judge.py --n 48 "${MODEL_ARGS[@]}"
