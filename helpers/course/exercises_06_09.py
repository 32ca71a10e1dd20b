"""The checks of the exercises of lessons 06-09 (see :mod:`helpers.course.exercises`, the module to import).

Each check runs the student's function on small numpy cases (no model is loaded, nothing is simulated)
and, where the course has the function itself, compares with it.
"""

from __future__ import annotations

import numpy as np

from .exercise_base import Wrong, _array, _call, _fmt, _number, exercise


# --- 06 · goal-conditioned generalist --------------------------------------------------------------
def _loss_variants(pred, target, act_dims, mask):
    """The action loss, and what the typical mistakes compute instead (float64)."""
    A = pred.shape[-1]
    dims = (np.arange(A)[None, :] < np.asarray(act_dims)[:, None]).astype(float)  # (B, A)
    sq = (pred - target) ** 2 * dims[:, None, :]
    w = mask.astype(float)
    per_step = sq.sum(-1) / dims.sum(-1)[:, None]
    per_window = (per_step * w).sum(1) / w.sum(1)
    return {  # in the order they are tried: the first that matches an answer explains it
        "the mean over every step, padded steps included": float(per_step.mean()),
        "the mean over every number, padded action dimensions and padded steps included":
            float(np.mean((pred - target) ** 2)),
        "the squared errors of the real dimensions divided by all 17 slots":
            float(((sq.sum(-1) / A) * w).sum() / w.sum()),
        "one mean over all the real numbers of the batch":
            float((sq.sum(-1) * w).sum() / (dims.sum(-1)[:, None] * w).sum()),
        "a mean per window, then the mean of the windows": float(per_window.mean()),
    }


_LOSS_WHY = {
    "the mean over every number, padded action dimensions and padded steps included":
        "The cheetah acts with 6 numbers; the other 11 slots are padding, and what the head predicts there "
        "is never used: leave those dimensions out (and padded steps too).",
    "the squared errors of the real dimensions divided by all 17 slots":
        "Divide by the body's own number of action dimensions (6 for the cheetah), not by the padded width: "
        "dividing by 17 makes a cheetah step count for 6/17 of a humanoid step.",
    "the mean over every step, padded steps included":
        "A window shorter than the context is padded with steps that are not data (mask False): average over "
        "the real steps only.",
    "one mean over all the real numbers of the batch":
        "First the mean over each step's real dimensions, then the mean over the real steps: pooling every "
        "number makes a humanoid step (17 numbers) weigh almost three times a cheetah step (6).",
    "a mean per window, then the mean of the windows":
        "Average over all the batch's real steps at once: a mean per window first makes the one real step of "
        "a short window weigh as much as three steps of a full one.",
}


@exercise("06.action_loss", "06_goal_conditioned_generalist", "the action loss over each body's real dimensions",
          "action_loss")
def _check_action_loss(action_loss):
    import torch

    from ..models.generalist import Generalist, GeneralistConfig

    model = Generalist(GeneralistConfig(bodies={"cheetah": [17, 6], "humanoid": [45, 17]}, n_layer=1, n_embd=8,
                                        context_len=4, max_ep_len=8))
    rng = np.random.default_rng(6)
    cases = [("one humanoid window of 3 steps (every action dimension and step real)", [17], 3, [3]),
             ("one cheetah window of 3 steps (6 action dimensions, padded to 17)", [6], 3, [3]),
             ("one humanoid window of 4 steps whose last 2 steps are padding", [17], 4, [2]),
             ("a batch of a cheetah window and a humanoid window, 3 real steps each", [6, 17], 3, [3, 3]),
             ("a cheetah window with 1 real step and a humanoid window with 3", [6, 17], 3, [1, 3])]
    for what, act_dims, K, real in cases:
        B = len(act_dims)
        pred = rng.uniform(-1, 1, (B, K, 17))
        target = rng.uniform(-1, 1, (B, K, 17))
        mask = np.arange(K)[None, :] < np.asarray(real)[:, None]
        for b, d in enumerate(act_dims):  # padded dimensions and padded steps hold zeros in the data
            target[b, :, d:] = 0.0
        target[~mask] = 0.0
        act_dims = np.asarray(act_dims)
        got = _number(_call(action_loss, pred.copy(), target.copy(), act_dims.copy(), mask.copy(), case=what), what)
        body = torch.as_tensor([0 if d == 6 else 1 for d in act_dims])
        expected = float(model.loss(*(torch.as_tensor(x, dtype=torch.float32) for x in (pred, target)),
                                    torch.as_tensor(mask), body))
        if np.isclose(got, expected, rtol=1e-4, atol=1e-6):
            continue
        for label, value in _loss_variants(pred, target, act_dims, mask).items():
            if not np.isclose(value, expected, rtol=1e-4) and np.isclose(got, value, rtol=1e-4, atol=1e-6):
                raise Wrong(f"for {what} the loss is {expected:.4f}; yours, {got:.4f}, is {label}. {_LOSS_WHY[label]}")
        raise Wrong(f"for {what} the loss is {expected:.4f}, yours is {got:.4f}: the mean squared error over each "
                    "step's real action dimensions, then the mean over the real steps.")
    return "This is `Generalist.loss` (helpers/models/generalist.py), the curve of the demo run above."


