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
  tokenizer.json         --> tokenizer.Tokenizer    read_hf_tokenizer (normaliser and pre-tokenizer redone
                                                    here, BPE by tiktoken; generation_config.json's stop ids)
  chat template (Jinja)  --> prompt text, ids       chat_text / encode_chat_text (jinja2, as transformers)
                         --> its end of turn        end_of_turn (what an SFT answer ends with, and a stop id)

This file is built on model.py and tokenizer.py, which know only their own folders. Every stage loads what
it is handed through the loaders just below (load_model, checkpoint_config, checkpoint_weights,
load_tokenizer), which read a folder of ours and a released one alike.

    python hf.py encode --tokenizer DIR "What is 12 + 30?"   # tokenizer.py's commands, Hugging Face files too
    python hf.py bench --tokenizer DIR --mb 2
"""
from __future__ import annotations

import datetime
import functools
import json
import unicodedata
import warnings
from pathlib import Path

import jinja2.ext
import jinja2.sandbox
import regex
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from flags import run_cli
from model import ModelConfig, Transformer, config_json, read_config, read_state_dict
from tokenizer import PIECES_PATTERN, Tokenizer, main as tokenizer_main, read_json

# ----------------------------------------------------------------------------- any folder: ours or released
# Our config.json is {"model": ..., "tokenizer": ...}; a Hugging Face one has its own keys. Our tokenizer.json
# is {"name", "pattern", "special_tokens"}; a Hugging Face one has a "model" (its vocab and merges).

def is_hf_folder(path) -> bool:
    """Whether a model folder is a Hugging Face one (a missing config.json is an error naming it)."""
    return "model" not in config_json(path)[0]


def checkpoint_config(path) -> ModelConfig:
    """The ModelConfig of a model folder: ours (model.read_config) or a Hugging Face one."""
    raw, cfg_file = config_json(path)
    return read_config(path) if "model" in raw else config_from_hf(raw, cfg_file)


def checkpoint_weights(path) -> dict[str, torch.Tensor]:
    """The weights of a model folder under model.py's names, memory-mapped: model.pt or safetensors."""
    return read_hf_state_dict(path) if is_hf_folder(path) else read_state_dict(path)


def load_model(path, device="cpu", dtype=None) -> Transformer:
    """A Transformer from a model folder: ours (Transformer.load) or a released Hugging Face one
    (deepseek-ai/deepseek-math-7b-rl, Qwen/Qwen2.5-Math-1.5B, ...), built on `meta` and filled."""
    if not is_hf_folder(path):
        return Transformer.load(path, device, dtype)
    return Transformer.from_state(checkpoint_config(path), read_hf_state_dict(path), device, dtype,
                                  source=path)


def load_tokenizer(dir_or_name) -> Tokenizer:
    """A tokenizer: a Hugging Face tokenizer.json (the file, or its folder) by `read_hf_tokenizer`,
    anything else (a folder of ours, a tiktoken encoding name) by Tokenizer.load."""
    path = Path(dir_or_name)
    file = path / HF_FILE if path.is_dir() else path
    if file.is_file():
        spec = read_json(file)
        if isinstance(spec.get("model"), dict):
            return read_hf_tokenizer(file, spec)
    return Tokenizer.load(dir_or_name)

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
        if raw.get("rope_theta", theta) != theta or raw.get("rope_scaling") not in (None, raw[field]):
            raise ValueError(f"{source}: rope_parameters disagrees with the top-level rope_theta / "
                             f"rope_scaling")
    else:
        theta, params = raw.get("rope_theta", 10000.0), dict(raw.get("rope_scaling") or {})
    kind = params.pop("rope_type", None) or params.pop("type", None) or "default"
    params.pop("type", None)
    if kind not in ROPE_KEYS:
        raise ValueError(f"{source}: {field}: rope_type {kind!r} is not supported (only {sorted(ROPE_KEYS)})")
    if set(params) != ROPE_KEYS[kind]:
        raise ValueError(f"{source}: {field}: rope_type {kind!r} takes exactly {sorted(ROPE_KEYS[kind])}, "
                         f"got {sorted(params)}")
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


def save_hf(config: ModelConfig, state: dict[str, torch.Tensor], path, max_shard_bytes: int = 5 << 30):
    """Write a state dict as a Hugging Face folder (LlamaForCausalLM, or Qwen2ForCausalLM with q/k/v
    biases) that `transformers` and vLLM load, sharded by size with an index. A tied head is not written
    (transformers ties it again from tie_word_embeddings; safetensors refuses shared tensors)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
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


# ----------------------------------------------------------------------------- tokenizer.json
# The released models ship Hugging Face's `tokenizer.json` (the format of the `tokenizers` library): a
# "normalizer" (Qwen2: NFC; DeepSeek, Llama 3: none), a byte-level BPE "model" (vocab: token string -> id,
# merges in priority order), a "pre_tokenizer" (DeepSeek: a Sequence of regex Splits, then Digits, then
# ByteLevel; Qwen2 and Llama 3: one GPT-4-style Split, with single digits / groups of 1-3 digits, then
# ByteLevel) and "added_tokens" (BOS, EOS, chat markers, ...). We turn the vocab into tiktoken ranks and run
# normaliser and pre-tokenizer here, in Python: a sequence of splits is not one tiktoken pattern (each split
# works inside the pieces the previous one left, and keeps the text between its matches, which tiktoken's
# findall would drop). tiktoken then BPE-encodes the pieces, many at a time (Tokenizer._plan).
HF_FILE, HF_CONFIG_FILE = "tokenizer.json", "tokenizer_config.json"
GENERATION_CONFIG_FILE, CHAT_TEMPLATE_FILE = "generation_config.json", "chat_template.jinja"
NORMAL_FORMS = ("NFC", "NFD", "NFKC", "NFKD")  # the Unicode normalisers; others are refused
DEEPSEEK_BOS = "<｜begin▁of▁sentence｜>"  # the BOS of DeepSeek LLM's tokenizer (fullwidth bars, U+2581)
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
SPLIT_BEHAVIORS = ("Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous")
NEVER_IN_UTF8 = {0xC0, 0xC1, *range(0xF5, 0x100)}  # bytes that no UTF-8 text contains
WORD_CHAR, SPACE_CHAR = regex.compile(r"\w"), regex.compile(r"\s")
MEMO_PIECE_CHARS, MEMO_SIZE = 64, 1 << 15  # per step; bounds the memo's memory


def read_hf_tokenizer(path, spec: dict | None = None) -> Tokenizer:
    """A Hugging Face byte-level BPE `tokenizer.json` (`spec`: its content, when already read; see the section
    above for what is read, and how). BOS/EOS/PAD are the `bos_token`/`eos_token`/`pad_token` of a
    `tokenizer_config.json` beside it, else the special tokens named like "begin"/"bos", "end"/"eos", "pad".
    Without a BOS token BOS is EOS (GPT-2's <|endoftext|> is both); without a pad token PAD is EOS, so code
    that pads must mask by lengths, never by `id != pad_id`. `add_bos` as `hf_add_bos` reads it."""
    path = Path(path)
    spec = read_json(path) if spec is None else spec
    config_path = path.parent / HF_CONFIG_FILE
    config = read_json(config_path) if config_path.is_file() else {}
    model = spec["model"]
    if model.get("type") != "BPE":
        raise ValueError(f"{path}: the model is {model.get('type')!r}; only byte-level BPE is supported "
                         f"(WordPiece, Unigram and WordLevel tokenizers are not)")
    normalize = normalizer(spec.get("normalizer"), path)
    if (spec.get("decoder") or {"type": "ByteLevel"})["type"] != "ByteLevel":
        raise ValueError(f"{path}: decoder {spec['decoder']['type']!r} is not supported (only ByteLevel)")
    added = [token for token in spec.get("added_tokens") or [] if token["content"]]  # HF skips empty ones
    ranks = hf_ranks(model, {token["id"] for token in added}, path)
    eos = hf_special(config, "eos_token", added, ("end", "eos"))
    if eos is None:
        raise ValueError(f"{path}: no EOS token (no eos_token in {HF_CONFIG_FILE}, no special token named "
                         f"like \"end\" or \"eos\" among {[token['content'] for token in added]})")
    bos = hf_special(config, "bos_token", added, ("begin", "bos")) or eos
    pad = hf_special(config, "pad_token", added, ("pad",)) or eos
    files = {HF_FILE: spec, **({HF_CONFIG_FILE: config} if config else {})}
    for name in (GENERATION_CONFIG_FILE, CHAT_TEMPLATE_FILE):  # written back by Tokenizer.save too
        if (path.parent / name).is_file():
            files[name] = (read_json if name.endswith(".json") else Path.read_text)(path.parent / name)
    specials = {token["content"]: token["id"] for token in added}
    pre_tokenizer = HFPreTokenizer(spec.get("pre_tokenizer"), added, normalize)
    tokenizer = Tokenizer(f"hf-{path.parent.name or 'tokenizer'}", PIECES_PATTERN, ranks, specials, bos=bos,
                          eos=eos, pad=pad, pre_tokenizer=pre_tokenizer, hf_files=files,
                          add_bos=hf_add_bos(spec, config, bos),
                          stop_ids=generation_stop_ids(files.get(GENERATION_CONFIG_FILE, {}), specials, path))
    try:  # a model tuned in its chat template ends its turn with the template's end-of-turn token: stop there
        tokenizer.stop_ids = tuple(sorted({*tokenizer.stop_ids, end_of_turn(tokenizer)[-1]}))
    except ValueError:
        pass  # no chat template, or one that cannot render a user/assistant exchange: only the stops above
    return tokenizer


def normalizer(config: dict | None, path):
    """tokenizer.json's normalizer as a function on text, or None: a Unicode normal form (Qwen2's NFC),
    or a Sequence of them. Others (Lowercase, Replace, Prepend, ...) are refused, never skipped."""
    steps = [] if config is None else config["normalizers"] if config.get("type") == "Sequence" else [config]
    kinds = [step.get("type") for step in steps]
    if any(kind not in NORMAL_FORMS for kind in kinds):
        raise ValueError(f"{path}: normalizer {kinds} is not supported (only {', '.join(NORMAL_FORMS)}, "
                         f"or \"normalizer\": null)")
    if not kinds:
        return None
    return lambda text: functools.reduce(lambda out, kind: unicodedata.normalize(kind, out), kinds, text)


def generation_stop_ids(generation_config: dict, specials: dict[str, int], path) -> tuple[int, ...]:
    """The ids that end a completion besides EOS: generation_config.json's eos_token_id, one id or a list
    (Llama 3.1 Instruct: <|end_of_text|>, <|eom_id|>, <|eot_id|>), each one a special token."""
    stops = generation_config.get("eos_token_id")
    stops = [] if stops is None else [stops] if isinstance(stops, int) else list(stops)
    unknown = [i for i in stops if i not in specials.values()]
    if unknown:
        raise ValueError(f"{path.parent / GENERATION_CONFIG_FILE}: eos_token_id {unknown} is no special "
                         f"token of {path}")
    return tuple(stops)

def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from the 256 bytes to printable characters, in which byte-level vocabularies are
    written: the printable Latin-1 bytes stand for themselves, the 68 others (controls, space, ...)
    become U+0100, U+0101, ... in byte order, so " " is "Ġ" and "\n" is "Ċ"."""
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    others = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable}, **{b: chr(256 + i) for i, b in enumerate(others)}}


