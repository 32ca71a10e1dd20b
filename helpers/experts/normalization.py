"""Observation and reward normalisation: what SB3's VecNormalize does, without the wrapper.

One observation normaliser for the whole course: the minimal PPO updates its running statistics
while it trains; an expert acts with them frozen (:meth:`ObservationNormalizer.frozen`, from the
statistics a training run saved).
"""

from __future__ import annotations

import copy

import numpy as np


class RunningMeanStd:
    """Mean and variance of a stream, merged batch by batch (Chan et al.'s parallel algorithm)."""

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = epsilon  # a tiny prior count avoids dividing by zero on the first batch

    def update(self, batch: np.ndarray) -> None:
        batch_mean, batch_var, batch_count = batch.mean(axis=0), batch.var(axis=0), batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count + delta**2 * self.count * batch_count / total
        self.var = m2 / total
        self.count = total


class ObservationNormalizer:
    """(obs - mean) / std, clipped to [-clip, clip]. Keeps every input on the same scale for the MLP."""

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, enabled: bool = True, epsilon: float = 1e-8):
        self.rms, self.clip, self.enabled, self.epsilon = RunningMeanStd(shape), clip, enabled, epsilon

    def update(self, obs: np.ndarray) -> None:
        if self.enabled:
            self.rms.update(obs)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if not self.enabled:
            return np.asarray(obs, dtype=np.float32)
        out = (obs - self.rms.mean) / np.sqrt(self.rms.var + self.epsilon)
        return np.clip(out, -self.clip, self.clip).astype(np.float32)

    @classmethod
    def frozen(cls, mean: np.ndarray, var: np.ndarray, clip: float = 10.0, epsilon: float = 1e-8) -> "ObservationNormalizer":
        """A normaliser with fixed statistics (an expert acting, or VecNormalize's saved ones)."""
        norm = cls(np.shape(mean), clip=clip, epsilon=epsilon)
        norm.rms.mean, norm.rms.var = np.asarray(mean, np.float64), np.asarray(var, np.float64)
        return norm

    def copy(self) -> "ObservationNormalizer":
        """An independent copy: evaluation must not move the statistics training uses."""
        return copy.deepcopy(self)


class RewardScaler:
    """Divide rewards by the running std of the discounted return (not of the reward itself).

    What the value function regresses on is the return, so this keeps its targets near unit scale
    whatever the env's reward units. Rewards are not shifted: a shift would change the task for
    episodes that can terminate. SB3's VecNormalize(norm_reward=True) does exactly this.
    """

    def __init__(self, n_envs: int, gamma: float, clip: float = 10.0, enabled: bool = True, epsilon: float = 1e-8):
        self.rms, self.gamma, self.clip, self.enabled, self.epsilon = RunningMeanStd(()), gamma, clip, enabled, epsilon
        self.discounted_return = np.zeros(n_envs)

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        if not self.enabled:
            return rewards.astype(np.float32)
        self.discounted_return = self.discounted_return * self.gamma + rewards
        self.rms.update(self.discounted_return)
        scaled = np.clip(rewards / np.sqrt(self.rms.var + self.epsilon), -self.clip, self.clip)
        self.discounted_return[dones] = 0.0
        return scaled.astype(np.float32)
