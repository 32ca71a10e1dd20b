import json

import pytest

from helpers.course.profiles import (BUDGETS, PROFILES, UnknownProfileError, check_profile, profile_budget, results_path, write_results)


def test_unknown_profile_names_the_valid_ones():
    with pytest.raises(UnknownProfileError) as err:
        check_profile("bogus")
    for name in ("bogus", "smoke", "cpu", "gpu"):
        assert name in str(err.value)


def test_every_notebook_has_a_budget_for_every_profile():
    for notebook, budgets in BUDGETS.items():
        assert set(budgets) == set(PROFILES), notebook
        # all profiles define the same knobs, so a notebook never needs a profile-specific branch
        keys = {p: set(b) for p, b in budgets.items()}
        assert len({frozenset(k) for k in keys.values()}) == 1, (notebook, keys)


def test_budget_is_a_copy():
    b = profile_budget("00_setup_and_tour", "smoke")
    b["video_steps"] = -1
    assert profile_budget("00_setup_and_tour", "smoke")["video_steps"] != -1


def test_results_round_trip(tmp_path):
    path = write_results("00_setup_and_tour", "smoke", {"x": 1.5}, root=tmp_path)
    assert path == results_path("00_setup_and_tour", "smoke", root=tmp_path)
    assert path.name == "00_setup_and_tour.smoke.json"
    data = json.loads(path.read_text())
    assert data["x"] == 1.5 and data["profile"] == "smoke" and "machine" in data
    with pytest.raises(UnknownProfileError):
        write_results("00_setup_and_tour", "laptop", {}, root=tmp_path)
