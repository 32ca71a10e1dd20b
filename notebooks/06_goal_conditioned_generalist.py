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
# # 06 · One Transformer for every skill: the goal-conditioned generalist
#
# Notebook 03 composed experts by switching between them and measured where that breaks: a
# running expert that takes over from a flip has never seen a flipping body, and often never runs.
# Here we replace the whole bank of experts by **one** policy, trained offline on the trajectories
# of notebook 04, that is told what to do: which skill, at what speed. It is the Decision
# Transformer of notebook 05 with its return token turned into a goal token, and with a state and
# action projection per body, so that the cheetah and the humanoid share one network.
#
# **Learning goals.** How a goal token turns a Decision Transformer into a multi-task policy; how
# several bodies share one Transformer; how to measure a generalist honestly (expert-normalised
# scores on held-out seeds, confidence intervals, speeds never trained on); and what transition data
# buys when the request changes mid-episode.

# %% tags=["parameters"]
PROFILE = "cpu"  # smoke | cpu | gpu

# %% tags=["hide"]
from helpers.course.notebook import setup, show_code

lesson = setup("06_goal_conditioned_generalist", PROFILE)
budget, results = lesson.budget, lesson.results

import json
import shutil

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from helpers import REPO_ROOT
from helpers.core.checkpoints import RUNS_DIR
from helpers.core.media import caption
from helpers.data.minari_io import DATASETS_DIR
from helpers.envs.simulator import rendering_works
from helpers.envs.skills import HELD_OUT_SPEEDS, SKILLS, PlanStep, model_of
from helpers.experts.switching import SCHEDULES, run_schedule
from helpers.models.agent import humanoid_trace
from helpers.models.generalist import Generalist
from helpers.models.generalist_eval import held_out_speeds, skill_scores, switching
from helpers.models.generalist_policy import GENERALIST_DIR, load_committed_generalist, load_generalist_policy
from helpers.models.generalist_training import GeneralistTrainConfig, train

root = DATASETS_DIR / PROFILE  # the Minari root notebook 04 wrote

# %% [markdown]
# ## From a return token to a goal token
#
# A Decision Transformer reads three tokens a step, $(\hat R_t, s_t, a_t)$, and is told how much
# reward to collect. The generalist reads $(g_t, s_t, a_t)$: the goal $g_t$ says *what* to do, and it
# is a token of every step, so a request that changes mid-episode is simply a different token from
# then on. The goal vector holds
#
# * the skill, one-hot (a linear layer on it is a learned skill embedding);
# * the target speed as Fourier features $(v/3, \sin \pi k v/3, \cos \pi k v/3)_{k=1..4}$, so that nearby
#   speeds get nearby codes and a speed never trained on lies between trained ones;
# * the quality of the behaviour to imitate (expert, medium, random): a Decision Transformer's return
#   conditioning in three levels that mean the same for every skill, where returns do not (a
#   sprint earns 5 a step, a stand-up 300);
# * optionally a sentence embedding of the instruction (notebook 08).
#
# Bodies differ: the cheetah observes 17 numbers and acts with 6, the humanoid 45 and 17, and
# HumanoidStandup's humanoid lies in a model file of its own whose joint angles mean other things.
# So each body has its own state embedding, action embedding and action head, plus a body
# embedding; the attention blocks, the time and goal embeddings are shared. The forward pass
# (`helpers/models/generalist.py`):

# %%
show_code(Generalist.forward, start="core, (B, K)")

# %% [markdown]
# Acting reuses the DT's key/value-cache runner unchanged: `Generalist.body_view(body)` folds a
# body's projections and embedding into an ordinary Decision Transformer that shares the blocks, and
# a unit test checks that the runner's actions equal the full model's to float precision.
#
# ## The data mixture
#
# Every skill's expert, medium and random datasets from notebook 04, plus the *transitions*: cheetah
# episodes following random plans of skills, collected with the switching experts and with the
# recovery experts (trained to take over from other skills' states), each step labelled in hindsight
# with whether its plan step reached its behaviour. Each window of a batch comes from one dataset,
# drawn by weight: every skill's expert data equally, medium and random data less, transitions more.
# Target-speed episodes near five speeds chosen before training are never drawn: those speeds are
# the test of what the model does with a speed it never saw.

# %%
print("held-out speeds (m/s):", ", ".join(f"{v:+g}" for v in HELD_OUT_SPEEDS))
available = sorted(str(p.relative_to(root).parent.parent) for p in root.glob("course/*/*/data/metadata.json"))
demo_datasets = [d for d in GeneralistTrainConfig().datasets if d in available]
if PROFILE == "smoke":  # the smoke profile of notebook 04 collects two skills, tiny
    demo_datasets = [d for d in available if d.split("/")[1] in ("run_forward", "target_speed", "transitions")]
if not demo_datasets:
    raise FileNotFoundError(f"no datasets under {root}: run notebook 04 in the {PROFILE} profile first")
display(pd.DataFrame({"dataset": demo_datasets}).set_index("dataset"))
results["demo_datasets"] = demo_datasets

