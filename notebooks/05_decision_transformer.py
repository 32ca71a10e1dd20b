# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · A Decision Transformer, trained offline
#
# Notebook 04 recorded a million steps of the cheetah running forward: half by the expert, the rest
# by a noisy expert and by random actions. No simulator is needed from here on. We train a
# Transformer to *predict the actions in that data*, plain supervised learning, with one twist
# that makes it a controller: every step is labelled with the **return still to come**. At test
# time we choose that number. Ask for the expert's return and it runs like the expert; ask for half
# and it should run like the half-good data. That is the Decision Transformer (Chen et al., 2021),
# and the stepping stone to notebook 06, where the same model is told *which skill* to perform.

# %% [markdown]
# **Learning goals.** After this notebook you can:
#
# * label every step with its return-to-go and lay out a Decision Transformer's tokens (return, state, action);
# * explain causal attention: which tokens each position may see, and why never the future;
# * ask a trained DT for a return and read the sweep: where it obeys the request and where it does not;
# * compare a DT with behaviour cloning on the same data and say what return conditioning adds.

# %% tags=["parameters"]
PROFILE = "cpu"  # smoke | cpu | gpu

# %% tags=["hide"]
from helpers.course.notebook import setup, show_code

lesson = setup("05_decision_transformer", PROFILE)
budget, out_dir, results = lesson.budget, lesson.out_dir, lesson.results

import json
import resource
import shutil
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display

from helpers import REPO_ROOT
from helpers.data.collection import collect
from helpers.data.flat import flat_dataset
from helpers.data.minari_io import DATASETS_DIR
from helpers.data.windows import WindowSampler
from helpers.envs.factory import make_env
from helpers.envs.rollouts import RandomPolicy, evaluate_policy
from helpers.experts.policy import expert_dir, load_expert
from helpers.models.bc import BCConfig, train_bc
from helpers.models.dt import DecisionTransformer
from helpers.models.dt_policy import DT_DIR, load_dt
from helpers.models.dt_training import TrainConfig, train

root = DATASETS_DIR / PROFILE  # the Minari root notebook 04 wrote
EVAL_SEED = budget["eval_seed"]  # held out: no dataset episode uses seeds 1000 and up

# The run_forward mixture of notebook 04 (the same calls, so the same data): collected here if missing
dataset_ids = []
for quality, steps in budget["mix"].items():
    res = collect("run_forward", quality, steps, root, seed=0, verbose=False)
    dataset_ids.append(res["dataset_id"])
expert_card = json.loads((expert_dir("run_forward") / "card.json").read_text())
expert_return = expert_card["evaluation"]["mean_return"]
print("datasets:", ", ".join(dataset_ids), f"under {root.relative_to(REPO_ROOT)}")

# %% [markdown]
# ## The tokens
#
# A trajectory becomes a sequence of three tokens per step: the **return-to-go** $\hat R_t = \sum_{t' \ge t} r_{t'}$,
# the **state** $s_t$ and the **action** $a_t$. Each is embedded by its own linear layer; the
# episode timestep is embedded too and added to all three (time is absolute, so the model knows
# how much of the episode is left). A GPT-style causal Transformer reads K = 20 steps (60 tokens),
# and at each state token predicts the action that follows.
#
# | token | content | embedding | what the model does there |
# |---|---|---|---|
# | $\hat R_t$ | return still to come / 1000 | `Linear(1, 128)` + time + type | (conditioning) |
# | $s_t$ | 17 joint positions and velocities, normalised | `Linear(17, 128)` + time + type | **predicts $a_t$** |
# | $a_t$ | 6 torques in [-1, 1] | `Linear(6, 128)` + time + type | (context for step t+1) |
# | [goal] | optional, first in the window | `Linear(cond_dim, 128)` + type | notebook 06: skill, speed, language |
#
# The token-type embedding and the optional goal token are there for notebook 06, as is the padding
# of states and actions to the largest body with per-body masks; here they are idle. Causal
# attention means each token sees only itself and what came before:

