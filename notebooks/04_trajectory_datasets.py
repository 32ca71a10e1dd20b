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
# # 04 · Millions of trajectories, in a standard format
#
# The second half of the course trains one Transformer *offline*: no simulator in the training
# loop, only recorded trajectories. This notebook records them: every skill, at three quality
# levels, a million steps or more each, into [Minari](https://minari.farama.org) datasets (the
# Farama Foundation's successor to D4RL). Three things matter as much as the data: speed (the
# simulator is the bottleneck), memory (a million steps must not mean a million steps in RAM) and
# safety (a collection killed halfway must finish on rerun, with no episode lost or duplicated).

# %% [markdown]
# **Learning goals.** After this notebook you can:
#
# * read a Minari episode: n actions and rewards, n + 1 observations, terminations against truncations;
# * make three quality levels (expert, medium, random) and place them with a normalised score;
# * collect fast (one policy call for many environments) with memory that stays flat as the steps grow;
# * make a collection safe to kill: rerun, it finishes without losing or duplicating an episode.

# %% tags=["parameters"]
PROFILE = "cpu"  # smoke | cpu | gpu

# %% tags=["hide"]
from helpers.course.notebook import setup

lesson = setup("04_trajectory_datasets", PROFILE)
budget, results = lesson.budget, lesson.results

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from tqdm.auto import tqdm

from helpers import REPO_ROOT
from helpers.data.behaviour import MEDIUM_NOISE, medium_noise_curve
from helpers.data.collection import Job, collect, staging_dir
from helpers.data.flat import QUALITY_LEVELS
from helpers.data.minari_io import DATASETS_DIR, load_dataset
from helpers.data.shards import completed
from helpers.envs.simulator import frame_skip, mj_steps_per_second
from helpers.envs.skills import SKILLS
from helpers.experts.policy import expert_dir

root = DATASETS_DIR / PROFILE  # the Minari root of this profile's datasets
have_expert = {name: (expert_dir(name) / "card.json").exists() for name in SKILLS}
skills = [s for s in SKILLS if have_expert[s]] if budget["skills"] == "all" else budget["skills"]
missing = [s for s in SKILLS if not have_expert[s]]
print(f"collecting {', '.join(skills)}" + (f"; no published expert yet for {', '.join(missing)}" if missing else ""))
results.update(skills=skills, skills_without_expert=missing)

# %% [markdown]
# ## Three quality levels
#
# Offline RL is only interesting when the data is mixed: a dataset of pure expert behaviour can be
# copied by behaviour cloning, and one of pure noise teaches nothing. Following D4RL we record each
# skill at three levels:
#
# * **expert**: the committed expert of notebook 02, deterministic;
# * **medium**: the expert plus Gaussian action noise, its scale chosen so the return lands about
#   halfway between random and expert (a *normalised score* near 0.5);
# * **random**: uniform random actions.
#
# Here is how the normalised score falls with the noise scale, and where each skill's medium sits.

# %%
curves = []
for name in tqdm(skills, desc="calibrating medium"):
    for row in medium_noise_curve(name, noises=tuple(budget["noise_grid"]), episodes=budget["calibration_episodes"]):
        curves.append({"skill": name, **row})
curves = pd.DataFrame(curves)
results["medium_calibration"] = curves.to_dict(orient="records")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, c in curves.groupby("skill"):
    line, = ax.plot(c["noise"], c["normalized_score"], "o-", label=name, ms=3)
    ax.axvline(MEDIUM_NOISE[name], color=line.get_color(), ls=":", lw=1)
ax.axhline(0.5, c="gray", lw=1)
ax.set_xlabel("action noise std (fraction of half the action range)")
ax.set_ylabel("normalised score")
ax.legend(fontsize=7)
lesson.figure(fig, "medium_calibration.png")
plt.show()

# %% [markdown]
# Running gaits are fragile: a little noise and the cheetah trips onto its back, which is why the
# runners' medium noise is small. The flip is robust to noise: it is already a tumble.

# %% [markdown]
# ## Collecting
#
# `python -m helpers.collect` does one (skill, quality) job. Inside, one worker process per core
# steps a batch of environments and calls the policy once per step for the whole batch; each
# worker writes finished episodes to its own shard files, atomically, and the parent merges the
# shards into a Minari dataset at the end. Only lists of episode ids cross process boundaries.

