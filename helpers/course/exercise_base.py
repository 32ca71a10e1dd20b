"""What every exercise check is built from: the registry, the ``@exercise`` decorator, ``Wrong``
(how a check explains a wrong answer) and the small helpers that call a student's function safely.

The checks live in :mod:`helpers.course.exercises` (lessons 00-05) and
:mod:`helpers.course.exercises_06_09` (lessons 06-09); both register here, and
:mod:`helpers.course.exercises` is the module the notebooks import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id (``"NN.name"``), its notebook, a title, and the check of an answer."""

    id: str
    notebook: str
    title: str
    answer: str  # the name of the function the starter cell defines
    run: Callable[[Any], str]  # raises Wrong with an explanation, or returns what a correct answer shows


@dataclass(frozen=True)
class Feedback:
    ok: bool
    message: str

    def __str__(self) -> str:
        return self.message


class Wrong(Exception):
    """Raised inside a check with the explanation of what is wrong."""


EXERCISES: dict[str, Exercise] = {}


def exercise(id: str, notebook: str, title: str, answer: str):
    def register(run: Callable[[Any], str]) -> Callable[[Any], str]:
        EXERCISES[id] = Exercise(id, notebook, title, answer, run)
        return run
    return register


# --- helpers for the checks ------------------------------------------------------------------------
def _call(fn: Callable, *args, case: str):
    """Call the student's function; its exceptions become an explanation naming the case."""
    try:
        return fn(*args)
    except Exception as err:  # noqa: BLE001 -- any error in student code is reported, not raised
        raise Wrong(f"your function raised {type(err).__name__}: {err} (on {case}).") from None


def _number(value, case: str) -> float:
    try:
        out = float(np.asarray(value, dtype=np.float64).reshape(()))
    except (TypeError, ValueError):
        raise Wrong(f"on {case} your function returned {value!r}; it should return one number.") from None
    if not math.isfinite(out):
        raise Wrong(f"on {case} your function returned {out}, which is not a finite number.")
    return out


def _array(value, shape: tuple, case: str) -> np.ndarray:
    if value is None:
        raise Wrong(f"on {case} your function returned None: did it forget to `return`?")
    try:
        out = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value, dtype=np.float64)
    except (TypeError, ValueError):
        raise Wrong(f"on {case} your function returned {type(value).__name__}, not an array of numbers.") from None
    if out.shape != shape:
        raise Wrong(f"on {case} your function returned shape {out.shape}; expected {shape}.")
    return out


def _fmt(a) -> str:
    return np.array2string(np.asarray(a, dtype=np.float64), precision=3, suppress_small=True, separator=", ")
