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
# # 00 · Setup and a tour of the bodies
#
# Before training anything we check that the machine can do what the course needs (simulate,
# render, maybe use a GPU), meet the two bodies the course trains (the HalfCheetah and the
# Humanoid), learn what each number in their observations and actions means, and measure how fast
# the simulator is. That last number matters more than it seems: every later notebook is, one way
# or another, limited by how many simulator steps per second we can afford.

# %% [markdown]
# **Learning goals.** After this notebook you can:
#
# * pick a rendering backend with `MUJOCO_GL` and say whether a GPU helps at this stage;
# * read the cheetah's observation: which index is the torso height, the pitch, the forward speed;
# * say how the HalfCheetah, Humanoid and HumanoidStandup episodes end and what standing still earns;
# * measure raw physics against a plain `env.step` loop and explain what the gap costs later.

# %% tags=["parameters"]
PROFILE = "cpu"  # smoke | cpu | gpu

# %% tags=["hide"]
from helpers.course.notebook import setup

lesson = setup("00_setup_and_tour", PROFILE)
budget, results = lesson.budget, lesson.results

import os

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from helpers import REPO_ROOT
from helpers.core.provenance import machine_info
from helpers.envs import simulator

# %% [markdown]
# ## Can this machine render?
#
# MuJoCo renders through OpenGL, and which OpenGL you get is chosen by the `MUJOCO_GL` environment
# variable *before* `mujoco` is imported: `egl` (headless, GPU or Mesa software), `osmesa` (pure
# software) or `glfw` (needs a display). We try each in a fresh process and keep the first that works.

# %%
render_check = simulator.check_rendering()
print(simulator.rendering_advice(render_check))
can_render = render_check.get(os.environ["MUJOCO_GL"]) == "ok"
results["rendering"] = {"MUJOCO_GL": os.environ["MUJOCO_GL"], "backends": render_check, "works": can_render}

# %% [markdown]
# ## Is there a GPU?
#
# Nothing before notebook 05 needs one: MuJoCo runs on the CPU and small MLP policies are faster
# there. The offline Transformer and the GPT-2 fine-tuning are where a GPU pays off.

# %%
info = machine_info()
gpu = info.get("gpu") if info.get("cuda") else None
print(f"CPU cores: {info['cpu_count']}, torch {info.get('torch')}, GPU: {gpu or 'none (CPU profile is the right one)'}")
results["machine"] = {"cpu_count": info["cpu_count"], "gpu": gpu}

# %% [markdown]
# ## The bodies
#
# Three simulators, two bodies:
#
# * **HalfCheetah** (`HalfCheetah-v5`): a planar, 9-joint runner. It cannot fall over in a way that
#   ends the episode, so every episode lasts 1000 steps (50 s of simulated time). Five of the
#   course's skills live here: run forward, run backward, jump, front flip and run at a target speed.
# * **Humanoid** (`Humanoid-v5`): a 3D, 17-actuator person. The episode ends when the torso drops
#   below 1 m, which is what makes walking hard to learn, and standing still already earns 5 a step.
# * **HumanoidStandup** (`HumanoidStandup-v5`): the same body, starting lying on the floor; the
#   reward is the torso's height, so lying still earns about 35 a step.
#
# Gymnasium's observation is the joint positions (without the global x, y: a runner should not care
# where it is) followed by the joint velocities. For the Humanoid we drop the contact forces,
# inertias and actuator forces Gymnasium appends by default (348 → 45 numbers): they are mostly
# zeros, and without them the humanoid experts train about twice as fast per step.

# %%
for body in simulator.MODELS:
    obs = simulator.describe_observation(body)
    act = simulator.describe_action(body)
    display(Markdown(f"### {body}: {len(obs)} observations, {len(act)} actions"))
    table = pd.DataFrame({"observation": [d.name for d in obs], "unit": [d.unit for d in obs]})
    display(table.T if body == "cheetah" else table.head(8).T)
    display(pd.DataFrame({"action": [d.name for d in act]}).head(6 if body != "cheetah" else 6).T)
    results.setdefault("bodies", {})[body] = {"obs_dim": len(obs), "action_dim": len(act),
                                              "frame_skip": simulator.frame_skip(body)}

