"""Write Colab-ready copies of the notebooks: the same cells plus a first cell that installs the course.

    python -m helpers.colab --out course/colab [--repo https://github.com/OWNER/REPO.git]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import REPO_ROOT
from .course.colab import DEFAULT_REPO, make_colab_copy
from .course.notebooks import notebook_sources


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m helpers.colab", description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(REPO_ROOT / "course" / "colab"))
    p.add_argument("--repo", default=DEFAULT_REPO, help="git URL Colab clones the course from")
    args = p.parse_args(argv)
    for src in notebook_sources():
        print(make_colab_copy(src, Path(args.out), args.repo).relative_to(REPO_ROOT))


if __name__ == "__main__":
    main(sys.argv[1:])
