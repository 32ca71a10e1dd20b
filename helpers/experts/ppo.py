"""A minimal, readable PPO for continuous actions, in one file (CleanRL-style, matched to stable-baselines3).

    >>> from helpers.experts.ppo import PPO, PPOConfig
    >>> agent = PPO(PPOConfig(env_id="InvertedPendulum-v5", total_steps=20_000, n_envs=4, n_steps=256))
    >>> agent.train()                        # tqdm bar; agent.log holds the learning curve
    >>> agent.evaluate(episodes=5)["mean_return"]
    >>> agent.save("ppo.safetensors"); PPO.load("ppo.safetensors").policy()(obs)

Read it top to bottom: configuration, environments, the actor-critic network, GAE,
the two losses, then the training loop (collect a rollout, compute advantages, several epochs of
minibatch updates). Every detail that changes results is the one stable-baselines3 (SB3) uses, so
the two can be compared at equal hyperparameters (notebook 01 does): observation normalisation
clipped at 10, rewards divided by the running std of the discounted return, advantages normalised
per minibatch, an unclipped value loss, Adam with eps 1e-5, gradient-norm clipping, and
bootstrapping from the value of the final observation when an episode is cut by a time limit.
The normalisers (what SB3's VecNormalize does) are in :mod:`helpers.experts.normalization`.

``env_id`` is a skill name from :mod:`helpers.envs.skills` (``run_forward``, ...) or any Gymnasium id with
a Box action space (``InvertedPendulum-v5``, ``Pendulum-v1``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from ..core.errors import InvalidArgumentError
from ..envs.factory import make_env
from ..envs.rollouts import evaluate_policy
from .normalization import ObservationNormalizer, RewardScaler

# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


@dataclass
class PPOConfig:
    """Everything that defines a run. Defaults are SB3's PPO defaults, plus VecNormalize switched on."""

    env_id: str = "run_forward"  # a skill name (helpers.envs.skills) or a Gymnasium id
    total_steps: int = 1_000_000  # env steps over all envs; rounded up to whole rollouts, as SB3 does
    seed: int = 0
    n_envs: int = 1  # environments stepped together, one batched policy call per step
    n_steps: int = 2048  # steps per env per rollout: a rollout is n_envs * n_steps transitions
    batch_size: int = 64  # minibatch size
    n_epochs: int = 10  # passes over each rollout
    learning_rate: float = 3e-4
    anneal_lr: bool = False  # linear decay to 0 over training
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2  # epsilon of the clipped surrogate objective
    clip_range_vf: float | None = None  # None: unclipped value loss (SB3's default)
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_advantage: bool = True  # per minibatch
    normalize_obs: bool = True  # running mean/std, as SB3's VecNormalize
    normalize_reward: bool = True  # divide by the running std of the discounted return
    clip_obs: float = 10.0
    clip_reward: float = 10.0
    hidden_sizes: tuple[int, ...] = (64, 64)  # both the actor and the critic (separate networks)
    activation: str = "tanh"
    ortho_init: bool = True
    log_std_init: float = 0.0
    adam_eps: float = 1e-5
    device: str = "cpu"  # small MLPs: the CPU is faster than a GPU for the rollouts

    def __post_init__(self):
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        positive = ("total_steps", "n_envs", "n_steps", "batch_size", "n_epochs", "learning_rate", "clip_range",
                    "max_grad_norm", "clip_obs", "clip_reward", "adam_eps")
        for name in positive:
            if not getattr(self, name) > 0:
                raise InvalidArgumentError(f"PPOConfig.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("gamma", "gae_lambda"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InvalidArgumentError(f"PPOConfig.{name} must be in [0, 1], got {getattr(self, name)!r}")
        if self.activation not in ACTIVATIONS:
            raise InvalidArgumentError(f"PPOConfig.activation {self.activation!r} is not one of {', '.join(ACTIVATIONS)}")
        if self.batch_size > self.n_envs * self.n_steps:
            raise InvalidArgumentError(f"PPOConfig.batch_size ({self.batch_size}) is larger than a rollout "
                             f"(n_envs * n_steps = {self.n_envs * self.n_steps})")
        if self.clip_range_vf is not None and not self.clip_range_vf > 0:
            raise InvalidArgumentError(f"PPOConfig.clip_range_vf must be None or > 0, got {self.clip_range_vf!r}")

    @property
    def rollout_size(self) -> int:
        return self.n_envs * self.n_steps

    @property
    def n_iterations(self) -> int:
        return math.ceil(self.total_steps / self.rollout_size)

    @classmethod
    def from_sb3(cls, hyperparams: dict[str, Any], policy_kwargs: dict[str, Any] | None = None,
                 **overrides: Any) -> "PPOConfig":
        """A config from SB3 ``PPO(...)`` keyword arguments and ``policy_kwargs`` (as in helpers.experts).

        >>> from helpers.experts.configs import CHEETAH_PPO, CHEETAH_PPO_NET
        >>> PPOConfig.from_sb3(CHEETAH_PPO, CHEETAH_PPO_NET, env_id="run_forward", n_envs=8)
        """
        ours = {f.name for f in fields(cls)}
        unknown = set(hyperparams) - ours
        if unknown:
            raise InvalidArgumentError(f"SB3 hyperparameters not supported here: {sorted(unknown)}; supported: {sorted(ours)}")
        kw: dict[str, Any] = dict(hyperparams)
        pk = dict(policy_kwargs or {})
        if "net_arch" in pk:
            arch = pk.pop("net_arch")
            if isinstance(arch, dict):
                if list(arch.get("pi", [])) != list(arch.get("vf", [])):
                    raise InvalidArgumentError(f"net_arch {arch}: this PPO uses one hidden_sizes for actor and critic")
                arch = arch["pi"]
            kw["hidden_sizes"] = tuple(arch)
        if "activation_fn" in pk:
            fn = pk.pop("activation_fn")
            kw["activation"] = fn if isinstance(fn, str) else {v: k for k, v in ACTIVATIONS.items()}[fn]
        for key in ("log_std_init", "ortho_init"):
            if key in pk:
                kw[key] = pk.pop(key)
        if pk:
            raise InvalidArgumentError(f"SB3 policy_kwargs not supported here: {sorted(pk)}; "
                             "supported: net_arch, activation_fn, log_std_init, ortho_init")
        return cls(**{**kw, **overrides})


# --------------------------------------------------------------------------------------------------
# Environments
# --------------------------------------------------------------------------------------------------

class EnvPool:
    """``n_envs`` copies of one env, stepped in a plain loop (SB3's DummyVecEnv does the same).

    An env whose episode ends is reset at once; its last observation is returned separately in
    ``final_obs`` because a time-limit cut needs the value of that state, not of the reset state.
    Env ``i`` is first reset with seed ``seed + i``. Finished episodes' raw returns and lengths are
    appended to ``finished`` (the learning curve reads them).
    """

    def __init__(self, env_id: str, n_envs: int, seed: int):
        self.envs = [make_env(env_id) for _ in range(n_envs)]
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self.seed, self.n_envs = seed, n_envs
        self.episode_return = np.zeros(n_envs)
        self.episode_length = np.zeros(n_envs, dtype=np.int64)
        self.finished: list[tuple[float, int]] = []

    def reset(self) -> np.ndarray:
        return np.stack([env.reset(seed=self.seed + i)[0] for i, env in enumerate(self.envs)])

    def step(self, actions: np.ndarray):
        obs = np.empty((self.n_envs, *self.observation_space.shape))
        final_obs = np.zeros_like(obs)
        rewards = np.zeros(self.n_envs)
        terminated = np.zeros(self.n_envs, dtype=bool)
        truncated = np.zeros(self.n_envs, dtype=bool)
        for i, env in enumerate(self.envs):
            obs[i], rewards[i], terminated[i], truncated[i], _ = env.step(actions[i])
            self.episode_return[i] += rewards[i]
            self.episode_length[i] += 1
            if terminated[i] or truncated[i]:
                final_obs[i] = obs[i]
                self.finished.append((float(self.episode_return[i]), int(self.episode_length[i])))
                self.episode_return[i], self.episode_length[i] = 0.0, 0
                obs[i], _ = env.reset()
        return obs, rewards, terminated, truncated, final_obs

    def close(self) -> None:
        for env in self.envs:
            env.close()


# --------------------------------------------------------------------------------------------------
# The actor-critic
# --------------------------------------------------------------------------------------------------

def mlp(in_dim: int, hidden_sizes: tuple[int, ...], out_dim: int, activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden_sizes:
        layers += [nn.Linear(in_dim, h), ACTIVATIONS[activation]()]
        in_dim = h
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


def orthogonal_init(net: nn.Sequential, output_gain: float) -> None:
    """Orthogonal weights, zero biases: gain sqrt(2) for hidden layers, ``output_gain`` for the last."""
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for layer in linears:
        nn.init.orthogonal_(layer.weight, gain=output_gain if layer is linears[-1] else math.sqrt(2))
        nn.init.zeros_(layer.bias)


class ActorCritic(nn.Module):
    """A Gaussian policy (mean from an MLP, one learned log-std per action dimension) and a value MLP.

    The log-std does not depend on the state: exploration noise is a global knob the gradient turns
    down as the policy improves. Actor and critic share nothing, so the value loss cannot disturb
    the policy's features.
    """

    def __init__(self, obs_dim: int, act_dim: int, cfg: PPOConfig):
        super().__init__()
        self.actor_mean = mlp(obs_dim, cfg.hidden_sizes, act_dim, cfg.activation)
        self.critic = mlp(obs_dim, cfg.hidden_sizes, 1, cfg.activation)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(cfg.log_std_init)))
        if cfg.ortho_init:  # small initial means (gain 0.01): start close to "noise around zero"
            orthogonal_init(self.actor_mean, output_gain=0.01)
            orthogonal_init(self.critic, output_gain=1.0)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def distribution(self, obs: torch.Tensor) -> torch.distributions.Normal:
        mean = self.actor_mean(obs)
        return torch.distributions.Normal(mean, self.log_std.exp().expand_as(mean))

    def evaluate_actions(self, obs: torch.Tensor, actions: torch.Tensor):
        """log pi(a|s) and entropy (summed over action dimensions: independent Gaussians), and V(s)."""
        dist = self.distribution(obs)
        return dist.log_prob(actions).sum(-1), dist.entropy().sum(-1), self.value(obs)


