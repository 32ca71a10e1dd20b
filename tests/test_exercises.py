"""The notebooks' exercises: every check passes on its solution, fails with an explanation on the
notebook's own starter, and names the typical mistakes it was written to catch."""

import ast
import math

import numpy as np
import pytest

from helpers.course.exercises import EXERCISES, Wrong, check, evaluate, solution
from helpers.course.notebooks import notebook_sources

LESSONS = sorted({ex.notebook for ex in EXERCISES.values()})


def exercise_cells(source):
    """The source of every cell tagged ``exercise`` in a percent script."""
    import jupytext

    nb = jupytext.read(source)
    return [cell.source for cell in nb.cells if cell.cell_type == "code" and "exercise" in cell.metadata.get("tags", [])]


def starters(stem):
    """{exercise id: the starter function} of one notebook, by running its exercise cells without the
    ``check(...)`` calls (the way the notebook defines them)."""
    namespace, found = {}, {}
    for cell in exercise_cells(notebook_sources([stem])[0]):
        tree = ast.parse(cell)
        calls = [node.value for node in tree.body if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                 and getattr(node.value.func, "id", None) == "check"]
        tree.body = [node for node in tree.body if not (isinstance(node, ast.Expr) and node.value in calls)]
        exec(compile(tree, f"{stem} exercise cell", "exec"), namespace)
        for call in calls:
            exercise_id = ast.literal_eval(call.args[0])
            found[exercise_id] = eval(compile(ast.Expression(call.args[1]), stem, "eval"), namespace)
    return found


def test_the_first_lessons_each_have_one_to_three_exercises():
    assert LESSONS == [p.stem for p in notebook_sources([f"{n:02d}" for n in range(10)])]
    for stem in LESSONS:
        n = sum(ex.notebook == stem for ex in EXERCISES.values())
        assert 1 <= n <= 3, (stem, n)


@pytest.mark.parametrize("stem", LESSONS)
def test_every_exercise_of_a_notebook_is_in_its_exercises_section(stem):
    source = notebook_sources([stem])[0]
    text = source.read_text()
    assert "\n# ## Exercises\n" in text, f"{source.name} has no '## Exercises' section"
    assert text.index("## Exercises") > text.rindex("lesson.save()"), "the exercises come after the results are saved"
    import jupytext

    nb = jupytext.read(source)
    first = next(i for i, c in enumerate(nb.cells) if c.source.startswith("## Exercises"))
    untagged = [c.source[:40] for c in nb.cells[first:] if "exercise" not in c.metadata.get("tags", [])]
    assert not untagged, f"every cell of the exercises section is tagged 'exercise' (the blog can drop them): {untagged}"
    found = starters(stem)
    expected = {i for i, ex in EXERCISES.items() if ex.notebook == stem}
    assert set(found) == expected, f"{source.name} checks {sorted(found)}, the registry has {sorted(expected)}"
    for exercise_id, fn in found.items():
        assert fn.__name__ == EXERCISES[exercise_id].answer, (exercise_id, fn.__name__)
        assert "TODO" in "\n".join(exercise_cells(source)), source


@pytest.mark.parametrize("exercise_id", sorted(EXERCISES))
def test_the_check_passes_on_the_solution(exercise_id):
    feedback = evaluate(exercise_id, solution(exercise_id))
    assert feedback.ok, feedback.message
    assert feedback.message.startswith("✓")


@pytest.mark.parametrize("exercise_id", sorted(EXERCISES))
def test_the_check_explains_why_the_starter_fails(exercise_id):
    starter = starters(EXERCISES[exercise_id].notebook)[exercise_id]
    feedback = evaluate(exercise_id, starter)
    assert not feedback.ok, f"the starter of {exercise_id} already passes its check"
    assert feedback.message.startswith("✗") and "raised" not in feedback.message, feedback.message
    assert len(feedback.message.split(". ", 1)[1]) > 40, f"too short an explanation: {feedback.message}"


def test_check_prints_and_never_raises(capsys):
    def broken(*args):
        raise ZeroDivisionError("oops")

    assert check("05.returns_to_go", broken) is False
    out = capsys.readouterr().out
    assert "ZeroDivisionError: oops" in out and "a one-step episode" in out
    assert check("05.returns_to_go", None) is False  # not a function: a plain-words message, not a TypeError
    assert "pass the function" in capsys.readouterr().out
    assert check("05.returns_to_go", solution("05.returns_to_go")) is True
    with pytest.raises(KeyError, match="known: 00.forward_speed"):  # a typo in the id is the notebook's bug
        evaluate("05.return_to_go", broken)


# --- typical mistakes get their own explanation ------------------------------------------------------
def _gae_without_lambda(r, v, nv, term, trunc, gamma, lam):
    return solution("01.gae")(r, v, nv, term, trunc, gamma, 1.0)


def _gae_keeping_terminal_value(r, v, nv, term, trunc, gamma, lam):
    return solution("01.gae")(r, v, nv, np.zeros_like(term), trunc | term, gamma, lam)


