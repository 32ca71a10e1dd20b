"""Export executed notebooks into the blog: Markdown posts with figures and videos as files.

    python -m helpers.blog --executed build/executed/cpu --out blog

Each notebook becomes ``blog/<NN_name>/index.md`` with its images and videos copied beside it (no
base64 blobs), and ``blog/index.md`` lists the posts. Cells tagged ``hide`` (setup, plumbing) stay
out of the post; ``hide-input`` keeps a cell's output but not its code; ``hide-output`` the reverse.
stderr streams (library warnings) are dropped.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
from pathlib import Path

import nbformat

from .. import REPO_ROOT
from ..core.errors import NotAvailableError

HIDE_CELL = {"hide", "remove-cell", "parameters", "injected-parameters", "exercise"}  # exercises stay in the notebooks
HIDE_INPUT = {"hide-input", "remove-input"}
HIDE_OUTPUT = {"hide-output", "remove-output"}
MEDIA_SRC = re.compile(r'(src|href)="([^"]+\.(?:mp4|webm|gif|png|jpg|jpeg|svg))"')
MD_LINK = re.compile(r"\]\(([^)\s#]+)(#[^)\s]*)?\)")
DATA_URI = re.compile(r'src="data:(image/(?:png|jpeg|gif)|video/mp4);base64,([^"]+)"')


def _clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells = []
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & HIDE_CELL:
            continue
        if cell.cell_type == "code":
            if tags & HIDE_INPUT:
                cell.source = ""
            if tags & HIDE_OUTPUT:
                cell.outputs = []
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
            # widgets (tqdm bars) have no place in a static post: drop them with their text fallback
            cell.outputs = [o for o in cell.outputs
                            if "application/vnd.jupyter.widget-view+json" not in o.get("data", {})]
            if not cell.source.strip() and not cell.outputs:
                continue
        cells.append(cell)
    nb.cells = cells
    return nb


def _copy_media(markdown: str, post_dir: Path, notebook_dir: Path) -> tuple[str, list[str]]:
    """Copy every referenced local media file beside the post and point the links at the copies."""
    media_dir = post_dir / "media"
    copied: list[str] = []

    def inline(match: re.Match) -> str:
        mime, payload = match.group(1), match.group(2)
        data = base64.b64decode(payload)
        ext = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "video/mp4": "mp4"}[mime]
        name = f"inline_{hashlib.sha1(data).hexdigest()[:10]}.{ext}"
        media_dir.mkdir(parents=True, exist_ok=True)
        (media_dir / name).write_bytes(data)
        copied.append(name)
        return f'src="media/{name}"'

    def relink(match: re.Match) -> str:
        attr, src = match.group(1), match.group(2)
        if src.startswith(("http://", "https://", "media/")):
            return match.group(0)
        path = (notebook_dir / src).resolve()
        if not path.exists():
            path = (REPO_ROOT / src).resolve()
        if not path.exists():
            return match.group(0)
        media_dir.mkdir(parents=True, exist_ok=True)
        # keep names unique but readable: parent folder + file name
        name = f"{path.parent.name}_{path.name}" if path.parent.name not in ("", ".") else path.name
        shutil.copy2(path, media_dir / name)
        copied.append(name)
        return f'{attr}="media/{name}"'

    markdown = DATA_URI.sub(inline, markdown)
    markdown = MEDIA_SRC.sub(relink, markdown)
    return markdown, copied


def _relink(markdown: str, post_dir: Path, notebook_dir: Path) -> str:
    """Links written relative to notebooks/ (``../helpers/models/dt.py``) rewritten relative to the post."""
    import os

    def fix(match: re.Match) -> str:
        target, anchor = match.group(1), match.group(2) or ""
        if target.startswith(("http://", "https://", "mailto:", "media/")):
            return match.group(0)
        path = (notebook_dir / target).resolve()
        if not path.exists():
            return match.group(0)
        return f"]({os.path.relpath(path, post_dir.resolve())}{anchor})"

    return MD_LINK.sub(fix, markdown)


def _title(nb: nbformat.NotebookNode, fallback: str) -> tuple[str, str]:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = [line.strip() for line in cell.source.splitlines() if line.strip()]
            if lines and lines[0].startswith("#"):
                rest = next((line for line in lines[1:] if not line.startswith("#")), "")
                return lines[0].lstrip("# ").strip(), rest
    return fallback, ""


def export_notebook(executed: Path, out_root: Path, notebook_dir: Path | None = None) -> dict:
    """One executed .ipynb -> ``out_root/<stem>/index.md`` plus its media; returns a summary."""
    from nbconvert import MarkdownExporter

    executed = Path(executed)
    notebook_dir = Path(notebook_dir) if notebook_dir else REPO_ROOT / "notebooks"
    nb = _clean(nbformat.read(executed, as_version=4))
    title, summary = _title(nb, executed.stem)
    post_dir = Path(out_root) / executed.stem
    if post_dir.exists():
        shutil.rmtree(post_dir)
    post_dir.mkdir(parents=True)
    exporter = MarkdownExporter()
    body, resources = exporter.from_notebook_node(nb, resources={"output_files_dir": "media"})
    for name, data in resources.get("outputs", {}).items():
        target = post_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    body, copied = _copy_media(body, post_dir, notebook_dir)
    body = _relink(body, post_dir, notebook_dir)
    if "base64," in body:
        raise ValueError(f"{executed}: a base64 blob survived the export")
    (post_dir / "index.md").write_text(body)
    return {"stem": executed.stem, "title": title, "summary": summary,
            "figures": sorted(resources.get("outputs", {})), "media": copied}


def export_all(executed_dir: Path, out_root: Path, template: Path | None = None, profile: str | None = None) -> list[dict]:
    """Every executed notebook as an appendix post, and ``out_root/index.md``: the course's one post
    (``course/post.md`` with its numbers filled in from the results files and cards of ``profile``,
    by default the executed folder's name)."""
    from .post import POST_TEMPLATE, write_post

    executed_dir, out_root = Path(executed_dir), Path(out_root)
    notebooks = sorted(p for p in executed_dir.glob("[0-9][0-9]_*.ipynb") if not p.name.endswith(".input.ipynb"))
    if not notebooks:
        raise NotAvailableError(f"no executed notebooks in {executed_dir}: run `make notebooks` first")
    posts = [export_notebook(p, out_root) for p in notebooks]
    profile = profile or (executed_dir.name if executed_dir.name in ("smoke", "cpu", "gpu") else "cpu")
    # the appendix lists every post in the blog, also those exported by an earlier `make blog`
    appendix = [{"stem": d.name, "title": _post_title(d / "index.md")}
                for d in sorted(out_root.glob("[0-9][0-9]_*")) if (d / "index.md").exists()]
    write_post(out_root / "index.md", profile, template or POST_TEMPLATE, appendix=appendix)
    return posts


def _post_title(post: Path) -> str:
    return next((line[2:].strip() for line in post.read_text().splitlines() if line.startswith("# ")), post.parent.name)
