"""Per-skill experts with stable-baselines3: configurations, resumable training, safe loading.

Training writes to ``runs/<skill>/<run_name>/``: ``model.zip`` (SB3), ``normalize.npz`` (observation
statistics, no pickle), ``replay_buffer.npz`` for off-policy algorithms, ``progress.csv`` (evaluation
curve), ``state.json`` and a ``MANIFEST.sha256``. Every file is written atomically, so a run killed at
any moment resumes from its last checkpoint when the same command is run again.

A finished expert is published to ``pretrained/<skill>/`` with a ``card.json``; :func:`load_expert`
opens it only after checking the manifest.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

from .checkpoints import (PRETRAINED_DIR, RUNS_DIR, append_csv_row, atomic_save, atomic_write_json, load_npz,
                          read_manifest, replace_directory, save_npz, verify_file, write_manifest)
from .skills import Skill, get_skill, make_env


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


# Off-policy alternatives measured for the humanoid (notebook 02 compares them per CPU hour).
HUMANOID_ALGOS: dict[str, dict[str, Any]] = {
    "sac": {"hyperparams": dict(HUMANOID_SAC), "policy_kwargs": dict(net_arch=[256, 256])},
    "tqc": {"hyperparams": dict(HUMANOID_SAC, top_quantiles_to_drop_per_net=2),
            "policy_kwargs": dict(net_arch=[256, 256], n_critics=2, n_quantiles=25)},
    # CrossQ's default 1024-wide batch-normalised critics are 10x slower per step on a CPU core
    "crossq": {"hyperparams": {k: v for k, v in HUMANOID_SAC.items() if k != "tau"} | {"learning_rate": 1e-3},
               "policy_kwargs": dict(net_arch=dict(pi=[256, 256], qf=[512, 512]))},
}


def config_with_algo(skill: str, algo: str) -> ExpertConfig:
    """The skill's config with another off-policy algorithm (for the humanoid comparison)."""
    import dataclasses

    if algo not in HUMANOID_ALGOS:
        raise ValueError(f"no alternative configuration for {algo!r}; known: {', '.join(HUMANOID_ALGOS)}")
    base = EXPERT_CONFIGS[skill]
    return dataclasses.replace(base, algo=algo, hyperparams=dict(HUMANOID_ALGOS[algo]["hyperparams"]),
                               policy_kwargs=dict(HUMANOID_ALGOS[algo]["policy_kwargs"]))


def finetune_config(skill: str, init_from: str | Path, train_env_kwargs: dict[str, Any] | None = None,
                    warm_start_steps: int = 10_000, eval_every: int | None = None,
                    total_steps: int = 500_000, learning_rate: float | None = None,
                    speed_bonus: float = 0.0, replay_from: str | Path | None = None) -> ExpertConfig:
    """The skill's config, started from the expert in ``init_from`` and trained with ``train_env_kwargs``
    and ``speed_bonus``; its replay buffer starts from ``replay_from``'s (relabelled) or from a warm-up."""
    import dataclasses

    if speed_bonus and get_skill(skill).body != "humanoid":
        raise ValueError(f"speed_bonus reads the humanoid's torso velocity; {skill!r} is a {get_skill(skill).body}")
    if replay_from is not None:
        if not (Path(replay_from) / "replay_buffer.npz").exists():
            raise FileNotFoundError(f"--replay-from {replay_from}: no replay_buffer.npz there; give a training run's "
                                    f"folder, e.g. runs/{skill}/sac_seed0")
        if train_env_kwargs:  # their reward cannot be recomputed from a stored transition
            raise ValueError("--replay-from relabels rewards with the speed bonus only: leave out --train-env-kwarg")
        warm_start_steps = 0

    init = Path(init_from)
    if not (init / "card.json").exists():
        raise FileNotFoundError(f"--init-from {init}: no card.json there; give a published expert's folder, "
                                f"e.g. pretrained/{skill}")
    card = json.loads((init / "card.json").read_text())
    if card["skill"] != skill:
        raise ValueError(f"--init-from {init} holds the {card['skill']!r} expert, not {skill!r}")
    if card["normalize_obs"]:  # its statistics would need carrying over too; the humanoid experts have none
        raise ValueError(f"--init-from {init}: fine-tuning an expert with observation normalisation is not supported")
    kwargs = dict(train_env_kwargs or {})
    try:  # a misspelt reward argument must fail now, not after the warm-up
        make_env(skill, **kwargs).close()
    except TypeError as e:
        raise ValueError(f"train env kwargs {kwargs} are not accepted by {get_skill(skill).env_id}: {e}") from None
    base = EXPERT_CONFIGS[skill]
    hyperparams = dict(card["hyperparameters"], **({"learning_rate": learning_rate} if learning_rate else {}))
    return dataclasses.replace(base, algo=card["algorithm"], hyperparams=hyperparams,
                               policy_kwargs=dict(card["policy_kwargs"]), n_envs=card["n_envs"],
                               normalize_obs=False, normalize_reward=False, init_from=str(init),
                               train_env_kwargs=kwargs, warm_start_steps=warm_start_steps, total_steps=total_steps,
                               speed_bonus=speed_bonus, replay_from=str(replay_from) if replay_from else None,
                               eval_every=eval_every or base.eval_every)


