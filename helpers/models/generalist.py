"""The goal-conditioned generalist: one Transformer for every skill of both bodies, in one readable file.

    >>> cfg = GeneralistConfig(bodies={"cheetah": (17, 6), "humanoid": (45, 17), "humanoid_standup": (45, 17)})
    >>> model = Generalist(cfg)
    >>> actions = model(states, actions, goals, timesteps, body)       # (B, K, max act_dim), in [-1, 1]

It is the Decision Transformer of :mod:`helpers.models.dt` with two changes.

* **The return token becomes a goal token.** A DT is told how much reward to collect; the generalist
  is told *what to do*: the token before each state embeds a goal vector (:func:`goal_features`)
  holding the skill (one-hot: a learned skill embedding), the target speed (Fourier features, so
  nearby speeds get nearby codes and speeds never trained on sit between trained ones), the quality
  of the behaviour asked for (expert, medium, random: the return conditioning of a DT, in three
  levels comparable across skills whose returns are not) and, optionally, a sentence embedding.
  The goal is per step, so a request that changes mid-episode is just a different token from then on.
* **Bodies have their own input and output projections.** The cheetah observes 17 numbers and acts
  with 6, the humanoid 45 and 17, and HumanoidStandup's humanoid lies in another model file whose
  joint angles mean other things: each body has its own state and action embedding and action head,
  and a body embedding is added to all its tokens. Everything in between (the attention blocks, the
  time embedding, the goal embedding) is shared, which is what lets skills help each other.

States arrive normalised per body and zero-padded to the widest body, actions padded to the widest
action; padded action dimensions are masked out of the inputs and the loss.

Acting one step at a time reuses the DT's exact key/value-cache runner: :meth:`Generalist.body_view`
folds a body's projections and embedding into an ordinary :class:`DecisionTransformer` that shares
the blocks, and :class:`helpers.models.dt.DTRunner` runs it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from ..core.checkpoints import atomic_save, atomic_write_json
from ..core.errors import InvalidArgumentError, NotAvailableError
from ..data.flat import QUALITY_LEVELS
from ..envs.skills import SKILLS, TARGET_SPEED_RANGE
from .dt import DecisionTransformer, DTConfig


@dataclass
class GeneralistConfig:
    """The architecture. Width and depth default to the Decision Transformer paper's MuJoCo model."""

    bodies: dict[str, list[int]] = field(default_factory=lambda: {"cheetah": [17, 6], "humanoid": [45, 17],
                                                                  "humanoid_standup": [45, 17]})
    skills: list[str] = field(default_factory=lambda: list(SKILLS))
    context_len: int = 20
    n_layer: int = 3
    n_head: int = 1
    n_embd: int = 128
    dropout: float = 0.1
    max_ep_len: int = 1000
    speed_frequencies: int = 4  # sin/cos pairs of the target speed
    quality: bool = True  # the goal says which quality of behaviour to imitate (False: return-free)
    sentence_dim: int = 0  # > 0: a sentence embedding of the instruction joins the goal (notebook 08)

    def __post_init__(self):
        self.bodies = {k: [int(v[0]), int(v[1])] for k, v in self.bodies.items()}
        unknown = set(self.skills) - set(SKILLS)
        if unknown:
            raise InvalidArgumentError(f"unknown skills {sorted(unknown)}; known skills: {', '.join(SKILLS)}")
        if not self.bodies:
            raise InvalidArgumentError("GeneralistConfig.bodies needs at least one body: {name: [obs_dim, act_dim]}")

    @property
    def state_dim(self) -> int:
        return max(o for o, _ in self.bodies.values())

    @property
    def act_dim(self) -> int:
        return max(a for _, a in self.bodies.values())

    @property
    def goal_dim(self) -> int:
        return len(self.skills) + 1 + 2 * self.speed_frequencies + (len(QUALITY_LEVELS) if self.quality else 0) \
            + self.sentence_dim

    def dt_config(self) -> DTConfig:
        return DTConfig(state_dim=self.state_dim, act_dim=self.act_dim, context_len=self.context_len,
                        n_layer=self.n_layer, n_head=self.n_head, n_embd=self.n_embd, dropout=self.dropout,
                        max_ep_len=self.max_ep_len, return_dim=self.goal_dim)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GeneralistConfig":
        known = {f.name for f in fields(cls)}
        if set(d) - known:
            raise InvalidArgumentError(f"unknown GeneralistConfig fields {sorted(set(d) - known)}; known: {sorted(known)}")
        return cls(**d)


