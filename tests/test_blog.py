import base64

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from helpers.course.blog import export_all, export_notebook

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def test_export_writes_files_not_blobs_and_hides_tagged_cells(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    video = tmp_path / "artifacts" / "clip.mp4"
    video.parent.mkdir()
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "x.py").write_text("")
    nb = new_notebook(cells=[
        new_markdown_cell("# 01 · A post\n\nWhat this post is about, in [the code](../helpers/x.py)."),
        new_code_cell("PROFILE = 'smoke'", metadata={"tags": ["parameters"]}),
        new_code_cell("import secret_plumbing", metadata={"tags": ["hide"]}),
        new_code_cell("plot()", outputs=[new_output("display_data", data={
            "image/png": base64.b64encode(PNG).decode(), "text/plain": "<Figure>"})]),
        new_code_cell("show_video()", outputs=[new_output("display_data", data={
            "text/html": '<video src="../artifacts/clip.mp4" controls></video>'})]),
        new_code_cell("warn()", outputs=[new_output("stream", name="stderr", text="WARNING: noise")]),
    ])
    executed = tmp_path / "executed"
    executed.mkdir()
    nbformat.write(nb, executed / "01_a_post.ipynb")

    post_info = export_notebook(executed / "01_a_post.ipynb", tmp_path / "blog", notebook_dir=notebooks)
    post = (tmp_path / "blog" / "01_a_post" / "index.md").read_text()
    assert "base64" not in post
    assert "secret_plumbing" not in post and "PROFILE" not in post and "WARNING: noise" not in post
    assert 'src="media/artifacts_clip.mp4"' in post
    assert (tmp_path / "blog" / "01_a_post" / "media" / "artifacts_clip.mp4").exists()
    figures = list((tmp_path / "blog" / "01_a_post" / "media").glob("*.png"))
    assert len(figures) == 1 and figures[0].read_bytes() == PNG
    assert post_info["title"] == "01 · A post"
    assert "[the code](../../helpers/x.py)" in post  # relative to the post, not to notebooks/


def test_index_lists_posts(tmp_path):
    executed = tmp_path / "executed"
    executed.mkdir()
    for stem in ("00_first", "01_second"):
        nb = new_notebook(cells=[new_markdown_cell(f"# {stem}\n\nSummary of {stem}.")])
        nbformat.write(nb, executed / f"{stem}.ipynb")
    export_all(executed, tmp_path / "blog")
    index = (tmp_path / "blog" / "index.md").read_text()
    assert "- [00_first](00_first/index.md)" in index and index.startswith("# Building a generalist RL agent")
    assert index.index("00_first") < index.index("01_second")
