"""Reference answers to the notebooks' exercises (see :mod:`helpers.course.exercises`).

Try the exercise first: ``check(...)`` says what is wrong with an attempt. ``show_solution("NN.name")``
prints one of these; other correct answers exist.
"""

from __future__ import annotations

import numpy as np


# --- 00 --------------------------------------------------------------------------------------------
def forward_speed(obs):
    """The cheetah's forward speed (m/s): the first velocity, after the 8 joint positions."""
    return float(obs[8])


def is_upright(obs):
    """Upright when the torso's up axis points above the horizontal; the pitch is obs[1], never wrapped."""
    return bool(np.cos(obs[1]) > 0)


# --- 01 --------------------------------------------------------------------------------------------
def gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """GAE advantages for one environment's trajectory (1-D arrays)."""
    advantages = np.zeros(len(rewards))
    next_advantage = 0.0
    for t in reversed(range(len(rewards))):
        future = 0.0 if terminated[t] else gamma * next_values[t]  # a terminated step has no future
        delta = rewards[t] + future - values[t]
        continues = not (terminated[t] or truncated[t])  # the recursion stops at any episode end
        next_advantage = delta + gamma * lam * continues * next_advantage
        advantages[t] = next_advantage
    return advantages


def clipped_objective(ratio, advantage, clip_range):
    """PPO's per-sample objective (to maximise): min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)."""
    clipped = np.clip(ratio, 1 - clip_range, 1 + clip_range)
    return np.minimum(ratio * advantage, clipped * advantage)


# --- 02 --------------------------------------------------------------------------------------------
def jump_reward(info, action):
    """Height and foot clearance, paid as far as the torso is upright, minus drift and control costs."""
    height = max(0.0, info["torso_height"] - 0.57)
    clearance = max(0.0, info["lowest_foot_height"] - 0.11)
    upright = max(0.0, info["torso_up"])
    drift = 2.0 * abs(info["x_velocity"])
    ctrl = 0.1 * float(np.sum(np.square(action)))
    return upright * (5.0 * height + 10.0 * clearance) - drift - ctrl


# --- 03 --------------------------------------------------------------------------------------------
def fell_over(torso_up, dt):
    """True when the torso spent more than 1 s in total upside down (its up axis below the horizontal)."""
    return bool(np.sum(np.asarray(torso_up) < 0) * dt > 1.0)


def time_to_behaviour(reward, steady, floor, dt):
    """Seconds until the 1 s rolling mean reward is within 0.2 of steady, on the random (0) to expert (1)
    scale; the segment's length when it never gets there."""
    window = int(round(1.0 / dt))
    rolling = np.convolve(reward, np.ones(window) / window, mode="valid")
    reached = np.nonzero(rolling >= steady - 0.2 * (steady - floor))[0]
    return (reached[0] + window) * dt if len(reached) else len(reward) * dt


# --- 04 --------------------------------------------------------------------------------------------
def total_steps(episodes):
    """Steps in a list of Minari episodes: one per action (an episode holds one more observation)."""
    return sum(len(ep.actions) for ep in episodes)


def normalised_score(ret, random_return, expert_return):
    """D4RL's normalised score: 0 for random actions, 100 for the expert, unclipped."""
    return 100.0 * (ret - random_return) / (expert_return - random_return)


# --- 05 --------------------------------------------------------------------------------------------
def returns_to_go(rewards):
    """R_t = r_t + r_{t+1} + ... + r_T: a reversed cumulative sum."""
    return np.cumsum(np.asarray(rewards)[::-1])[::-1]


def causal_mask(n):
    """(n, n) booleans, True where query i may attend to key j: j <= i."""
    return np.tril(np.ones((n, n), dtype=bool))