# %% tags=["hide-input"]
K_demo = 3
labels = [f"{kind}{t + 1}" for t in range(K_demo) for kind in ("R", "s", "a")]
mask = np.tril(np.ones((3 * K_demo, 3 * K_demo)))
colors = {"R": "tab:orange", "s": "tab:blue", "a": "tab:green"}
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3.2), gridspec_kw={"width_ratios": [1.6, 1]})
for i, lab in enumerate(labels):
    ax0.add_patch(plt.Rectangle((i, 0), 0.9, 0.9, color=colors[lab[0]], alpha=0.8))
    ax0.text(i + 0.45, 0.45, lab, ha="center", va="center", color="white", fontsize=10)
    if lab[0] == "s":
        ax0.annotate(f"â{lab[1:]}", (i + 0.45, 0.95), (i + 0.45, 1.7), ha="center",
                     arrowprops=dict(arrowstyle="<-"), fontsize=10)
ax0.set_xlim(-0.2, 3 * K_demo)
ax0.set_ylim(-0.3, 2.2)
ax0.axis("off")
ax0.set_title("one window: the model predicts an action at every state token", fontsize=9)
ax1.imshow(mask, cmap="Greys", vmin=0, vmax=1.6)
ax1.set_xticks(range(3 * K_demo), labels, fontsize=7)
ax1.set_yticks(range(3 * K_demo), labels, fontsize=7)
ax1.set_xlabel("key (attended to)")
ax1.set_ylabel("query")
ax1.set_title("causal attention", fontsize=9)
fig.tight_layout()
lesson.figure(fig, "tokens.png")
plt.show()

# %% [markdown]
# The whole model is [`helpers/models/dt.py`](../helpers/models/dt.py): embeddings, three pre-LayerNorm blocks
# using `scaled_dot_product_attention(is_causal=True)`, and a tanh action head. Its forward pass:

# %%
show_code(DecisionTransformer.forward, start="K = states.shape[1]")

# %% [markdown]
# Only the state tokens' outputs are used, so the last block computes queries and its MLP for those
# rows alone. A unit test copies the weights of Hugging Face's `DecisionTransformerModel` into this
# model and checks that the actions agree to 1e-5, with and without padding.
#
# ## The data, flat and memory-mapped
#
# Minari keeps one HDF5 group per episode. A training batch wants 64 windows from 64 random
# episodes, so we read every episode once into flat `.npy` arrays (one row per step, plus episode
# start indices) and open them memory-mapped: the operating system loads only the pages a batch
# touches. Sampling is vectorised: pick episodes in proportion to their length, pick window starts,
# gather `(64, 20)` rows in one indexing operation.

# %%
data = flat_dataset(root, dataset_ids)
sampler = WindowSampler(data, context_len=20, return_scale=1000.0)
rng = np.random.default_rng(0)
batch = sampler.sample(64, rng)
display(pd.DataFrame({k: [str(v.shape), str(v.dtype)] for k, v in batch.items()}, index=["shape", "dtype"]).T)
t0 = time.perf_counter()
for _ in range(200):
    sampler.sample(64, rng)
sample_rate = 200 / (time.perf_counter() - t0)
print(f"{data.n_steps:,} steps in {data.n_episodes} episodes; states memory-mapped: "
      f"{isinstance(data.observations, np.memmap)}; {sample_rate:,.0f} batches of 64 x 20 sampled per second")
source = np.array([dataset_ids[i].split("/")[-1].removesuffix("-v0") for i in data.episode_source])
results["data"] = {"datasets": dataset_ids, "steps": data.n_steps, "episodes": data.n_episodes,
                   "return_max": data.meta["return_max"], "sampled_batches_per_s": sample_rate,
                   "return_mean_by_quality": {q: float(data.episode_returns[source == q].mean()) for q in budget["mix"]}}

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6, 2.6))
for q in budget["mix"]:
    ax.hist(data.episode_returns[source == q], bins=40, alpha=0.7, label=q)
ax.axvline(expert_return, color="k", ls=":", lw=1, label="expert card")
ax.set_xlabel("episode return")
ax.set_ylabel("episodes")
ax.legend(fontsize=8)
lesson.figure(fig, "data_returns.png")
plt.show()

