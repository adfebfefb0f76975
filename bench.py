"""Performance, measured side by side: every figure comes with a baseline measured in the same run.

    python bench.py                      # every section at full size (about 10 minutes on 2 cores)
    python bench.py --quick              # small sizes: about a minute
    python bench.py --only generation --threads 1
    python bench.py --gpu                # on a CUDA machine: 1.3b MFU (bf16, FSDP2 on one rank) and decoding

This machine is shared and noisy, so absolute times alone mean little: each figure carries a ratio to a
baseline measured in the same run, right before it:
  training     tokens/s of a pre-training step (pretrain.py's own step) -> MFU against the machine's
               matmul peak; torch.compile against eager
  generation   sampler.py against a naive decoder that re-runs the full forward for every token, for the
               toy and small presets; batch B against batch 1; on a GRPO-shaped workload, useful tokens/s
               against the static sampler it replaced; on an evaluation-shaped one, tokens decoded ÷
               useful; batch-1 decode with the compiled step against eager
  corpus       docs/s and MB/s of data_pipeline.py's stages on the toy world's web pool, all workers
               against 1 worker
  webpages     (--only webpages) data_pipeline.py on real-shaped pages (calendars, lists, forum threads,
               MathJax HTML in WARC): docs/s per core of extract, dedup and decontamination against
               reading the same input; with --data-dir, planted GSM8K/MATH leaks removed and clean pages
               touched
  tokenizer    BPE training (tokenizer.py) against its own pre-tokenization pass
  grpo         one GRPO step of grpo.py on a toy policy, split into its phases (fractions of the step)
  logits       peak memory of the LM loss at a 102,400-token vocabulary: chunked logits (model.py) against
               the whole [T, V] logits
  gpu          (--gpu) 1.3b pre-training MFU against the bf16 matmul peak; decoding against the memory-
               bandwidth bound
Sections run on the device trainer.setup_distributed picks (CUDA when present, else the CPU). Results
are printed as one table and appended to --out as JSONL, one record per row.
"""
from __future__ import annotations

import argparse
import gc
import gzip
import html
import json
import os
import platform
import random
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch

import data_pipeline as dp
import tokenizer as tk
from flags import add_flags, config_from, flag, run_cli
from formats import load_benchmark, read_documents, read_jsonl, write_jsonl
from grpo import GRPOConfig, train_grpo
from model import ModelConfig, Transformer
from sampler import generate
from pretrain import lm_loss
from trainer import (Proc, TrainConfig, autocast_for, build_model, build_optimizer, cleanup_distributed,
                     setup_distributed, train_step, unwrap)
from toy_data import ToyConfig, write_toy_world


@dataclass
class Row:
    section: str
    name: str
    value: float
    unit: str
    baseline: str = ""          # what `ratio` divides by (a figure of the same run)
    ratio: float | None = None  # value / baseline (for time shares: part / whole)
    note: str = ""              # a second figure for the reader (MB/s, MFU, ...)
    extra: dict = field(default_factory=dict)


def timed(fn, repeats: int = 3, warmup: int = 1) -> float:
    """Best-of-`repeats` wall time of fn() in seconds (best, not mean: noise only ever adds time)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def matmul_peak_flops(device: torch.device, dtype: torch.dtype, n: int) -> float:
    """The machine's practical peak: FLOP/s of a large square matmul (2n³ FLOPs)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    return 2 * n ** 3 / timed(lambda: a @ b, repeats=5)


# ----------------------------------------------------------------------------- sizes

@dataclass
class Sizes:
    """How big each measurement is. The defaults are the full run; --quick takes QUICK; a flag of the
    same name overrides one field either way."""
    presets: str = flag("toy,small", "training: model presets, comma-separated")
    seq_len: int = flag(256, "training: tokens per sequence", min=2)
    train_batch: int = flag(4, "training: sequences per step", min=1)
    repeats: int = flag(3, "timed repetitions of each training step and generation (the best counts)",
                        min=1)
    peak_n: int = flag(2048, "size n of the n×n matmul that measures the peak", min=1)
    new_tokens: int = flag(512, "generation: new tokens per sequence", min=1)
    batch_sizes: str = flag("1,8,64", "generation: batch sizes of the scaling rows, comma-separated")
    generation_presets: str = flag("toy,small", "generation: model presets, comma-separated (the naive "
                                                   "decoder of `small` takes minutes at 512 tokens)")
    rollout_questions: int = flag(64, "generation: prompts of the GRPO-shaped workload (0: skip it)", min=0)
    rollout_group: int = flag(8, "generation: G, samples per prompt of the GRPO-shaped workload", min=1)
    rollout_slots: int = flag(64, "generation: rows decoding at once (static: the batch) in that workload",
                              min=1)
    world_pages: int = flag(20_000, "corpus: web pages of the generated toy world (other parts scale along)",
                            min=1)
    corpus_repeats: int = flag(2, "corpus: timed runs of each stage (the best counts)", min=1)
    tok_mb: float = flag(10.0, "tokenizer: megabytes of training text (10 MB: about a minute)", min=0.0,
                         above=True)
    tok_vocab: int = flag(4096, "tokenizer: vocabulary size trained to", min=259)
    vocab: int = flag(1024, "vocabulary of the tokenizer the tokenize stage and the GRPO policy use", min=259)
    grpo_questions: int = flag(8, "GRPO: questions per step", min=1)
    grpo_group: int = flag(8, "GRPO: G, outputs per question", min=1)
    grpo_new_tokens: int = flag(128, "GRPO: longest output", min=1)
    grpo_steps: int = flag(2, "GRPO: steps run (the last is reported: the first pays one-time costs)", min=1)
    logit_tokens: int = flag(4096, "logits: positions of the loss (the paper's context is 4,096)", min=1)
    logit_d_model: int = flag(256, "logits: width of the hidden states (the memory does not depend on it)",
                              min=1)
    web_pages: int = flag(20_000, "webpages: real-shaped pages generated (1 in 20 holds a planted leak)",
                          min=1)


