"""The training machinery every stage reuses: pretrain.py, sft.py, reward.py and grpo.py.

A stage supplies three things, the rest is here:
    data      next_batch() -> this rank's next micro-batch (dict of tensors); state_dict() / load_state_dict()
    loss_fn   loss_fn(model, batch) -> (mean loss over the batch's tokens, number of those tokens)
    config    a TrainConfig (or, for grpo.py, the RunConfig fields it shares)
and calls `train(model, optimizer, data, loss_fn, cfg, proc)`, which runs this loop:

    for step in range(start, steps):                    # start > 0 after --resume
        lr = lr_at(step)                                # DeepSeek LLM §2.3: warm-up, then multi-step
        for micro-batch in range(accumulation steps):   # token-weighted: the update of the global batch
            (loss_fn(model, batch) × tokens).backward() # DDP averages / FSDP2 reduce-scatters gradients
        clip the gradient norm to 1.0; AdamW(β 0.9, 0.95, weight decay 0.1) step
        every --log-every steps: metrics.jsonl + log.txt (loss, lr, tokens/s, MFU)
        every --save-every steps: a DCP checkpoint (model, optimiser, step, data position, RNG)

Read top to bottom: configs -> process group -> model wrapping (DDP / FSDP2) -> optimiser and schedule ->
checkpoints -> throughput and metrics -> the loop -> plans (--dry-run). Every stage runs the same way as
one process (`python X.py`) and under `torchrun` on one or many nodes.
"""
from __future__ import annotations

import datetime
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
from dataclasses import dataclass, replace
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

from flags import flag
from hf import checkpoint_config, checkpoint_weights, load_model
from model import PRESETS, ModelConfig, Transformer
from sampler import kv_bytes_per_token


# ----------------------------------------------------------------------------- configs

@dataclass
class RunConfig:
    """What every training stage shares: where it writes, what it starts from, how it is parallelised,
    the optimiser (DeepSeek LLM §2.3: AdamW β (0.9, 0.95), weight decay 0.1, clip 1.0; peak LR of the
    7B model) and the bookkeeping. Stages subclass it and may change a default by re-declaring a field."""
    out: str = flag("runs/pretrain", "run folder: checkpoints/, final/, metrics.jsonl, log.txt, config.json")
    seed: int = flag(0, "seed of initialisation, data order and sampling")
    init: str | None = flag(None, "start from this checkpoint folder (model.py's or a Hugging Face one); its "
                                  "config wins")
    parallel: str = flag("ddp", "ddp: replicate the model; fsdp: FSDP2, shard parameters, gradients and "
                                "optimiser state", choices=("ddp", "fsdp"))
    dtype: str = flag("auto", "compute precision (auto: bf16 on CUDA, fp32 on CPU); weights and optimiser "
                              "stay fp32", choices=("auto", "bf16", "fp32"))
    activation_checkpointing: bool = flag(False, "recompute each block in backward (memory for compute)")
    compile: bool = flag(False, "torch.compile each Transformer block")
    micro_batch: int = flag(8, "sequences per forward pass per rank", min=1)
    lr: float = flag(4.2e-4, "peak learning rate (paper: 7B 4.2e-4, 1.3B 5.3e-4)", min=0.0)
    warmup_steps: int = flag(2000, "linear warm-up steps", min=0)
    weight_decay: float = flag(0.1, "AdamW weight decay (not on norms)", min=0.0)
    beta1: float = flag(0.9, "AdamW β1", min=0.0, max=1.0)
    beta2: float = flag(0.95, "AdamW β2", min=0.0, max=1.0)
    grad_clip: float = flag(1.0, "clip the global gradient norm to this", min=0.0, above=True)
    log_every: int = flag(10, "metrics record every N steps", min=1)
    save_every: int = flag(1000, "training checkpoint every N steps (0: never)", min=0)
    keep: int = flag(3, "keep the last K training checkpoints (0: all)", min=0)
    resume: str | None = flag(None, "continue from a training checkpoint: its folder, or (no value) the "
                                    "latest intact one in --out (none there yet: start fresh)", nargs="?",
                              const="latest")
    overwrite: bool = flag(False, "start a new run in an --out that holds another run's checkpoints (they "
                                  "are deleted); without it such an --out is refused")
    dist_timeout: float = flag(7200.0, "seconds a collective may wait for the slowest rank before the job "
                                       "fails (ranks sample, label and evaluate for very different times)",
                               min=0.0, above=True)
    peak_tflops: float | None = flag(None, "peak FLOP/s per device for MFU (default: bf16 peak of "
                                           "A100/H100/H200; measured on CPU)", min=0.0, above=True)
    # --dry-run: plan memory and time before spending GPU hours
    dry_run: bool = flag(False, "print parameters, memory per GPU by phase, FLOPs and time; train nothing")
    world_size: int | None = flag(None, "dry run: number of GPUs to plan for (default: WORLD_SIZE or 1)",
                                  min=1)
    gpu_memory: float = flag(80.0, "dry run: GB of memory per GPU, for the largest batches that fit", min=0.0,
                             above=True)
    gpu_bandwidth: float = flag(3.35, "dry run: TB/s of GPU memory bandwidth, for the decode rate (H100 SXM "
                                      "3.35, H200 4.8)", min=0.0, above=True)
    assumed_mfu: float = flag(0.4, "dry run: MFU for the time estimate", min=0.0, max=1.0, above=True)