# --------------------------------------------------------------------------------------------------
# Advantages and losses
# --------------------------------------------------------------------------------------------------

def compute_gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, terminated: np.ndarray,
                truncated: np.ndarray, gamma: float, gae_lambda: float) -> tuple[np.ndarray, np.ndarray]:
    """Generalised Advantage Estimation over a rollout; arrays are (n_steps, n_envs).

    ``next_values[t]`` is V(s_{t+1}) of the state the env really reached, i.e. of the final
    observation when the episode ended at step t. A terminated episode has no future (its next value
    is dropped); a truncated one does (the time limit is not part of the task), so it bootstraps from
    V(final observation). Either way the advantage recursion stops at the episode's end.

        delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)
        A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}        returns_t = A_t + V(s_t)
    """
    advantages = np.zeros_like(values, dtype=np.float32)
    next_advantage = np.zeros(values.shape[1:], dtype=np.float32)
    for t in reversed(range(len(rewards))):
        not_terminated = 1.0 - terminated[t].astype(np.float32)
        episode_continues = 1.0 - (terminated[t] | truncated[t]).astype(np.float32)
        delta = rewards[t] + gamma * next_values[t] * not_terminated - values[t]
        next_advantage = delta + gamma * gae_lambda * episode_continues * next_advantage
        advantages[t] = next_advantage
    return advantages, advantages + values