# %% [markdown]
# Three families of episodes. The expert's sit in a narrow band at the top. The medium ones, the
# expert's policy plus noise, spread from nothing to most of the expert's return: the same noisy
# gait sometimes holds and sometimes breaks down. The random ones earn slightly less than nothing.
# The return labels are what tell these episodes apart, and the Decision Transformer will be told
# which kind to imitate.
#
# ## Training
#
# The loss is the mean squared error between predicted and recorded actions, on every state token
# of every window (plus a likelihood term for the small *spread* network we meet in the
# conditioning section; the curves below show the action error alone). `python -m helpers.train_dt`
# does it on one CPU, a GPU (bf16 autocast), or many processes with `torchrun` (DDP); it
# checkpoints atomically, resumes exactly (batch *i* is drawn from a generator seeded with *i*),
# logs to TensorBoard and `progress.csv`, and saves safetensors. Here, a short run of the loop, to
# see it learn and to time it on this machine:

# %%
demo_cfg = TrainConfig(root=str(root), datasets=tuple(dataset_ids), **budget["demo"])
demo_dir = REPO_ROOT / "runs" / "dt" / f"notebook_{PROFILE}"
shutil.rmtree(demo_dir, ignore_errors=True)
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
demo_state = train(demo_cfg, demo_dir, progress=True)
demo_log = pd.read_csv(demo_dir / "progress.csv")
cpu_samples_per_s = float(demo_log["samples_per_s"].iloc[len(demo_log) // 2:].median())
results["demo"] = {"steps": demo_state["step"], "train_seconds": demo_state["train_seconds"],
                   "first_loss": float(demo_log["loss"].iloc[0]), "last_loss": float(demo_log["loss"].iloc[-1]),
                   "samples_per_s": cpu_samples_per_s, "config": budget["demo"]}
print(f"{demo_state['step']} steps in {demo_state['train_seconds']:.0f} s: {cpu_samples_per_s:.0f} samples/s, "
      f"loss {results['demo']['first_loss']:.3f} -> {results['demo']['last_loss']:.3f}")

# %% [markdown]
# Training the real thing takes longer than a notebook should: the committed model in
# [`pretrained/dt/`](../pretrained/dt) was trained by the command in its card, which records the
# data, the steps, the wall-clock time and the machine. Along the way it was evaluated every
# thousand updates, 2 episodes at each of two targets (the best return in the data, and 40% of it),
# on seeds (5000, 5001) that none of the evaluations below use.

# %% tags=["hide-input"]
dt_card = json.loads((DT_DIR / "card.json").read_text())
print("command:", dt_card["command"])
print(f"{dt_card['training']['steps']:,} updates of {dt_card['training']['batch_size']} windows in "
      f"{dt_card['training']['train_seconds'] / 60:.0f} min on {dt_card['hardware']['cpu_count']} CPU cores "
      f"({'GPU: ' + dt_card['hardware']['gpu'] if dt_card['hardware'].get('gpu') else 'no GPU'}); "
      f"data: {dt_card['data']['n_steps']:,} steps in {dt_card['data']['n_episodes']} episodes")
curve = pd.read_csv(DT_DIR / "progress.csv")
evals = pd.read_csv(DT_DIR / "eval.csv")
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3))
ax0.plot(curve["step"], curve["loss"], label="pretrained/dt")
ax0.plot(demo_log["step"], demo_log["loss"], label=f"this notebook ({PROFILE})")
ax0.set_yscale("log")
ax0.set_xlabel("optimiser step")
ax0.set_ylabel("action MSE")
ax0.legend(fontsize=8)
ax1.plot(evals["step"], evals["mean_return"], "o-", label=f"asked for {evals['target_return'].iloc[0]:.0f}")
if "low_mean_return" in evals:
    ax1.plot(evals["step"], evals["low_mean_return"], "s-", label=f"asked for {evals['low_target_return'].iloc[0]:.0f}")
