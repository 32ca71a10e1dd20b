"""helpers.ppo: GAE and the losses at hand-computed values, normalisation, shapes, a short learning run."""

import numpy as np
import pytest
import torch

from helpers.experts.normalization import RewardScaler, RunningMeanStd
from helpers.envs.rollouts import evaluate_policy
from helpers.experts.ppo import PPO, ActorCritic, EnvPool, PPOConfig, clipped_surrogate_loss, compute_gae, value_loss

torch.set_num_threads(1)

# A small task PPO solves in seconds (InvertedPendulum: the episode ends when the pole falls).
PENDULUM = dict(env_id="InvertedPendulum-v5", n_envs=4, n_steps=256, batch_size=64, learning_rate=1e-3)


def test_gae_by_hand_with_termination_and_truncation():
    gamma, lam = 0.5, 0.5
    # env 0: no episode end; the last step bootstraps from V(s_3) = 2.
    # env 1: terminated at t=0 (next value 100 must be ignored), truncated at t=1 (bootstrap from
    #        V(final observation) = 4, but the advantage recursion stops), an ordinary step at t=2.
    rewards = np.ones((3, 2), np.float32)
    values = np.array([[0, 1], [0, 1], [0, 1]], np.float32)
    next_values = np.array([[0, 100], [0, 4], [2, 0]], np.float32)
    terminated = np.array([[0, 1], [0, 0], [0, 0]], bool)
    truncated = np.array([[0, 0], [0, 1], [0, 0]], bool)
    adv, ret = compute_gae(rewards, values, next_values, terminated, truncated, gamma, lam)
    # env 0: deltas 1, 1, 1 + 0.5 * 2 = 2; A2 = 2, A1 = 1 + 0.25 * 2, A0 = 1 + 0.25 * 1.5
    # env 1: deltas 1 - 1 = 0, 1 + 0.5 * 4 - 1 = 2, 1 + 0.5 * 0 - 1 = 0; no recursion across ends
    np.testing.assert_allclose(adv, [[1.375, 0.0], [1.5, 2.0], [2.0, 0.0]])
    np.testing.assert_allclose(ret, adv + values)


def test_gae_with_lambda_one_is_the_discounted_return():
    rewards = np.array([[1.0], [2.0], [3.0]], np.float32)
    values = np.zeros((3, 1), np.float32)
    next_values = np.zeros((3, 1), np.float32)
    no = np.zeros((3, 1), bool)
    _, ret = compute_gae(rewards, values, next_values, no, no, gamma=0.9, gae_lambda=1.0)
    np.testing.assert_allclose(ret[:, 0], [1 + 0.9 * 2 + 0.81 * 3, 2 + 0.9 * 3, 3], rtol=1e-6)


def test_clipped_surrogate_loss_at_known_inputs():
    ratio = torch.tensor([0.5, 1.0, 1.5, 1.5])
    advantages = torch.tensor([1.0, 1.0, 1.0, -1.0])
    old_log_prob = torch.zeros(4)
    log_prob = ratio.log().requires_grad_()
    loss, clip_fraction = clipped_surrogate_loss(log_prob, old_log_prob, advantages, clip_range=0.2)
    # min(r A, clip(r) A): 0.5 (unclipped is smaller), 1.0, 1.2 (clipped), -1.5 (pessimistic side)
    assert loss.item() == pytest.approx(-(0.5 + 1.0 + 1.2 - 1.5) / 4)
    assert clip_fraction.item() == pytest.approx(0.75)
    loss.backward()
    # d/dlogp of -r A / 4 = -r A / 4 where unclipped; zero where the clipped branch is taken
    np.testing.assert_allclose(log_prob.grad.numpy(), [-0.125, -0.25, 0.0, 0.375], rtol=1e-6)


def test_value_loss_plain_and_clipped():
    values, old, returns = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0]), torch.tensor([2.0, 2.0])
    assert value_loss(values, old, returns).item() == pytest.approx((1 + 1) / 2)
    # clipped to old +- 0.5: predictions 0.5 and 0.5 -> errors 1.5 and 1.5
    assert value_loss(values, old, returns, clip_range_vf=0.5).item() == pytest.approx(1.5**2)


