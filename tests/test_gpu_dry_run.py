"""The gpu profile's code paths, executed on a CPU at the smoke profile's sizes, in a copy of the
repository (``python -m helpers.run_notebooks --profile gpu --dry-run``). Notebook 07 is the one run
here: its gpu branch fine-tunes GPT-2 Medium, which needs the Hub, and must fall back to SmolLM2
offline. ``make gpu-dry-run`` runs every notebook's gpu path the same way."""

import json
import subprocess
import sys
from pathlib import Path

from helpers.course.profiles import BUDGETS

REPO = Path(__file__).resolve().parent.parent


def test_gpu_dry_run_takes_the_gpu_path_in_a_copy_of_the_repository(tmp_path):
    before = sorted((REPO / "results").glob("*.gpu.json"))
    copy = tmp_path / "copy"
    proc = subprocess.run([sys.executable, "-m", "helpers.run_notebooks", "--profile", "gpu", "--dry-run",
                           "--workdir", str(copy), "07"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((copy / "results" / "07_gpt2_instruction_translator.gpu.json").read_text())
    assert res["profile"] == "gpu"
    budget = BUDGETS["07_gpt2_instruction_translator"]
    # the gpu branch (GPT-2 Medium, or SmolLM2 where the Hub is out of reach) at the smoke budget's steps
    assert res["demo"]["model"] in (budget["gpu"]["demo_model"], budget["gpu"]["fallback_model"]), res["demo"]
    assert res["demo"]["steps"] == budget["smoke"]["demo_steps"], res["demo"]
    assert res["demo"]["last_loss"] < res["demo"]["first_loss"], res["demo"]
    # this checkout's results are untouched: the run wrote into the copy
    assert sorted((REPO / "results").glob("*.gpu.json")) == before
    assert (copy / "build" / "executed" / "gpu" / "07_gpt2_instruction_translator.ipynb").exists()