def goal_features(cfg: GeneralistConfig, skill_index: np.ndarray, target_speed: np.ndarray,
                  quality_index: np.ndarray | None = None, sentence: np.ndarray | None = None) -> np.ndarray:
    """Goal vectors (..., goal_dim) from per-step skill indices (into ``cfg.skills``), target speeds (NaN
    or anything for skills without a speed goal: only ``target_speed`` reads it), quality indices (into
    QUALITY_LEVELS) and sentence embeddings."""
    skill_index = np.asarray(skill_index, dtype=np.int64)
    speed = np.nan_to_num(np.asarray(target_speed, dtype=np.float64))
    has_speed = np.asarray([SKILLS[s].has_goal for s in cfg.skills])[skill_index]
    speed = np.where(has_speed, speed, 0.0)
    parts = [np.eye(len(cfg.skills), dtype=np.float32)[skill_index]]
    scale = max(abs(TARGET_SPEED_RANGE[0]), abs(TARGET_SPEED_RANGE[1]))
    x = speed / scale  # in [-1, 1]
    parts.append((x * has_speed)[..., None])
    for k in range(1, cfg.speed_frequencies + 1):
        parts += [(np.sin(math.pi * k * x) * has_speed)[..., None], (np.cos(math.pi * k * x) * has_speed)[..., None]]
    if cfg.quality:
        q = np.full(skill_index.shape, QUALITY_LEVELS.index("expert")) if quality_index is None else quality_index
        parts.append(np.eye(len(QUALITY_LEVELS), dtype=np.float32)[np.asarray(q, dtype=np.int64)])
    if cfg.sentence_dim:
        if sentence is None:
            sentence = np.zeros(skill_index.shape + (cfg.sentence_dim,), np.float32)
        parts.append(np.broadcast_to(np.asarray(sentence, np.float32), skill_index.shape + (cfg.sentence_dim,)))
    return np.concatenate([p.astype(np.float32) for p in parts], axis=-1)