def _gae_across_episodes(r, v, nv, term, trunc, gamma, lam):
    adv, nxt = np.zeros(len(r)), 0.0
    for t in reversed(range(len(r))):
        nxt = r[t] + gamma * nv[t] * (1 - term[t]) - v[t] + gamma * lam * nxt
        adv[t] = nxt
    return adv


def _padded_dims(p, d):
    return (np.arange(p.shape[-1])[None, :] < np.asarray(d)[:, None])[:, None, :]


def _loss_over_all_slots(p, t, d, m):
    return float((((p - t) ** 2 * _padded_dims(p, d)).sum(-1) / p.shape[-1])[m].mean())


def _loss_pooled(p, t, d, m):
    dims = _padded_dims(p, d)
    return float(((p - t) ** 2 * dims).sum(-1)[m].sum() / np.broadcast_to(dims.sum(-1), m.shape)[m].sum())


def _loss_per_window(p, t, d, m):
    dims = _padded_dims(p, d)
    per_step = ((p - t) ** 2 * dims).sum(-1) / dims.sum(-1)
    return float(np.mean([per_step[b][m[b]].mean() for b in range(len(p))]))


def _kappa_without_edge_case(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    chance = a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean())
    return (np.mean(a == b) - chance) / (1 - chance)


def _rule_failures(steps, passes):
    from helpers.envs.metrics import SUCCESS_RULES

    return [i for i, (skill, m) in enumerate(steps)
            if not all(passes(m[key], op, bar) for key, op, bar in SUCCESS_RULES[skill])]


def _failed_with_greater_or_equal_only(steps):
    return next(iter(_rule_failures(steps, lambda v, op, bar: v >= bar)), None)


def _failed_requiring_upright(steps):
    ok = lambda v, op, bar: v >= bar if op == ">=" else v <= bar  # noqa: E731
    failed = _rule_failures(steps, ok)
    failed += [i for i, (_, m) in enumerate(steps) if m.get("upright_fraction", 1.0) < 0.9]
    return min(failed, default=None)


def _last_failed(steps):
    failed = _rule_failures(steps, lambda v, op, bar: v >= bar if op == ">=" else v <= bar)
    return failed[-1] if failed else None


