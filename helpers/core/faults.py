"""Fault injection: make one worker die midway, once, so tests and demos exercise the real retry paths.

Off unless an environment variable asks for it; nothing else in the course reads these variables.

* ``COURSE_FAULT_COLLECT="W:N"``: collection worker ``W`` (its index in the round) exits with
  :data:`FAULT_EXIT_CODE` right after writing its ``N``-th shard. Ray sees a dead worker process and
  retries the task (``max_retries``); the retry skips the episodes the dead attempt already wrote.
* ``COURSE_FAULT_TRAIN="R:S"``: the training process of rank ``R`` exits just before step ``S``;
  torchrun (``--max-restarts``) restarts every rank, which resume from the last checkpoint.

A fault fires once per folder: before exiting, the process creates a marker file there (``O_EXCL``,
so of several attempts exactly one dies), and every later attempt finds it and runs through.
``os._exit`` skips ``finally`` blocks and buffered writes, as a kill would.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

FAULT_EXIT_CODE = 17
COLLECT_VAR, TRAIN_VAR = "COURSE_FAULT_COLLECT", "COURSE_FAULT_TRAIN"


def _spec(var: str) -> tuple[int, int] | None:
    value = os.environ.get(var)
    if not value:
        return None
    try:
        who, when = value.split(":")
        return int(who), int(when)
    except ValueError:
        raise ValueError(f"{var}={value!r}: expected 'INDEX:COUNT', e.g. '1:1'") from None


def fire_once(marker: Path, what: str) -> None:
    """Exit this process now, unless ``marker`` shows the fault already fired."""
    marker = Path(marker)
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, f"{what}\n".encode())
    os.close(fd)
    print(f"[fault injection] {what}: exiting with code {FAULT_EXIT_CODE}", file=sys.stderr, flush=True)
    os._exit(FAULT_EXIT_CODE)


def after_shard(worker_index: int, shards_written: int, stage: Path) -> None:
    """Called by a collection worker after each shard it writes."""
    spec = _spec(COLLECT_VAR)
    if spec is not None and spec == (worker_index, shards_written):
        fire_once(Path(stage) / f".fault_collect_w{worker_index:02d}",
                  f"collection worker {worker_index} after shard {shards_written}")


def before_step(rank: int, step: int, out: Path) -> None:
    """Called by a training process before each step."""
    spec = _spec(TRAIN_VAR)
    if spec is not None and spec == (rank, step):
        fire_once(Path(out) / f".fault_train_rank{rank}", f"rank {rank} before step {step}")


def fired(folder: Path) -> list[str]:
    """The faults that fired in ``folder`` (the text of its markers)."""
    return [p.read_text().strip() for p in sorted(Path(folder).glob(".fault_*"))]