ax1.axhline(expert_return, color="k", ls=":", lw=1, label="expert")
ax1.set_xlabel("optimiser step")
ax1.set_ylabel("return achieved")
ax1.legend(fontsize=8)
fig.tight_layout()
lesson.figure(fig, "training_curves.png")
plt.show()
results["pretrained"] = {"steps": dt_card["training"]["steps"], "train_seconds": dt_card["training"]["train_seconds"],
                         "card_mean_return": dt_card["evaluation"]["mean_return"],
                         "card_fraction_of_expert": dt_card["evaluation"]["fraction_of_expert"],
                         "card_low_target_return": dt_card["evaluation_low_target"]["mean_return"],
                         "training_evals": evals.to_dict("records")}

# %% [markdown]
# Read the right panel from left to right. Asked for the best return in the data, the model runs
# nearly like the expert after the first thousand updates: cloning the expert is the easy part,
# since half the data is the expert's. What takes the rest of the run is learning to *behave worse*
# when asked to: asked for 40%, the early model mostly earns next to nothing, and later ones land
# near the target in some episodes and far below it in others. Two episodes a point make this curve
# noisy; the evaluations below use more, on other seeds.
#
# ## DT against behaviour cloning and the expert
#
# Two baselines on the same data. **Behaviour cloning** (BC) regresses actions on states with an MLP:
# it imitates the *average* of the mixture. **Filtered BC** first keeps the best 10% of episodes by
# return, then clones those: the Decision Transformer paper found it a strong baseline whenever good
# episodes are plentiful, as they are here. Every policy runs the same episodes: seeds 1000 and up,
# the seeds of the expert's card, which no dataset episode and no training-time evaluation used. The
# Decision Transformer samples its actions (see below) from a generator seeded once, so rerunning
# the cell gives the same numbers.

# %%
bc_policy, bc_log = train_bc(data, BCConfig(steps=budget["bc_steps"]))
fbc_policy, fbc_log = train_bc(data, BCConfig(steps=budget["bc_steps"], top_fraction=0.1))
if budget["train_full"]:  # gpu profile: train the full model here rather than load the committed one
    full_cfg = TrainConfig(root=str(root), datasets=tuple(dataset_ids), **budget["full"])
    train(full_cfg, REPO_ROOT / "runs" / "dt" / f"full_{PROFILE}", progress=True)
    dt_dir, verify = REPO_ROOT / "runs" / "dt" / f"full_{PROFILE}" / "export", False
else:
    dt_dir, verify = DT_DIR, True
dt_policy = load_dt(dt_dir, verify=verify)
n = budget["eval_episodes"]
policies = {"Decision Transformer": dt_policy, "DT, mean action": load_dt(dt_dir, verify=verify, sample=False),
            "BC": bc_policy, "filtered BC (top 10%)": fbc_policy,
            "expert (PPO)": load_expert("run_forward"),
            "random": RandomPolicy(make_env("run_forward").action_space, 0)}
table = {}
for name, policy in policies.items():
    r = evaluate_policy(policy, "run_forward", episodes=n, seed=EVAL_SEED)
    table[name] = {"mean_return": r["mean_return"], "std_return": r["std_return"],
                   "mean_forward_speed": r["metrics"]["mean_forward_speed"]}
table_df = pd.DataFrame(table).T
table_df["% of expert"] = 100 * table_df["mean_return"] / table_df.loc["expert (PPO)", "mean_return"]
display(table_df.round(1))
results["table"] = table
results["dt_fraction_of_expert"] = table["Decision Transformer"]["mean_return"] / table["expert (PPO)"]["mean_return"]
results["dt_target_return"] = dt_policy.target_return
results["eval_seeds"] = list(range(EVAL_SEED, EVAL_SEED + n))

# %% [markdown]
# On a mixture where half the steps are the expert's, filtered BC is a strong baseline: it is just
# BC on expert episodes. Plain BC averages in the noisy and random actions and pays for it: some of
# its episodes run well and some break down, hence the large spread. The Decision Transformer keeps
# all the data and comes close to the expert by being *asked* for an expert return. ("DT, mean action" is the
# same model acting with its predicted mean instead of sampling; more on that below.) What BC
# cannot do at all is the next experiment.
#
# For scale: the Decision Transformer paper reports 86.8 on D4RL's halfcheetah medium-expert (CORL's
# reimplementation 91.6), where 100 is D4RL's own expert. Our percentages are of *our* PPO expert,
# a slower runner, on our own data, so the numbers are not comparable; the ordering is (DT and
# filtered BC close to the expert, plain BC well below on expert-plus-medium data).
#
# ## Asking for a return
#
# We sweep the target return from nothing to more than the expert earns and measure what the
# model achieves. A perfectly conditioned model would follow the diagonal.