QUICK = Sizes(presets="toy", seq_len=128, repeats=2, peak_n=1024, new_tokens=128, batch_sizes="1,8",
              generation_presets="toy", world_pages=2_000, corpus_repeats=1, tok_mb=1.0, tok_vocab=1024,
              vocab=512, grpo_questions=4, grpo_group=4, grpo_new_tokens=32, logit_d_model=64,
              web_pages=2_000)


# ----------------------------------------------------------------------------- training

class RandomTokens:
    """The same batch of random tokens every step, in the trainer's data interface (next_batch)."""

    def __init__(self, vocab_size: int, batch: int, seq: int):
        x = torch.randint(0, vocab_size, (batch, seq + 1), generator=torch.Generator().manual_seed(0))
        self.batch = {"tokens": x[:, :-1], "targets": x[:, 1:]}

    def next_batch(self) -> dict:
        return self.batch


def train_rate(model_cfg: ModelConfig, proc: Proc, train_cfg: TrainConfig, batch: int, seq: int,
               repeats: int) -> tuple[float, float]:
    """(tokens/s, training FLOPs per token) of pretrain.py's own step (trainer.train_step: forward,
    backward, gradient scaling and clipping, AdamW) on a model built as pretrain.py builds it, wrapped
    for `train_cfg.parallel` with its precision, activation checkpointing and compile settings."""
    torch.manual_seed(0)
    model = build_model(model_cfg, train_cfg, proc)
    optimizer = build_optimizer(model, train_cfg)
    data, amp = RandomTokens(model_cfg.vocab_size, batch, seq), autocast_for(model, train_cfg, proc.device)
    step = lambda: train_step(model, optimizer, data, lm_loss, 1, train_cfg.grad_clip,
                              proc, amp)  # noqa: E731
    # compiling takes the first step
    seconds = timed(step, repeats=repeats, warmup=2 if train_cfg.compile else 1)
    return batch * seq / seconds, unwrap(model).flops_per_token(seq)


def bench_training(args, s: Sizes, proc: Proc, peak: float) -> list[Row]:
    rows = []
    for name in s.presets.split(","):
        cfg = ModelConfig.from_preset(name, max_seq_len=s.seq_len)
        rates = {}
        for compile in [False] + [True] * (not args.no_compile):
            train_cfg = TrainConfig(parallel="ddp", dtype="fp32", compile=compile)
            rate, flops_tok = train_rate(cfg, proc, train_cfg, s.train_batch, s.seq_len, s.repeats)
            rates[compile] = rate
            mfu = rate * flops_tok / peak
            mode = "compiled" if compile else "eager"
            rows.append(Row("training", f"{name} {mode}, {s.train_batch}×{s.seq_len} tokens", rate, "tok/s",
                            f"{name} eager" if compile else "matmul peak (MFU)",
                            rate / rates[False] if compile else mfu, f"MFU {mfu:.1%}",
                            {"mfu": mfu, "flops_per_token": flops_tok}))
    return rows


# ----------------------------------------------------------------------------- generation

@torch.no_grad()
def naive_decode(model: Transformer, prompt: list[int], n: int) -> list[int]:
    """The baseline: re-run the full forward over the whole sequence for every new token (greedy)."""
    seq = torch.tensor([prompt], device=model.embed.weight.device)
    for _ in range(n):
        nxt = model(seq)[0][:, -1].argmax(-1, keepdim=True)
        seq = torch.cat([seq, nxt], 1)
    return seq[0, len(prompt):].tolist()


@torch.no_grad()
def static_generate(model: Transformer, prompts: list[list[int]], max_new: int, temperature: float, stop_ids,
                    generator, batch: int) -> tuple[list[list[int]], int]:
    """The baseline of the engine: the sampler this project had before sampler.py, kept here only to be
    measured against. Batches of `batch` rows (equal-length prompts here, so no padding, which only helps
    it) decode until the batch's longest row ends: finished rows keep decoding, each row prefills its own
    copy of its prompt, the host asks "all done?" after every token, stop strings can only be applied
    afterwards. Returns (completions, tokens decoded)."""
    c, device = model.config, model.embed.weight.device
    completions, decoded = [], 0
    for start in range(0, len(prompts), batch):
        tokens = torch.tensor(prompts[start:start + batch], device=device)
        B, L = tokens.shape
        cache = [(torch.zeros(B, c.n_kv_heads, L + max_new, c.head_dim, device=device),
                  torch.zeros(B, c.n_kv_heads, L + max_new, c.head_dim, device=device))
                 for _ in range(c.n_layers)]
        positions = torch.arange(L + max_new, device=device).expand(B, -1)
        logits = model.forward_cached(tokens, positions[:, :L],
                                      [(k[:, :, :L], v[:, :, :L]) for k, v in cache])
        key_bias = torch.zeros(B, 1, 1, L + max_new, device=device)
        stop, done = torch.tensor(stop_ids, device=device), torch.zeros(B, dtype=torch.bool, device=device)
        out = torch.zeros(B, max_new, dtype=torch.long, device=device)
        n_gen = torch.zeros(B, dtype=torch.long)
        for t in range(max_new):
            logp = (logits / max(temperature, 1e-6)).log_softmax(-1)
            nxt = logp.argmax(-1) if temperature == 0 else \
                torch.multinomial(logp.exp(), 1, generator=generator)[:, 0]
            logp.gather(-1, nxt[:, None])  # the sampler returned these log-probs: their cost counts
            out[:, t] = nxt
            n_gen += (~done).long().cpu()
            done |= torch.isin(nxt, stop)
            decoded += B
            if bool(done.all()) or t == max_new - 1:
                break
            pos = L + t
            logits = model.forward_cached(nxt[:, None], positions[:, pos:pos + 1],
                                          [(k[:, :, :pos + 1], v[:, :, :pos + 1]) for k, v in cache],
                                          key_bias[..., :pos + 1])
        completions += [out[i, :n].tolist() for i, n in enumerate(n_gen.tolist())]
    return completions, decoded