# %% [markdown]
# Reading the cheetah's table: index 0 is the torso height, index 1 its pitch angle (which grows
# without bound when the cheetah flips: the front-flip skill rewards exactly this), 2-7 are the
# six joint angles, and 8-16 the velocities, the first of which (`rootx velocity`) is the forward
# speed that the running rewards pay for. Every action is a torque, scaled by the joint's gear.

# %% [markdown]
# ## What a random policy does
#
# Every learner starts here: uniformly random torques. The cheetah twitches in place; the humanoid
# collapses within a second (the episode would end there); the standup humanoid flails on the floor.

# %%
videos = {}
if can_render:
    for body in simulator.MODELS:
        frames, fps = simulator.random_rollout_frames(body, budget["video_steps"], size=budget["render_size"])
        videos[body] = lesson.video(frames, f"{body}_random.mp4", fps)
        display(Markdown(f"**{body}**, random actions"), lesson.show_video(videos[body]))
else:
    print("Rendering is not available here; skipping the videos (see the advice above).")
results["videos"] = {b: str(p.relative_to(REPO_ROOT)) for b, p in videos.items()}

# %% [markdown]
# ## How fast is the simulator?
#
# Two numbers per body: raw physics (`mujoco.mj_step` calls per second) and a plain Gymnasium loop
# (`env.step` per second). One env step is `frame_skip` physics steps (5 for all three) plus
# building the observation and the reward, so the physics limit on env steps is `mj_step/s ÷ 5`.
# The gap between that limit and the `env.step` loop is Python overhead: notebook 04 wins most of
# it back by stepping many environments per policy call.

# %%
speed = []
for body in simulator.MODELS:
    raw = simulator.mj_steps_per_second(body, budget["speed_seconds"])
    loop = simulator.env_steps_per_second(body, budget["speed_seconds"])
    fs = simulator.frame_skip(body)
    speed.append({"body": body, "mj_step_per_s": raw, "physics_limit_env_steps_per_s": raw / fs,
                  "env_step_per_s": loop, "share_of_physics_limit": loop / (raw / fs)})
speed = pd.DataFrame(speed).set_index("body")
display(speed.round(2))
results["simulator_speed"] = speed.round(1).to_dict(orient="index")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 3.2))
x = range(len(speed))
ax.bar([i - 0.2 for i in x], speed["physics_limit_env_steps_per_s"], width=0.4, label="physics limit (mj_step/s ÷ frame_skip)")
ax.bar([i + 0.2 for i in x], speed["env_step_per_s"], width=0.4, label="plain env.step loop")
ax.set_xticks(list(x), speed.index)
ax.set_ylabel("env steps per second (one core)")
ax.set_title("Simulator speed")
ax.legend(fontsize=8)
lesson.figure(fig, "simulator_speed.png")
plt.show()

# %% [markdown]
# On one core the cheetah's physics allows roughly ten thousand env steps a second; the humanoid,
# with its 3D contacts, several times fewer. Keep these numbers in mind: a million cheetah steps is
# minutes of pure simulation, and everything we add on top (a policy, logging, Python) eats into it.

# %% tags=["hide"]
lesson.save()

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# Each exercise is a function to finish (the `TODO`). `check(...)` runs it on a few small cases and
# says what is wrong, if anything; it never stops the notebook. `show_solution("...")` shows one
# answer (from [`helpers/course/solutions.py`](../helpers/course/solutions.py)): try first.
#
# **1 · Forward speed from an observation.** Using the observation table above, finish
# `forward_speed(obs)`. The check compares it with the simulator's own velocity along a random rollout.

# %% tags=["exercise"]
import numpy as np

from helpers.course.exercises import check, show_solution


def forward_speed(obs):
    """The cheetah's forward speed in m/s, read from one observation."""
    return 0.0  # TODO: which index of the table above is the forward velocity?


check("00.forward_speed", forward_speed)

# %% [markdown] tags=["exercise"]
# **2 · Upright or not?** The pitch (index 1) keeps counting through every flip: after one front
# flip it is about 2π, not 0. Finish `is_upright(obs)`: True when the torso's up axis points above the
# horizontal. The course's `upright_fraction` metric is the share of steps where this holds.

# %% tags=["exercise"]
def is_upright(obs):
    """True when the cheetah's torso points up, from one observation."""
    pitch = obs[1]
    return bool(abs(pitch) < np.pi / 2)  # TODO: wrong after a full flip; what ignores whole turns?


check("00.upright", is_upright)