@dataclass
class TrainConfig(RunConfig):
    """The loop's batch, length and validation settings, and the model: a preset with overrides (the
    vocabulary from the data) or --init. Fields left None are filled by `resolved()`."""
    model: str = flag("toy", "model preset (without --init)", choices=("toy", "small", "1.3b", "7b"))
    n_layers: int | None = flag(None, "override the preset's number of layers", min=1)
    d_model: int | None = flag(None, "override the preset's model width", min=1)
    n_heads: int | None = flag(None, "override the preset's attention heads", min=1)
    n_kv_heads: int | None = flag(None, "override the preset's key/value heads (GQA)", min=1)
    ffn_dim: int | None = flag(None, "override the preset's SwiGLU width", min=1)
    seq_len: int | None = flag(None, "tokens per sequence (default: the model's context)", min=2)
    batch_tokens: int | None = flag(None, "global batch in tokens (default: one micro-batch per rank); sets "
                                          "gradient accumulation", min=1)
    total_tokens: int | None = flag(None, "run length in tokens (e.g. 500e9)", min=1)
    steps: int | None = flag(None, "run length in optimiser steps (instead of --total-tokens)", min=1)
    schedule: str = flag("multistep", "multistep: ×0.316 at 80%% and ×0.1 at 90%% of steps (DeepSeek LLM); "
                                      "cosine to 10%%; constant", choices=("multistep", "cosine", "constant"))
    val_fraction: float = flag(0.01, "held-out fraction for the validation loss (0: none)", min=0.0, max=0.5)
    eval_every: int = flag(500, "validation loss every N steps (0: only at the end)", min=0)
    eval_steps: int = flag(4, "global batches in one validation", min=1)

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


# ----------------------------------------------------------------------------- process group