def _speed_reference(speed):
    from ..models.generalist import GeneralistConfig, goal_features

    cfg = GeneralistConfig()
    skill = cfg.skills.index("jump" if speed is None else "target_speed")
    goal = goal_features(cfg, np.array([skill]), np.array([np.nan if speed is None else speed]))[0]
    return goal[len(cfg.skills):len(cfg.skills) + 1 + 2 * cfg.speed_frequencies].astype(np.float64)


def _fourier(v, scale=3.0, freq=np.pi, ks=range(1, 5), paired=True):
    x = v / scale
    sin, cos = [np.sin(freq * k * x) for k in ks], [np.cos(freq * k * x) for k in ks]
    rest = [f for pair in zip(sin, cos) for f in pair] if paired else sin + cos
    return np.array([x] + rest)


@exercise("06.speed_features", "06_goal_conditioned_generalist", "Fourier features of the target speed",
          "speed_features")
def _check_speed_features(speed_features):
    cases = [(0.0, "a target speed of 0 m/s (stand still)"), (1.5, "a target speed of 1.5 m/s"),
             (-3.0, "a target speed of -3 m/s, the fastest backwards"), (1.75, "1.75 m/s, a held-out speed"),
             (None, "a jump, a skill without a target speed (speed None)")]
    for speed, what in cases:
        got = _array(_call(speed_features, speed, case=what), (9,), what)
        expected = _speed_reference(speed)
        if np.allclose(got, expected, atol=1e-5):
            continue
        if speed is None:
            if np.isnan(got).any():
                raise Wrong(f"for {what} your features hold NaN. A skill without a speed goal gets nine zeros: one "
                            "NaN in a goal vector makes every output of the network NaN.")
            raise Wrong(f"for {what} the nine features are 0 (`goal_features` multiplies them by whether the skill "
                        f"takes a speed); yours are {_fmt(got)}, which reads as a speed to hold.")
        for label, alt in [("the speed in m/s, not divided by 3 (the top of the target-speed range)",
                            _fourier(speed, scale=1.0)),
                           ("angles 2π·k·v/3 where the model uses π·k·v/3", _fourier(speed, freq=2 * np.pi)),
                           ("all the sines, then all the cosines: the order is v/3, then sin and cos for k = 1, "
                            "then for k = 2, and so on", _fourier(speed, paired=False)),
                           ("k = 0..3 where it runs 1..4 (k = 0 gives sin 0 = 0 and cos 0 = 1 for every speed: "
                            "nothing learned from it)", _fourier(speed, ks=range(4)))]:
            if np.allclose(got, alt, atol=1e-5):
                raise Wrong(f"for {what} the features are {_fmt(expected)}; yours are {label}.")
        raise Wrong(f"for {what} the features are {_fmt(expected)}, yours are {_fmt(got)}: (v/3, sin(π·v/3), "
                    "cos(π·v/3), sin(2π·v/3), cos(2π·v/3), ..., up to k = 4).")
    return ("These are the speed entries of the goal vector (`helpers.models.generalist.goal_features`): nearby "
            "speeds get nearby codes, so a speed never trained on lies between trained ones.")


