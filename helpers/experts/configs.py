"""Each skill's expert, as configuration: algorithm, hyperparameters, evaluation and selection rules.

The tables here are what ``python -m helpers.train_expert --skill S`` trains; notebook 02 explains
the choices (PPO with 8 batched envs for the cheetah, SAC for the humanoid, and how the walker's
published checkpoint is selected).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import InvalidArgumentError, NotAvailableError
from ..envs.factory import make_env
from ..envs.skills import get_skill


@dataclass
class ExpertConfig:
    """Algorithm and hyperparameters of one skill's expert (SB3 keyword arguments)."""

    algo: str  # "ppo" | "sac" | "tqc"
    total_steps: int
    n_envs: int = 1
    normalize_obs: bool = False
    normalize_reward: bool = False
    hyperparams: dict[str, Any] = field(default_factory=dict)
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    eval_every: int = 25_000
    eval_episodes: int = 5
    # What makes an evaluation the run's best (kept in best/, the one to publish): its return, or, for a
    # skill judged by a metric, that metric among evaluations whose episodes lasted long enough.
    select_metric: str | None = None
    select_min_episode_length: float = 0.0
    # >0: an evaluation that beats the best is confirmed on this many more episodes (seeds 20000+, apart
    # from the held-out 1000+) before it replaces it; five episodes are a noisy judge of a humanoid
    confirm_episodes: int = 0
    # Fine-tuning: start from a published expert's weights (a pretrained/<skill>/ folder) and train on a
    # reshaped reward. ``train_env_kwargs`` reach the training env only: evaluation and selection always
    # use the skill's own reward. A fresh replay buffer is first filled with ``warm_start_steps`` of the
    # loaded policy's own (stochastic) actions instead of SB3's uniform-random warm-up.
    init_from: str | None = None
    train_env_kwargs: dict[str, Any] = field(default_factory=dict)
    warm_start_steps: int = 0
    # Humanoid only: training reward + speed_bonus x the torso's forward velocity in the next observation.
    # Being a function of the stored transition, it can relabel an earlier run's replay buffer
    # (``replay_from``), so the critic keeps the broad data it learnt on instead of a narrow fresh buffer.
    speed_bonus: float = 0.0
    replay_from: str | None = None
    # Getting up (stand_up): training episodes start from states of falls, nearer standing first
    # (helpers.experts.curriculum); the training reward is multiplied by train_reward_scale, which keeps
    # HumanoidStandup's ~300-a-step rewards near the scale SAC's entropy tuning expects
    reverse_curriculum: bool = False
    train_reward_scale: float = 1.0
    # episodes from the curriculum's bank: at most this many steps, and over once the torso drops this far
    # below its start (0: never); both make staying up learnable before getting up is
    curriculum_horizon: int | None = None
    curriculum_fall_margin: float = 0.0
    # this share of the episodes from the bank starts at the deepest allowed step, and only they raise the level
    curriculum_frontier: float = 0.0
    # Recovery: a share of training episodes starts in states the experts of these skills visit (the
    # states a switch from them lands in), so the expert learns to take over from there
    start_states_from: list[str] = field(default_factory=list)
    start_states_share: float = 0.5
    # training reward: forward progress pays only while upright (helpers.envs.rewards.UprightProgress)
    train_upright_progress: bool = False
    train_upright_bonus: float = 0.0  # with it: + this x the torso's up axis's vertical component a step

    def selection_rule(self) -> str:
        if self.select_metric is None:
            return "highest eval_mean_return"
        return (f"highest {self.select_metric} among evaluations lasting >= {self.select_min_episode_length:g} "
                "steps on average (before any does: highest eval_mean_return)")

    def selection_score(self, row: dict[str, Any]) -> tuple[int, float]:
        """Orders evaluations: every one that qualifies above every one that does not."""
        if self.select_metric is not None and row["eval_mean_episode_length"] >= self.select_min_episode_length:
            return 1, float(row[self.select_metric])
        return 0, float(row["eval_mean_return"])

# PPO for the cheetah: 8 environments stepped together (one batched policy call per step), large
# minibatches and few epochs, which spends far less time in gradient steps per sample than the
# RL-Zoo configuration (1 env, minibatch 64, 20 epochs) while keeping its low initial action noise.
CHEETAH_PPO = dict(
    n_steps=512, batch_size=512, n_epochs=10, gamma=0.98, gae_lambda=0.92, learning_rate=1e-4,
    clip_range=0.1, ent_coef=4e-4, vf_coef=0.58, max_grad_norm=0.8,
)