def stop_set(vocab: int, mean_length: float) -> tuple[int, ...]:
    """Token ids that end a row: a random model's next token is nearly uniform over the vocabulary, so
    with vocab / mean_length stop ids a row ends after each token with probability 1 / mean_length: lengths
    geometric with that mean, cut at the budget. A long tail like that of reasoning traces (most short,
    a few running to the limit), which is what leaves a static batch idle."""
    return tuple(range(vocab - max(1, round(vocab / mean_length)), vocab))


def bench_generation(s: Sizes, device: torch.device, compile: bool) -> list[Row]:
    """Per preset (its context raised to fit the new tokens):
    - greedy from a 16-token prompt: sampler.py against the naive decoder, on the same tokens; batch
      scaling for the first preset;
    - a GRPO-shaped workload (s.rollout_questions prompts × G s.rollout_group, lengths geometric with mean
      new_tokens / 4, see stop_set; s.rollout_slots rows at once): useful tokens/s (tokens up to each row's
      stop) of sampler.py against the static sampler it replaced (static_generate);
    - first preset: an evaluation-shaped workload (few-shot-long prompts, a stop string that rows reach
      after new_tokens / 8 tokens on average; 16 rows at once as evaluate.py): tokens decoded ÷ tokens
      useful, static (stop strings applied after decoding) against sampler.py (checked while decoding);
    - last preset, unless --no-compile: batch-1 decode, compiled step against eager.
    A tiny model decodes at per-op cost (dispatch, small kernels), the same for one token or a few
    hundred, which caps the cache's gain over the naive decoder; a larger one shows the quadratic work."""
    new, prompt = s.new_tokens, list(range(1, 17))
    rows, names = [], s.generation_presets.split(",")
    for name in names:
        torch.manual_seed(0)
        model = Transformer(ModelConfig.from_preset(name, max_seq_len=256 + new)).to(device).eval()
        cached = lambda b: generate(model, [prompt] * b, new, temperature=0)  # noqa: E731
        kv = new / timed(lambda: cached(1), repeats=s.repeats)
        naive_tokens = []  # the naive decoder of a larger preset runs once: it takes minutes
        naive = new / timed(lambda: naive_tokens.append(naive_decode(model, prompt, new)),
                            repeats=max(1, s.repeats - 1) if name == names[0] else 1, warmup=0)
        same = naive_tokens[0] == cached(1)[0][0]
        rows += [Row("generation", f"{name} naive decoder, {new} new tokens", naive, "tok/s"),
                 Row("generation", f"{name} KV cache, {new} new tokens", kv, "tok/s", "naive decoder",
                     kv / naive, "same tokens" if same else "DIFFERENT tokens", {"same_tokens": same})]
        if name == names[0]:
            base, sizes = None, [int(b) for b in s.batch_sizes.split(",")]
            for b in sizes:
                rate = b * new / timed(lambda: cached(b), repeats=max(1, s.repeats - 1))
                base = base or rate
                rows.append(Row("generation", f"{name} KV cache, batch {b}", rate, "tok/s",
                                f"batch {sizes[0]}", rate / base))
        if s.rollout_questions:
            rows += rollout_rows(model, name, s)
        if name == names[0]:
            rows += evaluation_rows(model, name, s)
        if compile and name == names[-1]:
            eager = new / timed(lambda: generate(model, [prompt], new, temperature=0, slots=1),
                                repeats=s.repeats)
            compiled = new / timed(lambda: generate(model, [prompt], new, temperature=0, slots=1,
                                                    compile=True),
                                   repeats=s.repeats, warmup=2)  # the first call compiles
            rows += [Row("generation", f"{name} batch-1 decode, eager", eager, "tok/s"),
                     Row("generation", f"{name} batch-1 decode, compiled step", compiled, "tok/s", "eager",
                         compiled / eager)]
    return rows


def rollout_rows(model: Transformer, name: str, s: Sizes) -> list[Row]:
    """The GRPO-shaped workload, static sampler then sampler.py; useful tokens/s of each."""
    vocab, G, new = model.config.vocab_size, s.rollout_group, s.new_tokens
    stops = stop_set(vocab, new / 4)
    draw = torch.Generator().manual_seed(0)
    prompts = [torch.randint(0, stops[0], (48,), generator=draw).tolist() for _ in range(s.rollout_questions)]
    out = {}
    static = lambda: out.update(static=static_generate(  # noqa: E731
        model, [p for p in prompts for _ in range(G)], new, 1.0, stops, torch.Generator().manual_seed(0),
        s.rollout_slots))
    engine = lambda: out.update(engine=(generate(  # noqa: E731
        model, prompts, new, 1.0, stop_ids=stops, group_size=G, slots=s.rollout_slots,
        generator=torch.Generator().manual_seed(0), stats=(stats := Counter()))[0], stats))
    t_static = timed(static, repeats=1, warmup=0)
    t_engine = timed(engine, repeats=1, warmup=0)
    useful_static, decoded_static = sum(map(len, out["static"][0])), out["static"][1]
    useful_engine, decoded_engine = sum(map(len, out["engine"][0])), out["engine"][1]["decoded"]
    what = f"{name} GRPO rollout, {s.rollout_questions}×G {G}, ≤{new} tokens, {s.rollout_slots} slots"
    return [Row("generation", f"{what}: static", useful_static / t_static, "useful tok/s",
                note=f"decoded/useful {decoded_static / useful_static:.2f}, {t_static:.1f} s"),
            Row("generation", f"{what}: sampler.py", useful_engine / t_engine, "useful tok/s", "static",
                (useful_engine / t_engine) / (useful_static / t_static),
                f"decoded/useful {decoded_engine / useful_engine:.2f}, {t_engine:.1f} s")]


