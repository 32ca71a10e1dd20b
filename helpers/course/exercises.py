"""The notebooks' exercises: one check per exercise that says, in plain words, what is wrong.

    >>> from helpers.course.exercises import check, show_solution
    >>> check("01.gae", gae)          # prints "✓ ..." or what is wrong; never raises
    >>> show_solution("01.gae")       # one reference answer, from helpers/course/solutions.py

Each notebook ends with an "Exercises" section: a cell tagged ``exercise`` per exercise holds a
starter function with a ``TODO`` and a ``check(...)`` call. A check runs the function on a few small
cases, each chosen to catch one typical mistake, and explains the first one that fails. It reports and
never raises, so a notebook with unfinished exercises still runs to the end (papermill, CI). The
solutions live in :mod:`helpers.course.solutions`, out of the student's way until asked for.
``tests/test_exercises.py`` runs every check on its solution (it passes) and on the notebook's own
starter (it fails, with an explanation).

The checks of lessons 00-05 are below, those of lessons 06-09 in :mod:`helpers.course.exercises_06_09`;
both register with :mod:`helpers.course.exercise_base`, and this module is the one to import.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from . import exercises_06_09  # noqa: F401 -- registers the checks of lessons 06-09
from .exercise_base import EXERCISES, Exercise, Feedback, Wrong, _array, _call, _fmt, _number, exercise

__all__ = ["EXERCISES", "Exercise", "Feedback", "Wrong", "check", "evaluate", "exercise", "get", "show_solution",
           "solution"]


def get(exercise_id: str) -> Exercise:
    if exercise_id not in EXERCISES:
        raise KeyError(f"no exercise {exercise_id!r}; known: {', '.join(sorted(EXERCISES))}")
    return EXERCISES[exercise_id]


def evaluate(exercise_id: str, answer: Any) -> Feedback:
    """Run one check on ``answer``: a :class:`Feedback` whose message says what is right or wrong."""
    ex = get(exercise_id)
    if not callable(answer):
        return Feedback(False, f"✗ {ex.id} ({ex.title}): pass the function `{ex.answer}` itself, not {answer!r}.")
    try:
        detail = ex.run(answer)
    except Wrong as wrong:
        text = str(wrong)
        return Feedback(False, f"✗ {ex.id} ({ex.title}): not yet. {text[:1].upper()}{text[1:]}")
    return Feedback(True, f"✓ {ex.id} ({ex.title}): correct. {detail}")


def check(exercise_id: str, answer: Any) -> bool:
    """Print whether ``answer`` solves the exercise, and if not, what is wrong; returns True when it does."""
    feedback = evaluate(exercise_id, answer)
    print(feedback.message)
    return feedback.ok


def solution(exercise_id: str) -> Callable:
    """The reference answer of an exercise (a function from :mod:`helpers.course.solutions`)."""
    from . import solutions

    get(exercise_id)
    return solutions.SOLUTIONS[exercise_id]


def show_solution(exercise_id: str):
    """Show the source of the reference answer."""
    from .notebook import show_code

    return show_code(solution(exercise_id))


# --- 00 · setup and tour ---------------------------------------------------------------------------
@exercise("00.forward_speed", "00_setup_and_tour", "forward speed from an observation", "forward_speed")
def _check_forward_speed(forward_speed):
    import gymnasium as gym

    from ..envs import simulator

    names = [d.name for d in simulator.describe_observation("cheetah")]
    env = gym.make("HalfCheetah-v5")
    try:
        obs, _ = env.reset(seed=0)
        rng = np.random.default_rng(0)
        for step in range(40):
            obs, *_ = env.step(rng.uniform(-1, 1, size=6))
            if step < 10:
                continue
            truth = float(env.unwrapped.data.qvel[0])
            got = _number(_call(forward_speed, obs, case=f"step {step} of a random rollout"), f"step {step}")
            if abs(got - truth) > 1e-6:
                hits = [i for i, x in enumerate(obs) if abs(x - got) < 1e-9]
                which = f" That is index {hits[0]} ({names[hits[0]]})." if hits else ""
                raise Wrong(f"at step {step} of a random rollout the cheetah moves forward at {truth:.3f} m/s; "
                            f"your function says {got:.3f}.{which} The forward speed is the first velocity "
                            "in the table (the positions come first, without the global x).")
    finally:
        env.close()
    return "obs[8] is the forward velocity, the number the running rewards pay for."


@exercise("00.upright", "00_setup_and_tour", "is the cheetah upright?", "is_upright")
def _check_upright(is_upright):
    cases = [(0.0, "standing level"), (0.6, "nose down 0.6 rad"), (-1.2, "rearing up 1.2 rad"),
             (math.pi, "lying on its back (pitch π)"), (-2.5, "tipped over backwards (pitch -2.5)"),
             (2 * math.pi + 0.3, "back on its feet after one full front flip (pitch 2π + 0.3)"),
             (3 * math.pi, "on its back after one and a half flips (pitch 3π)"),
             (-2 * math.pi - 0.2, "upright after a full back flip (pitch -2π - 0.2)")]
    for pitch, what in cases:
        obs = np.zeros(17)
        obs[0], obs[1] = 0.6, pitch
        got = _call(is_upright, obs, case=what)
        if not isinstance(got, (bool, np.bool_)):
            raise Wrong(f"for {what} your function returned {got!r}; it should return True or False.")
        expected = math.cos(pitch) > 0
        if bool(got) != expected:
            hint = (" The pitch is not wrapped to [-π, π]: it keeps counting through every flip, so compare "
                    "its cosine (the torso's up axis), not the angle." if abs(pitch) > 2 * math.pi else
                    " Upright means the torso's up axis points above the horizontal: cos(pitch) > 0.")
            raise Wrong(f"{what}: the cheetah is {'upright' if expected else 'upside down'}, "
                        f"your function says {bool(got)}.{hint}")
    return "This is the course's `upright_fraction`: the share of steps with cos(pitch) > 0."


# --- 01 · PPO from scratch -------------------------------------------------------------------------
def _gae_reference(r, v, nv, term, trunc, gamma, lam, drop_terminal_value=True, stop_at_end=True):
    adv, nxt = np.zeros(len(r)), 0.0
    for t in reversed(range(len(r))):
        keep_value = 0.0 if (term[t] and drop_terminal_value) else 1.0
        cont = 0.0 if ((term[t] or trunc[t]) and stop_at_end) else 1.0
        nxt = r[t] + gamma * nv[t] * keep_value - v[t] + gamma * lam * cont * nxt
        adv[t] = nxt
    return adv


@exercise("01.gae", "01_ppo_from_scratch", "GAE for a tiny trajectory", "gae")
def _check_gae(gae):
    from ..experts.ppo import compute_gae

    f, T = np.array([False] * 4), np.array
    cases = [
        ("one step that does not end", T([2.0]), T([1.0]), T([3.0]), T([False]), T([False]), 0.9, 0.8,
         "For one step GAE is the TD error δ = r + γ·V(s') − V(s)."),
        ("four steps with no episode end", T([1.0, 0.0, 2.0, 1.0]), T([0.5, 1.0, 1.5, 1.0]),
         T([1.0, 1.5, 1.0, 2.0]), f, f, 0.9, 0.8,
         "Walk backwards: A_t = δ_t + γ·λ·A_{t+1}, with λ as well as γ in the factor."),
        ("four steps where the episode terminates at step 1", T([1.0, 1.0, 1.0, 1.0]), T([1.0, 1.0, 1.0, 1.0]),
         T([2.0, 100.0, 2.0, 2.0]), T([False, True, False, False]), f, 0.9, 0.8,
         "A terminated step has no future: its next value (100 here, the value of the reset state) must not "
         "count, and the recursion must not carry advantages across the episode boundary."),
        ("four steps where a time limit truncates the episode at step 1", T([1.0, 1.0, 1.0, 1.0]),
         T([1.0, 1.0, 1.0, 1.0]), T([2.0, 4.0, 2.0, 2.0]), f, T([False, True, False, False]), 0.9, 0.8,
         "A truncated episode would have gone on: it bootstraps from V(final observation) (4 here), but the "
         "recursion still stops at the boundary."),
    ]
    for what, r, v, nv, term, trunc, gamma, lam, rule in cases:
        got = _array(_call(gae, r, v, nv, term, trunc, gamma, lam, case=what), r.shape, what)
        expected = compute_gae(r[:, None], v[:, None], nv[:, None], term[:, None], trunc[:, None], gamma, lam)[0][:, 0]
        if np.allclose(got, expected, atol=1e-4):
            continue
        diagnosis = ""
        for label, kwargs in [("as if λ were 1", {"lam": 1.0}), ("as if λ were 0 (plain TD errors)", {"lam": 0.0}),
                              ("keeping the next value at the terminated step", {"drop_terminal_value": False}),
                              ("carrying the advantage across the episode's end", {"stop_at_end": False})]:
            args = {"gamma": gamma, "lam": lam, **kwargs}
            if np.allclose(got, _gae_reference(r, v, nv, term, trunc, **args), atol=1e-4):
                diagnosis = f" Your numbers are what GAE gives {label}."
                break
        raise Wrong(f"on {what} (γ={gamma}, λ={lam}) the advantages should be {_fmt(expected)}, yours are "
                    f"{_fmt(got)}.{diagnosis} {rule}")
    return "The same recursion as `helpers.experts.ppo.compute_gae`, one environment at a time."


@exercise("01.clip", "01_ppo_from_scratch", "the clipped objective", "clipped_objective")
def _check_clip(clipped_objective):
    eps = 0.2
    ratio = np.array([1.0, 1.5, 0.5, 1.5, 0.5, 1.1])
    adv = np.array([2.0, 2.0, -2.0, -2.0, 2.0, -1.0])
    why = ["at ratio 1 (the old policy) the objective is just the advantage",
           "a good action (A > 0) already made 1.5x more likely: the gain is capped at (1 + ε)·A",
           "a bad action (A < 0) already made half as likely: the gain is capped at (1 − ε)·A",
           "a bad action (A < 0) made *more* likely: the min keeps the unclipped ratio·A, so the loss is never "
           "hidden",
           "a good action made *less* likely: the min keeps the unclipped ratio·A, the policy is pushed back",
           "inside the trust region [1 − ε, 1 + ε] nothing is clipped"]
    got = _array(_call(clipped_objective, ratio, adv, eps, case=f"ratios {_fmt(ratio)}, advantages {_fmt(adv)}"),
                 ratio.shape, "six samples")
    expected = np.minimum(ratio * adv, np.clip(ratio, 1 - eps, 1 + eps) * adv)
    if np.allclose(got, expected, atol=1e-6):
        return "Minimised as its negative mean, this is PPO's policy loss (`ppo.clipped_surrogate_loss`)."
    if np.allclose(got, -expected, atol=1e-6):
        raise Wrong("your numbers have the wrong sign: return the objective to maximise; PPO's loss is its "
                    "negative mean.")
    for label, other in [("ratio·A with no clipping", ratio * adv),
                         ("the clipped term alone, without the min", np.clip(ratio, 1 - eps, 1 + eps) * adv),
                         ("the max of the two terms instead of the min",
                          np.maximum(ratio * adv, np.clip(ratio, 1 - eps, 1 + eps) * adv))]:
        if np.allclose(got, other, atol=1e-6):
            i = int(np.argmax(~np.isclose(other, expected)))
            raise Wrong(f"your function computes {label}. Sample {i} shows why that is wrong: {why[i]} "
                        f"({expected[i]:.2f}, yours {got[i]:.2f}).")
    i = int(np.argmax(~np.isclose(got, expected, atol=1e-6)))
    raise Wrong(f"for ratio {ratio[i]} and advantage {adv[i]} (ε = {eps}) the objective is {expected[i]:.2f}, "
                f"yours {got[i]:.2f}: {why[i]}.")


# --- 02 · skill experts ----------------------------------------------------------------------------
@exercise("02.jump_reward", "02_skill_experts", "a jump reward that lands on its feet", "jump_reward")
def _check_jump_reward(jump_reward):
    from ..envs.rewards import cheetah_reward

    rest = {"torso_height": 0.57, "lowest_foot_height": 0.11, "torso_up": 1.0, "x_velocity": 0.0}
    zero = np.zeros(6)
    cases = [
        ("standing still at rest height", rest, zero, "At rest nothing is above its rest height: the reward is 0."),
        ("in the air, upright, torso 0.9 m and feet 0.4 m up", rest | {"torso_height": 0.9, "lowest_foot_height": 0.4},
         zero, "Pay 5 per metre of torso above rest (0.57 m) plus 10 per metre of foot clearance above 0.11 m."),
        ("rearing up on the back leg: torso 0.9 m, one foot on the ground", rest | {"torso_height": 0.9},
         zero, "Only the torso term pays here; clearance is measured from the *lower* foot."),
        ("lying on its back with its feet 0.6 m in the air", rest | {"torso_height": 0.3, "lowest_foot_height": 0.6,
                                                                     "torso_up": -1.0},
         zero, "Height and clearance are paid only as far as the torso is upright (max(0, torso_up)): on its "
               "back the cheetah's feet are high, and the first jump expert learned to lie there."),
        ("tilted 60° while in the air", rest | {"torso_height": 0.8, "lowest_foot_height": 0.3, "torso_up": 0.5},
         zero, "Half upright earns half the height and clearance terms."),
        ("hopping forward at 2 m/s", rest | {"torso_height": 0.8, "lowest_foot_height": 0.3, "x_velocity": 2.0},
         zero, "A jump stays on the spot: subtract 2 per m/s of speed, in either direction."),
        ("hopping backward at 1.5 m/s", rest | {"torso_height": 0.8, "lowest_foot_height": 0.3, "x_velocity": -1.5},
         zero, "The drift cost is on the absolute speed: running backwards is drifting too."),
        ("at rest with full torques on every joint", rest, np.ones(6),
         "Subtract the control cost, 0.1 × the sum of squared actions, as HalfCheetah does."),
    ]
    for what, info, action, rule in cases:
        got = _number(_call(jump_reward, dict(info), action.copy(), case=what), what)
        expected = cheetah_reward("jump", info, action)
        if abs(got - expected) > 1e-6:
            raise Wrong(f"{what}: the reward should be {expected:.3f}, yours is {got:.3f}. {rule}")
    return "This is the reward the committed jump expert was trained on (`helpers.envs.rewards.cheetah_reward`)."


# --- 03 · policy switching -------------------------------------------------------------------------
@exercise("03.fell_over", "03_policy_switching", "detecting a fall after a switch", "fell_over")
def _check_fell_over(fell_over):
    def trace(*parts):
        return np.concatenate([np.full(n, up) for n, up in parts])

    cases = [
        ("a cheetah that stays upright (dt 0.05 s)", trace((200, 1.0)), 0.05, False,
         "Never upside down means no fall."),
        ("one that ends up on its back for the last 2 s (dt 0.05 s)", trace((160, 1.0), (40, -1.0)), 0.05, True,
         "2 s with torso_up < 0 is more than the 1 s allowed."),
        ("one that passes upside down for 0.5 s, as a flip does (dt 0.05 s)",
         trace((100, 1.0), (10, -0.8), (90, 1.0)), 0.05, False, "0.5 s upside down is under the 1 s allowed."),
        ("one on its side (torso_up exactly 0) for 3 s", trace((40, 1.0), (60, 0.0)), 0.05, False,
         "Upside down means the up axis points *below* the horizontal: torso_up < 0, not <= 0."),
        ("three separate 0.45 s stretches upside down (dt 0.05 s)",
         trace((40, 1.0), (9, -1.0), (40, 1.0), (9, -1.0), (40, 1.0), (9, -1.0)), 0.05, True,
         "Count the total time upside down (1.35 s here), not the longest stretch: a cheetah that keeps "
         "tumbling has fallen too."),
        ("0.6 s upside down recorded at dt 0.01 s (60 steps)", trace((100, 1.0), (60, -1.0)), 0.01, False,
         "Measure seconds, not steps: multiply the number of steps by dt."),
        ("1.5 s upside down recorded at dt 0.01 s (150 steps)", trace((100, 1.0), (150, -1.0)), 0.01, True,
         "Measure seconds, not steps: multiply the number of steps by dt."),
    ]
    for what, up, dt, expected, rule in cases:
        got = _call(fell_over, up.copy(), dt, case=what)
        if not isinstance(got, (bool, np.bool_)):
            raise Wrong(f"for {what} your function returned {got!r}; it should return True or False.")
        if bool(got) != expected:
            raise Wrong(f"for {what} the answer is {expected}, yours is {bool(got)}. {rule}")
    return "Notebook 03 adds one refinement: it allows the time the new skill's own expert spends upside down."


def _time_to_behaviour_reference(reward, steady, floor, dt, smooth_s=1.0, tolerance=0.2):
    smooth = max(1, int(round(smooth_s / dt)))
    rolling = np.convolve(reward, np.ones(smooth) / smooth, mode="valid")
    reached = np.nonzero(rolling >= steady - tolerance * (steady - floor))[0]
    return float((reached[0] + smooth) * dt) if len(reached) else float(len(reward) * dt)


@exercise("03.time_to_behaviour", "03_policy_switching", "time to the new behaviour", "time_to_behaviour")
def _check_time_to_behaviour(time_to_behaviour):
    dt = 0.05
    ramp = np.concatenate([np.zeros(40), np.linspace(0, 5, 20), np.full(100, 5.0)])
    cases = [
        ("a sprint that is at its steady reward (5) from the first step", np.full(160, 5.0), 5.0, 0.0,
         "The first full 1 s window already averages 5: the behaviour is reached at its end, 1.0 s."),
        ("a sprint that starts 2 s after the switch and ramps up over 1 s", ramp, 5.0, 0.0,
         "Average the reward over 1 s windows and report the end of the first window whose mean is within "
         "0.2 × (steady − floor) of the steady reward."),
        ("a switch that never reaches the new gait (reward stuck at 1, steady 5)", np.full(160, 1.0), 5.0, 0.0,
         "A switch that never gets there is charged the whole segment: its length in seconds (8.0 here)."),
        ("holding a target speed: steady reward −0.1, random −2.0, the cheetah settles at −0.4",
         np.concatenate([np.full(40, -2.0), np.full(120, -0.4)]), -0.1, -2.0,
         "The threshold lives on the random-to-expert scale: steady − 0.2 × (steady − floor) = −0.48 here. A "
         "threshold like 0.8 × steady is wrong for negative rewards."),
        ("a noisy reward that spikes once to the steady level for one step", np.r_[np.zeros(30), 5.0, np.zeros(129)],
         5.0, 0.0, "One good step is not a behaviour: smooth over 1 s first."),
    ]
    for what, reward, steady, floor, rule in cases:
        got = _number(_call(time_to_behaviour, reward.copy(), steady, floor, dt, case=what), what)
        expected = _time_to_behaviour_reference(reward, steady, floor, dt)
        if abs(got - expected) > dt + 1e-9:  # one step either way: where the window ends is a convention
            raise Wrong(f"for {what} (dt {dt} s) the time to behaviour is {expected:.2f} s, yours is {got:.2f} s. "
                        f"{rule}")
    return "This is the rule `helpers.experts.switching.switch_metrics` applies to every switch."


# --- 04 · trajectory datasets ----------------------------------------------------------------------
def _episodes(lengths, seed=0):
    from minari.dataset.episode_data import EpisodeData

    rng = np.random.default_rng(seed)
    out = []
    for i, n in enumerate(lengths):
        term = np.zeros(n, bool)
        trunc = np.zeros(n, bool)
        (trunc if n == 1000 else term)[-1] = True
        out.append(EpisodeData(id=i, observations=rng.normal(size=(n + 1, 17)), actions=rng.uniform(-1, 1, (n, 6)),
                               rewards=rng.normal(1.0, 1.0, n), terminations=term, truncations=trunc, infos={}))
    return out


@exercise("04.total_steps", "04_trajectory_datasets", "counting the steps in a Minari dataset", "total_steps")
def _check_total_steps(total_steps):
    for lengths in ([5], [5, 3, 1000], [1, 1, 1, 1]):
        episodes = _episodes(lengths)
        what = f"{len(lengths)} episode(s) of {', '.join(map(str, lengths))} steps"
        got = _number(_call(total_steps, episodes, case=what), what)
        expected = sum(lengths)
        if got == expected:
            continue
        if got == sum(n + 1 for n in lengths):
            raise Wrong(f"for {what} there are {expected} steps; you counted {got:.0f}, one per episode too many. "
                        "A Minari episode of n steps stores n + 1 observations (the last one, after the last "
                        "action, has no action or reward): count actions or rewards, not observations.")
        if got == len(lengths):
            raise Wrong(f"for {what} your function returned {got:.0f}, the number of episodes; count their steps.")
        raise Wrong(f"for {what} there are {expected} steps; your function returned {got:g}.")
    return "Notebook 04's step counts (and the budgets in steps) are counted this way."


@exercise("04.normalised_score", "04_trajectory_datasets", "the normalised score", "normalised_score")
def _check_normalised_score(normalised_score):
    cases = [(7437.8, -285.0, 7437.8, "the expert itself"), (-285.0, -285.0, 7437.8, "random actions"),
             (3576.4, -285.0, 7437.8, "a HalfCheetah return half way between"),
             (-3000.0, -2900.0, -100.0, "a target-speed return just below random (negative returns)"),
             (9000.0, -285.0, 7437.8, "a return above the expert's")]
    for ret, random_ret, expert_ret, what in cases:
        got = _number(_call(normalised_score, ret, random_ret, expert_ret, case=what), what)
        expected = 100.0 * (ret - random_ret) / (expert_ret - random_ret)
        if abs(got - expected) < 1e-3:
            continue
        if abs(got - expected / 100) < 1e-5:
            raise Wrong(f"for {what} your score is {got:.3f}: on the D4RL scale used here, the expert is 100, "
                        "not 1; multiply by 100.")
        if abs(got - 100.0 * ret / expert_ret) < 1e-3:
            raise Wrong(f"for {what} your score is {got:.1f}, which divides by the expert's return alone. Subtract "
                        "the random return first, from the return and from the expert's: random scores 0.")
        clipped = min(max(expected, 0.0), 100.0)
        if abs(got - clipped) < 1e-3 and clipped != expected:
            raise Wrong(f"for {what} the score is {expected:.1f}: do not clip it, a policy can be worse than random "
                        "or better than the expert, and the score should show it.")
        raise Wrong(f"for {what} (return {ret}, random {random_ret}, expert {expert_ret}) the score is "
                    f"{expected:.1f}, yours is {got:.3f}: 100 × (R − R_random) / (R_expert − R_random).")
    return "The same scale as D4RL's normalised scores, which the Decision Transformer paper reports."


# --- 05 · Decision Transformer ---------------------------------------------------------------------
@exercise("05.returns_to_go", "05_decision_transformer", "returns-to-go", "returns_to_go")
def _check_returns_to_go(returns_to_go):
    from ..data.flat import returns_to_go as reference

    for rewards, what in [(np.array([3.0]), "a one-step episode"), (np.array([1.0, 2.0, 3.0, 4.0]), "rewards 1, 2, 3, 4"),
                          (np.array([5.0, -1.0, 0.0, 2.0, -3.0]), "rewards with negative steps")]:
        got = _array(_call(returns_to_go, rewards.copy(), case=what), rewards.shape, what)
        expected = reference(rewards, np.array([0]), np.array([len(rewards)]))
        if np.allclose(got, expected):
            continue
        if np.allclose(got, np.cumsum(rewards)):
            raise Wrong(f"for {what} you computed the return so far, {_fmt(got)}. The Decision Transformer is "
                        f"conditioned on the return still to come: {_fmt(expected)} (sum from t to the end).")
        if np.allclose(got, expected - rewards):
            raise Wrong(f"for {what} you left out each step's own reward: {_fmt(got)} instead of {_fmt(expected)}. "
                        "R_0 is the whole episode's return, the number a user asks for at the start.")
        raise Wrong(f"for {what} the returns-to-go are {_fmt(expected)}, yours are {_fmt(got)}: R_t = r_t + r_t+1 "
                    "+ ... + r_T.")
    return "At evaluation the DT starts from a requested R_0 and subtracts each reward it receives."


@exercise("05.causal_mask", "05_decision_transformer", "the causal attention mask", "causal_mask")
def _check_causal_mask(causal_mask):
    import torch
    import torch.nn.functional as F

    for n in (1, 3, 6):
        what = f"n = {n}"
        raw = _call(causal_mask, n, case=what)
        got = _array(raw, (n, n), what)
        if not np.isin(got, (0, 1)).all():
            raise Wrong(f"for {what} your mask holds {sorted(set(got.ravel()))[:4]}; use True (may attend) and False.")
        got = got.astype(bool)
        expected = np.tril(np.ones((n, n), bool))
        if (got == expected).all():
            continue
        if (got == expected.T).all():
            raise Wrong(f"for {what} your mask is transposed: row i is the query, so row 0 (the first token) may "
                        "see only column 0, and the last row may see everything.")
        if (got == np.tril(np.ones((n, n), bool), -1)).all():
            raise Wrong(f"for {what} your mask hides the diagonal: a token must attend to itself (the first token "
                        "would see nothing at all, and softmax over nothing is NaN).")
        i, j = map(int, np.argwhere(got != expected)[0])
        raise Wrong(f"for {what} token {i} {'may' if expected[i, j] else 'must not'} attend to token {j} "
                    f"({'the past or itself' if j <= i else 'the future'}); your mask says "
                    f"{'yes' if got[i, j] else 'no'}. Training on the future would let the model copy the action "
                    "it is asked to predict.")
    q = torch.randn(1, 1, 6, 4)
    mine = F.scaled_dot_product_attention(q, q, q, attn_mask=torch.as_tensor(got))
    if not torch.allclose(mine, F.scaled_dot_product_attention(q, q, q, is_causal=True), atol=1e-6):
        raise Wrong("your mask does not give the same attention as `is_causal=True`.")
    return "`helpers/models/dt.py` asks for the same mask with `scaled_dot_product_attention(is_causal=True)`."
