"""Pre-training, and the training machinery that sft.py, reward.py and grpo.py reuse.

DeepSeekMath-Base 7B is DeepSeek-Coder-Base-v1.5 7B trained on 500B more tokens (arXiv 2402.03300,
§2.3) with the optimiser of DeepSeek LLM (arXiv 2401.02954, §2.3): AdamW (β1 0.9, β2 0.95, weight
decay 0.1), gradient clipping at 1.0, and a multi-step learning-rate schedule (2000 warm-up steps,
then 31.6% of the peak after 80% of the tokens and 10% after 90%).

One file runs from a toy model on a laptop CPU to the 7B recipe on many nodes:
    python pretrain.py --data shards/ --model toy --steps 200 --lr 3e-3 --warmup-steps 20
    torchrun --nnodes 8 --nproc_per_node 8 ... pretrain.py --model 7b --parallel fsdp ...
    python pretrain.py --model 7b --world-size 64 --parallel fsdp --dry-run

Read top to bottom: config -> process group -> model wrapping (DDP / FSDP2) -> optimiser and
schedule -> token-shard data -> checkpoints -> the training loop -> the pre-training script.
The reusable pieces (see each docstring): TrainConfig, add_train_args, add_runtime_args, setup_distributed,
build_model, wrap_model, build_optimizer, lr_at, ShardData, train, train_step, evaluate,
save_checkpoint, load_checkpoint, latest_checkpoint, load_weights, export_model.
"""
from __future__ import annotations

import argparse
import functools
import gc
import json
import math
import os
import random
import re
import shutil
import time
import traceback
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
import torch.nn as nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                     get_state_dict, set_model_state_dict,
                                                     set_state_dict)
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from model import ModelConfig, Transformer, read_config, read_state_dict


# ----------------------------------------------------------------------------- config

@dataclass
class TrainConfig:
    """Everything a training run needs. Fields left None are filled by `resolved()`."""
    out: str = "runs/pretrain"
    data: str | None = None
    seed: int = 0
    # model: a preset with overrides (vocabulary from the data), or a consolidated checkpoint
    model: str = "toy"
    n_layers: int | None = None
    d_model: int | None = None
    n_heads: int | None = None
    n_kv_heads: int | None = None
    ffn_dim: int | None = None
    init: str | None = None
    # parallelism and precision
    parallel: str = "ddp"
    dtype: str = "auto"
    activation_checkpointing: bool = False
    compile: bool = False
    # batch and length
    seq_len: int | None = None
    micro_batch: int = 8
    batch_tokens: int | None = None
    total_tokens: int | None = None
    steps: int | None = None
    # optimiser and schedule (DeepSeek LLM §2.3; peak LR of the 7B model)
    lr: float = 4.2e-4
    schedule: str = "multistep"
    warmup_steps: int = 2000
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    # validation, logging, checkpoints
    val_fraction: float = 0.01
    eval_every: int = 500
    eval_steps: int = 4
    log_every: int = 10
    save_every: int = 1000
    keep: int = 3
    resume: str | None = None
    peak_tflops: float | None = None
    # dry run
    dry_run: bool = False
    world_size: int | None = None
    assumed_mfu: float = 0.4

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "TrainConfig":
        """The TrainConfig fields of a parsed namespace (scripts may add flags of their own)."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})

    def resolved(self, world: int, max_seq_len: int) -> "TrainConfig":
        """Fill the defaults that depend on the model and world size, and check the batch split:
        global batch (tokens) = seq_len × micro_batch × world × gradient-accumulation steps."""
        seq = self.seq_len or max_seq_len
        if seq > max_seq_len:
            raise ValueError(f"--seq-len {seq} exceeds the model context {max_seq_len}")
        batch_tokens = self.batch_tokens or seq * self.micro_batch * world
        if batch_tokens % seq or (batch_tokens // seq) % (self.micro_batch * world):
            raise ValueError(f"--batch-tokens {batch_tokens} must be a multiple of seq_len {seq} × "
                             f"micro-batch {self.micro_batch} × world size {world}")
        if (self.steps is None) == (self.total_tokens is None):
            raise ValueError("give exactly one of --steps and --total-tokens")
        steps = self.steps if self.steps is not None else self.total_tokens // batch_tokens
        if steps < 1:
            raise ValueError(f"--total-tokens {self.total_tokens} is less than one batch ({batch_tokens})")
        return replace(self, seq_len=seq, batch_tokens=batch_tokens, steps=steps)

    def accum_steps(self, world: int) -> int:
        """Micro-batches per rank per optimiser step (of a resolved config)."""
        return self.batch_tokens // self.seq_len // (self.micro_batch * world)


def _count(text: str) -> int:
    """Integer flags that read better in scientific notation: --total-tokens 500e9."""
    value = float(text)
    if value != int(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative whole number")
    return int(value)


def add_runtime_args(parser: argparse.ArgumentParser, d) -> None:
    """The flags every training stage shares (parallelism, precision, optimiser, checkpoints, logging),
    with defaults from `d`: a TrainConfig, or a stage's own config with the same field names (grpo.py)."""
    a = parser.add_argument
    a("--parallel", default=d.parallel, choices=["ddp", "fsdp"],
      help="ddp: replicate the model; fsdp: FSDP2, shard parameters, gradients and optimiser state")
    a("--dtype", default=d.dtype, choices=["auto", "bf16", "fp32"],
      help="compute precision (auto: bf16 on CUDA, fp32 on CPU); weights and optimiser stay fp32")
    a("--activation-checkpointing", action="store_true", help="recompute each block in backward")
    a("--compile", action="store_true", help="torch.compile each Transformer block")
    a("--micro-batch", type=int, default=d.micro_batch, help="sequences per forward pass per rank")
    a("--warmup-steps", type=int, default=d.warmup_steps, help="linear warm-up steps")
    a("--weight-decay", type=float, default=d.weight_decay, help="AdamW weight decay (not on norms)")
    a("--beta1", type=float, default=d.beta1, help="AdamW β1")
    a("--beta2", type=float, default=d.beta2, help="AdamW β2")
    a("--grad-clip", type=float, default=d.grad_clip, help="clip the global gradient norm to this")
    a("--log-every", type=int, default=d.log_every, help="metrics record every N steps")
    a("--save-every", type=int, default=d.save_every, help="training checkpoint every N steps (0: never)")
    a("--keep", type=int, default=d.keep, help="keep the last K training checkpoints (0: all)")
    a("--resume", nargs="?", const="latest", default=d.resume,
      help="continue from a training checkpoint: its folder, or (no value) the latest in --out")


