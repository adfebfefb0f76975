"""pretrain.py: schedule, data sampling, gradient accumulation, DDP / FSDP2 equivalence across world
sizes, exact resume after SIGKILL, checkpoint errors, the 7B dry run. CPU, gloo, tiny models."""
import argparse
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import pretrain
import trainer
from model import ModelConfig, Transformer

REPO = Path(__file__).resolve().parents[1]
TINY = ["--n-layers", "2", "--d-model", "32", "--n-heads", "2", "--ffn-dim", "64", "--seq-len", "32"]
V = 64  # vocabulary of the toy shards; token V-1 is EOS


def counting_tokens(n: int, seed: int) -> np.ndarray:
    """Documents that count up (next = previous + 1 mod V-1), each ended by EOS: learnable."""
    rng, toks = np.random.default_rng(seed), []
    while len(toks) < n:
        start, length = rng.integers(0, V - 1), rng.integers(5, 40)
        toks += [int((start + i) % (V - 1)) for i in range(length)] + [V - 1]
    return np.array(toks[:n], dtype=np.uint16)


def write_shards(folder: Path, sources: dict, vocab_size: int = V) -> Path:
    """sources: name -> (weight, [1-D arrays, one per shard]). Writes .npy shards + manifest.json."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"tokenizer": None, "vocab_size": vocab_size, "eos_id": vocab_size - 1, "sources": {}}
    for name, (weight, arrays) in sources.items():
        names = [f"{name}-{i:05d}.npy" for i in range(len(arrays))]
        for file, array in zip(names, arrays):
            np.save(folder / file, array)
        manifest["sources"][name] = {"weight": weight, "shards": names,
                                     "tokens": sum(len(a) for a in arrays), "documents": 1}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    a, b = counting_tokens(6000, 1), counting_tokens(3000, 2)
    return write_shards(tmp_path_factory.mktemp("shards"), {"math": (0.7, [a[:3500], a[3500:]]),
                                                            "web": (0.3, [b])})


def run_args(shards, out, *extra):
    return ["--data", str(shards), "--out", str(out), *TINY, "--lr", "3e-3", "--warmup-steps", "2",
            "--log-every", "1", "--save-every", "0", *map(str, extra)]


def metrics(out) -> list[dict]:
    return [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]


def final_weights(out) -> dict:
    return torch.load(Path(out) / "final" / "model.pt", weights_only=True)


def subprocess_env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


# ----------------------------------------------------------------------------- schedule

def test_multistep_schedule_matches_the_paper():
    """DeepSeek LLM §2.3: peak after 2000 warm-up steps, 31.6% after 80% of training, 10% after 90%."""
    peak, total = 4.2e-4, 10_000
    lr = lambda s: trainer.lr_at(s, total, peak, 2000, "multistep")  # noqa: E731
    assert lr(0) == pytest.approx(peak / 2000)
    assert lr(999) == pytest.approx(peak * 1000 / 2000)
    assert lr(1999) == lr(2000) == lr(7999) == pytest.approx(peak)
    assert lr(8000) == lr(8999) == pytest.approx(0.316 * peak)
    assert lr(9000) == lr(9999) == pytest.approx(0.1 * peak)


def test_cosine_and_constant_schedules():
    peak = 1.0
    cos = lambda s: trainer.lr_at(s, 110, peak, 10, "cosine")  # noqa: E731
    assert cos(10) == pytest.approx(1.0) and cos(109) == pytest.approx(0.1)
    assert cos(60) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 50 / 99)))
    assert trainer.lr_at(500, 500, 5e-5, 0, "constant") == 5e-5
    with pytest.raises(ValueError, match="unknown schedule"):
        trainer.lr_at(5, 10, 1.0, 0, "linear")


def test_batch_split_is_checked():
    cfg = trainer.TrainConfig(seq_len=32, micro_batch=2, batch_tokens=32 * 8, steps=3)
    assert cfg.resolved(world=2, max_seq_len=64).accum_steps(2) == 2
    with pytest.raises(ValueError, match="multiple of seq_len"):
        cfg.resolved(world=3, max_seq_len=64)
    with pytest.raises(ValueError, match="exceeds the model context"):
        cfg.resolved(world=1, max_seq_len=16)
    with pytest.raises(ValueError, match="exactly one of"):
        trainer.TrainConfig(seq_len=32).resolved(1, 64)


def test_every_flag_has_help():
    parser = pretrain.build_parser()
    for action in parser._actions:
        if action.dest != "help":
            assert action.help, f"--{action.dest} has no help"


# ----------------------------------------------------------------------------- data

def test_shard_data_windows_mixture_split_and_ranks(tmp_path):
    # token value = its position, so every window tells where it came from
    a, b = np.arange(5000, dtype=np.uint32), 1_000_000 + np.arange(2000, dtype=np.uint32)
    folder = write_shards(tmp_path, {"a": (3.0, [a[:1000], a[1000:1300], a[1300:]]), "b": (1.0, [b])},
                          vocab_size=2_000_000)
    T, val_fraction = 16, 0.02
    make = lambda **kw: pretrain.ShardData(folder, T, micro_batch=4, batch_size=8, seed=7,  # noqa: E731
                                           val_fraction=val_fraction, **kw)
    train, val = make(), make(split="val")
    rows = torch.cat([train.next_batch()["tokens"] for _ in range(400)])  # 200 steps × 8 sequences
    full = torch.cat([train.micro_batch_at(s, m)["tokens"] for s in range(3) for m in range(2)])
    val_rows = torch.cat([bt["tokens"] for bt in val.batches(20)])
    for x in torch.cat([rows, val_rows]):  # contiguous windows of one source, across shard edges
        assert torch.equal(x, x[0] + torch.arange(T))
    is_a = rows[:, 0] < 1_000_000
    assert abs(is_a.float().mean().item() - 0.75) < 0.04  # mixture weights 3:1
    # validation: the last 2% of each source (>= one window), never sampled for training
    n_val_a, n_val_b = max(math.ceil(5000 * val_fraction), T + 1), max(math.ceil(2000 * val_fraction), T + 1)
    train_end = torch.where(is_a, 5000 - n_val_a, 1_000_000 + 2000 - n_val_b)
    assert (rows[:, -1] + 1 < train_end).all()  # last target token is rows[:, -1] + 1
    val_a = val_rows[val_rows[:, 0] < 1_000_000]
    assert (val_a[:, 0] >= 5000 - n_val_a).all() and (val_a[:, -1] + 1 < 5000).all()
    # two ranks' micro-batches are disjoint halves of the same global batch
    ranks = [make(rank=r, world=2) for r in range(2)]
    halves = torch.cat([ranks[r].micro_batch_at(s, 0)["tokens"] for s in range(3) for r in range(2)])
    assert torch.equal(halves, full)
    # targets are the next tokens; the position is the whole state
    batch = train.micro_batch_at(0, 0)
    assert torch.equal(batch["targets"], batch["tokens"] + 1)
    resumed = make()
    resumed.load_state_dict(train.state_dict())
    assert torch.equal(resumed.next_batch()["tokens"], train.next_batch()["tokens"])


def test_manifest_and_shard_errors(tmp_path):
    args = dict(seq_len=8, micro_batch=1, batch_size=1)
    with pytest.raises(FileNotFoundError, match="no token-shard manifest"):
        pretrain.ShardData(tmp_path, **args)
    (tmp_path / "manifest.json").write_text('{"vocab_size": 64, "sources": {')
    with pytest.raises(ValueError, match="corrupt manifest"):
        pretrain.ShardData(tmp_path, **args)
    write_shards(tmp_path, {"a": (1.0, [counting_tokens(500, 0)])})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "sources": {"a": {"weight": 1.0}}}))
    with pytest.raises(ValueError, match="needs a weight >= 0 and a list of shards"):
        pretrain.ShardData(tmp_path, **args)
    manifest["sources"]["a"]["tokens"] = 999
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="should hold 999 tokens"):
        pretrain.ShardData(tmp_path, **args)
    (tmp_path / "a-00000.npy").write_bytes((tmp_path / "a-00000.npy").read_bytes()[:100])
    with pytest.raises(ValueError, match="unreadable"):
        pretrain.ShardData(tmp_path, **args)
    (tmp_path / "a-00000.npy").unlink()
    with pytest.raises(FileNotFoundError, match="is missing"):
        pretrain.ShardData(tmp_path, **args)


# ----------------------------------------------------------------------------- training

def test_toy_loss_decreases_and_exports_a_model(shards, tmp_path):
    out = tmp_path / "run"
    pretrain.main(run_args(shards, out, "--micro-batch", 8, "--steps", 40, "--eval-every", 20))
    records = metrics(out)
    assert [r["step"] for r in records] == list(range(1, 41))
    first, last = records[0]["loss"], records[-1]["loss"]
    assert first == pytest.approx(math.log(V), rel=0.1)  # a fresh model is near-uniform
    assert last < 0.6 * first
    val = [r["val_loss"] for r in records if "val_loss" in r]
    assert len(val) == 2 and val[1] < val[0]
    assert all(r["mfu"] > 0 and r["tok_per_s"] > 0 for r in records)
    model = Transformer.load(out / "final")
    assert model.config.vocab_size == V and model.embed.weight.dtype == torch.float32


class ListData:
    def __init__(self, batches):
        self.batches, self.i = batches, 0

    def next_batch(self):
        self.i += 1
        return self.batches[self.i - 1]


@pytest.fixture
def one_process():
    d = trainer.setup_distributed()
    yield d
    trainer.cleanup_distributed()


def test_grad_accumulation_equals_one_big_batch_with_masked_targets(one_process):
    """4 micro-batches of 2 with unequal numbers of masked targets = one batch of 8: the step
    must weight each micro-batch by its token count, as the reference loss over all 8 rows does.
    Plain SGD with LR 1 makes the weight change the clipped gradient itself (Adam's first step
    would be sign(g), which turns float noise in near-zero gradients into whole-LR differences)."""
    clip = 0.5
    mc = ModelConfig.from_preset("toy", vocab_size=V, n_layers=2, d_model=32, n_heads=2, ffn_dim=64)
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, V, (8, 16), generator=g)
    targets = torch.randint(0, V, (8, 16), generator=g)
    targets[:2, 2:] = -100  # micro-batch 0 keeps 4 targets, the others many more
    targets[5, ::3] = -100
    torch.manual_seed(1)
    accumulated = trainer.wrap_model(Transformer(mc), one_process)
    reference = Transformer(mc)
    reference.load_state_dict(trainer.unwrap(accumulated).state_dict())

    opt = torch.optim.SGD(accumulated.parameters(), lr=1.0)
    data = ListData([{"tokens": tokens[i:i + 2], "targets": targets[i:i + 2]} for i in range(0, 8, 2)])
    loss, norm = trainer.train_step(accumulated, opt, data, pretrain.lm_loss, 4, clip, one_process)

    _, ref_loss = reference(tokens, targets)
    ref_loss.backward()
    ref_norm = torch.nn.utils.clip_grad_norm_(reference.parameters(), clip)
    torch.optim.SGD(reference.parameters(), lr=1.0).step()
    assert loss == pytest.approx(ref_loss.item(), rel=1e-6)
    assert norm == pytest.approx(ref_norm.item(), rel=1e-5) and norm > clip  # clipping was active
    for (name, p), q in zip(trainer.unwrap(accumulated).named_parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)


def test_micro_batch_split_does_not_change_training(shards, tmp_path):
    """The same global batch of 8 sequences as 4 micro-batches of 2 or one of 8: same run."""
    for micro in (2, 8):
        pretrain.main(run_args(shards, tmp_path / f"mb{micro}", "--micro-batch", micro,
                               "--batch-tokens", 8 * 32, "--steps", 3))
    assert [r["loss"] for r in metrics(tmp_path / "mb2")] == pytest.approx(
        [r["loss"] for r in metrics(tmp_path / "mb8")], rel=1e-5)
    torch.testing.assert_close(final_weights(tmp_path / "mb2"), final_weights(tmp_path / "mb8"))


def test_two_process_ddp_and_fsdp_match_one_process(shards, tmp_path):
    common = ["--micro-batch", 2, "--batch-tokens", 8 * 32, "--steps", 4, "--eval-steps", 2]
    runs = {"ddp": ["--parallel", "ddp"], "fsdp": ["--parallel", "fsdp", "--activation-checkpointing"]}
    procs = {name: subprocess.Popen(  # both launched at once: most of their time is start-up
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(REPO / "pretrain.py"), *run_args(shards, tmp_path / name, *common, *extra)],
        cwd=REPO, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for name, extra in runs.items()}
    pretrain.main(run_args(shards, tmp_path / "one", *common))
    for name, proc in procs.items():
        _, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, stderr[-3000:]
        ref, got = metrics(tmp_path / "one"), metrics(tmp_path / name)
        assert [r["loss"] for r in got] == pytest.approx([r["loss"] for r in ref], rel=1e-5), name
        assert got[-1]["val_loss"] == pytest.approx(ref[-1]["val_loss"], rel=1e-5), name
        torch.testing.assert_close(final_weights(tmp_path / name), final_weights(tmp_path / "one"),
                                   rtol=1e-5, atol=1e-6, msg=name)


# ----------------------------------------------------------------------------- checkpoints

KILL_DURING_SAVE = """
import os, signal, sys
import torch.distributed.checkpoint as dcp
import pretrain