# %%
targets = [round(f * expert_return) for f in budget["sweep_fractions"]]
sweep, sweep_mean = [], []
for target in targets:
    for rows, sample in ((sweep, True), (sweep_mean, False)):
        policy = load_dt(dt_dir, target_return=target, verify=verify, sample=sample)
        r = evaluate_policy(policy, "run_forward", episodes=budget["sweep_episodes"], seed=EVAL_SEED)
        rows.append({"target_return": target, "mean_return": r["mean_return"], "std_return": r["std_return"],
                     "mean_forward_speed": r["metrics"]["mean_forward_speed"]})
sweep_df, sweep_mean_df = pd.DataFrame(sweep), pd.DataFrame(sweep_mean)
display(sweep_df.merge(sweep_mean_df, on="target_return", suffixes=("", " (mean action)")).round(1))
low = min(sweep, key=lambda row: abs(row["target_return"] - 0.4 * expert_return))
high = min(sweep, key=lambda row: abs(row["target_return"] - expert_return))
results["sweep"] = sweep
results["sweep_mean_action"] = sweep_mean
results["conditioning"] = {"low_target": low["target_return"], "low_return": low["mean_return"],
                           "high_target": high["target_return"], "high_return": high["mean_return"],
                           "low_over_high": low["mean_return"] / high["mean_return"]}
low_mean = min(sweep_mean, key=lambda row: abs(row["target_return"] - 0.4 * expert_return))
results["conditioning"]["low_return_mean_action"] = low_mean["mean_return"]
print(f"sampling: asking for {low['target_return']:.0f} gives {low['mean_return']:.0f}; asking for "
      f"{high['target_return']:.0f} gives {high['mean_return']:.0f}")
print(f"mean action: asking for {low_mean['target_return']:.0f} gives {low_mean['mean_return']:.0f}")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(5.5, 4))
lim = [min(0, sweep_df["target_return"].min()), 1.05 * max(sweep_df["target_return"].max(), expert_return)]
ax.plot(lim, lim, ":", color="gray", label="achieved = target")
ax.errorbar(sweep_df["target_return"], sweep_df["mean_return"], yerr=sweep_df["std_return"], fmt="o-", capsize=3,
            label="DT, sampling (the policy)")
ax.errorbar(sweep_mean_df["target_return"], sweep_mean_df["mean_return"], yerr=sweep_mean_df["std_return"],
            fmt="s--", capsize=3, alpha=0.7, label="DT, mean action")
for q, mean in results["data"]["return_mean_by_quality"].items():
    ax.axhline(mean, lw=0.8, ls="--", color={"expert": "tab:green", "medium": "tab:orange"}.get(q, "tab:red"),
               label=f"{q} data mean")
ax.set_xlabel("target return (asked)")
ax.set_ylabel("return achieved")
ax.legend(fontsize=7)
lesson.figure(fig, "return_conditioning.png")
plt.show()

# %% [markdown]
# Two curves, one model. The dashed one acts with the predicted *mean* action, as the paper's
# Decision Transformer does. It hears the target, but faintly: asked for a middling return it still
# runs nearly like the expert, and only low targets slow it down much. That is less a flaw of
# the model than a fact about the data. The medium episodes are the expert *plus zero-mean noise*,
# so in any state the mean of their actions is close to the expert's action. A model that predicts
# means, which is what a squared-error loss teaches, has little to predict that is "medium": the
# medium returns came from the noise (a stumble that breaks the gait), not from a different choice
# of action.
#
# So the model also learns the *spread* of the data's actions, as a function of the return asked
# for and the time ([`log_std`](../helpers/models/dt.py)): near zero on the expert's track, about the
# medium noise below it, wide near the random data. Acting by sampling from it, the solid curve,
# asking for less gives less, along the diagonal or a little below it. In the middle the achieved returns
# scatter, as the medium data's do: the same noisy gait sometimes holds and sometimes breaks down.
# The spread reads only the return and the time, not the state, on purpose: a spread that reads the
# state can feed back on itself (a stumble leads to states that look like noisy data, which calls
# for more noise, which leads further off the expert's path). Beyond the expert's return the curve
# saturates: nothing in the data runs faster, and a Decision Transformer does not extrapolate past
# its data.
#
# This is the trade the model card records: sampling costs a little at the top (compare
# "Decision Transformer" and "DT, mean action" in the table) and buys a policy that does what it is
# asked across the whole range.
#
# ## A rollout
#
# The committed model, asked for the best return in the data, for the first seconds of an episode
# (rendering in software is slow):