def add_train_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The training flags, defaults from TrainConfig. A stage with other defaults (SFT: constant
    LR 5e-5) calls `parser.set_defaults(...)` afterwards."""
    d = TrainConfig()
    a = parser.add_argument
    a("--out", default=d.out, help="run folder: checkpoints/, final/, metrics.jsonl, log.txt")
    a("--data", default=d.data, help="token-shard folder (or its manifest.json) from data_pipeline.py")
    a("--seed", type=int, default=d.seed, help="seed of initialisation and data sampling")
    a("--model", default=d.model, choices=["toy", "small", "1.3b", "7b"], help="model preset")
    for name in ("n_layers", "d_model", "n_heads", "n_kv_heads", "ffn_dim"):
        a("--" + name.replace("_", "-"), type=int, default=None, help=f"override the preset's {name}")
    a("--init", default=d.init, help="start from this consolidated model.py checkpoint (continued "
                                     "pre-training, as DeepSeekMath from Coder-v1.5); its config wins")
    a("--seq-len", type=int, default=d.seq_len, help="tokens per sequence (None: the model's context)")
    a("--batch-tokens", type=_count, default=d.batch_tokens,
      help="global batch in tokens (None: one micro-batch per rank); sets gradient accumulation")
    a("--total-tokens", type=_count, default=d.total_tokens, help="run length in tokens (e.g. 500e9)")
    a("--steps", type=int, default=d.steps, help="run length in optimiser steps (instead of --total-tokens)")
    a("--lr", type=float, default=d.lr, help="peak learning rate (paper: 7B 4.2e-4, 1.3B 5.3e-4)")
    a("--schedule", default=d.schedule, choices=["multistep", "cosine", "constant"],
      help="multistep: ×0.316 at 80%% and ×0.1 at 90%% of steps (DeepSeek LLM); cosine to 10%%; constant")
    a("--val-fraction", type=float, default=d.val_fraction,
      help="last fraction of each source's tokens held out for validation (0: none)")
    a("--eval-every", type=int, default=d.eval_every, help="validation loss every N steps (0: only at the end)")
    a("--eval-steps", type=int, default=d.eval_steps, help="global batches in one validation")
    add_runtime_args(parser, d)
    a("--peak-tflops", type=float, default=d.peak_tflops,
      help="peak FLOP/s per device for MFU (default: bf16 peak of A100/H100/H200; measured on CPU)")
    a("--dry-run", action="store_true", help="print parameters, memory per GPU, FLOPs and time; train nothing")
    a("--world-size", type=int, default=d.world_size, help="dry run: number of GPUs to plan for")
    a("--assumed-mfu", type=float, default=d.assumed_mfu, help="dry run: MFU for the time estimate")
    return parser


# ----------------------------------------------------------------------------- process group

@dataclass
class Dist:
    rank: int
    local_rank: int
    world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Dist:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK, rendezvous), or
    make a 1-process group for a plain `python X.py`, so the same code (FSDP meshes, checkpoints,
    all-reduces) runs either way. NCCL with one GPU per process on CUDA, gloo on CPU."""
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        torch.set_float32_matmul_precision("high")  # TF32 for any fp32 matmul left
        torch.backends.cudnn.allow_tf32 = True
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if "RANK" in os.environ:
            dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)
        else:
            dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    return Dist(rank, local_rank, world, device)