BYTE_OF_CHAR = {char: byte for byte, char in bytes_to_unicode().items()}


def hf_token_bytes(token: str) -> bytes:
    """The bytes a vocabulary string stands for, read as HF's ByteLevel decoder reads it: each character
    through GPT-2's map, or, when a character is not in the map, the string's own UTF-8."""
    try:
        return bytes(BYTE_OF_CHAR[char] for char in token)
    except KeyError:
        return token.encode("utf-8")


def hf_ranks(model: dict, added_ids: set[int], path) -> dict[bytes, int]:
    """tiktoken ranks {token bytes: id} from a BPE model's vocab and merges (added tokens left out).

    Hugging Face merges, in each piece, the adjacent pair that comes first in `merges`; tiktoken the
    pair whose concatenation has the lowest rank. With rank = id they agree when the ids of the merged
    tokens increase with merge order, which is how the `tokenizers` trainer numbers them (each merge
    makes the next id). We check that and refuse other vocabularies (renumbering the ranks would need an
    id map on every encode). Two rarer departures are only counted, in a warning: tokens made by no
    merge (Hugging Face never produces them; tiktoken could, when a piece spells one exactly) and merges
    that re-make an earlier merge's token (tiktoken ranks it by its first merge). What remains is
    tiktoken's own rule of taking a piece that spells a whole token as that token (Hugging Face's
    `ignore_merges`), which differs only for a token that the merges do not rebuild from its own bytes
    (unusual in a trained vocabulary)."""
    for option in ("dropout", "continuing_subword_prefix", "end_of_word_suffix", "byte_fallback"):
        if model.get(option):
            raise ValueError(f"{path}: BPE option {option}={model[option]!r} is not supported (byte-level "
                             f"BPE tokenizers such as DeepSeek's do not set it)")
    vocab = model["vocab"]
    ranks = {}
    for token, token_id in vocab.items():
        if token_id in added_ids:
            continue
        token_bytes = hf_token_bytes(token)
        if token_bytes in ranks:
            raise ValueError(f"{path}: two vocabulary entries stand for the bytes {token_bytes!r}")
        ranks[token_bytes] = token_id
    if len(set(ranks.values())) != len(ranks):
        raise ValueError(f"{path}: two vocabulary entries share an id")
    made, last, remade = set(), -1, 0  # ids made by merges, the latest one, merges re-making a made id
    for number, merge in enumerate(model.get("merges") or []):
        pair = merge.split(" ") if isinstance(merge, str) else list(merge)  # "a b" or, newer, ["a", "b"]
        if len(pair) != 2 or not all(part in vocab for part in pair) or "".join(pair) not in vocab:
            raise ValueError(f"{path}: merge #{number} {merge!r} is not a pair of vocabulary tokens whose "
                             f"concatenation is in the vocabulary")
        token_id = vocab["".join(pair)]
        if token_id in made:
            remade += 1
        elif token_id <= last:
            raise ValueError(
                f"{path}: merge #{number} {merge!r} makes id {token_id}, below the id {last} of an earlier "
                f"merge. tiktoken ranks merges by the merged token's id, so ids must increase with merge "
                f"order (as the `tokenizers` BPE trainer numbers them); this renumbered vocabulary is not "
                f"supported")
        else:
            made.add(token_id)
            last = token_id
    unmade = [token for token, token_id in ranks.items() if len(token) > 1 and token_id not in made]
    if unmade or remade:
        warnings.warn(f"{path}: {len(unmade)} multi-byte tokens come from no merge (e.g. {unmade[:3]}) and "
                      f"{remade} merges re-make an earlier merge's token: tiktoken may encode some rare "
                      f"pieces differently from Hugging Face")
    missing = [byte for byte in range(256) if byte not in NEVER_IN_UTF8 and bytes([byte]) not in ranks]
    if missing:
        raise ValueError(f"{path}: the vocabulary lacks the single bytes {missing}, which UTF-8 text can "
                         f"contain (Hugging Face would drop them or emit the unknown token)")
    return ranks


