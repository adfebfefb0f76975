"""Hugging Face model folders in and out (hf.py), with `transformers` as the oracle: tiny random Qwen2
(q/k/v biases, tied head) and Llama 3.x (rope_type llama3, θ 500000) checkpoints written by transformers
itself, in both config spellings (top-level rope_theta/rope_scaling, and transformers 5's
rope_parameters), load with transformers' logits and greedy tokens; our folders load in transformers."""
import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from hf import (checkpoint_config, checkpoint_weights, config_from_hf, is_hf_folder, load_model,  # noqa: E402
                save_hf)
from model import ModelConfig, Transformer  # noqa: E402
from sampler import generate  # noqa: E402

COMMON = dict(vocab_size=61, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-6)
LLAMA3_SCALING = dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                      original_max_position_embeddings=16)  # small, so that the scaling acts on head_dim 8


def qwen2(**changes):
    return transformers.Qwen2Config(**{**COMMON, "tie_word_embeddings": True, "rope_theta": 10000.0,
                                       **changes})


def llama3(**changes):
    # a copy: transformers writes rope_theta into the rope_scaling dict it is given
    return transformers.LlamaConfig(**{**COMMON, "rope_theta": 500000.0, "rope_scaling": dict(LLAMA3_SCALING),
                                       **changes})


def hf_folder(config, folder, legacy=False):
    """A random model of `config` saved by transformers; every tensor random (transformers starts biases
    at 0, which would hide a missing bias). legacy: config.json rewritten in the transformers-4 spelling."""
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    model.save_pretrained(folder)
    if legacy:
        raw = json.loads((folder / "config.json").read_text())
        params = raw.pop("rope_parameters")
        raw["rope_theta"] = params.pop("rope_theta")
        raw["rope_scaling"] = None if params["rope_type"] == "default" else params
        (folder / "config.json").write_text(json.dumps(raw))
    return model


def assert_same_function(ours, theirs, vocab=61):
    tokens = torch.randint(0, vocab, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = theirs(tokens).logits
        got = ours(tokens)[0]
    assert (got - expected).abs().max() < 1e-4
    prompt = tokens[:1, :6]
    greedy = theirs.generate(prompt, max_new_tokens=12, do_sample=False, min_new_tokens=12,
                             pad_token_id=0)[0, 6:].tolist()
    completion, _ = generate(ours, [prompt[0].tolist()], max_new_tokens=12, temperature=0)
    assert completion[0] == greedy


@pytest.mark.parametrize("family,legacy",
                         [(f, legacy) for f in ("qwen2", "llama3") for legacy in (False, True)])
def test_released_families_load_with_transformers_logits_and_greedy_tokens(family, legacy, tmp_path):
    config = qwen2() if family == "qwen2" else llama3()
    theirs = hf_folder(config, tmp_path, legacy)
    raw = json.loads((tmp_path / "config.json").read_text())
    assert ("rope_parameters" in raw) != legacy  # both spellings really are exercised
    ours = load_model(tmp_path).eval()
    c = ours.config
    if family == "qwen2":
        assert c.qkv_bias and c.tie_embeddings and ours.lm_head.weight is ours.embed.weight
    else:
        assert (c.rope_theta, c.rope_scaling["rope_type"], c.qkv_bias) == (500000.0, "llama3", False)
    assert_same_function(ours, theirs)


def test_llama3_scaling_and_theta_matter_in_the_oracle_test(tmp_path):
    """Guard the test above: reading θ 10000 or dropping the scaling (the old loader's silent error)
    gives logits far beyond its 1e-4."""
    theirs = hf_folder(llama3(), tmp_path)
    tokens = torch.arange(40)[None] % 61
    expected = theirs(tokens).logits
    for wrong in ({"rope_scaling": None}, {"rope_theta": 10000.0}):
        model = Transformer(ModelConfig(**{**vars(load_model(tmp_path).config), **wrong}))
        model.load_state_dict(load_model(tmp_path).state_dict())
        with torch.no_grad():
            assert (model(tokens)[0] - expected).abs().max() > 1e-3, wrong


# every config.json field that changes the network, changed: honoured (transformers' logits still equal)
HONOURED = [
    ("rope_theta", qwen2(rope_theta=1234.0)),
    ("rms_norm_eps", llama3(rms_norm_eps=0.3)),
    ("tie_word_embeddings", llama3(tie_word_embeddings=True)),
    ("tie_word_embeddings", qwen2(tie_word_embeddings=False)),
    ("num_key_value_heads", qwen2(num_key_value_heads=4)),
    ("num_key_value_heads", llama3(num_key_value_heads=1)),
    ("rope_scaling linear", llama3(rope_scaling={"rope_type": "linear", "factor": 3.0})),
    ("llama3 factors", llama3(rope_scaling={**LLAMA3_SCALING, "factor": 2.0, "high_freq_factor": 2.0})),
    ("no rope_scaling", llama3(rope_scaling=None)),
    ("head_dim", llama3(head_dim=8)),
    ("vocab_size", qwen2(vocab_size=70)),
    ("num_hidden_layers", qwen2(num_hidden_layers=3)),
    ("hidden_size", llama3(hidden_size=48)),
    ("num_attention_heads", qwen2(num_attention_heads=8, num_key_value_heads=4)),
    ("intermediate_size", llama3(intermediate_size=40)),
    ("max_position_embeddings", llama3(max_position_embeddings=48)),
    ("attention_bias false", llama3(attention_bias=False)),
    ("layer_types full", qwen2(layer_types=["full_attention", "full_attention"])),
]


@pytest.mark.parametrize("name,config", HONOURED, ids=[name for name, _ in HONOURED])
def test_each_honoured_field_matches_transformers(name, config, tmp_path):
    theirs = hf_folder(config, tmp_path)
    ours = load_model(tmp_path).eval()
    c = ours.config
    assert (c.vocab_size, c.n_layers, c.d_model, c.n_heads, c.n_kv_heads, c.ffn_dim, c.max_seq_len) == (
        config.vocab_size, config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
        config.num_key_value_heads, config.intermediate_size, config.max_position_embeddings)
    assert_same_function(ours, theirs)


REFUSED = [  # (field, value): a config.json that says so cannot load, and the error names the field
    ("hidden_act", "gelu"),
    ("attention_bias", True),
    ("mlp_bias", True),
    ("attention_dropout", 0.1),
    ("use_sliding_window", True),
    ("layer_types", ["sliding_attention", "full_attention"]),
    ("head_dim", 16),
    ("quantization_config", {"quant_method": "fp8"}),
    ("partial_rotary_factor", 0.5),
    ("rope_parameters", {"rope_theta": 10000.0, "rope_type": "yarn", "factor": 4.0}),
    ("rope_scaling", {"type": "dynamic", "factor": 2.0}),
    ("rope_scaling", {"rope_type": "llama3", "factor": 8.0}),  # llama3 without its other keys
    ("rope_theta", 999.0),  # disagrees with rope_parameters
    ("sliding_attention_everywhere", True),  # unknown field: refused, not ignored
    ("architectures", ["MixtralForCausalLM"]),
]


@pytest.mark.parametrize("field,value", REFUSED, ids=[f"{f}={v}" for f, v in REFUSED])
def test_each_unsupported_field_is_a_clear_error(field, value, tmp_path):
    hf_folder(llama3(), tmp_path)
    raw = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**raw, field: value}))
    with pytest.raises(ValueError, match=field):
        load_model(tmp_path)


