"""The committed experts: checksums, fast actors, and cards that reproduce on other seeds."""

import json
import shutil

import numpy as np
import pytest

from helpers.core import checkpoints
from helpers.core.checkpoints import ChecksumError
from helpers.envs.rollouts import RandomPolicy, evaluate_policy
from helpers.experts.policy import expert_dir, fast_actor, load_expert
from helpers.envs.factory import make_env
from helpers.envs.skills import SKILLS

PUBLISHED = [name for name in SKILLS if (expert_dir(name) / "card.json").exists()]
CHEETAH_PUBLISHED = [n for n in PUBLISHED if SKILLS[n].body == "cheetah"]


CMD = "python -m helpers.train_expert --skill run_forward"  # what a card records


def test_the_cheetah_experts_are_published():
    assert set(CHEETAH_PUBLISHED) == {"run_forward", "run_backward", "jump", "front_flip", "target_speed"}


@pytest.mark.parametrize("skill", PUBLISHED)
def test_card_has_what_a_reader_needs(skill):
    card = json.loads((expert_dir(skill) / "card.json").read_text())
    for key in ("skill", "algorithm", "hyperparameters", "env_steps", "wall_clock_s", "hardware", "evaluation", "command"):
        assert key in card, key
    ev = card["evaluation"]
    assert ev["deterministic"] and ev["episodes"] >= 10 and len(ev["seeds"]) == ev["episodes"]
    assert SKILLS[skill].metric in ev["metrics"]


@pytest.mark.parametrize("skill", CHEETAH_PUBLISHED)
def test_card_reproduces_on_other_seeds_and_beats_random(skill):
    card = json.loads((expert_dir(skill) / "card.json").read_text())
    expert = load_expert(skill)
    res = evaluate_policy(expert, skill, episodes=2, seed=4242)
    random = evaluate_policy(RandomPolicy(make_env(skill).action_space, 0), skill, episodes=1, seed=4242)
    assert res["mean_return"] > random["mean_return"] + 0.5 * abs(card["evaluation"]["mean_return"] - random["mean_return"])
    assert res["mean_return"] == pytest.approx(card["evaluation"]["mean_return"], rel=0.10, abs=25)


@pytest.mark.parametrize("skill", PUBLISHED)
def test_fast_actor_matches_sb3_predict(skill):
    expert = load_expert(skill)
    env = make_env(skill)
    rng = np.random.default_rng(0)
    obs = np.stack([env.reset(seed=i)[0] for i in range(8)]) + rng.normal(0, 0.5, (8,) + env.observation_space.shape)
    assert np.allclose(fast_actor(expert)(obs), expert(obs), atol=1e-5)
    assert np.allclose(fast_actor(expert)(obs[0]), expert(obs[0]), atol=1e-5)
    actor = fast_actor(expert)
    assert actor.layers is not None  # the NumPy path, not the torch fallback
    actor.layers = None
    assert np.allclose(actor(obs), expert(obs), atol=1e-5)


