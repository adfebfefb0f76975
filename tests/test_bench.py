"""bench.py: one run of every CPU section on tiny sizes, checked for its rows and for ratios that are
computed from baselines of the same run (no timing assertions: speed targets are figures the benchmark
prints, recorded in BENCHMARKS.md), and the GPU section's code path exercised on the CPU."""
import gzip
import json
import math

import pytest
import torch

import bench
from model import ModelConfig, Transformer, rope_cache
from sampler import generate
from trainer import TrainConfig, cleanup_distributed, setup_distributed

TINY = ["--quick", "--no-compile", "--threads", "1", "--workers", "2", "--repeats", "1", "--seq-len", "64",
        "--new-tokens", "32", "--batch-sizes", "1,4", "--tok-mb", "0.3", "--tok-vocab", "512", "--vocab",
        "300", "--grpo-questions", "2", "--grpo-group", "4", "--grpo-new-tokens", "8", "--grpo-steps", "2",
        "--rollout-questions", "8", "--rollout-group", "4", "--rollout-slots", "8", "--logit-tokens", "1024",
        "--logit-d-model", "16"]
STAGES = ["recall (fastText scoring)", "MinHash dedup", "decontamination", "tokenization"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    world = bench.toy_world(root / "world", pages=600)  # made here so the test can read the pool itself
    rows = bench.main(TINY + ["--world", str(world), "--out", str(root / "bench.jsonl")])
    return {"rows": rows, "by_name": {r.name: r for r in rows}, "root": root, "world": world}


def test_every_section_gives_its_rows(run):
    rows = run["rows"]
    assert [r.section for r in rows[:2]] == ["machine", "training"]
    assert {r.section for r in rows} == {"machine", "training", "generation", "corpus", "tokenizer", "grpo",
                                         "logits"}
    names = set(run["by_name"])
    assert {"toy naive decoder, 32 new tokens", "toy KV cache, 32 new tokens", "toy KV cache, batch 1",
            "toy KV cache, batch 4", "toy eager, 4×64 tokens"} <= names
    assert {f"{stage}, {w}" for stage in STAGES for w in ("1 worker", "2 workers")} <= names
    for r in rows:
        assert math.isfinite(r.value) and r.value >= 0, r
        assert r.ratio is None or (math.isfinite(r.ratio) and r.ratio >= 0), r
        assert (r.ratio is None) == (r.baseline == ""), r  # a ratio always says what it divides by


def test_training_mfu_is_tokens_per_second_times_the_flop_count_over_the_measured_peak(run):
    peak = run["rows"][0].value * 1e9
    row = run["by_name"]["toy eager, 4×64 tokens"]
    m = Transformer(ModelConfig.from_preset("toy", max_seq_len=64))
    c = m.config
    flops = 6 * (m.num_params() - c.vocab_size * c.d_model) + 12 * c.n_layers * c.d_model * 64  # PaLM App. B
    assert row.extra["flops_per_token"] == flops
    assert row.ratio == pytest.approx(row.value * flops / peak, rel=1e-9)
    assert 0 < row.ratio < 1.5  # far above the matmul peak would mean a wrong FLOP count, not a fast step


def test_generation_ratios_and_the_kv_cache_decodes_the_naive_decoders_tokens(run):
    by = run["by_name"]
    naive, kv = by["toy naive decoder, 32 new tokens"], by["toy KV cache, 32 new tokens"]
    assert kv.extra["same_tokens"] is True and kv.baseline == "naive decoder"
    assert kv.ratio == pytest.approx(kv.value / naive.value)
    b1, b4 = by["toy KV cache, batch 1"], by["toy KV cache, batch 4"]
    assert b1.ratio == 1.0 and b4.ratio == pytest.approx(b4.value / b1.value)
    rollout = "toy GRPO rollout, 8×G 4, ≤32 tokens, 8 slots"
    static, engine = by[f"{rollout}: static"], by[f"{rollout}: sampler.py"]
    assert engine.baseline == "static" and engine.ratio == pytest.approx(engine.value / static.value)
    evaluation = "toy evaluation, 64 prompts of 192 tokens, ≤32 tokens, stop string"
    static = by[f"{evaluation}: static, decoded/useful"]
    engine = by[f"{evaluation}: sampler.py, decoded/useful"]
    assert engine.ratio == pytest.approx(engine.value / static.value)
    assert 1 <= engine.value < static.value  # the static sampler decodes past the stop string, the engine not


def test_the_static_baseline_and_the_engine_decode_the_same_greedy_tokens():
    """bench.py's baseline is the sampler sampler.py replaced: greedy, both give the naive decoder's
    tokens."""
    torch.manual_seed(0)
    model = Transformer(ModelConfig.from_preset("toy", max_seq_len=64)).eval()
    prompts = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
    static, decoded = bench.static_generate(model, prompts, 12, 0.0, (), None, batch=2)
    assert static == generate(model, prompts, 12, temperature=0)[0]
    assert static[0] == bench.naive_decode(model, prompts[0], 12) and decoded == 3 * 12


def test_corpus_rows_count_the_pool_and_give_the_speed_up_over_one_worker(run):
    # an independent count of what each stage reads: every non-empty line of the pool, and the UTF-8 bytes of
    # the texts of the well-formed pages (toy_data.py plants broken JSON, bad UTF-8, empty and missing text)
    lines = [line for line in gzip.open(run["world"] / "pool.jsonl.gz").read().split(b"\n") if line.strip()]
    nbytes = 0
    for line in lines:
        try:
            rec = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(rec.get("text"), str) and rec["text"].strip() and rec.get("url"):
            nbytes += len(rec["text"].encode())
    by = run["by_name"]
    for stage in STAGES:
        one, two = by[f"{stage}, 1 worker"], by[f"{stage}, 2 workers"]
        for r in (one, two):
            assert r.extra["documents"] == len(lines)
            assert r.extra["mb"] == pytest.approx(nbytes / 1e6, abs=1e-3)
            assert r.value == pytest.approx(len(lines) / r.extra["seconds"])
            assert r.note == f"{nbytes / 1e6 / r.extra['seconds']:.2f} MB/s"
        assert one.ratio is None and two.baseline == "1 worker"
        assert two.ratio == pytest.approx(two.value / one.value)


def test_tokenizer_training_row(run):
    (row,) = [r for r in run["rows"] if r.section == "tokenizer"]
    assert row.extra["vocab_size"] == 512 and row.extra["mb"] == pytest.approx(0.3, abs=0.02)
    # training starts with the pre-tokenization pass, so it can only take longer than that pass alone
    assert 0 < row.ratio <= 1
    assert row.ratio == pytest.approx(row.extra["pretokenize_s"] / row.extra["train_s"])


def test_grpo_phases_are_fractions_of_the_step_that_add_up(run):
    rows = [r for r in run["rows"] if r.section == "grpo"]
    step, parts = rows[0], rows[1:]
    assert step.name == "GRPO step, 2 questions × G=4" and step.value == step.extra["t_step"]
    assert [r.name for r in parts[:-1]] == list(bench.GRPO_PHASES.values())
    assert all(r.baseline == "GRPO step" and 0 <= r.ratio <= 1 for r in parts)
    assert sum(r.ratio for r in parts) == pytest.approx(1.0)
    assert sum(r.value for r in parts) == pytest.approx(step.value)
    assert step.extra["response_len"] <= 8 and parts[0].ratio > 0  # the rollout sampled something


def test_every_row_is_written_to_the_jsonl_with_the_host(run):
    records = [json.loads(line) for line in (run["root"] / "bench.jsonl").read_text().splitlines()]
    assert [(r["section"], r["name"], r["value"]) for r in records] == \
        [(r.section, r.name, r.value) for r in run["rows"]]
    assert all(r["torch"] == torch.__version__ and r["threads"] == 1 and r["cpu"] for r in records)


def test_gpu_section_code_path_on_the_cpu():
    """What bench_gpu runs, at toy size: pretrain.py's FSDP2 bf16 step with activation checkpointing off
    and on, and the decoding model materialised from `meta` in bf16 with fp32 RoPE tables."""
    d = setup_distributed()
    try:
        cfg = ModelConfig.from_preset("toy", max_seq_len=32)
        for ac in (False, True):
            tc = TrainConfig(parallel="fsdp", dtype="bf16", activation_checkpointing=ac)
            rate, flops = bench.train_rate(cfg, d, tc, batch=2, seq=32, repeats=1)
            assert rate > 0 and flops == Transformer(cfg).flops_per_token(32)
    finally:
        cleanup_distributed()
    model = bench.decode_model(cfg, torch.device("cpu"))
    assert model.lm_head.weight.dtype == torch.bfloat16 and not any(p.is_meta for p in model.parameters())
    cos, sin = rope_cache(cfg.head_dim, cfg.max_seq_len, cfg.rope_theta)
    assert torch.equal(model.rope_cos, cos) and torch.equal(model.rope_sin, sin)
    completions, _ = generate(model, [[1, 2, 3]], 4, temperature=0)
    assert len(completions[0]) == 4


def test_bad_flags_give_clear_errors(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--only", "training,bogus"])
    assert "unknown sections ['bogus']" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="needs a CUDA device"):
            bench.main(["--gpu"])


def test_logits_rows_compare_the_chunked_peak_with_the_whole_logits_peak(run):
    """At 1,024 positions and V = 102,400 the whole fp32 logits alone take 400 MiB; chunked (512 positions at
    a time) the loss keeps far less. The ratio is the whole peak over the chunked one, from the same run."""
    whole, chunked = (run["by_name"][f"loss + backward, T=1024, V=102,400, d=16: {k}"]
                      for k in ("whole logits", "chunked"))
    assert whole.value > 1024 * 102_400 * 4 / 2**20                       # at least the logits themselves
    assert chunked.ratio == pytest.approx(whole.value / chunked.value, rel=1e-6) and chunked.ratio > 1.2