class Generalist(nn.Module):
    def __init__(self, cfg: GeneralistConfig):
        super().__init__()
        self.cfg = cfg
        self.body_names = list(cfg.bodies)
        nb, S, A, C = len(self.body_names), cfg.state_dim, cfg.act_dim, cfg.n_embd
        # shared: time and goal embeddings, token types, the attention blocks, the final LayerNorm
        # (the core's own state/action projections and action head are the bodies', so it has none)
        self.core = DecisionTransformer(cfg.dt_config())
        del self.core.embed_state, self.core.embed_action, self.core.predict_action
        self.state_in = nn.Parameter(torch.randn(nb, S, C) * 0.02)
        self.state_bias = nn.Parameter(torch.zeros(nb, C))
        self.action_in = nn.Parameter(torch.randn(nb, A, C) * 0.02)
        self.action_bias = nn.Parameter(torch.zeros(nb, C))
        self.head = nn.Parameter(torch.randn(nb, C, A) * 0.02)
        self.head_bias = nn.Parameter(torch.zeros(nb, A))
        self.body_embedding = nn.Embedding(nb, C)
        nn.init.normal_(self.body_embedding.weight, std=0.02)
        masks = torch.zeros(nb, A)
        for i, (_, act_dim) in enumerate(cfg.bodies.values()):
            masks[i, :act_dim] = 1.0
        self.register_buffer("action_mask", masks, persistent=False)

    def body_index(self, body: str) -> int:
        if body not in self.cfg.bodies:
            raise InvalidArgumentError(f"this generalist knows the bodies {self.body_names}, not {body!r}")
        return self.body_names.index(body)

    def forward(self, states: torch.Tensor, actions: torch.Tensor, goals: torch.Tensor, timesteps: torch.Tensor,
                body: torch.Tensor) -> torch.Tensor:
        """Predicted actions (B, K, act_dim) from padded states (B, K, state_dim), padded actions
        (B, K, act_dim), goal vectors (B, K, goal_dim), timesteps (B, K) and body indices (B,)."""
        core, (B, K) = self.core, states.shape[:2]
        if K > self.cfg.context_len:
            raise InvalidArgumentError(f"window of {K} steps is longer than context_len={self.cfg.context_len}")
        body_emb = self.body_embedding(body)[:, None]
        t = core.embed_timestep(timesteps)
        s = torch.einsum("bks,bsc->bkc", states, self.state_in[body]) + self.state_bias[body][:, None]
        a = torch.einsum("bka,bac->bkc", actions * self.action_mask[body][:, None], self.action_in[body])
        a = a + self.action_bias[body][:, None]
        tokens = torch.stack([core.embed_return(goals) + body_emb + t, s + body_emb + t, a + body_emb + t], dim=2)
        x = core.embed_ln(tokens.reshape(B, 3 * K, -1)) + core.token_type(core.type_ids[:3 * K])
        x = core.drop(x)
        for block in core.blocks[:-1]:
            x = block(x)
        x = core.ln_f(core.blocks[-1](x, query_rows=slice(1, None, 3)))  # outputs at the state tokens only
        out = torch.einsum("bkc,bca->bka", x, self.head[body]) + self.head_bias[body][:, None]
        return torch.tanh(out)

    def loss(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, body: torch.Tensor,
             denominator: torch.Tensor | None = None) -> torch.Tensor:
        """Mean squared error over each body's real action dimensions, then over the real (unpadded)
        steps: a humanoid step (17 numbers) weighs as much as a cheetah step (6).

        ``denominator``: divide the summed error by this instead of this batch's real steps (a share of
        a global batch divides by the global count over the number of processes, so DDP's average of
        the shares' gradients is exactly the global batch's)."""
        dims = self.action_mask[body]  # (B, A)
        per_step = ((pred - target).square() * dims[:, None]).sum(-1) / dims.sum(-1)[:, None]
        w = mask.to(per_step.dtype)
        return (per_step * w).sum() / (w.sum().clamp_min(1.0) if denominator is None else denominator)

    @torch.no_grad()
    def body_view(self, body: str) -> DecisionTransformer:
        """An ordinary DecisionTransformer acting for ``body`` (for :class:`DTRunner`): the body's
        projections sliced to its real dimensions, its embedding folded into the biases, the rest shared."""
        i = self.body_index(body)
        obs_dim, act_dim = self.cfg.bodies[body]
        view_cfg = DTConfig(**{**asdict(self.core.cfg), "state_dim": obs_dim, "act_dim": act_dim, "dropout": 0.0})
        view = DecisionTransformer(view_cfg).to(self.state_in.device)
        shared = {k: v for k, v in self.core.state_dict().items()}
        view.load_state_dict(shared, strict=False)
        emb = self.body_embedding.weight[i]
        view.embed_state.weight.copy_(self.state_in[i, :obs_dim].t())
        view.embed_state.bias.copy_(self.state_bias[i] + emb)
        view.embed_action.weight.copy_(self.action_in[i, :act_dim].t())
        view.embed_action.bias.copy_(self.action_bias[i] + emb)
        view.embed_return.bias.add_(emb)
        view.predict_action.weight.copy_(self.head[i, :, :act_dim].t())
        view.predict_action.bias.copy_(self.head_bias[i, :act_dim])
        return view.eval()


# --- saving and loading (safetensors: no pickle) --------------------------------------------------
def save_generalist(model: Generalist, directory: Path | str, extra: dict[str, Any] | None = None) -> Path:
    """``model.safetensors`` and ``config.json`` (the GeneralistConfig under "model", plus ``extra``)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().float().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_save(d / "model.safetensors", lambda tmp: save_file(state, str(tmp)))
    atomic_write_json(d / "config.json", {"model": asdict(model.cfg), **(extra or {})})
    return d


def load_generalist(directory: Path | str, device: str = "cpu") -> tuple[Generalist, dict[str, Any]]:
    d = Path(directory)
    for name in ("model.safetensors", "config.json"):
        if not (d / name).exists():
            raise NotAvailableError(f"{d / name} is missing: a generalist folder holds model.safetensors and config.json")
    config = json.loads((d / "config.json").read_text())
    model = Generalist(GeneralistConfig.from_dict(config["model"]))
    model.load_state_dict(load_file(str(d / "model.safetensors"), device=device))
    return model.to(device).eval(), config
