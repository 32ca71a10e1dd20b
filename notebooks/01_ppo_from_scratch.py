# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · PPO from scratch, checked against stable-baselines3
#
# Every expert in this course is trained with an off-the-shelf library. Before trusting one, we
# write the algorithm ourselves: Proximal Policy Optimization (PPO) for continuous actions, in one
# readable file, [`helpers/experts/ppo.py`](../helpers/experts/ppo.py). This notebook walks through its
# pieces one at a time, trains it on a small task, and then races it against stable-baselines3
# (SB3) on HalfCheetah: same hyperparameters, same seeds, same budget. If our version is right, the
# two should land within noise of each other.

# %% [markdown]
# **Learning goals.** After this notebook you can:
#
# * compute GAE advantages, treating a terminated episode differently from a truncated one;
# * explain what the clipped objective does for a positive and for a negative advantage;
# * name the three normalisations PPO needs (observations, rewards, advantages) and what each fixes;
# * compare an implementation with a library fairly: same hyperparameters, seeds and budget, several seeds.

# %% tags=["parameters"]
PROFILE = "cpu"  # smoke | cpu | gpu

# %% tags=["hide"]
from helpers.course.notebook import setup, show_code

lesson = setup("01_ppo_from_scratch", PROFILE)
budget, out_dir, results = lesson.budget, lesson.out_dir, lesson.results

import os
from dataclasses import asdict, replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from helpers import REPO_ROOT
from helpers.envs.rollouts import RandomPolicy, evaluate_policy
from helpers.experts import ppo
from helpers.experts.configs import CHEETAH_PPO, CHEETAH_PPO_NET
from helpers.experts.ppo import PPO, PPOConfig
from helpers.experts.ppo_sb3 import run_jobs

# %% [markdown]
# ## The loop
#
# PPO repeats three steps until the step budget is spent:
#
# 1. **Rollout.** Run the current stochastic policy for `n_steps` steps in each of `n_envs`
#    environments and record observations, actions, their log-probabilities, rewards and the
#    critic's value estimates.
# 2. **Advantages.** For every step, estimate how much better the action was than the policy's
#    average behaviour in that state, with Generalised Advantage Estimation (GAE).
# 3. **Update.** Take several epochs of minibatch gradient steps on a clipped objective that
#    improves the policy but refuses to move it far from the one that collected the data.
#
# Then the data is thrown away: PPO is on-policy. Everything else is detail, but, as we will see,
# detail that decides whether HalfCheetah runs at all.

# %% [markdown]
# ## 1 · Rollouts: a Gaussian policy in several environments
#
# The policy is a Gaussian: an MLP outputs the mean action, and one learned log standard deviation
# per action dimension sets the exploration noise, the same in every state. The critic is a second
# MLP that outputs the value V(s). The two share no weights.

# %%
show_code(ppo.ActorCritic.distribution)

# %% [markdown]
# We step `n_envs` copies of the environment in a loop, with one batched policy call per step.
# Two details matter. The Gaussian is unbounded, so the environment receives the action clipped to
# its bounds while the buffer keeps the sampled one (its log-probability is the one the
# policy produced). And when an episode ends, the environment is reset at once, but we keep its
# last observation: if a time limit cut the episode, the value of that state is still needed.
# Here is one rollout with the HalfCheetah configuration we use later (8 envs × 512 steps):

# %%
cheetah_config = PPOConfig.from_sb3(CHEETAH_PPO, CHEETAH_PPO_NET, env_id="run_forward", n_envs=8,
                                    total_steps=budget["cheetah_steps"], seed=0)
demo = PPO(cheetah_config)
envs = ppo.EnvPool(cheetah_config.env_id, cheetah_config.n_envs, seed=0)
raw_obs = envs.reset()
demo.obs_normalizer.update(raw_obs)
buffer, _ = demo.collect_rollout(envs, demo.obs_normalizer(raw_obs))
envs.close()
display(pd.DataFrame({k: [str(v.shape), str(v.dtype)] for k, v in buffer.items()}, index=["shape", "dtype"]).T)