# %%
jobs = []
for name in skills:
    mix = budget["humanoid_mix"] if SKILLS[name].body == "humanoid" else budget["mix"]
    jobs += [(name, quality, steps) for quality, steps in mix.items()]
summaries = []
for name, quality, steps in tqdm(jobs, desc="datasets"):
    res = collect(name, quality, steps, root, seed=0, verbose=False)
    summaries.append({"skill": name, "quality": quality, **res})
runs = pd.DataFrame(summaries)
display(runs[["dataset_id", "total_steps", "total_episodes", "mean_return", "seconds", "already_complete"]])
fresh = runs[~runs["already_complete"]]
if len(fresh):
    rate = fresh["total_steps"].sum() / fresh["seconds"].sum()
    print(f"collected {fresh['total_steps'].sum():,} steps at {rate:,.0f} steps/s (end to end, merge included)")

# %% [markdown]
# ## Transitions: the request changes mid-episode
#
# Every dataset above starts from a reset and does one thing. The generalist of notebook 06 must
# also take over from wherever the previous skill left the body, so we collect episodes that follow
# random plans of 2-4 cheetah skills (2-8 s each) on one continuously simulated body, acted out by a
# switching controller: once with the published experts (as notebook 03 switches them, failures
# included) and once with the *recovery* experts where they exist (`pretrained/recovery/<skill>`,
# trained with half their episodes starting where other skills leave the body). Every step records
# the skill asked for, and a quality label set in hindsight: `expert` for a plan step that reached its
# skill's behaviour, `medium` or `random` for one that did not, which is how the generalist tells the
# failures apart (`helpers/data/transitions.py`). Target speeds near the speeds held out for notebook
# 06's test are never asked for.

# %%
transition_runs = []
for controller in ("experts", "recovery"):
    res = collect("transitions", controller, budget["transitions_steps"], root, seed=0, verbose=False)
    ds = load_dataset(root, res["dataset_id"])
    quality = np.concatenate([ep.infos["quality_id"][:-1] for ep in ds.iterate_episodes()])
    transition_runs.append({"dataset_id": res["dataset_id"], "steps": res["total_steps"],
                            "episodes": res["total_episodes"], "seconds": res["seconds"],
                            **{f"share_{q}": float(np.mean(quality == i)) for i, q in enumerate(QUALITY_LEVELS)}})
display(pd.DataFrame(transition_runs).set_index("dataset_id").round(3))
results["transitions"] = transition_runs

# %% [markdown]
# ## Killed halfway? Run it again
#
# We start a collection in a separate process, kill it (and its workers) as soon as two shards are
# on disk, and run the same command again. The rerun reads which episodes the shards already hold,
# runs only the missing ones and merges; Minari's own loader then confirms every episode id appears
# exactly once.

# %%
demo_root = root / "kill_demo"
demo_steps = budget["kill_demo_steps"]
cmd = [sys.executable, "-m", "helpers.collect", "--skill", "run_forward", "--quality", "random", "--steps",
       str(demo_steps), "--out", str(demo_root), "--envs-per-worker", "2", "--quiet"]
env = {**os.environ, "COURSE_SHARD_STEPS": "2000"}
shutil.rmtree(demo_root, ignore_errors=True)
proc = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        start_new_session=True)
stage = staging_dir(demo_root, Job("run_forward", "random", demo_steps, 0))
while proc.poll() is None and len(list(stage.glob("shard_*.npz"))) < 2:
    time.sleep(0.05)
os.killpg(proc.pid, signal.SIGKILL)
proc.wait()
done_before = len(completed(stage))
rerun = subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
dataset_id = json.loads(rerun.stdout.strip().splitlines()[-1])["dataset_id"]
ids = [ep.id for ep in load_dataset(demo_root, dataset_id).iterate_episodes()]
expected = demo_steps // 1000
print(f"killed with {done_before} of {expected} episodes on disk; after the rerun: {len(ids)} episodes, "
      f"ids 0..{max(ids)}, duplicates: {len(ids) - len(set(ids))}")
