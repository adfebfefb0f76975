"""The decoder of DeepSeek LLM / DeepSeekMath, from scratch, in plain PyTorch.

DeepSeekMath-Base 7B is initialised from DeepSeek-Coder-Base-v1.5 7B, whose architecture is
that of DeepSeek LLM 7B (arXiv 2401.02954, §2.2): a LLaMA-style decoder-only Transformer with
  - pre-norm blocks: x + Attn(RMSNorm(x)), then x + FFN(RMSNorm(x))   (RMSNorm eps 1e-6)
  - rotary position embeddings (RoPE, theta 10000) on queries and keys
  - SwiGLU feed-forward, no biases anywhere, untied input embedding and output head
7B: 30 layers, d_model 4096, 32 heads, FFN 11008, context 4096, vocabulary 102400.

Read top to bottom: config -> building blocks (RMSNorm, RoPE, attention, SwiGLU) -> the
Transformer (forward, log-probs) -> the KV-cache forward sampler.py decodes with -> checkpoints.
This file imports nothing from the project so it can be read, and used, alone.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


# ----------------------------------------------------------------------------- config

@dataclass
class ModelConfig:
    vocab_size: int = 102400
    n_layers: int = 30
    d_model: int = 4096
    n_heads: int = 32
    n_kv_heads: int | None = None  # grouped-query attention when < n_heads; None = n_heads (DeepSeek 7B)
    ffn_dim: int = 11008
    max_seq_len: int = 4096
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6

    def __post_init__(self):
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        if self.d_model % self.n_heads or self.n_heads % self.n_kv_heads:
            raise ValueError(f"d_model ({self.d_model}) must divide by n_heads ({self.n_heads}), "
                             f"and n_heads by n_kv_heads ({self.n_kv_heads})")
        if (self.d_model // self.n_heads) % 2:
            raise ValueError("head dimension must be even for RoPE")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "ModelConfig":
        if name not in PRESETS:
            raise ValueError(f"unknown model preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}})


# `toy`: a training step well under a second on a laptop CPU. `small`: ~100M, one GPU.
# `1.3b`: the paper's ablation model (§2.3). `7b`: DeepSeekMath 7B (≈6.91e9 parameters).
PRESETS = {
    "toy":   dict(vocab_size=1024, n_layers=4, d_model=128, n_heads=4, ffn_dim=352, max_seq_len=512),
    "small": dict(vocab_size=16384, n_layers=12, d_model=768, n_heads=12, ffn_dim=2048, max_seq_len=1024),
    "1.3b":  dict(vocab_size=102400, n_layers=24, d_model=2048, n_heads=16, ffn_dim=5504, max_seq_len=4096),
    "7b":    dict(vocab_size=102400, n_layers=30, d_model=4096, n_heads=32, ffn_dim=11008, max_seq_len=4096),
}


# ----------------------------------------------------------------------------- building blocks

class RMSNorm(nn.Module):
    """x / rms(x) * g: LayerNorm without mean-centring or bias (DeepSeek LLM uses it pre-norm)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        # normalise in fp32 so bf16 activations do not lose the small-variance directions
        # (F.rms_norm is x * rsqrt(mean(x^2) + eps) in one call: decoding one token is bound by per-op costs)
        return F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps).type_as(x) * self.weight


def rope_cache(head_dim: int, max_len: int, theta: float, device=None):
    """cos, sin tables [max_len, head_dim] for rotary embeddings (Su et al. 2021): head_dim/2 angles,
    each written twice, since dimensions i and i + head_dim/2 form a rotated pair."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(max_len, device=device, dtype=torch.float32), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rope(x, cos, sin):
    """Rotate pairs (x_i, x_{i+d/2}) by position-dependent angles ("rotate-half" layout, as the
    Hugging Face Llama/DeepSeek weights expect). x: [B, H, T, D]; cos, sin: [B, T, D].
    q·k then depends only on the relative position of the two tokens."""
    xf = x.float()
    x1, x2 = xf.chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)  # (x1, x2) -> (-x2, x1): the pair turned by 90 degrees
    return (xf * cos[:, None] + rotated * sin[:, None]).type_as(x)  # cos, sin broadcast over heads


class Attention(nn.Module):
    """Causal multi-head self-attention with RoPE; n_kv_heads < n_heads gives grouped-query attention."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.wq = nn.Linear(cfg.d_model, cfg.n_heads * cfg.head_dim, bias=False)
        self.wk = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.wv = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.wo = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.d_model, bias=False)

    def forward(self, x, cos, sin, mask=None, cache=None, positions=None):
        B, T, _ = x.shape
        q = self.wq(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)     # [B, H, T, D]
        k = self.wk(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)  # [B, Hkv, T, D]
        v = self.wv(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:  # decoding: each row writes its new keys/values at its own positions [B, T]
            k_cache, v_cache = cache  # [B, Hkv, W, D]; the mask hides what a row has not written
            rows = torch.arange(B, device=x.device)[:, None]
            k_cache[rows, :, positions] = k.transpose(1, 2)
            v_cache[rows, :, positions] = v.transpose(1, 2)
            k, v = k_cache, v_cache
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None,
                                           enable_gqa=self.n_kv_heads != self.n_heads)
        return self.wo(y.transpose(1, 2).reshape(B, T, -1))


