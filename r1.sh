#!/usr/bin/env bash
# DeepSeek-R1's recipe (arXiv 2501.12948) on the toy world, end to end, from a toy.sh run's base model:
#   0 R1-Zero: GRPO from the base with rule rewards only (accuracy + format), the R1 template (§2.2)
#   1 cold start: readable records (<think>…</think> + summary) from written chains of thought, few-shot
#     prompting of the base and cleaned R1-Zero outputs; SFT of the base on them (§2.3.1)
#   2 reasoning RL from the cold start, with and without the language-consistency reward (§2.3.2)
#   3 rejection sampling from the RL model (R1's filters), non-reasoning data mixed in; SFT of the base
#     (§2.3.3)
#   distillation: SFT of a smaller student on those samples, against the student size trained by RL (§2.4)
#   -> OUT/report.md (python report.py r1 --run OUT), printed at the end.
#
#   bash r1.sh            the full toy run (~15 minutes on 2 quiet CPU cores)
#   bash r1.sh --smoke    every stage at tiny sizes on a toy.sh --smoke run (TOY=...): checks that it all runs
#   bash r1.sh --commands print each stage's command line (the README quotes them) and run nothing
#
# Environment: TOY (the toy.sh run to start from: its base model and tokenizer; default runs/toy, or
# runs/toy-smoke), OUT (default runs/r1, or runs/r1-smoke), SEED (default 0).
# The world is toy.sh's (same seed and flags: the same benchmark, RL questions and test set) with two
# additions: a share of the written chains of thought ends in a second language (Chinese), so that language
# mixing can happen, and non-reasoning SFT records. The student is a smaller model pre-trained here on the toy
# run's token shards. Each stage is one command line below; its log is OUT/logs/<stage>.log (first line: the
# command), its seconds are in OUT/timings.jsonl; two lanes of stages run side by side where they can.
source "$(dirname "$0")/stages.sh" "$@"  # --smoke, --commands, --help; .venv; stage, side_by_side
SEED=${SEED:-0}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=$SEED  # one thread per process: see toy.sh

# ---------------------------------------------------------------------------- settings
# Chosen to fit ~15 minutes on 2 quiet cores (README, "The R1 recipe", has the numbers and why):
# - R1-Zero: the toy base never writes the R1 format nor a right answer unprompted (0 of 512 level-1 samples),
#   so nearly every group's rewards are equal and GRPO has no signal: a short run with G = 16 measures that.
# - cold start: 2,000 written chains of thought (20% of them ending in Chinese: the cold start is not
#   filtered for language here, --min-consistency 0, so that stage 2 has language mixing to correct), plus
#   what few-shot prompting and R1-Zero give; SFT on both cores (torchrun), as toy.sh's.
# - reasoning RL: toy.sh's GRPO settings; the language reward weighs 1, summed with accuracy as in R1.
#   Greedy decoding picks the majority language, so mixing is measured on samples at the RL temperature too.
# - rejection sampling: 4 samples for each of 1,000 RL questions, R1's filters, 1 non-reasoning record per 3.
# - the student: 2 layers of width 64 (0.2M parameters against the teacher's 1.1M), pre-trained like the base.
if [ $SMOKE = 0 ]; then
  TOY=${TOY:-runs/toy}
  OUT=${OUT:-runs/r1}
  WORLD=(--pot-fraction 0)                                # toy.sh's world
  R1_WORLD=(--second-language 0.2 --chat-records 1000)
  STUDENT=(--steps 170 --batch-tokens 8192 --micro-batch 16 --lr 2e-3 --warmup-steps 20 --eval-every 50
           --n-layers 2 --d-model 64 --n-heads 2 --n-kv-heads 2 --ffn-dim 176)
  ZERO=(--steps-per-iteration 8 --batch-questions 8 -G 16 --lr 2e-4 --beta 0.04 --temperature 1.0
        --micro-batch 32 --rollout-batch 128)
  COLD=(--n-written 2000 --limit 100 --k 2 --min-consistency 0)
  SFT=(--steps 600 --batch-size 8 --micro-batch 4 --lr 2e-3)
  RL=(--steps-per-iteration 35 --batch-questions 16 -G 8 --lr 2e-4 --beta 0.04 --temperature 1.0
      --micro-batch 32 --rollout-batch 128)
  REJECT=(--limit 1000 --k 4 --temperature 1 --top-p 1)
  EVAL=(--max-new-tokens 100 --batch-size 250)
  SAMPLED=(--n 4 --temperature 1.0 --limit 200)