def cleanup_distributed():
    if dist.is_initialized():
        dist.destroy_process_group()


def tears_down_distributed(fn):
    """Decorator for a function that calls setup_distributed() and trains: the process group is
    destroyed after the function's frame is gone. A DDP/FSDP module still alive when its gloo process
    group is destroyed (a local of the frame whose `finally` destroys the group) makes the process
    abort at exit with "terminate called without an active exception", about one run in 25 on CPU.
    On an error the frames' locals are cleared first; the traceback keeps its lines."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BaseException as e:
            traceback.clear_frames(e.__traceback__)
            raise
        finally:
            gc.collect()  # modules held in reference cycles go now, not at interpreter exit
            cleanup_distributed()
    return run


def seed_all(seed: int):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------- model wrapping

def build_model(model_cfg: ModelConfig, cfg: TrainConfig, d: Dist, make=Transformer, adapt=None) -> nn.Module:
    """A model ready to train, wrapped for `cfg.parallel`. On CUDA it is built on `meta` and
    materialised only after sharding, so no rank ever holds a full 7B model (the torchtitan way);
    on CPU (toy sizes) it is built whole, so every world size starts from identical weights.
    `make(model_cfg)` builds it (a Transformer; reward.py passes its RewardModel). With `cfg.init`
    the weights come from that checkpoint (native or Hugging Face), mapped by `adapt` if given."""
    with torch.device("meta" if d.device.type == "cuda" else "cpu"):
        model = make(model_cfg)
    model = wrap_model(model, d, cfg.parallel, mixed_precision=use_bf16(cfg, d.device),
                       activation_checkpointing=cfg.activation_checkpointing, compile=cfg.compile)
    if cfg.init:
        load_weights(model, cfg.init, adapt)
    return model


def wrap_model(model: Transformer, d: Dist, parallel: str = "ddp", mixed_precision: bool = False,
               activation_checkpointing: bool = False, compile: bool = False) -> nn.Module:
    """Per block: activation checkpointing, then torch.compile, then (fsdp) `fully_shard`; then
    the root: `fully_shard` (fsdp) or DistributedDataParallel (ddp). FSDP2 casts parameters to bf16
    for compute and reduces gradients in fp32 (MixedPrecisionPolicy); DDP keeps fp32 weights and
    gets bf16 from `autocast` in the loop. A model on `meta` is moved to the device and given
    `init_weights()` after sharding (fsdp) or before replication (ddp)."""
    if parallel not in ("ddp", "fsdp"):
        raise ValueError(f"parallel must be 'ddp' or 'fsdp', got {parallel!r}")
    for i, block in enumerate(model.layers):
        if activation_checkpointing:
            block = checkpoint_wrapper(block)  # keeps only block inputs; state-dict names stay clean
        if compile:
            block.compile()
        model.layers[i] = block
    on_meta = next(model.parameters()).is_meta
    if parallel == "fsdp":
        mp = (MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
              if mixed_precision else MixedPrecisionPolicy())
        for block in model.layers:
            fully_shard(block, mp_policy=mp)
        fully_shard(model, mp_policy=mp)  # embedding, final norm, head
    if on_meta:
        model.to_empty(device=d.device)
        model.init_weights()
    else:
        model.to(d.device)
    if parallel == "ddp":
        # the only buffers are the RoPE tables, equal on every rank: no need to broadcast them
        model = DDP(model, device_ids=[d.device.index] if d.device.type == "cuda" else None,
                    forward_sync_buffers=False)
    return model


def unwrap(model: nn.Module) -> nn.Module:
    """The Transformer inside a DDP wrapper (FSDP2 changes the module in place). Its forward
    bypasses DDP's gradient averaging: train through the wrapper, use this for config and methods."""
    return model.module if isinstance(model, DDP) else model