# %%
video_path = out_dir / "dt_rollout.mp4"
evaluate_policy(load_dt(dt_dir, verify=verify), "run_forward", episodes=1, seed=EVAL_SEED, video=video_path,
                render_size=tuple(budget["render_size"]), env_kwargs={"max_episode_steps": budget["video_steps"]})
display(lesson.show_video(video_path))
results["video"] = str(video_path.relative_to(REPO_ROOT))

# %% [markdown]
# ## What it costs
#
# Three costs matter: training (samples per second, and memory), acting (actions per second in a
# rollout), and the data pipeline (it must never be what training waits for). Training speed here is
# what the demo run above measured, one CPU thread; the committed model's card records its own run.
# Acting needs one forward pass per step, and a naive one re-runs the whole 60-token window for
# every action. The [`DTRunner`](../helpers/models/dt.py) instead keeps a key/value cache over a few
# staggered windows, so each action costs three new tokens.

# %%
model = dt_policy.model
params = sum(p.numel() for p in model.parameters())
policy = load_dt(dt_dir, verify=verify)
env = make_env("run_forward")
obs, info = env.reset(seed=0)
policy.reset(info)
spent, steps = 0.0, budget["speed_steps"]
for _ in range(steps):
    t0 = time.perf_counter()
    action = policy(obs)
    spent += time.perf_counter() - t0
    obs, reward, *_ = env.step(action)
    policy.observe(obs, reward, {})
actions_per_s = steps / spent
x = [torch.zeros(1, 20, 17), torch.zeros(1, 20, 6), torch.zeros(1, 20, 1), torch.arange(20)[None]]
with torch.inference_mode():
    t0 = time.perf_counter()
    for _ in range(100):
        model(*x)
full_window_per_s = 100 / (time.perf_counter() - t0)
cost = {"parameters": params, "train_state_mb": params * 4 * 4 / 2**20,  # weights, grads, Adam m and v (fp32)
        "cpu_train_samples_per_s": cpu_samples_per_s, "cpu_threads": torch.get_num_threads(),
        "cpu_batch_size": demo_cfg.batch_size, "cpu_seconds_per_1k_steps": 1000 * demo_cfg.batch_size / cpu_samples_per_s,
        "notebook_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_training_mb": rss_before, "actions_per_s": actions_per_s,
        "full_window_forwards_per_s": full_window_per_s,
        "committed_model": {"steps": dt_card["training"]["steps"], "train_seconds": dt_card["training"]["train_seconds"],
                            "hardware": dt_card["hardware"]}}
if torch.cuda.is_available():  # measured only where there is a GPU (the gpu profile)
    gpu_cfg = TrainConfig(root=str(root), datasets=tuple(dataset_ids), **{**budget["demo"], "steps": 200})
    torch.cuda.reset_peak_memory_stats()
    shutil.rmtree(REPO_ROOT / "runs" / "dt" / "gpu_cost", ignore_errors=True)
    gpu_state = train(gpu_cfg, REPO_ROOT / "runs" / "dt" / "gpu_cost", progress=False)
    gpu_log = pd.read_csv(REPO_ROOT / "runs" / "dt" / "gpu_cost" / "progress.csv")
    cost["gpu"] = {"name": torch.cuda.get_device_name(0), "train_samples_per_s": float(gpu_log["samples_per_s"].median()),
                   "max_memory_allocated_mb": torch.cuda.max_memory_allocated() / 2**20, "precision": "bf16 autocast"}
else:
    cost["gpu"] = None
