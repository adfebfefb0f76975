"""The sampler every stage uses (GRPO rollouts, evaluation, RFT, Math-Shepherd labels): continuous batching
over a static KV cache, in plain PyTorch (the way gpt-fast keeps generate.py beside its model).

    completions, logprobs = generate(model, prompts, max_new_tokens=1024, temperature=1.0, group_size=64,
                                     stop_ids=(eos,), slots=64, generator=g)

A GRPO step samples G outputs for each of 1,024 questions (DeepSeekMath §4.2: G = 64, up to 1,024 new
tokens), and their lengths are long-tailed: a static batch decodes until its longest row ends while the
finished rows idle. Here:
  slots      S sequences decode side by side in a preallocated KV cache [S, Hkv, W, D] per layer, each with
             its own length; a row's sequence starts at cache index 0, so its RoPE positions are those it
             would have alone (no padding, no position offsets).
  refill     when a row ends (a stop id, a stop string, or its token budget), its slot takes the next
             waiting row at once: prefill into that slot; no slot decodes for a finished row.
  shared     the G rows of a prompt (and rows of equal prompts) share one prefill: its keys/values are
  prefill    computed once and copied into each of their slots (kept while the group waits for slots).
  the step   one token for every slot, all tensors of fixed shape, positions and cache indices as tensors,
             no Python branch on data: torch.compile captures it (mode="reduce-overhead": a CUDA graph on
             GPU). The host looks at the slots (finished? a stop string in the decoded tail?) only every
             `sync_every` steps (8 on GPU; 1 on the CPU, where a look costs nothing).

Exactness (tests/test_sampler.py): greedy decoding gives the tokens of a naive decoder that re-runs the full
forward for every token; the returned log-probs equal `Transformer.token_logprobs` at the sampling
temperature (before top-p truncation). Randomness is counter-based: the uniform number that picks token t
of row r is a hash of (seed, r, t), drawn by inverse-CDF sampling, so with a fixed generator state the
outputs do not depend on the slot count, the refill order or `sync_every`, up to the floating-point
differences of batching (a matmul over S rows may round its last bit differently than over S' rows, which
can flip a near-tie; in fp32 on the CPU the tests see identical outputs).

Memory: without `slots`, S = KV budget / (KV bytes per token × W), W = the longest prompt + its new tokens,
KV bytes per token = 2 (keys and values) × layers × KV heads × head dim × bytes per element; the budget is
a quarter of the free GPU memory, or 1 GiB on the CPU; S is at most the number of rows.
"""
from __future__ import annotations

from collections import Counter

import torch
import torch.nn as nn

from model import ModelConfig, Transformer

CPU_KV_BUDGET = 1 << 30   # bytes of KV cache the sampler may take on a CPU when no slot count is given
GPU_KV_FRACTION = 0.25    # ... and the fraction of the free memory on a GPU (the policy, optimiser and
                          # activations of the training step live beside it)


# ----------------------------------------------------------------------------- sampling one token

