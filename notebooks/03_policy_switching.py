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
# # 03 · Switching between experts, and where it breaks
#
# We have one expert per skill. The obvious way to get a multi-skill agent is a controller that
# runs the expert of whatever skill is asked for, and switches experts when the request changes.
# Each expert was trained from its own start state, though, never from the middle of another
# expert's gait. This notebook measures what that costs, over many seeds, so that the unified
# Transformer of notebook 06 has honest numbers to beat.

# %% [markdown]
# **Learning goals.** After this notebook you can:
#
# * compose experts with a switching controller and measure every switch: time to the new behaviour,
#   reward lost, falls;
# * put rewards of very different sizes on one scale (random = 0, steady expert = 1);
# * explain why an expert trained from its own resets fails from another expert's states;
# * state the baseline numbers that notebook 06's generalist has to beat.

# %% tags=["parameters"]
PROFILE = "cpu"  # smoke | cpu | gpu

# %% tags=["hide"]
from helpers.course.notebook import setup

lesson = setup("03_policy_switching", PROFILE)
budget, results = lesson.budget, lesson.results

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from tqdm.auto import tqdm

from helpers.envs.simulator import rendering_works
from helpers.envs.skills import CHEETAH_SKILLS
from helpers.experts.policy import load_expert
from helpers.experts.switching import (SCHEDULES, SwitchingController, run_schedule, segment_reference, summarise, switch_metrics)

schedules = SCHEDULES if budget["schedules"] == "all" else {k: SCHEDULES[k] for k in budget["schedules"]}

# %% [markdown]
# ## The controller
#
# A schedule is a plan: a list of steps, each a skill, a target speed for `target_speed`, and a
# duration (`PlanStep`, the same type the translator of notebook 07 writes). The controller
# (`helpers/experts/switching.py`) runs one cheetah and, at each step, calls the expert of the
# step in force. Every step is scored with the *current* skill's reward, so a switch shows up as
# the reward of the new skill climbing (or not) from wherever the previous expert left the body.

# %%
experts = {name: load_expert(name) for name in CHEETAH_SKILLS}
controller = SwitchingController(experts)
display(pd.DataFrame([{"schedule": name, "segments": " → ".join(f"{s.label} {s.duration_s:g}s" for s in segs)}
                      for name, segs in schedules.items()]).set_index("schedule"))

# %% [markdown]
# ## What "recovered" means
#
# For each segment we first measure two references: the expert's steady state (its mean per-step
# reward when it runs that skill from a reset, after 3 s of settling) and the floor (what uniform
# random actions earn). Rewards are then read on that scale, 0 = random and 1 = steady expert, which
# makes a sprint (reward ~5 a step) comparable with holding a target speed (reward ~0).
# A switch has *reached the new behaviour* when the reward averaged over 1 s is within 0.2 of the
# steady state on that scale. We also count the reward lost in the first 3 s after the switch, and
# whether the cheetah ended up on its back (its torso's up axis below the horizontal) for more than a
# second beyond what the new skill's own expert spends so (the cheetah's way of falling: no running
# expert ever learned to get up). The same rules score any plan from the command line:
# `python -m helpers.run_plan --plan '[{"skill": "jump", "duration_s": 8}, {"skill": "run_forward", "duration_s": 8}]' --episodes 20 --json`.

# %%
segments = {seg.label: seg for segs in schedules.values() for seg in segs}
references = {label: segment_reference(controller, seg, seeds=range(100, 100 + budget["steady_seeds"]))
              for label, seg in tqdm(segments.items(), desc="references")}
display(pd.DataFrame(references).T.round(3))

# %%
rows, traces = [], {}
for name, schedule in tqdm(schedules.items(), desc="schedules"):
    for seed in range(budget["seeds"]):
        trace = run_schedule(controller, schedule, seed=seed)
        traces[(name, seed)] = trace
        for r in switch_metrics(trace, references):
            rows.append({"schedule": name, "seed": seed, **r})
switches = pd.DataFrame(rows)
per_schedule = switches.groupby("schedule").agg(
    switches=("to", "size"), time_to_behaviour_s=("time_to_behaviour_s", "mean"),
    never_reached=("reached", lambda x: 1 - x.mean()), return_lost=("return_lost", "mean"),
    return_lost_fraction=("return_lost_fraction", "mean"), upside_down=("upside_down", "mean"))
display(per_schedule.round(2))

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
order = per_schedule.index.tolist()
axes[0].barh(order, per_schedule["time_to_behaviour_s"])
axes[0].set_xlabel("time to new behaviour (s)")
axes[1].barh(order, per_schedule["return_lost_fraction"] * 100)
axes[1].set_xlabel("reward lost in first 3 s (% of expert - random)")
axes[2].barh(order, per_schedule["upside_down"] * 100, color="tab:red")
axes[2].set_xlabel("ended on its back (% of switches)")
fig.suptitle(f"The cost of switching experts ({budget['seeds']} seeds per schedule)")
fig.tight_layout()
lesson.figure(fig, "switch_costs.png")
plt.show()

