import numpy as np
import pytest

from helpers.envs.rollouts import RandomPolicy
from helpers.envs.factory import CommandableCheetah, make_env
from helpers.envs.skills import PlanStep
from helpers.experts.switching import SCHEDULES, SwitchingController, run_schedule, summarise, switch_metrics


class ConstantController:
    def __init__(self, actions):
        self.actions = actions

    def __call__(self, obs, segment):
        return self.actions[segment.skill]


def test_schedule_runs_and_rewards_follow_the_current_skill():
    zero = np.zeros(6)
    schedule = [PlanStep("run_forward", None, 1.0), PlanStep("run_backward", None, 1.0)]
    trace = run_schedule(ConstantController({"run_forward": zero, "run_backward": zero}), schedule, seed=0)
    assert len(trace["reward"]) == 40 and trace["switches"] == [20]
    # with zero torque the body barely moves: the two skills' rewards are -v and +v of the same motion
    np.testing.assert_allclose(trace["reward"][20:], -trace["x_velocity"][20:], atol=1e-9)
    np.testing.assert_allclose(trace["reward"][:20], trace["x_velocity"][:20], atol=1e-9)


def test_switch_metrics_on_a_synthetic_trace():
    dt = 0.05
    schedule = [PlanStep("run_forward", None, 2.0), PlanStep("run_backward", None, 2.0)]
    reward = np.concatenate([np.full(40, 5.0), np.linspace(-5, 5, 20), np.full(20, 5.0)])
    trace = {"dt": dt, "schedule": schedule, "switches": [40], "reward": reward,
             "pitch": np.concatenate([np.zeros(60), np.full(20, np.pi)]), "segment": np.repeat([0, 1], 40)}
    trace["torso_up"] = np.cos(trace["pitch"])
    ref = {"steady": 5.0, "floor": 0.0, "inverted_fraction": 0.0}
    rows = switch_metrics(trace, {"run_forward": ref, "run_backward": ref}, window_s=2.0)
    (row,) = rows
    assert row["reached"] and 0.5 < row["time_to_behaviour_s"] < 2.0
    assert row["return_lost"] == pytest.approx(5.0 * 40 - reward[40:80].sum())
    assert row["return_lost_fraction"] == pytest.approx(row["return_lost"] / (5.0 * 40))
    assert not row["upside_down"]  # inverted for exactly 1 s: not more than 1 s
    assert summarise(rows)["switches"] == 1
    # a skill whose expert is itself inverted half the time is not "fallen" when inverted for 1.5 s
    trace["pitch"] = np.concatenate([np.zeros(50), np.full(30, np.pi)])
    trace["torso_up"] = np.cos(trace["pitch"])
    assert switch_metrics(trace, {"run_backward": ref | {"inverted_fraction": 0.0}})[0]["upside_down"]
    assert not switch_metrics(trace, {"run_backward": ref | {"inverted_fraction": 0.5}})[0]["upside_down"]


def test_controller_appends_the_target_speed():
    seen = {}

    def target_expert(obs):
        seen["obs"] = obs
        return np.zeros(6)

    ctrl = SwitchingController({"target_speed": target_expert})
    ctrl(np.zeros(17), PlanStep("target_speed", 2.5, 1.0))
    assert seen["obs"].shape == (18,) and seen["obs"][-1] == 2.5
    with pytest.raises(KeyError, match="no expert for 'jump'"):
        ctrl(np.zeros(17), PlanStep("jump", None, 1.0))


def test_commandable_cheetah_validates_commands():
    env = CommandableCheetah()
    with pytest.raises(ValueError, match="humanoid skill"):
        env.set_skill("walk")
    with pytest.raises(ValueError, match="needs a target speed"):
        env.set_skill("target_speed")
    with pytest.raises(ValueError, match="outside the valid range"):
        env.set_skill("target_speed", 5.0)
    assert set(SCHEDULES) >= {"forward_to_backward", "run_to_flip", "run_to_jump", "speed_up_and_down"}