def use_bf16(cfg: TrainConfig, device: torch.device) -> bool:
    return cfg.dtype == "bf16" or (cfg.dtype == "auto" and device.type == "cuda")


def autocast_for(model: nn.Module, cfg: TrainConfig, device: torch.device):
    """bf16 autocast for DDP (FSDP2 casts the parameters itself)."""
    if use_bf16(cfg, device) and not isinstance(model, FSDPModule):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


# ----------------------------------------------------------------------------- optimiser, schedule

def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW, weight decay on matrices only (not on the 1-D RMSNorm gains)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    fused = params[0].device.type == "cuda"
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused)


def lr_at(step: int, total_steps: int, peak_lr: float, warmup_steps: int = 2000,
          schedule: str = "multistep", final_ratio: float = 0.1) -> float:
    """Learning rate of optimiser step `step` (0-based; `step` steps are done before it).
    Linear warm-up reaches the peak at step warmup-1. multistep (DeepSeek LLM §2.3): peak until
    80% of the steps, 31.6% of it until 90%, then 10%. cosine: from the peak down to
    final_ratio × peak at the last step. constant: the peak (SFT)."""
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    if schedule == "multistep":
        return peak_lr * (1.0 if step < 0.8 * total_steps else 0.316 if step < 0.9 * total_steps else 0.1)
    if schedule == "cosine":
        progress = (step - warmup_steps) / max(1, total_steps - 1 - warmup_steps)
        return peak_lr * (final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
    if schedule == "constant":
        return peak_lr
    raise ValueError(f"unknown schedule {schedule!r}")


# ----------------------------------------------------------------------------- data

def read_manifest(path) -> tuple[dict, Path]:
    """The token-shard manifest (a folder or its manifest.json) and its folder, checked."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"no token-shard manifest at {path} (write one with data_pipeline.py tokenize)")
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
                raise ValueError(f"manifest: source {name!r} should hold {src['tokens']} tokens, its shards hold {n}")
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
            raise ValueError(f"token shard {path}: expected a 1-D unsigned array, got {array.dtype} {array.shape}")
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


# ----------------------------------------------------------------------------- checkpoints

class _TrainState:
    """What DCP saves and restores: model and optimiser (in canonical, unwrapped names via
    get_state_dict, so DDP and FSDP2 checkpoints are interchangeable) and the step. The data
    position is per-rank state like the RNG, and goes into each rank's own file: DCP keeps a
    single copy of non-tensor values, so a per-rank position saved through it would come back
    as rank 0's on every rank."""

    def __init__(self, model, optimizer, step=0):
        self.model, self.optimizer, self.step = model, optimizer, step

    def state_dict(self):
        model_sd, optim_sd = get_state_dict(self.model, self.optimizer)
        return {"model": model_sd, "optim": optim_sd, "step": self.step}

    def load_state_dict(self, state):
        set_state_dict(self.model, self.optimizer, model_state_dict=state["model"],
                       optim_state_dict=state["optim"])
        self.step = state["step"]


_CKPT_NAME = re.compile(r"step_(\d{8})$")


def latest_checkpoint(ckpt_root) -> Path | None:
    """The newest complete checkpoint folder (step_XXXXXXXX); `.tmp` leftovers never match."""
    root = Path(ckpt_root)
    done = [p for p in root.iterdir() if _CKPT_NAME.match(p.name) and p.is_dir()] if root.is_dir() else []
    return max(done, key=lambda p: int(p.name[5:]), default=None)


def _rng_state() -> dict:
    np_state = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
            "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
            "python": random.getstate()}


def _set_rng_state(state: dict):
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    random.setstate(state["python"])


def save_checkpoint(ckpt_root, step: int, model, optimizer, data, d: Dist, keep: int = 0) -> Path:
    """Write the training state after `step` steps to step_XXXXXXXX.tmp (DCP shards of model,
    optimiser and step; one file per rank with its data position and RNG, per-rank state), then
    rank 0 renames it to step_XXXXXXXX — a crash mid-save leaves only a `.tmp` — and deletes all
    but the newest `keep` (0: keep all). Collective: every rank calls it."""
    final = Path(ckpt_root) / f"step_{step:08d}"
    tmp = final.with_name(final.name + ".tmp")
    if d.is_main:
        shutil.rmtree(tmp, ignore_errors=True)  # left by an earlier crash
        tmp.mkdir(parents=True)
    dist.barrier()
    dcp.save({"train": _TrainState(model, optimizer, step)}, checkpoint_id=tmp)
    torch.save({"rng": _rng_state(), "data": data.state_dict()}, tmp / f"rank{d.rank}.pt")
    dist.barrier()
    if d.is_main:
        (tmp / "meta.json").write_text(json.dumps({"step": step, "world_size": d.world}))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        done = sorted((p for p in final.parent.iterdir() if _CKPT_NAME.match(p.name)), key=lambda p: p.name)
        for old in done[:-keep] if keep > 0 else []:
            shutil.rmtree(old)
    dist.barrier()
    return final