CHEETAH_PPO_NET = dict(log_std_init=-2.0, ortho_init=False, activation_fn="relu",
                       net_arch=dict(pi=[256, 256], vf=[256, 256]))

# RL Baselines3 Zoo's tuned PPO for HalfCheetah (the baseline of benchmarks/ppo_wallclock.py).
ZOO_PPO_HALFCHEETAH = ExpertConfig(
    algo="ppo", total_steps=1_000_000, n_envs=1, normalize_obs=True, normalize_reward=True,
    hyperparams=dict(n_steps=512, batch_size=64, n_epochs=20, gamma=0.98, gae_lambda=0.92,
                     learning_rate=2.0633e-05, clip_range=0.1, ent_coef=0.000401762, vf_coef=0.58096,
                     max_grad_norm=0.8),
    policy_kwargs=dict(log_std_init=-2.0, ortho_init=False, activation_fn="relu",
                       net_arch=dict(pi=[256, 256], vf=[256, 256])),
)

# SAC for the humanoids (the notebook compares SAC, TQC and CrossQ per CPU hour).
HUMANOID_SAC = dict(learning_rate=3e-4, buffer_size=1_000_000, batch_size=256, learning_starts=10_000,
                    tau=0.005, gamma=0.99, train_freq=1, gradient_steps=1)


def _cheetah_ppo(total_steps: int = 1_000_000, **net_overrides: Any) -> ExpertConfig:
    return ExpertConfig(algo="ppo", total_steps=total_steps, n_envs=8, normalize_obs=True,
                        normalize_reward=True, hyperparams=dict(CHEETAH_PPO),
                        policy_kwargs={**CHEETAH_PPO_NET, **net_overrides})

EXPERT_CONFIGS: dict[str, ExpertConfig] = {
    "run_forward": _cheetah_ppo(),
    "run_backward": _cheetah_ppo(),
    # Flips and jumps are not found by small perturbations of standing still: they need the
    # exploration of SB3's default initial action noise (std 1) rather than the runners' std 0.14.
    "jump": _cheetah_ppo(log_std_init=0.0),
    "front_flip": _cheetah_ppo(log_std_init=0.0),
    "target_speed": _cheetah_ppo(2_000_000),
    # Standing still earns most of the walker's return (5 a step): it is judged by speed, and so selected
    "walk": ExpertConfig(algo="sac", total_steps=1_500_000, hyperparams=dict(HUMANOID_SAC),
                         policy_kwargs=dict(net_arch=[256, 256]), eval_every=25_000,
                         select_metric="mean_forward_speed", select_min_episode_length=900, confirm_episodes=20),
    "stand_up": ExpertConfig(algo="sac", total_steps=1_500_000, hyperparams=dict(HUMANOID_SAC),
                             policy_kwargs=dict(net_arch=[256, 256]), eval_every=25_000),
}

# PPO for the humanoid: 16 environments stepped together, thousands of env steps a second on one core
# where SAC's gradient step per env step manages ~13; observations and rewards normalised (HumanoidStandup
# pays ~35-330 a step). Actions are bounded by 0.4: a first try with std 0.37 and learning rate 3e-4
# (clip fractions ~0.3) sat at 0.49 m after 1.75M steps and never kept its balance from a standing
# start, so the noise starts at 0.135, like the cheetah runners', and the steps are smaller.
HUMANOID_PPO = dict(n_steps=256, batch_size=1024, n_epochs=5, gamma=0.99, gae_lambda=0.95, learning_rate=1e-4,
                    clip_range=0.2, ent_coef=0.0, vf_coef=0.5, max_grad_norm=0.5)

