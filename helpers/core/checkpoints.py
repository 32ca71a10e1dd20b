"""Safe files: atomic writes, sha256 manifests, and the one door through which pickles are opened.

SB3 checkpoints (.zip) carry pickled Python objects, so opening one runs code. We open them only
from this repository's own ``pretrained/`` (or a training run directory this repo wrote, ``runs/``)
and only after their sha256 matches the ``MANIFEST.sha256`` written beside them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .. import REPO_ROOT
from .errors import CourseError

MANIFEST = "MANIFEST.sha256"
PRETRAINED_DIR = REPO_ROOT / "pretrained"
RUNS_DIR = REPO_ROOT / "runs"


class ChecksumError(CourseError, RuntimeError):
    """A file is missing from its manifest or does not match its recorded checksum."""


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def atomic_save(path: Path, save_fn) -> None:
    """Call ``save_fn(tmp_path)`` then move the result into place atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    save_fn(tmp)
    os.replace(tmp, path)


def replace_directory(new: Path, target: Path, old: Path) -> None:
    """Swap a fully written folder ``new`` in as ``target``: target -> old, new -> target, old removed.

    A reader sees the previous folder or the complete new one; a kill between the two renames
    leaves the previous one at ``old``."""
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def append_csv_row(path: Path, row: dict[str, Any]) -> None:
    """Append one row to a CSV log, writing the header when the file is new."""
    new = not Path(path).exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def write_manifest(directory: Path, files: Iterable[str] | None = None) -> dict[str, str]:
    """Record the sha256 of ``files`` (default: every file except the manifest) in the directory."""
    directory = Path(directory)
    names = sorted(files) if files is not None else sorted(
        p.name for p in directory.iterdir() if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")
    )
    digests = {name: sha256(directory / name) for name in names}
    text = "".join(f"{digest}  {name}\n" for name, digest in digests.items())
    atomic_write_bytes(directory / MANIFEST, text.encode())
    return digests


def read_manifest(directory: Path) -> dict[str, str]:
    path = Path(directory) / MANIFEST
    if not path.exists():
        raise ChecksumError(f"{path} is missing: refusing to open unverified checkpoints in {directory}")
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            out[name.strip()] = digest
    return out


def verify_file(path: Path) -> Path:
    """Check ``path`` against the manifest of its directory; return it when it matches."""
    path = Path(path).resolve()
    allowed = [PRETRAINED_DIR.resolve(), RUNS_DIR.resolve()]
    if not any(path.is_relative_to(root) for root in allowed):
        raise ChecksumError(
            f"{path} is outside this repository's pretrained/ and runs/ folders; pickled checkpoints "
            "are only opened from there"
        )
    manifest = read_manifest(path.parent)
    if path.name not in manifest:
        raise ChecksumError(f"{path.name} is not listed in {path.parent / MANIFEST}")
    if not path.exists():
        raise ChecksumError(f"{path} is listed in the manifest but missing")
    actual = sha256(path)
    if actual != manifest[path.name]:
        raise ChecksumError(
            f"checksum mismatch for {path}: manifest says {manifest[path.name][:12]}..., file is {actual[:12]}..."
        )
    return path


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Atomic ``np.savez`` (no pickles: loaded back with allow_pickle=False)."""
    atomic_save(Path(path), lambda tmp: np.savez(open(tmp, "wb"), **arrays))


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