assert ids == list(range(expected))
results["kill_demo"] = {"episodes_before_rerun": done_before, "episodes_after": len(ids), "expected": expected}

# %% [markdown]
# ## Dataset cards

# %%
cards = []
for row in summaries:
    ds = load_dataset(root, row["dataset_id"])
    returns = np.array([ep.rewards.sum() for ep in ds.iterate_episodes()])
    size = sum(f.stat().st_size for f in (root / row["dataset_id"]).rglob("*") if f.is_file())
    cards.append({"dataset_id": row["dataset_id"], "skill": row["skill"], "quality": row["quality"],
                  "steps": ds.total_steps, "episodes": ds.total_episodes, "return_mean": returns.mean(),
                  "return_std": returns.std(), "return_min": returns.min(), "return_max": returns.max(),
                  "size_mb": size / 2**20, "bytes_per_step": size / ds.total_steps, "returns": returns})
cards_df = pd.DataFrame(cards).drop(columns="returns")
display(cards_df.set_index("dataset_id").round(1))
total_steps = int(cards_df["steps"].sum())
print(f"{total_steps:,} steps in {len(cards_df)} datasets, {cards_df['size_mb'].sum():,.0f} MB on disk")
results["datasets"] = cards_df.to_dict(orient="records")
results["total_steps"] = total_steps

# %% [markdown]
# ## Return distributions
#
# Per skill, the three levels should be three separate humps: that spread is what lets a
# return-conditioned model (notebook 05) learn what distinguishes good behaviour from bad.

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, len(skills), figsize=(3.2 * len(skills), 2.8))
for ax, name in zip(np.atleast_1d(axes), skills):
    for card in cards:
        if card["skill"] == name:
            ax.hist(card["returns"], bins=30, alpha=0.6, label=card["quality"])
    ax.set_title(name, fontsize=9)
    ax.set_xlabel("episode return")
np.atleast_1d(axes)[0].legend(fontsize=7)
fig.tight_layout()
lesson.figure(fig, "return_histograms.png")
plt.show()

# %% [markdown]
# ## State coverage
#
# What parts of the state space each level visits: forward speed against torso height, from a
# sample of steps. Experts stay on a narrow manifold; noise spreads around it; random actions
# barely leave the rest pose. An offline learner can only be trusted where the data is.

# %% tags=["hide-input"]
rng = np.random.default_rng(0)
fig, axes = plt.subplots(1, len(skills), figsize=(3.2 * len(skills), 2.8))
for ax, name in zip(np.atleast_1d(axes), skills):
    for card in cards:
        if card["skill"] != name:
            continue
        ds = load_dataset(root, card["dataset_id"])
        eps = ds.sample_episodes(min(5, ds.total_episodes))
        vx = np.concatenate([ep.infos["x_velocity"] for ep in eps])
        h = np.concatenate([ep.infos["torso_height"] for ep in eps])
        pick = rng.choice(len(vx), size=min(2000, len(vx)), replace=False)
        ax.scatter(vx[pick], h[pick], s=1, alpha=0.4, label=card["quality"])
    ax.set_title(name, fontsize=9)
    ax.set_xlabel("forward speed (m/s)")
np.atleast_1d(axes)[0].set_ylabel("torso height (m)")
np.atleast_1d(axes)[0].legend(fontsize=7, markerscale=5)
fig.tight_layout()
lesson.figure(fig, "state_coverage.png")
plt.show()

# %% [markdown]
# ## How fast, against what limit?
#
# Three numbers on one chart: a plain loop (one env, one policy call per step), the collector
# end to end (merge included), and the physics limit: raw `mj_step` per second divided by the frame
# skip, times the number of cores. `benchmarks/collection_throughput.py` measures the same, with
# memory at 100k and 1M steps.

# %%
from helpers.experts.policy import fast_actor, load_expert
from helpers.envs.factory import make_env

actor = fast_actor(load_expert("run_forward"))
plain_env = make_env("run_forward")
obs, _ = plain_env.reset(seed=0)
t0 = time.perf_counter()
for _ in range(budget["plain_steps"]):
    obs, *_ = plain_env.step(actor(obs))