# Alternatives measured for the humanoid (notebook 02 compares them per CPU hour); "config" holds the
# settings an algorithm needs beyond its hyperparameters.
HUMANOID_ALGOS: dict[str, dict[str, Any]] = {
    "sac": {"hyperparams": dict(HUMANOID_SAC), "policy_kwargs": dict(net_arch=[256, 256])},
    "tqc": {"hyperparams": dict(HUMANOID_SAC, top_quantiles_to_drop_per_net=2),
            "policy_kwargs": dict(net_arch=[256, 256], n_critics=2, n_quantiles=25)},
    # CrossQ's default 1024-wide batch-normalised critics are 10x slower per step on a CPU core
    "crossq": {"hyperparams": {k: v for k, v in HUMANOID_SAC.items() if k != "tau"} | {"learning_rate": 1e-3},
               "policy_kwargs": dict(net_arch=dict(pi=[256, 256], qf=[512, 512]))},
    "ppo": {"hyperparams": dict(HUMANOID_PPO), "policy_kwargs": dict(log_std_init=-2.0, net_arch=dict(pi=[256, 256], vf=[256, 256])),
            "config": dict(n_envs=16, normalize_obs=True, normalize_reward=True, eval_every=200_000)},
}


def config_with_algo(skill: str, algo: str) -> ExpertConfig:
    """The skill's config with another algorithm (for the humanoid comparison)."""
    if algo not in HUMANOID_ALGOS:
        raise InvalidArgumentError(f"no alternative configuration for {algo!r}; known: {', '.join(HUMANOID_ALGOS)}")
    base = EXPERT_CONFIGS[skill]
    return dataclasses.replace(base, algo=algo, hyperparams=dict(HUMANOID_ALGOS[algo]["hyperparams"]),
                               policy_kwargs=dict(HUMANOID_ALGOS[algo]["policy_kwargs"]),
                               **HUMANOID_ALGOS[algo].get("config", {}))


def finetune_config(skill: str, init_from: str | Path, train_env_kwargs: dict[str, Any] | None = None,
                    warm_start_steps: int = 10_000, eval_every: int | None = None,
                    total_steps: int = 500_000, learning_rate: float | None = None,
                    speed_bonus: float = 0.0, replay_from: str | Path | None = None) -> ExpertConfig:
    """The skill's config, started from the expert in ``init_from`` and trained with ``train_env_kwargs``
    and ``speed_bonus``; its replay buffer starts from ``replay_from``'s (relabelled) or from a warm-up."""
    if speed_bonus and get_skill(skill).body != "humanoid":
        raise InvalidArgumentError(f"speed_bonus reads the humanoid's torso velocity; {skill!r} is a {get_skill(skill).body}")
    if replay_from is not None:
        if not (Path(replay_from) / "replay_buffer.npz").exists():
            raise NotAvailableError(f"--replay-from {replay_from}: no replay_buffer.npz there; give a training run's "
                                    f"folder, e.g. runs/{skill}/sac_seed0")
        if train_env_kwargs:  # their reward cannot be recomputed from a stored transition
            raise InvalidArgumentError("--replay-from relabels rewards with the speed bonus only: leave out --train-env-kwarg")
        warm_start_steps = 0

    init = Path(init_from)
    if not (init / "card.json").exists():
        raise NotAvailableError(f"--init-from {init}: no card.json there; give a published expert's folder, "
                                f"e.g. pretrained/{skill}")
    card = json.loads((init / "card.json").read_text())
    if card["skill"] != skill:
        raise InvalidArgumentError(f"--init-from {init} holds the {card['skill']!r} expert, not {skill!r}")
    if card["normalize_obs"]:  # its statistics would need carrying over too; the humanoid experts have none
        raise InvalidArgumentError(f"--init-from {init}: fine-tuning an expert with observation normalisation is not supported")
    kwargs = dict(train_env_kwargs or {})
    try:  # a misspelt reward argument must fail now, not after the warm-up
        make_env(skill, **kwargs).close()
    except TypeError as e:
        raise InvalidArgumentError(f"train env kwargs {kwargs} are not accepted by {get_skill(skill).env_id}: {e}") from None
    base = EXPERT_CONFIGS[skill]
    hyperparams = dict(card["hyperparameters"], **({"learning_rate": learning_rate} if learning_rate else {}))
    return dataclasses.replace(base, algo=card["algorithm"], hyperparams=hyperparams,
                               policy_kwargs=dict(card["policy_kwargs"]), n_envs=card["n_envs"],
                               normalize_obs=False, normalize_reward=False, init_from=str(init),
                               train_env_kwargs=kwargs, warm_start_steps=warm_start_steps, total_steps=total_steps,
                               speed_bonus=speed_bonus, replay_from=str(replay_from) if replay_from else None,
                               eval_every=eval_every or base.eval_every)