# %% [markdown]
# ## 2 · Advantages with GAE
#
# The one-step advantage estimate is the TD error
# $\delta_t = r_t + \gamma V(s_{t+1}) - V(s_t)$: low variance, but biased by the critic's errors.
# The Monte-Carlo return is the reverse. GAE blends them with a second discount $\lambda$:
#
# $$A_t = \delta_t + \gamma\lambda\,\delta_{t+1} + (\gamma\lambda)^2\,\delta_{t+2} + \dots$$
#
# computed backwards in one pass. Episode ends need care, and the two kinds differ. A
# **terminated** episode (the pendulum fell) has no future: its next value is zero. A
# **truncated** one (HalfCheetah's 1000-step time limit) would have gone on: it bootstraps from
# V(final observation). Both stop the recursion, so no advantage leaks across episodes.

# %%
show_code(ppo.compute_gae)

# %% [markdown]
# A worked example with $\gamma = \lambda = 0.5$, rewards of 1, and three steps in one environment that
# terminates at step 0 and is truncated at step 1 (the unit tests check these numbers by hand):

# %%
gae_example = dict(rewards=np.ones((3, 1), np.float32), values=np.ones((3, 1), np.float32),
                   next_values=np.array([[100.0], [4.0], [0.0]], np.float32),
                   terminated=np.array([[True], [False], [False]]), truncated=np.array([[False], [True], [False]]))
adv, ret = ppo.compute_gae(**gae_example, gamma=0.5, gae_lambda=0.5)
display(pd.DataFrame({"reward": gae_example["rewards"][:, 0], "V(s_t)": gae_example["values"][:, 0],
                      "V(s_t+1)": gae_example["next_values"][:, 0], "terminated": gae_example["terminated"][:, 0],
                      "truncated": gae_example["truncated"][:, 0], "advantage": adv[:, 0], "return": ret[:, 0]}))

# %% [markdown]
# Step 0 ignores its next value of 100 (terminated), step 1 earns $1 + 0.5 \cdot 4 - 1 = 2$ from the
# value of the state where the clock ran out. The returns $A_t + V(s_t)$ are the critic's targets.

# %% [markdown]
# ## 3 · The clipped objective
#
# With $r_t(\theta) = \pi_\theta(a_t|s_t) / \pi_{\text{old}}(a_t|s_t)$, the probability ratio between the
# policy being trained and the one that collected the data, PPO maximises
#
# $$L^{\text{CLIP}}(\theta) = \mathbb{E}_t\left[\min\big(r_t A_t,\ \text{clip}(r_t, 1-\epsilon, 1+\epsilon)\, A_t\big)\right].$$
#
# The min makes it pessimistic: once the ratio has moved past $1 \pm \epsilon$ in the direction the
# advantage rewards, the sample's gradient is zero, so many epochs over the same data cannot push
# the policy far. Moves in the direction that *hurts* are never clipped.

# %%
show_code(ppo.clipped_surrogate_loss)

# %% tags=["hide-input"]
ratio = np.linspace(0.5, 1.5, 201)
eps = 0.2
fig, axes = plt.subplots(1, 2, figsize=(8, 2.8), sharey=True)
for ax, a in zip(axes, (1.0, -1.0)):
    ax.plot(ratio, ratio * a, ":", color="gray", label="r·A (unclipped)")
    ax.plot(ratio, np.minimum(ratio * a, np.clip(ratio, 1 - eps, 1 + eps) * a), lw=2, label="min(r·A, clip(r)·A)")
    ax.axvline(1, color="k", lw=0.5)
    ax.set_title(f"advantage A = {a:+.0f}")
    ax.set_xlabel("probability ratio r")
axes[0].set_ylabel("objective (maximised)")
axes[0].legend(fontsize=8)
fig.suptitle(f"The clipped surrogate, ε = {eps}: flat where the policy has moved far enough")
fig.tight_layout()
lesson.figure(fig, "clipped_objective.png")
plt.show()

# %% [markdown]
# ## 4 · The value loss
#
# The critic regresses on the GAE returns with a plain squared error. SB3 can also clip the value
# update (`clip_range_vf`) as the original PPO code did; it is off by default and off here. The
# total loss adds a small entropy bonus, which keeps the noise from collapsing too early:
# `loss = policy_loss - ent_coef * entropy + vf_coef * value_loss`, followed by gradient-norm clipping
# (one oversized step can wreck a policy) and an Adam step with `eps = 1e-5`.

# %%
show_code(ppo.PPO.update, start="for _ in range(cfg.n_epochs)", end="self.optimizer.step()")

