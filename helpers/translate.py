"""Translate natural-language instructions into task plans (the course's stable CLI).

    python -m helpers.translate "run backwards at 1.5 m/s for 3 seconds, then jump" --json
    python -m helpers.translate --file instructions.jsonl --json     # one JSON string per line
    python -m helpers.translate "jump, then flip"                     # a readable line instead of JSON

With ``--json`` each instruction gives one JSON line: ``{"plan": [{"skill", "target_speed", "duration_s"}, ...]}``,
or ``{"plan": [], "error": "..."}`` when it asks for nothing the skills cover or the plan is not
valid (:mod:`helpers.language.translation` has the pipeline). Model text is only ever parsed, never
executed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from .core.errors import CourseError
from .language.translation import DEFAULT_TRANSLATOR, load_translator, translate_batch


def _read_file(path: str) -> list:
    """One JSON string per line (blank lines skipped); a line that is not one becomes an error answer."""
    items = []
    source = sys.stdin if path == "-" else open(path, encoding="utf-8")
    with source:
        for number, line in enumerate(source, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                value = ValueError(f"line {number} of {path} is not JSON ({exc.msg}); expected one JSON string per line")
            if not isinstance(value, (str, ValueError)):
                value = ValueError(f"line {number} of {path} is a JSON {type(value).__name__}, not a string")
            items.append(value)
    return items


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m helpers.translate", description=__doc__.split("\n")[0])
    parser.add_argument("instruction", nargs="?", help="the instruction (quote it)")
    parser.add_argument("--file", help="a file with one JSON string per line ('-': standard input)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON line per instruction (the stable contract); default: one readable line")
    parser.add_argument("--model", default=str(DEFAULT_TRANSLATOR), help="a saved translator folder")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    args = parser.parse_args(argv)
    if (args.instruction is None) == (args.file is None):
        parser.error("give either one INSTRUCTION or --file F")
    if args.file and args.file != "-" and not Path(args.file).is_file():
        parser.error(f"--file {args.file}: no such file")
    items = [args.instruction] if args.file is None else _read_file(args.file)

    torch.set_num_threads(args.threads)
    try:
        model = load_translator(args.model)
    except (CourseError, FileNotFoundError) as exc:  # one clear line, no traceback
        parser.exit(1, f"error: {exc}\n")
    valid = [(i, x) for i, x in enumerate(items) if isinstance(x, str)]
    answers: list[dict] = [{"plan": [], "error": str(x)} if isinstance(x, ValueError) else {} for x in items]
    for (i, _), answer in zip(valid, translate_batch(model, [x for _, x in valid], args.batch_size)):
        answers[i] = answer
    for item, answer in zip(items, answers):
        if args.json:
            print(json.dumps(answer), flush=True)
        else:
            steps = "; ".join(f"{s['skill']}" + (f" at {s['target_speed']:g} m/s" if s["target_speed"] is not None else "")
                              + f" for {s['duration_s']:g} s" for s in answer["plan"])
            print(f"{item if isinstance(item, str) else '?'!s} -> {steps or 'error: ' + answer['error']}", flush=True)


if __name__ == "__main__":
    main()