else
  TOY=${TOY:-runs/toy-smoke}
  OUT=${OUT:-runs/r1-smoke}
  WORLD=(--pages 1500 --domains 40 --seed-pages 150 --general-docs 60 --train-size 300 --test-size 40
         --near-dups 20 --exact-dups 4 --leaks 6 --pot-fraction 0)   # toy.sh --smoke's world
  R1_WORLD=(--second-language 0.2 --chat-records 20)
  STUDENT=(--steps 2 --batch-tokens 1024 --micro-batch 4 --lr 2e-3 --warmup-steps 1 --eval-every 2
           --n-layers 1 --d-model 32 --n-heads 2 --n-kv-heads 2 --ffn-dim 64)
  ZERO=(--steps-per-iteration 2 --batch-questions 2 -G 4 --lr 2e-5 --beta 0.04 --temperature 1.0)
  COLD=(--n-written 40 --limit 4 --k 2 --min-consistency 0)
  SFT=(--steps 3 --batch-size 4 --micro-batch 2 --lr 2e-3)
  RL=(--steps-per-iteration 2 --batch-questions 2 -G 4 --lr 2e-5 --beta 0.04 --temperature 1.0)
  REJECT=(--limit 8 --k 2 --temperature 1 --top-p 1 --non-reasoning-count 4)  # the untrained models keep none
  EVAL=(--max-new-tokens 40 --batch-size 40 --limit 20)
  SAMPLED=(--n 2 --temperature 1.0 --limit 10)
fi
W=$OUT/world
BASE=$TOY/pretrain/final
RANKS=$(python -c "import os, torch; print(min(2, torch.cuda.device_count() or os.cpu_count()))")
NEW=(--max-new-tokens 100)
[ $SMOKE = 1 ] && NEW=(--max-new-tokens 40)

# ---------------------------------------------------------------------------- the run folder
if [ $COMMANDS = 0 ] && [ ! -e "$BASE/config.json" ]; then
  echo "r1.sh: no base model at $BASE (run toy.sh first, or set TOY to a toy.sh run folder)" >&2; exit 1
fi
start_run .r1-run

evaluate() {  # evaluate NAME MODEL ARGS...: the toy test set, greedy, results in $OUT/eval/NAME
  stage "eval_$1" python evaluate.py --model-path "$2" --benchmark toy --data-dir "$W" --seed "$SEED" \
    --no-progress --mode chat --out "$OUT/eval/$1" "${EVAL[@]}" "${@:3}"
}

# ---------------------------------------------------------------------------- the pipeline
START=$(date +%s)

stage world python toy_data.py --out "$W" --seed "$SEED" "${WORLD[@]}" "${R1_WORLD[@]}"

lane_zero() {  # stage 0, R1-Zero: the base, rule rewards (accuracy + format), the R1 template
  stage zero python grpo.py --init "$BASE" --data "$W/rl.jsonl" --template r1 --format-reward --seed "$SEED" \
    "${NEW[@]}" --save-every 0 --out "$OUT/zero" "${ZERO[@]}"
  evaluate zero "$OUT/zero/final" --template r1
}
lane_student_rl() {  # the student's size trained by RL directly (R1-Zero's recipe: §2.4's baseline)
  stage student_base python pretrain.py --data "$TOY/corpus/tokens" --model toy --seq-len 256 --seed "$SEED" \
    --eval-steps 2 --log-every 10 --save-every 0 --out "$OUT/student_base" "${STUDENT[@]}"
  stage student_rl python grpo.py --init "$OUT/student_base/final" --data "$W/rl.jsonl" --template r1 \
    --format-reward --seed "$SEED" "${NEW[@]}" --save-every 0 --out "$OUT/student_rl" "${ZERO[@]}"
  evaluate student_rl "$OUT/student_rl/final" --template r1
}
side_by_side lane_zero lane_student_rl

