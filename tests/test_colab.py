"""The committed Colab copies: in sync with notebooks/*.py, the only .ipynb files in the repository, and
runnable on a fresh machine: one copy executes in a new virtual environment whose only way to the
course is the copy's own setup cell, pointed at a local clone."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import nbformat
import pytest

from helpers import REPO_ROOT
from helpers.course.colab import COLAB_DIR, REPOSITORY, SETUP_TAG, colab_url, github_path, make_colab_copy
from helpers.course.notebooks import notebook_sources

COMMITTED = REPO_ROOT / COLAB_DIR


def cells(path):
    nb = nbformat.read(path, as_version=4)
    return [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells]


def test_the_committed_copies_are_in_sync_with_the_notebooks(tmp_path):
    stale = []
    for source in notebook_sources():
        fresh = make_colab_copy(source, tmp_path)
        committed = COMMITTED / fresh.name
        if not committed.exists():
            stale.append(f"{committed.relative_to(REPO_ROOT)} is missing")
        elif cells(committed) != cells(fresh):
            stale.append(f"{committed.relative_to(REPO_ROOT)} differs from notebooks/{source.name}")
    extra = sorted({p.name for p in COMMITTED.glob("*.ipynb")} - {f"{s.stem}.ipynb" for s in notebook_sources()})
    stale += [f"{COLAB_DIR}/{name} has no notebook" for name in extra]
    assert not stale, "the Colab copies are out of date; run `make colab`:\n" + "\n".join(stale)


def test_regenerating_an_unchanged_notebook_changes_no_byte(tmp_path):
    source = notebook_sources(["00"])[0]
    first = make_colab_copy(source, tmp_path / "a").read_bytes()
    assert make_colab_copy(source, tmp_path / "b").read_bytes() == first


def test_each_copy_has_a_badge_a_setup_cell_first_and_reads_the_profile_it_picks():
    for source in notebook_sources():
        nb = nbformat.read(COMMITTED / f"{source.stem}.ipynb", as_version=4)
        badge, setup = nb.cells[0], nb.cells[1]
        assert badge.cell_type == "markdown" and colab_url(source.stem) in badge.source, source.stem
        assert "colab-badge.svg" in badge.source
        assert setup.cell_type == "code" and SETUP_TAG in setup.metadata["tags"]
        assert f'"{REPOSITORY}.git"' in setup.source and 'MUJOCO_GL", "egl"' in setup.source
        assert "sys.path.insert(0, COURSE_DIR)" in setup.source
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1 and params[0].source.startswith("PROFILE = COURSE_PROFILE"), source.stem
        assert "accelerator" not in nb.metadata and "gpu" not in json.dumps(nb.metadata).lower(), nb.metadata


def test_the_repository_address_is_set_in_one_place():
    assert github_path(REPOSITORY) == github_path(REPOSITORY + ".git")
    assert colab_url("00_x", "https://github.com/me/fork") == \
        "https://colab.research.google.com/github/me/fork/blob/main/course/colab/00_x.ipynb"
    with pytest.raises(ValueError, match="GitHub"):
        github_path("/tmp/local/clone")
    quoted = [p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "helpers").rglob("*.py")
              if github_path(REPOSITORY) in p.read_text()]
    assert [str(p) for p in quoted] == ["helpers/course/colab.py"], quoted


def test_the_only_ipynb_files_git_would_commit_are_the_colab_copies():
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.ipynb"],
                         cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert out, "git sees no .ipynb: is course/colab/ ignored?"
    assert all(p.startswith(COLAB_DIR + "/") for p in out), [p for p in out if not p.startswith(COLAB_DIR)]


def _working_tree_repo(dest):
    """A git repository holding the working tree as it is (committed or not), for the setup cell to clone."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO_ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = REPO_ROOT / name
        if src.is_file() and not name.startswith(("pretrained/", "results/", "blog/", COLAB_DIR)):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"]
    subprocess.run(git + ["init", "-q"], cwd=dest, check=True)
    subprocess.run(git + ["add", "-A"], cwd=dest, check=True)
    subprocess.run(git + ["commit", "-q", "-m", "working tree"], cwd=dest, check=True)


@pytest.mark.notebook
def test_a_colab_copy_runs_in_a_fresh_environment_from_a_clone(tmp_path):
    """00_setup_and_tour's copy, smoke profile, in a new venv: the dependencies are visible (a .pth line to
    this environment's site-packages, whose own .pth files, the editable install of this checkout among
    them, are not run), the course is not; the setup cell clones, installs and imports it."""
    t0 = time.time()
    origin = tmp_path / "origin"
    origin.mkdir()
    _working_tree_repo(origin)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "course_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}", "COURSE_REPO": origin.as_uri(),
            "COURSE_DIR": str(tmp_path / "course"), "COURSE_DEPS": "0", "HF_HUB_OFFLINE": "1",
            "JUPYTER_PATH": str(venv / "share" / "jupyter"), "PIP_NO_INDEX": "1"}
    env.pop("MUJOCO_GL", None)  # the setup cell sets it
    probe = subprocess.run([python, "-c", "import helpers"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert probe.returncode != 0, "the fresh environment already imports helpers: the test would prove nothing"
    subprocess.run([python, "-m", "ipykernel", "install", "--prefix", str(venv), "--name", "colab-test"],
                   env=env, check=True, capture_output=True)

    notebook = COMMITTED / "00_setup_and_tour.ipynb"
    executed = tmp_path / "executed.ipynb"
    proc = subprocess.run([python, "-m", "papermill", str(notebook), str(executed), "-p", "PROFILE", "smoke",
                           "-k", "colab-test", "--cwd", str(tmp_path), "--execution-timeout", "150"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    setup_output = "".join(o.get("text", "") for o in nbformat.read(executed, as_version=4).cells[1].outputs)
    assert "git clone" in setup_output and "pip install" in setup_output, setup_output
    # the kernel used the clone's package: its results went into the clone
    result = json.loads((tmp_path / "course" / "results" / "00_setup_and_tour.smoke.json").read_text())
    assert result["profile"] == "smoke" and result["bodies"]["cheetah"]["obs_dim"] == 17, result
    # and installed it: a new process of the environment imports it from the clone too
    where = subprocess.run([python, "-c", "import helpers; print(helpers.__file__)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True)
    assert where.stdout.startswith(str(tmp_path / "course")), where.stdout + where.stderr
    assert time.time() - t0 < 240, f"took {time.time() - t0:.0f} s"