def load_checkpoint(path, model, optimizer, data, d: Dist) -> int:
    """Restore a folder written by save_checkpoint into model, optimiser, data and this rank's RNG;
    returns the number of steps done. The world size may differ (DCP reshards), but then the RNG
    streams start fresh and the data object gets rank 0's position (right for data whose position
    is global, like ShardData; others refuse it). Missing or corrupt checkpoints give a clear error."""
    path = Path(path)
    if not (path / ".metadata").is_file() or not (path / "meta.json").is_file():
        raise FileNotFoundError(f"{path} is not a complete training checkpoint (no .metadata / meta.json)")
    state = _TrainState(model, optimizer)
    try:
        same_world = json.loads((path / "meta.json").read_text())["world_size"] == d.world
        dcp.load({"train": state}, checkpoint_id=path)
        mine = torch.load(path / f"rank{d.rank if same_world else 0}.pt", weights_only=True)
    except (Exception, CheckpointException) as e:  # CheckpointException is a BaseException
        raise RuntimeError(f"training checkpoint {path} is corrupt or does not match this model/optimiser: {e}") from e
    data.load_state_dict(mine["data"])
    if same_world:
        _set_rng_state(mine["rng"])
    elif d.is_main:
        print(f"warning: {path} was written by another world size; RNG streams start fresh")
    return int(state.step)


def load_weights(model: nn.Module, path, adapt=None):
    """Fill a (wrapped) model from a checkpoint folder (`--init`: native or Hugging Face).
    `adapt(state) -> (state, fresh)` maps a language model's weights onto another module and names
    the parameters it leaves to their fresh initialisation (a reward model's head); every other
    parameter must be loaded with its exact shape."""
    state, fresh = read_state_dict(path), set()
    if adapt is not None:
        state, fresh = adapt(state)
    expected = {k: tuple(v.shape) for k, v in unwrap(model).state_dict().items() if k not in fresh}
    found = {k: tuple(v.shape) for k, v in state.items()}
    if expected != found:
        diff = sorted(k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k))
        raise ValueError(f"the weights in {path} do not fit this model: they differ at {diff[:5]}")
    set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, strict=not fresh))


def export_model(model: nn.Module, out_dir, d: Dist, tokenizer: str | None = None):
    """Gather the full fp32 state dict on rank 0 (CPU) and write a consolidated checkpoint
    (config.json + model.pt) with the module's own `save`: what sft.py, grpo.py and evaluate.py
    start from (or, for a reward model, what grpo.py scores with)."""
    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if d.is_main:
        unwrap(model).save(out_dir, tokenizer=tokenizer, state_dict=state)
    dist.barrier()


# ----------------------------------------------------------------------------- throughput

# Dense bf16 peaks from the vendors' data sheets (SXM parts; the H100 PCIe is slower).
GPU_PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "H800": 989e12, "A100": 312e12, "A800": 312e12}


@functools.cache
def measured_matmul_flops(n: int = 1024, reps: int = 4) -> float:
    """FLOP/s of a large fp32 matmul on this CPU: the "peak" for MFU when there is no GPU."""
    a = torch.randn(n, n)
    a @ a
    t = time.perf_counter()
    for _ in range(reps):
        a @ a
    return 2 * n ** 3 * reps / (time.perf_counter() - t)


def peak_flops(device: torch.device, tflops: float | None = None) -> float | None:
    """Peak FLOP/s of one device: --peak-tflops, the known GPU peak, or a CPU measurement."""
    if tflops:
        return tflops * 1e12
    if device.type != "cuda":
        return measured_matmul_flops()
    name = torch.cuda.get_device_name(device)
    if "H100" in name and "PCIe" in name:
        return 756e12
    return next((v for k, v in GPU_PEAK_FLOPS.items() if k in name), None)


def _step_of(record_line: str) -> float:
    """The step of a metrics line; a line cut short by a crash counts as never written."""
    try:
        return json.loads(record_line)["step"]
    except (ValueError, KeyError, TypeError):
        return math.inf


