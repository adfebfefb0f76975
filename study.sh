#!/usr/bin/env bash
# DeepSeekMath §5.2 in miniature: the rows of Table 10 and the paper's RL findings (Fig. 5, 6, 7) on the toy
# world, each method from the toy run's SFT model with the same questions, the same budget of sampled outputs
# and the same settings, over several seeds:
#   RFT          SFT on correct samples of the SFT model                   grpo.py --algo rft
#   Online RFT   the same on samples of the live policy                    grpo.py --algo online_rft
#   GRPO (OS)    outcome supervision, the rule reward                      grpo.py
#   GRPO (PS)    process supervision, the toy run's PRM                    grpo.py --reward prm
#   GRPO (PS) ×2 iterative: 2 iterations, the PRM retrained with replay    grpo.py --reward prm --iterations 2
#   PPO          the value model and GAE (§4.1.1), the rule reward         ppo.py
#   DPO          pairs sampled from the SFT model, offline                 dpo.py pairs, dpo.py train
# Held-out greedy accuracy is measured during training (Fig. 5, Fig. 6), every model is evaluated at the end
# on the whole toy test set, GRPO's Pass@K / Maj@K against SFT's (Fig. 7), PPO's memory and time against
# GRPO's -> $OUT/study.md (report.py --study), printed at the end.
#
#   bash study.sh            the study (~35 minutes on 2 quiet CPU cores); needs `bash toy.sh` first
#   bash study.sh --smoke    tiny sizes on a `toy.sh --smoke` run (TOY=runs/toy-smoke): checks that it all runs
#   bash study.sh --commands print each job's command lines and run nothing
#
# Environment: TOY (the toy run it starts from; default runs/toy, or runs/toy-smoke), OUT (default runs/study,
# or runs/study-smoke), SEEDS (default "0 1 2"; "0 1" with --smoke). Jobs run two at a time (one CPU thread
# each, like toy.sh); each stage's log is $OUT/logs/<stage>.log (first line: the command), its seconds are
# in $OUT/timings.jsonl.
source "$(dirname "$0")/stages.sh" "$@"  # --smoke, --commands, --help; .venv; stage, run_jobs
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=0

# ---------------------------------------------------------------------------- settings
# One budget for every method: STEPS optimiser steps of the policy, each on 128 sampled outputs (16 questions
# × G = 8; PPO, which needs no group, 128 questions × 1), the toy run's GRPO learning rate and β. DPO's pairs
# come from the same number of samples of the SFT model (480 questions × 8), trained for the same number of
# steps. The questions are the toy world's training benchmark (its step-by-step solutions let the iterative
# run relabel the PRM's data exactly). Nothing is tuned per method.
if [ $SMOKE = 0 ]; then
  TOY=${TOY:-runs/toy}
  OUT=${OUT:-runs/study}
  SEEDS=${SEEDS:-0 1 2}
  STEPS=30
  EVAL_LIMIT=200
  RL=(--batch-questions 16 -G 8 --lr 2e-4 --beta 0.04 --temperature 1.0 --max-new-tokens 100 --micro-batch 32
      --rollout-batch 128 --eval-every 10 --eval-limit $EVAL_LIMIT)
  PPO=(--batch-questions 128 -G 1)
  ITERATIVE=(--iterations 2 --steps-per-iteration $((STEPS / 2)) --rm-questions 128 --rm-samples 4 --rm-lr 1e-3)
  PAIRS=(--limit 480 --k 8 --max-new-tokens 100 --rollout-batch 128)
  DPO=(--steps $STEPS --batch-tokens 8192 --micro-batch 8 --seq-len 256 --lr 2e-4 --beta 0.1)
  EVAL=(--max-new-tokens 100 --batch-size 250)
  SAMPLED=(--n 16 --k-list 1,2,4,8,16 --temperature 0.7 --limit 100)
else
  TOY=${TOY:-runs/toy-smoke}
  OUT=${OUT:-runs/study-smoke}
  SEEDS=${SEEDS:-0 1}
  STEPS=2
  EVAL_LIMIT=8
  RL=(--batch-questions 4 -G 4 --lr 2e-4 --beta 0.04 --temperature 1.0 --max-new-tokens 40 --micro-batch 16
      --rollout-batch 16 --eval-every 1 --eval-limit $EVAL_LIMIT)
  PPO=(--batch-questions 16 -G 1)
  ITERATIVE=(--iterations 2 --steps-per-iteration $((STEPS / 2)) --rm-questions 4 --rm-samples 2 --rm-lr 1e-3)
  PAIRS=(--limit 8 --k 4 --max-new-tokens 40 --rollout-batch 32)
  DPO=(--steps $STEPS --batch-tokens 1024 --micro-batch 2 --seq-len 256 --lr 2e-4 --beta 0.1)
  EVAL=(--max-new-tokens 40 --batch-size 40)
  SAMPLED=(--n 4 --k-list 1,2,4 --temperature 0.7 --limit 10)
