"""helpers.dt, dt_data, train_dt, bc, policies: the Decision Transformer of notebook 05."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers.models.dt import (DecisionTransformer, DTConfig, DTRunner, action_loss, load_hf_weights, load_model, save_model)
from helpers.data.flat import FlatData, flat_dataset, open_flat, returns_to_go
from helpers.data.windows import WindowSampler

torch.set_num_threads(1)
TINY = dict(n_layer=2, n_head=2, n_embd=32, context_len=5, dropout=0.0, max_ep_len=100)


def _batch(B=3, K=5, state_dim=17, act_dim=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, K, state_dim, generator=g), torch.rand(B, K, act_dim, generator=g) * 2 - 1,
            torch.randn(B, K, 1, generator=g), torch.randint(0, 100 - K, (B, 1), generator=g) + torch.arange(K))


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------

def test_shapes_finiteness_and_tanh_range():
    model = DecisionTransformer(DTConfig(**TINY)).eval()
    out = model(*_batch())
    assert out.shape == (3, 5, 6) and torch.isfinite(out).all() and out.abs().max() <= 1
    # shorter windows than context_len work; longer ones are refused with a clear message
    assert model(*[x[:, :2] for x in _batch()]).shape == (3, 2, 6)
    with pytest.raises(ValueError, match="context_len"):
        model(*_batch(K=6))
    # a conditioning token and padded action dims (several bodies)
    cond_model = DecisionTransformer(DTConfig(**TINY, cond_dim=4)).eval()
    action_mask = torch.tensor([[1, 1, 1, 1, 0, 0]] * 3, dtype=torch.bool)
    assert cond_model(*_batch(), cond=torch.randn(3, 4), action_mask=action_mask).shape == (3, 5, 6)
    with pytest.raises(ValueError, match="cond"):
        cond_model(*_batch())


def test_bad_config_is_named():
    with pytest.raises(ValueError, match="divisible by n_head"):
        DTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="activation"):
        DTConfig(activation="swish")


def test_causal_masking_future_tokens_do_not_change_the_past():
    model = DecisionTransformer(DTConfig(**TINY, cond_dim=2)).eval()
    s, a, r, t = _batch()
    cond = torch.randn(3, 2)
    base = model(s, a, r, t, cond=cond)
    s2, a2, r2 = s.clone(), a.clone(), r.clone()
    s2[:, 3:] += 5.0
    r2[:, 3:] -= 5.0
    a2[:, 2:] = -a2[:, 2:]  # a_2 comes after s_2, so even the prediction at step 2 must not move
    changed = model(s2, a2, r2, t, cond=cond)
    assert torch.allclose(base[:, :3], changed[:, :3], atol=1e-6)
    assert not torch.allclose(base[:, 3:], changed[:, 3:], atol=1e-3)


def test_action_loss_ignores_padding_and_padded_action_dims():
    pred, target = torch.zeros(1, 3, 4), torch.ones(1, 3, 4)
    target[0, 2] = 100.0  # a padded step
    mask = torch.tensor([[True, True, False]])
    assert action_loss(pred, target, mask).item() == pytest.approx(1.0)
    target[0, :, 3] = 50.0  # a padded action dim
    assert action_loss(pred, target, mask, torch.tensor([[1, 1, 1, 0]], dtype=torch.bool)).item() == pytest.approx(1.0)


def test_parity_with_transformers_decision_transformer():
    from transformers import DecisionTransformerConfig, DecisionTransformerModel

    torch.manual_seed(0)
    hf = DecisionTransformerModel(DecisionTransformerConfig(
        state_dim=17, act_dim=6, hidden_size=64, n_layer=2, n_head=2, max_ep_len=100, resid_pdrop=0.0,
        embd_pdrop=0.0, attn_pdrop=0.0)).eval()
    ours = load_hf_weights(DecisionTransformer(DTConfig(n_layer=2, n_head=2, n_embd=64, max_ep_len=100)), hf).eval()
    s, a, r, t = _batch(B=4, K=20)
    with torch.no_grad():
        theirs = hf(states=s, actions=a, returns_to_go=r, timesteps=t, return_dict=True).action_preds
        assert torch.allclose(ours(s, a, r, t), theirs, atol=1e-5)
        # the library pads on the left with an attention mask; we feed the unpadded suffix
        mask = torch.ones(4, 20, dtype=torch.long)
        mask[:, :7] = 0
        theirs = hf(states=s, actions=a, returns_to_go=r, timesteps=t, attention_mask=mask, return_dict=True).action_preds
        assert torch.allclose(ours(s[:, 7:], a[:, 7:], r[:, 7:], t[:, 7:]), theirs[:, 7:], atol=1e-5)


@pytest.mark.parametrize("n_streams,cond_dim", [(5, 0), (2, 0), (1, 3)])
def test_runner_equals_the_full_model_on_its_window(n_streams, cond_dim):
    model = DecisionTransformer(DTConfig(**TINY, cond_dim=cond_dim)).eval()
    runner = DTRunner(model, n_streams=n_streams)
    cond = torch.randn(cond_dim) if cond_dim else None
    runner.reset(cond)
    T, K = 23, TINY["context_len"]
    g = torch.Generator().manual_seed(1)
    S, A, R = torch.randn(T, 17, generator=g), torch.rand(T, 6, generator=g) * 2 - 1, torch.randn(T, 1, generator=g)
    for t in range(T):
        action = runner.act(S[t], float(R[t]), A[t - 1] if t else None)
        c = min(runner.start)
        if n_streams == K:
            assert c == max(0, t - K + 1)  # the standard DT evaluation: always the last K steps
        assert t - c + 1 >= min(t + 1, K - -(-K // n_streams) + 1)  # at least K - ceil(K / m) + 1 steps
        with torch.no_grad():
            ref = model(S[None, c:t + 1], A[None, c:t + 1], R[None, c:t + 1], torch.arange(c, t + 1)[None],
                        cond=None if cond is None else cond[None])[0, -1]
        assert torch.allclose(action, ref, atol=1e-5), t


def test_spread_head_predicts_a_bounded_log_std_and_the_runner_reports_it():
    from helpers.models.dt import LOG_STD_MAX, LOG_STD_MIN, spread_loss

    model = DecisionTransformer(DTConfig(**TINY, predict_std=True)).eval()
    s, a, r, t = _batch()
    mean, log_std = model(s, a, r, t, return_log_std=True)
    assert torch.equal(mean, model(s, a, r, t)) and log_std.shape == mean.shape
    assert (log_std >= LOG_STD_MIN).all() and (log_std <= LOG_STD_MAX).all()
    runner = DTRunner(model, n_streams=TINY["context_len"])
    runner.reset()
    for k in range(3):
        runner.act(s[0, k], float(r[0, k]), a[0, k - 1] if k else None)
    with torch.no_grad():
        _, ref = model(s[:1, :3], a[:1, :3], r[:1, :3], torch.arange(3)[None], return_log_std=True)
    assert torch.allclose(runner.log_std, ref[0, 2], atol=1e-5)
    # the Gaussian NLL: 0.5 z^2 + log sigma, over real steps only; the mean gets no gradient from it
    m = torch.zeros(1, 2, 1, requires_grad=True)
    ls = torch.zeros(1, 2, 1, requires_grad=True)
    loss = spread_loss(m, ls, torch.tensor([[[2.0], [9.0]]]), torch.tensor([[True, False]]))
    assert loss.item() == pytest.approx(2.0)
    loss.backward()
    assert m.grad is None and ls.grad[0, 1, 0] == 0 and ls.grad[0, 0, 0] != 0
    with pytest.raises(ValueError, match="predict_std"):
        DecisionTransformer(DTConfig(**TINY))(s, a, r, t, return_log_std=True)


def test_save_and_load_round_trip(tmp_path):
    model = DecisionTransformer(DTConfig(**TINY)).eval()
    save_model(model, tmp_path, {"skill": "run_forward"})
    loaded, config = load_model(tmp_path)
    assert config["skill"] == "run_forward" and config["model"]["n_embd"] == 32
    batch = _batch()
    assert torch.equal(model(*batch), loaded(*batch))
    assert not list(tmp_path.glob("*.pt")), "weights are safetensors, never pickles"


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------

def _toy_flat(lengths=(7, 3, 12), obs_dim=2, act_dim=1) -> FlatData:
    """Episodes whose observation encodes (episode, step), so windows can be checked exactly."""
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    ep = np.repeat(np.arange(len(lengths)), lengths)
    step = np.arange(lengths.sum()) - np.repeat(starts, lengths)
    obs = np.stack([ep, step], axis=1).astype(np.float32)
    rewards = (ep * 100 + step).astype(np.float32)
    rtg = returns_to_go(rewards, starts, lengths).astype(np.float32)
    return FlatData(obs, np.ones((len(obs), act_dim), np.float32), rewards, rtg, step.astype(np.int32), starts,
                    lengths, rtg[starts].astype(np.float64), np.zeros(len(lengths), np.int16),
                    {"obs_mean": [0.0] * obs_dim, "obs_std": [1.0] * obs_dim})


def test_returns_to_go_hand_example():
    rtg = returns_to_go(np.array([1.0, 2.0, 3.0, 10.0, 20.0]), np.array([0, 3]), np.array([3, 2]))
    assert rtg.tolist() == [6.0, 5.0, 3.0, 30.0, 20.0]


def test_windows_stay_inside_one_episode_and_pad_on_the_right():
    data = _toy_flat()
    sampler = WindowSampler(data, context_len=5, return_scale=10.0)
    b = sampler.sample(4000, np.random.default_rng(0))
    ep, step, mask = b["states"][..., 0], b["states"][..., 1], b["mask"]
    real = mask.sum(1)
    # one episode per window, consecutive steps, timesteps = step within the episode
    for i in np.flatnonzero(real == 5)[:500]:
        assert (ep[i] == ep[i, 0]).all() and (np.diff(step[i]) == 1).all() and (b["timesteps"][i] == step[i]).all()
    # the short episode (3 steps < K) gives [s0 s1 s2 pad pad], with zeros and mask False in the padding
    short = ep[:, 0] == 1
    assert short.any() and (real[short] == 3).all() and (step[short][:, 0] == 0).all()
    assert not mask[short][:, 3:].any() and (b["states"][short][:, 3:] == 0).all()
    assert (b["actions"][short][:, 3:] == 0).all() and (b["returns_to_go"][short][:, 3:] == 0).all()
    assert (real[~short] == 5).all()
    # return-to-go is scaled and matches the hand computation for the window's first step
    i = np.flatnonzero(~short)[0]
    e, s0 = int(ep[i, 0]), int(step[i, 0])
    expected = sum(e * 100 + k for k in range(s0, int(data.episode_lengths[e])))
    assert b["returns_to_go"][i, 0, 0] == pytest.approx(expected / 10.0)
    # every window start is equally likely: the 12-step episode has 8 starts, the 7-step one 3
    counts = np.bincount(ep[:, 0].astype(int), minlength=3)
    assert counts[2] / counts[0] == pytest.approx(8 / 3, rel=0.15)


def test_episode_subset_for_filtered_bc():
    data = _toy_flat()
    top = data.top_episodes(0.34)
    assert top.tolist() == [int(np.argmax(data.episode_returns))]
    b = WindowSampler(data, 1, episodes=top).sample(100, np.random.default_rng(0))
    assert set(b["states"][:, 0, 0].astype(int).tolist()) == {int(top[0])}
    with pytest.raises(ValueError, match="fraction"):
        data.top_episodes(0.0)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    """Two tiny Minari datasets of run_forward, collected with the course's collector."""
    from helpers.data.collection import collect

    root = tmp_path_factory.mktemp("minari")
    for quality, steps in (("expert", 3000), ("random", 1000)):
        collect("run_forward", quality, steps, root, seed=0, workers=1, verbose=False)
    return root


