"""Tests of sampler.py against independent computations: a naive decoder that re-runs the full forward for
every token, Transformer.token_logprobs, a list-scheduling simulation of the slots, the memory rule by
hand."""
import shutil

import pytest
import torch

import sampler
from model import ModelConfig, Transformer
from sampler import generate, kv_bytes_per_token, sample_next, slots_for_memory, uniforms

PROMPTS = [[5, 6, 7], [1, 2, 3, 4, 5, 6, 7, 8, 9], [42], [3, 3, 90, 12, 7]]


def tiny(**kw):
    torch.manual_seed(0)
    # grouped-query attention, as a real config may
    cfg = ModelConfig(**{"vocab_size": 97, "n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2,
                         "ffn_dim": 96, "max_seq_len": 64, **kw})
    return Transformer(cfg).eval()


def naive_greedy(m, prompt, n, stop_ids=()):
    """Reference decoder: the full forward over the whole sequence for every new token."""
    seq = list(prompt)
    for _ in range(min(n, m.config.max_seq_len - len(prompt))):
        nxt = int(m(torch.tensor([seq]))[0][0, -1].argmax())
        seq.append(nxt)
        if nxt in stop_ids:
            break
    return seq[len(prompt):]


@pytest.mark.parametrize("slots", [1, 2, 5])
def test_greedy_equals_the_naive_decoder_at_any_slot_count(slots):
    m = tiny()
    completions, _ = generate(m, PROMPTS, 12, temperature=0, group_size=2, slots=slots)
    assert completions == [naive_greedy(m, p, 12) for p in PROMPTS for _ in range(2)]


def test_each_row_stops_at_its_own_stop_id_and_at_the_context():
    m = tiny()
    free, _ = generate(m, PROMPTS, 12, temperature=0)
    stop = free[0][3]  # a token row 0 emits at step 3: make it the stop id
    completions, _ = generate(m, PROMPTS, 12, temperature=0, stop_ids=(stop,), slots=2)
    assert completions == [naive_greedy(m, p, 12, stop_ids=(stop,)) for p in PROMPTS]
    assert completions[0][-1] == stop and len(completions[0]) <= 4
    long_prompt = list(range(1, 60))  # 59 tokens in a context of 64: 5 new tokens at most
    completions, _ = generate(m, [long_prompt, [1]], 12, temperature=0)
    assert completions == [naive_greedy(m, long_prompt, 12), naive_greedy(m, [1], 12)]
    assert len(completions[0]) == 5 and len(completions[1]) == 12


