"""helpers.collect: the CLI contract, resumption after a kill, shard validation, Ray."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers.data.collection import Job, collect, staging_dir
from helpers.data.minari_io import load_dataset
from helpers.data.shards import INFO_KEYS, ShardError, completed, read_shard, write_shard

ENV = {**os.environ, "COURSE_SHARD_STEPS": "2000"}


def _cli(*args, env=ENV, timeout=600, cwd=None):
    return subprocess.run([sys.executable, "-m", "helpers.collect", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=cwd)


def _last_json(proc):
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _ids_and_steps(root, dataset_id):
    ds = load_dataset(root, dataset_id)
    ids = [ep.id for ep in ds.iterate_episodes()]
    return ids, ds.total_steps, ds


def test_cli_writes_a_minari_dataset_with_metadata(tmp_path):
    res = _last_json(_cli("--skill", "target_speed", "--quality", "random", "--steps", "3000",
                          "--out", str(tmp_path), "--seed", "5", "--workers", "2"))
    assert res["dataset_id"] == "course/target_speed/random-v0"
    ids, steps, ds = _ids_and_steps(tmp_path, res["dataset_id"])
    assert ids == [0, 1, 2] and steps == 3000
    ep = ds[1]
    assert ep.observations.shape == (1001, 18) and ep.actions.shape == (1000, 6)
    # the goal is recorded per episode (options) and per step (infos), and is what the obs carries
    assert np.allclose(ep.infos["target_speed"], ep.observations[:, -1])
    meta = json.loads((tmp_path / res["dataset_id"] / "data" / "metadata.json").read_text())
    assert meta["course_skill"] == "target_speed" and meta["course_quality"] == "random"
    assert meta["course_job"]["seed"] == 5 and "course_returns" in meta
    assert not (tmp_path / ".staging" / "course__target_speed__random-v0").exists()
    # rerunning a finished job is a no-op that reports the same dataset
    again = _last_json(_cli("--skill", "target_speed", "--quality", "random", "--steps", "3000",
                            "--out", str(tmp_path), "--seed", "5"))
    assert again["already_complete"] and again["total_steps"] == 3000
    # a relative --out is the folder under the working directory (Minari alone would double it)
    rel = _last_json(_cli("--skill", "target_speed", "--quality", "random", "--steps", "1000",
                          "--out", "relative/root", "--workers", "1", cwd=tmp_path))
    assert Path(rel["path"]) == tmp_path / "relative" / "root" / "course" / "target_speed" / "random-v0"


def test_bad_arguments_are_named():
    proc = _cli("--skill", "fly", "--quality", "expert", "--steps", "10", "--out", "/tmp/x")
    assert proc.returncode == 2 and "known skills" in proc.stderr
    proc = _cli("--skill", "jump", "--quality", "great", "--steps", "10", "--out", "/tmp/x")
    assert proc.returncode == 2 and "expert, medium, random" in proc.stderr


def test_killed_collection_finishes_on_rerun_without_duplicates(tmp_path):
    args = ["--skill", "run_forward", "--quality", "random", "--steps", "16000", "--out", str(tmp_path),
            "--workers", "2", "--envs-per-worker", "2"]
    proc = subprocess.Popen([sys.executable, "-m", "helpers.collect", *args], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    stage = staging_dir(tmp_path, Job("run_forward", "random", 16000, 0))
    deadline = time.time() + 240
    while time.time() < deadline and len(list(stage.glob("shard_*.npz"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: parent and workers
    proc.wait()
    partial = completed(stage)
    assert 0 < len(partial) < 16, "the kill should land midway"
    res = _last_json(_cli(*args))
    ids, steps, ds = _ids_and_steps(tmp_path, res["dataset_id"])
    assert ids == list(range(16)) and steps == 16000
    seeds = [ep.id for ep in ds.iterate_episodes()]
    assert len(set(seeds)) == 16


def test_shard_errors_name_the_file(tmp_path):
    job = Job("run_forward", "random", 2000, 0)
    stage = staging_dir(tmp_path, job)
    stage.mkdir(parents=True)
    L = 5
    episode = {"id": 0, "seed": 0, "target_speed": np.nan, "observations": np.zeros((L + 1, 17)),
               "actions": np.zeros((L, 6), np.float32), "rewards": np.zeros(L), "terminations": np.zeros(L, bool),
               "truncations": np.zeros(L, bool), "infos": {k: np.zeros(L + 1) for k in INFO_KEYS}}
    good = stage / "shard_a_0000.npz"
    write_shard(good, [episode])
    assert [e["id"] for e in read_shard(good, 17, 6)] == [0]
    with pytest.raises(ShardError, match=r"shard_a_0000.npz: observations have shape \(6, 17\), expected \(N, 18\)"):
        list(read_shard(good, 18, 6))
    truncated = stage / "shard_b_0000.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ShardError, match="shard_b_0000.npz: corrupt or truncated"):
        completed(stage)
    # a rerun of the job meets the same clear error rather than silently dropping episodes
    with pytest.raises(ShardError, match="shard_b_0000.npz"):
        collect("run_forward", "random", 2000, tmp_path, workers=1, verbose=False)
    truncated.unlink()
    shutil.copy(good, stage / "shard_c_0000.npz")
    with pytest.raises(ShardError, match="episode 0 is in both"):
        completed(stage)


@pytest.mark.slow
@pytest.mark.ray
def test_ray_collection_on_a_local_two_cpu_cluster(tmp_path):
    # RAY_ADDRESS pointing elsewhere must not be joined: "local" always starts its own throwaway cluster
    env = {**ENV, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ADDRESS": "192.0.2.1:1"}
    res = _last_json(_cli("--skill", "jump", "--quality", "random", "--steps", "4000", "--out", str(tmp_path),
                          "--ray", "local", "--workers", "2", env=env))
    ids, steps, _ = _ids_and_steps(tmp_path, res["dataset_id"])
    assert ids == [0, 1, 2, 3] and steps == 4000 and res["workers"] == 2


def test_two_concurrent_runs_of_one_job_do_not_duplicate(tmp_path):
    args = [sys.executable, "-m", "helpers.collect", "--skill", "run_backward", "--quality", "random", "--steps",
            "4000", "--out", str(tmp_path), "--workers", "1"]
    procs = [subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    results = [json.loads(o[0].strip().splitlines()[-1]) for o in outs]
    assert sorted(r["already_complete"] for r in results) == [False, True]
    ids, steps, _ = _ids_and_steps(tmp_path, "course/run_backward/random-v0")
    assert ids == [0, 1, 2, 3] and steps == 4000


@pytest.mark.parametrize("skill", ["run_forward", "run_backward", "jump", "front_flip", "target_speed"])
def test_the_cheetah_batch_steps_exactly_as_gymnasium(skill):
    """CheetahBatch (the collector's fast path) against env.step: same obs, rewards, truncation and
    infos, bit for bit, over a whole episode with some envs idle."""
    from helpers.data.batch_envs import CheetahBatch, GymBatch
    from helpers.envs.skills import get_skill

    fast, slow = CheetahBatch(get_skill(skill), 3), GymBatch(get_skill(skill), 3)
    for slot in range(3):
        a, b = fast.reset(slot, 40 + slot), slow.reset(slot, 40 + slot)
        assert np.array_equal(a[0], b[0]) and a[1] == b[1]
    rng = np.random.default_rng(0)
    slots = np.array([0, 2])
    for t in range(fast.max_episode_steps):
        actions = rng.uniform(-1, 1, (2, 6)).astype(np.float32)
        got, want = fast.step(slots, actions), slow.step(slots, actions)
        for name, x, y in zip(("obs", "rewards", "terminated", "truncated", "infos"), got, want):
            assert x.shape == y.shape and np.array_equal(x, y), (skill, t, name)
        assert got[3].all() == (t == fast.max_episode_steps - 1)  # the time limit, on its last step only
    assert fast.elapsed.tolist() == [fast.max_episode_steps, 0, fast.max_episode_steps]


def test_the_fast_minari_writer_gives_back_the_same_dataset(tmp_path):
    """append_episodes against Minari's own update_episodes: Minari reads back the same episodes."""
    import minari
    from minari.data_collector import EpisodeBuffer

    from helpers.data.minari_io import _minari_root, append_episodes

    rng = np.random.default_rng(1)

    def episode(i):
        n = int(rng.integers(3, 30))
        return EpisodeBuffer(id=i, seed=100 + i, options={"target_speed": 0.5 * i} if i % 2 else None,
                             observations=rng.standard_normal((n + 1, 18)), actions=rng.uniform(-1, 1, (n, 6)).astype(np.float32),
                             rewards=rng.standard_normal(n), terminations=np.zeros(n, bool), truncations=np.arange(n) == n - 1,
                             infos={"x_velocity": rng.standard_normal(n + 1), "skill_id": rng.integers(0, 5, n + 1)})

    episodes = [episode(i) for i in range(5)]
    loaded = []
    for name, write in (("minari", lambda ds: ds.storage.update_episodes(episodes[1:])),
                        ("fast", lambda ds: append_episodes(ds.storage, iter(episodes[1:])))):
        with _minari_root(tmp_path / name):
            ds = minari.create_dataset_from_buffers(f"t/{name}/x-v0", episodes[:1], env="course/target_speed-v0",
                                                    algorithm_name="test", author="test", code_permalink="test",
                                                    description="test", data_format="hdf5")
            write(ds)
            ds = minari.load_dataset(f"t/{name}/x-v0")
            loaded.append((ds.total_episodes, ds.total_steps, list(ds.iterate_episodes())))
    (n_a, steps_a, eps_a), (n_b, steps_b, eps_b) = loaded
    assert n_a == n_b == 5 and steps_a == steps_b == sum(len(e.rewards) for e in episodes)
    for a, b in zip(eps_a, eps_b):
        assert a.id == b.id
        for key in ("observations", "actions", "rewards", "terminations", "truncations"):
            x, y = getattr(a, key), getattr(b, key)
            assert x.dtype == y.dtype and np.array_equal(x, y), key
        assert a.infos.keys() == b.infos.keys() and all(np.array_equal(a.infos[k], b.infos[k]) for k in a.infos)
    import h5py

    files = [next((tmp_path / name).rglob("main_data.hdf5")) for name in ("minari", "fast")]
    with h5py.File(files[0]) as a, h5py.File(files[1]) as b:
        assert list(a) == list(b) and all(dict(a[g].attrs) == dict(b[g].attrs) for g in a)
    with pytest.raises(ShardError, match="sequential"):
        with _minari_root(tmp_path / "fast"):
            append_episodes(minari.load_dataset("t/fast/x-v0").storage, iter([episode(9)]))