plain_rate = budget["plain_steps"] / (time.perf_counter() - t0)
cores = os.cpu_count()
limit = mj_steps_per_second("cheetah", 2.0) / frame_skip("cheetah") * cores
# timed on a fresh collection every run (the datasets above may have been collected by an earlier run)
shutil.rmtree(root / "throughput", ignore_errors=True)
timed = collect("run_forward", "expert", budget["throughput_steps"], root / "throughput", verbose=False)
collector_rate = timed["total_steps"] / timed["seconds"]
results["throughput"] = {"plain_steps_per_s": plain_rate, "collector_steps_per_s": collector_rate,
                         "physics_limit_steps_per_s": limit, "ratio": collector_rate / plain_rate,
                         "share_of_physics_limit": collector_rate / limit}
print(json.dumps(results["throughput"], indent=1))

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(5.5, 2.6))
labels = ["plain loop (1 env)", f"collector ({cores} workers)", f"physics limit ({cores} cores)"]
ax.barh(labels, [plain_rate, collector_rate, limit], color=["tab:gray", "tab:blue", "tab:green"])
ax.set_xlabel("HalfCheetah env steps per second")
for i, v in enumerate([plain_rate, collector_rate, limit]):
    ax.text(v, i, f" {v:,.0f}", va="center", fontsize=8)
lesson.figure(fig, "throughput.png")
plt.show()

# %% [markdown]
# ## Scaling out with Ray
#
# The same command runs on a Ray cluster: `--ray auto` joins the cluster this machine belongs to,
# `--ray HOST:PORT` a remote one, and `--ray local` starts a throwaway local Ray. Each Ray task runs
# one worker's share of the episodes and writes its shards to `--out`, so on a real cluster `--out`
# must be a shared filesystem (NFS, a mounted bucket). To start a cluster by hand:
#
# ```bash
# # on the head node
# ray start --head --port 6379 --num-cpus 16
# # on every other node
# ray start --address HEAD_IP:6379 --num-cpus 16
# # then, anywhere on the cluster
# python -m helpers.collect --skill run_forward --quality expert --steps 10000000 --out /shared/datasets --ray auto
# # or as a job: ray job submit --address http://HEAD_IP:8265 --working-dir . -- python -m helpers.collect ...
# ```
#
# Notebook 09 measures how this scales; here we only check that it works on a local Ray.

# %%
if budget["ray_demo_steps"]:
    ray_res = collect("jump", "random", budget["ray_demo_steps"], root / "ray_demo", ray_address="local", verbose=False)
    import ray

    ray.shutdown()
    print(f"{ray_res['dataset_id']}: {ray_res['total_steps']:,} steps on Ray in {ray_res['seconds']:.1f} s")
    results["ray_demo"] = {k: ray_res[k] for k in ("dataset_id", "total_steps", "seconds", "workers")}

# %% tags=["hide"]
lesson.save()

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# Each exercise is a function to finish (the `TODO`). `check(...)` runs it on a few small cases and
# says what is wrong, if anything; it never stops the notebook. `show_solution("...")` shows one
# answer (from [`helpers/course/solutions.py`](../helpers/course/solutions.py)): try first.
#
# **1 · Counting steps.** `dataset.iterate_episodes()` yields Minari `EpisodeData` objects with
# `observations`, `actions`, `rewards`, `terminations` and `truncations`. Finish
# `total_steps(episodes)`; the check uses a few small episodes of known length.

# %% tags=["exercise"]
import numpy as np

from helpers.course.exercises import check, show_solution


def total_steps(episodes):
    """The number of environment steps in a list of Minari episodes."""
    return sum(len(ep.observations) for ep in episodes)  # TODO: is one observation one step?


check("04.total_steps", total_steps)

# %% [markdown] tags=["exercise"]
# **2 · The normalised score.** The quality levels above are placed on D4RL's scale: random actions
# score 0 and the expert 100 (the Decision Transformer paper's numbers are on it). Finish
# `normalised_score(ret, random_return, expert_return)`.

# %% tags=["exercise"]
def normalised_score(ret, random_return, expert_return):
    """A return on the scale random = 0, expert = 100."""
    return 100.0 * ret / expert_return  # TODO: random actions should score 0


check("04.normalised_score", normalised_score)
