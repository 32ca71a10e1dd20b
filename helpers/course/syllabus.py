"""Refresh the numbers course/syllabus.md cites from the committed results files (``python -m
helpers.blog`` does it with the post).

Each citation is ``[NUMBER UNIT](../results/FILE.json "field.path[0].key")``; the number is rewritten
with the decimals it had, the unit kept. ``tests/test_syllabus.py`` fails when one is out of date.
"""

from __future__ import annotations

import json
import re

from .. import REPO_ROOT

SYLLABUS = REPO_ROOT / "course" / "syllabus.md"
CITATION = re.compile(r'\[([^\]]*?)\]\((\.\./results/[^ )]+\.json) "([^"]+)"\)')
NUMBER = re.compile(r"-?\d+(?:\.(\d+))?")


def field(data, path: str):
    """``data`` at a dotted path with ``[i]`` list indices (keys may hold spaces, not dots)."""
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        data = data[int(part[1:-1])] if part.startswith("[") else data[part]
    return data


def sync(text: str) -> str:
    def refresh(match: re.Match) -> str:
        shown, file, path = match.groups()
        value = float(field(json.loads((REPO_ROOT / "results" / file.removeprefix("../results/")).read_text()), path))
        number = NUMBER.search(shown.replace(",", ""))
        decimals = len(number.group(1) or "") if number else 1
        new = NUMBER.sub(f"{value:.{decimals}f}", shown.replace(",", ""), count=1)
        return f'[{new}]({file} "{path}")'

    return CITATION.sub(refresh, text)


def write_synced() -> bool:
    """Rewrite course/syllabus.md with its citations refreshed; True when something changed."""
    before = SYLLABUS.read_text()
    after = sync(before)
    SYLLABUS.write_text(after)
    return after != before
