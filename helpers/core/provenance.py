"""Where a number came from: the machine, the model card, and one staged publish for every checkpoint.

Every committed checkpoint under ``pretrained/`` (experts, the Decision Transformer, the generalist,
the translator) has a ``card.json`` with the same core fields (:data:`CARD_FIELDS`): what it is,
which skills and bodies, the algorithm, the command that rebuilds it, what training cost, the
evaluation on held-out seeds, the machine, and the sha256 of every file beside it. Each kind adds
its own details after those.

A publisher writes into a staging folder beside the target, then :meth:`StagedPublish.commit`
checks the card and every checksum and swaps the folder in whole: a reader sees the previous
checkpoint or the complete new one, never a mixture.

    >>> pub = StagedPublish(PRETRAINED_DIR / "jump")
    >>> shutil.copy2(run / "model.zip", pub.path("model.zip"))
    >>> pub.commit(card)               # card.json + MANIFEST.sha256, verified, swapped in
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from pathlib import Path
from typing import Any

from .checkpoints import MANIFEST, atomic_write_json, read_manifest, replace_directory, sha256, write_manifest
from .errors import InvalidArgumentError

CARD_VERSION = 1
CARD_FIELDS = ("card_version", "kind", "name", "skills", "bodies", "algorithm", "command", "training_cost",
               "evaluation", "hardware", "files")
CARD_KINDS = ("expert", "decision_transformer", "generalist", "translator", "judge")


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on (stored beside every result and in every card)."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:  # torch is a hard dependency, but keep this usable without it
        pass
    return info


def training_cost(wall_clock_s: float, steps: int, steps_unit: str, processes: int = 1,
                  threads_per_process: int = 1, note: str | None = None) -> dict[str, Any]:
    """The card's cost block. ``core_hours`` counts every core a run held for its whole wall clock
    (processes x threads), an upper bound on the CPU time it used; ``wall_clock_s`` is just the clock."""
    cost = {"wall_clock_s": round(float(wall_clock_s), 1), "steps": int(steps), "steps_unit": steps_unit,
            "processes": int(processes), "threads_per_process": int(threads_per_process),
            "core_hours": round(float(wall_clock_s) * processes * threads_per_process / 3600, 3)}
    if note:
        cost["note"] = note
    return cost


def card_core(kind: str, name: str, skills: list[str], bodies: list[str], algorithm: str, command: str,
              cost: dict[str, Any], evaluation: dict[str, Any] | None = None) -> dict[str, Any]:
    """The fields every card starts with (``files`` is filled in by :meth:`StagedPublish.commit`)."""
    if kind not in CARD_KINDS:
        raise InvalidArgumentError(f"card kind {kind!r} is not one of {', '.join(CARD_KINDS)}")
    return {"card_version": CARD_VERSION, "kind": kind, "name": name, "skills": list(skills), "bodies": list(bodies),
            "algorithm": algorithm, "command": command, "training_cost": cost,
            "evaluation": evaluation if evaluation is not None else {}, "hardware": machine_info()}


def check_card(card: dict[str, Any], where: str = "card") -> None:
    """Raise :class:`InvalidArgumentError` naming the core fields a card lacks or has malformed."""
    missing = [k for k in CARD_FIELDS if k not in card]
    if missing:
        raise InvalidArgumentError(f"{where} lacks the card fields {missing}; every card has {list(CARD_FIELDS)}")
    if card["kind"] not in CARD_KINDS:
        raise InvalidArgumentError(f"{where}: kind {card['kind']!r} is not one of {', '.join(CARD_KINDS)}")
    for key in ("wall_clock_s", "core_hours", "steps"):
        if key not in card["training_cost"]:
            raise InvalidArgumentError(f"{where}: training_cost lacks {key!r}")
    if not str(card["command"]).startswith(("python -m helpers.", "torchrun ")):
        raise InvalidArgumentError(f"{where}: command {card['command']!r} is not a course command (python -m helpers....)")


def verify_card_files(folder: Path) -> dict[str, Any]:
    """The card of ``folder``, after checking it and every file it lists against their sha256."""
    folder = Path(folder)
    card = json.loads((folder / "card.json").read_text())
    check_card(card, str(folder / "card.json"))
    manifests: dict[Path, dict[str, str]] = {}
    for name, digest in card["files"].items():
        sub = (folder / name).parent  # a file in a subfolder is listed in that subfolder's manifest
        listed = manifests.setdefault(sub, read_manifest(sub)).get(Path(name).name)
        actual = sha256(folder / name)
        if actual != digest or listed != digest:
            raise InvalidArgumentError(f"{folder / name}: sha256 {actual[:12]}... differs from the card or the manifest")
    return card


class StagedPublish:
    """Build a checkpoint folder beside ``target``; :meth:`commit` verifies it and swaps it in."""

    def __init__(self, target: Path):
        self.target = Path(target)
        self.staging = self.target.with_name(f".{self.target.name}.staging")
        self.old = self.target.with_name(f".{self.target.name}.old")
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True)

    def path(self, name: str) -> Path:
        """Where to write file ``name`` (may contain a subfolder, e.g. ``start/model.zip``)."""
        path = self.staging / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def copy(self, source: Path, name: str | None = None) -> Path:
        return Path(shutil.copy2(source, self.path(name or Path(source).name)))

    def payload(self) -> list[str]:
        """Every file written so far, relative to the folder, except the card and manifests."""
        names = (p.relative_to(self.staging).as_posix() for p in self.staging.rglob("*") if p.is_file())
        return sorted(n for n in names if Path(n).name != MANIFEST and n != "card.json")

    def write_card(self, card: dict[str, Any]) -> dict[str, Any]:
        """Write ``card`` (with the checksums of the payload) and the manifests, without swapping in:
        a publisher that evaluates the published files loads them from :attr:`staging` first."""
        files = self.payload()
        card = {**card, "files": {name: sha256(self.staging / name) for name in files}}
        check_card(card, f"the card of {self.target}")
        atomic_write_json(self.staging / "card.json", card)
        for sub in sorted({Path(n).parent for n in files if "/" in n}):  # a subfolder keeps its own manifest
            write_manifest(self.staging / sub, [Path(n).name for n in files if Path(n).parent == sub])
        write_manifest(self.staging, [n for n in files if "/" not in n] + ["card.json"])
        return card

    def commit(self, card: dict[str, Any]) -> dict[str, Any]:
        card = self.write_card(card)
        verify_card_files(self.staging)
        replace_directory(self.staging, self.target, self.old)
        return card

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
