"""Resumable stable-baselines3 training of one skill's expert, keeping its best-evaluated checkpoint.

Training writes to ``runs/<skill>/<run_name>/``: ``model.zip`` (SB3), ``normalize.npz`` (observation
statistics, no pickle), ``replay_buffer.npz`` for off-policy algorithms, ``progress.csv`` (evaluation
curve), ``state.json`` and a ``MANIFEST.sha256``. Every file is written atomically, so a run killed at
any moment resumes from its last checkpoint when the same command is run again. The best evaluation so
far (by the config's selection rule) is copied to ``best/``.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecNormalize

from ..core.checkpoints import (RUNS_DIR, append_csv_row, atomic_save, atomic_write_json, load_npz, read_manifest,
                                replace_directory, save_npz, verify_file, write_manifest)
from ..core.errors import InvalidArgumentError
from ..envs.factory import make_vec_env
from ..envs.rewards import ScaledReward, SpeedBonus, UprightProgress, speed_bonus_reward
from ..envs.rollouts import evaluate_policy
from ..envs.skills import get_skill
from .configs import EXPERT_CONFIGS, ExpertConfig
from .curriculum import CurriculumProgress, ReverseCurriculum, StartStates, load_or_make_bank, skill_states
from .normalization import ObservationNormalizer
from .policy import ExpertPolicy
from .sb3_files import (algo_class, load_replay_buffer_into, load_vecnormalize_into, save_replay_buffer,
                        save_vecnormalize, sb3_policy_kwargs)


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

    def _on_rollout_end(self) -> None:
        curriculum = self.trainer.curriculum
        if curriculum is not None:  # TensorBoard: how deep into a fall episodes start, and how they end
            self.logger.record("curriculum/level", curriculum.level)
            if curriculum.outcomes:
                self.logger.record("curriculum/recent_success", float(np.mean(curriculum.outcomes)))


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
            raise InvalidArgumentError(f"select_metric {self.config.select_metric!r} is not measured for {self.skill.name}: "
                             f"use its metric {self.skill.metric!r} or None (select by return)")
        self.seed = seed
        self.run_dir = Path(run_dir) if run_dir else run_dir_for(self.skill.name, seed=seed)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.progress_bar, self.verbose = progress_bar, verbose
        self.curriculum: CurriculumProgress | None = None  # set by a reverse curriculum's wrapper
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
        torch.manual_seed(self.seed)
        cfg = self.config
        venv = make_vec_env(self.skill, cfg.n_envs, self.seed + 1000 * (self.state["env_steps"] // 10_000),
                            cfg.train_env_kwargs, self._training_wrapper())
        if cfg.normalize_obs or cfg.normalize_reward:
            gamma = cfg.hyperparams.get("gamma", 0.99)
            venv = VecNormalize(venv, norm_obs=cfg.normalize_obs, norm_reward=cfg.normalize_reward, gamma=gamma)
        self.venv = venv
        algo = algo_class(cfg.algo)
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
                              tensorboard_log=tb, policy_kwargs=sb3_policy_kwargs(cfg.policy_kwargs),
                              **cfg.hyperparams)

    def _training_wrapper(self):
        """Training-only changes to each env (the evaluation env is always the skill's own)."""
        cfg = self.config
        if cfg.reverse_curriculum:
            if self.skill.env_id != "HumanoidStandup-v5":
                raise InvalidArgumentError(f"the reverse curriculum starts from humanoid falls: it is for stand_up, "
                                           f"not {self.skill.name}")
            bank = load_or_make_bank(self.run_dir / "start_states.npz", seed=self.seed)
            progress = CurriculumProgress(self.run_dir / "curriculum.json")  # one level for every env copy
            self.curriculum = progress
            return lambda env: ReverseCurriculum(env, bank, progress, reward_scale=cfg.train_reward_scale,
                                                 horizon=cfg.curriculum_horizon, fall_margin=cfg.curriculum_fall_margin,
                                                 frontier_share=cfg.curriculum_frontier)
        def shaped(env):  # the recovery experts' reward shaping, under their start states
            return UprightProgress(env, cfg.train_upright_bonus) if cfg.train_upright_progress else env

        if cfg.start_states_from:
            path = self.run_dir / "start_states.npz"
            if not path.exists():
                save_npz(path, **skill_states(cfg.start_states_from, seed=self.seed))
            bank = load_npz(path)
            return lambda env: StartStates(shaped(env), bank, cfg.start_states_share)
        if cfg.train_upright_progress:
            return shaped
        if cfg.train_reward_scale != 1.0:
            return lambda env: ScaledReward(env, cfg.train_reward_scale)
        if cfg.speed_bonus:
            return lambda env: SpeedBonus(env, cfg.speed_bonus)
        return None

    def _init_from(self, init: Path, algo, tb: str | None) -> None:
        """Start from a published expert: its weights, optimisers and entropy coefficient; a buffer that is
        an earlier run's, relabelled (``replay_from``), or fresh and filled by its own stochastic actions.
        Its card and curve are copied into the run (``init/``), so
        the card of what this run publishes can tell the whole history even after ``init`` is replaced."""
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

    def _normalizer(self) -> ObservationNormalizer | None:
        if hasattr(self.venv, "obs_rms") and self.config.normalize_obs:
            return ObservationNormalizer.frozen(self.venv.obs_rms.mean.copy(), self.venv.obs_rms.var.copy(),
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
