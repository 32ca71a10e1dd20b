"""A published expert, acting: ``load_expert(skill)(obs) -> action``, checked before it is opened.

``pretrained/<skill>/`` holds the SB3 ``model.zip`` (pickled, so opened only after its sha256 matches
the folder's manifest), ``normalize.npz`` (frozen observation statistics) and ``card.json``.
:class:`FastActor` is the same deterministic action without SB3's per-call overhead, for collection.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..core.checkpoints import PRETRAINED_DIR, verify_file
from ..core.errors import NotAvailableError
from ..envs.skills import Skill, get_skill
from .normalization import ObservationNormalizer
from .sb3_files import algo_class, load_obs_normalizer


class ExpertPolicy:
    """A deterministic expert: ``policy(obs) -> action`` for one observation or a batch."""

    def __init__(self, model, normalizer: ObservationNormalizer | None, skill: Skill):
        self.model, self.normalizer, self.skill = model, normalizer, skill
        self.policy = model.policy
        self.policy.set_training_mode(False)

    @torch.no_grad()
    def __call__(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        single = obs.ndim == 1
        batch = obs[None] if single else obs
        if self.normalizer is not None:
            batch = self.normalizer(batch)
        actions, _ = self.policy.predict(batch, deterministic=deterministic)
        return actions[0] if single else actions


class FastActor:
    """The deterministic action of an SB3 policy, without SB3's per-call overhead.

    Collection steps thousands of environments a second, so per-call costs matter: this runs the
    policy's own layers (PPO: the Gaussian mean clipped to the action bounds; SAC/TQC: tanh of the
    mean rescaled to the bounds) as NumPy matrix products on copies of their weights: at a batch of
    16 observations about half the time of calling the torch modules, whose dispatch costs more than
    the arithmetic at that size. A layer it does not know keeps the torch path. Set
    ``torch.set_num_threads(1)`` in processes that run many of these side by side. The unit tests
    check it against ``policy.predict(..., deterministic=True)``.
    """

    ACTIVATIONS = {torch.nn.ReLU: "relu", torch.nn.Tanh: "tanh"}

    def __init__(self, model, normalizer: ObservationNormalizer | None = None):
        policy = model.policy
        policy.set_training_mode(False)
        if hasattr(policy, "mlp_extractor"):  # on-policy actor-critic (PPO)
            self.net = torch.nn.Sequential(policy.mlp_extractor.policy_net, policy.action_net)
            self.squash = False
        else:  # off-policy squashed Gaussian actor (SAC, TQC, CrossQ)
            self.net = torch.nn.Sequential(policy.actor.latent_pi, policy.actor.mu)
            self.squash = True
        space = model.action_space
        self.low, self.high = space.low.astype(np.float32), space.high.astype(np.float32)
        self.normalizer = normalizer
        self.obs_dim = model.observation_space.shape[0]
        self.layers = self._numpy_layers()

    def _numpy_layers(self) -> list[tuple] | None:
        """(weight transposed, bias) and activation names, in order; None if a layer is anything else."""
        layers = []
        for m in self.net.modules():
            if isinstance(m, torch.nn.Linear):
                layers.append((m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()))
            elif type(m) in self.ACTIVATIONS:
                layers.append(self.ACTIVATIONS[type(m)])
            elif not isinstance(m, torch.nn.Sequential):
                return None
        return layers

    def _forward(self, x: np.ndarray) -> np.ndarray:
        if self.layers is None:
            with torch.inference_mode():
                return self.net(torch.from_numpy(np.ascontiguousarray(x))).numpy()
        for layer in self.layers:
            if layer == "relu":
                np.maximum(x, 0.0, out=x)
            elif layer == "tanh":
                np.tanh(x, out=x)
            else:
                x = x @ layer[0] + layer[1]
        return x

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float32)
        single = x.ndim == 1
        x = x[None] if single else x
        if self.normalizer is not None:
            x = self.normalizer(x)
        a = self._forward(np.array(x, dtype=np.float32))  # a copy: activations are applied in place
        if self.squash:
            a = self.low + 0.5 * (np.tanh(a) + 1.0) * (self.high - self.low)
        else:
            a = np.clip(a, self.low, self.high)
        return a[0] if single else a


def fast_actor(expert: "ExpertPolicy") -> FastActor:
    return FastActor(expert.model, expert.normalizer)


def expert_dir(skill: str) -> Path:
    return PRETRAINED_DIR / get_skill(skill).name


def load_expert(skill: str, directory: Path | None = None) -> ExpertPolicy:
    """Load ``pretrained/<skill>/`` after verifying its checksums; a clear error if it is missing."""
    s = get_skill(skill)
    d = Path(directory) if directory else expert_dir(s.name)
    card_path = d / "card.json"
    if not card_path.exists():
        raise NotAvailableError(
            f"no expert for {s.name!r} at {d}: train one with `python -m helpers.train_expert --skill {s.name}` "
            f"and publish it with --publish"
        )
    card = json.loads(card_path.read_text())
    model_path = verify_file(d / "model.zip")
    model = algo_class(card["algorithm"]).load(model_path, device="cpu")
    norm = None
    if (d / "normalize.npz").exists():
        verify_file(d / "normalize.npz")
        norm = load_obs_normalizer(d / "normalize.npz")
    return ExpertPolicy(model, norm, s)


def load_run_policy(run_dir: Path, skill: str) -> ExpertPolicy:
    """The policy of a training run's last checkpoint (verified against the run's manifest)."""
    run_dir = Path(run_dir)
    state = json.loads((run_dir / "state.json").read_text())
    model = algo_class(state["config"]["algo"]).load(verify_file(run_dir / "model.zip"), device="cpu")
    norm = None
    if state["config"]["normalize_obs"] and (run_dir / "normalize.npz").exists():
        norm = load_obs_normalizer(verify_file(run_dir / "normalize.npz"))
    return ExpertPolicy(model, norm, get_skill(skill))