# --- 07 · the instruction translator ---------------------------------------------------------------
SMOLLM2_BLOCK = [(576, 576), (576, 192), (576, 192), (576, 576), (576, 1536), (576, 1536), (1536, 576)]
GPT2_MEDIUM_BLOCK = [(1024, 3072), (1024, 1024), (1024, 4096), (4096, 1024)]


@exercise("07.lora_parameters", "07_gpt2_instruction_translator", "LoRA's trainable parameters", "lora_parameters")
def _check_lora_parameters(lora_parameters):
    cases = [([(4, 6)], 2, "one 4 → 6 linear layer at rank 2"),
             (GPT2_MEDIUM_BLOCK, 16, "one GPT-2 Medium block at rank 16 (c_attn, attention c_proj, c_fc, MLP c_proj)"),
             (SMOLLM2_BLOCK, 16, "one SmolLM2 block at rank 16 (q, k, v, o, gate, up and down projections)")]
    for shapes, r, what in cases:
        got = _number(_call(lora_parameters, list(shapes), r, case=what), what)
        expected = sum(r * (i + o) for i, o in shapes)
        if got == expected:
            continue
        full = sum(i * o for i, o in shapes)
        for label, value in [("the full weights' count, what full fine-tuning trains", full),
                             ("r times the full weights: a rank-r update is the product of two thin matrices, "
                              "not r copies of the weight", r * full),
                             ("the frozen weights plus the adapters: the frozen weights are not trained",
                              full + expected),
                             ("A alone (r × d_in): B (d_out × r) is trained too", sum(r * i for i, _ in shapes)),
                             ("the first layer only: add every adapted layer", r * sum(shapes[0]))]:
            if value != expected and got == value:
                raise Wrong(f"for {what} LoRA trains {expected:,} numbers; your {got:,.0f} is {label}.")
        raise Wrong(f"for {what} LoRA trains {expected:,} numbers, you counted {got:,.0f}: beside a frozen d_in → "
                    "d_out weight it trains A (r × d_in) and B (d_out × r), r·(d_in + d_out) numbers.")
    block = sum(16 * (i + o) for i, o in SMOLLM2_BLOCK)
    return (f"SmolLM2-135M has 30 such blocks: {30 * block / 1e6:.2f}M trained numbers beside 134.5M frozen ones, "
            "under 4% (the shipped card's 139.4M parameters are the two together); the GPT-2 Medium estimate above "
            "counts its adapters the same way.")


@exercise("07.stated_numbers", "07_gpt2_instruction_translator", "only the numbers the instruction states",
          "only_stated_numbers")
def _check_stated_numbers(only_stated_numbers):
    from ..language.plans import copies_numbers, instruction_numbers

    cases = [
        ("run backwards at 2.5 m/s for 30 seconds!", "target_speed -2.5 30",
         "A sign is the plan's direction, not a number the instruction must state: compare 2.5, not -2.5."),
        ("do a flip", "front_flip - 10",
         "A step without a duration is written '-' (the default 10 s comes later): 10 is not in the instruction."),
        ("run at 2.5 m/s for 15 seconds", "target_speed 2.5 5",
         "Compare whole numbers: 5 is only a piece of 2.5 and of 15, not a number the instruction states."),
        ("run at 2.5 m/s for 15 seconds", "target_speed 2 15",
         "Compare whole numbers: 2 is only a piece of 2.5."),
        ("stand still for 4 seconds", "target_speed 0 4", "0 (\"stop\") is always allowed."),
        ("sprint for 15 seconds then run at 2.5 m/s for 5 seconds", "run_forward - 15 ; target_speed 2.5 5",
         "Every number of every step is stated, and '-', ';' and skill names are not numbers."),
        ("make me a sandwich", "unknown", "A refusal holds no number at all."),
    ]
    for instruction, plan, rule in cases:
        what = f"the plan {plan!r} for {instruction!r}"
        got = _call(only_stated_numbers, plan, instruction, case=what)
        if not isinstance(got, (bool, np.bool_)):
            raise Wrong(f"for {what} your function returned {got!r}; it should return True or False.")
        expected = copies_numbers(plan, instruction_numbers(instruction), complete=True)
        if bool(got) != expected:
            raise Wrong(f"for {what} the answer is {expected}, yours is {bool(got)}. {rule}")
    return ("This is the rule the decoder enforces token by token (`helpers.language.plans.copies_numbers`): the "
            "model copies numbers whole and invents none.")