def hf_special(config: dict, key: str, added: list[dict], words: tuple[str, ...]) -> str | None:
    """The added token that tokenizer_config.json names as `key` (a string or {"content": ...}), else the
    first special token whose text contains one of `words` (case-insensitive), else None."""
    named = config.get(key)
    if isinstance(named, dict):
        named = named.get("content")
    if named is not None:
        if named not in {token["content"] for token in added}:
            raise ValueError(f"{HF_CONFIG_FILE}: {key} {named!r} is not one of the added tokens of {HF_FILE}")
        return named
    specials = [token["content"] for token in added if token.get("special")]
    return next((token for token in specials if any(word in token.lower() for word in words)), None)


def hf_add_bos(spec: dict, config: dict, bos: str) -> bool:
    """Was the model trained with BOS before every text? tokenizer_config.json's add_bos_token when it
    says (transformers' Llama tokenizers, DeepSeek's among them, build their post-processor from it);
    else whether tokenizer.json's post-processor template starts with the BOS; else whether the BOS is
    DeepSeek's, whose released models all expect it (their tokenizer_config.json says add_bos_token)."""
    if isinstance(config.get("add_bos_token"), bool):
        return config["add_bos_token"]
    processor = spec.get("post_processor") or {}
    for step in processor.get("processors", [processor]):  # a Sequence of post-processors, or one
        if step.get("type") == "TemplateProcessing":
            first = (step.get("single") or [{}])[0]
            return (first.get("SpecialToken") or {}).get("id") == bos
    return bos == DEEPSEEK_BOS