IDS = ["course/run_forward/expert-v0", "course/run_forward/random-v0"]


def test_flat_arrays_match_minari_and_are_memory_mapped(tiny_root):
    from helpers.data.minari_io import load_dataset

    data = flat_dataset(tiny_root, IDS)
    assert isinstance(data.observations, np.memmap) and data.n_steps == 4000 and data.n_episodes == 4
    assert data.episode_source.tolist() == [0, 0, 0, 1]
    ep = load_dataset(tiny_root, IDS[1])[0]
    s = int(data.episode_starts[3])
    assert np.allclose(data.observations[s:s + 1000], ep.observations[:-1], atol=1e-5)
    assert np.allclose(data.actions[s:s + 1000], ep.actions) and data.episode_returns[3] == pytest.approx(ep.rewards.sum())
    assert data.returns_to_go[s] == pytest.approx(ep.rewards.sum(), rel=1e-5)
    # reopened from the cache, not rebuilt
    again = flat_dataset(tiny_root, IDS)
    assert again.path == data.path and open_flat(data.path).n_steps == 4000
    with pytest.raises(FileNotFoundError, match="collect"):
        flat_dataset(tiny_root, ["course/run_forward/medium-v0"])


# --------------------------------------------------------------------------------------------------
# Training: resume, DDP, learning
# --------------------------------------------------------------------------------------------------