# %% [markdown]
# ## 5 · Normalisation: three scales to fix
#
# An MLP learns poorly when its inputs differ in scale by orders of magnitude, and a critic learns
# poorly when its targets are in the thousands. PPO implementations that work on MuJoCo fix three
# scales, and our implementation does exactly what SB3's `VecNormalize` wrapper and its PPO do:
#
# * **Observations**: subtract a running mean, divide by a running std, clip to ±10.
# * **Rewards**: divide (never shift) by the running std of the *discounted return*, so the
#   value targets are near unit scale whatever the reward's units.
# * **Advantages**: normalised to zero mean and unit std in every minibatch.
#
# The one rollout above already shows the first: HalfCheetah's raw observations span two orders of
# magnitude in spread (joint angles vs. joint velocities); after normalisation all are near 1.

# %%
raw_std = np.sqrt(demo.obs_normalizer.rms.var)
scales = pd.DataFrame({"raw std": raw_std, "normalised std": buffer["obs"].reshape(-1, raw_std.size).std(0)})
scales.index.name = "observation dim"
display(scales.T.round(2))
print(f"raw observation std from {raw_std.min():.2f} to {raw_std.max():.2f} ({raw_std.max() / raw_std.min():.0f}x); "
      f"std of the discounted return (what rewards are divided by): {np.sqrt(demo.reward_scaler.rms.var):.3f}")
results["normalisation"] = {"raw_obs_std_min": float(raw_std.min()), "raw_obs_std_max": float(raw_std.max())}

# %% [markdown]
# ## A small task first: balancing a pendulum
#
# `InvertedPendulum-v5` ends the episode when the pole falls, so the return counts the steps it
# stayed up (at most 1000). A random policy drops it within a handful of steps. Small networks and
# a higher learning rate suit it; everything else is the default.

# %%
small_config = PPOConfig(env_id="InvertedPendulum-v5", total_steps=budget["small_steps"], n_envs=4, n_steps=256,
                         batch_size=64, learning_rate=1e-3, seed=0)
small = PPO(small_config).train()
small_eval = small.evaluate(episodes=budget["eval_episodes"])
random_eval = evaluate_policy(RandomPolicy(small.action_space, seed=0), small_config.env_id,
                              episodes=budget["eval_episodes"], seed=10_000)
print(f"deterministic evaluation: {small_eval['mean_return']:.0f} (random policy: {random_eval['mean_return']:.1f}) "
      f"after {small.env_steps:,} steps in {small.wall_clock_s:.0f} s")
results["small_task"] = {"env_id": small_config.env_id, "env_steps": small.env_steps,
                         "final_return": small_eval["mean_return"], "random_return": random_eval["mean_return"],
                         "wall_clock_s": small.wall_clock_s}

# %% tags=["hide-input"]
small_log = pd.DataFrame(small.log)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(small_log["env_steps"], small_log["episode_return"], label="PPO (training episodes)")
ax.axhline(random_eval["mean_return"], color="gray", ls=":", label="random policy")
ax.set_xlabel("env steps")
ax.set_ylabel("episode return")
ax.set_title(small_config.env_id)
ax.legend(fontsize=8)
lesson.figure(fig, "inverted_pendulum_curve.png")
plt.show()

# %% [markdown]
# ## HalfCheetah: ours against stable-baselines3
#
# Now the real test. Both implementations get the project's cheetah configuration
# (`CHEETAH_PPO` and `CHEETAH_PPO_NET` in `helpers/experts/configs.py`: 8 environments, 512 steps each per
# rollout, minibatches of 512, 10 epochs, a 256×256 ReLU network, initial action std $e^{-2}$),
# the same seeds and the same number of environment steps. SB3 runs with `VecNormalize` for the
# observation and reward normalisation; `helpers/experts/ppo_sb3.py` translates our config into its
# arguments. Each run ends with a deterministic evaluation (the mean action) over several episodes.

# %%
shown = {k: str(v) for k, v in asdict(cheetah_config).items() if k not in ("env_id", "seed", "device")}
display(pd.Series(shown).to_frame("HalfCheetah configuration (both implementations)"))

# %% [markdown]
# Each seed's two runs are started side by side (one per core when `workers` is 2), so they share
# whatever else the machine is doing and their wall-clock times stay comparable.