class HFPreTokenizer:
    r"""What `tokenizers` does to a text before BPE, redone with the `regex` module:

    1. cut out the non-special added tokens (AddedVocabulary: leftmost-longest match; single_word, lstrip
       and rstrip honoured; tokens with "normalized": false first, then the normaliser (Qwen2: NFC) on the
       rest, then the other added tokens, as Hugging Face does).
       Special tokens are not looked for: here they never come from text (unlike Hugging Face's default);
    2. run the pre_tokenizer's steps, each on every piece the previous one left: Split (a regex or a
       string; behavior Removed / Isolated / MergedWithPrevious / MergedWithNext / Contiguous; invert),
       Digits (individual_digits: each digit its own piece, else each run of digits) and, last, ByteLevel
       (add_prefix_space; use_regex: GPT-2's split). ByteLevel also maps bytes to GPT-2's characters,
       which raw-byte ranks do not need.
    Hugging Face compiles regexes with Oniguruma's Ruby syntax, where ^ and $ match at every line, so we
    compile with MULTILINE. \s, \p{L} and \p{N} mean the same in both (Unicode's White_Space, letters,
    numbers), up to characters assigned in a newer Unicode version than one of them knows. Ruby-only
    syntax (\h for a hex digit, && inside [...]) is not translated; DeepSeek's patterns use none.
    Where a pattern can match the empty string, the two engines may resume the search differently.
    """

    def __init__(self, config: dict | None, added_tokens: list[dict], normalize=None):
        steps = flat_steps(config) if config else []
        kinds = [step.get("type") for step in steps]
        if kinds.count("ByteLevel") != 1 or kinds[-1] != "ByteLevel":
            raise ValueError(f"pre-tokenizer {kinds}: byte-level BPE needs ByteLevel as the last step (and "
                             f"only there); other layouts are not supported")
        self.steps = [make_step(step) for step in steps]
        # per step: short piece -> what it and the later steps make of it
        self.memo = [{} for _ in self.steps]
        self.normalize = normalize
        self.added = {}  # normalized -> (alternation of the tokens' texts, longest first; {text: token})
        plain = [token for token in added_tokens if not token.get("special")]
        for normalized in (False, True):
            tokens = {token["content"]: token for token in plain
                      if token.get("normalized", True) == normalized}
            if tokens:
                # leftmost-longest, like HF's Aho-Corasick
                alternatives = sorted(tokens, key=len, reverse=True)
                self.added[normalized] = (regex.compile("|".join(map(regex.escape, alternatives))), tokens)

    def split(self, text: str) -> list[str | int]:
        """The pieces that BPE encodes one by one (str), and the ids of added tokens found in the text (int).
        As Hugging Face's AddedVocabulary: "normalized": false tokens are found in the raw text, the
        rest normalised, then the other added tokens found in it."""
        segments = [text]
        for normalized in (False, True):
            if normalized and self.normalize is not None:
                segments = [self.normalize(s) if isinstance(s, str) else s for s in segments]
            if normalized in self.added:
                pattern, tokens = self.added[normalized]
                segments = [part for segment in segments for part in
                            (cut_added_tokens(segment, pattern, tokens) if isinstance(segment, str)
                             else [segment])]
        pieces = []
        for segment in segments:
            if isinstance(segment, int):
                pieces.append(segment)
            elif segment:
                pieces += self.run_steps(segment, 0)
        return pieces

    def run_steps(self, piece: str, first: int) -> list[str]:
        """Steps `first`, `first` + 1, ... applied to `piece`. Words repeat, so short pieces' results are
        memoised per step, the first MEMO_SIZE seen (frequent words come early): with regex calls at
        ~4 us each, this is most of the speed."""
        if first == len(self.steps):
            return [piece]
        memo = self.memo[first]
        pieces = memo.get(piece)
        if pieces is None:
            pieces = [out for part in self.steps[first](piece) for out in self.run_steps(part, first + 1)]
            if len(piece) <= MEMO_PIECE_CHARS and len(memo) < MEMO_SIZE:
                memo[piece] = pieces
        return pieces