def evaluation_rows(model: Transformer, name: str, s: Sizes) -> list[Row]:
    """The evaluation-shaped workload: tokens decoded ÷ tokens useful (up to the token that completes the
    stop string, or EOS), static against sampler.py."""
    vocab, new, marker = model.config.vocab_size, s.new_tokens, "\n\nQuestion:"
    stops = set(stop_set(vocab, new / 8))
    decode = lambda ids: "".join(marker if i in stops else "x" for i in ids)  # noqa: E731
    draw = torch.Generator().manual_seed(1)
    prompts = [torch.randint(1, min(stops), (192,), generator=draw).tolist() for _ in range(64)]
    static, decoded_static = static_generate(model, prompts, new, 1.0, (0,),
                                             torch.Generator().manual_seed(0), 16)
    useful_static = sum(next((j + 1 for j, t in enumerate(c) if t in stops or t == 0), len(c))
                        for c in static)
    stats = Counter()
    engine, _ = generate(model, prompts, new, 1.0, stop_ids=(0,), stop_strings=(marker,), decode=decode,
                         slots=16, generator=torch.Generator().manual_seed(0), stats=stats)
    useful_engine = sum(map(len, engine))
    what = f"{name} evaluation, 64 prompts of 192 tokens, ≤{new} tokens, stop string"
    return [Row("generation", f"{what}: static, decoded/useful", decoded_static / useful_static, "ratio"),
            Row("generation", f"{what}: sampler.py, decoded/useful", stats["decoded"] / useful_engine,
                "ratio", "static", (stats["decoded"] / useful_engine) / (decoded_static / useful_static))]


# ----------------------------------------------------------------------------- inputs: toy world, tokenizer

class Inputs:
    """What the corpus and GRPO sections read, made on first use in the run's temporary folder: a toy
    world (toy_data.py; or --world) and a BPE tokenizer of `s.vocab` ids trained on its seed corpus."""

    def __init__(self, args, s: Sizes, tmp: Path):
        self.args, self.s, self.tmp = args, s, tmp
        self._world = self._tokenizer = None

    def world(self) -> Path:
        if self._world is None:
            given = self.args.world
            self._world = Path(given) if given else toy_world(self.tmp / "world", self.s.world_pages)
        return self._world

    def pool(self) -> list[Path]:
        return [Path(p) for p in self.args.pool] if self.args.pool else [self.world() / "pool.jsonl.gz"]

    def tokenizer_dir(self) -> Path:
        if self._tokenizer is None:
            texts = (rec["text"] for rec in read_jsonl(self.world() / "seed.jsonl.gz"))
            self._tokenizer = tk.Tokenizer.train(texts, self.s.vocab).save(self.tmp / "tokenizer")
        return self._tokenizer


def toy_world(out: Path, pages: int) -> Path:
    """A toy world of `pages` web pages; every other count scaled from toy_data.py's defaults (20,000
    pages)."""
    defaults, f = ToyConfig(), pages / ToyConfig().pages
    scale = lambda n, least: max(least, round(n * f))  # noqa: E731
    write_toy_world(ToyConfig(out=str(out), pages=pages, domains=scale(defaults.domains, 15),
                              seed_pages=scale(defaults.seed_pages, 20),
                              general_docs=scale(defaults.general_docs, 10),
                              train_size=scale(defaults.train_size, 64),
                              test_size=scale(defaults.test_size, 20), near_dups=scale(defaults.near_dups, 0),
                              exact_dups=scale(defaults.exact_dups, 0), leaks=scale(defaults.leaks, 0)))
    return out


# ----------------------------------------------------------------------------- corpus pipeline

def bench_corpus(args, s: Sizes, inputs: Inputs) -> list[Row]:
    """data_pipeline.py's CPU-bound stages over the whole pool, each run with 1 worker and with --workers.
    Recall scores with a classifier trained first (fastText, the paper's settings but fewer hash buckets:
    scoring costs the same, memory does not). Decontamination matches the toy benchmark's test split."""
    world, pool, tmp = inputs.world(), inputs.pool(), inputs.tmp / "corpus"
    size = dp.StageStats("size")
    mb = sum(len(doc["text"].encode()) for doc in dp.iter_documents(pool, size, dp.Common().max_chars)) / 1e6
    docs = size.documents_in  # every record read, malformed ones included: what each stage reads
    dp.classify([world / "seed.jsonl.gz"], pool, tmp / "classify", dp.ClassifyConfig(bucket=200_000),
                dp.Common(workers=1))
    stages = {
        "recall (fastText scoring)": lambda c, out: dp.recall(pool, tmp / "classify" / dp.MODEL, out,
                                                              dp.RecallConfig(), c),
        "MinHash dedup": lambda c, out: dp.dedup(pool, out, dp.DedupConfig(), c),
        "decontamination": lambda c, out: dp.decontaminate(pool, [world / "bench_test.jsonl"], out,
                                                          dp.DecontamConfig(), c),
        "tokenization": lambda c, out: dp.tokenize({"pool": pool}, {"pool": 1.0}, inputs.tokenizer_dir(), out,
                                                   dp.TokenizeConfig(), c),
    }
    rows = []
    for i, (stage, run) in enumerate(stages.items()):
        base = None
        for workers in sorted({1, args.workers}):
            out = tmp / f"{i}-{workers}"
            seconds = timed(lambda: run(dp.Common(workers=workers), out), repeats=s.corpus_repeats, warmup=0)
            rate = docs / seconds
            base = base or rate
            rows.append(Row("corpus", f"{stage}, {workers} worker{'s' * (workers > 1)}", rate, "docs/s",
                            "1 worker" if workers > 1 else "", rate / base if workers > 1 else None,
                            f"{mb / seconds:.2f} MB/s",
                            {"documents": docs, "mb": round(mb, 3), "seconds": seconds}))
    return rows


# ----------------------------------------------------------------------------- web pages: real-shaped input