def uniforms(seed: torch.Tensor, rows: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """A uniform number in [0, 1) per (seed, row, token index), as a hash of the three (counter-based, like
    Philox): a row's draws do not depend on which slot it sits in or on what the other slots do.
    Integer mixing in int64 with 32-bit values and multipliers below 2^31, so no product overflows."""
    def mix(h):
        h = (h ^ (h >> 16)) * 0x7FEB352D & 0xFFFFFFFF
        h = (h ^ (h >> 15)) * 0x3C6EF35F & 0xFFFFFFFF
        return h ^ (h >> 16)
    h = mix((mix((mix(seed & 0xFFFFFFFF) + rows) & 0xFFFFFFFF) + index) & 0xFFFFFFFF)
    return (h >> 8).float() * 2.0 ** -24  # 24 bits: exact in fp32, never 1.0


def sample_next(logits, temperature: float, top_p: float, u):
    """One token per row from logits [B, V] and uniform numbers u [B]: greedy at temperature 0, else the
    inverse CDF of softmax(logits / T) restricted to the nucleus (the smallest set of tokens, most probable
    first, whose probability reaches top_p; Holtzman et al. 2020). Returns (tokens [B], log-probs [B] under
    softmax(logits / T), T = 1 when greedy): π_old of GRPO's ratio (Eq. 3) at the sampling temperature."""
    if temperature == 0:
        tok = logits.argmax(-1)
        return tok, logits.log_softmax(-1).gather(-1, tok[:, None])[:, 0]
    logp = (logits / temperature).log_softmax(-1)
    probs, order = logp.exp(), None
    if top_p < 1.0:
        probs, order = probs.sort(-1, descending=True)
        probs = probs.masked_fill(probs.cumsum(-1) - probs >= top_p, 0.0)  # mass before it already reaches p
    cdf = probs.cumsum(-1)
    total = cdf[:, -1:]
    # the first token whose cdf exceeds u·total: never one of probability 0 (its cdf equals the one before)
    target = torch.minimum(u[:, None] * total, torch.nextafter(total, torch.zeros_like(total)))
    tok = torch.searchsorted(cdf, target, right=True)[:, 0]
    if order is not None:
        tok = order.gather(-1, tok[:, None])[:, 0]
    return tok, logp.gather(-1, tok[:, None])[:, 0]


# ----------------------------------------------------------------------------- the slots

class Slots(nn.Module):
    """The decoding state of S slots, preallocated once (buffers, so a compiled step, and its CUDA graph,
    sees the same tensors every call). A free or finished slot has done = True: it still runs through
    the step (static shapes) but writes its keys/values at index 0 and records nothing."""

    def __init__(self, model: Transformer, n_slots: int, width: int, max_new: int, stop_ids, seed: int,
                 temperature: float, top_p: float):
        super().__init__()
        c, device, dtype = model.config, model.embed.weight.device, model.embed.weight.dtype
        self.model, self.temperature, self.top_p, self.width = model, temperature, top_p, width
        # one keys and one values buffer per layer: the step writes into them in place (a write into a view
        # of one stacked buffer makes torch.compile copy the whole buffer at every layer)
        self.cache = []
        for i in range(c.n_layers):
            for name in (f"keys{i}", f"values{i}"):
                self.register_buffer(name, torch.zeros(n_slots, c.n_kv_heads, width, c.head_dim,
                                                       device=device, dtype=dtype))
            self.cache.append((getattr(self, f"keys{i}"), getattr(self, f"values{i}")))
        long = dict(device=device, dtype=torch.long)
        self.register_buffer("last", torch.zeros(n_slots, **long))      # newest token, not yet in cache
        self.register_buffer("lengths", torch.zeros(n_slots, **long))   # tokens in cache
        self.register_buffer("n_out", torch.zeros(n_slots, **long))     # tokens produced
        self.register_buffer("budget", torch.ones(n_slots, **long))     # tokens allowed
        self.register_buffer("row", torch.zeros(n_slots, **long))       # the input row it decodes
        self.register_buffer("done", torch.ones(n_slots, device=device, dtype=torch.bool))
        # one spare column: a finished slot writes its (ignored) token there
        self.register_buffer("out_tok", torch.zeros(n_slots, max_new + 1, **long))
        self.register_buffer("out_lp", torch.zeros(n_slots, max_new + 1, device=device))
        self.register_buffer("stop", torch.tensor(sorted(set(stop_ids)) or [-1], **long))
        self.register_buffer("seed", torch.tensor(seed, **long))

    def fill(self, slots: list[int], kv, logits, rows: list[int], lengths: list[int], budgets: list[int]):
        """Start rows in `slots` from their prompt's prefill (keys/values [n_layers, 2, 1, Hkv, L, D], the
        logits of its last token [V]) and sample each row's first token."""
        index = torch.tensor(slots, device=self.last.device)
        for (keys, values), prompt_kv in zip(self.cache, kv):
            keys[index, :, :kv.shape[-2]], values[index, :, :kv.shape[-2]] = prompt_kv
        self.row[index] = torch.tensor(rows, device=index.device)
        self.lengths[index] = torch.tensor(lengths, device=index.device)
        self.budget[index] = torch.tensor(budgets, device=index.device)
        self.n_out[index] = 0
        tok, lp = sample_next(logits.expand(len(slots), -1), self.temperature, self.top_p,
                              uniforms(self.seed, self.row[index], self.n_out[index]))
        self.out_tok[index, 0], self.out_lp[index, 0], self.last[index] = tok, lp, tok
        self.n_out[index] = 1
        self.done[index] = torch.isin(tok, self.stop) | (self.budget[index] <= 1)

    def step(self, width: int, n: int):
        """One token for every live slot among the first n, keys up to `width` (a compiled step always runs
        every slot over the full width). Views of the buffers: the in-place updates land in them."""
        done, lengths, n_out, last = self.done[:n], self.lengths[:n], self.n_out[:n], self.last[:n]
        live = ~done
        pos = torch.where(live, lengths, 0)  # a finished slot writes at index 0: harmless, never read
        keys = torch.arange(width, device=pos.device)
        bias = torch.zeros(n, 1, 1, width, device=pos.device, dtype=self.keys0.dtype).masked_fill(
            (keys[None, :] > pos[:, None])[:, None, None], float("-inf"))  # a row sees its own tokens only
        full = n == self.last.shape[0] and width == self.keys0.shape[2]
        cache = self.cache if full else [(k[:n, :, :width], v[:n, :, :width]) for k, v in self.cache]
        logits = self.model.forward_cached(last[:, None], pos[:, None], cache, bias)
        tok, lp = sample_next(logits, self.temperature, self.top_p, uniforms(self.seed, self.row[:n], n_out))
        self.out_tok[:n].scatter_(1, n_out[:, None], tok[:, None])
        self.out_lp[:n].scatter_(1, n_out[:, None], lp[:, None])
        n_out += live
        lengths += live
        done |= torch.isin(tok, self.stop) | (n_out >= self.budget[:n])
        last.copy_(tok)

    def move(self, src: list[int], dst: list[int]):
        """Move the state of slots `src` into slots `dst` (live rows to the front: the step then runs on
        fewer slots while the last rows finish)."""
        src, dst = torch.tensor(src, device=self.last.device), torch.tensor(dst, device=self.last.device)
        for buffer in (*(t for pair in self.cache for t in pair), self.last, self.lengths, self.n_out,
                       self.budget, self.row, self.done, self.out_tok, self.out_lp):
            buffer[dst] = buffer[src]


def prefill(model: Transformer, prompts: list[list[int]]):
    """One forward over the prompts, right-padded (causal attention: no real token sees the padding).
    Returns keys/values [n_layers, 2, n, Hkv, L, D] and the logits of each prompt's last token [n, V]."""
    c, device = model.config, model.embed.weight.device
    L = max(map(len, prompts))
    tokens = torch.zeros(len(prompts), L, dtype=torch.long, device=device)
    for i, p in enumerate(prompts):
        tokens[i, :len(p)] = torch.tensor(p)
    kv = torch.zeros(c.n_layers, 2, len(prompts), c.n_kv_heads, L, c.head_dim, device=device,
                     dtype=model.embed.weight.dtype)
    positions = torch.arange(L, device=device).expand(len(prompts), L)
    last = torch.tensor([len(p) - 1 for p in prompts], device=device)
    logits = model.forward_cached(tokens, positions, [(kv[i, 0], kv[i, 1]) for i in range(c.n_layers)],
                                  last=last)
    return kv, logits


def kv_bytes_per_token(config: ModelConfig, dtype_bytes: int) -> int:
    """Keys and values of every layer for one token: 2 × layers × KV heads × head dim × bytes per element (the
    sampler's memory rule, and trainer.rl_plan's KV cache)."""
    return 2 * config.n_layers * config.n_kv_heads * config.head_dim * dtype_bytes


def slots_for_memory(model: Transformer, width: int, rows: int) -> int:
    """The slot count of the memory rule (module docstring): KV budget / (KV bytes per token × width)."""
    device = model.embed.weight.device
    budget = GPU_KV_FRACTION * torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else CPU_KV_BUDGET
    per_token = kv_bytes_per_token(model.config, model.embed.weight.element_size())
    return max(1, min(rows, int(budget // (per_token * width))))


# ----------------------------------------------------------------------------- the engine

def first_stop(tokens: list[int], start: int, decode, stop_strings) -> int | None:
    """The length of the shortest prefix of `tokens` whose text holds a stop string, looking only at
    prefixes longer than `start` (shorter ones were checked before); None when there is none. Only the tail
    can hold a new occurrence: a stop string of m characters spans at most 4m + 1 tokens of ≥ 1 byte."""
    back = max(start - 4 * max(map(len, stop_strings)) - 1, 0)
    for end in range(start + 1, len(tokens) + 1):
        if any(s in decode(tokens[back:end]) for s in stop_strings):
            return end
    return None


@torch.inference_mode()  # not just no_grad: no version counters or view tracking, less per op
def generate(model: Transformer, prompts: list[list[int]], max_new_tokens: int, temperature: float = 1.0,
             top_p: float = 1.0, stop_ids=(), stop_strings=(), decode=None, group_size: int = 1,
             slots: int | None = None, generator: torch.Generator | None = None, compile: bool = False,
             sync_every: int | None = None, stats=None):
    """Sample `group_size` completions of every prompt (token-id lists). Returns (completions, logprobs),
    row q·G + i being completion i of prompt q: its new ids (a stop id included when hit; a row ending in a
    stop string stops at the first token that completes it) and log π(token) at `temperature` (see
    sample_next). A row gets min(max_new_tokens, room left in the context) tokens. stop_strings need
    `decode` (token ids -> text). slots: rows decoding at once (None: the memory rule). generator: the seed
    is drawn from it (one draw per call). compile: torch.compile the step (CUDA: a CUDA graph). stats: a
    Counter that receives `steps` and `decoded` (tokens computed, those of finished slots included)."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("generate needs a non-empty list of non-empty prompts")
    if stop_strings and decode is None:
        raise ValueError("stop_strings need `decode` (token ids -> text)")
    if max_new_tokens < 1 or group_size < 1 or (slots is not None and slots < 1):
        raise ValueError(f"max_new_tokens ({max_new_tokens}), group_size ({group_size}) and slots ({slots}) "
                         "must be at least 1")
    context, device = model.config.max_seq_len, model.embed.weight.device
    too_long = [i for i, p in enumerate(prompts) if len(p) >= context]
    if too_long:
        raise ValueError(f"prompt {too_long[0]} ({len(prompts[too_long[0]])} tokens) leaves no room in the "
                         f"context of {context}")
    for p in prompts:
        model._check_tokens(torch.tensor(p))
    budgets = [min(max_new_tokens, context - len(p)) for p in prompts]
    width = max(len(p) + b for p, b in zip(prompts, budgets))
    if compile:  # a compiled step is specialised to its shapes: round the width so calls share them
        width = min(context, -(-width // 256) * 256)
    n_rows = len(prompts) * group_size
    n_slots = min(slots, n_rows) if slots else slots_for_memory(model, width, n_rows)
    seed = int(torch.randint(2 ** 31, (1,), generator=generator,
                             device=generator.device if generator else None))
    state = Slots(model, n_slots, width, max(budgets), stop_ids, seed, temperature, top_p)
    step = torch.compile(state.step, mode="reduce-overhead" if device.type == "cuda" else None,
                         dynamic=False) if compile else state.step
    sync_every = sync_every or (8 if device.type == "cuda" else 1)

    out_tokens: list = [None] * n_rows
    out_logprobs: list = [None] * n_rows
    slot_row: list = [None] * n_slots          # the row each slot decodes (None: free)
    host_tokens = [[] for _ in range(n_slots)]  # each slot's tokens so far, mirrored at every look
    # rows whose prompts are equal (the G of a group; evaluate.py's --n copies) share one prefill, kept
    # pending until the last of them has a slot
    first = {}
    source = [first.setdefault(tuple(p), q) for q, p in enumerate(prompts)]  # the first equal prompt
    waiting = Counter(source[r // group_size] for r in range(n_rows))
    pending: dict = {}                          # prompt -> (keys/values, logits)
    next_row = 0
    while True:
        free = [s for s in range(n_slots) if slot_row[s] is None]
        if free and next_row < n_rows:  # refill: the next waiting rows, one prefill per new prompt
            rows = list(range(next_row, min(next_row + len(free), n_rows)))
            next_row = rows[-1] + 1
            needed = sorted({source[r // group_size] for r in rows})
            new = [q for q in needed if q not in pending]
            if new:
                kv, logits = prefill(model, [prompts[q] for q in new])
                for i, q in enumerate(new):
                    pending[q] = (kv[:, :, i:i + 1, :, :len(prompts[q])], logits[i])
            for q in needed:
                mine = [r for r in rows if source[r // group_size] == q]
                taken = free[:len(mine)]
                free = free[len(mine):]
                state.fill(taken, *pending[q], mine, [len(prompts[q])] * len(mine), [budgets[q]] * len(mine))
                if stats is not None:
                    stats.update(decoded=len(mine))  # the first tokens, drawn from the prefill's logits
                for s, r in zip(taken, mine):
                    slot_row[s], host_tokens[s] = r, []
                waiting[q] -= len(mine)
                if not waiting[q]:
                    del pending[q]
        occupied = [s for s, r in enumerate(slot_row) if r is not None]
        if not occupied:
            break
        if next_row == n_rows and not compile and len(occupied) <= 3 * (occupied[-1] + 1) // 4:
            # nothing waits and a quarter of the slots in use are finished: move the live rows to the
            # front, so the step runs on fewer slots (eager only: a compiled step keeps its shapes)
            src = [s for s in occupied if s >= len(occupied)]
            dst = [s for s in range(len(occupied)) if slot_row[s] is None]
            state.move(src, dst)
            for s, d in zip(src, dst):
                slot_row[d], host_tokens[d] = slot_row[s], host_tokens[s]
                slot_row[s], host_tokens[s] = None, []
            occupied = list(range(len(occupied)))
        n_run = n_slots if compile else occupied[-1] + 1
        # keys needed in the next steps: up to the longest live sequence + sync_every (eager: rounded up to
        # 64, few distinct shapes); the compiled step always attends over the full width (static shape)
        need = max(len(prompts[r // group_size]) + len(host_tokens[s]) for s, r in enumerate(slot_row)
                   if r is not None) + sync_every + 1
        span = width if compile else min(width, -(-need // 64) * 64)
        for _ in range(sync_every):
            step(span, n_run)
        if stats is not None:
            stats.update(steps=sync_every, decoded=sync_every * n_run)
        # look: fetch each slot's newest tokens (at most sync_every + 1 since the last look)
        done, n_out = state.done[:n_run].tolist(), state.n_out[:n_run].tolist()
        cols = (torch.tensor([len(t) for t in host_tokens], device=device)[:, None]
                + torch.arange(sync_every + 1, device=device)).clamp(max=state.out_tok.shape[1] - 1)
        newest = state.out_tok.gather(1, cols).tolist()
        for s in occupied:
            r = slot_row[s]
            seen = len(host_tokens[s])
            host_tokens[s] += newest[s][:n_out[s] - seen]
            end = first_stop(host_tokens[s], seen, decode, stop_strings) if stop_strings else None
            if end is not None:
                host_tokens[s] = host_tokens[s][:end]
                state.done[s] = True
            elif not done[s]:
                continue
            out_tokens[r] = host_tokens[s]
            out_logprobs[r] = state.out_lp[s, :len(host_tokens[s])].tolist()
            slot_row[s] = None
    return out_tokens, out_logprobs