# %%
seeds = budget["seeds"]
jobs = [(impl, replace(cheetah_config, seed=s)) for s in seeds for impl in ("ours", "sb3")]
runs = run_jobs(jobs, workers=budget["workers"], eval_episodes=budget["eval_episodes"], save_dir=out_dir)
runs = pd.DataFrame(runs)
display(runs[["implementation", "seed", "env_steps", "final_return", "wall_clock_s", "steps_per_s"]].round(1))

# %% [markdown]
# ## Learning curves
#
# The return of training episodes (with exploration noise) as training proceeds, per seed (thin) and
# averaged over seeds (thick): against environment steps, which compares the algorithms, and
# against wall-clock time, which compares the implementations.

# %% tags=["hide-input"]
colors = {"ours": "C0", "sb3": "C1"}
labels = {"ours": "ours (helpers/experts/ppo.py)", "sb3": "stable-baselines3"}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
for impl, group in runs.groupby("implementation"):
    logs = [pd.DataFrame(log) for log in group["log"]]
    for log in logs:
        axes[0].plot(log["env_steps"], log["episode_return"], color=colors[impl], alpha=0.3, lw=0.8)
        axes[1].plot(log["wall_clock_s"] / 60, log["episode_return"], color=colors[impl], alpha=0.5, lw=0.8)
    mean = pd.concat([log.set_index("env_steps")["episode_return"] for log in logs], axis=1).mean(axis=1)
    axes[0].plot(mean.index, mean.values, color=colors[impl], lw=2, label=labels[impl])
axes[0].set_xlabel("env steps")
axes[1].set_xlabel("wall clock (minutes, training only)")
axes[0].set_ylabel("training episode return")
axes[0].legend(fontsize=8)
fig.suptitle(f"HalfCheetah-v5 (run_forward), {len(seeds)} seed(s) each, same hyperparameters")
fig.tight_layout()
lesson.figure(fig, "cheetah_ours_vs_sb3.png")
plt.show()

# %% [markdown]
# ## Final returns
#
# Deterministic evaluation at the end of training, averaged over evaluation episodes, per seed; then
# the mean over seeds. Wall-clock time is training only (evaluation excluded).

# %% tags=["hide-input"]
summary = {}
for impl in ("ours", "sb3"):
    group = runs[runs["implementation"] == impl].sort_values("seed")
    summary[impl] = {
        "seeds": group["seed"].tolist(),
        "final_returns": group["final_return"].round(2).tolist(),
        "mean_final_return": float(group["final_return"].mean()),
        "std_final_return": float(group["final_return"].std(ddof=0)),
        "wall_clock_s": group["wall_clock_s"].round(1).tolist(),
        "mean_wall_clock_s": float(group["wall_clock_s"].mean()),
        "steps_per_s": float(group["steps_per_s"].mean()),
    }
table = pd.DataFrame({labels[k]: {"final return per seed": ", ".join(f"{r:.0f}" for r in v["final_returns"]),
                                  "mean final return": f"{v['mean_final_return']:.0f} ± {v['std_final_return']:.0f}",
                                  "wall clock per run (s)": f"{v['mean_wall_clock_s']:.0f}",
                                  "env steps per second": f"{v['steps_per_s']:.0f}"} for k, v in summary.items()})
display(table)
sb3_mean = summary["sb3"]["mean_final_return"]
ratio = summary["ours"]["mean_final_return"] / sb3_mean if sb3_mean > 0 else None
speed_ratio = summary["ours"]["steps_per_s"] / summary["sb3"]["steps_per_s"]
ratio_text = ("not defined here (SB3's mean return is not positive)" if ratio is None
              else f"**{ratio:.2f}×** SB3's")
display(Markdown(f"After {int(runs['env_steps'].iloc[0]):,} env steps per run, our mean final return is {ratio_text}, "
                 f"and our implementation runs at **{speed_ratio:.2f}×** SB3's env steps per second."))

# %% [markdown]
# The algorithms should also *behave* alike along the way, not only end alike. The health signals of
# the last update (averaged over seeds) say whether they do: how far each update moved the policy
# (approximate KL, share of clipped samples), how well the critic predicts the returns (explained
# variance), and how much exploration noise is left (action std).