# %% [markdown]
# ## Training
#
# The loop is the Decision Transformer's (`helpers.core.training.fit`): resumable, exact on resume,
# DDP-ready. The committed generalist was trained with `python -m helpers.train_generalist` (its card
# records the command, the mixture, the steps and the cost). Here a short run shows the loss falling.

# %%
demo_dir = RUNS_DIR / "notebook_demo" / f"generalist_{PROFILE}"
shutil.rmtree(demo_dir, ignore_errors=True)
demo_cfg = GeneralistTrainConfig(root=str(root), datasets=demo_datasets, **budget["demo"])
demo_state = train(demo_cfg, demo_dir, progress=False)
demo_curve = pd.read_csv(demo_dir / "progress.csv")
results["demo"] = {"steps": demo_state["step"], "first_loss": float(demo_curve["loss"].iloc[0]),
                   "last_loss": float(demo_curve["loss"].iloc[-1]),
                   "samples_per_s": float(demo_curve["samples_per_s"].median()), "mixture": demo_state["mixture"]}
if budget["train_full"]:
    full_dir = RUNS_DIR / "generalist" / f"{PROFILE}_full"
    full_cfg = GeneralistTrainConfig(root=str(root), **budget["full"])
    train(full_cfg, full_dir)
display(pd.Series(results["demo"]).drop("mixture").to_frame("demo run"))

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(demo_curve["step"], demo_curve["loss"])
ax.set_xlabel("step")
ax.set_ylabel("action MSE (per body's real dims)")
ax.set_title("the notebook's demo run")
lesson.figure(fig, "demo_loss.png")
plt.show()

# %% [markdown]
# ## One checkpoint, every skill
#
# The model we evaluate: the committed `pretrained/generalist` (the gpu profile evaluates the one it
# just trained; the smoke profile, with no committed model, its own tiny demo). For every skill, 20
# episodes on held-out seeds 1000+: its return on the scale from random actions (0) to the expert it
# learned from (1), both measured on the same seeds, with a bootstrap 95% interval, and whether it
# does what the skill's name says (the rules of notebook 02).

# %%
if budget["train_full"]:
    generalist, source = load_generalist_policy(full_dir / "export", verify=False), "trained in this notebook"
elif (GENERALIST_DIR / "card.json").exists():
    generalist, source = load_committed_generalist(), "pretrained/generalist"
else:
    generalist, source = load_generalist_policy(demo_dir / "export", verify=False), "the demo run"
skills = [s for s in SKILLS if model_of(s) in generalist.model.cfg.bodies]
scores = skill_scores(lambda s: generalist.for_skill(s), skills, budget["eval_episodes"])
table = pd.DataFrame({s: {"score": r["score"], "ci95_low": r["score_ci95"][0], "ci95_high": r["score_ci95"][1],
                          "return": r["mean_return"], "expert": r["expert_return"], "random": r["random_return"],
                          "does_what_it_says": r["does_what_it_says"]} for s, r in scores["skills"].items()}).T
print(f"{source}: IQM {scores['iqm']:.3f} (95% CI {scores['iqm_ci95'][0]:.3f}-{scores['iqm_ci95'][1]:.3f}), "
      f"lowest skill {scores['min_skill_score']:.3f}")
display(table)
results["source"] = source
results["scores"] = {k: scores[k] for k in ("episodes", "iqm", "iqm_ci95", "min_skill_score")}
results["per_skill"] = {s: {k: v for k, v in r.items() if k not in ("episode_scores", "rule")}
                        for s, r in scores["skills"].items()}

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(table.index, table["score"], yerr=[table["score"] - table["ci95_low"], table["ci95_high"] - table["score"]],
       capsize=3, color=["tab:blue" if SKILLS[s].body == "cheetah" else "tab:purple" for s in table.index])
ax.axhline(1.0, ls="--", c="gray", lw=1)
ax.axhline(0.85, ls=":", c="tab:red", lw=1)
ax.text(len(table) - 0.5, 0.86, "JAT's MuJoCo IQM", ha="right", fontsize=7, color="tab:red")
ax.set_ylabel("expert-normalised score")
ax.set_title(f"one generalist, {len(table)} skills ({budget['eval_episodes']} held-out episodes each)")
plt.setp(ax.get_xticklabels(), rotation=20)
lesson.figure(fig, "skill_scores.png")
plt.show()

# %% [markdown]
# ## Speeds it never trained on
#
# No training window asked for a speed within 0.15 m/s of these. The error is the mean of
# $|v - v^*|$ over the episode, the target_speed expert's beside it.

# %%
if "target_speed" in skills:
    speeds = held_out_speeds(generalist, episodes=budget["speed_episodes"])
    display(pd.DataFrame(speeds["speeds"]).set_index("target_speed").round(3))
    print(f"mean error at held-out speeds: {speeds['mean_error']:.3f} m/s (expert {speeds['expert_mean_error']:.3f})")
    results["held_out_speeds"] = speeds

# %% [markdown]
# ## The switches of notebook 03
#
# Every schedule of notebook 03 on the same seeds, scored by the same rules: the generalist is told
# the new skill at the switch and goes on from wherever the body is; the experts switch as before.