class MetricsLog:
    """metrics.jsonl (one object per record) plus a readable line on stdout and in log.txt; rank 0
    only. On resume, records after the resumed step are dropped so the file tells one history."""

    def __init__(self, out: Path, d: Dist, resumed_step: int = 0):
        self.enabled = d.is_main
        self.jsonl, self.text = out / "metrics.jsonl", out / "log.txt"
        if self.enabled and self.jsonl.is_file():
            kept = [line for line in self.jsonl.read_text().splitlines() if _step_of(line) <= resumed_step]
            self.jsonl.write_text("".join(line + "\n" for line in kept))

    def write(self, record: dict):
        if not self.enabled:
            return
        with self.jsonl.open("a") as f:
            f.write(json.dumps(record) + "\n")
        parts = [f"step {record['step']}"] + [
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items() if k != "step"]
        line = " | ".join(parts)
        tqdm.write(line)
        with self.text.open("a") as f:
            f.write(line + "\n")


# ----------------------------------------------------------------------------- the training loop

def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def train_step(model, optimizer, data, loss_fn, accum: int, grad_clip: float, d: Dist,
               amp=nullcontext()) -> tuple[float, float]:
    """One optimiser step over `accum` micro-batches per rank: (mean loss, gradient norm).

    Each micro-batch's mean loss is back-propagated times its token count; at the end the
    gradients (averaged over ranks by DDP / FSDP2) are scaled by world / total tokens. The update
    is then exactly that of the token-weighted mean loss over the whole global batch, however it is
    split and however many targets are masked. DDP synchronises gradients only on the last
    micro-batch (`no_sync`): its gradients are replicated anyway. FSDP2 reduce-scatters after every
    micro-batch (as torchtitan does): skipping that would hold every *unsharded* fp32 gradient
    until the last micro-batch (26 GiB for 7B), defeating the sharding."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    totals = torch.zeros(2, device=d.device, dtype=torch.float64)  # [sum of loss·n, n]
    for i in range(accum):
        last = i == accum - 1
        with model.no_sync() if isinstance(model, DDP) and not last else nullcontext():
            with amp:
                loss, n = loss_fn(model, to_device(data.next_batch(), d.device))
            n = torch.as_tensor(n, device=d.device, dtype=torch.float32)
            (loss * n).backward()
        totals += torch.stack([loss.detach() * n, n]).double()
    dist.all_reduce(totals)
    scale = d.world / max(totals[1].item(), 1.0)
    for p in model.parameters():
        if p.grad is not None:
            p.grad.mul_(scale)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if isinstance(norm, DTensor):
        norm = norm.full_tensor()
    optimizer.step()
    return (totals[0] / totals[1].clamp(min=1)).item(), norm.item()


@torch.no_grad()
def evaluate(model, batches, loss_fn, d: Dist, amp=nullcontext()) -> float:
    """Token-weighted mean loss over this rank's `batches`, combined over all ranks."""
    model.eval()
    totals = torch.zeros(2, device=d.device, dtype=torch.float64)
    for batch in batches:
        with amp:
            loss, n = loss_fn(model, to_device(batch, d.device))
        totals += torch.tensor([loss.item() * float(n), float(n)], device=d.device, dtype=torch.float64)
    dist.all_reduce(totals)
    return (totals[0] / totals[1].clamp(min=1)).item()


