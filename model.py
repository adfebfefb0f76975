"""The decoder of DeepSeek LLM / DeepSeekMath, from scratch, in plain PyTorch.

DeepSeekMath-Base 7B is initialised from DeepSeek-Coder-Base-v1.5 7B, whose architecture is
that of DeepSeek LLM 7B (arXiv 2401.02954, §2.2): a LLaMA-style decoder-only Transformer with
  - pre-norm blocks: x + Attn(RMSNorm(x)), then x + FFN(RMSNorm(x))   (RMSNorm eps 1e-6)
  - rotary position embeddings (RoPE, theta 10000) on queries and keys
  - SwiGLU feed-forward, no biases anywhere, untied input embedding and output head
7B: 30 layers, d_model 4096, 32 heads, FFN 11008, context 4096, vocabulary 102400.

Three options let the same decoder run today's released models that DeepSeek-R1 distils into
(arXiv 2501.12948, §2.4): q/k/v projection biases and a head tied to the embedding (Qwen2.5), and
Llama 3.1's RoPE frequency scaling (θ 500000). Reading and writing their Hugging Face folders is hf.py's job.

Read top to bottom: config -> building blocks (RMSNorm, RoPE, attention, SwiGLU) -> the
Transformer (forward, log-probs) -> the KV-cache forward sampler.py decodes with -> checkpoints.
This file imports nothing from the project so it can be read, and used, alone: it reads and writes
its own checkpoint folders; hf.py, built on it, reads a Hugging Face folder too (hf.load_model).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint


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
    qkv_bias: bool = False             # biases on the q, k, v projections (Qwen2); DeepSeek LLM has none
    tie_embeddings: bool = False       # output head = input embedding (Qwen2.5-0.5B..3B, Llama 3.2)
    rope_scaling: dict | None = None   # RoPE frequency scaling, see `scale_frequencies`; None = plain RoPE

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


def rope_cache(head_dim: int, max_len: int, theta: float, scaling: dict | None = None, device=None):
    """cos, sin tables [max_len, head_dim] for rotary embeddings (Su et al. 2021): head_dim/2 angles,
    each written twice, since dimensions i and i + head_dim/2 form a rotated pair."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    inv_freq = scale_frequencies(inv_freq, scaling)
    angles = torch.outer(torch.arange(max_len, device=device, dtype=torch.float32), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def scale_frequencies(inv_freq, scaling: dict | None):
    """RoPE frequency scaling for a context longer than pre-training's. "linear" (position
    interpolation, Chen et al. 2023): every frequency / factor. "llama3" (Llama 3.1): wavelengths
    shorter than original_max_position_embeddings / high_freq_factor stay, those longer than
    original / low_freq_factor are divided by factor, and the band between is interpolated smoothly."""
    if scaling is None:
        return inv_freq
    kind, factor = scaling["rope_type"], scaling["factor"]
    if kind == "linear":
        return inv_freq / factor
    if kind != "llama3":
        raise ValueError(f"rope_scaling rope_type {kind!r} is not implemented (only 'linear' and 'llama3')")
    original, low, high = (scaling[k] for k in ("original_max_position_embeddings", "low_freq_factor",
                                                  "high_freq_factor"))
    wavelength = 2 * math.pi / inv_freq
    smooth = ((original / wavelength - low) / (high - low)).clamp(0, 1)  # 0: long waves, 1: short waves
    return (1 - smooth) * inv_freq / factor + smooth * inv_freq


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
        self.wq = nn.Linear(cfg.d_model, cfg.n_heads * cfg.head_dim, bias=cfg.qkv_bias)
        self.wk = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.head_dim, bias=cfg.qkv_bias)
        self.wv = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.head_dim, bias=cfg.qkv_bias)
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