def test_unchanged_fields_of_real_configs_load():
    """The config.json of Qwen2.5-Math-1.5B (as released, transformers 4.37 spelling) maps exactly."""
    raw = {"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
           "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 1536, "initializer_range": 0.02,
           "intermediate_size": 8960, "max_position_embeddings": 4096, "max_window_layers": 21,
           "model_type": "qwen2", "num_attention_heads": 12, "num_hidden_layers": 28,
           "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "sliding_window": 4096,
           "tie_word_embeddings": True, "torch_dtype": "bfloat16", "transformers_version": "4.37.0",
           "use_cache": True, "use_sliding_window": False, "vocab_size": 151936}
    assert config_from_hf(raw) == ModelConfig(vocab_size=151936, n_layers=28, d_model=1536, n_heads=12,
                                              n_kv_heads=2, ffn_dim=8960, max_seq_len=4096, qkv_bias=True,
                                              tie_embeddings=True)


@pytest.mark.parametrize("tie,bias,scaling", [(True, True, None), (False, False, LLAMA3_SCALING),
                                              (True, False, {"rope_type": "linear", "factor": 2.0})])
def test_export_loads_in_transformers_with_the_same_logits_and_tied_stays_tied(tie, bias, scaling, tmp_path):
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=61, n_layers=2, d_model=32, n_heads=4, n_kv_heads=2, ffn_dim=48,
                      max_seq_len=64, rope_theta=500000.0, qkv_bias=bias, tie_embeddings=tie,
                      rope_scaling=scaling)
    ours = Transformer(cfg).eval()
    with torch.no_grad():
        for p in ours.parameters():
            p.normal_(0, 0.3)
    save_hf(ours.config, ours.state_dict(), tmp_path, 20_000)  # several shards
    assert len(list(tmp_path.glob("*.safetensors"))) > 1
    stored = set(json.loads((tmp_path / "model.safetensors.index.json").read_text())["weight_map"])
    assert ("lm_head.weight" in stored) != tie
    theirs = transformers.AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(theirs).__name__ == ("Qwen2ForCausalLM" if bias else "LlamaForCausalLM")
    if tie:
        assert theirs.lm_head.weight.data_ptr() == theirs.model.embed_tokens.weight.data_ptr()
    assert_same_function(ours, theirs)
    back = load_model(tmp_path)
    assert back.config == cfg and (back.lm_head.weight is back.embed.weight) == tie


