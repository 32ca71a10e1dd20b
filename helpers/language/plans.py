"""Task plans as text: the small language the instruction translator writes, and its validation.

A plan is a list of steps (:class:`helpers.envs.skills.PlanStep`); each step is a skill from
:data:`helpers.envs.skills.SKILLS`, an optional target speed (m/s) and a duration (s). The translator model writes a plan as plain text,

    target_speed -1.5 3 ; jump - -          (run backwards at 1.5 m/s for 3 s, then jump)
    unknown                                 (nothing the skill table covers was asked for)

one step per ``;``, each step ``SKILL SPEED DURATION`` with ``-`` for "not given". That text is
*parsed* here, never executed, and checked against the skill table; anything that does not pass
becomes ``{"plan": [], "error": "..."}``.

Semantics (what the translator is trained to write, and what :func:`parse_plan` accepts):

* ``run_forward`` / ``run_backward``: "as fast as possible"; their target speed is always null.
* A speed in the instruction makes the step ``target_speed`` with a signed speed: forward is
  positive, backwards (or a negative number) is negative. "run backwards at 1.5 m/s" -> -1.5.
  "stand still" / "stop" is ``target_speed`` 0.0.
* ``jump``, ``front_flip``, ``walk``, ``stand_up``: target speed null. ``walk`` is the humanoid's
  skill and has no speed goal: a speed given with "walk" is not part of the plan.
* Durations: seconds, > 0 and <= MAX_DURATION_S; a step without one lasts DEFAULT_DURATION_S.
* Speeds are in m/s within TARGET_SPEED_RANGE; km/h, mph and number words are converted to m/s
  digits by :mod:`helpers.language.text` before the model sees the text (rounded to 0.01).
* ``unknown`` marks a request no skill covers ("fly to the moon"); a plan containing it is an error.
"""

from __future__ import annotations

import re
from typing import Any

from ..envs.skills import DEFAULT_DURATION_S, MAX_DURATION_S, SKILLS, PlanError, PlanStep

__all__ = ["DEFAULT_DURATION_S", "MAX_DURATION_S", "MAX_PLAN_STEPS", "PlanError", "PlanStep", "parse_plan",
           "plan_result", "plan_text", "format_number", "is_plan_prefix", "is_complete_plan", "instruction_numbers",
           "copies_numbers"]

MAX_PLAN_STEPS = 5
UNKNOWN = "unknown"  # the translator's word for "no skill covers this"
NULL = "-"
STEP_SEPARATOR = " ; "
MAX_INT_DIGITS = 4  # numbers the grammar admits: up to 9999.99
MAX_DECIMALS = 2


def format_number(value: float) -> str:
    """The canonical text of a number in plans and normalised instructions: 2, 1.5, -0.75, 1.39."""
    text = f"{round(float(value), MAX_DECIMALS):.{MAX_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def step_text(skill: str, target_speed: float | None = None, duration_s: float | None = None) -> str:
    if skill == UNKNOWN:
        return UNKNOWN
    speed = NULL if target_speed is None else format_number(target_speed)
    duration = NULL if duration_s is None else format_number(duration_s)
    return f"{skill} {speed} {duration}"


def plan_text(steps: list[tuple]) -> str:
    """``[("target_speed", -1.5, 3), ("jump", None, None)]`` -> ``"target_speed -1.5 3 ; jump - -"``."""
    return STEP_SEPARATOR.join(step_text(*step) for step in steps)


# --- syntax: used both to parse and, on prefixes, to constrain decoding -------------------------
_NUMBER = re.compile(rf"-?\d{{1,{MAX_INT_DIGITS}}}(\.\d{{1,{MAX_DECIMALS}}})?")
_NUMBER_PREFIX = re.compile(rf"-?(\d{{1,{MAX_INT_DIGITS}}}(\.\d{{0,{MAX_DECIMALS}}})?)?")
_STEP_WORDS = tuple(SKILLS) + (UNKNOWN,)


def _field_kind(position: int, first_word: str) -> str:
    """What the word at ``position`` of a step must be: skill, number, or the separator."""
    if position == 0:
        return "skill"
    if first_word == UNKNOWN or position >= 3:
        return "separator"
    return "number"