# Sentences of the kinds of page a math crawl meets (blog posts, forum threads, problem pages, calendars,
# numbered lists, recipes, sports tables, Chinese pages): written here, not taken from any benchmark, with
# everyday math phrasing ("Let n be a positive integer such that ...") and many bare numbers and one-letter
# variables, the text a decontamination rule must leave alone.
MATH_SENTENCES = [
    "Let ${v}$ be a positive integer such that ${v}^2 + {a}{v} = {b}$.",
    "Find the value of ${v}$ when ${v} = {a}$.",
    "We have $a^2+b^2=c^2+d^2$ with $a+b+c+d={b}$, so the sum is even.",
    "By the triangle inequality, $|{v} + y| \\le |{v}| + |y|$ for all real numbers.",
    "What is the sum of the first {a} positive integers? It is $\\frac{{n(n+1)}}{{2}}$.",
    "The probability that a fair die shows {a} is $\\frac{{1}}{{6}}$.",
    "Recall that $\\binom{{{b}}}{{{a}}}$ counts subsets.",
    "Suppose $f({v}) = {a}{v} + {b}$; then $f(f(1)) = {c}$.",
    "The roots of ${v}^2 - {a}{v} + {b} = 0$ sum to {a}.",
    "Hence ${v} \\equiv {a} \\pmod{{{b}}}$ and the remainder is {a}.",
    "so the area of the triangle is {c} square units.",
    "Consider the sequence 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and its partial sums.", "Proof. Induct on ${v}$.",
]
OTHER_SENTENCES = [
    "The match ended {a} to {b} after extra time.",
    "Preheat the oven to {c} degrees and bake for {b} minutes.",
    "Add {a} cups of flour and {a} eggs, then stir.",
    "Our shop is open from {a} am to {b} pm, Monday to Friday.",
    "The council met on March {a} to discuss the new park.",
    "Tickets cost {b} dollars for adults and {a} for children.",
    "She has {a} apples and buys {b} more at the market.", "The train leaves at {a}:{b} from platform {a}.",
]
CHINESE_SENTENCES = ["小明今天去公园玩，看见了{a}只小鸟。", "这道题的答案是{b}，请同学们检查。",
                     "天气很好，我们一起去爬山吧。", "设${v}$为正整数，且${v}^2={b}$。",
                     "本店营业时间为早上{a}点到晚上{b}点。"]


def fill(sentence: str, rng: random.Random) -> str:
    return sentence.format(v=rng.choice("xyznk"), a=rng.randint(1, 12), b=rng.randint(10, 99),
                           c=rng.randint(100, 999))


def web_page(rng: random.Random, kind: str) -> str:
    """One page of a kind, as extracted text (paragraphs on lines)."""
    if kind == "calendar":
        month, start = rng.choice(["January", "March", "May", "October"]), rng.randint(0, 6)
        days = [""] * start + [str(d) for d in range(1, rng.choice([29, 30, 31]) + 1)]
        weeks = [" ".join(days[i:i + 7]).strip() for i in range(0, len(days), 7)]
        return "\n".join([f"Events in {month} {rng.randint(2015, 2025)}", "Mon Tue Wed Thu Fri Sat Sun",
                          *weeks, fill(rng.choice(OTHER_SENTENCES), rng)])
    if kind == "numbered list":
        n = rng.randint(10, 30)
        return "\n".join([f"Top {n} things to do this year"] + [f"{i}. "
                                                                f"{fill(rng.choice(OTHER_SENTENCES), rng)}"
                                                                 for i in range(1, n + 1)])
    if kind == "table":
        return "\n".join(["Team W D L Pts"] + [f"Team {chr(65 + i)} {rng.randint(0, 20)} {rng.randint(0, 9)} "
                                               f"{rng.randint(0, 20)} {rng.randint(0, 60)}"
                                               for i in range(12)])
    if kind == "chinese":
        return "\n".join(fill(rng.choice(CHINESE_SENTENCES), rng) for _ in range(rng.randint(3, 8)))
    sentences = MATH_SENTENCES if kind in ("math blog", "forum thread") else OTHER_SENTENCES
    paragraphs = [" ".join(fill(rng.choice(sentences), rng) for _ in range(rng.randint(2, 5)))
                  for _ in range(rng.randint(2, 6))]
    if kind == "forum thread":
        paragraphs = [f"Re: question about problem {rng.randint(1, 50)}",
                      f"posted by user{rng.randint(1, 999)}", *paragraphs, "Thanks in advance!"]
    return "\n".join(paragraphs)


KINDS = ["calendar", "numbered list", "table", "chinese", "math blog", "forum thread", "news"]


def copied(text: str, rng: random.Random, how: str) -> str:
    """A benchmark text as a page might hold it: verbatim, or with its whitespace, case or punctuation
    changed."""
    if how == "whitespace":
        return "\n".join("  ".join(text.split()[i:i + 12]) for i in range(0, len(text.split()), 12))
    if how == "case":
        return text.upper()
    if how == "punctuation":
        return re.sub(r"[.,;:?!$]", lambda m: rng.choice([" ", ";", " - "]), text)  # never joins two words
    return text