@dataclass
class Proc:
    """This process's place in the job: its rank, the number of ranks, its device."""
    rank: int
    local_rank: int
    world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(timeout_s: float = 7200.0) -> Proc:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK, rendezvous), or
    make a 1-process group for a plain `python X.py`, so the same code (FSDP meshes, checkpoints,
    all-reduces) runs either way. NCCL with one GPU per process on CUDA, gloo on CPU.
    timeout_s (--dist-timeout): how long a collective waits for the slowest rank. NCCL's default is
    10 minutes, but between two collectives ranks do very different amounts of work: sampling outputs
    of different lengths, Math-Shepherd relabelling for hours, gathering evaluation samples. Two hours
    by default; a hang still ends the job instead of holding the GPUs forever."""
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
            dist.init_process_group(backend, device_id=device if device.type == "cuda" else None,
                                    timeout=datetime.timedelta(seconds=timeout_s))
        else:
            dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1,
                                    timeout=datetime.timedelta(seconds=timeout_s))
    return Proc(rank, local_rank, world, device)


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

def build_model(model_cfg: ModelConfig, cfg: TrainConfig, proc: Proc, make=Transformer,
                adapt=None) -> nn.Module:
    """A model ready to train, wrapped for `cfg.parallel`. On CUDA it is built on `meta` and
    materialised only after sharding, so no rank ever holds a full 7B model (the torchtitan way);
    on CPU (toy sizes) it is built whole, so every world size starts from identical weights.
    `make(model_cfg)` builds it (a Transformer; reward.py passes its RewardModel). With `cfg.init`
    the weights come from that checkpoint (native or Hugging Face), mapped by `adapt` if given."""
    with torch.device("meta" if proc.device.type == "cuda" else "cpu"):
        model = make(model_cfg)
    model = wrap_model(model, proc, cfg.parallel, mixed_precision=use_bf16(cfg, proc.device),
                       activation_checkpointing=cfg.activation_checkpointing, compile=cfg.compile)
    if cfg.init:
        load_weights(model, cfg.init, adapt)
    return model


def wrap_model(model: Transformer, proc: Proc, parallel: str = "ddp", mixed_precision: bool = False,
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
        # cast_forward_inputs=False: the blocks' inputs stay as they are. The residual stream is bf16 already
        # (the embedding's parameters are), and the RoPE tables must stay fp32: cast to bf16 they rotate by
        # angles off by up to ~1% at long positions, so the trained model would compute another function
        # than the sampling copy (fp32 tables) and ρ = π_θ/π_old would be ≠ 1 before any update.
        mp = (MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32,
                                   cast_forward_inputs=False)
              if mixed_precision else MixedPrecisionPolicy())
        for block in model.layers:
            fully_shard(block, mp_policy=mp)
        fully_shard(model, mp_policy=mp)  # embedding, final norm, head
    if on_meta:
        model.to_empty(device=proc.device)
        model.init_weights()
    else:
        model.to(proc.device)
    if parallel == "ddp":
        # the only buffers are the RoPE tables, equal on every rank: no need to broadcast them
        model = DDP(model, device_ids=[proc.device.index] if proc.device.type == "cuda" else None,
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


def frozen(model):
    """A model that only ever runs inference: eval mode, no gradients."""
    model.eval().requires_grad_(False)
    return model


def load_frozen(path, device: torch.device, make=None):
    """A whole, frozen copy of a checkpoint for inference: sampling, π_ref, scoring, evaluation. A
    Transformer from a folder of ours or a Hugging Face one (hf.load_model), or `make.load(path)` (a reward
    model). bf16 on GPU (half the memory, the speed of the tensor cores), fp32 on CPU (no bf16 matmul speed
    there, and exact tests)."""
    device = torch.device(device)
    load = load_model if make is None else make.load
    return frozen(load(path, device=device, dtype=torch.bfloat16 if device.type == "cuda" else torch.float32))


@torch.no_grad()
def copy_weights(src, dst):
    """dst ← src's weights (cast to dst's dtype), one tensor at a time, for π_ref ← π_θ and for the
    rollout copy. Shard to shard when both are sharded alike (FSDP); a sharded source into a full copy
    is gathered a parameter at a time, never whole."""
    src_params, dst_params = list(unwrap(src).parameters()), list(unwrap(dst).parameters())
    if len(src_params) != len(dst_params):
        raise ValueError("copy_weights: the two models differ in structure")
    for p, q in zip(src_params, dst_params):
        q.copy_(p.full_tensor() if isinstance(p, DTensor) and not isinstance(q, DTensor) else p)


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
        one_plus_cos = 1 + math.cos(math.pi * min(1.0, progress))
        return peak_lr * (final_ratio + (1 - final_ratio) * 0.5 * one_plus_cos)
    if schedule == "constant":
        return peak_lr
    raise ValueError(f"unknown schedule {schedule!r}")


# ----------------------------------------------------------------------------- checkpoints

class _TrainState:
    """What DCP saves and restores: model and optimiser (in canonical, unwrapped names via
    get_state_dict, so DDP and FSDP2 checkpoints are interchangeable), the step, and the other models
    a stage holds (`others`: grpo.py's π_ref and reward model; a (model, optimiser) pair for one that trains
too, ppo.py's value model), sharded like the training model, so no
    rank writes or reads a whole 7B copy and a resume on another world size reshards them too. The data
    position is per-rank state like the RNG, and goes into each rank's own file: DCP keeps a single copy
    of non-tensor values, so a per-rank position saved through it would come back as rank 0's."""

    def __init__(self, model, optimizer, step=0, others: dict | None = None):
        self.model, self.optimizer, self.step, self.others = model, optimizer, step, others or {}

    def state_dict(self):
        model_sd, optim_sd = get_state_dict(self.model, self.optimizer)
        state = {"model": model_sd, "optim": optim_sd, "step": self.step}
        for name, other in self.others.items():
            if isinstance(other, tuple):  # a second trained model and its optimiser (ppo.py's value model)
                state[name], state[name + ".optim"] = get_state_dict(*other)
            else:
                state[name] = get_model_state_dict(other)
        return state

    def load_state_dict(self, state):
        set_state_dict(self.model, self.optimizer, model_state_dict=state["model"],
                       optim_state_dict=state["optim"])
        for name, other in self.others.items():
            if isinstance(other, tuple):
                set_state_dict(*other, model_state_dict=state[name], optim_state_dict=state[name + ".optim"])
            else:
                set_model_state_dict(other, state[name])
        self.step = state["step"]


_CKPT_NAME = re.compile(r"step_(\d{8})$")


def checkpoints(ckpt_root) -> list[Path]:
    """The complete checkpoint folders (step_XXXXXXXX), oldest first; `.tmp` leftovers never match."""
    root = Path(ckpt_root)
    done = [p for p in root.iterdir() if _CKPT_NAME.match(p.name) and p.is_dir()] if root.is_dir() else []
    return sorted(done, key=lambda p: int(p.name[5:]))


def latest_checkpoint(ckpt_root) -> Path | None:
    return (checkpoints(ckpt_root) or [None])[-1]


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


def save_checkpoint(ckpt_root, step: int, model, optimizer, data, proc: Proc, keep: int = 0,
                    others: dict | None = None) -> Path:
    """Write the training state after `step` steps to step_XXXXXXXX.tmp (DCP shards of model,
    optimiser, step and the `others` models; one file per rank with its data position and RNG), then
    rank 0 renames it to step_XXXXXXXX — a crash mid-save leaves only a `.tmp` — and deletes all
    but the newest `keep` (0: keep all). Collective: every rank calls it."""
    final = Path(ckpt_root) / f"step_{step:08d}"
    tmp = final.with_name(final.name + ".tmp")
    if proc.is_main:
        shutil.rmtree(tmp, ignore_errors=True)  # left by an earlier crash
        tmp.mkdir(parents=True)
    dist.barrier()
    dcp.save({"train": _TrainState(model, optimizer, step, others)}, checkpoint_id=tmp)
    torch.save({"rng": _rng_state(), "data": data.state_dict()}, tmp / f"rank{proc.rank}.pt")
    dist.barrier()
    if proc.is_main:
        (tmp / "meta.json").write_text(json.dumps({"step": step, "world_size": proc.world}))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in checkpoints(ckpt_root)[:-keep] if keep > 0 else []:
            shutil.rmtree(old)
    dist.barrier()
    return final


def load_checkpoint(path, model, optimizer, data, proc: Proc, others: dict | None = None) -> int:
    """Restore a folder written by save_checkpoint into model, optimiser, the `others` models, data and
    this rank's RNG; returns the number of steps done. The world size may differ (DCP reshards), but then
    the RNG streams start fresh and the data object gets rank 0's position (right for data whose position
    is global, like ShardData; others refuse it). Missing or corrupt checkpoints give a clear error."""
    path = Path(path)
    if not (path / ".metadata").is_file() or not (path / "meta.json").is_file():
        raise FileNotFoundError(f"{path} is not a complete training checkpoint (no .metadata / meta.json)")
    state = _TrainState(model, optimizer, others=others)
    try:
        same_world = json.loads((path / "meta.json").read_text())["world_size"] == proc.world
        dcp.load({"train": state}, checkpoint_id=path)
        mine = torch.load(path / f"rank{proc.rank if same_world else 0}.pt", weights_only=True)
    except (Exception, CheckpointException) as e:  # CheckpointException is a BaseException
        raise RuntimeError(f"training checkpoint {path} is corrupt or does not match this model/optimiser: "
                           f"{e}") from e
    data.load_state_dict(mine["data"])
    if same_world:
        _set_rng_state(mine["rng"])
    elif proc.is_main:
        print(f"warning: {path} was written by another world size; RNG streams start fresh")
    return int(state.step)


def start_or_resume(cfg: RunConfig, model, optimizer, data, proc: Proc, others: dict | None = None) -> int:
    """The step a run starts at, for every stage. --resume PATH: that checkpoint (an error if it is
    broken). --resume latest: the newest intact checkpoint in <out>/checkpoints, falling back to older
    ones past a corrupt newest (a disk that filled during the save), or a fresh start when there is none
    yet (killed before the first save). Without --resume, an --out that already holds checkpoints or
    metrics is another run: refused, unless --overwrite deletes them (else --keep would delete the *new* run's
    checkpoints, whose names sort first, and a later --resume would continue the old run)."""
    ckpt_root = Path(cfg.out) / "checkpoints"
    if cfg.resume and cfg.resume != "latest":
        return load_checkpoint(cfg.resume, model, optimizer, data, proc, others)
    found, logged = checkpoints(ckpt_root), (Path(cfg.out) / "metrics.jsonl").is_file()
    if not cfg.resume:
        if (found or logged) and not cfg.overwrite:
            raise FileExistsError(f"{cfg.out} holds another run "
                                  f"({found[-1].name if found else 'metrics.jsonl'}): pass --resume to "
                                  f"continue it, --overwrite to replace it, or another --out")
        dist.barrier()  # every rank has looked before rank 0 deletes
        if proc.is_main:
            shutil.rmtree(ckpt_root, ignore_errors=True)
            for name in ("metrics.jsonl", "log.txt"):
                (Path(cfg.out) / name).unlink(missing_ok=True)
        return 0
    for path in reversed(found):
        try:
            return load_checkpoint(path, model, optimizer, data, proc, others)
        except (RuntimeError, FileNotFoundError) as e:
            if proc.is_main:
                print(f"warning: skipping {path.name}: {e}")
    if proc.is_main:
        print(f"--resume: no intact checkpoint in {ckpt_root}; starting from step 0")
    return 0


def load_weights(model: nn.Module, path, adapt=None):
    """Fill a (wrapped) model from a checkpoint folder (`--init`: native or Hugging Face).
    `adapt(state) -> (state, fresh)` maps a language model's weights onto another module and names
    the parameters it leaves to their fresh initialisation (a reward model's head); every other
    parameter must be loaded with its exact shape."""
    state, fresh = checkpoint_weights(path), set()
    if adapt is not None:
        state, fresh = adapt(state)
    expected = {k: tuple(v.shape) for k, v in unwrap(model).state_dict().items() if k not in fresh}
    found = {k: tuple(v.shape) for k, v in state.items()}
    if expected != found:
        diff = sorted(k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k))
        raise ValueError(f"the weights in {path} do not fit this model: they differ at {diff[:5]}")
    set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, strict=not fresh))