def _cfg(root, **kw):
    from helpers.models.dt_training import TrainConfig

    base = dict(root=str(root), datasets=tuple(IDS), steps=6, batch_size=8, context_len=5, n_layer=1, n_head=1,
                n_embd=16, warmup=2, log_every=2, ckpt_every=3, eval_every=0)
    return TrainConfig(**{**base, **kw})


def test_checkpoint_resume_is_exact(tiny_root, tmp_path):
    from helpers.core.errors import ConfigMismatchError
    from helpers.models.dt_training import train

    straight = train(_cfg(tiny_root), tmp_path / "straight", progress=False)
    first = train(_cfg(tiny_root), tmp_path / "resumed", progress=False, stop_after=3)
    assert first["step"] == 3 and (tmp_path / "resumed" / "checkpoint.safetensors").exists()
    # a process killed after logging step 5 but before checkpointing it: the resumed run redoes step 5,
    # and the log keeps one row per step
    progress = tmp_path / "resumed" / "progress.csv"
    header, last = progress.read_text().splitlines()[0], progress.read_text().splitlines()[-1]
    with open(progress, "a") as f:
        f.write("5" + last[last.index(","):] + "\n")
    resumed = train(_cfg(tiny_root), tmp_path / "resumed", progress=False)
    assert resumed["step"] == 6
    steps = [int(line.split(",")[0]) for line in progress.read_text().splitlines()[1:]]
    assert steps == sorted(set(steps)) and steps[-1] == 6 and progress.read_text().startswith(header)
    assert resumed["rank_param_digests"] == straight["rank_param_digests"]
    # changing the model under a checkpoint is refused with the differing settings named
    with pytest.raises(ConfigMismatchError, match="n_embd"):
        train(_cfg(tiny_root, n_embd=32), tmp_path / "resumed", progress=False)
    model, config = load_model(tmp_path / "resumed" / "export")
    assert config["skill"] == "run_forward" and len(config["obs_mean"]) == 17 and config["target_return"] > 0


