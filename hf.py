"""Hugging Face interop: the released models' folders in and out, for the decoder of model.py.

DeepSeek-R1 distils its reasoning into Qwen2.5-Math-1.5B/7B, Qwen2.5-14B/32B, Llama-3.1-8B and
Llama-3.3-70B (arXiv 2501.12948, §2.4), and DeepSeekMath 7B is itself a LlamaForCausalLM folder. These
families are one decoder with three options (model.ModelConfig): q/k/v biases (Qwen2), a head tied to
the embedding (small Qwen2.5, Llama 3.2) and RoPE frequency scaling (Llama 3.1's "llama3"). Reading a
folder is a contract: every config.json field that changes what the network computes is either honoured
or refused with an error naming it, never silently dropped (a RoPE θ read from the wrong key gives a
model that runs, and is wrong).

  config.json            <-> ModelConfig            config_from_hf / config_to_hf (both RoPE spellings)
  *.safetensors (+index) <-> state dict, our names  read_hf_state_dict / save_hf (the `safetensors` package)
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from model import ModelConfig

# ----------------------------------------------------------------------------- config.json

# architecture -> whether its q/k/v projections carry biases. Llama's depend on `attention_bias`
# (which also puts one on o_proj, not implemented here: refused); Qwen2's always do.
FAMILIES = {"LlamaForCausalLM": False, "Qwen2ForCausalLM": True}
ROPE_KEYS = {  # rope_type -> the keys its scaling needs (model.scale_frequencies)
    "default": set(),
    "linear": {"factor"},
    "llama3": {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"},
}
# fields that must hold this value (what our decoder computes), else the folder is refused
REQUIRED = {"hidden_act": "silu", "mlp_bias": False, "attention_dropout": 0.0, "use_sliding_window": False,
            "use_mrope": False, "partial_rotary_factor": 1.0, "quantization_config": None}
# fields that do not change the function of the network: ids the tokenizer handles, bookkeeping,
# initialisation, and the sliding-window sizes that only act with use_sliding_window (refused above)
NO_EFFECT = {"architectures", "model_type", "bos_token_id", "eos_token_id", "pad_token_id", "dtype",
             "torch_dtype", "initializer_range", "transformers_version", "use_cache", "_name_or_path",
             "sliding_window", "max_window_layers", "pretraining_tp"}
HONOURED = {"vocab_size", "num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads",
            "intermediate_size", "max_position_embeddings", "rms_norm_eps", "rope_theta", "rope_scaling",
            "rope_parameters", "tie_word_embeddings", "attention_bias", "head_dim", "layer_types"}


def config_from_hf(raw: dict, source="config.json") -> ModelConfig:
    """ModelConfig from a Hugging Face config.json (written by transformers 4 or 5); anything this
    decoder does not compute, and any field it does not know, is a ValueError naming the field."""
    arch = (raw.get("architectures") or [None])[0]
    if arch not in FAMILIES:
        raise ValueError(f"{source}: unsupported architectures {raw.get('architectures')}: only "
                         f"{sorted(FAMILIES)} folders can be loaded")
    unknown = sorted(set(raw) - HONOURED - NO_EFFECT - set(REQUIRED))
    if unknown:
        raise ValueError(f"{source}: fields {unknown} are unknown to hf.py; refusing to guess whether they "
                         f"change the model")
    wrong = {k: raw[k] for k, v in REQUIRED.items() if k in raw and raw[k] != v}
    if FAMILIES[arch] is False and raw.get("attention_bias"):
        wrong["attention_bias"] = raw["attention_bias"]  # Llama's bias also sits on o_proj
    if any(kind != "full_attention" for kind in raw.get("layer_types") or []):
        wrong["layer_types"] = sorted(set(raw["layer_types"]))
    heads, d_model = raw["num_attention_heads"], raw["hidden_size"]
    if raw.get("head_dim") not in (None, d_model // heads):
        wrong["head_dim"] = raw["head_dim"]  # a head width other than d_model / heads (Gemma, Qwen3)
    if wrong:
        raise ValueError(f"{source}: unsupported settings {wrong}: model.py's decoder does not compute them")
    theta, scaling = rope_settings(raw, source)
    return ModelConfig(vocab_size=raw["vocab_size"], n_layers=raw["num_hidden_layers"], d_model=d_model,
                       n_heads=heads, n_kv_heads=raw.get("num_key_value_heads"),
                       ffn_dim=raw["intermediate_size"], max_seq_len=raw.get("max_position_embeddings", 4096),
                       rope_theta=theta, norm_eps=raw.get("rms_norm_eps", 1e-6), qkv_bias=FAMILIES[arch],
                       tie_embeddings=bool(raw.get("tie_word_embeddings", False)), rope_scaling=scaling)


def rope_settings(raw: dict, source) -> tuple[float, dict | None]:
    """(θ, scaling) from either spelling: transformers 4's top-level "rope_theta" and "rope_scaling"
    ({"type" or "rope_type", ...}), or transformers 5's "rope_parameters" ({"rope_theta", "rope_type",
    ...}). A folder with both must say the same in both."""
    field = "rope_parameters" if raw.get("rope_parameters") is not None else "rope_scaling"
    if field == "rope_parameters":
        params = dict(raw["rope_parameters"])
        if "rope_theta" not in params:
            raise ValueError(f"{source}: rope_parameters has no rope_theta")
        theta = params.pop("rope_theta")
        if raw.get("rope_theta", theta) != theta or raw.get("rope_scaling") not in (None, raw["rope_parameters"]):
            raise ValueError(f"{source}: rope_parameters disagrees with the top-level rope_theta/rope_scaling")
    else:
        theta, params = raw.get("rope_theta", 10000.0), dict(raw.get("rope_scaling") or {})
    kind = params.pop("rope_type", None) or params.pop("type", None) or "default"
    params.pop("type", None)
    if kind not in ROPE_KEYS:
        raise ValueError(f"{source}: {field}: rope_type {kind!r} is not supported (only {sorted(ROPE_KEYS)})")
    if set(params) != ROPE_KEYS[kind]:
        raise ValueError(f"{source}: {field}: rope_type {kind!r} takes exactly {sorted(ROPE_KEYS[kind])}, got "
                         f"{sorted(params)}")
    return float(theta), ({"rope_type": kind, **params} if kind != "default" else None)


def config_to_hf(c: ModelConfig, dtype: torch.dtype) -> dict:
    """config.json for a ModelConfig: Qwen2ForCausalLM when q/k/v carry biases (only Qwen2 has exactly
    those), else LlamaForCausalLM. RoPE in the transformers-4 spelling, which transformers 5 reads too."""
    arch = "Qwen2ForCausalLM" if c.qkv_bias else "LlamaForCausalLM"
    out = {"architectures": [arch], "model_type": "qwen2" if c.qkv_bias else "llama",
           "vocab_size": c.vocab_size, "hidden_size": c.d_model, "intermediate_size": c.ffn_dim,
           "num_hidden_layers": c.n_layers, "num_attention_heads": c.n_heads,
           "num_key_value_heads": c.n_kv_heads, "max_position_embeddings": c.max_seq_len,
           "rms_norm_eps": c.norm_eps, "rope_theta": c.rope_theta, "rope_scaling": c.rope_scaling,
           "hidden_act": "silu", "tie_word_embeddings": c.tie_embeddings,
           "torch_dtype": str(dtype).removeprefix("torch.")}
    if c.qkv_bias:
        out["use_sliding_window"] = False
    else:
        out |= {"attention_bias": False, "mlp_bias": False}
    return out


# ----------------------------------------------------------------------------- weights
# Our modules map one to one onto Llama's and Qwen2's, and our RoPE uses the same rotate-half layout,
# so no weight is permuted, only renamed.

HF_NAMES = {  # ours -> Hugging Face ("{i}" = layer index)
    "embed.weight": "model.embed_tokens.weight",
    "norm.weight": "model.norm.weight",
    "lm_head.weight": "lm_head.weight",
    "layers.{i}.attn_norm.weight": "model.layers.{i}.input_layernorm.weight",
    "layers.{i}.attn.wq.weight": "model.layers.{i}.self_attn.q_proj.weight",
    "layers.{i}.attn.wk.weight": "model.layers.{i}.self_attn.k_proj.weight",
    "layers.{i}.attn.wv.weight": "model.layers.{i}.self_attn.v_proj.weight",
    "layers.{i}.attn.wq.bias": "model.layers.{i}.self_attn.q_proj.bias",
    "layers.{i}.attn.wk.bias": "model.layers.{i}.self_attn.k_proj.bias",
    "layers.{i}.attn.wv.bias": "model.layers.{i}.self_attn.v_proj.bias",
    "layers.{i}.attn.wo.weight": "model.layers.{i}.self_attn.o_proj.weight",
    "layers.{i}.ffn_norm.weight": "model.layers.{i}.post_attention_layernorm.weight",
    "layers.{i}.ffn.w1.weight": "model.layers.{i}.mlp.gate_proj.weight",
    "layers.{i}.ffn.w3.weight": "model.layers.{i}.mlp.up_proj.weight",
    "layers.{i}.ffn.w2.weight": "model.layers.{i}.mlp.down_proj.weight",
}


def hf_name_map(n_layers: int) -> dict[str, str]:
    out = {}
    for ours, theirs in HF_NAMES.items():
        for i in (range(n_layers) if "{i}" in ours else [None]):
            out[ours.format(i=i)] = theirs.format(i=i)
    return out


def read_hf_state_dict(path) -> dict[str, torch.Tensor]:
    """Our state dict from a Hugging Face folder: every shard memory-mapped by `safetensors`, names
    mapped to ours. A tied head is the embedding (a stored lm_head.weight, which some tied folders
    carry, is not what transformers uses either)."""
    path = Path(path)
    config = config_from_hf(json.loads((path / "config.json").read_text()), path / "config.json")
    index = path / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.is_file() \
        else ["model.safetensors"]
    missing = [f for f in files if not (path / f).is_file()]
    if missing:
        raise FileNotFoundError(f"safetensors shards missing in {path}: {missing}")
    theirs_to_ours = {v: k for k, v in hf_name_map(config.n_layers).items()}
    state = {}
    for f in files:
        try:
            with safe_open(path / f, framework="pt") as shard:
                tensors = {k: shard.get_tensor(k) for k in shard.keys() if "rotary_emb" not in k}
        except SafetensorError as e:
            raise ValueError(f"{path / f}: not a readable safetensors file ({e})") from e
        unknown = sorted(k for k in tensors if k not in theirs_to_ours)
        if unknown:
            raise ValueError(f"unexpected tensors in {path / f}: {unknown[:5]}")
        state.update({theirs_to_ours[k]: v for k, v in tensors.items()})
    if config.tie_embeddings and "embed.weight" in state:
        state["lm_head.weight"] = state["embed.weight"]
    return state


def save_hf(config: ModelConfig, state: dict[str, torch.Tensor], path: Path, max_shard_bytes: int):
    """Write a state dict as a Hugging Face folder, sharded by size with an index. A tied head is not
    written (transformers ties it again from tie_word_embeddings; safetensors refuses shared tensors)."""
    names = hf_name_map(config.n_layers)
    state = {names[k]: v.detach().contiguous().cpu() for k, v in state.items()
             if not (config.tie_embeddings and k == "lm_head.weight")}
    shards, size = [[]], 0
    for name, t in state.items():
        nbytes = t.numel() * t.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    weight_map = {}
    for i, names_i in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({n: state[n] for n in names_i}, path / fname, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(names_i, fname))
    total = sum(t.numel() * t.element_size() for t in state.values())
    (path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
    dtype = next(iter(state.values())).dtype
    (path / "config.json").write_text(json.dumps(config_to_hf(config, dtype), indent=2))
