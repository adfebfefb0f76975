#!/usr/bin/env bash
# The whole DeepSeekMath pipeline on the toy config, end to end, on a laptop CPU:
#   toy world -> BPE tokenizer -> math corpus (iterated fastText recall, dedup, decontamination, shards)
#   -> pre-training -> SFT -> process reward model -> GRPO (outcome supervision with the rule reward; a short
#   process-supervision run with the PRM) -> evaluation of the base (few-shot), SFT and RL models
#   -> runs/toy/report.md, printed at the end.
#
#   bash toy.sh            the full toy run (~7 minutes on 2 quiet CPU cores)
#   bash toy.sh --smoke    every stage at tiny sizes (~2 minutes): checks that it all runs, not the accuracies
#   bash toy.sh --commands print each stage's command line (the README quotes them) and run nothing
#
# Environment: OUT (run folder; default runs/toy, or runs/toy-smoke), SEED (default 0).
# Each stage is one command line below; its output goes to $OUT/logs/<stage>.log (first line: the command),
# its seconds (wall and CPU) to $OUT/timings.jsonl. Pre-training and SFT run as two data-parallel processes
# (torchrun, gloo); after SFT, two lanes of stages run side by side. Every process uses one CPU thread: the
# toy model's matrices are too small for threads to pay, and on a busy machine a thread waiting for a core
# stalls its partner (2 threads per process there ran 10x slower).
# Determinism: one thread per process makes every number a function of SEED on a given machine (its core
# count and torch build): two runs give the same files. With more threads, sums are split by thread and
# round differently for another thread count, and some parallel CPU kernels are not bitwise reproducible.
# On a machine with a GPU every stage uses it by itself (bf16), and the numbers differ from the CPU's.
source "$(dirname "$0")/stages.sh" "$@"  # --smoke, --commands, --help; .venv; stage, side_by_side
SEED=${SEED:-0}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=$SEED  # PYTHONHASHSEED: fixed set/dict orders

# ---------------------------------------------------------------------------- settings
# Chosen so that the full run fits in minutes on 2 cores and still shows each stage's effect: toy_data.py's
# world of small numbers (results up to 30, so that a 1M-parameter model learns the arithmetic in ~2M tokens
# of SFT) with chain-of-thought SFT records only, the toy model preset, SFT long enough to pass the point
# where the model starts to copy and compute (~35% greedy), GRPO with a learning rate for a 1M-parameter
# model (the paper's 1e-6 is for 7B). README, "The toy run", has the numbers. --smoke shrinks everything.
if [ $SMOKE = 0 ]; then
  OUT=${OUT:-runs/toy}
  WORLD=(--pot-fraction 0)
  VOCAB=1024
  CORPUS=(--epoch 10 --bucket 100000 --dim 64 --min-score 0.6)
  PRETRAIN=(--steps 170 --batch-tokens 8192 --micro-batch 16 --lr 2e-3 --warmup-steps 20 --eval-every 50)
  SFT=(--steps 1000 --batch-size 8 --micro-batch 4 --lr 2e-3)
  RM_LABEL=(--limit 400 --samples 4)
  RM_TRAIN=(--epochs 1 --lr 1e-3)
  GRPO=(--steps-per-iteration 35 --batch-questions 16 -G 8 --lr 2e-4 --beta 0.04 --temperature 1.0
        --micro-batch 32 --rollout-batch 128)
  GRPO_PRM=(--steps-per-iteration 10 --batch-questions 16 -G 8 --lr 1e-4 --beta 0.04 --temperature 1.0
            --micro-batch 32 --rollout-batch 128)
  EVAL=(--max-new-tokens 100 --batch-size 250)
  SAMPLED=(--n 16 --k-list 1,2,4,8,16 --temperature 0.7 --limit 100)
else
  OUT=${OUT:-runs/toy-smoke}
  WORLD=(--pages 1500 --domains 40 --seed-pages 150 --general-docs 60 --train-size 300 --test-size 40
         --near-dups 20 --exact-dups 4 --leaks 6 --pot-fraction 0)
  VOCAB=512
  CORPUS=(--epoch 10 --bucket 20000 --dim 16 --iterations 2 --shard-tokens 100000)
  PRETRAIN=(--steps 4 --batch-tokens 2048 --micro-batch 4 --lr 2e-3 --warmup-steps 1 --eval-every 2
            --n-layers 2 --d-model 64 --n-heads 2 --n-kv-heads 2 --ffn-dim 128)
  SFT=(--steps 4 --batch-size 4 --micro-batch 2 --lr 2e-3)
  RM_LABEL=(--limit 8 --samples 2)
  RM_TRAIN=(--epochs 1 --lr 1e-3)
  GRPO=(--steps-per-iteration 2 --batch-questions 4 -G 4 --lr 2e-5 --beta 0.04 --temperature 1.0)
  GRPO_PRM=(--steps-per-iteration 2 --batch-questions 4 -G 4 --lr 2e-5 --beta 0.04 --temperature 1.0)
  EVAL=(--max-new-tokens 40 --batch-size 40)
  SAMPLED=(--n 4 --k-list 1,2,4 --temperature 0.7 --limit 10)
