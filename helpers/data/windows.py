"""Batches of K-step windows from flat trajectory arrays: what a Decision Transformer (or, with
K = 1, behaviour cloning) trains on. Fully vectorised: one ``searchsorted`` picks the episodes, one
array op the window starts, one fancy index gathers the ``(B, K)`` rows; no Python loop per sample.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidArgumentError
from .flat import FlatData


class WindowSampler:
    """Batches of K-step windows from a FlatData, ready for a Decision Transformer (or K=1 for BC).

    * Episodes are drawn with probability proportional to their number of windows (about their length),
      so every step is about equally likely; ``episodes`` restricts sampling to a subset (filtered BC).
    * A window lies inside one episode: it starts uniformly in ``[0, L - K]``. Episodes shorter than K
      give one window, padded on the right with zeros and ``mask == False``. Right padding plus causal
      attention means real tokens never see padding, so the model needs no attention mask; only the
      loss ignores padded steps.
    * States are normalised with the data's mean and std; returns-to-go are divided by ``return_scale``.
    """

    def __init__(self, data: FlatData, context_len: int, return_scale: float = 1000.0,
                 episodes: np.ndarray | None = None, obs_mean: np.ndarray | None = None,
                 obs_std: np.ndarray | None = None, max_timestep: int | None = None):
        if context_len < 1:
            raise InvalidArgumentError(f"context_len must be >= 1, got {context_len}")
        if return_scale <= 0:
            raise InvalidArgumentError(f"return_scale must be > 0, got {return_scale}")
        self.data, self.K, self.return_scale = data, int(context_len), float(return_scale)
        self.episodes = np.arange(data.n_episodes) if episodes is None else np.asarray(episodes, dtype=np.int64)
        if len(self.episodes) == 0:
            raise InvalidArgumentError("WindowSampler needs at least one episode")
        lengths = data.episode_lengths[self.episodes]
        self.n_windows = np.maximum(lengths - self.K + 1, 1)  # start positions per episode
        self.cdf = np.cumsum(self.n_windows, dtype=np.float64)
        self.mean = (data.obs_mean if obs_mean is None else np.asarray(obs_mean)).astype(np.float32)
        self.std = (data.obs_std if obs_std is None else np.asarray(obs_std)).astype(np.float32)
        self.max_timestep = max_timestep
        self.arange = np.arange(self.K)

    @property
    def n_steps(self) -> int:
        return int(self.data.episode_lengths[self.episodes].sum())

    def sample_indices(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Flat step indices (B, K) of a batch of windows, and the mask of real (not padded) steps."""
        pick = np.searchsorted(self.cdf, rng.random(batch_size) * self.cdf[-1], side="right")
        pick = np.minimum(pick, len(self.episodes) - 1)  # guards the (measure-zero) u == 1.0 edge
        ep = self.episodes[pick]
        offset = np.floor(rng.random(batch_size) * self.n_windows[pick]).astype(np.int64)
        start = self.data.episode_starts[ep] + offset
        mask = self.arange[None, :] < (self.data.episode_lengths[ep] - offset)[:, None]
        idx = np.where(mask, start[:, None] + self.arange[None, :], start[:, None])  # padded slots read a real row
        return idx, mask

    def gather(self, idx: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        d, flat = self.data, idx.reshape(-1)
        B, K = idx.shape
        states = (d.observations[flat].reshape(B, K, -1) - self.mean) / self.std
        actions = d.actions[flat].reshape(B, K, -1).astype(np.float32, copy=True)
        rtg = (d.returns_to_go[flat].reshape(B, K, 1) / self.return_scale).astype(np.float32)
        timesteps = d.timesteps[flat].reshape(B, K).astype(np.int64)
        if self.max_timestep is not None:
            np.minimum(timesteps, self.max_timestep - 1, out=timesteps)
        pad = ~mask
        states[pad], actions[pad], rtg[pad], timesteps[pad] = 0.0, 0.0, 0.0, 0
        return {"states": states.astype(np.float32, copy=False), "actions": actions, "returns_to_go": rtg,
                "timesteps": timesteps, "mask": mask}

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One batch: states (B,K,obs), actions (B,K,act), returns_to_go (B,K,1), timesteps (B,K), mask (B,K)."""
        return self.gather(*self.sample_indices(batch_size, rng))