def flat_steps(config: dict) -> list[dict]:
    """A pre_tokenizer's steps in order, nested Sequences flattened."""
    if config.get("type") == "Sequence":
        return [step for inner in config["pretokenizers"] for step in flat_steps(inner)]
    return [config]


def make_step(config: dict):
    """One pre-tokenizer step as a function: piece -> pieces."""
    kind = config.get("type")
    if kind == "Split":
        pattern, behavior = config["pattern"], config["behavior"]
        if behavior not in SPLIT_BEHAVIORS:
            raise ValueError(f"Split behavior {behavior!r} is unknown (known: {', '.join(SPLIT_BEHAVIORS)})")
        source = pattern["Regex"] if "Regex" in pattern else regex.escape(pattern["String"])
        try:
            compiled = regex.compile(source, regex.MULTILINE)
        except regex.error as e:
            raise ValueError(f"Split pattern {source!r} does not compile with the regex module: {e}") from e
        if behavior == "Isolated" and not config.get("invert") and compiled.groups == 0:
            return functools.partial(split_isolated, regex.compile(f"({source})", regex.MULTILINE))
        return functools.partial(hf_split, compiled, behavior, bool(config.get("invert")))
    # HF cuts around each char::is_numeric character (Unicode N*), gluing runs unless individual
    if kind == "Digits":
        digits = r"(\p{N})" if config.get("individual_digits") else r"(\p{N}+)"
        return functools.partial(split_isolated, regex.compile(digits))
    if kind == "ByteLevel":
        gpt2 = regex.compile(f"({GPT2_PATTERN})") if config.get("use_regex", True) else None
        return functools.partial(byte_level_split, config.get("add_prefix_space", True), gpt2)
    raise ValueError(f"pre-tokenizer {kind!r} is not supported (only Sequence, Split, Digits, ByteLevel)")


