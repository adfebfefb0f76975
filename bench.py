"""Performance, measured side by side: every figure comes with a baseline measured in the same run.

    python bench.py            # full CPU run (a few minutes)
    python bench.py --quick    # smaller sizes, seconds
    python bench.py --gpu      # on a CUDA machine: 1.3b MFU (bf16, FSDP2 on one rank) and decoding vs bandwidth

This machine is shared and noisy, so absolute times alone mean little: each row carries a ratio to a
baseline measured right before it (the machine's matmul peak for MFU, eager for torch.compile, a naive
full-recompute decoder for the KV cache, batch 1 for batch scaling, 1 worker for the corpus stages).
Results are printed as a table and appended to `--out` as JSONL.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field

import torch

from model import ModelConfig, Transformer


@dataclass
class Row:
    section: str
    name: str
    value: float
    unit: str
    baseline: str = ""
    ratio: float | None = None
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


def matmul_peak_flops(device: str, dtype: torch.dtype, n: int) -> float:
    """The machine's practical peak: FLOP/s of a large square matmul (2n³ FLOPs)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    return 2 * n ** 3 / timed(lambda: a @ b, repeats=5)


# ----------------------------------------------------------------------------- training

def train_step_rate(cfg: ModelConfig, batch: int, seq: int, device: str, compile: bool,
                    amp_dtype=None, steps: int = 3) -> float:
    """Tokens/s of forward + backward + AdamW on random tokens."""
    torch.manual_seed(0)
    model = Transformer(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=device == "cuda")
    fwd = torch.compile(model) if compile else model
    x = torch.randint(0, cfg.vocab_size, (batch, seq + 1), device=device)

    def step():
        with torch.autocast(device_type=device, dtype=amp_dtype, enabled=amp_dtype is not None):
            _, loss = fwd(x[:, :-1], x[:, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return batch * seq / timed(step, repeats=steps, warmup=2 if compile else 1)


def bench_training(args, peak: float) -> list[Row]:
    rows = []
    presets = ["toy"] if args.quick else ["toy", "small"]
    for name in presets:
        seq = 128 if args.quick else 256
        cfg = ModelConfig.from_preset(name, max_seq_len=seq)
        flops_tok = Transformer.flops_per_token(_meta(cfg), seq)
        eager = train_step_rate(cfg, args.train_batch, seq, "cpu", compile=False)
        rows.append(Row("training", f"{name} eager tok/s", eager, "tok/s", "matmul peak",
                        eager * flops_tok / peak, {"mfu": eager * flops_tok / peak}))
        if not args.no_compile:
            comp = train_step_rate(cfg, args.train_batch, seq, "cpu", compile=True)
            rows.append(Row("training", f"{name} compiled tok/s", comp, "tok/s", f"{name} eager",
                            comp / eager, {"mfu": comp * flops_tok / peak}))
    return rows


def _meta(cfg: ModelConfig) -> Transformer:
    with torch.device("meta"):
        return Transformer(cfg)


# ----------------------------------------------------------------------------- generation

@torch.no_grad()
def naive_decode(model: Transformer, prompt: list[int], n: int) -> list[int]:
    """The baseline: re-run the full forward over the whole sequence for every new token."""
    seq = torch.tensor([prompt])
    for _ in range(n):
        nxt = model(seq)[0][:, -1].argmax(-1, keepdim=True)
        seq = torch.cat([seq, nxt], 1)
    return seq[0, len(prompt):].tolist()


def bench_generation(args) -> list[Row]:
    new = 128 if args.quick else 512
    cfg = ModelConfig.from_preset("toy", max_seq_len=new + 64)
    torch.manual_seed(0)
    model = Transformer(cfg).eval()
    prompt = list(range(1, 17))
    naive = new / timed(lambda: naive_decode(model, prompt, new), repeats=1, warmup=0)
    cached = new / timed(lambda: model.generate([prompt], new, temperature=0), repeats=3)
    rows = [Row("generation", f"naive decoder, {new} new tokens", naive, "tok/s"),
            Row("generation", f"KV cache, {new} new tokens", cached, "tok/s", "naive decoder", cached / naive)]
    base = None
    for b in ([1, 8] if args.quick else [1, 8, 64]):
        rate = b * new / timed(lambda: model.generate([prompt] * b, new, temperature=0), repeats=2)
        base = base or rate
        rows.append(Row("generation", f"KV cache batch {b}", rate, "tok/s", "batch 1", rate / base))
    return rows


# ----------------------------------------------------------------------------- GPU (when lent)

def bench_gpu(args) -> list[Row]:
    """1.3b on one CUDA device: MFU of a bf16 pre-training step (FSDP2 on one rank, activation
    checkpointing off/on) against the dense bf16 matmul peak, and decoding tokens/s at batch 1 and 64
    against the memory-bandwidth bound (weight bytes read per step / measured copy bandwidth)."""
    from pretrain import setup_distributed, wrap_model
    setup_distributed()
    peak = matmul_peak_flops("cuda", torch.bfloat16, 8192)
    rows = [Row("gpu", "bf16 matmul peak", peak / 1e12, "TFLOP/s")]
    cfg = ModelConfig.from_preset("1.3b", max_seq_len=4096)
    flops_tok = Transformer.flops_per_token(_meta(cfg), cfg.max_seq_len)
    for ac in (False, True):
        with torch.device("meta"):
            model = Transformer(cfg)
        model = wrap_model(model, parallel="fsdp", activation_checkpointing=ac, compile=args.compile)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), fused=True)
        x = torch.randint(0, cfg.vocab_size, (args.gpu_batch, cfg.max_seq_len + 1), device="cuda")

        def step():
            _, loss = model(x[:, :-1], x[:, 1:])
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        rate = args.gpu_batch * cfg.max_seq_len / timed(step, repeats=5, warmup=2)
        rows.append(Row("gpu", f"1.3b train tok/s (act. ckpt {'on' if ac else 'off'})", rate, "tok/s",
                        "bf16 matmul peak", rate * flops_tok / peak, {"mfu": rate * flops_tok / peak}))
        del model, opt
        torch.cuda.empty_cache()
    src = torch.empty(2 << 30, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    bandwidth = 2 * src.numel() / timed(lambda: dst.copy_(src), repeats=5)  # read + write
    rows.append(Row("gpu", "copy bandwidth", bandwidth / 1e9, "GB/s"))
    model = Transformer(cfg).to("cuda", torch.bfloat16).eval()
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters()) - \
        model.embed.weight.numel() * model.embed.weight.element_size()  # the embedding is a lookup
    bound = bandwidth / weight_bytes  # decode steps/s if every step only streamed the weights once
    for b in (1, 64):
        new = 256
        rate = new / timed(lambda: model.generate([list(range(1, 33))] * b, new, temperature=0), repeats=2)
        rows.append(Row("gpu", f"1.3b decode steps/s, batch {b}", rate, "steps/s", "bandwidth bound",
                        rate / bound, {"tokens_per_s": rate * b}))
    return rows