def _algo_class(algo: str):
    from stable_baselines3 import PPO, SAC
    from sb3_contrib import TQC, CrossQ

    table = {"ppo": PPO, "sac": SAC, "tqc": TQC, "crossq": CrossQ}
    if algo not in table:
        raise ValueError(f"unknown algorithm {algo!r}; known: {', '.join(table)}")
    return table[algo]


def _policy_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = dict(kwargs)
    if isinstance(out.get("activation_fn"), str):
        out["activation_fn"] = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[out["activation_fn"]]
    return out


# --------------------------------------------------------------------------------------------------
# Observation normalisation without pickles
# --------------------------------------------------------------------------------------------------

@dataclass
class ObsNormalizer:
    """Frozen VecNormalize observation statistics: (obs - mean) / sqrt(var + eps), clipped."""

    mean: np.ndarray
    var: np.ndarray
    clip: float = 10.0
    epsilon: float = 1e-8

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.clip((obs - self.mean) / np.sqrt(self.var + self.epsilon), -self.clip, self.clip).astype(np.float32)

    @classmethod
    def identity(cls, dim: int) -> "ObsNormalizer":
        return cls(np.zeros(dim), np.ones(dim) - 1e-8, clip=np.inf)


def save_vecnormalize(venv, path: Path) -> None:
    save_npz(path, obs_mean=venv.obs_rms.mean, obs_var=venv.obs_rms.var, obs_count=np.array(venv.obs_rms.count),
             ret_mean=venv.ret_rms.mean, ret_var=venv.ret_rms.var, ret_count=np.array(venv.ret_rms.count),
             clip_obs=np.array(venv.clip_obs), clip_reward=np.array(venv.clip_reward),
             epsilon=np.array(venv.epsilon))


def load_vecnormalize_into(venv, path: Path) -> None:
    d = load_npz(path)
    venv.obs_rms.mean, venv.obs_rms.var, venv.obs_rms.count = d["obs_mean"], d["obs_var"], float(d["obs_count"])
    venv.ret_rms.mean, venv.ret_rms.var, venv.ret_rms.count = d["ret_mean"], d["ret_var"], float(d["ret_count"])


def load_obs_normalizer(path: Path) -> ObsNormalizer:
    d = load_npz(path)
    return ObsNormalizer(d["obs_mean"], d["obs_var"], float(d["clip_obs"]), float(d["epsilon"]))


# --------------------------------------------------------------------------------------------------
# Replay buffers without pickles
# --------------------------------------------------------------------------------------------------

_BUFFER_FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


def save_replay_buffer(buffer, path: Path) -> None:
    n = buffer.buffer_size if buffer.full else buffer.pos
    arrays = {k: getattr(buffer, k)[:n] for k in _BUFFER_FIELDS}
    save_npz(path, pos=np.array(buffer.pos), full=np.array(buffer.full), **arrays)


def load_replay_buffer_into(buffer, path: Path) -> None:
    d = load_npz(path)
    n = len(d["actions"])
    for k in _BUFFER_FIELDS:
        getattr(buffer, k)[:n] = d[k]
    buffer.pos, buffer.full = int(d["pos"]), bool(d["full"])


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------

# Humanoid observations start with qpos[2:] (22 numbers), then qvel: qvel[0] is the torso's forward velocity
HUMANOID_TORSO_VX = 22


def speed_bonus_reward(next_obs: np.ndarray, bonus: float) -> np.ndarray:
    return bonus * next_obs[..., HUMANOID_TORSO_VX]