def hf_split(pattern, behavior: str, invert: bool, piece: str) -> list[str]:
    """`tokenizers`' NormalizedString.split: cover `piece` with the pattern's matches and the gaps
    between them (flagged as matches or not; invert swaps the flags), then keep or drop or glue the
    matches as `behavior` says; empty pieces are dropped."""
    spans, end = [], 0  # [start, stop, is_match]
    for match in pattern.finditer(piece):
        start, stop = match.span()
        if start > end:
            spans.append([end, start, invert])
        spans.append([start, stop, not invert])
        end = stop
    if end < len(piece):
        spans.append([end, len(piece), invert])
    if behavior == "Removed":
        spans = [span for span in spans if not span[2]]
    elif behavior != "Isolated":  # glue a match to its neighbour (Contiguous: equal flags to each other)
        backward = behavior == "MergedWithNext"
        glued, previous = [], False
        for span in (reversed(spans) if backward else spans):
            is_match = span[2]
            if glued and (is_match == previous if behavior == "Contiguous" else is_match and not previous):
                glued[-1][0 if backward else 1] = span[0 if backward else 1]
            else:
                glued.append(span)
            previous = is_match
        spans = glued[::-1] if backward else glued
    return [piece[start:stop] for start, stop, _ in spans if stop > start]