class SwiGLU(nn.Module):
    """FFN(x) = W2 (silu(W1 x) * W3 x) (Shazeer 2020), as in LLaMA and DeepSeek LLM."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.w1 = nn.Linear(cfg.d_model, cfg.ffn_dim, bias=False)  # gate
        self.w3 = nn.Linear(cfg.d_model, cfg.ffn_dim, bias=False)  # up
        self.w2 = nn.Linear(cfg.ffn_dim, cfg.d_model, bias=False)  # down

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    """Pre-norm residual block: x + attn(norm(x)), then x + ffn(norm(x))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.ffn = SwiGLU(cfg)

    def forward(self, x, cos, sin, mask=None, cache=None, positions=None):
        x = x + self.attn(self.attn_norm(x), cos, sin, mask, cache, positions)
        return x + self.ffn(self.ffn_norm(x))


# ----------------------------------------------------------------------------- the Transformer

def packed_positions_and_mask(doc_ids):
    """For packed rows (several documents side by side, doc_ids [B, T]): RoPE positions that restart
    at 0 at each document, and a boolean attention mask [B, 1, T, T] that is causal *and* confined
    to the query's own document, so packed examples never see each other (SFT packing, §3.1)."""
    B, T = doc_ids.shape
    idx = torch.arange(T, device=doc_ids.device).expand(B, T)
    new_doc = torch.ones_like(doc_ids, dtype=torch.bool)
    new_doc[:, 1:] = doc_ids[:, 1:] != doc_ids[:, :-1]
    doc_start = torch.cummax(torch.where(new_doc, idx, torch.zeros_like(idx)), dim=1).values
    same_doc = doc_ids[:, :, None] == doc_ids[:, None, :]
    causal = torch.ones(T, T, dtype=torch.bool, device=doc_ids.device).tril()
    return idx - doc_start, (same_doc & causal)[:, None]


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)  # untied from embed
        self.register_buffer("rope_cos", torch.empty(0), persistent=False)
        self.register_buffer("rope_sin", torch.empty(0), persistent=False)
        self.init_weights()

    def init_weights(self):
        """N(0, 0.02) weights, residual output projections scaled by 1/sqrt(2 n_layers) (GPT-2);
        norms at 1; the RoPE tables. Call again after `to_empty()` when a model was built on `meta`."""
        self.init_rope()
        out_std = 0.02 / math.sqrt(2 * self.config.n_layers)
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                nn.init.ones_(p)
            else:
                nn.init.normal_(p, std=out_std if name.endswith(("wo.weight", "w2.weight")) else 0.02)

    def init_rope(self):
        device = self.embed.weight.device
        self.rope_cos, self.rope_sin = rope_cache(self.config.head_dim, self.config.max_seq_len,
                                                  self.config.rope_theta, device=device)

    def num_params(self, non_embedding: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n - self.embed.weight.numel() if non_embedding else n

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token (forward + backward): 6N for the matmuls of the N non-embedding
        parameters (the embedding is a lookup) plus the attention scores and values, 12·L·d·T
        (PaLM, arXiv 2204.02311, App. B). The causal mask halves the real attention work; like
        PaLM we count it whole so MFU figures are comparable."""
        c = self.config
        return 6 * self.num_params(non_embedding=True) + 12 * c.n_layers * c.d_model * seq_len

    def _check_tokens(self, tokens):
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.config.vocab_size):
            raise ValueError(f"token ids must be in [0, {self.config.vocab_size}); "
                             f"got min {int(tokens.min())}, max {int(tokens.max())}")
        if tokens.shape[-1] > self.config.max_seq_len:
            raise ValueError(f"sequence of {tokens.shape[-1]} tokens exceeds the context "
                             f"max_seq_len={self.config.max_seq_len}")

    def forward(self, tokens, targets=None, doc_ids=None):
        """tokens [B, T] -> (logits [B, T, V], loss). loss: mean cross-entropy over targets != -100
        (0 when every target is masked, never NaN), None without targets. doc_ids [B, T]: packed
        documents (positions and attention reset at each boundary)."""
        self._check_tokens(tokens)
        B, T = tokens.shape
        if doc_ids is None:
            positions, mask = torch.arange(T, device=tokens.device).expand(B, T), None
        else:
            positions, mask = packed_positions_and_mask(doc_ids)
        cos, sin = self.rope_cos[positions], self.rope_sin[positions]  # [B, T, D]
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        logits = self.lm_head(self.norm(x))
        if targets is None:
            return logits, None
        n_valid = (targets != -100).sum()
        loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100,
                               reduction="sum") / n_valid.clamp(min=1)
        return logits, loss

    def token_logprobs(self, tokens, temperature: float = 1.0, doc_ids=None):
        """log π(tokens[:, t+1] | tokens[:, :t+1]) under softmax(logits / temperature): [B, T-1].
        GRPO's ratio π_θ/π_old must use the temperature the samples were drawn at."""
        logits, _ = self(tokens, doc_ids=doc_ids)
        logits = logits[:, :-1].float() / (temperature if temperature > 0 else 1.0)
        return -F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(),
                                reduction="none").view(tokens.shape[0], -1)

    # ------------------------------------------------------------------------- KV-cache forward

    def forward_cached(self, tokens, positions, cache, mask=None, last=None):
        """The forward sampler.py decodes with. tokens, positions [B, T]: each row's sequence starts at
        cache index 0, so a token's RoPE position is also where its keys/values go in cache (one
        (keys, values) pair [B, Hkv, W, D] per layer). mask: additive or boolean [B, 1, T, W] (None:
        causal, for a prefill whose cache is exactly T wide). Returns fp32 logits [B, V] at each row's
        position `last` [B] (default T - 1): a right-padded prefill reads each prompt's last token."""
        cos, sin = self.rope_cos[positions], self.rope_sin[positions]
        x = self.embed(tokens)
        for layer, layer_cache in zip(self.layers, cache):
            x = layer(x, cos, sin, mask, layer_cache, positions)
        x = x[:, -1] if last is None else x[torch.arange(x.shape[0], device=x.device), last]
        return self.lm_head(self.norm(x)).float()

    # ------------------------------------------------------------------------- checkpoints

    def save(self, path, tokenizer: str | None = None, format: str = "native", max_shard_bytes: int = 5 << 30,
             state_dict: dict | None = None):
        """Consolidated checkpoint. format="native": `config.json` (model config, tokenizer location)
        + `model.pt` (plain state dict, in the parameters' own dtype: no lossy down-cast).
        format="hf": a Hugging Face LlamaForCausalLM folder (config.json + safetensors shards + index)
        that `transformers` and vLLM load. `state_dict`: the tensors to write, when they are not this
        module's own (pretrain.export_model passes the full weights gathered from FSDP shards)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = self.state_dict() if state_dict is None else state_dict
        if format == "hf":
            return save_hf(self.config, state, path, max_shard_bytes)
        if format != "native":
            raise ValueError(f"unknown checkpoint format {format!r}; choose 'native' or 'hf'")
        (path / "config.json").write_text(json.dumps(
            {"model": asdict(self.config), "tokenizer": tokenizer}, indent=2))
        torch.save(state, path / "model.pt")

    @classmethod
    def load(cls, path, device="cpu", dtype=None) -> "Transformer":
        """Load a folder written by `save` (either format; a Hugging Face Llama-style folder such as
        deepseek-ai/deepseek-math-7b-rl works too). Built on `meta` and filled with the stored
        tensors, memory-mapped, so a 7B model never exists twice in memory."""
        config, state = read_config(path), read_state_dict(path)
        with torch.device("meta"):
            model = cls(config)
        expected = {k: v.shape for k, v in model.state_dict().items()}
        found = {k: v.shape for k, v in state.items()}
        if expected != found:
            diff = sorted(k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k))
            raise ValueError(f"the weights in {path} do not match its config.json: tensors differ at "
                             f"{diff[:5]}{' ...' if len(diff) > 5 else ''}")
        model.load_state_dict(state, assign=True)
        model.init_rope()  # the RoPE tables are not stored: rebuild them off `meta` ...
        model = model.to(device=device, dtype=dtype)
        model.init_rope()  # ... and again in fp32 on the target device
        return model


def read_config(path) -> ModelConfig:
    """The ModelConfig of a checkpoint folder (native or Hugging Face), with a clear error when it
    is not one."""
    cfg_file = Path(path) / "config.json"
    if not cfg_file.is_file():
        raise FileNotFoundError(f"no model checkpoint at {path}: {cfg_file} is missing")
    raw = json.loads(cfg_file.read_text())
    if is_hf_folder(path):
        return config_from_hf(raw)
    known = {f.name for f in fields(ModelConfig)}
    unknown = set(raw["model"]) - known
    if unknown:
        raise ValueError(f"{cfg_file} has unknown model fields {sorted(unknown)}")
    return ModelConfig(**raw["model"])


def read_state_dict(path) -> dict[str, torch.Tensor]:
    """The weights of a checkpoint folder (native model.pt or Hugging Face safetensors), memory-mapped
    and under this file's parameter names."""
    path = Path(path)
    read_config(path)  # a clear error when the folder is not a checkpoint
    if is_hf_folder(path):
        return read_hf_state_dict(path)
    if not (path / "model.pt").is_file():
        raise FileNotFoundError(f"{path}/model.pt is missing: not a model checkpoint folder")
    return torch.load(path / "model.pt", map_location="cpu", mmap=True, weights_only=True)


