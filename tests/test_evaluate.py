import json
import subprocess
import sys

import pytest

from helpers.envs.rollouts import RandomPolicy, evaluate_policy
from helpers.envs.factory import make_env


def _cli(*args):
    proc = subprocess.run([sys.executable, "-m", "helpers.evaluate", *args], capture_output=True, text=True, timeout=300)
    return proc


def test_cli_contract_with_a_random_policy():
    proc = _cli("--skill", "run_forward", "--policy", "random", "--episodes", "2", "--seed", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("mean_return", "std_return", "mean_episode_length", "metrics"):
        assert key in res
    assert res["mean_episode_length"] == 1000
    assert "mean_forward_speed" in res["metrics"]
    again = json.loads(_cli("--skill", "run_forward", "--policy", "random", "--episodes", "2", "--seed", "3",
                            "--json").stdout.strip().splitlines()[-1])
    assert again["mean_return"] == res["mean_return"]


def test_cli_rejects_bad_input():
    proc = _cli("--skill", "moonwalk", "--json")
    assert proc.returncode != 0 and "known skills" in proc.stderr and "run_forward" in proc.stderr
    proc = _cli("--skill", "run_forward", "--target-speed", "1", "--policy", "random", "--json")
    assert proc.returncode != 0 and "target_speed" in proc.stderr
    proc = _cli("--skill", "target_speed", "--target-speed", "9", "--policy", "random", "--json")
    assert proc.returncode != 0 and "[-3.0, 3.0]" in proc.stderr
    proc = _cli("--skill", "run_forward", "--policy", "/etc", "--json")
    assert proc.returncode != 0 and "expert" in proc.stderr


def test_target_speed_evaluation_uses_the_given_goal():
    env = make_env("target_speed")
    res = evaluate_policy(RandomPolicy(env.action_space, 0), "target_speed", episodes=1, seed=0, target_speed=-2.0)
    assert res["metrics"]["target_speed"] == pytest.approx(-2.0)
    # a random policy barely moves, so its speed error is about the target's magnitude
    assert 1.0 < res["metrics"]["mean_abs_speed_error"] < 3.0