@pytest.mark.parametrize("temperature,top_p", [(0.0, 1.0), (0.7, 1.0), (1.3, 1.0), (1.0, 0.9)])
def test_logprobs_equal_token_logprobs_at_the_sampling_temperature(temperature, top_p):
    m = tiny()
    completions, logprobs = generate(m, PROMPTS, 10, temperature, top_p, group_size=3, slots=4,
                                     generator=torch.Generator().manual_seed(3))
    for row, (c, lp) in enumerate(zip(completions, logprobs)):
        p = PROMPTS[row // 3]
        ref = m.token_logprobs(torch.tensor([p + c]), temperature=temperature)[0, len(p) - 1:]
        assert (torch.tensor(lp) - ref).abs().max() <= 1e-5


def test_a_seed_gives_the_same_samples_at_any_slot_count_and_look_interval():
    """Counter-based draws: token t of row r depends on (seed, r, t) only, not on the slot or the refills."""
    m = tiny()
    run = lambda seed, slots, sync_every=1: generate(  # noqa: E731
        m, PROMPTS, 15, temperature=1.0, group_size=3, slots=slots, stop_ids=(7, 11), sync_every=sync_every,
        generator=torch.Generator().manual_seed(seed))
    reference, reference_lp = run(7, 12)
    for slots, every in [(1, 1), (5, 1), (5, 4), (12, 3)]:
        completions, logprobs = run(7, slots, every)
        assert completions == reference  # the log-probs round differently in other batch shapes
        assert torch.allclose(torch.tensor(sum(logprobs, [])), torch.tensor(sum(reference_lp, [])), atol=1e-5)
    assert run(8, 12)[0] != reference
    assert len({tuple(c) for c in reference[:3]}) > 1  # the G outputs of a prompt differ


def test_each_prompt_is_prefilled_once_for_its_group(monkeypatch):
    m, prefilled = tiny(), []
    real = sampler.prefill
    monkeypatch.setattr(sampler, "prefill",
                        lambda model, prompts: prefilled.extend(prompts) or real(model, prompts))
    # groups split across refills
    completions, _ = generate(m, PROMPTS, 6, temperature=0, group_size=4, slots=3)
    assert sorted(prefilled) == sorted(PROMPTS)
    assert completions == [naive_greedy(m, p, 6) for p in PROMPTS for _ in range(4)]
    prefilled.clear()  # equal prompts given one by one (evaluate.py's --n samples) share one prefill too
    copies = [p for p in PROMPTS for _ in range(3)] + PROMPTS[:1]
    assert generate(m, copies, 6, temperature=0, slots=4)[0] == [naive_greedy(m, p, 6) for p in copies]
    assert sorted(prefilled) == sorted(PROMPTS)


def test_a_finished_rows_slot_is_refilled_at_once(monkeypatch):
    """The number of decode steps equals list scheduling's makespan: each row, in input order, takes the
    first slot to come free and holds it for (its tokens - 1) steps (the first token comes from the
    prefill; a row done at once still holds its slot for one step)."""
    m = tiny()
    lengths_by_stop = [len(c) for c in generate(m, PROMPTS * 3, 16, temperature=1.0, stop_ids=(7, 11, 20, 31),
                                                  generator=torch.Generator().manual_seed(1))[0]]
    assert len(set(lengths_by_stop)) > 3  # rows of many lengths
    steps = []
    real_step = sampler.Slots.step
    monkeypatch.setattr(sampler.Slots, "step",
                        lambda self, width, n: steps.append(n) or real_step(self, width, n))
    for slots in (2, 5):
        steps.clear()
        generate(m, PROMPTS * 3, 16, temperature=1.0, stop_ids=(7, 11, 20, 31), slots=slots,
                 generator=torch.Generator().manual_seed(1))
        free_at = [0] * slots
        for n in lengths_by_stop:
            s = min(range(slots), key=lambda i: free_at[i])
            free_at[s] += max(n - 1, 1)
        assert len(steps) == max(free_at)
        assert len(steps) < sum(max(n - 1, 1) for n in lengths_by_stop)  # the slots did work side by side


def test_rows_end_at_the_first_token_that_completes_a_stop_string():
    m = tiny()
    decode = lambda ids: "".join(chr(ord("a") + i % 26) for i in ids)  # noqa: E731
    free, _ = generate(m, PROMPTS, 14, temperature=0)
    stop = decode(free[1][4:6])  # two characters row 1 writes at its steps 4-5
    stopped, _ = generate(m, PROMPTS, 14, temperature=0, stop_strings=(stop,), decode=decode, slots=3)
    for full, cut in zip(free, stopped):
        text = decode(full)
        if stop in text:
            end = text.index(stop) + len(stop)  # one character per token here
            assert cut == full[:end]
        else:
            assert cut == full
    assert len(stopped[1]) <= 6


def test_the_slot_count_follows_the_memory_rule(monkeypatch):
    m = tiny()
    c = m.config
    # fp32
    assert kv_bytes_per_token(m.config, 4) == 2 * c.n_layers * c.n_kv_heads * (c.d_model // c.n_heads) * 4
    width = 30  # tokens a slot holds
    monkeypatch.setattr(sampler, "CPU_KV_BUDGET", 7 * kv_bytes_per_token(m.config, 4) * width + 5)
    assert slots_for_memory(m, width, rows=100) == 7 and slots_for_memory(m, width, rows=3) == 3
    made = []
    real_init = sampler.Slots.__init__
    monkeypatch.setattr(sampler.Slots, "__init__", lambda self, model, n, *a: made.append(n) or real_init(
        self, model, n, *a))
    generate(m, [[1] * 10], 20, temperature=0, group_size=16)  # width 10 + 20 = 30
    assert made == [7]


def test_top_p_never_samples_outside_the_nucleus():
    # probabilities 0.5, 0.3, 0.15, 0.05: with top_p 0.8 the nucleus is {0, 1}
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log().expand(4000, 4)
    u = uniforms(torch.tensor(0), torch.arange(4000), torch.zeros(4000, dtype=torch.long))
    tok, _ = sample_next(logits, 1.0, 0.8, u)
    assert set(tok.tolist()) == {0, 1}
    assert abs((tok == 0).float().mean().item() - 0.5 / 0.8) < 0.03  # renormalised inside the nucleus
    tok, _ = sample_next(logits, 1.0, 0.4, u)
    assert set(tok.tolist()) == {0}  # the top token alone already reaches 0.4
    tok, _ = sample_next(logits, 1.0, 1.0, u)
    freq = torch.bincount(tok, minlength=4).float() / 4000
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.15, 0.05]), atol=0.03)


def test_uniforms_are_uniform_and_depend_on_seed_row_and_index():
    rows, index = torch.arange(200).repeat_interleave(100), torch.arange(100).repeat(200)
    u = uniforms(torch.tensor(5), rows, index)
    assert 0 <= u.min() and u.max() < 1
    counts = torch.histc(u, bins=10, min=0, max=1)
    assert ((counts - 2000).abs() < 200).all()  # 20,000 draws, ten bins: ±4.5 standard deviations
    assert len(set(u.tolist())) > 19_900  # distinct (row, index) pairs get distinct draws
    assert not torch.equal(u, uniforms(torch.tensor(6), rows, index))


def test_bad_inputs_give_clear_errors():
    m = tiny()
    with pytest.raises(ValueError, match="non-empty"):
        generate(m, [], 4)
    with pytest.raises(ValueError, match="non-empty"):
        generate(m, [[1], []], 4)
    with pytest.raises(ValueError, match="no room"):
        generate(m, [[1] * 64], 4)
    with pytest.raises(ValueError, match="token ids"):
        generate(m, [[1, 97]], 4)
    with pytest.raises(ValueError, match="need `decode`"):
        generate(m, [[1]], 4, stop_strings=("x",))
    with pytest.raises(ValueError, match="at least 1"):
        generate(m, [[1]], 4, slots=0)


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="torch.compile on the CPU (inductor) needs a C compiler")
def test_the_compiled_step_decodes_the_same_tokens():
    m = tiny(n_layers=1, max_seq_len=24)
    eager = generate(m, PROMPTS[:3], 6, temperature=1.0, slots=2, generator=torch.Generator().manual_seed(0))
    compiled = generate(m, PROMPTS[:3], 6, temperature=1.0, slots=2, compile=True,
                        generator=torch.Generator().manual_seed(0))
    assert compiled[0] == eager[0]
    assert torch.allclose(torch.tensor(sum(compiled[1], [])), torch.tensor(sum(eager[1], [])), atol=1e-5)