# ----------------------------------------------------------------------------- Hugging Face interop
# The released DeepSeekMath 7B models (deepseek-ai/deepseek-math-7b-{base,instruct,rl}) are
# LlamaForCausalLM folders: config.json + safetensors shards + an index. Our modules map one to one
# onto Llama's, and our RoPE uses the same rotate-half layout, so no weight permutation is needed.

HF_NAMES = {  # ours -> Hugging Face Llama ("{i}" = layer index)
    "embed.weight": "model.embed_tokens.weight",
    "norm.weight": "model.norm.weight",
    "lm_head.weight": "lm_head.weight",
    "layers.{i}.attn_norm.weight": "model.layers.{i}.input_layernorm.weight",
    "layers.{i}.attn.wq.weight": "model.layers.{i}.self_attn.q_proj.weight",
    "layers.{i}.attn.wk.weight": "model.layers.{i}.self_attn.k_proj.weight",
    "layers.{i}.attn.wv.weight": "model.layers.{i}.self_attn.v_proj.weight",
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


def is_hf_folder(path) -> bool:
    cfg_file = Path(path) / "config.json"
    return cfg_file.is_file() and "model" not in json.loads(cfg_file.read_text())


def config_from_hf(raw: dict) -> ModelConfig:
    """ModelConfig from a Hugging Face config.json; anything this decoder does not implement is refused."""
    arch = raw.get("architectures") or [raw.get("model_type")]
    if arch[0] not in ("LlamaForCausalLM", "llama"):
        raise ValueError(f"unsupported architecture {arch}: only LlamaForCausalLM-style folders "
                         "(the DeepSeek LLM / DeepSeekMath layout) can be loaded")
    unsupported = {k: raw[k] for k in ("rope_scaling", "attention_bias", "mlp_bias", "tie_word_embeddings")
                   if raw.get(k)}
    if raw.get("hidden_act", "silu") != "silu":
        unsupported["hidden_act"] = raw["hidden_act"]
    if unsupported:
        raise ValueError(f"unsupported settings in config.json: {unsupported}")
    return ModelConfig(vocab_size=raw["vocab_size"], n_layers=raw["num_hidden_layers"],
                       d_model=raw["hidden_size"], n_heads=raw["num_attention_heads"],
                       n_kv_heads=raw.get("num_key_value_heads"), ffn_dim=raw["intermediate_size"],
                       max_seq_len=raw.get("max_position_embeddings", 4096),
                       rope_theta=raw.get("rope_theta", 10000.0), norm_eps=raw.get("rms_norm_eps", 1e-6))


def config_to_hf(c: ModelConfig, dtype: torch.dtype) -> dict:
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": c.vocab_size,
            "hidden_size": c.d_model, "intermediate_size": c.ffn_dim, "num_hidden_layers": c.n_layers,
            "num_attention_heads": c.n_heads, "num_key_value_heads": c.n_kv_heads,
            "max_position_embeddings": c.max_seq_len, "rms_norm_eps": c.norm_eps, "rope_theta": c.rope_theta,
            "hidden_act": "silu", "tie_word_embeddings": False, "attention_bias": False,
            "torch_dtype": str(dtype).removeprefix("torch.")}


