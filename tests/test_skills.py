import numpy as np
import pytest

from helpers.envs.factory import make_env
from helpers.envs.metrics import episode_metrics, mean_peak_height
from helpers.envs.skills import SKILLS, TARGET_SPEED_RANGE, UnknownSkillError, get_skill

CANONICAL = {
    "run_forward": "mean_forward_speed", "run_backward": "mean_backward_speed", "jump": "mean_peak_height",
    "front_flip": "flips_per_episode", "target_speed": "mean_abs_speed_error", "walk": "mean_forward_speed",
    "stand_up": "final_torso_height",
}


def test_registry_matches_the_course_table():
    assert {name: s.metric for name, s in SKILLS.items()} == CANONICAL
    assert all(s.description and s.reward for s in SKILLS.values())


def test_unknown_skill_lists_the_known_ones():
    with pytest.raises(UnknownSkillError) as err:
        get_skill("moonwalk")
    assert "moonwalk" in str(err.value)
    for name in CANONICAL:
        assert name in str(err.value)


@pytest.mark.parametrize("name", list(SKILLS))
def test_every_skill_steps_and_reports_its_metric(name):
    env = make_env(name)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs.astype(env.observation_space.dtype))
    infos = []
    for _ in range(5):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert np.isfinite(reward) and np.all(np.isfinite(obs))
        infos.append(info)
    metrics = episode_metrics(name, infos)
    assert np.isfinite(metrics[SKILLS[name].metric])


def _step_with_velocity(env, qvel_index, value, steps=3):
    """Push the body with a fixed velocity component and return the rewards."""
    rewards = []
    for _ in range(steps):
        env.unwrapped.data.qvel[qvel_index] = value
        rewards.append(env.step(np.zeros(env.action_space.shape))[1])
    return np.mean(rewards)


def test_run_backward_pays_for_backward_motion():
    env = make_env("run_backward")
    env.reset(seed=0)
    assert _step_with_velocity(env, 0, -3.0) > 0 > _step_with_velocity(env, 0, 3.0)


def test_front_flip_pays_for_nose_down_rotation():
    env = make_env("front_flip")
    env.reset(seed=0)
    assert _step_with_velocity(env, 2, 5.0) > 0 > _step_with_velocity(env, 2, -5.0)


def test_target_speed_goal_is_in_obs_and_reward_peaks_at_target():
    env = make_env("target_speed", target_speed=1.5)
    obs, info = env.reset(seed=0)
    assert obs.shape == (18,) and obs[-1] == pytest.approx(1.5) and info["target_speed"] == 1.5
    on_target = _step_with_velocity(env, 0, 1.5)
    off_target = _step_with_velocity(env, 0, -1.0)
    assert on_target > off_target
    # without a fixed target, goals are drawn in range from the seeded RNG: same seed, same goal
    goals = [make_env("target_speed").reset(seed=s)[1]["target_speed"] for s in (3, 3, 4)]
    assert goals[0] == goals[1] != goals[2]
    assert all(TARGET_SPEED_RANGE[0] <= g <= TARGET_SPEED_RANGE[1] for g in goals)


def test_target_speed_out_of_range_is_rejected():
    with pytest.raises(ValueError, match=r"outside the valid range \[-3.0, 3.0\]"):
        make_env("target_speed", target_speed=7.0)
    with pytest.raises(ValueError, match="takes no target speed"):
        make_env("run_forward", target_speed=1.0)


def test_jump_rewards_height():
    env = make_env("jump")
    env.reset(seed=0)
    rest = np.mean([env.step(np.zeros(6))[1] for _ in range(3)])
    env.unwrapped.data.qpos[1] = 0.6  # lift the whole body 0.6 m
    env.unwrapped.data.qvel[:] = 0
    lifted = env.step(np.zeros(6))[1]
    assert lifted > rest + 3


def test_jump_pays_nothing_upside_down():
    """The first jump expert lay on its back with its feet in the air: that must earn nothing."""
    env = make_env("jump")
    env.reset(seed=0)
    data = env.unwrapped.data
    data.qpos[1], data.qpos[2] = 0.6, np.pi  # lifted and turned over: feet and torso high, upside down
    data.qvel[:] = 0
    _, reward, _, _, info = env.step(np.zeros(6))
    assert info["torso_up"] < -0.9 and info["lowest_foot_height"] > 0.5
    assert reward <= 0.0


def test_metrics_from_synthetic_episodes():
    infos = [{"x_velocity": v, "torso_height": 0.57, "pitch": p, "torso_up": np.cos(p)}
             for v, p in zip([1.0, 3.0, 2.0, 2.0], [0.0, np.pi, 2 * np.pi + 1.7, 4 * np.pi + 0.1])]
    m = episode_metrics("front_flip", infos)
    assert m["mean_forward_speed"] == 2.0 and m["mean_backward_speed"] == -2.0 and m["flips_per_episode"] == 2.0
    assert m["upright_fraction"] == 0.5  # upright at 0 and 4 pi + 0.1; on its back at pi, past vertical at 2 pi + 1.7
    t = np.linspace(0, 4 * np.pi, 200)
    assert mean_peak_height(0.3 * np.clip(np.sin(t), 0, None)) == pytest.approx(0.3, abs=0.01)
    assert mean_peak_height(np.zeros(10)) == 0.0


@pytest.mark.skipif(not __import__("helpers.envs.simulator", fromlist=["x"]).rendering_works(), reason="no headless rendering")
def test_the_camera_follows_the_cheetah_out_of_the_start_area():
    """Gymnasium's default cheetah camera stays put; 30 m down the track the cheetah must still be in
    the frame (the model's "track" camera), as large as at the start."""
    import numpy as np

    from helpers.envs.factory import make_env

    def cheetah_pixels(frame) -> int:
        r, g, b = (frame[..., i].astype(int) for i in range(3))
        return int(((r - b > 60) & (r > g)).sum())  # the cheetah's tan and pink, not the grey and green floor

    env = make_env("run_forward", render_mode="rgb_array", width=160, height=120)
    env.reset(seed=0)
    first = env.render()  # the camera is placed here, as in a video's first frame
    data = env.unwrapped.data
    data.qpos[0] += 30.0
    __import__("mujoco").mj_forward(env.unwrapped.model, data)
    later = env.render()
    env.close()
    at_start, far = cheetah_pixels(first), cheetah_pixels(later)
    assert at_start > 100 and far > 0.5 * at_start, (at_start, far)