def web_pool(pages: int, leaks: int, bench: list[dict],
             seed: int = 0) -> tuple[list[dict], dict[str, list[str]]]:
    """`pages` real-shaped pages; `leaks` of them hold a benchmark question or solution, copied one of four
    ways. Returns the pages and, per leaking URL, the lines of the planted copy."""
    rng = random.Random(seed)
    docs, planted = [], {}
    for i in range(pages):
        kind = KINDS[i % len(KINDS)]
        url, text = f"https://site{i % 97}.example/{kind.replace(' ', '-')}/{i}", web_page(rng, kind)
        if i % max(pages // max(leaks, 1), 1) == 0 and len(planted) < leaks:
            rec = rng.choice(bench)
            copy = copied(rec[rng.choice(["question", "solution"])], rng,
                          ["verbatim", "whitespace", "case", "punctuation"][len(planted) % 4])
            lines = text.split("\n")
            lines.insert(rng.randint(0, len(lines)), copy)
            text, planted[url] = "\n".join(lines), [line for line in copy.split("\n") if line.strip()]
        docs.append({"url": url, "text": text})
    return docs, planted


def as_html(text: str) -> str:
    """A page's HTML: paragraphs, LaTeX as MathJax scripts (what a WARC response holds), a menu and a
    footer."""
    body = "".join("<p>" + re.sub(r"\$([^$]+)\$", r'<script type="math/tex">\1</script>',
                                  html.escape(p, False))
                   + "</p>" for p in text.split("\n"))
    return (f"<html><head><title>page</title></head><body><nav><a href='/'>Home</a> <a "
            f"href='/about'>About</a></nav><article>{body}</article><footer>Copyright 2024. All rights "
            f"reserved.</footer></body></html>")


def bench_webpages(args, s: Sizes, tmp: Path) -> list[Row]:
    """data_pipeline.py on real-shaped web pages, one worker (docs/s per core): WARC HTML extraction against
    reading the same WARC without extracting, dedup and decontamination against reading the JSONL pool.
    With --data-dir (GSM8K and MATH test files), also decontamination's figures: planted leaks removed and
    clean pages touched, with the informative n-gram rule (--min-content 3) against without it (0)."""
    tmp, one = tmp / "webpages", dp.Common(workers=1, chunk=64)
    bench_specs = ["gsm8k", "math"] if args.data_dir else None
    bench = ([r for spec in bench_specs for r in load_benchmark(spec, data_dir=args.data_dir)]
             if bench_specs else [{"question": "How many sheep does the farmer have after 3 weeks if he buys "
                                               "5 more each week?",
                                   "solution": "He has 17 + 15 = 32 sheep."}])
    docs, planted = web_pool(s.web_pages, s.web_pages // 20, bench)
    pool = tmp / "pool.jsonl.gz"
    write_jsonl(pool, docs)
    bench_file = tmp / "bench.jsonl"
    write_jsonl(bench_file, bench)
    warc = tmp / "pool.warc.gz"
    with open(warc, "wb") as f:
        for doc in docs:
            payload = as_html(doc["text"]).encode()
            http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + payload
            head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {doc['url']}\r\n"
                    f"Content-Length: {len(http)}\r\n\r\n").encode()
            f.write(gzip.compress(head + http + b"\r\n\r\n"))

    def rate(fn) -> float:
        return len(docs) / timed(fn, repeats=s.corpus_repeats, warmup=0)

    read_warc = rate(lambda: sum(1 for _ in read_documents(warc, Counter())))
    read_jsonl_rate = rate(lambda: sum(1 for _ in dp.iter_documents([pool], dp.StageStats("t"),
                                                                    one.max_chars)))
    rows = [Row("webpages", "read WARC records (no extraction)", read_warc, "docs/s"),
            Row("webpages", "extract: HTML -> text with LaTeX, 1 worker",
                rate(lambda: dp.extract([warc], tmp / "extract", one)), "docs/s", "read WARC", None),
            Row("webpages", "read JSONL pool", read_jsonl_rate, "docs/s"),
            Row("webpages", "dedup, 1 worker",
                rate(lambda: dp.dedup([pool], tmp / "dedup", dp.DedupConfig(), one)), "docs/s",
                "read JSONL pool", None)]
    for min_content in (0, 3):
        cfg, out = dp.DecontamConfig(min_content=min_content), tmp / f"decontam{min_content}"
        stats = dp.decontaminate([pool], [bench_file], out, cfg, one)
        index = stats["index_seconds"]  # built once per run, whatever the pool's size: not in the rate
        seconds = stats["seconds"] - index
        touched = {json.loads(line)["url"] for line in open(out / dp.REMOVED)}
        clean = {d["url"]: d["text"] for d in read_jsonl(out / dp.CLEAN)}
        removed = sum(not any(line in clean.get(url, "") for line in lines if len(dp.match_words(line)) >= 3)
                      for url, lines in planted.items())
        share = len(touched - set(planted)) / (len(docs) - len(planted))
        rows.append(Row("webpages", f"decontaminate, --min-content {min_content}, 1 worker",
                        len(docs) / seconds, "docs/s", "read JSONL pool", None,
                        f"leaks removed {removed}/{len(planted)}, clean pages touched {share:.2%}; index "
                        f"{index:.1f} s",
                        {"leaks": len(planted), "leaks_removed": removed, "clean_touched": share,
                         "index_seconds": index, "benchmark": bench_specs or "one made-up problem"}))
    for r in rows:
        if r.baseline:
            r.ratio = r.value / (read_warc if r.baseline == "read WARC" else read_jsonl_rate)
    return rows


# ----------------------------------------------------------------------------- tokenizer training

def bench_tokenizer(s: Sizes) -> list[Row]:
    """Issue 3's figure: BPE training on synthetic web-like text (tokenizer.bench_train). Its baseline is
    the pre-tokenization pass that training starts with: a trainer cannot beat one pass of the split."""
    r = tk.bench_train(s.tok_mb, s.tok_vocab)
    return [Row("tokenizer", f"BPE training, {r['mb']} MB to {r['vocab_size']} tokens", r["mb_per_s"], "MB/s",
                "pre-tokenization pass", r["pretokenize_s"] / r["train_s"], f"{r['train_s']:.1f} s", r)]


# ----------------------------------------------------------------------------- GRPO step

GRPO_PHASES = {"t_sample": "rollout (KV-cache sampling)", "t_reward": "rewards (answer checking)",
               "t_reference": "log-probs of π_ref", "t_update": "update (π_θ log-probs, backward, AdamW)"}


def bench_grpo(s: Sizes, inputs: Inputs) -> list[Row]:
    """grpo.train_grpo for a few steps on a random toy policy with the toy world's RL questions; the last
    step's timings (its metrics record) as fractions of the step."""
    root, tok_dir = inputs.tmp / "grpo", inputs.tokenizer_dir()
    questions = s.grpo_questions * s.grpo_steps
    write_jsonl(root / "rl.jsonl",
                [rec for _, rec in zip(range(questions), read_jsonl(inputs.world() / "rl.jsonl"))])
    torch.manual_seed(0)
    policy = Transformer(ModelConfig.from_preset("toy", vocab_size=tk.Tokenizer.load(tok_dir).vocab_size))
    policy.save(root / "init", tokenizer=str(tok_dir))
    cfg = GRPOConfig(init=str(root / "init"), data=str(root / "rl.jsonl"), out=str(root / "run"),
                     batch_questions=s.grpo_questions, group_size=s.grpo_group,
                     max_new_tokens=s.grpo_new_tokens, steps_per_iteration=s.grpo_steps, lr=1e-5,
                     save_every=0)
    rec = train_grpo(cfg)["records"][-1]
    step = rec["t_step"]
    rows = [Row("grpo", f"GRPO step, {s.grpo_questions} questions × G={s.grpo_group}", step, "s",
                note=f"{rec['response_len']:.0f} tokens an output", extra=rec)]
    for key, name in GRPO_PHASES.items():
        rows.append(Row("grpo", name, rec[key], "s", "GRPO step", rec[key] / step))
    rest = step - sum(rec[key] for key in GRPO_PHASES)
    rows.append(Row("grpo", "rest (weight copies, metrics)", rest, "s", "GRPO step", rest / step))
    return rows


# ----------------------------------------------------------------------------- GPU (when lent)

def decode_model(cfg: ModelConfig, device: torch.device, dtype=torch.bfloat16) -> Transformer:
    """A randomly initialised model for decoding, built on `meta` and materialised on the device (a 1.3b
    model never exists in fp32 on the host); the RoPE tables stay fp32, as Transformer.load keeps them."""
    with torch.device("meta"):
        model = Transformer(cfg)
    model.to_empty(device=device)
    model.init_weights()
    model.to(dtype)
    model.init_rope()
    return model.eval()


def copy_bandwidth(device: torch.device, nbytes: int = 2 << 30) -> float:
    """Memory bandwidth in bytes/s: a device-to-device copy of `nbytes` reads and writes each byte once."""
    src = torch.empty(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    return 2 * nbytes / timed(lambda: dst.copy_(src), repeats=5)


def bench_gpu(args, proc: Proc) -> list[Row]:
    """1.3b on one CUDA device: MFU of a bf16 pre-training step (FSDP2 on one rank, activation
    checkpointing off/on) against the dense bf16 matmul peak, and decoding steps/s at batch 1 and 64
    against the memory-bandwidth bound (weight bytes read per step / measured copy bandwidth)."""
    peak = matmul_peak_flops(proc.device, torch.bfloat16, 8192)
    rows = [Row("gpu", "bf16 matmul peak", peak / 1e12, "TFLOP/s",
                note=torch.cuda.get_device_name(proc.device))]
    cfg = ModelConfig.from_preset(args.gpu_model)
    for ac in (False, True):
        train_cfg = TrainConfig(parallel="fsdp", dtype="bf16", activation_checkpointing=ac,
                                compile=args.compile)
        rate, flops_tok = train_rate(cfg, proc, train_cfg, args.gpu_batch, cfg.max_seq_len, repeats=5)
        mfu = rate * flops_tok / peak
        rows.append(Row("gpu", f"{args.gpu_model} train, act. ckpt {'on' if ac else 'off'}", rate, "tok/s",
                        "bf16 matmul peak (MFU)", mfu, f"MFU {mfu:.1%}", {"mfu": mfu}))
        gc.collect()  # FSDP2's hooks hold the finished model in reference cycles
        torch.cuda.empty_cache()
    bandwidth = copy_bandwidth(proc.device)
    rows.append(Row("gpu", "copy bandwidth", bandwidth / 1e9, "GB/s"))
    model = decode_model(cfg, proc.device)
    # the embedding is a lookup, not read whole
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters()) - \
        model.embed.weight.numel() * model.embed.weight.element_size()
    bound = bandwidth / weight_bytes  # decode steps/s if a step only streamed the weights once
    new, prompt = 256, list(range(1, 33))
    for b in (1, 64):
        rate = new / timed(lambda: generate(model, [prompt] * b, new, temperature=0), repeats=2)
        rows.append(Row("gpu", f"{args.gpu_model} decode, batch {b}", rate, "steps/s", "bandwidth bound",
                        rate / bound, f"{rate * b:,.0f} tok/s",
                        {"tokens_per_s": rate * b, "bound_steps_per_s": bound}))
    return rows


# ----------------------------------------------------------------------------- main

SECTIONS = ("training", "generation", "corpus", "tokenizer", "grpo", "logits")
OPT_IN = ("webpages",)  # run only when --only names them


def _status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status (Linux), in KiB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def _logits_peak(chunked: bool, tokens: int, d_model: int, vocab: int, queue) -> None:
    """In a fresh process: the peak memory (resident set above what the process held before) of one LM loss
    and its backward over `tokens` positions, the model's chunked way (model.Transformer.target_logprobs) or
    the whole-logits way it replaced. Writing 5 to /proc/self/clear_refs resets the peak (VmHWM) to the
    current size."""
    import torch.nn.functional as F
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=vocab, n_layers=1, d_model=d_model, n_heads=1, ffn_dim=d_model,
                                    max_seq_len=tokens))
    hidden = torch.randn(1, tokens, d_model, requires_grad=True)
    targets = torch.randint(0, vocab, (1, tokens))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kib("VmRSS")
    t = time.perf_counter()
    if chunked:
        loss = -model.target_logprobs(hidden, targets).mean()
    else:
        loss = F.cross_entropy(model.lm_head(hidden).float().flatten(0, 1), targets.flatten())
    loss.backward()
    queue.put(((_status_kib("VmHWM") - before) * 1024, time.perf_counter() - t))


