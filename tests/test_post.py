"""The course's one post: every number filled from a results file or card, none typed into its tables,
and every link in it resolving."""

import json
import re

import pytest

from helpers import REPO_ROOT
from helpers.core.errors import InvalidArgumentError
from helpers.course.post import MISSING, POST_TEMPLATE, Sources, render, table_digits_outside_placeholders, write_post


def _tree(tmp_path):
    (tmp_path / "results" / "benchmarks").mkdir(parents=True)
    (tmp_path / "pretrained" / "dt").mkdir(parents=True)
    (tmp_path / "results" / "05_decision_transformer.cpu.json").write_text(json.dumps(
        {"dt_fraction_of_expert": 0.9866, "sweep": [{"target": 100}, {"target": 200}]}))
    (tmp_path / "pretrained" / "dt" / "card.json").write_text(json.dumps({"evaluation": {"mean_return": 5166.2}}))
    return Sources("cpu", tmp_path)


def test_placeholders_are_filled_formatted_and_missing_stages_are_flagged(tmp_path):
    sources = _tree(tmp_path)
    text, missing = render("DT {{nb05:dt_fraction_of_expert|.1%}}, return {{card:dt:evaluation.mean_return|,.0f}}, "
                           "second target {{nb05:sweep.1.target}}, generalist {{nb06:scores.iqm|.2f}}", sources)
    assert text == f"DT 98.7%, return 5,166, second target 200, generalist {MISSING}"
    assert missing == ["nb06"]


def test_a_renamed_key_is_an_error_naming_the_placeholder_and_file(tmp_path):
    sources = _tree(tmp_path)
    with pytest.raises(KeyError, match=r"dt_fraction.*05_decision_transformer.cpu.json"):
        render("{{nb05:dt_fraction|.1%}}", sources)
    with pytest.raises(InvalidArgumentError, match="expected nbNN:key"):
        render("{{results05:x}}", sources)
    with pytest.raises(InvalidArgumentError, match="dict"):
        render("{{card:dt:evaluation}}", sources)


def test_hand_typed_digits_in_a_table_are_caught():
    template = "| Stage | Number |\n|---|---|\n| GPT-2 on SmolLM2-135M | {{nb05:x|.2f}} |\n| DT | 0.98 |\n"
    assert table_digits_outside_placeholders(template) == ["| DT | 0.98 |"]


def test_the_course_post_has_no_hand_typed_table_numbers_and_renders_from_the_committed_results(tmp_path):
    template = POST_TEMPLATE.read_text()
    assert table_digits_outside_placeholders(template) == []
    out = tmp_path / "index.md"
    missing = write_post(out, "cpu")
    text = out.read_text()
    assert "{{" not in text and "}}" not in text
    # stages already measured are not flagged; those that are show in the note at the top
    for stage in missing:
        assert f"`{stage}`" in text.split("\n## ")[0]
    assert "nb05" not in missing and "card:dt" not in missing


def test_links_in_the_post_and_its_appendices_resolve():
    blog = REPO_ROOT / "blog"
    posts = [blog / "index.md", *sorted(blog.glob("*/index.md"))]
    broken = []
    for post in posts:
        for target in re.findall(r"\]\(([^)\s]+)\)", post.read_text()):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            if not (post.parent / target.split("#")[0]).exists():
                broken.append(f"{post.relative_to(REPO_ROOT)} -> {target}")
    assert not broken, broken