fi
W=$OUT/world
RANKS=$(python -c "import os, torch; print(min(2, torch.cuda.device_count() or os.cpu_count()))")

evaluate() {  # evaluate NAME MODEL ARGS...: the toy test set, results in $OUT/eval/NAME
  stage "eval_$1" python evaluate.py --model-path "$2" --benchmark toy --data-dir "$W" --seed "$SEED" \
    --no-progress --out "$OUT/eval/$1" "${EVAL[@]}" "${@:3}"
}

# ---------------------------------------------------------------------------- the pipeline
start_run .toy-run
START=$(date +%s)

stage world python toy_data.py --out "$W" --seed "$SEED" "${WORLD[@]}"
# The tokenizer learns from the seed corpus and general text (the pool is what the corpus stage sorts out).
stage tokenizer python tokenizer.py train --input "$W/seed.jsonl.gz" "$W/general.jsonl.gz" \
  --vocab-size $VOCAB --out "$OUT/tokenizer"
stage corpus python data_pipeline.py run --pool "$W/pool.jsonl.gz" --seed-corpus "$W/seed.jsonl.gz" \
  --bench "$W/bench_test.jsonl" --labels "$W/labels.jsonl" --tokenizer "$OUT/tokenizer" \
  --source general="$W/general.jsonl.gz" --mix math=0.56,general=0.44 --seed "$SEED" --out "$OUT/corpus" \
  "${CORPUS[@]}"
# Pre-training and SFT use both cores (or the GPU) as data-parallel processes: torchrun, one rank per core,
# two at most. Pre-training gives the same numbers on 1 or 2 ranks; SFT deals its examples to the ranks, so
# its batches (and numbers) depend on the rank count.
stage pretrain torchrun --standalone --nproc_per_node "$RANKS" pretrain.py --data "$OUT/corpus/tokens" \
  --model toy --seq-len 256 --seed "$SEED" --eval-steps 2 --log-every 10 --save-every 0 \
  --out "$OUT/pretrain" "${PRETRAIN[@]}"
stage sft torchrun --standalone --nproc_per_node "$RANKS" sft.py train --init "$OUT/pretrain/final" \
  --data "$W/sft.jsonl" --seq-len 256 --seed "$SEED" --log-every 10 --eval-every 0 --save-every 0 \
  --out "$OUT/sft" "${SFT[@]}"

lane_grpo() {  # outcome supervision with the rule reward (answer checked against the gold)
  stage grpo python grpo.py --init "$OUT/sft/final" --data "$W/rl.jsonl" --seed "$SEED" --max-new-tokens 100 \
    --save-every 0 --out "$OUT/grpo" "${GRPO[@]}"
  evaluate rl "$OUT/grpo/final" --mode chat
  evaluate rl_sampled "$OUT/grpo/final" --mode chat "${SAMPLED[@]}"
}
lane_eval_prm() {  # base (few-shot, as the paper evaluates base models) and SFT; a PRM; process supervision
  evaluate base "$OUT/pretrain/final" --mode base --shots 2
  evaluate sft "$OUT/sft/final" --mode chat
  evaluate sft_sampled "$OUT/sft/final" --mode chat "${SAMPLED[@]}"
  stage rm_label python reward.py label --policy "$OUT/sft/final" --data "$W/bench_train.jsonl" \
    --labels exact --max-new-tokens 100 --seed "$SEED" --out "$OUT/rm/labels.jsonl" "${RM_LABEL[@]}"
  stage rm_train python reward.py train --kind prm --data "$OUT/rm/labels.jsonl" --init "$OUT/sft/final" \
    --seed "$SEED" --log-every 10 --eval-every 0 --out "$OUT/rm" "${RM_TRAIN[@]}"
  stage grpo_prm python grpo.py --init "$OUT/sft/final" --data "$W/rl.jsonl" --seed "$SEED" \
    --max-new-tokens 100 --reward prm --reward-model "$OUT/rm/final" --rm-questions 0 --save-every 0 \
    --out "$OUT/grpo_prm" "${GRPO_PRM[@]}"
  evaluate rl_prm "$OUT/grpo_prm/final" --mode chat
}
side_by_side lane_grpo lane_eval_prm

[ $COMMANDS = 1 ] && exit 0
echo "{\"stage\": \"total\", \"wall_s\": $(( $(date +%s) - START ))}" >> "$OUT/timings.jsonl"
python report.py --run "$OUT"
