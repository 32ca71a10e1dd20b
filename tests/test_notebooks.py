"""Execute every notebooks/NN_*.py in the smoke profile with papermill and check its results file.

New notebooks are picked up automatically; NOTEBOOK_CHECKS adds notebook-specific assertions.
Executed notebooks are kept in build/executed/smoke/ for inspection.
"""

import json
import math
import time

import pytest

from helpers.profiles import results_path
from helpers.run_notebooks import EXECUTED_DIR, execute_notebook, notebook_sources

# Wall-clock limit per notebook in the smoke profile (seconds); default below.
TIME_LIMITS = {"00_setup_and_tour": 90}
DEFAULT_LIMIT = 240


def _finite_numbers(obj, path="results"):
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return
    if isinstance(obj, (int, float)):
        assert math.isfinite(obj), f"{path} is not finite: {obj}"
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _finite_numbers(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _finite_numbers(v, f"{path}[{i}]")


def check_00(res):
    assert res["rendering"]["works"], res["rendering"]
    assert res["bodies"]["cheetah"] == {"obs_dim": 17, "action_dim": 6, "frame_skip": 5}
    assert res["bodies"]["humanoid"]["obs_dim"] == 45
    for body, video in res["videos"].items():
        from helpers import REPO_ROOT

        assert (REPO_ROOT / video).stat().st_size > 1000, video
    cheetah = res["simulator_speed"]["cheetah"]
    # physics is faster than physics plus Python, and both are in a plausible range for one core
    assert 1_000 < cheetah["env_step_per_s"] < 200_000
    assert cheetah["mj_step_per_s"] / 5 > 0.5 * cheetah["env_step_per_s"]


NOTEBOOK_CHECKS = {"00_setup_and_tour": check_00}


@pytest.mark.notebook
@pytest.mark.parametrize("source", notebook_sources(), ids=lambda p: p.stem)
def test_notebook_smoke(source):
    res_file = results_path(source.stem, "smoke")
    res_file.unlink(missing_ok=True)
    limit = TIME_LIMITS.get(source.stem, DEFAULT_LIMIT)
    t0 = time.time()
    executed = execute_notebook(source, "smoke", EXECUTED_DIR / "smoke", timeout=limit)
    elapsed = time.time() - t0
    assert executed.exists()
    assert elapsed < limit, f"{source.stem} took {elapsed:.0f} s in the smoke profile (limit {limit} s)"
    assert res_file.exists(), f"{source.stem} did not write {res_file}"
    res = json.loads(res_file.read_text())
    assert res["profile"] == "smoke" and res["notebook"] == source.stem
    _finite_numbers(res)
    if source.stem in NOTEBOOK_CHECKS:
        NOTEBOOK_CHECKS[source.stem](res)


def test_notebooks_are_percent_scripts_with_one_parameters_cell():
    for source in notebook_sources():
        text = source.read_text()
        assert "format_name: percent" in text, source
        assert text.count('tags=["parameters"]') == 1, f"{source} needs exactly one parameters cell"
        params = text.split('tags=["parameters"]', 1)[1].split("# %%", 1)[0]
        assert "PROFILE =" in params, f"{source}: the parameters cell must set PROFILE"


def test_unknown_profile_stops_the_notebook(tmp_path):
    import papermill

    source = notebook_sources(["00"])[0]
    with pytest.raises(papermill.PapermillExecutionError) as err:
        execute_notebook(source, "smoke", tmp_path, extra_parameters={"PROFILE": "bogus"})
    message = str(err.value)
    for name in ("smoke", "cpu", "gpu", "bogus"):
        assert name in message
