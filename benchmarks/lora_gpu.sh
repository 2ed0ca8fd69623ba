#!/usr/bin/env bash
# A larger LoRA study on a GPU: all-MiniLM-L6-v2 on the whole newsgroups4 training split (800 posts,
# 128 tokens), 200 tpe trials with ASHA over LoRAObjective.default_space(), bf16 autocast where the
# GPU supports it. Prints the study table, the median training throughput (samples/s) and the peak
# GPU memory; writes benchmarks/results/lora_gpu.{json,md}. The CPU path never needs this script.
#
#   bash benchmarks/lora_gpu.sh            # defaults below
#   TRIALS=50 EPOCHS=2 bash benchmarks/lora_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'lora_gpu.sh needs a CUDA GPU (torch.cuda.is_available() is False)')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python -m benchmarks.lora_study \
  --device cuda --threads "${THREADS:-4}" \
  --trials "${TRIALS:-200}" --epochs "${EPOCHS:-3}" \
  --train-size 0 --max-length "${MAX_LENGTH:-128}" \
  --strategy "${STRATEGY:-tpe}" --pruner "${PRUNER:-asha}" \
  --storage "sqlite:///${STORAGE_DIR:-/tmp}/lora_gpu.db" \
  --artifacts "${ARTIFACTS:-/tmp/hpo-lora-gpu-artifacts}" \
  --out "${OUT:-benchmarks/results/lora_gpu}"
