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


def test_gpu_dry_run_takes_the_gpu_branches_at_smoke_sizes(monkeypatch):
    from helpers.course.profiles import DRY_RUN_SIZES, GPU_DRY_RUN_ENV

    monkeypatch.setenv(GPU_DRY_RUN_ENV, "1")
    for notebook, budgets in BUDGETS.items():
        dry = profile_budget(notebook, "gpu")
        assert set(dry) == set(budgets["gpu"]), notebook
        for key, value in dry.items():
            gpu, smoke = budgets["gpu"][key], budgets["smoke"][key]
            want = DRY_RUN_SIZES.get(notebook, {}).get(key, gpu if isinstance(gpu, (bool, str)) else smoke)
            assert value == want, (notebook, key)
            # a step the gpu profile takes has a size in the dry run (None is the smoke profile's "never")
            assert not (gpu is not None and value is None), (notebook, key)
    # the branches that matter are the gpu profile's: train the experts, the full DT and generalist
    assert profile_budget("02_skill_experts", "gpu")["train"] is True
    assert profile_budget("06_goal_conditioned_generalist", "gpu")["train_full"] is True
    assert profile_budget("07_gpt2_instruction_translator", "gpu")["demo_model"] == "gpt2-medium"
    # only the gpu profile is affected
    assert profile_budget("02_skill_experts", "cpu") == BUDGETS["02_skill_experts"]["cpu"]
    monkeypatch.delenv(GPU_DRY_RUN_ENV)
    assert profile_budget("02_skill_experts", "gpu") == BUDGETS["02_skill_experts"]["gpu"]


def test_dry_run_refuses_other_profiles(capsys):
    from helpers.run_notebooks import main

    with pytest.raises(SystemExit):
        main(["--profile", "cpu", "--dry-run"])
    assert "gpu" in capsys.readouterr().err


def test_notebook_run_times_are_kept_per_notebook_and_for_a_whole_run(tmp_path, monkeypatch):
    import json

    from helpers.run_notebooks import record_run

    monkeypatch.setenv("COURSE_RESULTS_ROOT", str(tmp_path))
    record_run("cpu", "01_ppo_from_scratch", 90.0, 0.5)
    record_run("cpu", "00_setup_and_tour", 30.0, 0.2)
    record_run("cpu", "01_ppo_from_scratch", 120.0, 0.7)  # a rerun replaces its own entry only
    record_run("cpu", None, 150.0, 0.2, notebooks=2)
    runs = json.loads((tmp_path / "results" / "notebook_runs.cpu.json").read_text())
    assert list(runs["notebooks"]) == ["00_setup_and_tour", "01_ppo_from_scratch"]
    assert runs["notebooks"]["01_ppo_from_scratch"]["seconds"] == 120.0
    assert runs["notebooks"]["00_setup_and_tour"]["minutes"] == 0.5
    assert runs["all_notebooks"]["seconds"] == 150.0 and runs["all_notebooks"]["notebooks"] == 2
    with pytest.raises(Exception, match="smoke"):
        record_run("laptop", "00_setup_and_tour", 1.0, 0.0)  # an unknown profile names the valid ones