def bench_logits(s: Sizes) -> list[Row]:
    """Peak memory of the LM loss / token log-probs at DeepSeek's vocabulary: chunked logits against the whole
    [T, V] logits, each in a fresh process (a process's peak RSS only grows)."""
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    peaks = {}
    for chunked in (False, True):
        queue = ctx.Queue()
        child = ctx.Process(target=_logits_peak,
                            args=(chunked, s.logit_tokens, s.logit_d_model, 102_400, queue))
        child.start()
        peaks[chunked] = queue.get()
        child.join()
    (whole, t_whole), (chunk, t_chunk) = peaks[False], peaks[True]
    name = f"loss + backward, T={s.logit_tokens}, V=102,400, d={s.logit_d_model}"
    return [Row("logits", f"{name}: whole logits", whole / 2**20, "MiB peak", note=f"{t_whole:.2f} s"),
            Row("logits", f"{name}: chunked", chunk / 2**20, "MiB peak", baseline="whole logits ÷ chunked",
                ratio=whole / max(chunk, 1), note=f"{t_chunk:.2f} s")]


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def print_table(rows: list[Row]):
    print(f"\n{'section':<11} {'figure':<52} {'value':>11} {'unit':<8} {'× baseline':>10}  {'baseline':<22} "
          f"note")
    for r in rows:
        ratio = f"{r.ratio:.3f}" if r.ratio is not None else ""
        print(f"{r.section:<11} {r.name:<52} {r.value:>11.4g} {r.unit:<8} {ratio:>10}  {r.baseline:<22} "
              f"{r.note}")


