"""Continued pre-training (DeepSeekMath, arXiv 2402.03300, §2.2–2.3): next-token prediction on the math
corpus.

DeepSeekMath-Base 7B is DeepSeek-Coder-Base-v1.5 7B trained on 500B more tokens: 56% DeepSeekMath Corpus,
4% AlgebraicStack, 10% arXiv, 20% GitHub code, 10% Common Crawl natural language (§2.3). The loss is the
plain language-model loss

    L(θ) = - 1/N Σ_t log π_θ(x_t | x_<t)        over every token of 4K-token windows of the mixture,

with the optimiser of DeepSeek LLM (arXiv 2401.02954, §2.3): AdamW (β1 0.9, β2 0.95, weight decay 0.1),
gradient clipping at 1.0, and a multi-step learning-rate schedule

    lr(step) = peak × step / 2000                 during the 2,000 warm-up steps
             = peak                               until 80% of the tokens
             = peak × 0.316                       until 90%
             = peak × 0.1                         to the end
    7B: peak 4.2e-4, batch 10M tokens, 500B tokens;   1.3B ablations (§5.1): peak 5.3e-4, 4M, 150B.

This file is that recipe: the token-shard data (the mixture, by the manifest's weights), the loss, and the
script; the machinery (process group, DDP/FSDP2, the loop, checkpoints, `trainer.lr_at`, the --dry-run plan)
is trainer.py's, shared with sft.py, reward.py and grpo.py.
    python pretrain.py --data shards/ --model toy --steps 200 --lr 3e-3 --warmup-steps 20
    torchrun --nnodes 8 --nproc_per_node 8 ... pretrain.py --model 7b --parallel fsdp ...
    python pretrain.py --model 7b --world-size 64 --parallel fsdp --dry-run
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from flags import add_flags, config_from, flag, run_cli
from trainer import (TrainConfig, build_model, build_optimizer, dry_run, export_model, model_config, seed_all,
                     setup_distributed, tears_down_distributed, train, unwrap)


@dataclass
class PretrainConfig(TrainConfig):
    data: str | None = flag(None, "token-shard folder (or its manifest.json) from data_pipeline.py tokenize")


def lm_loss(model, batch: dict):
    """Next-token cross-entropy over all positions: (mean loss, token count)."""
    _, loss = model(batch["tokens"], batch["targets"])
    return loss, (batch["targets"] != -100).sum()


# ----------------------------------------------------------------------------- data (the mixture)

def read_manifest(path) -> tuple[dict, Path]:
    """The token-shard manifest (a folder or its manifest.json) and its folder, checked."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"no token-shard manifest at {path} (write one with data_pipeline.py "
                                f"tokenize)")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"corrupt manifest {path}: {e}") from e
    if not isinstance(manifest, dict) or not isinstance(manifest.get("vocab_size"), int) or \
            not isinstance(manifest.get("sources"), dict) or not manifest["sources"]:
        raise ValueError(f"manifest {path} needs an integer 'vocab_size' and a non-empty 'sources' object")
    sources = manifest["sources"]
    for name, src in sources.items():
        if not isinstance(src, dict) or not isinstance(src.get("shards"), list) or not src["shards"] or \
                not isinstance(src.get("weight"), (int, float)) or src["weight"] < 0:
            raise ValueError(f"manifest {path}: source {name!r} needs a weight >= 0 and a list of shards")
    if sum(src["weight"] for src in sources.values()) <= 0:
        raise ValueError(f"manifest {path}: the mixture weights sum to 0")
    return manifest, path.parent


