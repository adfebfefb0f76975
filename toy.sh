#!/usr/bin/env bash
# The whole DeepSeekMath pipeline on the toy config, end to end, on a laptop CPU.
#   bash toy.sh            full toy run, report in runs/toy/report.md
# Stages are added here as they land; today it runs what exists.
source "$(dirname "$0")/setup.sh"
OUT=${OUT:-runs/toy}
mkdir -p "$OUT"
python - <<'PY'
import torch
from model import ModelConfig, Transformer
m = Transformer(ModelConfig.from_preset("toy"))
print(f"toy model: {m.num_params():,} parameters")
PY