fi
W=$TOY/world
SFT=$TOY/sft/final
START=(--init "$SFT" --data "$W/bench_train.jsonl" --eval-data "$W/bench_test.jsonl" --save-every 0)

# ---------------------------------------------------------------------------- the jobs
if [ $COMMANDS = 0 ]; then
  for need in "$SFT/config.json" "$TOY/rm/final/config.json" "$TOY/rm/labels.jsonl" "$W/bench_train.jsonl"; do
    if [ ! -e "$need" ]; then
      echo "study.sh: $need is missing: the study starts from a toy run's models (bash toy.sh, or TOY=...)" >&2
      exit 1
    fi
  done
fi
start_run .study-run
[ $COMMANDS = 1 ] || echo "{\"toy\": \"$TOY\", \"seeds\": \"$SEEDS\", \"steps\": $STEPS, \"eval_limit\": $EVAL_LIMIT}" \
  > "$OUT/study.json"

evaluate() {  # evaluate NAME MODEL ARGS...: the whole toy test set, greedy, results in $OUT/eval/NAME
  stage "eval_$1" python evaluate.py --model-path "$2" --benchmark toy --data-dir "$W" --mode chat --seed 0 \
    --no-progress --out "$OUT/eval/$1" "${EVAL[@]}" "${@:3}"
}

rl() {  # rl NAME SEED SCRIPT FLAGS...: one RL run from the SFT model, then its greedy evaluation
  local name=$1 seed=$2 script=$3
  stage "${name}_s$seed" python "$script" "${START[@]}" "${RL[@]}" --steps-per-iteration $STEPS "${@:4}" \
    --seed "$seed" --out "$OUT/$name/s$seed"
  evaluate "${name}_s$seed" "$OUT/$name/s$seed/final"
}
rft() { rl rft "$1" grpo.py --algo rft; }
online_rft() { rl online_rft "$1" grpo.py --algo online_rft; }
grpo_os() {
  rl grpo_os "$1" grpo.py
  evaluate "grpo_os_s$1_sampled" "$OUT/grpo_os/s$1/final" "${SAMPLED[@]}"
}
grpo_ps() { rl grpo_ps "$1" grpo.py --reward prm --reward-model "$TOY/rm/final" --rm-questions 0; }
grpo_ps_iterative() {
  rl grpo_ps_iterative "$1" grpo.py --reward prm --reward-model "$TOY/rm/final" --rm-labels exact \
    --rm-data "$TOY/rm/labels.jsonl" "${ITERATIVE[@]}"
}
ppo() { rl ppo "$1" ppo.py "${PPO[@]}"; }
dpo() {
  stage "dpo_pairs_s$1" python dpo.py pairs --model-path "$SFT" --data "$W/bench_train.jsonl" --seed "$1" \
    --out "$OUT/dpo/s$1/pairs.jsonl" "${PAIRS[@]}"
  if [ $COMMANDS = 0 ] && [ ! -s "$OUT/dpo/s$1/pairs.jsonl" ]; then  # a model that is always or never right
    echo "[$(date +%T)] dpo_s$1: no pairs (see $OUT/dpo/s$1/pairs.jsonl.stats.json); DPO skipped"; return 0
  fi
  stage "dpo_s$1" python dpo.py train --init "$SFT" --data "$OUT/dpo/s$1/pairs.jsonl" --seed "$1" \
    --log-every 1 --eval-every 0 --save-every 0 --out "$OUT/dpo/s$1" "${DPO[@]}"
  evaluate "dpo_s$1" "$OUT/dpo/s$1/final"
}
sft() {  # the start of every run: evaluated once (greedy on the whole test set, and sampled for Fig. 7)
  evaluate sft "$SFT"
  evaluate sft_sampled "$SFT" "${SAMPLED[@]}"
}

# the longest first, so that the two lanes end together
JOBS=(sft)
for seed in $SEEDS; do
  for method in ppo grpo_ps_iterative grpo_ps grpo_os online_rft rft dpo; do JOBS+=("$method $seed"); done
done
BEGIN=$(date +%s)
run_jobs "${JOBS[@]}"

[ $COMMANDS = 1 ] && exit 0
echo "{\"stage\": \"total\", \"wall_s\": $(( $(date +%s) - BEGIN ))}" >> "$OUT/timings.jsonl"
python report.py --study "$OUT"