# --- 08 · the language-driven agent ----------------------------------------------------------------
def _kappa_variants(a, b):
    pa, pb, obs = a.mean(), b.mean(), float((a == b).mean())
    out = {"the plain agreement (accuracy)": obs,
           "kappa with chance taken as 50%": (obs - 0.5) / 0.5}
    for label, chance in [("kappa with chance from the verifier's rate alone", pa * pa + (1 - pa) ** 2),
                          ("kappa with chance from the judge's rate alone", pb * pb + (1 - pb) ** 2),
                          ("kappa with chance as both saying success, leaving out both saying failure", pa * pb)]:
        if chance < 1:
            out[label] = (obs - chance) / (1 - chance)
    return out


@exercise("08.kappa", "08_language_driven_agent", "Cohen's kappa of a judge", "kappa")
def _check_kappa(kappa):
    from ..models.agent_eval import cohen_kappa

    T, F = True, False
    cases = [
        ("a judge that agrees with the verifier on all 4 rollouts", [T, T, F, F], [T, T, F, F],
         "Perfect agreement is kappa 1."),
        ("8 successes and 2 failures, and a judge that always says success", [T] * 8 + [F] * 2, [T] * 10,
         "It agrees 80% of the time, and so would anyone who always says success: kappa is 0. Chance agreement "
         "is p_v·p_j + (1 − p_v)·(1 − p_j), from the two raters' own rates of success."),
        ("a judge that always says the opposite of the verifier", [T, T, F, F], [F, F, T, T],
         "Worse than chance gives a negative kappa, here −1: do not clip it or take its absolute value."),
        ("a verifier with 6 successes of 10 and a judge that says success 3 times, agreeing on 7",
         [T] * 6 + [F] * 4, [T] * 3 + [F] * 7,
         "κ = (p_o − p_e) / (1 − p_e) with p_e = p_v·p_j + (1 − p_v)·(1 − p_j), the rates of both raters."),
    ]
    for what, a, b, rule in cases:
        a, b = np.array(a), np.array(b)
        got = _number(_call(kappa, a.copy(), b.copy(), case=what), what)
        expected = cohen_kappa(a, b)
        if abs(got - expected) < 1e-6:
            continue
        for label, value in _kappa_variants(a, b).items():
            if abs(value - expected) > 1e-6 and abs(got - value) < 1e-6:
                raise Wrong(f"for {what}, kappa is {expected:.3f}; yours, {got:.3f}, is {label}. {rule}")
        raise Wrong(f"for {what}, kappa is {expected:.3f}, yours is {got:.3f}. {rule}")
    for verdict in ("success", "failure"):
        what = f"a verifier and a judge that both say {verdict} on all 4 rollouts"
        same = np.full(4, verdict == "success")
        try:
            with np.errstate(all="ignore"):  # 0/0 in numpy is a warning and a NaN
                got = float(np.asarray(kappa(same.copy(), same.copy()), dtype=np.float64).reshape(()))
        except ZeroDivisionError:
            got = float("nan")
        except Exception as err:  # noqa: BLE001 -- reported, not raised
            raise Wrong(f"your function raised {type(err).__name__}: {err} (on {what}).") from None
        if got != 1.0:
            raise Wrong(f"for {what} your function gives {got}. Chance agrees on everything there too, so the "
                        "formula reads 0/0; `cohen_kappa` calls it perfect agreement, 1.0, so that a table never "
                        "shows NaN.")
    return "This is `helpers.models.agent_eval.cohen_kappa`, the kappa of the judge tables above."


def _step(index) -> str:
    return "None (every step passed)" if index is None else f"step {index}"