class SpeedBonus(gym.Wrapper):
    """Training-only reward shaping: + ``bonus`` x the torso's forward velocity after the step."""

    def __init__(self, env: gym.Env, bonus: float):
        super().__init__(env)
        self.bonus = bonus

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward + float(speed_bonus_reward(obs, self.bonus)), terminated, truncated, info


def make_vec_env(skill: Skill, n_envs: int, seed: int, env_kwargs: dict[str, Any] | None = None,
                 speed_bonus: float = 0.0):
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    def thunk(i: int) -> Callable[[], gym.Env]:
        def _make():
            env = make_env(skill, **(env_kwargs or {}))
            if speed_bonus:
                env = SpeedBonus(env, speed_bonus)
            env.reset(seed=seed + i)
            return env
        return _make

    venv = DummyVecEnv([thunk(i) for i in range(n_envs)])
    venv.seed(seed)
    return VecMonitor(venv)


def run_dir_for(skill: str, run_name: str | None = None, seed: int = 0) -> Path:
    cfg = EXPERT_CONFIGS[skill]
    return RUNS_DIR / skill / (run_name or f"{cfg.algo}_seed{seed}")


def fill_replay_buffer(model, venv, steps: int) -> None:
    """Add ``steps`` transitions of the model's own stochastic actions to its replay buffer, so that the
    first gradient steps of a fine-tune see the states its policy visits, not a falling humanoid's."""
    obs = venv.reset()
    for _ in range(steps // venv.num_envs):
        action, _ = model.predict(obs, deterministic=False)
        next_obs, reward, done, infos = venv.step(action)
        stored_next = next_obs.copy()
        for i in np.flatnonzero(done):  # the VecEnv has already reset these: keep the true last state
            stored_next[i] = infos[i]["terminal_observation"]
        model.replay_buffer.add(obs, stored_next, model.policy.scale_action(action), reward, done, infos)
        obs = next_obs


class _Checkpointer(BaseCallback):
    """SB3 callback: evaluate, log the curve and checkpoint every ``every`` env steps."""

    def __init__(self, trainer: "ExpertTrainer", every: int):
        super().__init__()
        self.trainer, self.every = trainer, every
        self.next_at = (trainer.state["env_steps"] // every + 1) * every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_at:
            row = self.trainer.checkpoint(self.num_timesteps, evaluate=True)
            self.next_at += self.every
            target = self.trainer.target_return
            if target is not None and row["eval_mean_return"] >= target:
                self.trainer.reached_target_at = row
                return False
        return self.trainer.stop_at is None or self.num_timesteps < self.trainer.stop_at


class ExpertTrainer:
    """Resumable SB3 training of one skill's expert.

    >>> trainer = ExpertTrainer("run_forward", seed=0)
    >>> trainer.train(200_000)      # killed midway? run the same line again: it resumes
    """

    def __init__(self, skill: str, seed: int = 0, config: ExpertConfig | None = None,
                 run_dir: Path | None = None, tensorboard: bool = True, progress_bar: bool = True,
                 verbose: int = 0):
        self.skill = get_skill(skill)
        self.config = config or EXPERT_CONFIGS[self.skill.name]
        if self.config.select_metric not in (None, self.skill.metric):
            raise ValueError(f"select_metric {self.config.select_metric!r} is not measured for {self.skill.name}: "
                             f"use its metric {self.skill.metric!r} or None (select by return)")
        self.seed = seed
        self.run_dir = Path(run_dir) if run_dir else run_dir_for(self.skill.name, seed=seed)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.progress_bar, self.verbose = progress_bar, verbose
        self.stop_at: int | None = None
        self.target_return: float | None = None
        self.reached_target_at: dict[str, Any] | None = None
        state_path = self.run_dir / "state.json"
        self.state = json.loads(state_path.read_text()) if state_path.exists() else {
            "skill": self.skill.name, "seed": seed, "env_steps": 0, "wall_clock_s": 0.0,
            "config": asdict(self.config),
        }
        self._build(tensorboard)

    def _build(self, tensorboard: bool) -> None:
        from stable_baselines3.common.vec_env import VecNormalize

        torch.manual_seed(self.seed)
        cfg = self.config
        venv = make_vec_env(self.skill, cfg.n_envs, self.seed + 1000 * (self.state["env_steps"] // 10_000),
                            cfg.train_env_kwargs, cfg.speed_bonus)
        if cfg.normalize_obs or cfg.normalize_reward:
            gamma = cfg.hyperparams.get("gamma", 0.99)
            venv = VecNormalize(venv, norm_obs=cfg.normalize_obs, norm_reward=cfg.normalize_reward, gamma=gamma)
        self.venv = venv
        algo = _algo_class(cfg.algo)
        tb = str(self.run_dir / "tb") if tensorboard else None
        model_path = self.run_dir / "model.zip"
        if model_path.exists():
            verify_file(model_path)
            self.model = algo.load(model_path, env=venv, device="cpu", tensorboard_log=tb)
            if (self.run_dir / "normalize.npz").exists():
                load_vecnormalize_into(venv, self.run_dir / "normalize.npz")
            if hasattr(self.model, "replay_buffer") and (self.run_dir / "replay_buffer.npz").exists():
                load_replay_buffer_into(self.model.replay_buffer, self.run_dir / "replay_buffer.npz")
        elif cfg.init_from:
            self._init_from(Path(cfg.init_from), algo, tb)
        else:
            self.model = algo("MlpPolicy", venv, seed=self.seed, device="cpu", verbose=self.verbose,
                              tensorboard_log=tb, policy_kwargs=_policy_kwargs(cfg.policy_kwargs),
                              **cfg.hyperparams)

    def _init_from(self, init: Path, algo, tb: str | None) -> None:
        """Start from a published expert: its weights, optimisers and entropy coefficient; a buffer that is
        an earlier run's, relabelled (``replay_from``), or fresh and filled by its own stochastic actions.
        Its card and curve are copied into the run (``init/``), so
        the card of what this run publishes can tell the whole history even after ``init`` is replaced."""
        import shutil

        self.model = algo.load(verify_file(init / "model.zip"), env=self.venv, device="cpu", tensorboard_log=tb,
                               seed=self.seed, **{k: v for k, v in self.config.hyperparams.items() if k == "learning_rate"})
        self.model.learning_starts = 0  # the warm-up below is the policy's own, not random actions
        copied = self.run_dir / "init"
        copied.mkdir(exist_ok=True)
        names = [name for name in ("model.zip", "card.json", "progress.csv") if (init / name).exists()]
        for name in names:
            shutil.copy2(verify_file(init / name), copied / name)
        write_manifest(copied, names)
        card = json.loads((init / "card.json").read_text())
        self.state["init"] = {"from": str(init), "model_sha256": read_manifest(init)["model.zip"],
                              "env_steps": card["env_steps"], "wall_clock_s": card["wall_clock_s"],
                              "command": card["command"]}  # how it was trained: in state["config"]
        t0 = time.time()
        if self.config.replay_from:
            buffer = self.model.replay_buffer
            load_replay_buffer_into(buffer, Path(self.config.replay_from) / "replay_buffer.npz")
            n = buffer.buffer_size if buffer.full else buffer.pos
            buffer.rewards[:n] += speed_bonus_reward(buffer.next_observations[:n], self.config.speed_bonus)
        fill_replay_buffer(self.model, self.venv, self.config.warm_start_steps)
        self.state["wall_clock_s"] += time.time() - t0

    def checkpoint(self, env_steps: int, evaluate: bool = True) -> dict[str, Any] | None:
        """Write model, statistics, buffer, curve row and state; atomically, manifest last."""
        row = None
        now = time.time()
        self.state["wall_clock_s"] += now - self._t0
        self._t0 = now
        if evaluate:
            row = self.evaluate_now(env_steps)
        self.state["env_steps"] = int(env_steps)
        files = ["model.zip"]
        atomic_save(self.run_dir / "model.zip", lambda tmp: self.model.save(tmp))
        if hasattr(self.venv, "obs_rms"):
            save_vecnormalize(self.venv, self.run_dir / "normalize.npz")
            files.append("normalize.npz")
        if getattr(self.model, "replay_buffer", None) is not None:
            save_replay_buffer(self.model.replay_buffer, self.run_dir / "replay_buffer.npz")
            files.append("replay_buffer.npz")
        write_manifest(self.run_dir, files)
        best = self.state.get("best")
        score = self.config.selection_score
        if row is not None and (best is None or score(row) > score(best)):
            if self.config.confirm_episodes:
                row = self.confirm(row)
            if best is None or score(row) > score(best):
                self._keep_best(row, files)
        atomic_write_json(self.run_dir / "state.json", self.state)
        self._t0 = time.time()  # checkpoint and evaluation time are not training time
        return row

    def _keep_best(self, row: dict[str, Any], files: list[str]) -> None:
        """Copy this checkpoint's policy to ``best/``: off-policy curves on the humanoid swing by
        thousands between evaluations, and the policy to publish is the best one, not the last."""
        import shutil

        staging = self.run_dir / "best.staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        kept = [f for f in files if f != "replay_buffer.npz"]
        for name in kept:
            shutil.copy2(self.run_dir / name, staging / name)
        atomic_write_json(staging / "state.json", {**self.state, "best": row, "selected_by": self.config.selection_rule()})
        write_manifest(staging, kept + ["state.json"])
        replace_directory(staging, self.run_dir / "best", self.run_dir / "best.old")
        self.state["best"] = row

    def evaluate_now(self, env_steps: int) -> dict[str, Any]:
        from .evaluate import evaluate_policy

        policy = ExpertPolicy(self.model, self._normalizer(), self.skill)
        res = evaluate_policy(policy, self.skill.name, episodes=self.config.eval_episodes, seed=10_000)
        row = {"env_steps": int(env_steps), "wall_clock_s": round(self.state["wall_clock_s"], 1),
               "eval_mean_return": res["mean_return"], "eval_std_return": res["std_return"],
               "eval_mean_episode_length": res["mean_episode_length"],
               self.skill.metric: res["metrics"][self.skill.metric]}
        append_csv_row(self.run_dir / "progress.csv", row)
        if self.verbose or self.progress_bar:
            print(f"[{self.skill.name}] {env_steps:>9,d} steps  eval return {res['mean_return']:9.1f}  "
                  f"{self.skill.metric} {res['metrics'][self.skill.metric]:.3f}", flush=True)
        return row

    def confirm(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` re-measured on ``confirm_episodes`` other seeds (its screening numbers kept beside)."""
        from .evaluate import evaluate_policy

        policy = ExpertPolicy(self.model, self._normalizer(), self.skill)
        res = evaluate_policy(policy, self.skill.name, episodes=self.config.confirm_episodes, seed=20_000)
        append_csv_row(self.run_dir / "confirmations.csv",  # kept or not, every confirmation is on record
                       {"env_steps": row["env_steps"], "eval_mean_return": res["mean_return"],
                        "eval_mean_episode_length": res["mean_episode_length"],
                        self.skill.metric: res["metrics"][self.skill.metric]})
        return {**row, "screening": {k: row[k] for k in ("eval_mean_return", "eval_mean_episode_length", self.skill.metric)},
                "confirm_episodes": self.config.confirm_episodes, "eval_mean_return": res["mean_return"],
                "eval_std_return": res["std_return"], "eval_mean_episode_length": res["mean_episode_length"],
                self.skill.metric: res["metrics"][self.skill.metric]}

    def _normalizer(self) -> ObsNormalizer | None:
        if hasattr(self.venv, "obs_rms") and self.config.normalize_obs:
            return ObsNormalizer(self.venv.obs_rms.mean.copy(), self.venv.obs_rms.var.copy(),
                                 self.venv.clip_obs, self.venv.epsilon)
        return None

    def train(self, total_steps: int | None = None, stop_at: int | None = None,
              target_return: float | None = None) -> "ExpertTrainer":
        """Train until ``total_steps`` env steps in all (resuming).

        ``stop_at`` ends a sitting early; ``target_return`` stops at the first evaluation that reaches
        it (the evaluation row is then in ``self.reached_target_at``).
        """
        total = int(total_steps or self.config.total_steps)
        self.stop_at, self.target_return = stop_at, target_return
        remaining = total - self.state["env_steps"]
        self._t0 = time.time()
        if remaining > 0:
            cb = _Checkpointer(self, min(self.config.eval_every, max(total // 4, 1)))
            self.model.learn(remaining, callback=cb, reset_num_timesteps=self.state["env_steps"] == 0,
                             progress_bar=self.progress_bar, tb_log_name="tb")
            self.checkpoint(self.model.num_timesteps, evaluate=False)
        return self


# --------------------------------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------------------------------

class ExpertPolicy:
    """A deterministic expert: ``policy(obs) -> action`` for one observation or a batch."""

    def __init__(self, model, normalizer: ObsNormalizer | None, skill: Skill):
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

    Collection steps thousands of environments a second, so per-call costs matter: this calls the
    policy's own torch layers directly (PPO: the Gaussian mean clipped to the action bounds;
    SAC/TQC: tanh of the mean rescaled to the bounds). Set ``torch.set_num_threads(1)`` in
    processes that run many of these side by side. The unit tests check it against
    ``policy.predict(..., deterministic=True)``.
    """

    def __init__(self, model, normalizer: ObsNormalizer | None = None):
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

    @torch.inference_mode()
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float32)
        single = x.ndim == 1
        x = x[None] if single else x
        if self.normalizer is not None:
            x = self.normalizer(x)
        a = self.net(torch.from_numpy(np.ascontiguousarray(x))).numpy()
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
        raise FileNotFoundError(
            f"no expert for {s.name!r} at {d}: train one with `python -m helpers.train_expert --skill {s.name}` "
            f"and publish it with --publish"
        )
    card = json.loads(card_path.read_text())
    model_path = verify_file(d / "model.zip")
    model = _algo_class(card["algorithm"]).load(model_path, device="cpu")
    norm = None
    if (d / "normalize.npz").exists():
        verify_file(d / "normalize.npz")
        norm = load_obs_normalizer(d / "normalize.npz")
    return ExpertPolicy(model, norm, s)


def load_run_policy(run_dir: Path, skill: str) -> ExpertPolicy:
    """The policy of a training run's last checkpoint (verified against the run's manifest)."""
    run_dir = Path(run_dir)
    state = json.loads((run_dir / "state.json").read_text())
    model = _algo_class(state["config"]["algo"]).load(verify_file(run_dir / "model.zip"), device="cpu")
    norm = None
    if state["config"]["normalize_obs"] and (run_dir / "normalize.npz").exists():
        norm = load_obs_normalizer(verify_file(run_dir / "normalize.npz"))
    return ExpertPolicy(model, norm, get_skill(skill))


def _read_curve(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path} has no evaluation rows yet")
    return rows


def _selection_text(best_state: dict[str, Any]) -> str:
    """How the checkpoint in a run's best/ was chosen, from its own state.json."""
    evaluations = f"{best_state['config']['eval_episodes']} episodes, seeds 10000+"
    if "confirm_episodes" in best_state["best"]:
        evaluations += f"; confirmed on {best_state['best']['confirm_episodes']} episodes, seeds 20000+"
    return f"{best_state.get('selected_by', 'highest eval_mean_return')} in the training-time evaluations ({evaluations})"


def _finetune_command(skill: str, config: dict[str, Any], stop_at: int) -> str:
    """The command that reruns a fine-tune from the starting expert published beside it."""
    parts = [f"python -m helpers.train_expert --skill {skill} --init-from pretrained/{skill}/start"]
    parts += [f"--train-env-kwarg {k}={v:g}" for k, v in config["train_env_kwargs"].items()]
    if config["speed_bonus"]:
        parts.append(f"--speed-bonus {config['speed_bonus']:g}")
    if config["replay_from"]:
        parts.append(f"--replay-from {config['replay_from']}")
    else:
        parts.append(f"--warm-start-steps {config['warm_start_steps']}")
    parts.append(f"--learning-rate {config['hyperparams']['learning_rate']:g} --eval-every {config['eval_every']} "
                 f"--steps {config['total_steps']} --stop-at {stop_at}")
    if config["replay_from"]:  # whose buffer is not committed (hundreds of MB): say how to remake it first
        replay = json.loads((Path(config["replay_from"]) / "state.json").read_text())
        parts.insert(0, f"python -m helpers.train_expert --skill {skill} --run-name {Path(config['replay_from']).name} "
                        f"--seed {replay['seed']} --steps {replay['env_steps']} &&")
    return " ".join(parts)


def _fine_tune_card(skill: str, state: dict[str, Any], init: dict[str, Any], prior: dict[str, Any],
                    run_dir: Path) -> dict[str, Any]:
    """The card's account of a fine-tune: what it started from, how it trained, what it counts, how to rerun it."""
    config = state["config"]
    return {
        "start": f"pretrained/{skill}/start", "start_model_sha256": init["model_sha256"],
        "start_env_steps": init["env_steps"], "start_wall_clock_s": init["wall_clock_s"],
        "start_command": init["command"], "env_steps": state["env_steps"], "wall_clock_s": round(state["wall_clock_s"], 1),
        **{k: config[k] for k in ("speed_bonus", "replay_from", "train_env_kwargs", "warm_start_steps")},
        "reproduce": _finetune_command(skill, config, json.loads((run_dir / "state.json").read_text())["env_steps"]),
        "counted_before": {k: prior[k] for k in ("env_steps", "wall_clock_s", "counted")},
        "note": "the card's env_steps and wall_clock_s are totals: counted_before plus the fine-tune's; progress.csv "
                "is counted_before's curve, then the fine-tune's. The speed bonus and train_env_kwargs apply in "
                "training only; the evaluation uses the skill's own reward.",
    }


def _finetune_prior(init: dict[str, Any], init_dir: Path) -> dict[str, Any]:
    """What a fine-tune stands on, counted in its card: the starting expert's training or, when it began
    from an earlier run's replay buffer, that run's (the starting expert being one of its checkpoints:
    the larger of the two is counted, not both), with the learning curve that goes with it."""
    prior = {"env_steps": init["env_steps"], "wall_clock_s": init["wall_clock_s"], "curve": init_dir / "progress.csv",
             "counted": "the starting expert's training"}
    replay = Path(init["replay_from"]) if init.get("replay_from") else None
    if replay is not None and (replay / "state.json").exists():
        rs = json.loads((replay / "state.json").read_text())
        if rs["env_steps"] >= init["env_steps"]:
            prior = {"env_steps": rs["env_steps"], "wall_clock_s": round(rs["wall_clock_s"], 1),
                     "curve": replay / "progress.csv",
                     "counted": f"the run whose replay buffer it started from ({replay}), which produced its data"}
    return prior


def _write_finetune_curve(prior_curve: Path, curve: Path, prior: dict[str, Any], out: Path) -> None:
    """One learning curve for a fine-tuned expert: the curve of what it stands on, then the fine-tune's
    evaluations shifted by those steps and that time."""
    import csv

    rows = [dict(r, phase="initial") for r in (_read_curve(prior_curve) if prior_curve.exists() else [])
            if int(r["env_steps"]) <= prior["env_steps"]]
    for r in _read_curve(curve):
        rows.append(dict(r, env_steps=int(r["env_steps"]) + prior["env_steps"],
                         wall_clock_s=round(float(r["wall_clock_s"]) + prior["wall_clock_s"], 1), phase="fine-tune"))

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
            w.writeheader()
            w.writerows(rows)

    atomic_save(out, write)


def publish_expert(skill: str, run_dir: Path, command: str, eval_episodes: int = 10,
                   eval_seed: int = 1000, hardware: str | None = None, checkpoint: str = "last",
                   comparisons: dict[str, Path] | None = None) -> dict[str, Any]:
    """Copy a run's last checkpoint (or, with ``checkpoint="best"``, the one with the best
    training-time evaluation) to ``pretrained/<skill>/`` and write its card, evaluated on held-out seeds.

    ``comparisons`` ({algorithm: run folder}) adds those runs' learning curves as ``progress_<algo>.csv``:
    the measured curves behind the choice of algorithm, published next to the expert they justify."""
    import shutil

    from .evaluate import evaluate_policy
    from .profiles import machine_info

    s = get_skill(skill)
    run_dir = Path(run_dir)
    if checkpoint not in ("last", "best"):
        raise ValueError(f"checkpoint must be 'last' or 'best', not {checkpoint!r}")
    curve = run_dir / "progress.csv"
    init_dir = run_dir / "init"  # a fine-tune's starting expert (card and curve), copied when it began
    other_curves = {}  # {algo: (path, rows)}: read before anything is copied
    for algo, other in (comparisons or {}).items():
        path = Path(other) / "progress.csv"
        if not path.exists():
            raise FileNotFoundError(f"no learning curve at {path}: train the {algo} run first "
                                    f"(python -m helpers.train_expert --skill {s.name} --algo {algo} --stop-at N)")
        other_curves[algo] = path, _read_curve(path)
    if checkpoint == "best":
        if not (run_dir / "best" / "state.json").exists():
            raise FileNotFoundError(f"{run_dir / 'best'} does not exist: this run has kept no best checkpoint yet "
                                    "(it is written at the first evaluation after training resumes)")
        run_dir = run_dir / "best"
        verify_file(run_dir / "state.json")
    state = json.loads((run_dir / "state.json").read_text())
    out = expert_dir(s.name)
    out.mkdir(parents=True, exist_ok=True)
    verify_file(run_dir / "model.zip")
    shutil.copy2(run_dir / "model.zip", out / "model.zip")
    files = ["model.zip"]
    if state["config"]["normalize_obs"]:
        shutil.copy2(run_dir / "normalize.npz", out / "normalize.npz")
        files.append("normalize.npz")
    init = state.get("init")
    prior = _finetune_prior(init, init_dir) if init is not None else None
    shutil.rmtree(out / "start", ignore_errors=True)  # a starting expert of an earlier publication
    if init is not None:  # a fine-tune: publish the expert it started from beside it, so it can be rerun
        start_files = [name for name in ("model.zip", "card.json", "progress.csv") if (init_dir / name).exists()]
        if "model.zip" not in start_files:
            raise FileNotFoundError(f"{init_dir / 'model.zip'} is missing: the expert this fine-tune started from "
                                    f"(sha256 {init['model_sha256']}) must be published with it")
        (out / "start").mkdir()
        for name in start_files:
            shutil.copy2(verify_file(init_dir / name), out / "start" / name)
        write_manifest(out / "start", start_files)
        if curve.exists():
            _write_finetune_curve(prior["curve"], curve, prior, out / "progress.csv")
            files.append("progress.csv")
    elif curve.exists():
        shutil.copy2(curve, out / "progress.csv")
        files.append("progress.csv")
    for stale in out.glob("progress_*.csv"):  # curves of an earlier publication, not asked for now
        stale.unlink()
    compared = {}
    for algo, (other_curve, rows) in other_curves.items():
        shutil.copy2(other_curve, out / f"progress_{algo}.csv")
        files.append(f"progress_{algo}.csv")
        compared[algo] = {"file": f"progress_{algo}.csv", "env_steps": int(rows[-1]["env_steps"]),
                          "wall_clock_s": round(float(rows[-1]["wall_clock_s"]), 1),
                          "best_eval_return": round(max(float(r["eval_mean_return"]) for r in rows), 1),
                          "command": (f"python -m helpers.train_expert --skill {s.name} --algo {algo} "
                                      f"--stop-at {int(rows[-1]['env_steps'])}")}
    card = {
        "skill": s.name,
        "body": s.body,
        "env_id": s.env_id,
        "env_kwargs": s.env_kwargs,
        "reward": s.reward,
        "algorithm": state["config"]["algo"],
        "hyperparameters": state["config"]["hyperparams"],
        "policy_kwargs": state["config"]["policy_kwargs"],
        "n_envs": state["config"]["n_envs"],
        "normalize_obs": state["config"]["normalize_obs"],
        "training_seed": state["seed"],
        # best/state.json is the run's state at that checkpoint; a fine-tune adds the cost of what it stands on
        "env_steps": state["env_steps"] + (prior["env_steps"] if init else 0),
        "wall_clock_s": round(state["wall_clock_s"] + (prior["wall_clock_s"] if init else 0.0), 1),
        **({"fine_tune": _fine_tune_card(s.name, state, init, prior, init_dir.parent)} if init else {}),
        "checkpoint": ({"kind": "best", "selected_by": _selection_text(state), "training_eval": state["best"]}
                       if checkpoint == "best" else {"kind": "last"}),
        "hardware": hardware or machine_info(),
        "command": command,
        **({"comparison_curves": compared} if compared else {}),
    }
    atomic_write_json(out / "card.json", card)  # evaluation is added below, from the published files
    write_manifest(out, files + ["card.json"])
    policy = load_expert(s.name)
    seeds = list(range(eval_seed, eval_seed + eval_episodes))
    res = evaluate_policy(policy, s.name, episodes=eval_episodes, seed=eval_seed)
    card["evaluation"] = {"deterministic": True, "episodes": eval_episodes, "seeds": seeds,
                          **{k: res[k] for k in ("mean_return", "std_return", "mean_episode_length", "metrics")}}
    card["reproduce_evaluation"] = (f"python -m helpers.evaluate --skill {s.name} --policy expert "
                                    f"--episodes {eval_episodes} --seed {eval_seed} --json")
    atomic_write_json(out / "card.json", card)
    write_manifest(out, files + ["card.json"])
    return card