@pytest.mark.slow
def test_ddp_two_processes_gloo_agree_on_weights(tiny_root, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "helpers.train_dt", "--root", str(tiny_root), "--datasets", *IDS, "--steps", "4",
           "--batch-size", "8", "--context-len", "5", "--n-layer", "1", "--n-embd", "16", "--eval-every", "0",
           "--log-every", "2", "--ckpt-every", "2", "--threads", "1", "--no-progress", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = json.loads((out / "state.json").read_text())
    assert state["world_size"] == 2 and state["step"] == 4 and state["samples"] == 4 * 8 * 2
    digests = state["rank_param_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]
    single = json.loads(proc.stdout.strip().splitlines()[-1])
    assert single["world_size"] == 2


@pytest.mark.slow
def test_dt_learns_to_beat_random(tiny_root, tmp_path):
    from helpers.envs.rollouts import RandomPolicy, evaluate_policy
    from helpers.models.dt_policy import load_dt
    from helpers.envs.factory import make_env
    from helpers.models.dt_training import train

    # 3 expert episodes and one random: a few hundred steps learn to move forward (about +400 over random
    # here; the real mixture of notebook 05 has 1000 episodes and reaches the expert)
    cfg = _cfg(tiny_root, steps=400, batch_size=64, context_len=5, n_layer=2, n_embd=64, lr=2e-3, warmup=20,
               dropout=0.0, log_every=50, ckpt_every=400)
    train(cfg, tmp_path / "learn", progress=False)
    policy = load_dt(tmp_path / "learn" / "export", verify=False)
    dt_return = evaluate_policy(policy, "run_forward", episodes=2, seed=1000)["mean_return"]
    random_return = evaluate_policy(RandomPolicy(make_env("run_forward").action_space, 0), "run_forward",
                                    episodes=2, seed=1000)["mean_return"]
    assert dt_return > random_return + 250, (dt_return, random_return)


def test_behaviour_cloning_trains_and_round_trips(tiny_root, tmp_path):
    from helpers.models.bc import BCConfig, load_bc, save_bc, train_bc

    data = flat_dataset(tiny_root, IDS)
    cfg = BCConfig(hidden_sizes=(32,), steps=200, batch_size=64, top_fraction=0.5)
    policy, log = train_bc(data, cfg, progress=False)
    assert log[-1]["loss"] < log[0]["loss"]
    obs = np.asarray(data.observations[:3])
    save_bc(policy, cfg, tmp_path)
    assert np.allclose(load_bc(tmp_path)(obs), policy(obs))


# --------------------------------------------------------------------------------------------------
# Policies and the evaluate CLI
# --------------------------------------------------------------------------------------------------

def test_generalist_and_wrong_skill_are_clear_errors():
    from helpers.core.errors import InvalidArgumentError, NotAvailableError
    from helpers.evaluate import load_policy
    from helpers.models import dt_policy

    from helpers.models.generalist_policy import GENERALIST_DIR

    if (GENERALIST_DIR / "card.json").exists():  # one checkpoint for every skill: any skill loads
        assert callable(load_policy("generalist", "stand_up"))
    else:
        with pytest.raises(NotAvailableError, match="notebook 06"):
            load_policy("generalist", "run_forward")
    with pytest.raises(InvalidArgumentError, match="run_forward"):
        load_policy("generalist", "fly")
    if (dt_policy.DT_DIR / "config.json").exists():
        with pytest.raises(InvalidArgumentError, match="run_forward"):
            load_policy("dt", "jump")


def test_tampered_checkpoint_is_refused(tmp_path, monkeypatch):
    from helpers.core import checkpoints
    from helpers.models import dt_policy as policies

    model = DecisionTransformer(DTConfig(**TINY))
    d = tmp_path / "pretrained" / "dt"
    save_model(model, d, {"skill": "run_forward", "obs_mean": [0.0] * 17, "obs_std": [1.0] * 17,
                          "return_scale": 1000.0, "target_return": 100.0})
    (d / "card.json").write_text("{}")
    checkpoints.write_manifest(d, ["model.safetensors", "config.json", "card.json"])
    monkeypatch.setattr(checkpoints, "PRETRAINED_DIR", tmp_path / "pretrained")
    assert policies.load_dt(d).target_return == 100.0
    (d / "config.json").write_text((d / "config.json").read_text().replace("100.0", "200.0"))
    with pytest.raises(checkpoints.ChecksumError, match="config.json"):
        policies.load_dt(d)


def test_sampling_policy_is_seeded_and_feeds_back_the_action_it_took():
    from helpers.models.dt_policy import DTPolicy

    model = DecisionTransformer(DTConfig(**TINY, predict_std=True))
    args = (np.zeros(17), np.ones(17), 1000.0, 500.0)
    obs = np.linspace(-1, 1, 17)
    a1, a2 = DTPolicy(model, *args, seed=3)(obs), DTPolicy(model, *args, seed=3)(obs)
    assert np.array_equal(a1, a2) and np.abs(a1).max() <= 1.0
    policy = DTPolicy(model, *args, seed=4)
    a3 = policy(obs)
    assert not np.array_equal(a1, a3) and np.allclose(policy.prev_action.numpy(), a3)
    mean = DTPolicy(model, *args, sample=False)(obs)
    with torch.no_grad():
        ref = model(torch.tensor(obs, dtype=torch.float32).reshape(1, 1, 17), torch.zeros(1, 1, 6),
                    torch.full((1, 1, 1), 0.5), torch.zeros(1, 1, dtype=torch.long))[0, 0]
    assert np.allclose(mean, ref.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="predict_std"):
        DTPolicy(DecisionTransformer(DTConfig(**TINY)), *args, sample=True)


def test_policy_tracks_return_to_go():
    from helpers.models.dt_policy import DTPolicy

    policy = DTPolicy(DecisionTransformer(DTConfig(**TINY)), np.zeros(17), np.ones(17), 1000.0, 500.0)
    policy.reset({})
    action = policy(np.zeros(17))
    assert action.shape == (6,) and np.isfinite(action).all()
    policy.observe(np.zeros(17), 120.0, {})
    assert policy.return_to_go == pytest.approx(380.0)
    policy.reset({})
    assert policy.return_to_go == 500.0 and policy.runner.t == 0


@pytest.mark.slow
def test_evaluate_cli_with_the_committed_dt():
    from helpers.models.dt_policy import DT_DIR

    if not (DT_DIR / "card.json").exists():
        pytest.skip("pretrained/dt is not published yet")
    proc = subprocess.run([sys.executable, "-m", "helpers.evaluate", "--skill", "run_forward", "--policy", "dt",
                           "--episodes", "1", "--seed", "1000", "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    card = json.loads((DT_DIR / "card.json").read_text())
    # thread counts may differ from the card run, and HalfCheetah amplifies last-bit differences: a loose band
    assert res["policy"] == "dt" and res["mean_return"] == pytest.approx(card["evaluation"]["returns"][0], rel=0.1)
    proc = subprocess.run([sys.executable, "-m", "helpers.evaluate", "--skill", "jump", "--policy", "dt",
                           "--episodes", "1", "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "run_forward" in proc.stderr  # the DT knows one skill, and says which


def test_committed_card_is_consistent_with_its_files():
    """pretrained/dt: files match the manifest, the card's held-out evaluation meets the issue's bar."""
    from helpers.core.checkpoints import verify_file
    from helpers.models.dt_policy import DT_DIR, DT_FILES
    from helpers.models.dt_training import EVAL_SEED

    if not (DT_DIR / "card.json").exists():
        pytest.skip("pretrained/dt is not published yet")
    for name in DT_FILES:
        verify_file(DT_DIR / name)
    card = json.loads((DT_DIR / "card.json").read_text())
    model, config = load_model(DT_DIR)
    assert card["parameters"] == sum(p.numel() for p in model.parameters())
    assert card["model"] == config["model"] and card["training"]["steps"] == card["training"]["config"]["steps"]
    ev, low = card["evaluation"], card["evaluation_low_target"]
    assert ev["episodes"] >= 10 and len(ev["returns"]) == ev["episodes"] == len(set(ev["seeds"]))
    # held out: the evaluations during training used other seeds
    assert not set(ev["seeds"]) & set(range(EVAL_SEED, EVAL_SEED + card["training"]["config"]["eval_episodes"]))
    assert ev["mean_return"] == pytest.approx(np.mean(ev["returns"]))
    assert ev["mean_return"] >= 0.9 * card["expert_return"], ev["mean_return"]
    assert low["target_return"] == pytest.approx(0.4 * card["expert_return"])
    assert low["mean_return"] < 0.85 * ev["mean_return"], (low["mean_return"], ev["mean_return"])
    assert card["command"].startswith("python -m helpers.train_dt") and "--publish pretrained/dt" in card["command"]
