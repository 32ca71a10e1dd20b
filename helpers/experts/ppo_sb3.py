"""The reference for helpers.ppo: the same run with stable-baselines3, and a runner for side-by-side jobs.

    >>> cfg = PPOConfig.from_sb3(CHEETAH_PPO, CHEETAH_PPO_NET, env_id="run_forward", n_envs=8, total_steps=500_000)
    >>> jobs = [("ours", cfg), ("sb3", cfg)]
    >>> results = run_jobs(jobs, workers=2, eval_episodes=5)     # one process per job, two at a time

Both implementations get the same :class:`~helpers.ppo.PPOConfig`: :func:`sb3_arguments` translates
it into SB3's keyword arguments (VecNormalize for the normalisation), env ``i`` is seeded
``seed + i`` in both, and both log one learning-curve row per iteration with the same columns.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO as SB3PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecNormalize
from tqdm.auto import tqdm

from ..core.errors import InvalidArgumentError
from ..envs.factory import make_vec_env
from ..envs.rollouts import evaluate_policy
from ..envs.skills import SKILLS
from .normalization import ObservationNormalizer
from .policy import ExpertPolicy
from .ppo import ACTIVATIONS, PPO, PPOConfig

IMPLEMENTATIONS = ("ours", "sb3")


def sb3_arguments(cfg: PPOConfig) -> dict[str, Any]:
    """``stable_baselines3.PPO`` keyword arguments equivalent to ``cfg`` (without the env)."""
    lr: Any = cfg.learning_rate
    if cfg.anneal_lr:  # SB3 calls it with the fraction of training left
        lr = lambda progress_remaining: progress_remaining * cfg.learning_rate  # noqa: E731
    return dict(
        n_steps=cfg.n_steps, batch_size=cfg.batch_size, n_epochs=cfg.n_epochs, learning_rate=lr,
        gamma=cfg.gamma, gae_lambda=cfg.gae_lambda, clip_range=cfg.clip_range, clip_range_vf=cfg.clip_range_vf,
        ent_coef=cfg.ent_coef, vf_coef=cfg.vf_coef, max_grad_norm=cfg.max_grad_norm,
        normalize_advantage=cfg.normalize_advantage, seed=cfg.seed, device=cfg.device,
        policy_kwargs=dict(net_arch=dict(pi=list(cfg.hidden_sizes), vf=list(cfg.hidden_sizes)),
                           activation_fn=ACTIVATIONS[cfg.activation], ortho_init=cfg.ortho_init,
                           log_std_init=cfg.log_std_init, optimizer_kwargs=dict(eps=cfg.adam_eps)),
    )


class SB3Run:
    """SB3 PPO trained from a PPOConfig; ``log`` has the same columns as ``helpers.ppo.PPO.log``."""

    def __init__(self, cfg: PPOConfig):
        self.config = cfg
        venv = make_vec_env(cfg.env_id, cfg.n_envs, cfg.seed)  # env i: seed + i at the first reset, as PPO's EnvPool
        self.venv = VecNormalize(venv, norm_obs=cfg.normalize_obs, norm_reward=cfg.normalize_reward,
                                 clip_obs=cfg.clip_obs, clip_reward=cfg.clip_reward, gamma=cfg.gamma, epsilon=1e-8)
        self.model = SB3PPO("MlpPolicy", self.venv, verbose=0, **sb3_arguments(cfg))
        self.log: list[dict[str, float]] = []
        self.wall_clock_s = 0.0

    def train(self, progress: bool = False) -> "SB3Run":
        self.model.learn(self.config.total_steps, callback=_CurveLogger(self), progress_bar=progress)
        return self

    def policy(self):
        """Deterministic: the mean action, observations normalised with the frozen statistics."""
        norm = None
        if self.config.normalize_obs:
            rms = self.venv.obs_rms
            norm = ObservationNormalizer.frozen(rms.mean.copy(), rms.var.copy(), self.venv.clip_obs, self.venv.epsilon)
        skill = SKILLS.get(self.config.env_id)
        return ExpertPolicy(self.model, norm, skill)


class _CurveLogger(BaseCallback):
    """One row per PPO iteration (rollout + update), written when the update is done."""

    SB3_STATS = {"policy_loss": "train/policy_gradient_loss", "value_loss": "train/value_loss",
                 "approx_kl": "train/approx_kl", "clip_fraction": "train/clip_fraction",
                 "explained_variance": "train/explained_variance", "action_std": "train/std"}

    def __init__(self, run: SB3Run):
        super().__init__()
        self.run, self.finished, self.iteration = run, [], 0

    def _on_training_start(self) -> None:
        self.start = time.perf_counter()

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:  # from VecMonitor: the raw (unnormalised) return
                self.finished.append(float(info["episode"]["r"]))
        return True

    def _on_rollout_start(self) -> None:
        if self.iteration:  # the previous iteration's update has just finished
            self._row()
        self.iteration += 1

    def _on_training_end(self) -> None:
        self._row()

    def _row(self) -> None:
        cfg, wall = self.run.config, time.perf_counter() - self.start
        recent = self.finished[-cfg.n_envs:]
        values = self.model.logger.name_to_value
        row = {"iteration": self.iteration, "env_steps": self.num_timesteps, "wall_clock_s": wall,
               "episode_return": float(np.mean(recent)) if recent else float("nan"), "episodes": len(self.finished),
               "learning_rate": float(self.model.policy.optimizer.param_groups[0]["lr"]),
               "steps_per_s": self.num_timesteps / wall}
        row.update({k: float(values[v]) for k, v in self.SB3_STATS.items() if v in values})
        if "train/entropy_loss" in values:
            row["entropy"] = -float(values["train/entropy_loss"])
        self.run.log.append(row)
        self.run.wall_clock_s = wall


def train_and_evaluate(implementation: str, config: PPOConfig, eval_episodes: int = 5,
                       eval_seed: int = 10_000, progress: bool = False, save_path: str | None = None) -> dict[str, Any]:
    """Train one implementation, then evaluate it deterministically. Importable, so it runs in a worker process.

    ``save_path`` (ours only) keeps the trained weights as a safetensors file.
    """
    if implementation not in IMPLEMENTATIONS:
        raise InvalidArgumentError(f"unknown implementation {implementation!r}; valid: {', '.join(IMPLEMENTATIONS)}")
    run = PPO(config) if implementation == "ours" else SB3Run(config)
    run.train(progress=progress)
    if save_path is not None and implementation == "ours":
        run.save(save_path)
    t0 = time.perf_counter()
    ev = evaluate_policy(run.policy(), config.env_id, episodes=eval_episodes, seed=eval_seed)
    env_steps = run.log[-1]["env_steps"]
    return {"implementation": implementation, "env_id": config.env_id, "seed": config.seed, "env_steps": env_steps,
            "wall_clock_s": run.wall_clock_s, "steps_per_s": env_steps / run.wall_clock_s,
            "final_return": ev["mean_return"], "final_return_std": ev["std_return"], "eval_returns": ev["returns"],
            "eval_metrics": ev.get("metrics", {}), "eval_wall_clock_s": time.perf_counter() - t0, "log": run.log,
            "saved_to": str(save_path) if save_path is not None and implementation == "ours" else None}


def run_jobs(jobs: list[tuple[str, PPOConfig]], workers: int = 1, eval_episodes: int = 5, eval_seed: int = 10_000,
             save_dir: str | Path | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """Run ``(implementation, config)`` jobs, ``workers`` at a time in separate processes; results in job order.

    With ``save_dir``, our runs' weights are saved there as ``ppo_<env_id>_seed<seed>.safetensors``.

    Put the two implementations of one seed next to each other in ``jobs``: with two workers they then
    run at the same time and see the same machine load, which keeps their wall-clock times comparable.
    """
    if workers < 1:
        raise InvalidArgumentError(f"workers must be >= 1, got {workers}")
    def save_path(impl: str, cfg: PPOConfig) -> str | None:
        if save_dir is None or impl != "ours":
            return None
        return str(Path(save_dir) / f"ppo_{cfg.env_id}_seed{cfg.seed}.safetensors")

    bar = tqdm(total=len(jobs), unit="run", disable=not progress, desc="training runs")
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    try:
        if workers == 1:
            for i, (impl, cfg) in enumerate(jobs):
                results[i] = train_and_evaluate(impl, cfg, eval_episodes, eval_seed, save_path=save_path(impl, cfg))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                     initializer=_one_thread) as pool:
                futures = {pool.submit(train_and_evaluate, impl, cfg, eval_episodes, eval_seed,
                                       save_path=save_path(impl, cfg)): i
                           for i, (impl, cfg) in enumerate(jobs)}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.update()
    finally:
        bar.close()
    return results  # type: ignore[return-value]


def _one_thread() -> None:
    """Worker processes: small MLPs run fastest on one thread, and parallel jobs do not fight over cores."""
    torch.set_num_threads(1)