def is_plan_prefix(text: str) -> bool:
    """Could ``text`` still grow into a syntactically valid plan? (Constrained decoding asks this.)"""
    words = text.split(" ")
    steps, position, first = 1, 0, ""
    for i, word in enumerate(words):
        last = i == len(words) - 1
        kind = _field_kind(position, first)
        if kind == "skill":
            ok = any(w.startswith(word) for w in _STEP_WORDS) if last else word in _STEP_WORDS
            first = word
        elif kind == "number":
            ok = bool(_NUMBER_PREFIX.fullmatch(word)) if last else (word == NULL or bool(_NUMBER.fullmatch(word)))
        else:
            ok = word in ("", ";") if last else word == ";"
            if ok and not last:
                steps += 1
                if steps > MAX_PLAN_STEPS:
                    return False
        if not ok:
            return False
        position = 0 if kind == "separator" and not last else position + 1
    return True


_ANY_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def instruction_numbers(normalised: str) -> frozenset[str]:
    """The numbers a plan for ``normalised`` may contain, unsigned: those the instruction states
    (as written and in canonical form) and 0 ("stop"). Every plan in the generated data obeys this;
    decoding enforces it so that the model copies numbers whole ("599", never "59") and invents none."""
    found = _ANY_NUMBER.findall(normalised)
    return frozenset(found) | {format_number(float(n)) for n in found} | {"0"}


def copies_numbers(text: str, allowed: frozenset[str], complete: bool = False) -> bool:
    """Is every number in plan text ``text`` one of ``allowed`` (ignoring sign)? The last word may be a
    number still being written, and then only has to start one of them, unless ``complete``."""
    words = text.split(" ")
    for i, word in enumerate(words):
        digits = word.lstrip("-")
        if not digits or not digits[0].isdigit():
            continue  # a skill, "-" (not given), ";" or nothing yet
        if i == len(words) - 1 and not complete:
            if not any(n.startswith(digits) for n in allowed):
                return False
        elif digits not in allowed:
            return False
    return True


def is_complete_plan(text: str) -> bool:
    """Is ``text`` a whole plan (every step complete), so that decoding may stop here?"""
    steps = text.split(STEP_SEPARATOR)
    if not text or len(steps) > MAX_PLAN_STEPS:
        return False
    for step in steps:
        words = step.split(" ")
        if words == [UNKNOWN]:
            continue
        if len(words) != 3 or words[0] not in SKILLS:
            return False
        if not all(w == NULL or _NUMBER.fullmatch(w) for w in words[1:]):
            return False
    return True


# --- semantics ----------------------------------------------------------------------------------
def _number(word: str, what: str, step_no: int) -> float | None:
    if word == NULL:
        return None
    if not _NUMBER.fullmatch(word):
        raise PlanError(f"step {step_no}: {what} {word!r} is not a number (expected e.g. 1.5, -2 or '-')")
    return float(word)


def parse_plan(text: str) -> list[PlanStep]:
    """Parse and validate a plan text against the skill table; raises :class:`PlanError`."""
    text = text.strip()
    if not text:
        raise PlanError("the translator produced an empty plan")
    raw_steps = [s.strip() for s in text.split(";")]
    if len(raw_steps) > MAX_PLAN_STEPS:
        raise PlanError(f"the plan has {len(raw_steps)} steps; at most {MAX_PLAN_STEPS} are allowed")
    known = ", ".join(SKILLS)
    if all(s == UNKNOWN for s in raw_steps):
        raise PlanError(f"the instruction asks for nothing the skills cover; known skills: {known}")
    steps = []
    for no, raw in enumerate(raw_steps, 1):
        words = raw.split()
        if words == [UNKNOWN]:
            raise PlanError(f"step {no} of the instruction asks for something no skill covers; known skills: {known}")
        if not words or words[0] not in SKILLS:
            name = words[0] if words else ""
            raise PlanError(f"step {no}: unknown skill {name!r}; known skills: {known}")
        if len(words) != 3:
            raise PlanError(f"step {no}: {raw!r} is malformed; expected 'SKILL SPEED DURATION' with '-' for not given")
        skill, speed, duration = words[0], _number(words[1], "speed", no), _number(words[2], "duration", no)
        try:  # the skill table's rules (helpers.envs.skills.PlanStep), with the step's number in front
            steps.append(PlanStep(skill, speed, DEFAULT_DURATION_S if duration is None else duration))
        except PlanError as exc:
            raise PlanError(f"step {no}: {exc}") from None
    return steps


def plan_result(text: str) -> dict[str, Any]:
    """The JSON answer of the translate CLI for one model output text."""
    try:
        return {"plan": [step.to_json() for step in parse_plan(text)]}
    except PlanError as exc:
        return {"plan": [], "error": str(exc)}