@exercise("08.first_failed_step", "08_language_driven_agent", "the verifier's first failed step", "first_failed_step")
def _check_first_failed_step(first_failed_step):
    from ..envs.metrics import skill_success

    def run(speed=2.0, up=1.0):
        return ("run_forward", {"mean_forward_speed": speed, "upright_fraction": up})

    def jump(height=0.5, up=1.0):
        return ("jump", {"mean_peak_height": height, "upright_fraction": up, "mean_forward_speed": 0.1})

    def hold(error):
        return ("target_speed", {"mean_abs_speed_error": error, "upright_fraction": 1.0})

    cases = [
        ("one run_forward step at 2 m/s, upright", [run()], "It meets every rule: the plan was carried out."),
        ("one run_forward step at 0.4 m/s", [run(speed=0.4)], "Running needs a mean forward speed of at least 1 m/s."),
        ("a fast run_forward step upright only half the time", [run(up=0.5)],
         "Every rule of the skill must hold, not just the first: running on its back is not running."),
        ("a target_speed step 0.1 m/s off on average", [hold(0.1)],
         "An error rule passes *below* its bar ('<=' in SUCCESS_RULES): 0.1 is within 0.25."),
        ("a target_speed step 0.4 m/s off on average", [hold(0.4)], "0.4 m/s is more than the 0.25 allowed."),
        ("a jump exactly at its bars (peak 0.3 m, upright 0.95)", [jump(0.3, 0.95)],
         "'>=' includes the bar itself."),
        ("a front flip: one flip, upright 40% of the time",
         [("front_flip", {"flips_per_episode": 1.0, "upright_fraction": 0.4})],
         "Check only the skill's own rules: a flip spends time upside down, and its rule does not ask otherwise."),
        ("a good run, then a jump that stays on the ground", [run(), jump(0.05)],
         "Step 1 (counted from 0) is the one that failed."),
        ("a slow run, then a jump that stays on the ground", [run(speed=0.3), jump(0.05)],
         "Return the *first* failure: the later steps started from a body that was not where it should be, "
         "and the agent's adjustment is aimed at the first."),
    ]
    for what, steps, rule in cases:
        got = _call(first_failed_step, [(s, dict(m)) for s, m in steps], case=what)
        expected = next((i for i, (s, m) in enumerate(steps) if not skill_success(s, m)[0]), None)
        if got is not None and (isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, np.integer))):
            raise Wrong(f"for {what} your function returned {got!r}; return the index of the failed step (0 for the "
                        "first), or None when every step passed.")
        if got != expected:
            raise Wrong(f"for {what} the answer is {_step(expected)}, yours is {_step(got)}. {rule}")
    return ("This is what `RuleVerifier` does with `skill_success` (helpers/language/judge.py): the oracle the LM "
            "judge is measured against.")


# --- 09 · scaling out ------------------------------------------------------------------------------
@exercise("09.split_episodes", "09_scaling_out", "splitting episodes over workers", "split_episodes")
def _check_split_episodes(split_episodes):
    cases = [(list(range(8)), 2, "8 episodes over 2 workers"), (list(range(10)), 3, "10 episodes over 3 workers"),
             (list(range(10)), 4, "10 episodes over 4 workers"),
             ([3, 7, 8, 9, 12], 2, "episodes 3, 7, 8, 9 and 12 (a resumed round) over 2 workers"),
             (list(range(3)), 8, "3 episodes over 8 workers"), (list(range(5)), 1, "5 episodes on 1 worker")]
    for ids, workers, what in cases:
        raw = _call(split_episodes, list(ids), workers, case=what)
        try:
            shares = [[int(i) for i in share] for share in raw]
        except (TypeError, ValueError):
            raise Wrong(f"for {what} your function returned {raw!r}; return a list of shares, each a list of "
                        "episode ids.") from None
        got = sorted(i for share in shares for i in share)
        lost, extra = sorted(set(ids) - set(got)), sorted(set(got) - set(ids))
        twice = sorted({i for i in got if got.count(i) > 1})
        sizes = [len(s) for s in shares]
        if extra:
            raise Wrong(f"for {what} your shares hold {extra}, which are not episodes of this round: share out the "
                        "ids you are given (a resumed round skips the ones already done).")
        if lost:
            raise Wrong(f"for {what} the ids {lost} are in no share: a lost episode leaves a hole in the dataset's "
                        "prefix, and the merge cannot finish.")
        if twice:
            raise Wrong(f"for {what} the ids {twice} are in two shares: they would be collected twice.")
        if 0 in sizes:
            raise Wrong(f"for {what} your shares have sizes {sizes}: an empty share still costs a Ray task, a "
                        "process and the expert's loading; make min(workers, episodes) shares.")
        if len(shares) != min(workers, len(ids)):
            raise Wrong(f"for {what} you made {len(shares)} shares of sizes {sizes}: with {workers} workers make "
                        f"{min(workers, len(ids))}, or a worker sits idle.")
        if max(sizes) - min(sizes) > 1:
            raise Wrong(f"for {what} your shares have sizes {sizes}: the job takes as long as the biggest share, so "
                        "sizes should differ by at most one.")
    return ("`helpers/data/collection.py` deals the ids out round robin, `ids[w::W]`; an episode's seed is its id, "
            "so the dataset is the same whichever worker runs it.")


