"""The behaviour policies that make the datasets: the expert, the expert with action noise, random.

Quality levels: ``expert`` is the committed expert (deterministic); ``medium`` adds Gaussian action
noise whose scale (:data:`MEDIUM_NOISE`, per skill) puts the normalised return near 0.5, halfway
between random and expert (notebook 04 measures the curve, :func:`medium_noise_curve`); ``random``
is uniform random actions. One implementation serves a batch of environments (collection) and a
single one (:meth:`BehaviourPolicy.single`, for evaluation).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.checkpoints import sha256
from ..core.errors import InvalidArgumentError
from ..envs.factory import make_env
from ..envs.rollouts import RandomPolicy, evaluate_policy
from ..experts.policy import expert_dir, fast_actor, load_expert

QUALITIES = ("expert", "medium", "random")
# Std of the Gaussian action noise of `medium`, in units of half the action range, chosen from the
# curve of notebook 04 (helpers.data.behaviour.medium_noise_curve) so that (R - R_random) /
# (R_expert - R_random) is about 0.5 for each expert.
MEDIUM_NOISE = {"run_forward": 0.2, "run_backward": 0.22, "jump": 0.55, "front_flip": 0.6,
                "target_speed": 0.4, "walk": 0.3, "stand_up": 0.3}


def check_quality(quality: str) -> str:
    if quality not in QUALITIES:
        raise InvalidArgumentError(f"unknown quality {quality!r}; valid: {', '.join(QUALITIES)}")
    return quality


class BehaviourPolicy:
    """Actions for a batch of observations at one quality level, each env with its own noise stream.

    ``noise`` overrides the skill's medium noise (the calibration curve sweeps it)."""

    def __init__(self, skill: str, quality: str, action_space, noise: float | None = None):
        self.quality = check_quality(quality)
        self.low, self.high = action_space.low.astype(np.float32), action_space.high.astype(np.float32)
        self.actor = None
        self.card_sha256 = None
        if quality != "random":
            self.actor = fast_actor(load_expert(skill))
            self.card_sha256 = sha256(expert_dir(skill) / "card.json")
        default = MEDIUM_NOISE[skill] if quality == "medium" else 0.0
        self.noise = default if noise is None else float(noise)

    def __call__(self, obs: np.ndarray, rngs: list[np.random.Generator]) -> np.ndarray:
        n, dim = len(obs), len(self.low)
        if self.actor is None:
            return np.stack([rng.uniform(self.low, self.high) for rng in rngs]).astype(np.float32)
        actions = self.actor(obs)
        if self.noise:
            half_range = 0.5 * (self.high - self.low)
            noise = np.stack([rng.standard_normal(dim) for rng in rngs]).astype(np.float32)
            actions = np.clip(actions + self.noise * half_range * noise, self.low, self.high)
        return actions.reshape(n, dim)

    def single(self, seed: int = 0):
        """``policy(obs) -> action`` for one env, its noise drawn from ``default_rng(seed)``."""
        rng = np.random.default_rng(seed)
        return lambda obs: self(np.asarray(obs, dtype=np.float32)[None], [rng])[0]

    def describe(self, skill: str) -> str:
        if self.quality == "random":
            return "uniform random actions"
        return f"expert + N(0, {self.noise}^2) action noise" if self.noise else "expert, deterministic"


def medium_noise_curve(skill: str, noises=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5), episodes: int = 3,
                       seed: int = 500) -> list[dict[str, Any]]:
    """Return and normalised score, (R - R_random) / (R_expert - R_random), per action-noise level."""
    space = make_env(skill).action_space
    r_random = evaluate_policy(RandomPolicy(space, seed), skill, episodes=episodes, seed=seed)["mean_return"]

    def mean_return(noise: float) -> float:
        policy = BehaviourPolicy(skill, "medium", space, noise=noise).single(seed)
        return evaluate_policy(policy, skill, episodes=episodes, seed=seed)["mean_return"]

    rows = [{"noise": float(n), "mean_return": mean_return(n), "random_return": r_random} for n in noises]
    r_expert = rows[0]["mean_return"] if noises[0] == 0 else mean_return(0.0)
    for row in rows:
        row["normalized_score"] = (row["mean_return"] - r_random) / (r_expert - r_random)
    return rows