def split_isolated(wrapped, piece: str) -> list[str]:
    """hf_split(pattern, "Isolated", invert=False, piece), the common case, at C speed: `split` on the
    pattern wrapped in one group (and holding no other) returns gaps and matches in order."""
    return [part for part in wrapped.split(piece) if part]


def byte_level_split(add_prefix_space: bool, gpt2, piece: str) -> list[str]:
    """HF's ByteLevel pre-tokenizer, on one piece: a space in front unless there is one, then GPT-2's
    split (`gpt2` wrapped in a group, as split_isolated takes it)."""
    if add_prefix_space and not piece.startswith(" "):
        piece = " " + piece
    return split_isolated(gpt2, piece) if gpt2 is not None else [piece]


def cut_added_tokens(text: str, pattern, tokens: dict[str, dict]) -> list[str | int]:
    """HF's AddedVocabulary.find_matches: the text between added tokens (str) and their ids (int). A
    single_word token counts only between non-word characters; an lstrip / rstrip token also takes the
    whitespace on its left / right."""
    out, done = [], 0
    for match in pattern.finditer(text):
        start, stop = match.span()
        token = tokens[match.group()]
        if token.get("single_word") and ((start > 0 and WORD_CHAR.fullmatch(text[start - 1]))
                                         or (stop < len(text) and WORD_CHAR.fullmatch(text[stop]))):
            continue
        if token.get("lstrip"):
            while start > done and SPACE_CHAR.fullmatch(text[start - 1]):
                start -= 1
        if token.get("rstrip"):
            while stop < len(text) and SPACE_CHAR.fullmatch(text[stop]):
                stop += 1
        if start > done:
            out.append(text[done:start])
        out.append(token["id"])
        done = stop
    if done < len(text):
        out.append(text[done:])
    return out


# ----------------------------------------------------------------------------- chat templates
# A released chat model expects its prompts in the format it was tuned on, which its tokenizer_config.json
# (or, from transformers 4.43 on, chat_template.jinja) carries as a Jinja template. We render it with jinja2
# in the sandbox transformers uses (`apply_chat_template`), with the same options and helpers, so the prompt
# is the one the model's authors' code builds; the rendered text holds special tokens (<|im_start|>,
# <|begin_of_text|>, ...) that `encode_chat_text` turns into their ids, as transformers does.

def chat_template(tokenizer: Tokenizer) -> str:
    """The Jinja source of a Hugging Face tokenizer's chat template (a named set: its "default")."""
    source = tokenizer.hf_files.get(HF_CONFIG_FILE, {}).get("chat_template") or tokenizer.hf_files.get(
        CHAT_TEMPLATE_FILE)
    if isinstance(source, list):
        source = {entry["name"]: entry["template"] for entry in source}.get("default")
    if not source:
        raise ValueError(f"tokenizer {tokenizer.name!r} has no chat template (no chat_template in its "
                         f"{HF_CONFIG_FILE}, no {CHAT_TEMPLATE_FILE}): use the deepseek or r1 template")
    return source