def clipped_surrogate_loss(log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor,
                           clip_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's policy loss: -mean(min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)).

    The min makes the objective pessimistic: once the new policy moved a probability ratio past
    1 +- eps in the direction the advantage rewards, that sample stops pushing. Returns the loss and
    the fraction of samples that were clipped (a health signal: ~0.05-0.2 is typical).
    """
    ratio = torch.exp(log_prob - old_log_prob)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range) * advantages
    clip_fraction = ((ratio - 1.0).abs() > clip_range).float().mean()
    return -torch.min(unclipped, clipped).mean(), clip_fraction


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
               clip_range_vf: float | None = None) -> torch.Tensor:
    """Mean squared error to the GAE returns; optionally the new value may move at most clip_range_vf."""
    if clip_range_vf is not None:
        values = old_values + torch.clamp(values - old_values, -clip_range_vf, clip_range_vf)
    return ((returns - values) ** 2).mean()


# --------------------------------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------------------------------

class PPO:
    """Proximal Policy Optimization: ``PPO(config).train()``; ``.log`` is the learning curve."""

    def __init__(self, config: PPOConfig):
        self.config = cfg = config
        torch.manual_seed(cfg.seed)  # network initialisation
        self.rng = torch.Generator().manual_seed(cfg.seed)  # action noise and minibatch order
        probe = make_env(cfg.env_id)
        self.observation_space, self.action_space = probe.observation_space, probe.action_space
        probe.close()
        obs_dim, act_dim = int(np.prod(self.observation_space.shape)), int(np.prod(self.action_space.shape))
        self.device = torch.device(cfg.device)
        self.agent = ActorCritic(obs_dim, act_dim, cfg).to(self.device)
        self.optimizer = torch.optim.Adam(self.agent.parameters(), lr=cfg.learning_rate, eps=cfg.adam_eps)
        self.obs_normalizer = ObservationNormalizer(self.observation_space.shape, cfg.clip_obs, cfg.normalize_obs)
        self.reward_scaler = RewardScaler(cfg.n_envs, cfg.gamma, cfg.clip_reward, cfg.normalize_reward)
        self.env_steps, self.wall_clock_s = 0, 0.0
        self.log: list[dict[str, float]] = []

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, dtype=torch.float32, device=self.device)

    # ---- 1. rollout: run the current stochastic policy for n_steps in every env ----------------------
    @torch.no_grad()
    def collect_rollout(self, envs: EnvPool, obs: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        T, N = self.config.n_steps, self.config.n_envs
        buf = {"obs": np.zeros((T, N, *self.observation_space.shape), np.float32),
               "actions": np.zeros((T, N, *self.action_space.shape), np.float32),
               "log_probs": np.zeros((T, N), np.float32), "values": np.zeros((T, N), np.float32),
               "next_values": np.zeros((T, N), np.float32), "rewards": np.zeros((T, N), np.float32),
               "terminated": np.zeros((T, N), bool), "truncated": np.zeros((T, N), bool)}
        low, high = self.action_space.low, self.action_space.high
        for t in range(T):
            obs_t = self._tensor(obs)
            dist = self.agent.distribution(obs_t)
            action = dist.mean + dist.stddev * torch.randn(dist.mean.shape, generator=self.rng)
            buf["obs"][t], buf["actions"][t] = obs, action.cpu().numpy()
            buf["log_probs"][t] = dist.log_prob(action).sum(-1).cpu().numpy()
            buf["values"][t] = self.agent.value(obs_t).cpu().numpy()
            # the Gaussian is unbounded: the env gets the clipped action, the buffer keeps the sampled one
            raw_obs, raw_rewards, terminated, truncated, final_obs = envs.step(np.clip(buf["actions"][t], low, high))
            dones = terminated | truncated
            self.obs_normalizer.update(raw_obs)
            obs = self.obs_normalizer(raw_obs)
            buf["rewards"][t] = self.reward_scaler(raw_rewards, dones)
            buf["terminated"][t], buf["truncated"][t] = terminated, truncated
            if truncated.any():  # V(final observation) for time-limit cuts (terminated ones need none)
                buf["next_values"][t, truncated] = self.agent.value(
                    self._tensor(self.obs_normalizer(final_obs[truncated]))).cpu().numpy()
        self.env_steps += T * N
        # V(s_{t+1}) is the next step's V(s_t), except at episode ends (set above) and after the last step
        last_value = self.agent.value(self._tensor(obs)).cpu().numpy()
        following = np.concatenate([buf["values"][1:], last_value[None]])
        ended = buf["terminated"] | buf["truncated"]
        buf["next_values"] = np.where(ended, buf["next_values"], following)
        return buf, obs

    # ---- 2-3. advantages, then n_epochs of minibatch gradient steps on the clipped objective -----------
    def update(self, buf: dict[str, np.ndarray]) -> dict[str, float]:
        cfg = self.config
        advantages, returns = compute_gae(buf["rewards"], buf["values"], buf["next_values"], buf["terminated"],
                                          buf["truncated"], cfg.gamma, cfg.gae_lambda)
        flat = {k: self._tensor(v).reshape(cfg.rollout_size, *v.shape[2:])
                for k, v in dict(buf, advantages=advantages, returns=returns).items()
                if k in ("obs", "actions", "log_probs", "values", "advantages", "returns")}
        stats: dict[str, list[float]] = {k: [] for k in ("policy_loss", "value_loss", "entropy", "approx_kl",
                                                         "clip_fraction")}
        for _ in range(cfg.n_epochs):
            order = torch.randperm(cfg.rollout_size, generator=self.rng)
            for start in range(0, cfg.rollout_size, cfg.batch_size):
                idx = order[start:start + cfg.batch_size]
                log_prob, entropy, values = self.agent.evaluate_actions(flat["obs"][idx], flat["actions"][idx])
                adv = flat["advantages"][idx]
                if cfg.normalize_advantage and len(idx) > 1:  # per minibatch, as SB3
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                policy_loss, clip_fraction = clipped_surrogate_loss(log_prob, flat["log_probs"][idx], adv,
                                                                    cfg.clip_range)
                v_loss = value_loss(values, flat["values"][idx], flat["returns"][idx], cfg.clip_range_vf)
                loss = policy_loss - cfg.ent_coef * entropy.mean() + cfg.vf_coef * v_loss
                self.optimizer.zero_grad()
                loss.backward()
                # one oversized step can wreck a policy; rescale the whole gradient if its norm is large
                nn.utils.clip_grad_norm_(self.agent.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                with torch.no_grad():  # http://joschu.net/blog/kl-approx.html
                    log_ratio = log_prob - flat["log_probs"][idx]
                    approx_kl = ((log_ratio.exp() - 1) - log_ratio).mean()
                for k, v in (("policy_loss", policy_loss), ("value_loss", v_loss), ("entropy", entropy.mean()),
                             ("approx_kl", approx_kl), ("clip_fraction", clip_fraction)):
                    stats[k].append(float(v.detach()))
        out = {k: float(np.mean(v)) for k, v in stats.items()}
        # share of the returns' variance the value function explains (1 is perfect, <= 0 useless)
        var_returns = float(np.var(returns))
        unexplained = float(np.var(returns - buf["values"]))
        out["explained_variance"] = float("nan") if var_returns == 0 else 1 - unexplained / var_returns
        out["action_std"] = float(self.agent.log_std.detach().exp().mean())
        return out

    def train(self, progress: bool = True) -> "PPO":
        """Run ``config.n_iterations`` rollout-update iterations; appends one row per iteration to ``log``."""
        cfg = self.config
        envs = EnvPool(cfg.env_id, cfg.n_envs, cfg.seed)
        start = time.perf_counter()
        raw_obs = envs.reset()
        self.obs_normalizer.update(raw_obs)
        obs = self.obs_normalizer(raw_obs)
        bar = tqdm(total=cfg.n_iterations * cfg.rollout_size, unit="step", disable=not progress, desc=cfg.env_id)
        try:
            for iteration in range(cfg.n_iterations):
                if cfg.anneal_lr:
                    for group in self.optimizer.param_groups:
                        group["lr"] = cfg.learning_rate * (1.0 - iteration / cfg.n_iterations)
                buf, obs = self.collect_rollout(envs, obs)
                stats = self.update(buf)
                self.wall_clock_s = time.perf_counter() - start
                recent = [r for r, _ in envs.finished[-cfg.n_envs:]]  # the latest episode of each env, roughly
                row = {"iteration": iteration + 1, "env_steps": self.env_steps, "wall_clock_s": self.wall_clock_s,
                       "episode_return": float(np.mean(recent)) if recent else float("nan"),
                       "episodes": len(envs.finished), "learning_rate": self.optimizer.param_groups[0]["lr"],
                       "steps_per_s": self.env_steps / self.wall_clock_s, **stats}
                self.log.append(row)
                bar.update(cfg.rollout_size)
                bar.set_postfix(ret=f"{row['episode_return']:.1f}", std=f"{stats['action_std']:.3f}")
        finally:
            bar.close()
            envs.close()
        return self

    # ---- using the result ---------------------------------------------------------------------------
    def policy(self) -> "DeterministicPolicy":
        """The greedy policy (the Gaussian's mean), with the observation statistics frozen as they are now."""
        return DeterministicPolicy(self.agent, self.obs_normalizer, self.action_space)

    def evaluate(self, episodes: int = 10, seed: int = 10_000) -> dict[str, Any]:
        """Deterministic evaluation (episode i reset with seed + i): returns, and a skill's metrics."""
        return evaluate_policy(self.policy(), self.config.env_id, episodes=episodes, seed=seed)

    def save(self, path: str | Path) -> Path:
        """Weights and observation statistics to one safetensors file; the config in its metadata."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {f"agent.{k}": v.detach().cpu().contiguous() for k, v in self.agent.state_dict().items()}
        rms = self.obs_normalizer.rms
        tensors.update({"obs_rms.mean": torch.from_numpy(rms.mean.copy()),
                        "obs_rms.var": torch.from_numpy(rms.var.copy()),
                        "obs_rms.count": torch.tensor(rms.count, dtype=torch.float64)})
        save_file(tensors, str(path), metadata={"format": "helpers.ppo/1", "config": json.dumps(asdict(self.config)),
                                                "env_steps": str(self.env_steps)})
        return path

    @classmethod
    def load(cls, path: str | Path) -> "PPO":
        """Inverse of :meth:`save` (no pickle involved: safetensors holds only tensors and strings)."""
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != "helpers.ppo/1":
                raise InvalidArgumentError(f"{path} is not a helpers.ppo checkpoint (format {meta.get('format')!r})")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        ppo = cls(PPOConfig(**json.loads(meta["config"])))
        ppo.agent.load_state_dict({k[len("agent."):]: v for k, v in tensors.items() if k.startswith("agent.")})
        rms = ppo.obs_normalizer.rms
        rms.mean, rms.var = tensors["obs_rms.mean"].numpy(), tensors["obs_rms.var"].numpy()
        rms.count = float(tensors["obs_rms.count"])
        ppo.env_steps = int(meta.get("env_steps", 0))
        return ppo


class DeterministicPolicy:
    """``policy(obs) -> action`` for one observation or a batch: the mean action, clipped to the bounds."""

    def __init__(self, agent: ActorCritic, obs_normalizer: ObservationNormalizer, action_space: gym.spaces.Box):
        self.agent, self.action_space = agent, action_space
        self.obs_normalizer = obs_normalizer.copy()  # frozen: evaluation must not move the statistics

    @torch.no_grad()
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        x = torch.as_tensor(self.obs_normalizer(obs), device=next(self.agent.parameters()).device)
        action = self.agent.actor_mean(x).cpu().numpy()
        return np.clip(action, self.action_space.low, self.action_space.high)
