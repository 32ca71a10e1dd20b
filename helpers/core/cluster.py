"""A real Ray cluster and real torchrun "nodes" on one machine, over loopback: what the tests, the
scaling benchmark and notebook 09 scale out on.

    with LocalRayCluster(nodes=2, cpus_per_node=1) as cluster:   # `ray start --head` + `ray start --address`
        collect(..., ray_address=cluster.address)
    runs = torchrun_nodes(["-m", "helpers.train_generalist", ...], nnodes=2)   # two torchrun agents, c10d

Both drive the engines' own command lines (``ray start``, ``ray stop``, ``torchrun``) exactly as on a
cluster where each command runs on its own machine; only the addresses are 127.0.0.1 and every node
has its own ``--num-cpus``. Nothing here schedules work: Ray and torchrun do.

Two notes from this machine: ``ray stop --force`` stops every Ray process of the machine (Ray has no
per-cluster stop), so only one local cluster should run at a time; and Ray (2.5x and later) turns on
token authentication when ``~/.ray/auth_token`` exists, which a loopback-only cluster does not need, so
it is started with ``RAY_AUTH_MODE=disabled`` (unless set) and drivers join it without a token.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _bin(name: str) -> str:
    """An executable of this Python's environment (``ray``, ``torchrun``), else from PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else (shutil.which(name) or name)


def ray_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for ``ray`` commands and drivers of a local cluster."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **(extra or {})}
    env.setdefault("RAY_AUTH_MODE", "disabled")
    return env


def wait_for_dashboard(url: str, timeout: float = 180.0) -> None:
    """Until the Ray dashboard at ``url`` answers (any HTTP reply, e.g. an auth error on a real cluster)."""
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/version", timeout=5).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Ray dashboard at {url} did not answer within {timeout:.0f} s") from None
            time.sleep(0.5)


@dataclass
class LocalRayCluster:
    """``nodes`` Ray nodes on this machine: a head (``ray start --head``) and ``nodes - 1`` nodes that
    join it (``ray start --address``), ``cpus_per_node`` CPUs each. Use as a context manager."""

    nodes: int = 2
    cpus_per_node: int = 1
    dashboard: bool = False  # the dashboard serves `ray job submit`; off, the cluster starts faster
    object_store_mb: int = 100
    timeout: float = 180.0
    port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)
    temp_dir: str = ""
    started_s: float = 0.0

    @property
    def address(self) -> str:
        """What ``ray.init(address=...)`` and ``--ray`` take: the head's GCS, HOST:PORT."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def dashboard_url(self) -> str:
        """What ``ray job submit --address`` takes (with ``dashboard=True``)."""
        return f"http://{LOOPBACK}:{self.dashboard_port}"

    def _common(self) -> list[str]:
        return ["--num-cpus", str(self.cpus_per_node), "--node-ip-address", LOOPBACK, "--temp-dir", self.temp_dir,
                "--object-store-memory", str(self.object_store_mb * 2**20), "--disable-usage-stats"]

    def _ray(self, *args: str) -> None:
        proc = subprocess.run([_bin("ray"), *args], env=ray_env(), capture_output=True, text=True, timeout=self.timeout)
        if proc.returncode:
            raise RuntimeError(f"`ray {' '.join(args[:2])} ...` failed (exit {proc.returncode}): "
                               f"{(proc.stderr or proc.stdout)[-1500:]}")

    def start(self, attempts: int = 2) -> "LocalRayCluster":
        """Start the head and the other nodes. A node that times out registering with the head (seen on
        a loaded 2-core machine: "The current node timed out during startup") gets the whole
        cluster stopped and started again, up to ``attempts`` times, on fresh ports."""
        t0 = time.perf_counter()
        for attempt in range(attempts):
            try:
                self._start_once()
                break
            except RuntimeError as exc:
                if attempt + 1 == attempts or "timed out" not in str(exc):
                    raise
                self.port, self.dashboard_port, self.temp_dir = free_port(), free_port(), ""
        self.started_s = time.perf_counter() - t0
        return self

    def _start_once(self) -> None:
        self.temp_dir = self.temp_dir or tempfile.mkdtemp(prefix="course-ray-")
        head = ["start", "--head", "--port", str(self.port), "--ray-client-server-port", str(free_port()),
                "--include-dashboard", str(self.dashboard).lower()]
        if self.dashboard:
            head += ["--dashboard-host", LOOPBACK, "--dashboard-port", str(self.dashboard_port)]
        try:
            self._ray(*head, *self._common())
            for _ in range(self.nodes - 1):
                self._ray("start", "--address", self.address, *self._common())
            if self.dashboard:  # `ray start` returns before it answers; `ray job submit` right away can fail
                wait_for_dashboard(self.dashboard_url, self.timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """``ray stop --force`` (every Ray process of this machine), then remove the temp dir."""
        subprocess.run([_bin("ray"), "stop", "--force"], env=ray_env(), capture_output=True, timeout=120)
        if self.temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> "LocalRayCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def torchrun_command(args: list[str], nnodes: int = 2, nproc_per_node: int = 1, port: int | None = None,
                     run_id: str | None = None, max_restarts: int = 0) -> list[str]:
    """One node's torchrun command line: c10d rendezvous at 127.0.0.1:PORT (the same on every node)."""
    port = port or free_port()
    return [_bin("torchrun"), f"--nnodes={nnodes}", f"--nproc-per-node={nproc_per_node}", "--rdzv-backend=c10d",
            f"--rdzv-endpoint={LOOPBACK}:{port}", f"--rdzv-id={run_id or uuid.uuid4().hex[:8]}",
            f"--max-restarts={max_restarts}", *args]


def torchrun_nodes(args: list[str], nnodes: int = 2, nproc_per_node: int = 1, max_restarts: int = 0,
                   env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 600.0
                   ) -> list[subprocess.CompletedProcess]:
    """Run ``nnodes`` torchrun agents (as many "nodes") of one job on this machine and wait for all;
    returns each agent's completed process (rank-0 output is in one of them)."""
    cmd = torchrun_command(args, nnodes, nproc_per_node, free_port(), max_restarts=max_restarts)
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    logs = [(tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")) for _ in range(nnodes)]  # no pipe to fill
    procs = [subprocess.Popen(cmd, env=env, cwd=cwd, stdout=o, stderr=e, text=True) for o, e in logs]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(p.poll() is None for p in procs):
        time.sleep(0.2)
    timed_out = [p for p in procs if p.poll() is None]
    for p in timed_out:
        p.kill()

    def read(f) -> str:
        f.seek(0)
        text = f.read()
        f.close()
        return text

    done = [subprocess.CompletedProcess(cmd, p.wait(), read(o), read(e)) for p, (o, e) in zip(procs, logs)]
    if timed_out:
        tails = "\n---\n".join(r.stderr[-3000:] for r in done)
        raise TimeoutError(f"torchrun did not finish in {timeout:.0f} s (killed); the agents' last words:\n{tails}")
    return done