def test_running_mean_std_matches_numpy_and_sb3():
    from stable_baselines3.common.running_mean_std import RunningMeanStd as SB3RMS

    rng = np.random.default_rng(0)
    batches = [rng.normal(3, 2, size=(n, 4)) for n in (5, 17, 1, 40)]
    ours, theirs = RunningMeanStd((4,)), SB3RMS(shape=(4,))
    for b in batches:
        ours.update(b)
        theirs.update(b)
    data = np.concatenate(batches)
    np.testing.assert_allclose(ours.mean, data.mean(0), rtol=1e-4)
    np.testing.assert_allclose(ours.var, data.var(0), rtol=1e-4)
    np.testing.assert_allclose(ours.mean, theirs.mean)
    np.testing.assert_allclose(ours.var, theirs.var)


def test_reward_scaler_divides_by_the_std_of_the_discounted_return():
    scaler = RewardScaler(n_envs=1, gamma=0.5)
    returns = []
    discounted = 0.0
    for r in [1.0, 1.0, 1.0]:
        discounted = discounted * 0.5 + r
        returns.append(discounted)
        out = scaler(np.array([r]), np.array([False]))
    expected = 1.0 / np.sqrt(np.var(returns, ddof=0) * 3 / (3 + 1e-4) + 1e-8)  # the tiny prior count
    assert out[0] == pytest.approx(expected, rel=1e-3)
    scaler(np.array([1.0]), np.array([True]))
    assert scaler.discounted_return[0] == 0.0  # an episode end restarts the discounted return


def test_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="batch_size"):
        PPOConfig(env_id="Pendulum-v1", n_envs=2, n_steps=16, batch_size=64)
    with pytest.raises(ValueError, match="activation 'gelu' is not one of tanh, relu"):
        PPOConfig(activation="gelu")
    with pytest.raises(ValueError, match="gamma"):
        PPOConfig(gamma=1.5)
    with pytest.raises(ValueError, match="not a skill .* and not a registered Gymnasium id"):
        PPO(PPOConfig(env_id="NoSuchEnv-v0"))
    with pytest.raises(ValueError, match="Discrete actions; the course's learners need Box"):
        PPO(PPOConfig(env_id="CartPole-v1"))
    with pytest.raises(ValueError, match="not supported here"):
        PPOConfig.from_sb3({"use_sde": True})


def test_config_from_the_project_cheetah_configuration_and_back_to_sb3():
    from helpers.experts.configs import CHEETAH_PPO, CHEETAH_PPO_NET
    from helpers.experts.ppo_sb3 import sb3_arguments

    cfg = PPOConfig.from_sb3(CHEETAH_PPO, CHEETAH_PPO_NET, env_id="run_forward", n_envs=8)
    assert (cfg.hidden_sizes, cfg.activation, cfg.ortho_init, cfg.log_std_init) == ((256, 256), "relu", False, -2.0)
    assert cfg.rollout_size == 8 * 512 and cfg.learning_rate == 1e-4 and cfg.adam_eps == 1e-5
    args = sb3_arguments(cfg)
    assert {k: args[k] for k in CHEETAH_PPO} == CHEETAH_PPO
    assert args["policy_kwargs"]["net_arch"] == CHEETAH_PPO_NET["net_arch"]
    assert args["policy_kwargs"]["activation_fn"] is torch.nn.ReLU


def test_actor_critic_shapes_and_initial_std():
    cfg = PPOConfig(hidden_sizes=(32, 32), log_std_init=-1.0)
    net = ActorCritic(5, 3, cfg)
    obs, actions = torch.randn(7, 5), torch.randn(7, 3)
    log_prob, entropy, value = net.evaluate_actions(obs, actions)
    assert log_prob.shape == entropy.shape == value.shape == (7,)
    np.testing.assert_allclose(net.distribution(obs).stddev.detach().numpy(), np.exp(-1.0), rtol=1e-6)