save = dcp.save
def save_then_die(state, checkpoint_id, **kwargs):
    save(state, checkpoint_id=checkpoint_id, **kwargs)
    if str(checkpoint_id).endswith(sys.argv[1]):  # killed mid-save: the .tmp is half written
        os.kill(os.getpid(), signal.SIGKILL)
dcp.save = save_then_die
pretrain.main(sys.argv[2:])
"""


def test_sigkill_then_resume_equals_an_uninterrupted_run(shards, tmp_path):
    common = ["--micro-batch", 2, "--batch-tokens", 4 * 32, "--steps", 6, "--save-every", 2, "--keep", 0]
    pretrain.main(run_args(shards, tmp_path / "straight", *common))

    out = tmp_path / "killed"
    script = tmp_path / "kill_during_save.py"
    script.write_text(KILL_DURING_SAVE)
    proc = subprocess.run([sys.executable, str(script), "step_00000004.tmp", *run_args(shards, out, *common)],
                          cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert ckpts == ["step_00000002", "step_00000004.tmp"]
    assert trainer.latest_checkpoint(out / "checkpoints").name == "step_00000002"

    pretrain.main(run_args(shards, out, *common, "--resume"))
    straight, resumed = final_weights(tmp_path / "straight"), final_weights(out)
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name
    # one history in metrics.jsonl; the resumed steps reproduce the uninterrupted losses exactly
    assert [r["loss"] for r in metrics(out)] == [r["loss"] for r in metrics(tmp_path / "straight")]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [f"step_{s:08d}" for s in (2, 4, 6)]


def test_missing_and_corrupt_checkpoints_give_clear_errors(shards, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(FileNotFoundError, match="no model checkpoint"):
        pretrain.main(run_args(shards, out, "--micro-batch", 2, "--steps", 2, "--init", tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="not a complete training checkpoint"):
        pretrain.main(run_args(shards, out, "--micro-batch", 2, "--steps", 2, "--resume", tmp_path))
    pretrain.main(run_args(shards, out, "--micro-batch", 2, "--steps", 2, "--save-every", 2, "--keep", 1))
    ckpt = trainer.latest_checkpoint(out / "checkpoints")
    for shard in ckpt.glob("*.distcp"):
        shard.write_bytes(shard.read_bytes()[:50])
    with pytest.raises(RuntimeError, match="corrupt"):  # a checkpoint named explicitly must load
        pretrain.main(run_args(shards, out, "--micro-batch", 2, "--steps", 4, "--resume", ckpt))


def test_resume_edge_cases(shards, tmp_path, capsys):
    """--resume before any checkpoint starts fresh; past a corrupt newest checkpoint it falls back to the
    previous intact one; a new run into an --out holding another run is refused unless --overwrite."""
    out, common = tmp_path / "run", ["--micro-batch", 2, "--keep", 0]
    pretrain.main(run_args(shards, out, *common, "--steps", 2, "--resume"))  # nothing to resume: fresh start
    assert "starting from step 0" in capsys.readouterr().out
    assert [r["step"] for r in metrics(out)] == [1, 2]

    with pytest.raises(FileExistsError, match="another run"):  # same --out, no --resume: refused
        pretrain.main(run_args(shards, out, *common, "--steps", 2))
    pretrain.main(run_args(shards, out, *common, "--steps", 4, "--save-every", 2, "--overwrite"))
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_00000002", "step_00000004"]
    assert [r["step"] for r in metrics(out)] == [1, 2, 3, 4]  # the old run's records went with it

    for shard in (out / "checkpoints" / "step_00000004").glob("*.distcp"):  # e.g. the disk filled mid-save
        shard.write_bytes(shard.read_bytes()[:50])
    pretrain.main(run_args(shards, out, *common, "--steps", 6, "--save-every", 2, "--resume"))
    assert "skipping step_00000004" in capsys.readouterr().out
    assert [r["step"] for r in metrics(out)] == [1, 2, 3, 4, 5, 6]  # steps 3-4 again, from step 2
    straight = tmp_path / "straight"
    pretrain.main(run_args(shards, straight, *common, "--steps", 6))
    assert [r["loss"] for r in metrics(out)] == [r["loss"] for r in metrics(straight)]


def test_export_is_atomic_and_non_finite_gradients_stop_before_the_update(shards, tmp_path, monkeypatch):
    out = tmp_path / "run"
    pretrain.main(run_args(shards, out, "--micro-batch", 2, "--steps", 1))
    good = final_weights(out)

    def dies_mid_write(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"half a model")
        raise KeyboardInterrupt  # as a kill during the write would
    monkeypatch.setattr(torch, "save", dies_mid_write)
    model = Transformer(ModelConfig.from_preset("toy", vocab_size=V, n_layers=2, d_model=32, n_heads=2,
                                                ffn_dim=64))
    proc = trainer.setup_distributed()
    try:
        with pytest.raises(KeyboardInterrupt):
            trainer.export_model(model, out / "final", proc)
    finally:
        trainer.cleanup_distributed()
    monkeypatch.undo()
    for name, tensor in final_weights(out).items():  # the earlier model is intact
        assert torch.equal(tensor, good[name]), name

    # a NaN loss: the step raises and leaves the weights as they were
    proc = trainer.setup_distributed()
    try:
        wrapped = trainer.wrap_model(model, proc)
        before = {k: v.clone() for k, v in trainer.unwrap(wrapped).state_dict().items()}
        optimizer = torch.optim.AdamW(wrapped.parameters(), lr=1e-3)
        batch = {"tokens": torch.zeros(1, 8, dtype=torch.long),
                 "targets": torch.zeros(1, 8, dtype=torch.long)}
        nan_loss = lambda m, b: (m(b["tokens"], b["targets"])[1] * float("nan"), 8)  # noqa: E731
        with pytest.raises(FloatingPointError, match="non-finite gradient"):
            trainer.train_step(wrapped, optimizer, ListData([batch]), nan_loss, 1, 1.0, proc)
        for k, v in trainer.unwrap(wrapped).state_dict().items():
            assert torch.equal(v, before[k]), k
    finally:
        trainer.cleanup_distributed()


def test_init_from_a_consolidated_checkpoint(shards, tmp_path):
    """--init (continued pre-training): the run starts from exactly the given weights."""
    torch.manual_seed(3)
    start = Transformer(ModelConfig.from_preset("toy", vocab_size=V, n_layers=2, d_model=32,
                                                n_heads=2, ffn_dim=64, max_seq_len=64))
    start.save(tmp_path / "start")
    out = tmp_path / "run"
    pretrain.main(run_args(shards, out, "--micro-batch", 2, "--steps", 1, "--lr", 0, "--init",
                           tmp_path / "start"))
    for name, p in final_weights(out).items():
        assert torch.equal(p, start.state_dict()[name]), name


# ----------------------------------------------------------------------------- dry run

def test_dry_run_7b_on_64_gpus(capsys):
    plan = pretrain.main(["--model", "7b", "--world-size", "64", "--parallel", "fsdp", "--dry-run",
                          "--seq-len", "4096", "--micro-batch", "1", "--batch-tokens", "10485760",
                          "--total-tokens", "500e9"])
    L, d, f, vocab, T = 30, 4096, 11008, 102400, 4096  # DeepSeek LLM 7B (arXiv 2401.02954, Table 2)
    per_layer = 4 * d * d + 3 * d * f + 2 * d  # attention, SwiGLU, two RMSNorm gains
    n = 2 * vocab * d + L * per_layer + d
    assert plan["params"] == n and abs(n - 6.91e9) < 0.01e9
    assert plan["accum"] == 10485760 // 4096 // 64
    assert plan["memory"]["AdamW moments (fp32)"] == pytest.approx(8 * n / 64)
    assert 10 < sum(plan["memory"].values()) / 2**30 < 80  # fits an 80 GB GPU with micro-batch 1
    steps = int(500e9) // 10485760
    flops = (6 * (n - vocab * d) + 12 * L * d * T) * steps * 10485760
    assert plan["seconds"] == pytest.approx(flops / (64 * 989e12 * 0.4), rel=1e-6)
    assert 5 < plan["seconds"] / 86400 < 20  # ≈ 10 days on 64 H100s at 40% MFU
    printed = capsys.readouterr().out
    assert f"{n:,} parameters (6.91B" in printed and "days" in printed and "GiB" in printed


def test_fsdp_mixed_precision_keeps_rope_tables_fp32(one_process):
    """Under FSDP2's bf16 mixed precision the blocks compute in bf16 but receive the RoPE tables in fp32 (the
    sampling copy uses fp32 tables; bf16 ones would make training and sampling different functions)."""
    torch.manual_seed(0)
    mc = ModelConfig(vocab_size=V, n_layers=2, d_model=32, n_heads=2, ffn_dim=64, max_seq_len=64)
    model = trainer.wrap_model(Transformer(mc), one_process, "fsdp", mixed_precision=True)
    seen = []
    model.layers[0].register_forward_pre_hook(
        lambda module, args: seen.append((args[0].dtype, args[1].dtype)))
    model(torch.randint(0, V, (2, 16)))
    assert seen == [(torch.bfloat16, torch.float32)]  # residual stream bf16, cos/sin fp32


def test_dist_timeout_reaches_the_process_group(shards, tmp_path, monkeypatch):
    """--dist-timeout sets how long a collective waits for the slowest rank (NCCL's default of 10 minutes is
    shorter than a rank's sampling or relabelling can take between two collectives)."""
    import datetime
    seen = []
    original = trainer.dist.init_process_group

    def spy(*args, **kwargs):
        seen.append(kwargs.get("timeout"))
        return original(*args, **kwargs)
    monkeypatch.setattr(trainer.dist, "init_process_group", spy)
    pretrain.main(run_args(shards, tmp_path / "run", "--micro-batch", 2, "--steps", 1,
                           "--dist-timeout", 5400))
    assert seen == [datetime.timedelta(seconds=5400)]
    pretrain.main(run_args(shards, tmp_path / "default", "--micro-batch", 2, "--steps", 1))
    assert seen[-1] == datetime.timedelta(hours=2)
