import numpy as np
import pytest

from helpers.core import checkpoints
from helpers.core.checkpoints import (ChecksumError, atomic_write_bytes, load_npz, save_npz, verify_file, write_manifest)


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    # pretend tmp_path is the repo's runs/ folder (the only other place pickles may be opened from)
    monkeypatch.setattr(checkpoints, "RUNS_DIR", tmp_path)
    d = tmp_path / "run"
    d.mkdir()
    return d


def test_manifest_round_trip_and_tamper_detection(run_dir):
    (run_dir / "model.zip").write_bytes(b"weights")
    write_manifest(run_dir, ["model.zip"])
    assert verify_file(run_dir / "model.zip") == (run_dir / "model.zip").resolve()
    (run_dir / "model.zip").write_bytes(b"evil")
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        verify_file(run_dir / "model.zip")


def test_unlisted_or_unmanifested_files_are_refused(run_dir):
    (run_dir / "a.zip").write_bytes(b"a")
    with pytest.raises(ChecksumError, match="MANIFEST.sha256 is missing"):
        verify_file(run_dir / "a.zip")
    write_manifest(run_dir, ["a.zip"])
    (run_dir / "b.zip").write_bytes(b"b")
    with pytest.raises(ChecksumError, match="not listed"):
        verify_file(run_dir / "b.zip")


def test_files_outside_the_repo_folders_are_refused(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "model.zip").write_bytes(b"x")
    write_manifest(outside)
    with pytest.raises(ChecksumError, match="outside"):
        verify_file(outside / "model.zip")


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")

    class Boom(bytes):
        pass

    with pytest.raises(TypeError):
        atomic_write_bytes(target, object())  # fails mid-write
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_npz_round_trip_without_pickles(tmp_path):
    save_npz(tmp_path / "a.npz", x=np.arange(5), y=np.ones((2, 3), np.float32))
    d = load_npz(tmp_path / "a.npz")
    assert d["x"].tolist() == [0, 1, 2, 3, 4] and d["y"].dtype == np.float32