def test_rollout_shapes_and_bootstrap_from_the_final_observation():
    # Pendulum-v1 never terminates and is truncated at 200 steps: step 199 must bootstrap from the
    # value of its final observation, not from the next (reset) state's value.
    cfg = PPOConfig(env_id="Pendulum-v1", n_envs=2, n_steps=256, batch_size=128, hidden_sizes=(16, 16))
    ppo = PPO(cfg)
    envs = EnvPool(cfg.env_id, cfg.n_envs, cfg.seed)
    obs = ppo.obs_normalizer(envs.reset())
    buf, _ = ppo.collect_rollout(envs, obs)
    assert buf["obs"].shape == (256, 2, 3) and buf["actions"].shape == (256, 2, 1)
    for key in ("rewards", "values", "next_values", "log_probs"):
        assert buf[key].shape == (256, 2) and np.isfinite(buf[key]).all(), key
    assert buf["truncated"][199].all() and buf["truncated"].sum() == 2 and not buf["terminated"].any()
    np.testing.assert_array_equal(buf["next_values"][:199], buf["values"][1:200])
    assert not np.allclose(buf["next_values"][199], buf["values"][200])
    stats = ppo.update(buf)
    assert all(np.isfinite(v) for v in stats.values()), stats
    assert len(envs.finished) == 2 and envs.finished[0][1] == 200
    envs.close()


def test_same_seed_same_result_and_save_load_roundtrip(tmp_path):
    cfg = PPOConfig(**PENDULUM, total_steps=2048)
    a, b = PPO(cfg).train(progress=False), PPO(cfg).train(progress=False)
    for (k, va), vb in zip(a.agent.state_dict().items(), b.agent.state_dict().values()):
        assert torch.equal(va, vb), k
    assert [r["policy_loss"] for r in a.log] == [r["policy_loss"] for r in b.log]
    c = PPO(PPOConfig(**{**PENDULUM, "seed": 1}, total_steps=2048)).train(progress=False)
    assert not torch.equal(a.agent.log_std, c.agent.log_std) or a.log[-1]["policy_loss"] != c.log[-1]["policy_loss"]

    path = a.save(tmp_path / "ppo.safetensors")
    loaded = PPO.load(path)
    obs = np.random.default_rng(0).normal(size=(5, 4))
    np.testing.assert_array_equal(a.policy()(obs), loaded.policy()(obs))
    assert loaded.config == a.config and loaded.env_steps == a.env_steps


def test_short_training_run_beats_random_by_a_wide_margin():
    from helpers.envs.rollouts import RandomPolicy

    ppo = PPO(PPOConfig(**PENDULUM, total_steps=16_384, seed=0)).train(progress=False)
    learned = ppo.evaluate(episodes=3, seed=100)["mean_return"]
    random_policy = RandomPolicy(ppo.action_space, seed=0)
    random_return = evaluate_policy(random_policy, PENDULUM["env_id"], episodes=10, seed=100)["mean_return"]
    assert random_return < 20
    assert learned > 100 and learned > 10 * random_return, (learned, random_return)
    assert [r["env_steps"] for r in ppo.log] == [1024 * (i + 1) for i in range(16)]
    assert np.isfinite([r["episode_return"] for r in ppo.log[2:]]).all()


# ---- cross-checks against stable-baselines3 on identical inputs --------------------------------------