def export_model(model: nn.Module, out_dir, proc: Proc, tokenizer: str | None = None):
    """Gather the full fp32 state dict on rank 0 (CPU) and write a consolidated checkpoint
    (config.json + model.pt) with the module's own `save`: what sft.py, grpo.py and evaluate.py
    start from (or, for a reward model, what grpo.py scores with)."""
    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if proc.is_main:  # written whole under a temporary name, then renamed: a kill never leaves half a model
        out_dir = Path(out_dir)
        tmp = out_dir.with_name(out_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        unwrap(model).save(tmp, tokenizer=tokenizer, state_dict=state)
        shutil.rmtree(out_dir, ignore_errors=True)
        os.replace(tmp, out_dir)
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

    def __init__(self, out: Path, proc: Proc, resumed_step: int = 0):
        self.enabled = proc.is_main
        self.jsonl, self.text = out / "metrics.jsonl", out / "log.txt"
        if self.enabled and self.jsonl.is_file():
            kept = [line for line in self.jsonl.read_text().splitlines() if _step_of(line) <= resumed_step]
            tmp = self.jsonl.with_name(self.jsonl.name + ".tmp")  # a kill mid-rewrite loses no record
            tmp.write_text("".join(line + "\n" for line in kept))
            os.replace(tmp, self.jsonl)

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


def train_step(model, optimizer, data, loss_fn, accum: int, grad_clip: float, proc: Proc,
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
    totals = torch.zeros(2, device=proc.device, dtype=torch.float64)  # [sum of loss·n, n]
    for i in range(accum):
        last = i == accum - 1
        with model.no_sync() if isinstance(model, DDP) and not last else nullcontext():
            with amp:
                loss, n = loss_fn(model, to_device(data.next_batch(), proc.device))
            n = torch.as_tensor(n, device=proc.device, dtype=torch.float32)
            (loss * n).backward()
        totals += torch.stack([loss.detach() * n, n]).double()
    dist.all_reduce(totals)
    scale = proc.world / max(totals[1].item(), 1.0)
    for p in model.parameters():
        if p.grad is not None:
            p.grad.mul_(scale)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if isinstance(norm, DTensor):
        norm = norm.full_tensor()
    if not torch.isfinite(norm):  # every rank sees the same norm: all stop, before the weights are spoiled
        raise FloatingPointError(f"non-finite gradient norm ({norm.item()}; mean loss "
                                 f"{(totals[0] / totals[1].clamp(min=1)).item()}): the weights were not "
                                 f"updated; lower --lr, or check the data")
    optimizer.step()
    return (totals[0] / totals[1].clamp(min=1)).item(), norm.item()


@torch.no_grad()
def evaluate(model, batches, loss_fn, proc: Proc, amp=nullcontext()) -> float:
    """Token-weighted mean loss over this rank's `batches`, combined over all ranks."""
    model.eval()
    totals = torch.zeros(2, device=proc.device, dtype=torch.float64)
    for batch in batches:
        with amp:
            loss, n = loss_fn(model, to_device(batch, proc.device))
        totals += torch.tensor([loss.item() * float(n), float(n)], device=proc.device, dtype=torch.float64)
    dist.all_reduce(totals)
    return (totals[0] / totals[1].clamp(min=1)).item()


def train(model, optimizer, data, loss_fn, cfg: TrainConfig, proc: Proc, val_batches=None,
          flops_per_token: float | None = None) -> list[dict]:
    """The training loop of pretrain.py, sft.py and reward.py (grpo.py runs train_step in its own loop).

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
    ckpt_root, accum = out / "checkpoints", cfg.accum_steps(proc.world)
    start = start_or_resume(cfg, model, optimizer, data, proc)
    log = MetricsLog(out, proc, resumed_step=start)
    if flops_per_token is None:
        flops_per_token = unwrap(model).flops_per_token(cfg.seq_len)
    peak = peak_flops(proc.device, cfg.peak_tflops)
    amp = autocast_for(model, cfg, proc.device)

    records, losses, t0 = [], [], time.perf_counter()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not proc.is_main,
               desc="train", dynamic_ncols=True)
    for step in bar:
        lr = lr_at(step, cfg.steps, cfg.lr, cfg.warmup_steps, cfg.schedule)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, grad_norm = train_step(model, optimizer, data, loss_fn, accum, cfg.grad_clip, proc, amp)
        losses.append(loss)
        done = step + 1
        last = done == cfg.steps
        eval_now = val_batches is not None and ((cfg.eval_every and done % cfg.eval_every == 0) or last)
        if done % cfg.log_every == 0 or last or eval_now:
            seconds = time.perf_counter() - t0
            tok_s = len(losses) * cfg.batch_tokens / seconds
            record = {"step": done, "loss": sum(losses) / len(losses), "lr": lr, "grad_norm": grad_norm,
                      "tokens": done * cfg.batch_tokens, "tok_per_s": tok_s,
                      "mfu": flops_per_token * tok_s / (peak * proc.world) if peak else None}
            if eval_now:
                record["val_loss"] = evaluate(model, val_batches(), loss_fn, proc, amp)
            bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{lr:.2e}", tok_s=f"{tok_s:,.0f}",
                            mfu=f"{record['mfu']:.1%}" if peak else "?")
            log.write(record)
            records.append(record)
            losses, t0 = [], time.perf_counter()
        if cfg.save_every and (done % cfg.save_every == 0 or last):
            save_checkpoint(ckpt_root, done, model, optimizer, data, proc, cfg.keep)
    return records


# ----------------------------------------------------------------------------- plans (--dry-run)

def model_config(cfg: TrainConfig, vocab_size: int | None = None) -> ModelConfig:
    """The preset with the flag overrides and the data's vocabulary, or the --init checkpoint's."""
    if cfg.init and cfg.dry_run and cfg.init in PRESETS and not Path(cfg.init).exists():
        return ModelConfig.from_preset(cfg.init, vocab_size=vocab_size)  # plan a run of a preset's size
    if cfg.init:
        config = checkpoint_config(cfg.init)
        if vocab_size is not None and vocab_size > config.vocab_size:
            raise ValueError(f"data vocabulary {vocab_size} exceeds the --init model's {config.vocab_size}")
        return config
    return ModelConfig.from_preset(cfg.model, vocab_size=vocab_size, n_layers=cfg.n_layers,
                                   d_model=cfg.d_model, n_heads=cfg.n_heads,
                                   n_kv_heads=cfg.n_kv_heads, ffn_dim=cfg.ffn_dim)


def memory_per_gpu(model_cfg: ModelConfig, n_params: int, cfg: TrainConfig, world: int) -> dict[str, float]:
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
    per_block = (16 * model_cfg.d_model + 4 * model_cfg.ffn_dim) * act
    layers = (model_cfg.n_layers * model_cfg.d_model * act + per_block if cfg.activation_checkpointing
              else model_cfg.n_layers * per_block)
    memory = {"weights (fp32)": 4 * n_params / shard,
              "gradients (fp32)": 4 * n_params / shard,
              "AdamW moments (fp32)": 8 * n_params / shard,
              "activations": cfg.micro_batch * cfg.seq_len * (layers + (act + 8) * model_cfg.vocab_size)}
    if fsdp:  # two gathered blocks (current + prefetched) in the compute dtype
        d, ffn = model_cfg.d_model, model_cfg.ffn_dim
        memory["FSDP gathered blocks"] = 2 * (4 * d ** 2 + 3 * d * ffn) * act
    return memory


def dry_run(cfg: TrainConfig, vocab_size: int | None = None, held: dict | None = None) -> dict:
    """Plan a run without a GPU: the model on `meta`, memory per GPU, FLOPs, time at an MFU. held: other
    models the stage holds beside the trained one, {name: bytes per parameter of the trained model} (DPO's
    frozen reference), counted in the total and in the micro-batch that fits."""
    world = cfg.world_size or int(os.environ.get("WORLD_SIZE", 1))
    model_cfg = model_config(cfg, vocab_size)
    with torch.device("meta"):
        model = Transformer(model_cfg)
    if cfg.steps is None and cfg.total_tokens is None:
        cfg = replace(cfg, total_tokens=10 ** 9)
        print("no --total-tokens or --steps: timing 1e9 tokens")
    cfg = cfg.resolved(world, model_cfg.max_seq_len)
    n = model.num_params()
    memory = memory_per_gpu(model_cfg, n, cfg, world)
    memory.update({name: per_param * n for name, per_param in (held or {}).items()})
    fpt = model.flops_per_token(cfg.seq_len)
    flops_step = fpt * cfg.batch_tokens
    peak = cfg.peak_tflops * 1e12 if cfg.peak_tflops else GPU_PEAK_FLOPS["H100"]
    seconds = cfg.steps * flops_step / (world * peak * cfg.assumed_mfu)
    print(f"model {cfg.init or cfg.model}: {n:,} parameters ({n / 1e9:.2f}B; "
          f"{model.num_params(True) / 1e9:.2f}B without the embedding); {model_cfg.n_layers} layers, d_model "
          f"{model_cfg.d_model}, {model_cfg.n_heads} heads, ffn {model_cfg.ffn_dim}, vocab "
          f"{model_cfg.vocab_size}")
    print(f"plan: {world} GPUs, {cfg.parallel}, {'fp32' if cfg.dtype == 'fp32' else 'bf16'}, seq "
          f"{cfg.seq_len}, micro-batch {cfg.micro_batch}, global batch {cfg.batch_tokens:,} tokens, gradient "
          f"accumulation {cfg.accum_steps(world)}, {cfg.steps:,} steps")
    print("memory per GPU (estimate):")
    for kind, b in memory.items():
        print(f"  {kind:<24} {b / 2**30:8.2f} GiB")
    print(f"  {'total':<24} {sum(memory.values()) / 2**30:8.2f} GiB")
    free = cfg.gpu_memory * 1e9 - sum(v for k, v in memory.items() if k != "activations")
    fits = max(0, int(free // (memory["activations"] / cfg.micro_batch)))
    print(f"largest --micro-batch that fits {cfg.gpu_memory:g} GB: {fits}")
    print(f"compute: {fpt:.3g} FLOPs/token, {flops_step:.3g} FLOPs/step, {cfg.steps * flops_step:.3g} in all")
    print(f"time: {seconds / 86400:.2f} days ({seconds / cfg.steps:.2f} s/step) at MFU {cfg.assumed_mfu:.0%} "
          f"of {peak / 1e12:.0f} TFLOP/s per GPU")
    return {"params": n, "memory": memory, "flops_per_token": fpt, "flops_per_step": flops_step,
            "seconds": seconds, "steps": cfg.steps, "accum": cfg.accum_steps(world), "fits_micro_batch": fits}



# An RL step's phases take turns on the same GPUs: the peak is what every phase holds plus the largest phase.
DECODE_EFFICIENCY = 0.6  # share of the memory bandwidth a decode step reaches (weights + KV read per step)
MEAN_COMPLETION = 0.5    # completions average this share of --max-new-tokens (assumed; measured runs vary)


def rl_plan(cfg, model_cfg: ModelConfig, n_params: int, world: int, prompt_tokens: int,
            reward_params: int = 0, value_params: int = 0) -> dict:
    """Memory per GPU by phase and time per step of an RL run (grpo.py's --dry-run), for a GRPOConfig `cfg`.
    held      policy (fp32 weights, gradients, AdamW moments; sharded under FSDP), π_ref (sharded fp32 under
              FSDP, a whole bf16 copy under DDP), the rollout copy (FSDP: a whole bf16 copy, since a sharded
              model cannot run the sampler; DDP: the policy itself), a learned reward model (whole, bf16)
    rollout   the KV cache of --rollout-batch sequences of prompt + --max-new-tokens tokens
    update    activations of --micro-batch sequences (trainer.memory_per_gpu's arithmetic), gathered blocks
    reward-model retraining (§4.1.4): the reward model's own training state and activations
    value_params > 0 (ppo.py, §4.1.1): the value model's training state is held too, its update is a phase
    of its own (activations of a decoder that size), and it costs one forward (old values) + μ updates
    Time: decode is memory-bound (each step streams the bf16 weights and the KV cache in use); the update
    is 6 FLOPs a parameter a token (μ times), π_ref and the reward model 2, at --assumed-mfu."""
    gib = 2 ** 30
    fsdp = cfg.parallel == "fsdp"
    seq = prompt_tokens + cfg.max_new_tokens
    train_cfg = TrainConfig(parallel=cfg.parallel, dtype=cfg.dtype, micro_batch=cfg.micro_batch, seq_len=seq,
                            activation_checkpointing=cfg.activation_checkpointing)
    training = memory_per_gpu(model_cfg, n_params, train_cfg, world)
    held = {"policy: weights, gradients, AdamW": sum(v for k, v in training.items() if "fp32" in k)}
    if cfg.algo == "grpo" and cfg.beta > 0:
        held["π_ref"] = 4 * n_params / world if fsdp else 2 * n_params
    if fsdp:
        held["rollout copy (bf16)"] = 2 * n_params
    if reward_params:
        held["reward model (bf16)"] = 2 * reward_params
    if value_params:
        value_training = memory_per_gpu(model_cfg, value_params, train_cfg, world)
        held["value model: weights, gradients, AdamW"] = sum(v for k, v in value_training.items()
                                                             if "fp32" in k)
    kv_seq = kv_bytes_per_token(model_cfg, 2) * seq
    budget = cfg.gpu_memory * 1e9
    free = budget - sum(held.values())
    # without --rollout-batch the sampler sizes its slots from memory: plan with what fits beside
    # the held state
    slots = cfg.rollout_batch or max(1, int(free // kv_seq))
    rollout = {"KV cache": slots * kv_seq, "logits (fp32)": slots * model_cfg.vocab_size * 4}
    update = {k: v for k, v in training.items() if "fp32" not in k}
    phases = {"held": held, "rollout": rollout, "update": update}
    if value_params:
        phases["value update"] = {k: v for k, v in value_training.items() if "fp32" not in k}
    if reward_params and cfg.rm_questions:
        rm_train = memory_per_gpu(model_cfg, reward_params, train_cfg, world)
        phases["reward-model retraining"] = rm_train
    totals = {name: sum(parts.values()) for name, parts in phases.items()}
    peak = totals["held"] + max(v for k, v in totals.items() if k != "held")
    act_per_seq = training["activations"] / cfg.micro_batch
    fits = {"rollout_batch": max(0, int(free // kv_seq)),
            "micro_batch": max(0, int((free - update.get("FSDP gathered blocks", 0)) // act_per_seq))}

    samples = cfg.batch_questions * cfg.group_size
    new_tokens = samples * cfg.max_new_tokens * MEAN_COMPLETION
    step_bytes = 2 * n_params + slots * kv_bytes_per_token(model_cfg, 2) * (prompt_tokens + cfg.max_new_tokens
                                                                         * MEAN_COMPLETION)
    decode_tok_s = slots / (step_bytes / (cfg.gpu_bandwidth * 1e12 * DECODE_EFFICIENCY))  # per GPU
    trained_tokens = samples * (prompt_tokens + cfg.max_new_tokens * MEAN_COMPLETION)
    flops = trained_tokens * (6 * n_params * cfg.mu + 2 * n_params * ("π_ref" in held) + 2 * reward_params
                              + (2 + 6 * cfg.mu) * value_params)
    peak_flops_gpu = cfg.peak_tflops * 1e12 if cfg.peak_tflops else GPU_PEAK_FLOPS["H100"]
    seconds = {"rollout": new_tokens / (decode_tok_s * world),
               "update": flops / (world * peak_flops_gpu * cfg.assumed_mfu)}
    print(f"plan: {world} GPUs × {cfg.gpu_memory:g} GB, {cfg.parallel}, "
          f"{'fp32' if cfg.dtype == 'fp32' else 'bf16'} compute, activation checkpointing "
          f"{'on' if cfg.activation_checkpointing else 'off'}; sequences of {prompt_tokens} prompt + "
          f"{cfg.max_new_tokens} new tokens; {slots} rollout slots"
          f"{'' if cfg.rollout_batch else ' (the most that fit: --rollout-batch unset)'}")
    print("memory per GPU (estimate; allocator overheads not counted):")
    for name, parts in phases.items():
        for kind, b in parts.items():
            print(f"  {name:<24} {kind:<36} {b / gib:8.2f} GiB")
        print(f"  {name:<24} {'total':<36} {totals[name] / gib:8.2f} GiB")
    print(f"  peak = held + largest phase: {peak / gib:.2f} GiB of {budget / gib:.2f} GiB "
          f"({'fits' if peak <= budget else 'DOES NOT FIT'})")
    print(f"largest that fit beside what is held: --rollout-batch {fits['rollout_batch']}, "
          f"--micro-batch {fits['micro_batch']}")
    print(f"time per step (assumed: completions average {MEAN_COMPLETION:.0%} of --max-new-tokens; decode at "
          f"{DECODE_EFFICIENCY:.0%} of {cfg.gpu_bandwidth:g} TB/s; update at MFU {cfg.assumed_mfu:.0%} of "
          f"{peak_flops_gpu / 1e12:.0f} TFLOP/s): rollout {seconds['rollout']:.0f} s ({decode_tok_s:,.0f} "
          f"tokens/s per GPU), update {seconds['update']:.0f} s")
    return {"phases": phases, "totals": totals, "peak": peak, "fits": fits, "seconds": seconds,
            "slots": slots, "decode_tok_s": decode_tok_s}