def test_native_checkpoint_keeps_the_options(tmp_path):
    cfg = ModelConfig(vocab_size=61, n_layers=1, d_model=32, n_heads=4, ffn_dim=48, max_seq_len=64,
                      qkv_bias=True, tie_embeddings=True, rope_scaling=LLAMA3_SCALING)
    model = Transformer(cfg)
    model.save(tmp_path)
    back = load_model(tmp_path, dtype=torch.bfloat16)
    assert back.config == cfg and back.lm_head.weight is back.embed.weight
    assert torch.equal(back.layers[0].attn.wq.bias, model.layers[0].attn.wq.bias.bfloat16())


def test_model_py_reads_its_own_folders_and_hf_py_reads_both(tmp_path):
    """model.py knows only its own checkpoints (hf.py is built on it, not the other way round); hf.py's
    loaders, which every stage uses, read a released folder and one of ours to the same model."""
    theirs = hf_folder(qwen2(), tmp_path / "released")
    with pytest.raises(ValueError, match=r"released/config.json is not one of model.py's .*hf.load_model"):
        Transformer.load(tmp_path / "released")
    released = load_model(tmp_path / "released").eval()
    released.save(tmp_path / "ours")
    assert is_hf_folder(tmp_path / "released") and not is_hf_folder(tmp_path / "ours")
    for name in ("released", "ours"):
        assert checkpoint_config(tmp_path / name) == released.config
        weights = checkpoint_weights(tmp_path / name)
        assert weights.keys() == released.state_dict().keys()
        assert all(torch.equal(weights[k], v) for k, v in released.state_dict().items())
    assert_same_function(load_model(tmp_path / "ours").eval(), theirs)
    with pytest.raises(FileNotFoundError, match="no model checkpoint at"):
        load_model(tmp_path / "nowhere")


def test_missing_or_broken_shards_are_clear_errors(tmp_path):
    hf_folder(qwen2(), tmp_path / "one")
    one = load_model(tmp_path / "one")
    save_hf(one.config, one.state_dict(), tmp_path / "hf", 20_000)
    shard = next((tmp_path / "hf").glob("model-00002-*.safetensors"))
    shard.write_bytes(shard.read_bytes()[:-40])
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_model(tmp_path / "hf")
    shard.unlink()
    with pytest.raises(FileNotFoundError, match="shards missing"):
        load_model(tmp_path / "hf")
    raw = json.loads((tmp_path / "one" / "config.json").read_text())
    (tmp_path / "one" / "config.json").write_text(json.dumps({**raw, "hidden_size": 64}))
    with pytest.raises(ValueError, match="do not match its config"):
        load_model(tmp_path / "one")


def test_tied_head_survives_a_build_on_meta():
    """Trainers build big models on `meta`, then to_empty() + init_weights(): to_empty gives the head a
    Parameter of its own, and init_weights ties it again (else the head would train apart from the
    embedding)."""
    with torch.device("meta"):
        model = Transformer(ModelConfig(vocab_size=61, n_layers=1, d_model=32, n_heads=4, ffn_dim=48,
                                        max_seq_len=64, tie_embeddings=True))
    model.to_empty(device="cpu")
    assert model.lm_head.weight is not model.embed.weight
    model.init_weights()
    assert model.lm_head.weight is model.embed.weight
    assert sum(p.numel() for p in model.parameters()) == model.num_params() < sum(
        v.numel() for v in model.state_dict().values())


def test_a_tied_head_is_counted_in_the_flops():
    """6N counts the matmul parameters: with a tied head the embedding matrix is one, so the tied and the
    untied model do the same matmul work per token (PaLM App. B), while holding V·d fewer parameters."""
    kwargs = dict(vocab_size=61, n_layers=1, d_model=32, n_heads=4, ffn_dim=48, max_seq_len=64)
    tied, untied = (Transformer(ModelConfig(**kwargs, tie_embeddings=t)) for t in (True, False))
    assert untied.num_params() - tied.num_params() == 61 * 32
    assert tied.flops_per_token(64) == untied.flops_per_token(64)


def test_a_reward_model_from_a_tied_model_keeps_its_scalar_head(tmp_path):
    """reward.RewardModel swaps the LM head for Linear(d, 1); a tied config must not tie it back to the
    embedding (scores would silently be the logit of token 0), neither when built nor when loaded."""
    from reward import RewardModel
    cfg = ModelConfig(vocab_size=61, n_layers=1, d_model=32, n_heads=4, ffn_dim=48, max_seq_len=64,
                      tie_embeddings=True, qkv_bias=True)
    rm = RewardModel(cfg)
    assert rm.decoder.lm_head.weight.shape == (1, 32)
    assert rm(torch.randint(0, 61, (2, 5))).shape == (2, 5)
    rm.save(tmp_path)
    back = RewardModel.load(tmp_path)
    assert back.config == cfg and back.decoder.lm_head.weight.shape == (1, 32)
    lm_state = Transformer(cfg).state_dict()  # a tied LM's state carries lm_head.weight as an alias
    decoder_state, fresh = RewardModel.from_lm_state(lm_state)
    assert fresh == {"decoder.lm_head.weight", "decoder.lm_head.bias"}
    assert "decoder.lm_head.weight" not in decoder_state