def parse_args(argv=None):
    # --quick first: it decides the sizes' defaults, which any size flag then overrides (and --help shows)
    quick = argparse.ArgumentParser(add_help=False)
    quick.add_argument("--quick", action="store_true",
                       help="small sizes and only the toy preset: about a minute")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                parents=[quick])
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections to run, of {SECTIONS + OPT_IN} (default: {SECTIONS})")
    p.add_argument("--no-compile", action="store_true",
                   help="skip the torch.compile rows (compiling takes minutes)")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: PyTorch's default)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="corpus: worker processes of the 'all workers' rows (default: every core)")
    p.add_argument("--world", help="corpus and GRPO: a toy world folder written by toy_data.py (default: "
                                   "generate one of --world-pages pages in a temporary folder)")
    p.add_argument("--pool", nargs="+", help="corpus: web pages to run the stages on (JSONL, JSONL.gz or "
                                             "WET) instead of the toy world's pool")
    add_flags(p, Sizes, defaults=QUICK if quick.parse_known_args(argv)[0].quick else Sizes())
    p.add_argument("--data-dir", help="webpages: a folder holding GSM8K and MATH (gsm8k/test*.jsonl, "
                                      "math/test*.jsonl) to plant and decontaminate against")
    p.add_argument("--gpu", action="store_true", help="run the GPU section instead (needs CUDA)")
    p.add_argument("--gpu-model", default="1.3b", help="GPU section: model preset")
    p.add_argument("--gpu-batch", type=int, default=4,
                   help="GPU section: sequences of the full context per step")
    p.add_argument("--compile", action="store_true", help="GPU section: torch.compile each block")
    p.add_argument("--out", default="runs/bench.jsonl", help="JSONL file the rows are appended to")
    args = p.parse_args(argv)
    unknown = set(args.only.split(",")) - set(SECTIONS + OPT_IN)
    if unknown:
        p.error(f"--only: unknown sections {sorted(unknown)}; choose from {SECTIONS + OPT_IN}")
    if args.workers < 1:
        p.error("--workers must be at least 1")
    return args, config_from(Sizes, args)


def main(argv=None) -> list[Row]:
    args, s = parse_args(argv)
    if args.gpu and not torch.cuda.is_available():
        sys.exit("--gpu needs a CUDA device")
    if args.threads:
        torch.set_num_threads(args.threads)
    host = {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "load": os.getloadavg()[0]}  # other work on a shared machine distorts even the ratios: look first
    print(" | ".join(f"{k} {v}" for k, v in host.items()))
    sections = args.only.split(",")
    proc = setup_distributed()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            if args.gpu:
                rows = bench_gpu(args, proc)
            else:
                dtype = torch.float32  # TF32 on CUDA (setup_distributed allows it), as the fp32 training uses
                peak = matmul_peak_flops(proc.device, dtype, s.peak_n)
                rows = [Row("machine", f"fp32 matmul peak, n={s.peak_n}", peak / 1e9, "GFLOP/s",
                            note=host["cpu"] if proc.device.type == "cpu"
                            else torch.cuda.get_device_name(proc.device))]
                inputs = Inputs(args, s, Path(tmp))
                if "training" in sections:
                    rows += bench_training(args, s, proc, peak)
                if "generation" in sections:
                    rows += bench_generation(s, proc.device, not args.no_compile)
                if "corpus" in sections:
                    rows += bench_corpus(args, s, inputs)
                if "tokenizer" in sections:
                    rows += bench_tokenizer(s)
                if "grpo" in sections:
                    rows += bench_grpo(s, inputs)
                if "logits" in sections:
                    rows += bench_logits(s)
                if "webpages" in sections:
                    rows += bench_webpages(args, s, Path(tmp))
    finally:
        cleanup_distributed()
    print_table(rows)
    print(f"load average (1 min) at the start {host['load']:.2f}, at the end {os.getloadavg()[0]:.2f}")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    with open(args.out, "a") as f:
        for r in rows:
            f.write(json.dumps({"time": stamp, **host, **r.__dict__}, default=str) + "\n")
    return rows


if __name__ == "__main__":
    run_cli(main)