# ----------------------------------------------------------------------------- main

def print_table(rows: list[Row]):
    print(f"\n{'section':<11} {'figure':<44} {'value':>12} {'unit':<8} {'× baseline':>11}  baseline")
    for r in rows:
        ratio = f"{r.ratio:.3f}" if r.ratio is not None else ""
        print(f"{r.section:<11} {r.name:<44} {r.value:>12.1f} {r.unit:<8} {ratio:>11}  {r.baseline}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes and no 'small' preset: seconds, not minutes")
    p.add_argument("--only", default="training,generation",
                   help="comma-separated CPU sections to run (training, generation)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows (compilation takes a minute)")
    p.add_argument("--train-batch", type=int, default=4, help="sequences per CPU training step")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: PyTorch's default)")
    p.add_argument("--gpu", action="store_true", help="run the GPU section instead (needs CUDA)")
    p.add_argument("--gpu-batch", type=int, default=4, help="sequences of 4096 tokens per GPU training step")
    p.add_argument("--compile", action="store_true", help="GPU section: torch.compile the 1.3b model")
    p.add_argument("--out", default="runs/bench.jsonl", help="JSONL file the rows are appended to")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows: list[Row] = []
    if args.gpu:
        if not torch.cuda.is_available():
            sys.exit("--gpu needs a CUDA device")
        rows += bench_gpu(args)
    else:
        sections = args.only.split(",")
        peak = matmul_peak_flops("cpu", torch.float32, 1024 if args.quick else 2048)
        rows.append(Row("machine", "fp32 matmul peak", peak / 1e9, "GFLOP/s"))
        if "training" in sections:
            rows += bench_training(args, peak)
        if "generation" in sections:
            rows += bench_generation(args)
    print_table(rows)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    with open(args.out, "a") as f:
        for r in rows:
            f.write(json.dumps({"time": stamp, **r.__dict__}) + "\n")
    return rows


if __name__ == "__main__":
    main()
