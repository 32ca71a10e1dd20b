"""Translate natural-language instructions into task plans (the course's stable CLI).

    python -m helpers.translate "run backwards at 1.5 m/s for 3 seconds, then jump" --json
    python -m helpers.translate --file instructions.jsonl --json     # one JSON string per line
    python -m helpers.translate "jump, then flip" --text              # human-readable instead of JSON

Each instruction gives one JSON line: ``{"plan": [{"skill", "target_speed", "duration_s"}, ...]}``,
or ``{"plan": [], "error": "..."}`` when it asks for nothing the skills cover or the plan is not
valid. The pipeline: :func:`helpers.normalise.normalise` (number words, units, durations) ->
:func:`helpers.normalise.split_steps` (clauses in time order) -> the translator model (a GPT-2,
``pretrained/translator`` by default) writes plan text for each clause, decoding constrained to
the plan grammar -> the joined text is parsed and validated against the skill table by
:func:`helpers.plans.plan_result`. Model text is only ever parsed, never executed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from . import REPO_ROOT
from .normalise import normalise
from .plans import UNKNOWN, plan_result

DEFAULT_TRANSLATOR = REPO_ROOT / "pretrained" / "translator"
MAX_INSTRUCTION_CHARS = 2000


def load_translator(path: str | Path = DEFAULT_TRANSLATOR, device: str = "cpu"):
    from .translator_model import PlanTranslator

    return PlanTranslator.load(Path(path), device)


def translate_batch(model, instructions: list[str], batch_size: int = 64) -> list[dict]:
    """The JSON answer for each instruction (same order)."""
    results: list[dict | None] = [None] * len(instructions)
    todo = []
    for i, text in enumerate(instructions):
        if not isinstance(text, str) or not text.strip():
            results[i] = {"plan": [], "error": "empty instruction: say what the agent should do, e.g. 'run forward'"}
        else:
            todo.append((i, normalise(text[:MAX_INSTRUCTION_CHARS])))
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        for (i, _), text in zip(chunk, model.generate([t for _, t in chunk])):
            results[i] = plan_result(text)
    return results


def translate(instructions: list[str] | str, model=None) -> list[dict] | dict:
    """Convenience for notebooks: one instruction -> one answer, a list -> a list."""
    model = model or load_translator()
    if isinstance(instructions, str):
        return translate_batch(model, [instructions])[0]
    return translate_batch(model, list(instructions))


def split_report(model, examples, batch_size: int = 64) -> dict:
    """Exact-plan accuracy, refusal rate and per-kind accuracy of ``model`` on dataset examples."""
    from .plans import parse_plan, PlanError

    texts = []
    for start in range(0, len(examples), batch_size):
        texts += model.generate([e.normalised for e in examples[start:start + batch_size]])
    rows, by_kind = [], defaultdict(list)
    refusals, false_refusals = [], []
    for example, predicted in zip(examples, texts):
        correct = predicted == example.plan
        by_kind[example.kind].append(correct)
        error = "error" in plan_result(predicted)
        if UNKNOWN in example.plan.split():
            refusals.append(error)
        else:
            try:
                parse_plan(example.plan)
                false_refusals.append(error)  # a valid request answered with an error
            except PlanError:
                pass  # the reference itself is invalid (speed out of range, ...): an error is right
        rows.append({"instruction": example.instruction, "normalised": example.normalised, "kind": example.kind,
                     "expected": example.plan, "predicted": predicted, "correct": correct})
    n = len(rows)
    return {
        "n": n,
        "accuracy": sum(r["correct"] for r in rows) / n if n else float("nan"),
        "refusal_rate": sum(refusals) / len(refusals) if refusals else float("nan"),
        "n_out_of_scope": len(refusals),
        "false_refusal_rate": sum(false_refusals) / len(false_refusals) if false_refusals else float("nan"),
        "accuracy_by_kind": {k: round(sum(v) / len(v), 4) for k, v in sorted(by_kind.items())},
        "rows": rows,
    }


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
                        help="print one JSON line per instruction (the default; kept for the stable contract)")
    parser.add_argument("--text", action="store_true", help="print a human-readable line per instruction instead")
    parser.add_argument("--model", default=str(DEFAULT_TRANSLATOR), help="a saved translator folder")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    args = parser.parse_args(argv)
    if (args.instruction is None) == (args.file is None):
        parser.error("give either one INSTRUCTION or --file F")
    if args.file and args.file != "-" and not Path(args.file).is_file():
        parser.error(f"--file {args.file}: no such file")
    items = [args.instruction] if args.file is None else _read_file(args.file)

    import torch

    torch.set_num_threads(args.threads)
    from .checkpoints import ChecksumError

    try:
        model = load_translator(args.model)
    except (FileNotFoundError, ChecksumError, RuntimeError) as exc:  # one clear line, no traceback
        parser.exit(1, f"error: {exc}\n")
    valid = [(i, x) for i, x in enumerate(items) if isinstance(x, str)]
    answers: list[dict] = [{"plan": [], "error": str(x)} if isinstance(x, ValueError) else {} for x in items]
    for (i, _), answer in zip(valid, translate_batch(model, [x for _, x in valid], args.batch_size)):
        answers[i] = answer
    for item, answer in zip(items, answers):
        if args.json or not args.text:
            print(json.dumps(answer), flush=True)
        else:
            steps = "; ".join(f"{s['skill']}" + (f" at {s['target_speed']:g} m/s" if s["target_speed"] is not None else "")
                              + f" for {s['duration_s']:g} s" for s in answer["plan"])
            print(f"{item if isinstance(item, str) else '?'!s} -> {steps or 'error: ' + answer['error']}", flush=True)


if __name__ == "__main__":
    main()