# %% [markdown]
# ## Looking closer at one switch
#
# Forward speed around the switch, one line per seed. Between two running gaits the switch is a
# stumble; after a flip the body can land in a state no running expert has seen.

# %% tags=["hide-input"]
ncols = min(4, len(schedules))
nrows = -(-len(schedules) // ncols)
fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.6 * nrows), squeeze=False)
for ax in axes.flat[len(schedules):]:
    ax.axis("off")
for ax, name in zip(axes.flat, schedules):
    for seed in range(min(budget["seeds"], 10)):
        tr = traces[(name, seed)]
        t = np.arange(len(tr["x_velocity"])) * tr["dt"]
        ax.plot(t, tr["x_velocity"], lw=0.8, alpha=0.7)
    for s in tr["switches"]:
        ax.axvline(s * tr["dt"], c="k", ls="--", lw=1)
    ax.set_title(name, fontsize=9)
    ax.set_xlabel("time (s)")
for row in axes:
    row[0].set_ylabel("forward speed (m/s)")
fig.tight_layout()
lesson.figure(fig, "switch_speed_traces.png")
plt.show()

# %% [markdown]
# ## A failing switch, on video
#
# We pick the worst switch we measured (on its back if any was, else the slowest to recover) and
# render the seconds around it.

# %%
worst = switches.sort_values(["upside_down", "time_to_behaviour_s"], ascending=False).iloc[0]
print(f"worst switch: {worst['schedule']} seed {worst['seed']}: {worst['from']} → {worst['to']}, "
      f"time to behaviour {worst['time_to_behaviour_s']:.1f} s, upside down: {worst['upside_down']}")
video_path = None
if budget["video"] and rendering_works():
    schedule = schedules[worst["schedule"]]
    tr = run_schedule(controller, schedule, seed=int(worst["seed"]), render=True, render_size=budget["render_size"])
    switch_at = tr["switches"][0]
    half = int(budget["video_seconds"] / 2 / tr["dt"])
    frames = tr["frames"][max(0, switch_at - half // 2): switch_at + half + half // 2]
    video_path = lesson.video(frames, "failing_switch.mp4", round(1 / tr["dt"]))
    display(lesson.show_video(video_path))

# %% [markdown]
# ## The baseline to beat
#
# These are the numbers the unified, goal-conditioned Transformer of notebook 06 must improve on:
# how long a change of request takes to show, how much reward a switch throws away, and how often
# the body ends up somewhere no expert can recover from.

# %%
overall = summarise(rows)
display(pd.Series(overall).round(3).to_frame("switching baseline"))

# %% tags=["hide"]
results.update({
    "references": references,
    "per_schedule": per_schedule.reset_index().to_dict(orient="records"),
    "overall": overall,
    "worst_switch": {k: (v.item() if hasattr(v, "item") else v) for k, v in worst.items()},
    "video": str(video_path) if video_path else None,
})
lesson.save()

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# Each exercise is a function to finish (the `TODO`). `check(...)` runs it on a few small cases and
# says what is wrong, if anything; it never stops the notebook. `show_solution("...")` shows one
# answer (from [`helpers/course/solutions.py`](../helpers/course/solutions.py)): try first.
#
# **1 · Did it fall?** Finish `fell_over(torso_up, dt)`: True when, after a switch, the cheetah spent
# more than 1 s *in total* upside down (`torso_up < 0`, one value per step of `dt` seconds).

# %% tags=["exercise"]
import numpy as np

from helpers.course.exercises import check, show_solution


def fell_over(torso_up, dt):
    """True when the torso was upside down for more than 1 s in total."""
    torso_up = np.asarray(torso_up)
    return bool(np.any(torso_up < 0))  # TODO: a flip passes upside down too; how long is too long?


check("03.fell_over", fell_over)

# %% [markdown] tags=["exercise"]
# **2 · Time to the new behaviour.** Finish `time_to_behaviour(reward, steady, floor, dt)`, the rule of
# "What recovered means" above: average the reward over 1 s windows; the behaviour is reached at the
# end of the first window whose mean is at least `steady - 0.2 * (steady - floor)`; a switch that never
# gets there is charged the whole segment.

# %% tags=["exercise"]
def time_to_behaviour(reward, steady, floor, dt):
    """Seconds from the switch until the new behaviour shows (the segment's length if it never does)."""
    threshold = steady - 0.2 * (steady - floor)
    window = int(round(1.0 / dt))  # steps in 1 s
    return len(reward) * dt  # TODO: the end of the first 1 s window whose mean reward reaches the threshold


check("03.time_to_behaviour", time_to_behaviour)