# stage 1: cold start (written chains of thought, few-shot prompting of the base, cleaned R1-Zero outputs)
stage cold_start python r1.py cold-start --written "$W/sft.jsonl" --model-path "$BASE" \
  --zero-model "$OUT/zero/final" --data "$W/rl.jsonl" --seed "$SEED" "${NEW[@]}" --out "$OUT/cold" \
  "${COLD[@]}"
stage cold_sft torchrun --standalone --nproc_per_node "$RANKS" sft.py train --init "$BASE" \
  --data "$OUT/cold/cold_start.jsonl" --template think --seq-len 256 --seed "$SEED" --log-every 10 \
  --eval-every 0 --save-every 0 --out "$OUT/cold_sft" "${SFT[@]}"

# stage 2: reasoning RL from the cold start, without and with the language-consistency reward
lane_rl() {
  stage rl python grpo.py --init "$OUT/cold_sft/final" --data "$W/rl.jsonl" --template think --seed "$SEED" \
    "${NEW[@]}" --save-every 0 --out "$OUT/rl" "${RL[@]}"
  evaluate rl "$OUT/rl/final"
  evaluate rl_sampled "$OUT/rl/final" "${SAMPLED[@]}"
}
lane_rl_language() {
  stage rl_language python grpo.py --init "$OUT/cold_sft/final" --data "$W/rl.jsonl" --template think \
    --language-reward 1 --language en --seed "$SEED" "${NEW[@]}" --save-every 0 --out "$OUT/rl_language" \
    "${RL[@]}"
  evaluate rl_language "$OUT/rl_language/final"
  evaluate rl_language_sampled "$OUT/rl_language/final" "${SAMPLED[@]}"
}
lane_cold_eval() {
  evaluate cold_sft "$OUT/cold_sft/final"
  evaluate cold_sft_sampled "$OUT/cold_sft/final" "${SAMPLED[@]}"
}
side_by_side lane_rl lane_rl_language lane_cold_eval

# stage 3: rejection sampling from the RL model (language reward on), non-reasoning data mixed in; SFT of
# the base
stage reject python r1.py reject --model-path "$OUT/rl_language/final" --data "$W/rl.jsonl" --template think \
  --non-reasoning "$W/chat.jsonl" --seed "$SEED" "${NEW[@]}" --out "$OUT/reject" "${REJECT[@]}"
stage distill python r1.py distill --samples "$OUT/reject/sft.jsonl" --student "$OUT/student_base/final" \
  --out "$OUT/distill"
lane_sft() {
  stage sft python sft.py train --init "$BASE" --data "$OUT/reject/sft.jsonl" --template think --seq-len 256 \
    --seed "$SEED" --log-every 10 --eval-every 0 --save-every 0 --out "$OUT/sft" "${SFT[@]}"
  evaluate sft "$OUT/sft/final"
}
lane_student() {  # distillation: the student fine-tuned on the teacher's curated samples, no RL
  stage student python sft.py train --init "$OUT/student_base/final" --data "$OUT/distill/distill.jsonl" \
    --template think --seq-len 256 --seed "$SEED" --log-every 10 --eval-every 0 --save-every 0 \
    --out "$OUT/student" "${SFT[@]}"
  evaluate student "$OUT/student/final"
}
side_by_side lane_sft lane_student

[ $COMMANDS = 1 ] && exit 0
echo "{\"stage\": \"total\", \"wall_s\": $(( $(date +%s) - START ))}" >> "$OUT/timings.jsonl"
python report.py r1 --run "$OUT" --toy "$TOY"