display(pd.Series({k: v for k, v in cost.items() if not isinstance(v, dict)}).to_frame("value"))
results["cost"] = cost

# %% [markdown]
# The model is tiny: its weights, gradients and Adam state (`train_state_mb`) take a few megabytes,
# so on a CPU time, not memory, is the limit, and the memory that matters is the dataset, which the
# memory map keeps out of RAM. `benchmarks/dt_training_throughput.py` measures the rest in one run:
# our training step against Hugging Face's `DecisionTransformerModel` at the identical configuration
# (context 20, width 128, 3 layers, batch 64), the FLOP rate the step achieves, the cached policy's
# actions per second, and sampling speed and peak RSS when training on a 5M-step dataset. Its last
# committed result:

# %% tags=["hide-input"]
bench_path = REPO_ROOT / "results" / "benchmarks" / "dt_training_throughput.json"
if bench_path.exists():
    bench = json.loads(bench_path.read_text())
    keys = ["ours_samples_per_s", "theirs_samples_per_s", "ratio", "gflops_per_s", "peak_gflops_per_s",
            "share_of_peak", "actions_per_s", "actions_per_cpu_s", "actions_per_s_full_window_forward",
            "sampled_batches_per_s", "trained_batches_per_s", "sampling_ratio", "dataset_steps",
            "train_peak_rss_mb", "train_peak_rss_anon_mb"]
    display(pd.Series({k: bench[k] for k in keys if k in bench}).to_frame("benchmark").round(3))
    print("time in a training step:", bench.get("time_breakdown"), "| load average then:", bench.get("load_average"))
    results["benchmark"] = {k: bench[k] for k in keys if k in bench}
else:
    print(f"no {bench_path.relative_to(REPO_ROOT)}: run `python benchmarks/dt_training_throughput.py --json`")

# %% [markdown]
# CPU or GPU? At this size a training step is a few dozen small matrix products, and a CPU core runs
# them well below its large-matmul peak (the benchmark's `share_of_peak`); the rest is element-wise
# work, dropout's random numbers and per-op overhead. A GPU runs the same command under bf16
# autocast, and the `gpu` profile of this notebook measures its samples per second and
# `torch.cuda.max_memory_allocated()` in the cell above and trains the full model itself. We quote
# no GPU numbers that were not measured: in the profile that ran this notebook, the `gpu` entry of
# the cost table says whether a GPU was there. Acting, by contrast, stays on the CPU: one action is
# three tokens, too little work to be worth a trip to a GPU, and the simulator runs there anyway.
#
# ## What is next
#
# One model, one skill, one number to condition on. Notebook 06 feeds the same Transformer the data
# of every skill, with a goal token in front of each window (which skill, which speed, and later a
# sentence), so that switching skills is a change of prompt rather than a change of policy.

# %% tags=["hide"]
lesson.save()

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# Each exercise is a function to finish (the `TODO`). `check(...)` runs it on a few small cases and
# says what is wrong, if anything; it never stops the notebook. `show_solution("...")` shows one
# answer (from [`helpers/course/solutions.py`](../helpers/course/solutions.py)): try first.
#
# **1 · Returns-to-go.** Finish `returns_to_go(rewards)` for one episode: $R_t = r_t + r_{t+1} + \dots + r_T$,
# the number each step is labelled with in "The tokens" above.

# %% tags=["exercise"]
import numpy as np

from helpers.course.exercises import check, show_solution


def returns_to_go(rewards):
    """The return still to come at every step of one episode."""
    return np.cumsum(rewards)  # TODO: this is the return so far


check("05.returns_to_go", returns_to_go)

# %% [markdown] tags=["exercise"]
# **2 · The causal mask.** Finish `causal_mask(n)`: an `(n, n)` boolean array, True where the token
# at row i may attend to the token at column j. The check also feeds it to
# `scaled_dot_product_attention` and compares with `is_causal=True`, which the model uses.

# %% tags=["exercise"]
def causal_mask(n):
    """Which of n tokens each token may attend to."""
    return np.ones((n, n), dtype=bool)  # TODO: a token may see itself and the past, never the future


check("05.causal_mask", causal_mask)