def read_hf_state_dict(path) -> dict[str, torch.Tensor]:
    """Our state dict from a Hugging Face folder: every shard memory-mapped, names mapped to ours."""
    path = Path(path)
    index = path / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        files = sorted(set(weight_map.values()))
    else:
        files = ["model.safetensors"]
    missing = [f for f in files if not (path / f).is_file()]
    if missing:
        raise FileNotFoundError(f"safetensors shards missing in {path}: {missing}")
    tensors = {}
    for f in files:
        tensors.update(read_safetensors(path / f))
    n_layers = 1 + max((int(k.split(".")[2]) for k in tensors if k.startswith("model.layers.")), default=-1)
    theirs_to_ours = {v: k for k, v in hf_name_map(n_layers).items()}
    unknown = sorted(k for k in tensors if k not in theirs_to_ours and "rotary_emb" not in k)
    if unknown:
        raise ValueError(f"unexpected tensors in {path}: {unknown[:5]}")
    return {theirs_to_ours[k]: v for k, v in tensors.items() if k in theirs_to_ours}


def save_hf(config: ModelConfig, state: dict[str, torch.Tensor], path: Path, max_shard_bytes: int):
    """Write a state dict as a LlamaForCausalLM folder, sharded by size with an index."""
    names = hf_name_map(config.n_layers)
    state = {names[k]: v for k, v in state.items()}
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
        write_safetensors(path / fname, {n: state[n] for n in names_i})
        weight_map.update(dict.fromkeys(names_i, fname))
    total = sum(t.numel() * t.element_size() for t in state.values())
    (path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
    dtype = next(iter(state.values())).dtype
    (path / "config.json").write_text(json.dumps(config_to_hf(config, dtype), indent=2))


# safetensors: 8-byte little-endian header length N, N bytes of JSON {name: {dtype, shape,
# data_offsets: [begin, end]}} (offsets relative to the end of the header), then the raw tensors.
SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                      "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
                      "U8": torch.uint8, "BOOL": torch.bool}