def _share_variants(errors, mask, world):
    rows = np.split(np.arange(len(errors)), world)
    w = mask.astype(float)
    n = max(w.sum(), 1.0)
    strided = [np.arange(r, len(errors), world) for r in range(world)]
    return {
        "each rank's own mean over its real steps": [(errors[r] * w[r]).sum() / max(w[r].sum(), 1.0) for r in rows],
        "each share divided by the global batch's real steps, not by that over the processes":
            [(errors[r] * w[r]).sum() / n for r in rows],
        "sums and counts that take in the padded steps": [errors[r].sum() / (errors.size / world) for r in rows],
        "rows taken round robin (rank r gets rows r, r + W, ...)":
            [(errors[r] * w[r]).sum() / (n / world) for r in strided],
    }


_SHARE_WHY = {
    "each rank's own mean over its real steps":
        "The average of the ranks' means weighs a step of a mostly padded share more than a step of a full one. "
        "Divide every share's sum by the same number: the global batch's real steps over the processes.",
    "each share divided by the global batch's real steps, not by that over the processes":
        "DDP *averages* the ranks' gradients: your shares add up to the one-process loss, so their average is "
        "1/W of it and every step is W times too small.",
    "sums and counts that take in the padded steps":
        "Padded steps (mask False) are not data: leave them out of the sums and the count.",
    "rows taken round robin (rank r gets rows r, r + W, ...)":
        "Their average is right, but rank r's share is the contiguous rows [r·B/W, (r+1)·B/W), as `rank_share` cuts "
        "them.",
}


@exercise("09.share_losses", "09_scaling_out", "a global batch's loss over ranks", "share_losses")
def _check_share_losses(share_losses):
    rng = np.random.default_rng(9)
    cases = [("a global batch of 2 full windows on 1 process", 2, 3, [3, 3], 1),
             ("4 full windows over 2 processes", 4, 3, [3, 3, 3, 3], 2),
             ("4 windows over 2 processes (the second process's mostly padding)", 4, 4, [4, 4, 1, 2], 2),
             ("4 windows over 4 processes, 1 to 4 real steps each", 4, 4, [4, 1, 3, 2], 4)]
    for what, B, K, real, world in cases:
        mask = np.arange(K)[None, :] < np.asarray(real)[:, None]
        errors = rng.uniform(0, 2, (B, K))  # padded steps hold numbers too: the model predicts something there
        got = _array(_call(share_losses, errors.copy(), mask.copy(), world, case=what), (world,), what)
        rows = np.split(np.arange(B), world)
        expected = np.array([(errors[r] * mask[r]).sum() / (mask.sum() / world) for r in rows])
        if np.allclose(got, expected, atol=1e-9):
            continue
        for label, value in _share_variants(errors, mask, world).items():
            if not np.allclose(value, expected) and np.allclose(got, value, atol=1e-9):
                raise Wrong(f"for {what} the ranks' losses are {_fmt(expected)}; yours, {_fmt(got)}, are {label}. "
                            f"{_SHARE_WHY[label]}")
        raise Wrong(f"for {what} the ranks' losses are {_fmt(expected)}, yours are {_fmt(got)}: their average must be "
                    f"the one-process loss, {float(errors[mask].mean()):.3f}, the mean over the batch's real steps.")
    return ("This is the `share_denominator` of `helpers/models/generalist_training.py`: why 1 and 2 torchrun "
            "processes give the same loss curve above.")
