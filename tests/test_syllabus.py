"""course/syllabus.md: every lesson has a row with its time and hardware, every timing in it is read from a
committed results file (a link naming the file and the field), and it lists the notebooks' exercises."""

import json
import re

import pytest

from helpers import REPO_ROOT
from helpers.course.exercises import EXERCISES
from helpers.course.syllabus import CITATION, SYLLABUS, field  # [number unit](../results/FILE.json "field.path")

LESSONS = [f"{n:02d}" for n in range(10)]


def table(title):
    """The rows (lists of cells) of the first table after the heading ``title`` (or of the first table)."""
    text = SYLLABUS.read_text()
    if title:
        text = text.split(f"## {title}", 1)[1]
    lines = [line for line in text.split("\n\n| ", 1)[1].splitlines()]
    rows = []
    for line in ["| " + lines[0]] + lines[1:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split(" | ")])
    return rows[2:]  # without the header and the |---| line


def test_every_lesson_has_a_time_and_hardware_row():
    rows = table("Time and hardware per lesson")
    assert [r[0][:2] for r in rows] == LESSONS
    for row in rows:
        assert len(row) == 4 and row[1] and row[2], row
        assert row[2] == "not measured" or CITATION.search(row[2]), f"lesson {row[0]}: run time neither cited nor 'not measured'"


def test_every_timing_is_read_from_a_committed_results_file():
    text = SYLLABUS.read_text()
    citations = CITATION.findall(text)
    assert citations, "the syllabus cites no results file"
    for shown, file, path in citations:
        results = REPO_ROOT / "results" / file.removeprefix("../results/")
        assert results.exists(), f"{file} does not exist"
        value = field(json.loads(results.read_text()), path)
        number = re.search(r"-?\d+(?:\.(\d+))?", shown.replace(",", ""))
        assert number, f"{shown!r} shows no number"
        decimals = len(number.group(1) or "")
        assert round(float(value), decimals) == float(number.group(0)), \
            f"the syllabus says {shown!r} but {file} has {path} = {value}: run python -m helpers.blog"
    # no timing typed by hand: with the citations removed, no number with a unit of time is left
    for row in table("Time and hardware per lesson"):
        uncited = CITATION.sub("", " | ".join(row))
        typed = re.findall(r"\b\d[\d,.]*\s?(?:s|min|h|hours?|minutes?|seconds?)\b", uncited)
        assert not typed, f"lesson {row[0]}: timings not read from a results file: {typed}"


@pytest.mark.parametrize("exercise_id", sorted(EXERCISES))
def test_the_syllabus_lists_every_exercise(exercise_id):
    ex = EXERCISES[exercise_id]
    row = next(r for r in table(None) if r[0].startswith(ex.notebook[:2]))
    assert ex.title in row[2], f"the syllabus row of lesson {ex.notebook[:2]} does not list {ex.title!r}"