# %%
diag_keys = ["approx_kl", "clip_fraction", "explained_variance", "value_loss", "entropy", "action_std"]
diagnostics = pd.DataFrame({labels[impl]: pd.DataFrame([log[-1] for log in group["log"]])[diag_keys].mean()
                            for impl, group in runs.groupby("implementation")})
display(diagnostics.round(4))

# %% [markdown]
# ## Saving and loading
#
# Our weights and observation statistics go into one safetensors file (no pickle, so loading a file
# cannot run code). Reloaded, the policy must reproduce the evaluation exactly.

# %%
first = runs[(runs["implementation"] == "ours")].sort_values("seed").iloc[0]
reloaded = PPO.load(first["saved_to"])
again = reloaded.evaluate(episodes=1)
print(f"{os.path.relpath(first['saved_to'], REPO_ROOT)}: first evaluation episode "
      f"{first['eval_returns'][0]:.3f} during the run, {again['returns'][0]:.3f} after reloading")
assert np.isclose(again["returns"][0], first["eval_returns"][0]), "a reloaded policy must act identically"

# %% [markdown]
# ## What to take away
#
# * PPO fits in one readable file, but its "details" (normalisation, the time-limit bootstrap,
#   per-minibatch advantage normalisation, initialisation, Adam's epsilon, gradient clipping) are part
#   of the algorithm: studies of PPO implementations found they account for much of its performance
#   (Engstrom et al., *Implementation Matters in Deep Policy Gradients*, 2020; Huang et al., *The 37
#   Implementation Details of PPO*, 2022).
# * Matching those details is what lets an implementation be compared with a library at equal
#   hyperparameters: the ratio of final returns, the curves and the diagnostics above are that check.
# * A few seeds are a small sample: HalfCheetah runs differ a lot from seed to seed (some learn to
#   run on their back), so compare means over several seeds, never single runs.
#
# Notebook 02 trains one such expert per skill.

# %% tags=["hide"]
results["cheetah"] = {"env_id": cheetah_config.env_id, "env_steps": int(runs["env_steps"].iloc[0]), "seeds": seeds,
                      "eval_episodes": budget["eval_episodes"], "config": asdict(cheetah_config) | {"seed": None}}
results["ours"], results["sb3"] = summary["ours"], summary["sb3"]
results["ratio_ours_to_sb3"] = ratio
results["speed_ratio_ours_to_sb3"] = speed_ratio
results["diagnostics_last_update"] = diagnostics.round(5).to_dict()
results["reload_check"] = {"return_during_run": float(first["eval_returns"][0]),
                           "return_after_load": again["returns"][0]}
lesson.save()

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# Each exercise is a function to finish (the `TODO`). `check(...)` runs it on a few small cases and
# says what is wrong, if anything; it never stops the notebook. `show_solution("...")` shows one
# answer (from [`helpers/course/solutions.py`](../helpers/course/solutions.py)): try first.
#
# **1 · GAE by hand.** Finish `gae(...)` for one environment (1-D arrays), following section 2:
# the TD error, then the backward recursion, both stopping at an episode's end. The check tries a
# single step, a short trajectory, a termination and a truncation, and names the rule you missed.

# %% tags=["exercise"]
import numpy as np

from helpers.course.exercises import check, show_solution


def gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Advantages A_t for one environment's trajectory; next_values[t] is V(s_t+1)."""
    advantages = np.zeros(len(rewards))
    for t in reversed(range(len(rewards))):
        delta = 0.0  # TODO: the TD error of step t (what if the episode terminated at t?)
        advantages[t] = delta  # TODO: plus γ·λ·A_t+1, unless the episode ended at step t
    return advantages


check("01.gae", gae)

# %% [markdown] tags=["exercise"]
# **2 · The clipped objective.** Finish `clipped_objective(ratio, advantage, clip_range)`: the
# per-sample objective PPO maximises (its loss is the negative mean). The check asks about six
# samples, one for each way the ratio and the advantage can meet the clip.

# %% tags=["exercise"]
def clipped_objective(ratio, advantage, clip_range):
    """PPO's per-sample objective to maximise, for arrays of probability ratios and advantages."""
    return ratio * advantage  # TODO: clip the ratio to [1 - clip_range, 1 + clip_range], keep the pessimistic term


check("01.clip", clipped_objective)