def test_tampered_expert_is_refused(tmp_path, monkeypatch):
    skill = CHEETAH_PUBLISHED[0]
    copy = tmp_path / skill
    shutil.copytree(expert_dir(skill), copy)
    monkeypatch.setattr(checkpoints, "PRETRAINED_DIR", tmp_path)
    load_expert(skill, copy)  # an intact copy loads
    with open(copy / "model.zip", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        load_expert(skill, copy)


def test_missing_expert_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m helpers.train_expert --skill walk"):
        load_expert("walk", tmp_path / "nowhere")


def test_training_keeps_the_best_evaluated_checkpoint_and_publishes_it(tmp_path, monkeypatch):
    from helpers.experts import policy as expert_policy
    from helpers.experts.configs import ExpertConfig
    from helpers.experts.publish import publish_expert
    from helpers.experts.trainer import ExpertTrainer

    monkeypatch.setattr(checkpoints, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(checkpoints, "PRETRAINED_DIR", tmp_path / "pretrained")
    monkeypatch.setattr(expert_policy, "PRETRAINED_DIR", tmp_path / "pretrained")
    config = ExpertConfig(algo="ppo", total_steps=256, hyperparams=dict(n_steps=64, batch_size=64, n_epochs=1),
                          eval_every=64, eval_episodes=1)
    run = tmp_path / "runs" / "run_forward" / "tiny"
    trainer = ExpertTrainer("run_forward", seed=0, config=config, run_dir=run, tensorboard=False, progress_bar=False)
    trainer.train(256)
    curve = [float(line.split(",")[2]) for line in (run / "progress.csv").read_text().splitlines()[1:]]
    state = json.loads((run / "state.json").read_text())
    assert len(curve) == 4 and state["best"]["eval_mean_return"] == pytest.approx(max(curve))
    best_state = json.loads((run / "best" / "state.json").read_text())
    assert best_state["best"]["env_steps"] == state["best"]["env_steps"]
    card = publish_expert("run_forward", run, command=CMD, eval_episodes=1, checkpoint="best")
    assert card["checkpoint"]["kind"] == "best" and card["env_steps"] == state["best"]["env_steps"]
    assert (tmp_path / "pretrained" / "run_forward" / "progress.csv").read_text() == (run / "progress.csv").read_text()
    # another algorithm's curve published beside it, checksummed, and gone when not asked for again
    card = publish_expert("run_forward", run, command=CMD, eval_episodes=1, comparisons={"tqc": run})
    assert card["comparison_curves"]["tqc"]["env_steps"] == 256
    assert card["comparison_curves"]["tqc"]["command"].endswith("--skill run_forward --algo tqc --stop-at 256")
    assert card["comparison_curves"]["tqc"]["best_eval_return"] == pytest.approx(max(curve), abs=0.1)
    assert "progress_tqc.csv" in checkpoints.read_manifest(tmp_path / "pretrained" / "run_forward")
    assert "comparison_curves" not in publish_expert("run_forward", run, command=CMD, eval_episodes=1)
    assert not (tmp_path / "pretrained" / "run_forward" / "progress_tqc.csv").exists()
    with pytest.raises(FileNotFoundError, match="--algo crossq"):
        publish_expert("run_forward", run, command=CMD, comparisons={"crossq": tmp_path / "none"})
    with open(run / "best" / "model.zip", "ab") as f:  # the best copy is checksummed like any checkpoint
        f.write(b"\0")
    with pytest.raises(ChecksumError):
        publish_expert("run_forward", run, command=CMD, eval_episodes=1, checkpoint="best")
    with pytest.raises(ValueError, match="'last' or 'best'"):
        publish_expert("run_forward", run, command=CMD, checkpoint="final")


def test_the_walker_is_selected_by_speed_among_evaluations_that_last():
    from helpers.experts.configs import EXPERT_CONFIGS, ExpertConfig
    from helpers.experts.trainer import ExpertTrainer

    walk = EXPERT_CONFIGS["walk"]
    row = lambda ret, length, speed: {"eval_mean_return": ret, "eval_mean_episode_length": length,
                                      "mean_forward_speed": speed}
    standing, walking, falling = row(5200, 1000, 0.39), row(5000, 945, 0.54), row(3000, 600, 0.9)
    assert walk.selection_score(walking) > walk.selection_score(standing) > walk.selection_score(falling)
    assert walk.selection_score(falling) > walk.selection_score(row(900, 300, 0.1))  # by return until one lasts
    by_return = ExpertConfig(algo="sac", total_steps=1)
    assert by_return.selection_score(standing) > by_return.selection_score(walking)
    assert "mean_forward_speed" in walk.selection_rule() and "return" in by_return.selection_rule()
    with pytest.raises(ValueError, match="'final_torso_height'"):
        ExpertTrainer("stand_up", config=ExpertConfig(algo="sac", total_steps=1, select_metric="mean_forward_speed"))


def test_a_new_best_is_confirmed_on_more_episodes_before_it_is_kept(tmp_path, monkeypatch):
    from helpers.experts.configs import ExpertConfig
    from helpers.experts.trainer import ExpertTrainer

    monkeypatch.setattr(checkpoints, "RUNS_DIR", tmp_path / "runs")
    config = ExpertConfig(algo="ppo", total_steps=128, hyperparams=dict(n_steps=64, batch_size=64, n_epochs=1),
                          eval_every=64, eval_episodes=1, confirm_episodes=2)
    run = tmp_path / "runs" / "run_forward" / "confirmed"
    ExpertTrainer("run_forward", seed=0, config=config, run_dir=run, tensorboard=False, progress_bar=False).train(128)
    best = json.loads((run / "best" / "state.json").read_text())["best"]
    assert best["confirm_episodes"] == 2 and set(best["screening"]) == {"eval_mean_return", "eval_mean_episode_length",
                                                                      "mean_forward_speed"}
    screened = [float(line.split(",")[2]) for line in (run / "progress.csv").read_text().splitlines()[1:]]
    assert best["screening"]["eval_mean_return"] in screened  # the curve keeps the screening numbers
    confirmed = (run / "confirmations.csv").read_text().splitlines()
    assert confirmed[0].startswith("env_steps,eval_mean_return") and str(best["env_steps"]) in "".join(confirmed[1:])
    assert np.isfinite(best["eval_mean_return"])


def _tiny_sac_published(skill, steps, tmp_path, monkeypatch):
    """A tiny SAC expert for ``skill`` trained in a sandboxed runs/ and published to a sandboxed pretrained/."""
    from helpers.experts import policy as expert_policy
    from helpers.experts.configs import ExpertConfig
    from helpers.experts.publish import publish_expert
    from helpers.experts.trainer import ExpertTrainer

    monkeypatch.setattr(checkpoints, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(checkpoints, "PRETRAINED_DIR", tmp_path / "pretrained")
    monkeypatch.setattr(expert_policy, "PRETRAINED_DIR", tmp_path / "pretrained")
    tiny_sac = ExpertConfig(algo="sac", total_steps=steps, eval_every=64, eval_episodes=1,
                            hyperparams=dict(learning_starts=32, buffer_size=1000, batch_size=32),
                            policy_kwargs=dict(net_arch=[32, 32]))
    first = tmp_path / "runs" / skill / "first"
    ExpertTrainer(skill, config=tiny_sac, run_dir=first, tensorboard=False, progress_bar=False).train(steps)
    publish_expert(skill, first, command=f"python -m helpers.train_expert --skill {skill} --run-name first",
                   eval_episodes=1)
    return first


def test_fine_tuning_starts_from_the_published_expert_and_its_card_adds_the_cost(tmp_path, monkeypatch):
    import csv

    import torch

    from helpers.experts.configs import finetune_config
    from helpers.experts.publish import publish_expert
    from helpers.experts.trainer import ExpertTrainer

    _tiny_sac_published("run_forward", 128, tmp_path, monkeypatch)
    published = tmp_path / "pretrained" / "run_forward"
    start = {k: v.clone() for k, v in load_expert("run_forward").policy.actor.state_dict().items()}

    config = finetune_config("run_forward", published, {"forward_reward_weight": 3.0}, warm_start_steps=50,
                             eval_every=64, total_steps=128, learning_rate=1e-4)
    tune = tmp_path / "runs" / "run_forward" / "tune"
    trainer = ExpertTrainer("run_forward", config=config, run_dir=tune, tensorboard=False, progress_bar=False)
    actor = trainer.model.policy.actor.state_dict()
    assert all(torch.equal(actor[k], start[k]) for k in start)  # the expert's weights, not a fresh network
    assert trainer.model.replay_buffer.pos == 50 and trainer.model.learning_starts == 0  # its own warm-up
    assert trainer.model.learning_rate == 1e-4
    assert trainer.venv.envs[0].unwrapped._forward_reward_weight == 3.0  # reshaped in training only
    trainer.train(128)
    card = publish_expert("run_forward", tune, command=CMD + " --init-from pretrained/run_forward", eval_episodes=1)
    assert card["env_steps"] == 128 + 128 and card["fine_tune"]["train_env_kwargs"] == {"forward_reward_weight": 3.0}
    assert card["fine_tune"]["start_command"].endswith("--run-name first") and card["fine_tune"]["env_steps"] == 128
    # the expert it started from is published beside it, checksummed, and the card says how to rerun from it
    start_manifest = checkpoints.read_manifest(published / "start")
    assert start_manifest["model.zip"] == card["fine_tune"]["start_model_sha256"]
    assert card["fine_tune"]["reproduce"].startswith("python -m helpers.train_expert --skill run_forward "
                                                     "--init-from pretrained/run_forward/start")
    assert "--learning-rate 0.0001" in card["fine_tune"]["reproduce"] and "--stop-at 128" in card["fine_tune"]["reproduce"]
    with open(published / "progress.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["phase"] for r in rows] == ["initial"] * 4 + ["fine-tune"] * 4  # evaluated every 128 // 4 steps
    assert [int(r["env_steps"]) for r in rows] == list(range(32, 257, 32))

    with pytest.raises(ValueError, match="not accepted"):
        finetune_config("run_forward", published, {"forward_reward_wieght": 3.0})
    with pytest.raises(ValueError, match="'run_forward' expert, not 'jump'"):
        finetune_config("jump", published)
    with pytest.raises(FileNotFoundError, match="pretrained/walk"):
        finetune_config("walk", tmp_path / "nowhere")


def test_train_expert_cli_refuses_reward_arguments_without_a_starting_expert(capsys):
    from helpers.train_expert import main

    with pytest.raises(SystemExit):
        main(["--skill", "walk", "--train-env-kwarg", "forward_reward_weight=4"])
    assert "--init-from" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--skill", "walk", "--init-from", "pretrained/walk", "--train-env-kwarg", "forward_reward_weight"])
    assert "KEY=NUMBER" in capsys.readouterr().err


def test_speed_bonus_fine_tune_relabels_the_earlier_runs_replay_buffer(tmp_path, monkeypatch):
    from helpers.core.checkpoints import load_npz
    from helpers.envs.rewards import HUMANOID_TORSO_VX, SpeedBonus
    from helpers.experts.configs import finetune_config
    from helpers.experts.trainer import ExpertTrainer

    env, shaped = make_env("walk"), SpeedBonus(make_env("walk"), 2.0)
    env.reset(seed=3), shaped.reset(seed=3)
    action = env.action_space.sample()
    obs, reward, *_ = env.step(action)
    _, shaped_reward, *_ = shaped.step(action)
    assert obs[HUMANOID_TORSO_VX] == env.unwrapped.data.qvel[0]  # the torso's forward velocity
    assert shaped_reward == pytest.approx(reward + 2.0 * obs[HUMANOID_TORSO_VX])

    first = _tiny_sac_published("walk", 96, tmp_path, monkeypatch)
    config = finetune_config("walk", tmp_path / "pretrained" / "walk", speed_bonus=2.0, replay_from=first)
    assert config.warm_start_steps == 0  # the earlier run's data replaces the warm-up
    buffer = ExpertTrainer("walk", config=config, run_dir=tmp_path / "runs" / "walk" / "tune", tensorboard=False,
                           progress_bar=False).model.replay_buffer
    old = load_npz(first / "replay_buffer.npz")
    assert buffer.pos == len(old["rewards"]) == 96
    np.testing.assert_allclose(buffer.rewards[:96], old["rewards"] + 2.0 * old["next_observations"][..., HUMANOID_TORSO_VX],
                               rtol=1e-5)

    with pytest.raises(ValueError, match="humanoid"):
        finetune_config("run_forward", tmp_path / "pretrained" / "walk", speed_bonus=1.0)
    with pytest.raises(FileNotFoundError, match="replay_buffer.npz"):
        finetune_config("walk", tmp_path / "pretrained" / "walk", replay_from=tmp_path)
    with pytest.raises(ValueError, match="speed bonus only"):
        finetune_config("walk", tmp_path / "pretrained" / "walk", {"forward_reward_weight": 2.0}, replay_from=first)


def test_reverse_curriculum_climbs_together_and_resumes(tmp_path):
    """Every env copy of a run shares one level: it rises when most recent episodes from the bank end
    standing, and a new run reads it back; episodes start no deeper into a fall than the level."""
    from helpers.experts.curriculum import STAND_HEIGHT, CurriculumProgress, ReverseCurriculum, fall_states

    bank = fall_states(n_falls=2, steps=10, seed=0)
    assert bank["height"][0] > STAND_HEIGHT and bank["depth"].min() == 0.0 and bank["depth"].max() == 1.0
    progress = CurriculumProgress(tmp_path / "curriculum.json", step=0.25, window=4, success_rate=0.5, level=0.3)
    envs = [ReverseCurriculum(make_env("stand_up", max_episode_steps=3), bank, progress, default_share=0.0)
            for _ in range(2)]
    for env in envs:
        _, info = env.reset(seed=1)
        assert info["curriculum_depth"] <= 0.3 and info["curriculum_level"] == 0.3
    for stood in (True, False, True):
        progress.record(stood)
    assert progress.level == 0.3  # three outcomes of a window of four: not yet judged
    progress.record(False)
    assert progress.level == pytest.approx(0.55) and all(e.progress.level == progress.level for e in envs)
    assert CurriculumProgress(tmp_path / "curriculum.json").level == pytest.approx(0.55)
    for _ in range(3):  # an episode from the bank reports how it ended
        *_, truncated, info = envs[0].step(np.zeros(envs[0].action_space.shape))
    assert truncated and len(progress.outcomes) == 1


def test_reverse_curriculum_ends_falls_and_long_episodes():
    """Episodes from the bank end (terminated, a failure) once the torso drops fall_margin below its start,
    and are truncated at the horizon; episodes from the env's own start are left alone."""
    from helpers.experts.curriculum import CurriculumProgress, ReverseCurriculum, fall_states

    bank = fall_states(n_falls=1, steps=10, seed=0)
    progress = CurriculumProgress(level=0.0)
    env = ReverseCurriculum(make_env("stand_up"), bank, progress, default_share=0.0, horizon=500, fall_margin=0.05)
    env.reset(seed=3)
    limp = np.zeros(env.action_space.shape)
    for t in range(500):  # an unactuated body standing straight falls well within the horizon
        *_, terminated, truncated, _ = env.step(limp)
        if terminated or truncated:
            break
    assert terminated and not truncated and t < 499 and list(progress.outcomes) == [False]
    env = ReverseCurriculum(make_env("stand_up"), bank, progress, default_share=0.0, horizon=4)
    env.reset(seed=3)
    ends = [env.step(limp)[2:4] for _ in range(4)]
    assert ends[-1] == (False, True) and not any(any(e) for e in ends[:-1]) and len(progress.outcomes) == 2
    env = ReverseCurriculum(make_env("stand_up"), bank, progress, default_share=1.0, horizon=2, fall_margin=0.01)
    env.reset(seed=3)
    assert not any(any(env.step(limp)[2:4]) for _ in range(5))  # the env's own start: no curriculum rules


def test_reverse_curriculum_frontier_starts_deepest_and_alone_raises_the_level():
    """With frontier_share 1, every episode from the bank starts in the deepest allowed step of the fall,
    and only such episodes are judged; frontier_share 0 keeps the uniform draw."""
    from helpers.experts.curriculum import CurriculumProgress, ReverseCurriculum, fall_states

    bank = fall_states(n_falls=2, steps=11, seed=0)
    progress = CurriculumProgress(level=0.6, step=0.2, window=50)
    env = ReverseCurriculum(make_env("stand_up"), bank, progress, default_share=0.0, horizon=1, frontier_share=1.0)
    depths = []
    for seed in range(12):
        _, info = env.reset(seed=seed)
        depths.append(info["curriculum_depth"])
        env.step(np.zeros(env.action_space.shape))
    assert all(0.4 < d <= 0.6 + 1e-9 for d in depths) and len(progress.outcomes) == 12
    uniform = ReverseCurriculum(make_env("stand_up"), bank, CurriculumProgress(level=0.6, step=0.2), default_share=0.0)
    assert min(uniform.reset(seed=s)[1]["curriculum_depth"] for s in range(30)) <= 0.4
    half = ReverseCurriculum(make_env("stand_up"), bank, progress, default_share=0.0, horizon=1, frontier_share=0.5)
    for seed in range(40):
        half.reset(seed=seed)
        half.step(np.zeros(half.action_space.shape))
    assert 12 < len(progress.outcomes) < 12 + 40  # only the frontier starts were judged
    with pytest.raises(ValueError, match="frontier_share"):
        ReverseCurriculum(make_env("stand_up"), bank, progress, frontier_share=1.5)


def test_an_attempt_is_recorded_with_its_curve_command_and_level(tmp_path):
    import json

    from helpers.core.errors import InvalidArgumentError, NotAvailableError
    from helpers.experts.publish import record_attempt

    run = tmp_path / "ppo_curriculum_seed0"
    with pytest.raises(NotAvailableError, match="no state.json"):
        record_attempt("stand_up", run, "cmd", out=tmp_path / "out")
    run.mkdir()
    best = {"env_steps": 200, "eval_mean_return": 150000.0, "final_torso_height": 0.47}
    (run / "state.json").write_text(json.dumps({"skill": "stand_up", "env_steps": 400, "wall_clock_s": 7200.0,
                                                "config": {"reverse_curriculum": True}, "best": best}))
    (run / "progress.csv").write_text("env_steps,eval_mean_return\n200,150000.0\n400,149000.0\n")
    (run / "curriculum.json").write_text(json.dumps({"level": 0.35}))
    summary = record_attempt("stand_up", run, "python -m helpers.train_expert --skill stand_up", out=tmp_path / "out")
    assert summary["curriculum_level"] == 0.35 and summary["training_cost"]["wall_clock_h"] == 2.0
    assert summary["evaluations"] == 2 and summary["best"] == best
    assert (tmp_path / "out" / "ppo_curriculum_seed0.csv").read_text() == (run / "progress.csv").read_text()
    assert json.loads((tmp_path / "out" / "ppo_curriculum_seed0.json").read_text())["command"].endswith("stand_up")
    with pytest.raises(InvalidArgumentError, match="not 'walk'"):
        record_attempt("walk", run, "cmd", out=tmp_path / "out")


def test_ppo_for_the_humanoid_steps_many_envs_with_normalised_rewards():
    from helpers.experts.configs import config_with_algo

    config = config_with_algo("stand_up", "ppo")
    assert config.algo == "ppo" and config.n_envs >= 8 and config.normalize_obs and config.normalize_reward
    assert config_with_algo("stand_up", "sac").n_envs == 1
    with pytest.raises(ValueError, match="known: sac"):
        config_with_algo("stand_up", "dqn")


def test_upright_progress_pays_running_only_on_the_feet():
    """On its feet the cheetah's reward is Gymnasium's; on its back, forward progress pays nothing."""
    from helpers.envs.rewards import UprightProgress

    env = UprightProgress(make_env("run_forward"))
    env.reset(seed=0)
    push = np.zeros(env.action_space.shape)
    env.unwrapped.data.qvel[0] = 3.0  # moving forward, upright
    _, reward, *_, info = env.step(push)
    assert info["torso_up"] > 0.9 and reward == pytest.approx(info["x_velocity"], rel=0.05)
    qpos, qvel = env.unwrapped.data.qpos.copy(), env.unwrapped.data.qvel.copy()
    qpos[1], qpos[2], qvel[0] = 0.3, np.pi, 3.0  # turned over onto its back, same speed
    env.unwrapped.set_state(qpos, qvel)
    _, reward, *_, info = env.step(push)
    assert info["torso_up"] < -0.9 and info["x_velocity"] > 1.0 and reward <= 0.0
    bonus = UprightProgress(make_env("run_forward"), bonus=1.0)  # lying on its back now costs, every step
    bonus.reset(seed=0)
    qvel[:] = 0.0
    bonus.unwrapped.set_state(qpos, qvel)
    assert bonus.step(push)[1] < -0.5
    with pytest.raises(SystemExit):
        from helpers import train_expert
        train_expert.main(["--skill", "jump", "--upright-progress"])
