"""A Decision Transformer in one readable file (nanoGPT-sized), and a fast one-step-at-a-time runner.

    >>> from helpers.models.dt import DTConfig, DecisionTransformer
    >>> model = DecisionTransformer(DTConfig(state_dim=17, act_dim=6))
    >>> actions = model(states, actions, returns_to_go, timesteps)      # (B, K, act_dim), in [-1, 1]

The idea (Chen et al. 2021, https://arxiv.org/abs/2106.01345): treat control as sequence modelling.
A trajectory becomes a sequence of tokens, three per step,

    R_1  s_1  a_1  R_2  s_2  a_2  ...  R_K  s_K  [a_K]

where R_t is the return-to-go (the sum of rewards still to come). A GPT-style causal Transformer
reads them and, at every state token s_t, predicts the action a_t. Training is plain supervised
regression on offline data. At test time we *ask* for a return by choosing R_1, subtract the
rewards as they arrive, and the model acts like the data that achieved that return.

Design choices, and what they leave room for:

* Each token is a linear embedding of its content plus an embedding of its episode timestep (time
  is absolute, not the token's position in the window), then a LayerNorm, then a **token-type
  embedding** (return / state / action / condition). The transformers library's
  ``DecisionTransformerModel`` adds one learned position-0 vector to every token at that place; that is
  our token-type embedding with all rows equal, which is how ``load_hf_weights`` maps one onto the
  other (the parity test checks the outputs match).
* An optional **conditioning token** (``cond_dim > 0``) is put first in every window: a goal, a skill
  embedding or a sentence embedding for the generalist of notebook 06.
* Several bodies: states and actions are zero-padded to ``state_dim`` / ``act_dim`` (the largest
  body); ``action_mask`` (B, act_dim) says which action dimensions are real, zeroing padded inputs
  and removing them from the loss.
* Causal attention is ``F.scaled_dot_product_attention(is_causal=True)``: no mask tensor at all.
  Windows are padded on the right (see :mod:`helpers.data.windows`), which causal attention makes
  invisible to the real tokens.
* Only the state tokens' outputs are ever used, so the last block computes its queries, attention
  output and MLP for the state tokens alone (a third of the rows): same result, less work.
* Optionally (``predict_std``) a small network learns how widely the data's actions spread around
  the mean for a given return-to-go and time, so the policy can act by sampling. On data whose
  mediocre episodes are "the expert plus noise", the mean action is the expert's whatever return is
  asked for; only the spread can reproduce a mediocre return (see :meth:`DecisionTransformer.log_std`).

:class:`DTRunner` acts one step at a time with a key/value cache, so an action costs the work of
three new tokens instead of the whole window (see its docstring for how it stays exact).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from ..core.checkpoints import atomic_save, atomic_write_json
from ..core.errors import InvalidArgumentError, NotAvailableError

TOKEN_TYPES = {"cond": 0, "return": 1, "state": 2, "action": 3}
LOG_STD_MIN, LOG_STD_MAX = -5.0, 0.5  # bounds of the predicted action log-std (predict_std=True)
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}


@dataclass
class DTConfig:
    """The architecture. Defaults are the Decision Transformer paper's MuJoCo settings."""

    state_dim: int = 17  # HalfCheetah; the largest body's when padding several
    act_dim: int = 6
    context_len: int = 20  # K: steps per window (3K tokens, +1 with a conditioning token)
    n_layer: int = 3
    n_head: int = 1
    n_embd: int = 128
    dropout: float = 0.1
    max_ep_len: int = 1000  # size of the timestep embedding table
    activation: str = "relu"
    action_tanh: bool = True  # actions in [-1, 1]
    predict_std: bool = False  # also learn how widely the data's actions spread, given the return asked for
    cond_dim: int = 0  # > 0: one conditioning token (goal, skill, language) at the start of each window
    return_dim: int = 1  # what the token before each state holds: 1 is the return-to-go; the generalist's goal is wider

    def __post_init__(self):
        for name in ("state_dim", "act_dim", "context_len", "n_layer", "n_head", "n_embd", "max_ep_len", "return_dim"):
            if int(getattr(self, name)) < 1:
                raise InvalidArgumentError(f"DTConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        if self.n_embd % self.n_head:
            raise InvalidArgumentError(f"DTConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if not 0.0 <= self.dropout < 1.0:
            raise InvalidArgumentError(f"DTConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.activation not in ACTIVATIONS:
            raise InvalidArgumentError(f"DTConfig.activation {self.activation!r} is not one of {', '.join(ACTIVATIONS)}")
        if self.cond_dim < 0:
            raise InvalidArgumentError(f"DTConfig.cond_dim must be >= 0, got {self.cond_dim}")

    @property
    def n_prefix(self) -> int:
        """Tokens before the first return token (the conditioning token, if any)."""
        return 1 if self.cond_dim else 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DTConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise InvalidArgumentError(f"unknown DTConfig fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)


# --------------------------------------------------------------------------------------------------
# The Transformer
# --------------------------------------------------------------------------------------------------

class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: DTConfig):
        super().__init__()
        self.n_head, self.head_dim = cfg.n_head, cfg.n_embd // cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.dropout = cfg.dropout
        self.resid_drop = nn.Dropout(cfg.dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, H, T, D)
        return x.unflatten(-1, (self.n_head, self.head_dim)).transpose(1, 2)

    def forward(self, x: torch.Tensor, query_rows: slice | None = None) -> torch.Tensor:
        """Causal self-attention over ``x``; with ``query_rows``, outputs only for those rows."""
        C = x.shape[-1]
        p = self.dropout if self.training else 0.0
        if query_rows is None:
            q, k, v = self.qkv(x).split(C, dim=-1)
            y = F.scaled_dot_product_attention(self._heads(q), self._heads(k), self._heads(v), dropout_p=p,
                                               is_causal=True)
        else:
            # keys and values for every row, queries only for the rows we keep; the causal mask becomes
            # "row i may see keys up to its own position"
            w_q, w_kv = self.qkv.weight.split([C, 2 * C])
            b_q, b_kv = self.qkv.bias.split([C, 2 * C])
            k, v = F.linear(x, w_kv, b_kv).split(C, dim=-1)
            q = F.linear(x[:, query_rows], w_q, b_q)
            T = x.shape[1]
            rows = torch.arange(T, device=x.device)[query_rows]
            mask = torch.arange(T, device=x.device)[None, :] <= rows[:, None]
            y = F.scaled_dot_product_attention(self._heads(q), self._heads(k), self._heads(v), attn_mask=mask,
                                               dropout_p=p)
        y = y.transpose(1, 2).flatten(-2)
        return self.resid_drop(self.proj(y))


class Block(nn.Module):
    """Pre-LayerNorm Transformer block (GPT-2's)."""

    def __init__(self, cfg: DTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), ACTIVATIONS[cfg.activation](),
                                 nn.Linear(4 * cfg.n_embd, cfg.n_embd), nn.Dropout(cfg.dropout))

    def forward(self, x: torch.Tensor, query_rows: slice | None = None) -> torch.Tensor:
        h = self.attn(self.ln_1(x), query_rows)
        x = (x if query_rows is None else x[:, query_rows]) + h
        return x + self.mlp(self.ln_2(x))


class DecisionTransformer(nn.Module):
    def __init__(self, cfg: DTConfig):
        super().__init__()
        self.cfg = cfg
        C = cfg.n_embd
        self.embed_timestep = nn.Embedding(cfg.max_ep_len, C)
        self.embed_return = nn.Linear(cfg.return_dim, C)
        self.embed_state = nn.Linear(cfg.state_dim, C)
        self.embed_action = nn.Linear(cfg.act_dim, C)
        self.embed_cond = nn.Linear(cfg.cond_dim, C) if cfg.cond_dim else None
        self.embed_ln = nn.LayerNorm(C)
        self.token_type = nn.Embedding(len(TOKEN_TYPES), C)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(C)
        self.predict_action = nn.Linear(C, cfg.act_dim)
        # the spread of the data's actions as a function of (return-to-go, timestep) only: see log_std()
        self.spread = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                                    nn.Linear(64, cfg.act_dim)) if cfg.predict_std else None
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale the residual projections by 1/sqrt(2 n_layer)
            if name.endswith(("attn.proj.weight", "mlp.2.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))
        types = [TOKEN_TYPES["return"], TOKEN_TYPES["state"], TOKEN_TYPES["action"]] * cfg.context_len
        self.register_buffer("type_ids", torch.tensor([TOKEN_TYPES["cond"]] * cfg.n_prefix + types), persistent=False)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def embed(self, states: torch.Tensor, actions: torch.Tensor, returns_to_go: torch.Tensor,
              timesteps: torch.Tensor, cond: torch.Tensor | None = None,
              action_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Token embeddings (B, n_prefix + 3K, C): [cond] R_1 s_1 a_1 ... R_K s_K a_K."""
        B, K = states.shape[:2]
        if action_mask is not None:
            actions = actions * action_mask[:, None, :].to(actions.dtype)
        t = self.embed_timestep(timesteps)
        tokens = torch.stack([self.embed_return(returns_to_go) + t, self.embed_state(states) + t,
                              self.embed_action(actions) + t], dim=2).reshape(B, 3 * K, -1)
        if self.embed_cond is not None:
            if cond is None:
                raise InvalidArgumentError(f"this model has a conditioning token (cond_dim={self.cfg.cond_dim}): pass cond")
            tokens = torch.cat([self.embed_cond(cond)[:, None], tokens], dim=1)
        elif cond is not None:
            raise InvalidArgumentError("cond was given but this model has no conditioning token (cond_dim=0)")
        n = tokens.shape[1]
        return self.embed_ln(tokens) + self.token_type(self.type_ids[:n])

    def forward(self, states: torch.Tensor, actions: torch.Tensor, returns_to_go: torch.Tensor,
                timesteps: torch.Tensor, cond: torch.Tensor | None = None,
                action_mask: torch.Tensor | None = None, return_log_std: bool = False):
        """Predicted actions (B, K, act_dim): entry t from the tokens up to and including s_t.

        states (B, K, state_dim), actions (B, K, act_dim), returns_to_go (B, K, 1), timesteps (B, K)
        int64, cond (B, cond_dim) when ``cfg.cond_dim > 0``, action_mask (B, act_dim) for padded bodies.
        With ``return_log_std`` (models with ``predict_std``) returns (actions, log_std).
        """
        K = states.shape[1]
        if K > self.cfg.context_len:
            raise InvalidArgumentError(f"window of {K} steps is longer than context_len={self.cfg.context_len}")
        x = self.drop(self.embed(states, actions, returns_to_go, timesteps, cond, action_mask))
        for block in self.blocks[:-1]:
            x = block(x)
        state_rows = slice(self.cfg.n_prefix + 1, None, 3)
        x = self.blocks[-1](x, query_rows=state_rows)  # (B, K, C): outputs at the state tokens only
        a = self.predict_action(self.ln_f(x))
        a = torch.tanh(a) if self.cfg.action_tanh else a
        if return_log_std:
            return a, self.log_std(returns_to_go, timesteps)
        return a

    def log_std(self, returns_to_go: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Log-std of the data's actions around the mean, given only the return asked for and the time.

        In [LOG_STD_MIN, LOG_STD_MAX]; shape (..., act_dim) for returns_to_go (..., 1), timesteps (...).
        Why not a head on the Transformer's output, which sees the states too: acting by sampling then
        feeds back. A slightly noisy step moves the body off the expert's states; states off the expert's
        path look like the noisy data, so the head predicts more noise, which moves the body further
        off, until the run can break down even when asked for the expert's return. The noise level of
        the data is a property of the behaviour that produced it, which the return and the time reveal;
        the state does not need to. This small network is also separate from the Transformer, so the
        mean action is trained exactly as without it.
        """
        if self.spread is None:
            raise InvalidArgumentError("this model predicts no action spread (DTConfig.predict_std=False)")
        features = torch.cat([returns_to_go, timesteps[..., None].to(returns_to_go.dtype) / self.cfg.max_ep_len], -1)
        return LOG_STD_MIN + (LOG_STD_MAX - LOG_STD_MIN) * torch.sigmoid(self.spread(features))


def spread_loss(mean: torch.Tensor, log_std: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Gaussian negative log-likelihood of the data's actions around the *detached* predicted mean.

    The mean is trained by the squared error alone (as in the paper); this term teaches the spread
    network how far the data's actions scatter around the mean for a given return-to-go and time:
    near zero for the deterministic expert, about the injected noise for the medium data, wide for
    the random data. That is what lets the model reproduce a mediocre return when asked for one: the
    *mean* action of expert-plus-noise data is the expert's action, so a model that only predicts
    means runs like the expert whatever return it is asked for.
    """
    nll = 0.5 * ((target - mean.detach()) / log_std.exp()).square() + log_std
    w = mask[..., None].to(nll.dtype).expand_as(nll)
    return (nll * w).sum() / w.sum().clamp_min(1.0)


def action_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                action_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error over real steps (``mask`` (B, K)) and real action dims (``action_mask`` (B, A))."""
    w = mask[..., None].to(pred.dtype)
    if action_mask is not None:
        w = w * action_mask[:, None, :].to(pred.dtype)
    else:
        w = w.expand_as(pred)
    return ((pred - target).square() * w).sum() / w.sum().clamp_min(1.0)


# --------------------------------------------------------------------------------------------------
# Saving and loading (safetensors: no pickle)
# --------------------------------------------------------------------------------------------------

def save_model(model: DecisionTransformer, directory: Path | str, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (the DTConfig under "model", plus ``extra``)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().float().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_save(d / "model.safetensors", lambda tmp: save_file(state, str(tmp)))
    atomic_write_json(d / "config.json", {"model": asdict(model.cfg), **(extra or {})})
    return d


def load_model(directory: Path | str, device: str = "cpu") -> tuple[DecisionTransformer, dict[str, Any]]:
    """The model in ``directory`` (eval mode) and its config.json."""
    d = Path(directory)
    for name in ("model.safetensors", "config.json"):
        if not (d / name).exists():
            raise NotAvailableError(f"{d / name} is missing: a DT folder holds model.safetensors and config.json")
    config = json.loads((d / "config.json").read_text())
    model = DecisionTransformer(DTConfig.from_dict(config["model"]))
    model.load_state_dict(load_file(str(d / "model.safetensors"), device=device))
    return model.to(device).eval(), config


def load_hf_weights(model: DecisionTransformer, hf) -> DecisionTransformer:
    """Copy the weights of a transformers ``DecisionTransformerModel`` into ours (same config).

    GPT-2's Conv1D stores weights transposed relative to nn.Linear. The library adds the position-0
    embedding ``wpe[0]`` to every token after the embedding LayerNorm: our token-type embedding with
    every row equal to it.
    """
    cfg, hc = model.cfg, hf.config
    if (hc.state_dim, hc.act_dim, hc.hidden_size, hc.n_layer, hc.n_head) != (
            cfg.state_dim, cfg.act_dim, cfg.n_embd, cfg.n_layer, cfg.n_head):
        raise InvalidArgumentError("the transformers model's dims differ from ours: "
                         f"{(hc.state_dim, hc.act_dim, hc.hidden_size, hc.n_layer, hc.n_head)} vs "
                         f"{(cfg.state_dim, cfg.act_dim, cfg.n_embd, cfg.n_layer, cfg.n_head)} "
                         "(state_dim, act_dim, width, layers, heads)")
    with torch.no_grad():
        n = min(cfg.max_ep_len, hc.max_ep_len)
        model.embed_timestep.weight[:n].copy_(hf.embed_timestep.weight[:n])
        for ours, theirs in [(model.embed_return, hf.embed_return), (model.embed_state, hf.embed_state),
                             (model.embed_action, hf.embed_action), (model.embed_ln, hf.embed_ln),
                             (model.ln_f, hf.encoder.ln_f), (model.predict_action, hf.predict_action[0])]:
            ours.load_state_dict(theirs.state_dict())
        model.token_type.weight.copy_(hf.encoder.wpe.weight[0].expand_as(model.token_type.weight))
        for block, h in zip(model.blocks, hf.encoder.h):
            block.ln_1.load_state_dict(h.ln_1.state_dict())
            block.ln_2.load_state_dict(h.ln_2.state_dict())
            for lin, conv in [(block.attn.qkv, h.attn.c_attn), (block.attn.proj, h.attn.c_proj),
                              (block.mlp[0], h.mlp.c_fc), (block.mlp[2], h.mlp.c_proj)]:
                lin.weight.copy_(conv.weight.t())
                lin.bias.copy_(conv.bias)
    return model


# --------------------------------------------------------------------------------------------------
# Acting one step at a time: key/value cache over staggered windows
# --------------------------------------------------------------------------------------------------

class DTRunner:
    """Acts with a trained DT one step at a time, doing the work of 3 new tokens per step.

    The model was trained on windows: the action at step t is computed from the tokens of a window
    that starts at some step c <= t (at most K steps back), with causal attention inside it. A plain
    key/value cache cannot slide such a window: once the oldest step drops out, the deeper layers'
    keys of the remaining tokens would have to be recomputed without it. Instead we keep ``n_streams``
    windows ("streams") that start at staggered steps, each growing one step at a time until it holds
    K steps and then restarting empty. Each stream is exactly a window the model was trained on, so
    its cache is exact (no recomputation); we act from the stream that holds the most history.

    * ``n_streams = K``: some stream always holds exactly the last K steps: identical to re-running
      the model on the last K steps every step (the standard DT evaluation), at the cost of K streams.
    * ``n_streams = 4`` (default): the context is always between 3K/4 + 1 and K steps.

    All streams see the same three new tokens each step (a_{t-1}, R_t, s_t), so they share one
    embedding and run through the layers as a batch of ``n_streams`` rows. Cache slots are indexed by
    step t mod K: attention does not care where a key is stored, only which keys a query may see,
    and a boolean mask per stream says that. The step is written with plain tensor functions on
    weights gathered once (no nn.Module calls), because at 3 tokens per step the time goes to per-call
    overhead, not arithmetic.
    """

    def __init__(self, model: DecisionTransformer, n_streams: int = 4):
        cfg = model.cfg
        if not 1 <= n_streams <= cfg.context_len:
            raise InvalidArgumentError(f"n_streams must be in [1, context_len={cfg.context_len}], got {n_streams}")
        self.model, self.cfg = model.eval(), cfg
        p = next(model.parameters())
        self.device, self.dtype = p.device, p.dtype
        K, m, H, D = cfg.context_len, n_streams, cfg.n_head, cfg.n_embd // cfg.n_head
        self.K, self.m, self.H, self.D = K, m, H, D
        self.offsets = [(j * K) // m for j in range(m)]  # stream j restarts at steps t = offsets[j] (mod K)
        slots = 3 * K + cfg.n_prefix  # 3 slots per step, indexed by t mod K, then [cond]
        self.keys = torch.zeros(cfg.n_layer, m, H, slots, D, device=self.device, dtype=self.dtype)
        self.values = torch.zeros_like(self.keys)
        # which cache slots belong to each stream's window, as an additive attention bias: 0, or the most
        # negative float (not -inf: a restarting stream's unused a_{t-1} query sees no key at all, and a
        # softmax over a row of -inf is NaN; over a row of finite minima it is harmless)
        self.masked = torch.finfo(self.dtype).min
        self.bias = torch.full((m, slots), self.masked, device=self.device, dtype=self.dtype)
        self.scale = 1.0 / math.sqrt(D)
        self.start = [0] * m  # first step of each stream's current window
        self.log_std: torch.Tensor | None = None  # of the last action, for models with predict_std
        # among the 3 new tokens, query i may see new key j <= i
        self.causal3 = torch.zeros(3, 3, device=self.device, dtype=self.dtype).masked_fill(
            ~torch.tril(torch.ones(3, 3, dtype=torch.bool, device=self.device)), float("-inf"))
        with torch.no_grad():
            C = cfg.n_embd
            types = torch.tensor([TOKEN_TYPES["action"], TOKEN_TYPES["return"], TOKEN_TYPES["state"]])
            # one matmul embeds the three new tokens: rows [a_{t-1}, 0, 0], [0, R_t, 0], [0, 0, s_t]
            self.w_embed = torch.cat([model.embed_action.weight, model.embed_return.weight,
                                      model.embed_state.weight], dim=1).t().contiguous()
            self.b_embed = torch.stack([model.embed_action.bias, model.embed_return.bias, model.embed_state.bias])
            self.token_in = torch.zeros(3, cfg.act_dim + cfg.return_dim + cfg.state_dim, device=self.device,
                                        dtype=self.dtype)
            self.type_emb = model.token_type.weight[types.to(self.device)].clone()
            self.layers = []
            for b in model.blocks:  # (ln_1, qkv^T, proj^T, ln_2, fc^T, out^T) with biases
                self.layers.append(dict(
                    ln1=(b.ln_1.weight, b.ln_1.bias, b.ln_1.eps), ln2=(b.ln_2.weight, b.ln_2.bias, b.ln_2.eps),
                    qkv=(b.attn.qkv.bias, b.attn.qkv.weight.t().contiguous()),
                    proj=(b.attn.proj.bias, b.attn.proj.weight.t().contiguous()),
                    fc=(b.mlp[0].bias, b.mlp[0].weight.t().contiguous()),
                    out=(b.mlp[2].bias, b.mlp[2].weight.t().contiguous()), act=type(b.mlp[1])))
            self.C = C
        self.time_index = torch.arange(cfg.max_ep_len, device=self.device)
        self.t = 0

    @torch.inference_mode()
    def reset(self, cond: torch.Tensor | np.ndarray | None = None) -> None:
        """Start an episode (with a conditioning vector if the model has a conditioning token)."""
        self.bias.fill_(self.masked)
        self.start = [0] * self.m
        self.t = 0
        if self.cfg.cond_dim:
            if cond is None:
                raise InvalidArgumentError(f"this model needs a conditioning vector of size {self.cfg.cond_dim}")
            # the conditioning token comes first, so its keys depend on nothing else: compute them once
            model = self.model
            c = torch.as_tensor(cond, dtype=self.dtype, device=self.device).reshape(1, 1, -1)
            x = model.embed_ln(model.embed_cond(c)) + model.token_type.weight[TOKEN_TYPES["cond"]]
            for layer, block in enumerate(model.blocks):
                q, k, v = block.attn.qkv(block.ln_1(x)).split(self.C, dim=-1)
                self.keys[layer, :, :, -1] = k.reshape(self.H, self.D)
                self.values[layer, :, :, -1] = v.reshape(self.H, self.D)
                x = block(x)
            self.bias[:, -1] = 0.0

    @torch.inference_mode()
    def act(self, state: torch.Tensor, return_to_go: float | torch.Tensor, prev_action: torch.Tensor | None) -> torch.Tensor:
        """The action at the current step, from the (normalised) state and the (scaled) return-to-go
        (or, for a model with ``return_dim > 1``, the goal vector that takes its place).

        ``prev_action`` is the action taken at the previous step (None at t = 0).
        """
        cfg, K, t, m, C, H, D = self.cfg, self.K, self.t, self.m, self.C, self.H, self.D
        base = 3 * (t % K)
        for j in range(m):  # streams restarting now forget their window (at t = 0 every stream is new)
            if t > 0 and (t - self.offsets[j]) % K == 0:
                self.bias[j, : 3 * K] = self.masked
                self.start[j] = t
        # the three new tokens, shared by every stream: a_{t-1}, R_t, s_t
        A = cfg.act_dim
        if prev_action is not None:
            self.token_in[0, :A] = prev_action
        else:
            self.token_in[0, :A] = 0.0
        R = cfg.return_dim
        self.token_in[1, A:A + R] = return_to_go
        self.token_in[2, A + R:] = state
        time_emb = self.model.embed_timestep.weight
        ts = time_emb[min(t, cfg.max_ep_len - 1)]
        tokens = torch.addmm(self.b_embed, self.token_in, self.w_embed)
        tokens[0] += time_emb[min(max(t - 1, 0), cfg.max_ep_len - 1)]
        tokens[1:] += ts
        ln = self.model.embed_ln
        x = (F.layer_norm(tokens, (C,), ln.weight, ln.bias, ln.eps) + self.type_emb).repeat(m, 1)  # (m*3, C)
        # which keys each stream's 3 new queries may see: its window's old keys, plus causal among the new;
        # a_{t-1} belongs to a stream's window only if the window began before t
        self.bias[:, base:base + 3] = 0.0
        for j in range(m):
            if self.start[j] == t:
                self.bias[j, base] = self.masked
        bias = self.bias[:, None, None, :]  # (m, 1, 1, slots): broadcast over heads and queries
        for layer, p in enumerate(self.layers):
            h = F.layer_norm(x, (C,), *p["ln1"][:2], p["ln1"][2])
            q, k, v = torch.addmm(*p["qkv"][:1], h, p["qkv"][1]).view(m, 3, 3, H, D).unbind(2)
            self.keys[layer, :, :, base:base + 3] = k.transpose(1, 2)
            self.values[layer, :, :, base:base + 3] = v.transpose(1, 2)
            # attention written out: at 3 queries x 60 keys the fused kernel's setup costs more than the math
            scores = torch.matmul(q.transpose(1, 2), self.keys[layer].transpose(-1, -2)).mul_(self.scale).add_(bias)
            scores[..., base:base + 3] += self.causal3
            y = torch.matmul(scores.softmax(-1), self.values[layer])  # (m, H, 3, D)
            x = torch.addmm(x, y.transpose(1, 2).reshape(m * 3, C), p["proj"][1]).add_(p["proj"][0])
            h = F.layer_norm(x, (C,), *p["ln2"][:2], p["ln2"][2])
            h = torch.addmm(p["fc"][0], h, p["fc"][1])
            h = torch.relu_(h) if p["act"] is nn.ReLU else F.gelu(h)
            x = torch.addmm(x, h, p["out"][1]).add_(p["out"][0])
        best = min(range(m), key=self.start.__getitem__)  # the stream with the longest window
        ln_f = self.model.ln_f
        h = F.layer_norm(x[3 * best + 2], (C,), ln_f.weight, ln_f.bias, ln_f.eps)
        a = self.model.predict_action(h)
        if cfg.predict_std:  # the spread of the data's actions for this return and time (DTPolicy may sample)
            self.log_std = self.model.log_std(self.token_in[1, A:A + 1], self.time_index[min(t, cfg.max_ep_len - 1)])
        self.t += 1
        return torch.tanh(a) if cfg.action_tanh else a