@functools.lru_cache(maxsize=8)
def compile_template(source: str):
    """transformers' environment: sandboxed, trim_blocks + lstrip_blocks, loop controls, its tojson
    (no ASCII escaping) and the raise_exception / strftime_now helpers templates call."""
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                       extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals.update(raise_exception=raise_exception,
                       strftime_now=lambda fmt: datetime.datetime.now().strftime(fmt))
    return env.from_string(source)


def render_chat(tokenizer: Tokenizer, messages: list[dict], add_generation_prompt: bool) -> str:
    """A conversation in the tokenizer's chat template, as apply_chat_template renders it; the special
    tokens that tokenizer_config.json names are the template's variables."""
    config = tokenizer.hf_files.get(HF_CONFIG_FILE, {})
    named = {key: value.get("content") if isinstance(value, dict) else value for key, value in config.items()
             if key.endswith("_token") and isinstance(value, (str, dict))}
    return compile_template(chat_template(tokenizer)).render(
        messages=messages, add_generation_prompt=add_generation_prompt, **named)


def chat_text(tokenizer: Tokenizer, user_message: str) -> str:
    """One user turn and the assistant's opening: what a released chat model completes."""
    return render_chat(tokenizer, [{"role": "user", "content": user_message}], add_generation_prompt=True)


@functools.lru_cache(maxsize=8)
def end_of_turn(tokenizer: Tokenizer) -> tuple[int, ...]:
    """The ids the chat template writes after an assistant message, up to and including its first special
    token: Qwen's <|im_end|>, Llama 3's <|eot_id|>, DeepSeek's EOS. An SFT answer in this template ends with
    them (sft.encode_example), so the model stops where its template expects (not at the tokenizer's EOS,
    which for Qwen2.5 is <|endoftext|>). Found by rendering an exchange whose answer is a marker, as
    transformers' apply_chat_template renders it. A template that writes no special token after the answer
    ends it with EOS."""
    marker = "END-OF-ANSWER-MARKER"
    try:
        text = render_chat(tokenizer, [{"role": "user", "content": "1 + 1?"},
                                       {"role": "assistant", "content": marker}], add_generation_prompt=False)
    except jinja2.exceptions.TemplateError as e:
        raise ValueError(f"the chat template of {tokenizer.name!r} cannot render a user/assistant exchange "
                         f"({e})") from None
    if marker not in text:
        raise ValueError(f"the chat template of {tokenizer.name!r} drops the assistant's message: its end of "
                         f"turn cannot be read off")
    ids = encode_chat_text(tokenizer, text.split(marker, 1)[1])
    specials = set(special_ids(tokenizer).values())
    ends = [i for i, token in enumerate(ids) if token in specials]
    return tuple(ids[:ends[0] + 1]) if ends else (tokenizer.eos_id,)


def special_ids(tokenizer: Tokenizer) -> dict[str, int]:
    """The special tokens of a Hugging Face tokenizer.json (what a chat template writes), text -> id."""
    added = tokenizer.hf_files.get(HF_FILE, {}).get("added_tokens", [])
    return {token["content"]: token["id"] for token in added if token.get("special") and token["content"]}


def encode_chat_text(tokenizer: Tokenizer, text: str) -> list[int]:
    """Ids of a rendered chat: the special tokens' texts become their ids (what transformers does to
    any text; `Tokenizer.encode` never does, as data must not forge them), the rest `encode`. No BOS is
    added: a template that wants one writes it (Llama 3's `{{ bos_token }}`)."""
    specials = special_ids(tokenizer)
    ids, done = [], 0
    if specials:
        pattern = regex.compile("|".join(map(regex.escape, sorted(specials, key=len, reverse=True))))
        for match in pattern.finditer(text):
            ids += tokenizer.encode(text[done:match.start()]) + [specials[match.group()]]
            done = match.end()
    return ids + tokenizer.encode(text[done:])


if __name__ == "__main__":  # tokenizer.py's encode and bench commands, for a Hugging Face tokenizer.json too
    run_cli(functools.partial(tokenizer_main, load=load_tokenizer))