def read_safetensors(file) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file, memory-mapped copy-on-write (nothing is read until used)."""
    import mmap
    with open(file, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{file} is not a safetensors file (too short)")
        n = int.from_bytes(head, "little")
        try:
            header = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{file}: corrupt safetensors header ({e})") from None
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        if info["dtype"] not in SAFETENSORS_DTYPES:
            raise ValueError(f"{file}: tensor {name} has unsupported dtype {info['dtype']}")
        dtype = SAFETENSORS_DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        count = math.prod(info["shape"])
        if end - begin != count * torch.empty(0, dtype=dtype).element_size() or 8 + n + end > len(buf):
            raise ValueError(f"{file}: tensor {name} has inconsistent offsets (truncated file?)")
        t = torch.frombuffer(buf, dtype=dtype, count=count, offset=8 + n + begin) if count else \
            torch.empty(0, dtype=dtype)
        out[name] = t.view(info["shape"])
    return out


def write_safetensors(file, tensors: dict[str, torch.Tensor]):
    """Write tensors in the safetensors format, one tensor at a time (no second copy of the model)."""
    names_of = {v: k for k, v in SAFETENSORS_DTYPES.items()}
    header, offset = {}, 0
    for name, t in tensors.items():
        nbytes = t.numel() * t.element_size()
        header[name] = {"dtype": names_of[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # tensors start 8-byte aligned
    with open(file, "wb") as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        for t in tensors.values():
            f.write(t.detach().contiguous().cpu().view(-1).view(torch.uint8).numpy().tobytes())