# %%
schedules = SCHEDULES if budget["schedules"] == "all" else {k: SCHEDULES[k] for k in budget["schedules"]}
switch = switching(generalist, budget["switch_seeds"], schedules=schedules)
switch_table = pd.DataFrame({(name, who): r for name, by in switch.items() for who, r in by.items()}).T
display(switch_table.round(3))
results["switching"] = switch
reached = {who: float(np.mean([by[who]["reached_rate"] for by in switch.values()])) for who in ("generalist", "experts")}
print("share of switches reaching the new behaviour:", {k: round(v, 3) for k, v in reached.items()})
results["switching_overall"] = reached

# %% tags=["hide-input"]
names = list(switch)
x = np.arange(len(names))
fig, ax = plt.subplots(figsize=(8, 3))
ax.bar(x - 0.2, [switch[n]["experts"]["reached_rate"] for n in names], 0.4, label="switching experts", color="tab:gray")
ax.bar(x + 0.2, [switch[n]["generalist"]["reached_rate"] for n in names], 0.4, label="generalist", color="tab:blue")
ax.set_xticks(x, names, rotation=20, fontsize=8)
ax.set_ylabel("switches reaching the new behaviour")
ax.legend(fontsize=8)
lesson.figure(fig, "switching.png")
plt.show()

# %% [markdown]
# ## One episode, many skills
#
# The cheetah following a plan, one continuous simulation, the step in force written on the frames.

# %%
if rendering_works() and "run_forward" in skills:
    third = budget["video_seconds"] / 3
    plan = [PlanStep("front_flip", None, third), PlanStep("run_forward", None, third), PlanStep("jump", None, third)]
    trace = run_schedule(generalist.controller(), plan, seed=7, render=True, render_size=tuple(budget["render_size"]))
    labels = [f"t={i * trace['dt']:4.1f}s  {plan[k].label}" for i, k in enumerate(trace["segment"])]
    path = lesson.video(caption(trace["frames"], labels), "generalist_plan.mp4", round(1 / trace["dt"]))
    display(lesson.show_video(path))
    results["video"] = str(path.relative_to(REPO_ROOT))

# %% [markdown]
# The same checkpoint on the other body, asked to walk, then to stand up (two MuJoCo models, so two
# episodes): the body embedding and the per-body projections are all that change.

# %%
if rendering_works() and {"walk", "stand_up"} <= set(skills):
    frames, labels = [], []
    for skill in ("walk", "stand_up"):
        step = PlanStep(skill, None, budget["video_seconds"] / 2)
        trace = humanoid_trace(generalist, step, seed=7, render=True, render_size=tuple(budget["render_size"]))
        frames += trace["frames"]
        labels += [f"t={i * trace['dt']:4.1f}s  {step.label}" for i in range(len(trace["frames"]))]
    path = lesson.video(caption(frames, labels), "generalist_humanoid.mp4", round(1 / trace["dt"]))
    display(lesson.show_video(path))
    results["humanoid_video"] = str(path.relative_to(REPO_ROOT))

# %% [markdown]
# ## What this shows, and what it does not
#
# The numbers above are the committed model's on held-out seeds; its card (`pretrained/generalist/card.json`)
# records how it was trained and what it cost. The model inherits its teachers: a skill whose expert
# does not do what its name says (stand_up sits up) cannot be learned better from that expert's data.

# %% tags=["hide"]
lesson.save()

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# Each exercise is a function to finish (the `TODO`). `check(...)` runs it on a few small cases and
# says what is wrong, if anything; it never stops the notebook. `show_solution("...")` shows one
# answer (from [`helpers/course/solutions.py`](../helpers/course/solutions.py)): try first.
#
# **1 · The action loss.** A batch mixes bodies: every action is padded to the widest body's 17
# numbers, and every window to the context length. Finish `action_loss(pred, target, act_dims, mask)`
# for predicted and target actions `(B, K, 17)`, each window's number of real action dimensions
# `act_dims` `(B,)` (6 for the cheetah, 17 for the humanoid) and the mask of real steps `(B, K)`: the
# loss the demo run above plotted, in which a cheetah step weighs as much as a humanoid step.

# %% tags=["exercise"]
import numpy as np

from helpers.course.exercises import check, show_solution


def action_loss(pred, target, act_dims, mask):
    """The generalist's training loss on one padded batch."""
    return float(np.mean((pred - target) ** 2))  # TODO: padded dimensions and padded steps are not data


check("06.action_loss", action_loss)

# %% [markdown] tags=["exercise"]
# **2 · Fourier features of the target speed.** Finish `speed_features(speed)`: the nine speed
# entries of the goal vector, $v/3$ and then $\sin(\pi k v/3), \cos(\pi k v/3)$ for $k = 1..4$, each
# sine beside its cosine; nine zeros for a skill without a target speed (`speed` is None).

# %% tags=["exercise"]
def speed_features(speed):
    """The target speed's entries in the goal vector."""
    x = speed / 3
    return np.array([x] + [0.0] * 8)  # TODO: a sine and a cosine for each k; and a skill without a speed?


check("06.speed_features", speed_features)