def _split_in_ceil_chunks(ids, workers):
    size = -(-len(ids) // workers)
    return [ids[i:i + size] for i in range(0, len(ids), size)]


MISTAKES = [
    ("00.forward_speed", lambda obs: float(obs[9]), "index 9"),
    ("00.upright", lambda obs: bool(abs(obs[1]) < math.pi / 2), "not wrapped"),
    ("00.upright", lambda obs: bool(obs[1] < math.pi / 2), "up axis points above the horizontal"),
    ("01.gae", _gae_without_lambda, "as if λ were 1"),
    ("01.gae", _gae_keeping_terminal_value, "keeping the next value at the terminated step"),
    ("01.gae", _gae_across_episodes, "carrying the advantage across the episode's end"),
    ("01.clip", lambda r, a, e: -solution("01.clip")(r, a, e), "wrong sign"),
    ("01.clip", lambda r, a, e: np.clip(r, 1 - e, 1 + e) * a, "without the min"),
    ("01.clip", lambda r, a, e: np.maximum(r * a, np.clip(r, 1 - e, 1 + e) * a), "the max"),
    ("02.jump_reward", lambda info, a: solution("02.jump_reward")(info, a) + 0.1 * float(np.sum(np.square(a))),
     "control cost"),
    ("02.jump_reward", lambda info, a: solution("02.jump_reward")(info | {"x_velocity": max(info["x_velocity"], 0)}, a),
     "absolute speed"),
    ("03.fell_over", lambda up, dt: bool(np.sum(np.asarray(up) <= 0) * dt > 1.0), "not <= 0"),
    ("03.fell_over", lambda up, dt: bool(np.sum(np.asarray(up) < 0) > 20), "seconds, not steps"),
    ("03.time_to_behaviour", lambda r, s, f, dt: float(np.argmax(np.asarray(r) >= s - 0.2 * (s - f)) * dt)
     if np.any(np.asarray(r) >= s - 0.2 * (s - f)) else len(r) * dt, "1 s window"),
    ("03.time_to_behaviour", lambda r, s, f, dt: solution("03.time_to_behaviour")(r, s, 0.0, dt), "−0.48"),
    ("04.total_steps", lambda eps: sum(len(e.observations) for e in eps), "n + 1 observations"),
    ("04.total_steps", lambda eps: len(eps), "the number of episodes"),
    ("04.normalised_score", lambda r, lo, hi: (r - lo) / (hi - lo), "multiply by 100"),
    ("04.normalised_score", lambda r, lo, hi: 100 * r / hi, "Subtract the random return"),
    ("04.normalised_score", lambda r, lo, hi: float(np.clip(100 * (r - lo) / (hi - lo), 0, 100)), "do not clip"),
    ("05.returns_to_go", lambda r: np.cumsum(r), "return so far"),
    ("05.returns_to_go", lambda r: solution("05.returns_to_go")(r) - r, "own reward"),
    ("05.causal_mask", lambda n: np.triu(np.ones((n, n), bool)), "transposed"),
    ("05.causal_mask", lambda n: np.tril(np.ones((n, n), bool), -1), "hides the diagonal"),
    ("05.causal_mask", lambda n: np.tril(np.ones((n, n))) * 0.5, "use True"),
    ("06.action_loss", lambda p, t, d, m: float(np.mean((p - t)[m] ** 2)), "leave those dimensions out"),
    ("06.action_loss", _loss_over_all_slots, "not by the padded width"),
    ("06.action_loss", _loss_pooled, "almost three times"),
    ("06.action_loss", _loss_per_window, "a mean per window"),
    ("06.speed_features", lambda v: None if v is None else solution("06.speed_features")(3 * v), "not divided by 3"),
    ("06.speed_features", lambda v: np.zeros(9) if v is None else np.r_[v / 3, np.sin(np.pi * np.arange(1, 5) * v / 3),
                                                                          np.cos(np.pi * np.arange(1, 5) * v / 3)],
     "all the sines, then all the cosines"),
    ("06.speed_features", lambda v: solution("06.speed_features")(0.0 if v is None else v), "reads as a speed"),
    ("06.speed_features", lambda v: solution("06.speed_features")(np.nan if v is None else v), "NaN"),
    ("07.lora_parameters", lambda shapes, r: r * sum(i * o for i, o in shapes), "two thin matrices"),
    ("07.lora_parameters", lambda shapes, r: sum(r * i for i, o in shapes), "A alone"),
    ("07.lora_parameters", lambda shapes, r: r * sum(shapes[0]), "the first layer only"),
    ("07.stated_numbers", lambda plan, text: all(w.lstrip("-") in text for w in plan.split()
                                                 if w.lstrip("-")[:1].isdigit()),
     "only a piece of 2.5 and of 15"),
    ("07.stated_numbers", lambda plan, text: all(w in text for w in plan.split() if w.lstrip("-")[:1].isdigit()),
     "A sign is the plan's direction"),
    ("07.stated_numbers", lambda plan, text: solution("07.stated_numbers")(plan, text) and " 0 " not in plan,
     "0 (\"stop\") is always allowed"),
    ("08.kappa", lambda a, b: float(np.mean(a == b)), "the plain agreement"),
    ("08.kappa", lambda a, b: (np.mean(a == b) - 0.5) / 0.5, "chance taken as 50%"),
    ("08.kappa", lambda a, b: abs(solution("08.kappa")(a, b)), "negative kappa"),
    ("08.kappa", _kappa_without_edge_case, "never shows NaN"),
    ("08.first_failed_step", lambda steps: None, "at least 1 m/s"),
    ("08.first_failed_step", _failed_with_greater_or_equal_only, "*below* its bar"),
    ("08.first_failed_step", _failed_requiring_upright, "own rules"),
    ("08.first_failed_step", lambda steps: _last_failed(steps), "*first* failure"),
    ("09.split_episodes", lambda ids, w: [ids[i * (len(ids) // w):(i + 1) * (len(ids) // w)] for i in range(w)],
     "in no share"),
    ("09.split_episodes", lambda ids, w: [list(s) for s in np.array_split(ids, w)], "empty share"),
    ("09.split_episodes", lambda ids, w: [list(range(len(ids)))[i::min(w, len(ids))] for i in range(min(w, len(ids)))],
     "not episodes of this round"),
    ("09.split_episodes", _split_in_ceil_chunks, "differ by at most one"),
    ("09.share_losses", lambda e, m, w: np.array([e[r][m[r]].mean() for r in np.split(np.arange(len(e)), w)]),
     "own mean"),
    ("09.share_losses", lambda e, m, w: np.array([(e[r] * m[r]).sum() / m.sum()
                                                  for r in np.split(np.arange(len(e)), w)]),
     "1/W of it"),
    ("09.share_losses", lambda e, m, w: np.array([(e[r] * m[r]).sum() / (m.sum() / w) for r in
                                                  [np.arange(k, len(e), w) for k in range(w)]]), "rank_share"),
]


@pytest.mark.parametrize("exercise_id, answer, explanation", MISTAKES,
                         ids=[f"{m[0]}-{m[2][:24]}" for m in MISTAKES])
def test_a_typical_mistake_gets_its_explanation(exercise_id, answer, explanation):
    feedback = evaluate(exercise_id, answer)
    assert not feedback.ok and explanation in feedback.message, feedback.message


def test_every_exercise_has_a_mistake_test():
    assert {m[0] for m in MISTAKES} == set(EXERCISES)


def test_wrong_is_the_checks_only_way_to_fail():
    # a check that raised anything but Wrong on a bad answer would crash a student's notebook
    for exercise_id in EXERCISES:
        try:
            evaluate(exercise_id, lambda *args: "not a number")
        except Wrong:  # pragma: no cover - evaluate turns Wrong into Feedback
            pytest.fail(f"{exercise_id}: Wrong escaped evaluate")