class ShardData:
    """Windows of seq_len+1 tokens from the token shards, mixed by the manifest's weights.

    The global batch of step s (batch_size sequences) is drawn from a generator seeded by
    (seed, split, s) alone; rank r takes rows [r·B/world, (r+1)·B/world) in micro-batches. So one
    process and N processes see exactly the same global batch, and the position (step, micro) is
    the whole state needed for an exact resume. Each source's last `val_fraction` of tokens
    (at least one window) is the validation split and is never sampled for training.
    Shards are memory-mapped; windows may cross shard boundaries (documents end with EOS)."""

    def __init__(self, manifest, seq_len: int, micro_batch: int, batch_size: int, seed: int = 0,
                 rank: int = 0, world: int = 1, split: str = "train", val_fraction: float = 0.01):
        if split not in ("train", "val") or (split == "val" and val_fraction <= 0):
            raise ValueError(f"split must be 'train' or 'val' (with val_fraction > 0), got {split!r}")
        if batch_size % (micro_batch * world):
            raise ValueError(f"batch of {batch_size} sequences does not split into micro-batches of "
                             f"{micro_batch} on {world} ranks")
        self.manifest, root = read_manifest(manifest)
        self.vocab_size, self.tokenizer = self.manifest["vocab_size"], self.manifest.get("tokenizer")
        self.seq_len, self.micro_batch, self.batch_size = seq_len, micro_batch, batch_size
        self.seed, self.rank, self.world, self.split = seed, rank, world, split
        self.accum = batch_size // (micro_batch * world)
        window = seq_len + 1
        self.shards, self.offsets, lo, hi, weights = [], [], [], [], []
        for name, src in self.manifest["sources"].items():
            if src["weight"] == 0:
                continue
            arrays = [self._open(root / shard) for shard in src["shards"]]
            offsets = np.cumsum([0] + [len(a) for a in arrays])
            n = int(offsets[-1])
            if "tokens" in src and src["tokens"] != n:
                raise ValueError(f"manifest: source {name!r} should hold {src['tokens']} tokens, its shards "
                                 f"hold {n}")
            n_val = max(math.ceil(n * val_fraction), window) if val_fraction > 0 else 0
            if n - n_val < window:
                raise ValueError(f"source {name!r} has {n} tokens: too few for windows of {window} "
                                 f"plus a validation split")
            self.shards.append(arrays)
            self.offsets.append(offsets)
            lo.append(0 if split == "train" else n - n_val)
            hi.append(n - n_val - window if split == "train" else n - window)
            weights.append(src["weight"])
        self.lo, self.hi = np.array(lo), np.array(hi)
        self.weights = np.array(weights, dtype=np.float64) / sum(weights)
        self.step, self.micro, self._cache = 0, 0, (None, None)

    def _open(self, path: Path) -> np.ndarray:
        if not path.is_file():
            raise FileNotFoundError(f"token shard {path} listed in the manifest is missing")
        try:
            array = np.load(path, mmap_mode="r")
        except (ValueError, OSError) as e:
            raise ValueError(f"token shard {path} is unreadable (truncated or not .npy?): {e}") from e
        if array.ndim != 1 or array.dtype.kind != "u":
            raise ValueError(f"token shard {path}: expected a 1-D unsigned array, got {array.dtype} "
                             f"{array.shape}")
        return array

    def _windows(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """(source, start) of every sequence in the global batch of `step`."""
        if self._cache[0] != step:
            rng = np.random.default_rng([self.seed, self.split == "val", step])
            src = rng.choice(len(self.weights), size=self.batch_size, p=self.weights)
            self._cache = (step, (src, rng.integers(self.lo[src], self.hi[src], endpoint=True)))
        return self._cache[1]

    def _read(self, src: int, start: int, n: int) -> np.ndarray:
        """Tokens [start, start+n) of one source, across shard boundaries."""
        offsets, parts = self.offsets[src], []
        i = int(np.searchsorted(offsets, start, side="right")) - 1
        while n > 0:
            a = start - offsets[i]
            part = self.shards[src][i][a:a + n]
            parts.append(part)
            start, n, i = start + len(part), n - len(part), i + 1
        return np.concatenate(parts)

    def micro_batch_at(self, step: int, micro: int) -> dict:
        """This rank's micro-batch `micro` of global step `step`: tokens and next-token targets [mb, T]."""
        src, start = self._windows(step)
        first = self.rank * (self.batch_size // self.world) + micro * self.micro_batch
        rows = np.stack([self._read(src[i], int(start[i]), self.seq_len + 1)
                         for i in range(first, first + self.micro_batch)]).astype(np.int64)
        x = torch.from_numpy(rows)
        return {"tokens": x[:, :-1].contiguous(), "targets": x[:, 1:].contiguous()}

    def next_batch(self) -> dict:
        batch = self.micro_batch_at(self.step, self.micro)
        self.micro += 1
        if self.micro == self.accum:
            self.step, self.micro = self.step + 1, 0
        return batch

    def batches(self, steps: int):
        """This rank's micro-batches of global steps 0..steps-1 (a fixed validation set)."""
        for step in range(steps):
            for micro in range(self.accum):
                yield self.micro_batch_at(step, micro)

    def state_dict(self) -> dict:
        return {"step": self.step, "micro": self.micro}

    def load_state_dict(self, state: dict):
        self.step, self.micro = int(state["step"]), int(state["micro"])



# ----------------------------------------------------------------------------- the script

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_flags(parser, PretrainConfig)
    return parser


@tears_down_distributed
def main(argv=None):
    parser = build_parser()
    cfg = config_from(PretrainConfig, parser.parse_args(argv))
    if cfg.dry_run:
        return dry_run(cfg, read_manifest(cfg.data)[0]["vocab_size"] if cfg.data else None)
    if not cfg.data:
        parser.error("--data is required (a token-shard folder), except with --dry-run")
    proc = setup_distributed(cfg.dist_timeout)
    manifest, _ = read_manifest(cfg.data)
    model_cfg = model_config(cfg, manifest["vocab_size"])
    cfg = cfg.resolved(proc.world, model_cfg.max_seq_len)
    seed_all(cfg.seed)
    shard_args = dict(seq_len=cfg.seq_len, micro_batch=cfg.micro_batch, seed=cfg.seed, rank=proc.rank,
                      world=proc.world, batch_size=cfg.batch_tokens // cfg.seq_len,
                      val_fraction=cfg.val_fraction)
    data = ShardData(cfg.data, split="train", **shard_args)
    val = ShardData(cfg.data, split="val", **shard_args) if cfg.val_fraction > 0 else None
    model = build_model(model_cfg, cfg, proc)
    optimizer = build_optimizer(model, cfg)
    if proc.is_main:
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        (Path(cfg.out) / "config.json").write_text(json.dumps(
            {"train": asdict(cfg), "model": asdict(model_cfg), "world_size": proc.world}, indent=2))
        print(f"{unwrap(model).num_params():,} parameters; {cfg.steps} steps of {cfg.batch_tokens:,} "
              f"tokens; {proc.world} × {proc.device.type}, {cfg.parallel}")
    train(model, optimizer, data, lm_loss, cfg, proc,
          val_batches=(lambda: val.batches(cfg.eval_steps)) if val else None)
    export_model(model, Path(cfg.out) / "final", proc, tokenizer=manifest.get("tokenizer"))


if __name__ == "__main__":
    run_cli(main)