def train(model, optimizer, data, loss_fn, cfg: TrainConfig, d: Dist, val_batches=None,
          flops_per_token: float | None = None) -> list[dict]:
    """The training loop of pretrain.py and sft.py (and reward-model training).

    model: from build_model / wrap_model; optimizer: build_optimizer; cfg: `resolved()`.
    data: next_batch() -> dict of tensors (this rank's next micro-batch), state_dict(),
        load_state_dict(); a step draws cfg.accum_steps(world) micro-batches per rank.
    loss_fn(model, batch) -> (mean loss over the batch's tokens, number of those tokens).
    val_batches: None or a callable returning an iterable of this rank's validation batches.
    flops_per_token: for MFU (default: the model's own count at cfg.seq_len).
    Resumes from cfg.resume, saves every cfg.save_every steps to <out>/checkpoints, logs every
    cfg.log_every steps to <out>/metrics.jsonl. Returns the metrics records of this process."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_root, accum = out / "checkpoints", cfg.accum_steps(d.world)
    start = 0
    if cfg.resume:
        path = latest_checkpoint(ckpt_root) if cfg.resume == "latest" else Path(cfg.resume)
        if path is None:
            raise FileNotFoundError(f"--resume: no complete checkpoint in {ckpt_root}")
        start = load_checkpoint(path, model, optimizer, data, d)
    log = MetricsLog(out, d, resumed_step=start)
    if flops_per_token is None:
        flops_per_token = unwrap(model).flops_per_token(cfg.seq_len)
    peak = peak_flops(d.device, cfg.peak_tflops)
    amp = autocast_for(model, cfg, d.device)

    records, losses, t0 = [], [], time.perf_counter()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not d.is_main,
               desc="train", dynamic_ncols=True)
    for step in bar:
        lr = lr_at(step, cfg.steps, cfg.lr, cfg.warmup_steps, cfg.schedule)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, grad_norm = train_step(model, optimizer, data, loss_fn, accum, cfg.grad_clip, d, amp)
        losses.append(loss)
        done = step + 1
        last = done == cfg.steps
        eval_now = val_batches is not None and ((cfg.eval_every and done % cfg.eval_every == 0) or last)
        if done % cfg.log_every == 0 or last or eval_now:
            seconds = time.perf_counter() - t0
            tok_s = len(losses) * cfg.batch_tokens / seconds
            record = {"step": done, "loss": sum(losses) / len(losses), "lr": lr, "grad_norm": grad_norm,
                      "tokens": done * cfg.batch_tokens, "tok_per_s": tok_s,
                      "mfu": flops_per_token * tok_s / (peak * d.world) if peak else None}
            if eval_now:
                record["val_loss"] = evaluate(model, val_batches(), loss_fn, d, amp)
            bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{lr:.2e}", tok_s=f"{tok_s:,.0f}",
                            mfu=f"{record['mfu']:.1%}" if peak else "?")
            log.write(record)
            records.append(record)
            losses, t0 = [], time.perf_counter()
        if cfg.save_every and (done % cfg.save_every == 0 or last):
            save_checkpoint(ckpt_root, done, model, optimizer, data, d, cfg.keep)
    return records


# ----------------------------------------------------------------------------- pre-training

def lm_loss(model, batch: dict):
    """Next-token cross-entropy over all positions: (mean loss, token count)."""
    _, loss = model(batch["tokens"], batch["targets"])
    return loss, (batch["targets"] != -100).sum()


def model_config(cfg: TrainConfig, vocab_size: int | None = None) -> ModelConfig:
    """The preset with the flag overrides and the data's vocabulary, or the --init checkpoint's."""
    if cfg.init:
        config = read_config(cfg.init)
        if vocab_size is not None and vocab_size > config.vocab_size:
            raise ValueError(f"data vocabulary {vocab_size} exceeds the --init model's {config.vocab_size}")
        return config
    return ModelConfig.from_preset(cfg.model, vocab_size=vocab_size, n_layers=cfg.n_layers,
                                   d_model=cfg.d_model, n_heads=cfg.n_heads,
                                   n_kv_heads=cfg.n_kv_heads, ffn_dim=cfg.ffn_dim)


def memory_per_gpu(mc: ModelConfig, n_params: int, cfg: TrainConfig, world: int) -> dict[str, float]:
    """Bytes per GPU by kind for a resolved cfg (an estimate; allocator overheads not counted).
    fp32 master weights, fp32 gradients and AdamW's two fp32 moments (16 bytes a parameter),
    divided by the world size under FSDP (which reduce-scatters every micro-batch, so gradients
    stay sharded). Activations saved for
    backward, per token and layer: about 16·d + 4·ffn values (norm inputs and outputs, q, k, v,
    attention output, the four SwiGLU tensors; flash attention keeps no T×T scores); with
    checkpointing only each block's input plus one recomputed block. The loss keeps the logits
    plus their fp32 copy and log-softmax."""
    fsdp, act = cfg.parallel == "fsdp", 4 if cfg.dtype == "fp32" else 2
    shard = world if fsdp else 1
    per_block = (16 * mc.d_model + 4 * mc.ffn_dim) * act
    layers = (mc.n_layers * mc.d_model * act + per_block if cfg.activation_checkpointing
              else mc.n_layers * per_block)
    memory = {"weights (fp32)": 4 * n_params / shard,
              "gradients (fp32)": 4 * n_params / shard,
              "AdamW moments (fp32)": 8 * n_params / shard,
              "activations": cfg.micro_batch * cfg.seq_len * (layers + (act + 8) * mc.vocab_size)}
    if fsdp:  # two gathered blocks (current + prefetched) in the compute dtype
        memory["FSDP gathered blocks"] = 2 * (4 * mc.d_model ** 2 + 3 * mc.d_model * mc.ffn_dim) * act
    return memory


def dry_run(cfg: TrainConfig) -> dict:
    """Plan a run without a GPU: the model on `meta`, memory per GPU, FLOPs, time at an MFU."""
    world = cfg.world_size or int(os.environ.get("WORLD_SIZE", 1))
    vocab = read_manifest(cfg.data)[0]["vocab_size"] if cfg.data else None
    mc = model_config(cfg, vocab)
    with torch.device("meta"):
        model = Transformer(mc)
    if cfg.steps is None and cfg.total_tokens is None:
        cfg = replace(cfg, total_tokens=10 ** 9)
        print("no --total-tokens or --steps: timing 1e9 tokens")
    cfg = cfg.resolved(world, mc.max_seq_len)
    n = model.num_params()
    memory = memory_per_gpu(mc, n, cfg, world)
    fpt = model.flops_per_token(cfg.seq_len)
    flops_step = fpt * cfg.batch_tokens
    peak = cfg.peak_tflops * 1e12 if cfg.peak_tflops else GPU_PEAK_FLOPS["H100"]
    seconds = cfg.steps * flops_step / (world * peak * cfg.assumed_mfu)
    print(f"model {cfg.init or cfg.model}: {n:,} parameters ({n / 1e9:.2f}B; {model.num_params(True) / 1e9:.2f}B "
          f"without the embedding); {mc.n_layers} layers, d_model {mc.d_model}, {mc.n_heads} heads, ffn {mc.ffn_dim}, "
          f"vocab {mc.vocab_size}")
    print(f"plan: {world} GPUs, {cfg.parallel}, {'fp32' if cfg.dtype == 'fp32' else 'bf16'}, seq {cfg.seq_len}, "
          f"micro-batch {cfg.micro_batch}, global batch {cfg.batch_tokens:,} tokens, "
          f"gradient accumulation {cfg.accum_steps(world)}, {cfg.steps:,} steps")
    print("memory per GPU (estimate):")
    for kind, b in memory.items():
        print(f"  {kind:<24} {b / 2**30:8.2f} GiB")
    print(f"  {'total':<24} {sum(memory.values()) / 2**30:8.2f} GiB")
    print(f"compute: {fpt:.3g} FLOPs/token, {flops_step:.3g} FLOPs/step, {cfg.steps * flops_step:.3g} in all")
    print(f"time: {seconds / 86400:.2f} days ({seconds / cfg.steps:.2f} s/step) at MFU {cfg.assumed_mfu:.0%} "
          f"of {peak / 1e12:.0f} TFLOP/s per GPU")
    return {"params": n, "memory": memory, "flops_per_token": fpt, "flops_per_step": flops_step,
            "seconds": seconds, "steps": cfg.steps, "accum": cfg.accum_steps(world)}


@tears_down_distributed
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    cfg = TrainConfig.from_args(add_train_args(parser).parse_args(argv))
    if cfg.dry_run:
        return dry_run(cfg)
    if not cfg.data:
        parser.error("--data is required (a token-shard folder), except with --dry-run")
    d = setup_distributed()
    manifest, _ = read_manifest(cfg.data)
    mc = model_config(cfg, manifest["vocab_size"])
    cfg = cfg.resolved(d.world, mc.max_seq_len)
    seed_all(cfg.seed)
    shard_args = dict(seq_len=cfg.seq_len, micro_batch=cfg.micro_batch, seed=cfg.seed, rank=d.rank,
                      world=d.world, batch_size=cfg.batch_tokens // cfg.seq_len,
                      val_fraction=cfg.val_fraction)
    data = ShardData(cfg.data, split="train", **shard_args)
    val = ShardData(cfg.data, split="val", **shard_args) if cfg.val_fraction > 0 else None
    model = build_model(mc, cfg, d)
    optimizer = build_optimizer(model, cfg)
    if d.is_main:
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        (Path(cfg.out) / "config.json").write_text(json.dumps(
            {"train": asdict(cfg), "model": asdict(mc), "world_size": d.world}, indent=2))
        print(f"{unwrap(model).num_params():,} parameters; {cfg.steps} steps of {cfg.batch_tokens:,} "
              f"tokens; {d.world} × {d.device.type}, {cfg.parallel}")
    train(model, optimizer, data, lm_loss, cfg, d,
          val_batches=(lambda: val.batches(cfg.eval_steps)) if val else None)
    export_model(model, Path(cfg.out) / "final", d, tokenizer=manifest.get("tokenizer"))


if __name__ == "__main__":
    main()
