import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# `make test` runs two pytest-xdist workers with --dist loadgroup. Each file is one group (its tests run
# in order on one worker, its module fixtures built once), except that everything starting a Ray
# cluster or a notebook kernel shares one group: two Ray clusters starting at once on 2 cores time
# out, the notebooks (which start Ray themselves) take about half the suite, and two notebook kernels
# at once oversubscribe the cores (a smoke cell of notebook 07 then ran past its 180 s limit).
SERIAL_FILES = {"test_notebooks.py", "test_scaling_out.py", "test_gpu_dry_run.py"}


def pytest_itemcollected(item):
    serial = item.path.name in SERIAL_FILES or item.get_closest_marker("ray") is not None
    item.add_marker(pytest.mark.xdist_group("ray_and_notebooks" if serial else item.path.name))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    # pytest-xdist (3.6-3.8) tells the scheduler an item's group by renaming it `<nodeid>@<group>`
    # through `item._nodeid`, which pytest 9 no longer reads (node ids live in `item._id`): without
    # this the groups were silently ignored, and two Ray clusters started at once on 2 cores.
    from _pytest.nodes import coerce_node_id

    for item in items:
        renamed = getattr(item, "_nodeid", None)
        if renamed and renamed != item.nodeid:
            item._id = coerce_node_id(renamed)