LOGIT_CHUNK = 512  # positions whose logits exist at once when a loss or log-probs are asked for

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
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)  # tied only if tie_embeddings
        self.register_buffer("rope_cos", torch.empty(0), persistent=False)
        self.register_buffer("rope_sin", torch.empty(0), persistent=False)
        self.init_weights()

    def init_weights(self):
        """N(0, 0.02) weights, residual output projections scaled by 1/sqrt(2 n_layers) (GPT-2);
        norms at 1, biases at 0; the RoPE tables. Call again after `to_empty()` when a model was built on
        `meta` (which also gives a tied head its own copy: it is tied again here)."""
        self.tie_head()
        self.init_rope()
        out_std = 0.02 / math.sqrt(2 * self.config.n_layers)
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                nn.init.ones_(p)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)
            else:
                nn.init.normal_(p, std=out_std if name.endswith(("wo.weight", "w2.weight")) else 0.02)

    def tie_head(self):
        """With tie_embeddings the head is the embedding matrix itself (one parameter, as nanoGPT ties it)."""
        if self.config.tie_embeddings:
            self.lm_head.weight = self.embed.weight

    def init_rope(self):
        c = self.config
        self.rope_cos, self.rope_sin = rope_cache(c.head_dim, c.max_seq_len, c.rope_theta, c.rope_scaling,
                                                  device=self.embed.weight.device)

    def num_params(self, non_embedding: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n - self.embed.weight.numel() if non_embedding else n

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token (forward + backward): 6N for the matmuls of the N non-embedding
        parameters (the embedding is a lookup) plus the attention scores and values, 12·L·d·T
        (PaLM, arXiv 2204.02311, App. B). The causal mask halves the real attention work; like
        PaLM we count it whole so MFU figures are comparable. A tied head is the embedding matrix used as
        a matmul too, so it counts once as such."""
        c = self.config
        matmul_params = self.num_params(non_embedding=True) + c.tie_embeddings * self.embed.weight.numel()
        return 6 * matmul_params + 12 * c.n_layers * c.d_model * seq_len

    def _check_tokens(self, tokens):
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.config.vocab_size):
            raise ValueError(f"token ids must be in [0, {self.config.vocab_size}); "
                             f"got min {int(tokens.min())}, max {int(tokens.max())}")
        if tokens.shape[-1] > self.config.max_seq_len:
            raise ValueError(f"sequence of {tokens.shape[-1]} tokens exceeds the context "
                             f"max_seq_len={self.config.max_seq_len}")

    def forward(self, tokens, targets=None, doc_ids=None, temperature: float = 1.0, reduce: bool = True):
        """tokens [B, T] -> (logits [B, T, V], None) without targets. With targets [B, T] (-100: no loss):
        (None, loss), the mean cross-entropy over the targets (0 when all are masked, never NaN), or with
        reduce=False (None, log-probs [B, T]) of each target under softmax(logits / temperature), 0 where
        masked. With targets the [B, T, V] logits never exist whole: see `target_logprobs`.
        doc_ids [B, T]: packed documents (positions and attention reset at each boundary)."""
        self._check_tokens(tokens)
        B, T = tokens.shape
        if doc_ids is None:
            positions, mask = torch.arange(T, device=tokens.device).expand(B, T), None
        else:
            positions, mask = packed_positions_and_mask(doc_ids)
        cos, sin = self.rope_cos[positions], self.rope_sin[positions]  # [B, T, D], fp32
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        x = self.norm(x)
        if targets is None:
            return self.lm_head(x), None
        logprobs = self.target_logprobs(x, targets, temperature)
        if not reduce:
            return None, logprobs
        return None, -logprobs.sum() / (targets != -100).sum().clamp(min=1)

    def target_logprobs(self, x, targets, temperature: float = 1.0):
        """log softmax(lm_head(x) / temperature)[target] for hidden states x [B, T, d]: [B, T] (0 where the
        target is -100). The logits are made LOGIT_CHUNK positions at a time, in fp32, and under autograd
        recomputed in backward instead of stored: a 4,096-token sequence at DeepSeek's vocabulary of 102,400
        would otherwise hold ~4.7 GiB of logits (bf16, their fp32 copy, the log-softmax) for its backward;
        chunked, a few hundred MiB. The values are those of the whole computation (each row's softmax
        is its own)."""
        flat_x, flat_t = x.flatten(0, 1), targets.flatten()
        chunks = []
        for s in range(0, flat_t.numel(), LOGIT_CHUNK):
            args = (flat_x[s:s + LOGIT_CHUNK], flat_t[s:s + LOGIT_CHUNK], temperature)
            if torch.is_grad_enabled() and x.requires_grad:
                chunks.append(torch.utils.checkpoint.checkpoint(self._chunk_logprobs, *args,
                                                                use_reentrant=False))
            else:
                chunks.append(self._chunk_logprobs(*args))
        return torch.cat(chunks).view(targets.shape)

    def _chunk_logprobs(self, x, targets, temperature: float):
        logits = self.lm_head(x).float() / temperature
        return -F.cross_entropy(logits, targets, ignore_index=-100, reduction="none")

    def token_logprobs(self, tokens, temperature: float = 1.0, doc_ids=None):
        """log π(tokens[:, t+1] | tokens[:, :t+1]) under softmax(logits / temperature): [B, T-1].
        GRPO's ratio π_θ/π_old must use the temperature the samples were drawn at. Called as
        `Transformer.token_logprobs(wrapper, ...)` it runs through a DDP/FSDP wrapper's forward."""
        if temperature <= 0:
            temperature = 1.0  # greedy samples: their log-probs under the plain softmax
        targets = torch.cat([tokens[:, 1:], torch.full_like(tokens[:, :1], -100)], dim=1)
        _, logprobs = self(tokens, targets, doc_ids=doc_ids, temperature=temperature, reduce=False)
        return logprobs[:, :-1]

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

    def save(self, path, tokenizer: str | None = None, state_dict: dict | None = None):
        """Consolidated checkpoint: `config.json` (model config, tokenizer location) + `model.pt` (plain
        state dict, in the parameters' own dtype: no lossy down-cast). `state_dict`: the tensors to write,
        when they are not this module's own (trainer.export_model passes the full weights gathered from
        FSDP shards). A Hugging Face folder is written by hf.save_hf."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text(json.dumps(
            {"model": asdict(self.config), "tokenizer": tokenizer}, indent=2))
        torch.save(self.state_dict() if state_dict is None else state_dict, path / "model.pt")

    @classmethod
    def load(cls, path, device="cpu", dtype=None) -> "Transformer":
        """A folder written by `save` (hf.load_model reads a released Hugging Face folder as well)."""
        return cls.from_state(read_config(path), read_state_dict(path), device, dtype, source=path)

    @classmethod
    def from_state(cls, config: ModelConfig, state: dict, device="cpu", dtype=None,
                   source="the checkpoint") -> "Transformer":
        """Built on `meta` and filled with `state`'s tensors (memory-mapped when read from a file), so a
        7B model never exists twice in memory."""
        with torch.device("meta"):
            model = cls(config)
        expected = {k: v.shape for k, v in model.state_dict().items()}
        found = {k: v.shape for k, v in state.items()}
        if expected != found:
            diff = sorted(k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k))
            raise ValueError(f"the weights in {source} do not match its config.json: tensors differ at "
                             f"{diff[:5]}{' ...' if len(diff) > 5 else ''}")
        model.load_state_dict(state, assign=True)
        model.tie_head()  # assign gave the head its own Parameter object
        model.init_rope()  # the RoPE tables are not stored: rebuild them off `meta` ...
        model = model.to(device=device, dtype=dtype)
        model.init_rope()  # ... and again in fp32 on the target device
        return model


def config_json(path) -> tuple[dict, Path]:
    """A checkpoint folder's config.json, parsed, with errors that name the file."""
    cfg_file = Path(path) / "config.json"
    if not cfg_file.is_file():
        raise FileNotFoundError(f"no model checkpoint at {path}: {cfg_file} is missing")
    try:
        raw = json.loads(cfg_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{cfg_file} is not valid JSON ({e}): a broken or truncated checkpoint") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{cfg_file} holds a {type(raw).__name__}, not a model config object")
    return raw, cfg_file


def read_config(path) -> ModelConfig:
    """The ModelConfig of a folder written by `Transformer.save`, with a clear error when it is not one."""
    raw, cfg_file = config_json(path)
    if "model" not in raw:  # ours write {"model": ..., "tokenizer": ...}; a Hugging Face folder, its own keys
        raise ValueError(f"{cfg_file} is not one of model.py's checkpoints (no \"model\" entry): a Hugging "
                         f"Face folder is read by hf.py (hf.load_model, hf.checkpoint_config)")
    known = {f.name for f in fields(ModelConfig)}
    unknown = set(raw["model"]) - known
    if unknown:
        raise ValueError(f"{cfg_file} has unknown model fields {sorted(unknown)}")
    return ModelConfig(**raw["model"])


def read_state_dict(path) -> dict[str, torch.Tensor]:
    """The weights of a folder written by `Transformer.save` (model.pt), memory-mapped."""
    path = Path(path)
    read_config(path)  # a clear error when the folder is not one of ours
    weights = path / "model.pt"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} is missing: not a model checkpoint folder")
    try:
        return torch.load(weights, map_location="cpu", mmap=True, weights_only=True)
    except (RuntimeError, EOFError, ValueError, OSError) as e:  # empty, truncated, or not a torch file
        raise ValueError(f"{weights} is unreadable ({type(e).__name__}: {str(e)[:200]}): a truncated or "
                         f"broken checkpoint") from None