# --- 06 --------------------------------------------------------------------------------------------
def action_loss(pred, target, act_dims, mask):
    """Mean squared error over each window's real action dimensions, then over the real steps."""
    dims = np.arange(pred.shape[-1])[None, :] < np.asarray(act_dims)[:, None]  # (B, A): the body's own dims
    per_step = ((pred - target) ** 2 * dims[:, None, :]).sum(-1) / dims.sum(-1)[:, None]  # (B, K)
    return float(per_step[mask].mean())


def speed_features(speed, frequencies=4):
    """(v/3, sin(pi k v/3), cos(pi k v/3) for k = 1..4); all zeros for a skill without a speed (None)."""
    if speed is None:
        return np.zeros(1 + 2 * frequencies)
    x = speed / 3.0  # the target-speed range is [-3, 3] m/s
    return np.array([x] + [f(np.pi * k * x) for k in range(1, frequencies + 1) for f in (np.sin, np.cos)])


# --- 07 --------------------------------------------------------------------------------------------
def lora_parameters(shapes, r):
    """Trainable numbers of rank-r LoRA adapters on linear layers of shapes (d_in, d_out): A is r x d_in,
    B is d_out x r; the weight beside them stays frozen."""
    return sum(r * (d_in + d_out) for d_in, d_out in shapes)


def only_stated_numbers(plan, instruction):
    """Every number in the plan, sign aside, is a whole number the instruction states, or 0."""
    import re

    stated = {float(n) for n in re.findall(r"\d+(?:\.\d+)?", instruction)} | {0.0}
    numbers = [w.lstrip("-") for w in plan.split() if w.lstrip("-")[:1].isdigit()]
    return all(float(n) in stated for n in numbers)


# --- 08 --------------------------------------------------------------------------------------------
def kappa(verifier, judge):
    """Cohen's kappa of two binary raters: agreement beyond what their own rates give by chance."""
    v, j = np.asarray(verifier, bool), np.asarray(judge, bool)
    observed = np.mean(v == j)
    chance = v.mean() * j.mean() + (1 - v.mean()) * (1 - j.mean())  # both say success, or both failure
    return 1.0 if chance == 1 else float((observed - chance) / (1 - chance))


def first_failed_step(steps):
    """The index of the first (skill, metrics) step that misses a rule of its skill, or None."""
    from helpers.envs.metrics import SUCCESS_RULES

    for i, (skill, metrics) in enumerate(steps):
        for key, op, bar in SUCCESS_RULES[skill]:
            if not (metrics[key] >= bar if op == ">=" else metrics[key] <= bar):
                return i
    return None


# --- 09 --------------------------------------------------------------------------------------------
def split_episodes(ids, workers):
    """min(workers, len(ids)) shares dealt out round robin: every id once, sizes within one."""
    parts = max(1, min(workers, len(ids)))
    return [list(ids[w::parts]) for w in range(parts)]


def share_losses(errors, mask, world):
    """Each rank's loss on its contiguous rows of the global batch: its summed real-step errors over the
    global batch's real steps divided by the processes, so that their average is the one-process loss."""
    denominator = max(mask.sum(), 1) / world
    shares = np.split(np.arange(len(errors)), world)  # rank r's contiguous rows, as rank_share cuts them
    return np.array([(errors[rows] * mask[rows]).sum() / denominator for rows in shares])


SOLUTIONS = {
    "00.forward_speed": forward_speed, "00.upright": is_upright,
    "01.gae": gae, "01.clip": clipped_objective,
    "02.jump_reward": jump_reward,
    "03.fell_over": fell_over, "03.time_to_behaviour": time_to_behaviour,
    "04.total_steps": total_steps, "04.normalised_score": normalised_score,
    "05.returns_to_go": returns_to_go, "05.causal_mask": causal_mask,
    "06.action_loss": action_loss, "06.speed_features": speed_features,
    "07.lora_parameters": lora_parameters, "07.stated_numbers": only_stated_numbers,
    "08.kappa": kappa, "08.first_failed_step": first_failed_step,
    "09.split_episodes": split_episodes, "09.share_losses": share_losses,
}
