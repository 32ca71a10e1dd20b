"""The course's one technical post: a hand-written template whose every number is filled in from the
results files and model cards by the export.

    python -m helpers.blog --executed build/executed/cpu --out blog   # writes blog/index.md from course/post.md

A placeholder names where its number lives and how to print it::

    {{nb05:dt_fraction_of_expert|.1%}}           results/05_*.<profile>.json, key path dt_fraction_of_expert
    {{card:dt:evaluation.mean_return|,.0f}}      pretrained/dt/card.json
    {{bench:collection_throughput:ratio|.2f}}    results/benchmarks/collection_throughput.json

Key paths are dotted; a list index is a number (``per_schedule.0.name``). A placeholder whose file
does not exist yet (a stage not run in this profile) prints as an em dash and is listed at the top
of the post; a placeholder whose file exists but lacks the key is an error naming both, so a renamed
key cannot silently empty the post. Numbers in the post's tables come only from placeholders: a test
checks that no table cell of the template holds a digit of its own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .. import REPO_ROOT
from ..core.errors import InvalidArgumentError

POST_TEMPLATE = REPO_ROOT / "course" / "post.md"
PLACEHOLDER = re.compile(r"\{\{\s*([^{}|]+?)\s*(?:\|\s*([^{}]*?)\s*)?\}\}")
MISSING = "—"


class Sources:
    """Where placeholders read from: results files of one profile, model cards and benchmarks."""

    def __init__(self, profile: str = "cpu", root: Path = REPO_ROOT):
        self.profile, self.root = profile, Path(root)
        self._cache: dict[Path, Any] = {}

    def file_for(self, source: str) -> tuple[Path | None, str]:
        """The file a placeholder's source names, and the key path left over."""
        kind, _, rest = source.partition(":")
        if kind.startswith("nb") and kind[2:].isdigit():
            matches = sorted((self.root / "results").glob(f"{kind[2:]}_*.{self.profile}.json"))
            return (matches[0] if matches else None), rest
        if kind in ("card", "bench"):
            name, _, path = rest.partition(":")
            file = (self.root / "pretrained" / name / "card.json" if kind == "card"
                    else self.root / "results" / "benchmarks" / f"{name}.json")
            return file, path
        raise InvalidArgumentError(f"placeholder source {source!r}: expected nbNN:key, card:NAME:key or "
                                   f"bench:NAME:key")

    def load(self, file: Path) -> Any:
        if file not in self._cache:
            self._cache[file] = json.loads(file.read_text())
        return self._cache[file]


def lookup(data: Any, path: str, where: str) -> Any:
    value = data
    for part in path.split(".") if path else []:
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            keys = sorted(value)[:20] if isinstance(value, dict) else type(value).__name__
            raise KeyError(f"{where}: no {part!r} in {path!r} (there: {keys})")
    return value


def render(template: str, sources: Sources) -> tuple[str, list[str]]:
    """The template with every placeholder filled; and the sources that do not exist yet."""
    missing: list[str] = []

    def fill(match: re.Match) -> str:
        source, fmt = match.group(1), match.group(2) or ""
        file, path = sources.file_for(source)
        if file is None or not file.exists():
            name = source.split(":")[0] if source.startswith("nb") else ":".join(source.split(":")[:2])
            if name not in missing:
                missing.append(name)
            return MISSING
        value = lookup(sources.load(file), path, f"{{{{{match.group(1)}}}}} in {file.relative_to(sources.root)}")
        if isinstance(value, (dict, list)):
            raise InvalidArgumentError(f"{{{{{source}}}}} is a {type(value).__name__}, not a number or text")
        return format(value, fmt) if fmt else str(value)

    return PLACEHOLDER.sub(fill, template), missing


def table_digits_outside_placeholders(template: str) -> list[str]:
    """Table rows of the template that hold a digit not produced by a placeholder (hand-typed)."""
    bad = []
    for line in template.splitlines():
        if line.lstrip().startswith("|"):
            stripped = PLACEHOLDER.sub("", line)
            # separator rows (|---|) and digits inside names (GPT-2, SmolLM2-135M, notebook 06) are words
            words = re.sub(r"[A-Za-z_][\w-]*", "", stripped)
            if re.search(r"(?<![\w.])\d", words.replace("[", " ").replace("]", " ")):
                bad.append(line)
    return bad


def write_post(out: Path, profile: str = "cpu", template_path: Path = POST_TEMPLATE,
               appendix: list[dict] | None = None, root: Path = REPO_ROOT) -> list[str]:
    """Render ``course/post.md`` to ``out`` (blog/index.md), with the per-notebook posts listed as
    appendices. Returns the sources not measured yet."""
    text, missing = render(Path(template_path).read_text(), Sources(profile, root))
    if missing:
        text = text.replace("<!-- not-measured -->", "> Not measured yet in the " + profile + " profile: "
                            + ", ".join(f"`{m}`" for m in missing) + " (their numbers show as " + MISSING + ").", 1)
    else:
        text = text.replace("<!-- not-measured -->\n", "", 1)
    if appendix:
        text += "\n## Appendices: one post per notebook\n\n" + "".join(
            f"- [{post['title']}]({post['stem']}/index.md)\n" for post in appendix)
    Path(out).write_text(text)
    return missing
