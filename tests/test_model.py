"""Tests of model.py against independent computations (naive decoders, analytic counts)."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

from model import PRESETS, ModelConfig, Transformer, apply_rope, rope_cache


def tiny(**kw):
    torch.manual_seed(0)
    cfg = ModelConfig.from_preset("toy", **{"vocab_size": 97, "n_layers": 2, "d_model": 64,
                                            "n_heads": 4, "ffn_dim": 96, "max_seq_len": 64, **kw})
    return Transformer(cfg).eval()


def analytic_params(c: ModelConfig) -> int:
    """Embedding + untied head, per layer: q,o (d×d) + k,v (d × kv·hd) + 3 FFN matrices + 2 norms; final
    norm."""
    kv = c.n_kv_heads * (c.d_model // c.n_heads)
    per_layer = 2 * c.d_model * c.d_model + 2 * c.d_model * kv + 3 * c.d_model * c.ffn_dim + 2 * c.d_model
    return 2 * c.vocab_size * c.d_model + c.n_layers * per_layer + c.d_model


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_param_count_matches_formula(name):
    cfg = ModelConfig.from_preset(name)
    with torch.device("meta"):
        m = Transformer(cfg)
    assert m.num_params() == analytic_params(cfg)


def test_7b_preset_size_and_paper_shape():
    cfg = ModelConfig.from_preset("7b")
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.ffn_dim, cfg.max_seq_len, cfg.vocab_size) == \
        (30, 4096, 32, 11008, 4096, 102400)
    assert (cfg.rope_theta, cfg.norm_eps) == (10000.0, 1e-6)
    with torch.device("meta"):
        n = Transformer(cfg).num_params()
    assert abs(n - 6.91e9) / 6.91e9 < 0.005
    assert analytic_params(ModelConfig.from_preset("7b", n_kv_heads=8)) < n  # GQA shrinks k, v


def test_gqa_runs_and_is_causal():
    m = tiny(n_kv_heads=2)
    x = torch.randint(0, 97, (2, 12))
    y = x.clone()
    y[:, 7:] = torch.randint(0, 97, (2, 5))
    assert torch.allclose(m(x)[0][:, :7], m(y)[0][:, :7], atol=1e-5)


def test_causality():
    m = tiny()
    x = torch.randint(0, 97, (3, 20))
    for t in (0, 5, 18):
        y = x.clone()
        y[:, t + 1:] = torch.randint(0, 97, y[:, t + 1:].shape)
        assert torch.allclose(m(x)[0][:, :t + 1], m(y)[0][:, :t + 1], atol=1e-5)
        assert not torch.allclose(m(x)[0][:, t + 1:], m(y)[0][:, t + 1:])


def test_rope_scores_depend_only_on_relative_position():
    cos, sin = rope_cache(16, 64, 10000.0)
    torch.manual_seed(1)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)

    def score(i, j):
        qi = apply_rope(q, cos[None, [i]], sin[None, [i]])
        kj = apply_rope(k, cos[None, [j]], sin[None, [j]])
        return (qi * kj).sum()
    assert torch.allclose(score(3, 1), score(40, 38), atol=1e-4)
    assert torch.allclose(score(10, 10), score(0, 0), atol=1e-4)
    assert not torch.allclose(score(3, 1), score(3, 2), atol=1e-4)


def test_loss_is_masked_mean_cross_entropy():
    m = tiny()
    x = torch.randint(0, 97, (2, 10))
    targets = torch.randint(0, 97, (2, 10))
    targets[0, :4] = -100
    _, loss = m(x, targets)
    logits, _ = m(x)
    keep = targets != -100
    ref = F.cross_entropy(logits[keep], targets[keep])
    assert torch.allclose(loss, ref, atol=1e-5)
    _, all_masked = m(x, torch.full_like(x, -100))
    assert all_masked.item() == 0.0  # never NaN


def test_packed_rows_equal_separate_documents():
    m = tiny()
    a, b = torch.randint(0, 97, (1, 7)), torch.randint(0, 97, (1, 9))
    packed = torch.cat([a, b], 1)
    doc_ids = torch.tensor([[0] * 7 + [1] * 9])
    logits, _ = m(packed, doc_ids=doc_ids)
    assert torch.allclose(logits[:, :7], m(a)[0], atol=1e-5)
    assert torch.allclose(logits[:, 7:], m(b)[0], atol=1e-5)


def test_save_load_round_trip(tmp_path):
    m = tiny()
    m.save(tmp_path / "ck", tokenizer="tok_dir")
    r = Transformer.load(tmp_path / "ck")
    x = torch.randint(0, 97, (2, 11))
    assert torch.equal(m(x)[0], r(x)[0])
    assert json.loads((tmp_path / "ck" / "config.json").read_text())["tokenizer"] == "tok_dir"


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model checkpoint"):
        Transformer.load(tmp_path / "missing")
    tiny().save(tmp_path / "ck")
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    cfg["model"]["d_model"] = 128
    (tmp_path / "ck" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="do not match its config"):
        Transformer.load(tmp_path / "ck")


def test_bad_inputs_give_clear_errors():
    m = tiny()
    with pytest.raises(ValueError, match="token ids"):
        m(torch.tensor([[1, 97]]))
    with pytest.raises(ValueError, match="exceeds the context"):
        m(torch.zeros(1, 65, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown model preset"):
        ModelConfig.from_preset("13b")


def test_flops_per_token_formula():
    m = tiny()
    c = m.config
    n = m.num_params() - c.vocab_size * c.d_model
    assert m.flops_per_token(32) == 6 * n + 12 * c.n_layers * c.d_model * 32


def test_toy_model_overfits_one_batch():
    m = tiny().train()
    torch.manual_seed(0)
    x = torch.randint(0, 97, (4, 24))
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        _, loss = m(x[:, :-1], x[:, 1:])
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > math.log(97) - 0.5 and loss.item() < 0.1


def test_chunked_logprobs_and_loss_equal_the_whole_computation(monkeypatch):
    """Logits made LOGIT_CHUNK positions at a time (and recomputed in backward) give the values and gradients
    of the whole [B, T, V] computation, at a temperature too."""
    import model as model_module
    m = tiny()
    x = torch.randint(0, 97, (3, 11))
    targets = torch.randint(0, 97, (3, 11))
    targets[1, :5] = -100
    logits, _ = m(x)

    def whole(temperature):
        lp = torch.log_softmax(logits.float() / temperature, -1)
        lp = lp.gather(-1, targets.clamp(min=0)[..., None])[..., 0]
        return lp.masked_fill(targets == -100, 0.0)

    for chunk in (1, 4, 7, 1024):  # chunks that split rows, that cross rows, and one chunk
        monkeypatch.setattr(model_module, "LOGIT_CHUNK", chunk)
        for temperature in (1.0, 0.7):
            _, lp = m(x, targets, temperature=temperature, reduce=False)
            assert torch.allclose(lp, whole(temperature), atol=1e-6)
        m.zero_grad()
        _, loss = m(x, targets)
        loss.backward()
        grads = {k: p.grad.clone() for k, p in m.named_parameters()}
        m.zero_grad()
        F.cross_entropy(m(x)[0].flatten(0, 1), targets.flatten(), ignore_index=-100).backward()
        for k, p in m.named_parameters():
            assert torch.allclose(grads[k], p.grad, atol=1e-6), (chunk, k)
    full = torch.cat([x, torch.randint(0, 97, (3, 1))], 1)
    expected = torch.log_softmax(m(full)[0][:, :-1].float() / 0.7, -1).gather(-1, full[:, 1:, None])[..., 0]
    assert torch.allclose(m.token_logprobs(full, 0.7), expected, atol=1e-6)


@pytest.mark.parametrize("config, weights, message", [
    ('{"model": {', None, "config.json is not valid JSON"),
    (b"\xff\xfe", None, "config.json is not valid JSON"),
    ("[1, 2]", None, "holds a list"),
    (None, b"", "model.pt is unreadable"),
    (None, b"PK\x03\x04 half a zip", "model.pt is unreadable"),
])
def test_broken_checkpoints_give_errors_naming_the_file(tmp_path, config, weights, message):
    m = tiny()
    m.save(tmp_path)
    if config is not None:
        (tmp_path / "config.json").write_bytes(config if isinstance(config, bytes) else config.encode())
    if weights is not None:
        (tmp_path / "model.pt").write_bytes(weights)
    with pytest.raises(ValueError, match=message):
        Transformer.load(tmp_path)