def test_env_stream_and_normalisation_match_sb3_vecnormalize():
    """Same seeds and actions: identical normalised observations and scaled rewards, across a time-limit reset."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from helpers.envs.factory import make_env
    from helpers.experts.normalization import ObservationNormalizer

    n, gamma = 2, 0.9
    venv = DummyVecEnv([lambda: make_env("Pendulum-v1") for _ in range(n)])
    venv.seed(3)
    theirs = VecNormalize(venv, gamma=gamma, clip_obs=10.0, clip_reward=10.0, epsilon=1e-8)
    pool = EnvPool("Pendulum-v1", n, seed=3)
    obs_norm, reward_scaler = ObservationNormalizer((3,)), RewardScaler(n, gamma)
    raw = pool.reset()
    obs_norm.update(raw)
    np.testing.assert_allclose(obs_norm(raw), theirs.reset(), rtol=1e-5, atol=1e-6)
    actions = np.random.default_rng(0).uniform(-2, 2, size=(230, n, 1)).astype(np.float32)
    for a in actions:
        raw, rewards, terminated, truncated, final_obs = pool.step(a)
        obs_norm.update(raw)
        their_obs, their_rewards, their_dones, infos = theirs.step(a)
        np.testing.assert_allclose(obs_norm(raw), their_obs, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(reward_scaler(rewards, terminated | truncated), their_rewards, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(terminated | truncated, their_dones)
        for i in np.flatnonzero(their_dones):
            np.testing.assert_allclose(obs_norm(final_obs[i]), infos[i]["terminal_observation"], rtol=1e-5, atol=1e-6)


def test_gae_matches_sb3_rollout_buffer_with_timeout_bootstrap():
    """SB3 folds the time-limit bootstrap into the reward (r + gamma V(final obs)) and treats every end as
    terminal; our compute_gae keeps terminated and truncated apart. The advantages must be the same."""
    import gymnasium as gym
    from stable_baselines3.common.buffers import RolloutBuffer

    T, N, gamma, lam = 12, 3, 0.9, 0.8
    rng = np.random.default_rng(1)
    rewards = rng.normal(size=(T, N)).astype(np.float32)
    values = rng.normal(size=(T, N)).astype(np.float32)
    last_values = rng.normal(size=N).astype(np.float32)
    final_values = rng.normal(size=(T, N)).astype(np.float32)
    terminated = rng.random((T, N)) < 0.15
    truncated = (rng.random((T, N)) < 0.15) & ~terminated
    dones = terminated | truncated

    following = np.concatenate([values[1:], last_values[None]])
    next_values = np.where(truncated, final_values, following)
    ours, _ = compute_gae(rewards, values, next_values, terminated, truncated, gamma, lam)

    buffer = RolloutBuffer(T, gym.spaces.Box(-1, 1, (1,)), gym.spaces.Box(-1, 1, (1,)), gamma=gamma,
                           gae_lambda=lam, n_envs=N)
    episode_starts = np.concatenate([np.ones((1, N)), dones[:-1]]).astype(np.float32)
    for t in range(T):
        r = rewards[t] + gamma * final_values[t] * truncated[t]
        buffer.add(np.zeros((N, 1)), np.zeros((N, 1)), r, episode_starts[t], torch.as_tensor(values[t]),
                   torch.zeros(N))
    buffer.compute_returns_and_advantage(torch.as_tensor(last_values), dones[-1])
    np.testing.assert_allclose(ours, buffer.advantages, rtol=1e-5, atol=1e-5)


def test_actor_critic_matches_sb3_policy_at_the_same_weights():
    from helpers.experts.configs import CHEETAH_PPO, CHEETAH_PPO_NET
    from helpers.experts.ppo_sb3 import SB3Run

    cfg = PPOConfig.from_sb3(CHEETAH_PPO, CHEETAH_PPO_NET, env_id="Pendulum-v1", n_envs=2, n_steps=256)
    sb3_policy = SB3Run(cfg).model.policy
    ours = PPO(cfg).agent
    sd = sb3_policy.state_dict()
    mapping = {"actor_mean.0": "mlp_extractor.policy_net.0", "actor_mean.2": "mlp_extractor.policy_net.2",
               "actor_mean.4": "action_net", "critic.0": "mlp_extractor.value_net.0",
               "critic.2": "mlp_extractor.value_net.2", "critic.4": "value_net"}
    ours.load_state_dict({"log_std": sd["log_std"], **{f"{o}.{p}": sd[f"{s}.{p}"] for o, s in mapping.items()
                                                       for p in ("weight", "bias")}})
    obs, actions = torch.randn(16, 3), torch.randn(16, 1)
    their_values, their_log_prob, their_entropy = sb3_policy.evaluate_actions(obs, actions)
    log_prob, entropy, values = ours.evaluate_actions(obs, actions)
    torch.testing.assert_close(log_prob, their_log_prob)
    torch.testing.assert_close(entropy, their_entropy)
    torch.testing.assert_close(values, their_values.flatten())
