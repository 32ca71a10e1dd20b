"""Videos and figures saved as files (the blog export links them; no base64 blobs)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import REPO_ROOT


def ffmpeg_path() -> str:
    """An ffmpeg executable for mediapy: the system one, else imageio-ffmpeg's bundled binary."""
    exe = shutil.which("ffmpeg")
    if exe:
        return exe
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError("no ffmpeg found: install Debian's ffmpeg (apt install ffmpeg) "
                           "or pip install 'imageio-ffmpeg<0.8'") from exc


def save_video(path: str | Path, frames: Sequence[np.ndarray], fps: float = 30) -> Path:
    """Write RGB frames to an mp4 (H.264) with mediapy."""
    import mediapy

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not len(frames):
        raise ValueError(f"no frames to write to {path}")
    mediapy.set_ffmpeg(ffmpeg_path())
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    mediapy.write_video(tmp, np.asarray(frames), fps=fps)
    os.replace(tmp, path)
    return path


def artifact_dir(notebook: str, profile: str) -> Path:
    """Where a notebook run keeps its videos and figures: ``artifacts/<notebook>/<profile>/``."""
    path = REPO_ROOT / "artifacts" / notebook / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


def show_video(path: str | Path, width: int = 320):
    """Display an mp4 inline by reference to the file (the export copies the file beside the post).

    The link is relative to the kernel's working directory, as JupyterLab serves it.
    """
    from IPython.display import Video

    rel = os.path.relpath(Path(path).resolve(), Path.cwd())
    return Video(rel, width=width, html_attributes="controls loop autoplay muted playsinline")


def save_figure(fig, path: str | Path) -> Path:
    """Save a matplotlib figure as PNG (the notebook still shows it inline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def caption(frames: Sequence[np.ndarray], texts: Sequence[str], size: int = 12) -> list[np.ndarray]:
    """The frames with one line of text each written in their top-left corner (the skill in force,
    the switch times), white on a dark band so it reads on any background."""
    from PIL import Image, ImageDraw  # Pillow: a dependency of matplotlib

    out = []
    for frame, text in zip(frames, texts):
        image = Image.fromarray(np.asarray(frame))
        draw = ImageDraw.Draw(image)
        box = draw.textbbox((4, 3), text)
        draw.rectangle((0, 0, box[2] + 4, box[3] + 3), fill=(20, 20, 20))
        draw.text((4, 3), text, fill=(255, 255, 255))
        out.append(np.asarray(image))
    return out
