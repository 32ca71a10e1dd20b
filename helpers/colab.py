"""Write the Colab copies of the notebooks: the same cells, a badge and a first cell that installs the course.

    python -m helpers.colab [--out course/colab] [--repo https://github.com/OWNER/REPO]

The copies are committed (``make colab`` regenerates them); the .py scripts in notebooks/ stay the source.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import REPO_ROOT
from .course.colab import COLAB_DIR, REPOSITORY, make_colab_copy
from .course.notebooks import notebook_sources


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m helpers.colab", description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(REPO_ROOT / COLAB_DIR))
    p.add_argument("--repo", default=REPOSITORY, help="GitHub address the badges link to and the setup cells clone")
    p.add_argument("notebooks", nargs="*", help="stems or numbers (default: every notebook)")
    args = p.parse_args(argv)
    out = Path(args.out)
    for old in out.glob("[0-9][0-9]_*.ipynb") if not args.notebooks else ():  # a renamed notebook leaves no stale copy
        old.unlink()
    for src in notebook_sources(args.notebooks or None):
        path = make_colab_copy(src, out, args.repo)
        print(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)


if __name__ == "__main__":
    main(sys.argv[1:])
