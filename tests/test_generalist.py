"""The goal-conditioned generalist: plans and their refusals, the model and its exact runner, the
data mixture, the transitions collector, the plan runner's contract, and training end to end."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import REPO_ROOT
from helpers.envs.skills import HELD_OUT_SPEED_BAND, HELD_OUT_SPEEDS, PlanError, PlanStep, check_plan
from helpers.models.dt import DTRunner
from helpers.models.generalist import Generalist, GeneralistConfig, goal_features

TINY = dict(context_len=5, n_layer=2, n_embd=32, dropout=0.0)


# --- plans ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("step, message", [
    (dict(skill="moonwalk"), "unknown skill 'moonwalk'; known skills: run_forward"),
    (dict(skill="target_speed"), "needs a target speed in m/s within [-3, 3]"),
    (dict(skill="target_speed", target_speed=4.0), "outside the valid range [-3, 3]"),
    (dict(skill="jump", target_speed=1.0), "takes no target speed"),
    (dict(skill="jump", duration_s=0), "duration 0 s is outside (0, 300] s"),
    (dict(skill="jump", duration_s=-2), "duration -2 s is outside"),
    (dict(skill="jump", speed=1.0), "unknown plan step fields ['speed']"),
    (dict(skill="jump", duration_s="long"), "duration_s must be a number"),
])
def test_bad_plan_steps_are_refused_naming_the_problem(step, message):
    with pytest.raises(PlanError, match=__import__("re").escape(message)):
        PlanStep.from_json(step)


def test_a_plan_runs_on_one_body():
    assert check_plan([PlanStep("jump"), PlanStep("target_speed", 1.5, 2)]) == "cheetah"
    with pytest.raises(PlanError, match="mixes bodies"):
        check_plan([PlanStep("walk"), PlanStep("jump")])
    with pytest.raises(PlanError, match="empty"):
        check_plan([])


def test_run_plan_cli_refuses_bad_plans_with_exit_code_2():
    for plan, message in [('[{"skill": "walk"}, {"skill": "jump"}]', "mixes bodies"),
                          ('[{"skill": "target_speed", "target_speed": 9}]', "outside the valid range"),
                          ('{"skill": "jump"}', "must be a JSON list"), ("not json", "not JSON")]:
        proc = subprocess.run([sys.executable, "-m", "helpers.run_plan", "--plan", plan], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and message in proc.stderr, (plan, proc.stderr[-500:])


@pytest.mark.slow
def test_run_plan_cli_contract_with_switching_experts():
    plan = '[{"skill": "jump", "duration_s": 2}, {"skill": "run_forward", "duration_s": 3}]'
    proc = subprocess.run([sys.executable, "-m", "helpers.run_plan", "--plan", plan, "--episodes", "2", "--json"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["switches"] == 2 and 0.0 <= res["reached_rate"] <= 1.0 and len(res["episodes"]) == 2
    first = res["episodes"][0]
    assert [s["skill"] for s in first["segments"]] == ["jump", "run_forward"]
    assert {"from", "to", "reached", "time_to_behaviour_s", "upside_down", "return_lost_fraction"} <= set(first["switches"][0])
    assert first["segments"][1]["metrics"]["mean_forward_speed"] > first["segments"][0]["metrics"]["mean_forward_speed"]


# --- the model -----------------------------------------------------------------------------------
def test_goal_features_separate_skills_and_speeds():
    cfg = GeneralistConfig(**TINY)
    g = goal_features(cfg, np.array([4, 4, 2]), np.array([1.0, 1.1, np.nan]))
    assert g.shape == (3, cfg.goal_dim) and np.isfinite(g).all()
    assert np.abs(g[0] - g[1]).sum() > 0 and g[0, 4] == g[1, 4] == 1.0  # same skill, nearby speeds differ
    assert g[2, len(cfg.skills):len(cfg.skills) + 1 + 2 * cfg.speed_frequencies].sum() == 0  # jump has no speed


@pytest.mark.parametrize("body", ["cheetah", "humanoid"])
def test_body_view_and_runner_match_the_full_model(body):
    torch.manual_seed(0)
    cfg = GeneralistConfig(**TINY)
    model = Generalist(cfg).eval()
    B, K = 2, cfg.context_len
    obs_dim, act_dim = cfg.bodies[body]
    states = torch.zeros(B, K, cfg.state_dim)
    states[..., :obs_dim] = torch.randn(B, K, obs_dim)
    actions = torch.zeros(B, K, cfg.act_dim)
    actions[..., :act_dim] = torch.rand(B, K, act_dim) * 2 - 1
    goals = torch.from_numpy(goal_features(cfg, np.full((B, K), 4), np.full((B, K), -1.2)))
    t = torch.arange(K)[None].repeat(B, 1)
    with torch.no_grad():
        full = model(states, actions, goals, t, torch.full((B,), model.body_index(body)))[..., :act_dim]
        view = model.body_view(body)
        torch.testing.assert_close(view(states[..., :obs_dim], actions[..., :act_dim], goals, t), full)
        runner = DTRunner(view, n_streams=K)
        runner.reset()
        steps = [runner.act(states[0, i, :obs_dim], goals[0, i], None if i == 0 else actions[0, i - 1, :act_dim])
                 for i in range(K)]
    torch.testing.assert_close(torch.stack(steps), full[0])


def test_padded_action_dimensions_do_not_count():
    cfg = GeneralistConfig(**TINY)
    model = Generalist(cfg)
    body = torch.tensor([model.body_index("cheetah")])
    pred, target = torch.zeros(1, 2, cfg.act_dim), torch.zeros(1, 2, cfg.act_dim)
    target[..., 6:] = 5.0  # beyond the cheetah's 6 action dimensions: padding
    assert model.loss(pred, target, torch.ones(1, 2, dtype=torch.bool), body) == 0.0
    target[..., 0] = 1.0
    assert model.loss(pred, target, torch.ones(1, 2, dtype=torch.bool), body) == pytest.approx(1 / 6)


# --- data and training ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    from helpers.data.collection import collect

    root = tmp_path_factory.mktemp("generalist_data")
    for skill, quality, steps in [("run_forward", "expert", 1500), ("target_speed", "expert", 3000),
                                  ("walk", "expert", 300), ("run_forward", "random", 500)]:
        collect(skill, quality, steps, root, workers=1, verbose=False)
    collect("transitions", "experts", 1200, root, workers=1, verbose=False)
    return root


def test_transitions_record_the_skill_asked_for_and_a_hindsight_quality(tiny_root):
    from helpers.data.flat import flat_dataset

    data = flat_dataset(tiny_root, ["course/transitions/experts-v0"], obs_dim=17)
    assert data.obs_dim == 17 and len(np.unique(data.step_skill)) >= 2
    assert set(np.unique(data.step_quality)) <= {0, 1, 2}
    for e in range(data.n_episodes):  # the skill changes mid-episode in every one
        s, n = data.episode_starts[e], data.episode_lengths[e]
        assert len(np.unique(data.step_skill[s:s + n])) >= 2
    speeds = data.step_speed[np.isfinite(data.step_speed)]
    assert all(np.abs(speeds - h).min() > HELD_OUT_SPEED_BAND for h in HELD_OUT_SPEEDS) if len(speeds) else True


def test_mixture_never_draws_held_out_speeds_and_trains(tiny_root, tmp_path):
    from helpers.models.generalist_training import GeneralistTrainConfig, MixtureSampler, train

    cfg = GeneralistTrainConfig(root=str(tiny_root), datasets=["course/run_forward/expert-v0", "course/target_speed/expert-v0",
                                                               "course/walk/expert-v0", "course/run_forward/random-v0",
                                                               "course/transitions/experts-v0"],
                                steps=40, batch_size=16, context_len=5, n_layer=1, n_embd=32, log_every=20,
                                ckpt_every=20, warmup=5)
    state = train(cfg, tmp_path / "run", progress=False)
    assert state["step"] == 40 and (tmp_path / "run" / "export" / "model.safetensors").exists()
    losses = [float(line.split(",")[1]) for line in (tmp_path / "run" / "progress.csv").read_text().splitlines()[1:]]
    assert np.isfinite(losses).all() and len(losses) == 2
    from helpers.models.generalist_policy import load_generalist_policy
    from helpers.envs.rollouts import evaluate_policy

    gen = load_generalist_policy(tmp_path / "run" / "export", verify=False)
    res = evaluate_policy(gen.for_skill("target_speed"), "target_speed", episodes=1, seed=0)
    assert res["mean_episode_length"] == 1000 and np.isfinite(res["mean_return"])
    walk = evaluate_policy(gen.for_skill("walk"), "walk", episodes=1, seed=0)
    assert np.isfinite(walk["mean_return"])
    assert state["mixture"]["course/transitions/experts-v0"] > state["mixture"]["course/run_forward/random-v0"]


def test_episodes_near_a_held_out_speed_are_never_drawn():
    from helpers.data.flat import FlatData
    from helpers.models.generalist_training import MixtureSampler

    lengths = np.array([4, 4, 4, 4])
    starts = np.array([0, 4, 8, 12])
    speeds = np.repeat([HELD_OUT_SPEEDS[0], HELD_OUT_SPEEDS[1] + HELD_OUT_SPEED_BAND / 2, 2.0, np.nan], 4)
    data = FlatData(np.zeros((16, 17), np.float32), np.zeros((16, 6), np.float32), np.zeros(16), np.zeros(16),
                    np.tile(np.arange(4), 4), starts, lengths, np.zeros(4), np.zeros(4, np.int16), {},
                    step_speed=speeds.astype(np.float32))
    kept = MixtureSampler._without_held_out_speeds(data, np.arange(4))
    assert kept.tolist() == [2, 3]  # 2.0 m/s and the episode without a target stay
