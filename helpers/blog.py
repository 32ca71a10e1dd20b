"""Export executed notebooks into the blog: Markdown posts with figures and videos as files.

    python -m helpers.blog --executed build/executed/cpu --out blog

See :mod:`helpers.course.blog` for what the export keeps and drops. The numbers course/syllabus.md
cites are refreshed from the committed results files at the same time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import REPO_ROOT
from .core.errors import cli_errors
from .course.blog import export_all
from .course.syllabus import write_synced


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m helpers.blog", description=__doc__.split("\n")[0])
    p.add_argument("--executed", default=str(REPO_ROOT / "build" / "executed" / "cpu"))
    p.add_argument("--out", default=str(REPO_ROOT / "blog"))
    args = p.parse_args(argv)
    posts = cli_errors(export_all, Path(args.executed), Path(args.out))
    for post in posts:
        print(f"{post['stem']}: {len(post['figures'])} figures, {len(post['media'])} media files")
    print(f"course/syllabus.md: {'numbers refreshed' if write_synced() else 'up to date'}")


if __name__ == "__main__":
    main(sys.argv[1:])
