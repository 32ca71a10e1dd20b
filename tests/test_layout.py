"""The package's shape: stage folders whose imports run one way, and every command the README and
the model cards quote answering --help with the flags they use."""

import ast
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "helpers"
# the pipeline's order: a module may import its own stage and the stages before it, never after
STAGES = {"core": 0, "envs": 1, "experts": 2, "language": 2, "data": 3, "models": 4, "course": 5}
TOP = 6  # helpers/<cli>.py: the thin command-line tools, which may import any stage


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every helpers module ``path`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("helpers")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("helpers"):
                continue
            for alias in node.names:  # `from .envs import skills` imports the module helpers.envs.skills
                candidate = f"{target}.{alias.name}"
                found.add(candidate if _is_module(candidate) else target)
    return found


def _is_module(name: str) -> bool:
    path = REPO_ROOT / Path(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def import_graph() -> dict[str, set[str]]:
    graph = {module_name(p): set() for p in PACKAGE.rglob("*.py")}
    for p in PACKAGE.rglob("*.py"):
        graph[module_name(p)] = {m for m in imports_of(p) if m in graph and m != module_name(p)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (a list of modules, first == last), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def stage_of(module: str) -> tuple[str, int]:
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in STAGES:
        return parts[1], STAGES[parts[1]]
    return "top", (-1 if module == "helpers" else TOP)


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_has_no_import_cycle_even_inside_functions():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_imports_run_one_way_through_the_stages():
    wrong = []
    for module, targets in import_graph().items():
        stage, rank = stage_of(module)
        for target in targets:
            other, other_rank = stage_of(target)
            if other_rank > rank or (other_rank == rank and other != stage and rank != TOP):
                wrong.append(f"{module} ({stage}) imports {target} ({other})")
    assert not wrong, "\n".join(sorted(wrong))


def test_library_modules_stay_readable():
    long = {module_name(p): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 520}
    assert not long, f"modules over ~500 lines: {long}"


# --- every quoted command answers --help, with the flags it quotes ---------------------------------
def quoted_commands() -> list[str]:
    """``python -m helpers.X ...`` commands quoted in the README and in every committed card."""
    texts = [(REPO_ROOT / "README.md").read_text()]
    for card in sorted((REPO_ROOT / "pretrained").rglob("card.json")):
        def strings(value):
            if isinstance(value, str):
                yield value
            elif isinstance(value, dict):
                for v in value.values():
                    yield from strings(v)
            elif isinstance(value, list):
                for v in value:
                    yield from strings(v)
        texts += [s for s in strings(json.loads(card.read_text())) if "python -m helpers." in s]
    commands = set()
    for text in texts:
        for part in re.split(r"&&|\n|`", text):
            match = re.search(r"python -m (helpers\.[a-z_0-9.]+)([^#\n]*)", part)
            if match:
                commands.add((match.group(1) + match.group(2)).strip())
    return sorted(commands)


def test_the_readme_and_cards_quote_commands():
    modules = {c.split()[0] for c in quoted_commands()}
    assert {"helpers.evaluate", "helpers.train_expert", "helpers.collect", "helpers.train_dt", "helpers.translate",
            "helpers.finetune_gpt2"} <= modules, modules


@pytest.mark.parametrize("module", sorted({c.split()[0] for c in quoted_commands()}))
def test_every_quoted_command_answers_help_and_takes_its_flags(module):
    proc = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for command in (c for c in quoted_commands() if c.split()[0] == module):
        try:
            words = shlex.split(command)
        except ValueError:  # an unfinished quote in prose: the flags are still readable
            words = command.split()
        for flag in (w.split("=")[0] for w in words if re.fullmatch(r"--[a-z][a-z0-9-]*(=.*)?", w)):
            assert flag in proc.stdout or flag.replace("-", "_") in proc.stdout, f"{command!r}: {flag} is not a flag of {module}"
