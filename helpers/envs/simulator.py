"""The MuJoCo bodies up close: rendering checks, what observations and actions mean, raw speed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from .skills import MODELS

GL_BACKENDS = ("egl", "osmesa", "glfw")
GL_ADVICE = {
    "egl": "headless GPU or Mesa software rendering: apt install libegl1 libgl1-mesa-dri (Docker: add EGL libraries)",
    "osmesa": "pure software rendering: apt install libosmesa6, then MUJOCO_GL=osmesa PYOPENGL_PLATFORM=osmesa",
    "glfw": "needs a display: run under `xvfb-run -a` (apt install xvfb) or on a desktop",
}

_RENDER_PROBE = """
import mujoco
m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><light pos="0 0 3"/><geom type="sphere" size=".2"/></worldbody></mujoco>')
d = mujoco.MjData(m); mujoco.mj_forward(m, d)
r = mujoco.Renderer(m, 48, 64); r.update_scene(d); img = r.render()
assert img.shape == (48, 64, 3) and img.max() > 0, "blank image"
print("ok")
"""


def check_rendering(backends: tuple[str, ...] = GL_BACKENDS, timeout: float = 60) -> dict[str, str]:
    """Try each MUJOCO_GL backend in a fresh process (the backend is fixed at import time).

    Returns {backend: "ok" | error text}. Use the first "ok" one as MUJOCO_GL.
    """
    results = {}
    for backend in backends:
        env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": "osmesa" if backend == "osmesa" else backend}
        if backend == "glfw":
            env.pop("PYOPENGL_PLATFORM")
        try:
            proc = subprocess.run([sys.executable, "-c", _RENDER_PROBE], env=env, capture_output=True,
                                  text=True, timeout=timeout)
            ok = proc.returncode == 0 and proc.stdout.strip().endswith("ok")
            results[backend] = "ok" if ok else (proc.stderr.strip().splitlines() or ["failed"])[-1][:200]
        except subprocess.TimeoutExpired:
            results[backend] = f"timed out after {timeout:.0f} s"
    return results


def rendering_advice(results: dict[str, str]) -> str:
    """A human answer to 'can I render?' from :func:`check_rendering`."""
    working = [b for b, r in results.items() if r == "ok"]
    if working:
        return f"Rendering works with MUJOCO_GL={working[0]} (working backends: {', '.join(working)})."
    lines = ["No MuJoCo rendering backend works here. Videos will be skipped. Try, in order:"]
    lines += [f"  MUJOCO_GL={b}: {GL_ADVICE[b]}  [{results.get(b, 'not tried')}]" for b in GL_BACKENDS]
    return "\n".join(lines)


def rendering_works() -> bool:
    """Does the current process's MUJOCO_GL render? (cheap check in a subprocess)."""
    backend = os.environ.get("MUJOCO_GL", "egl")
    return check_rendering((backend,)).get(backend) == "ok"


@dataclass
class Dimension:
    index: int
    name: str
    unit: str


def _joint_kind(model: mujoco.MjModel, j: int) -> str:
    kinds = {mujoco.mjtJoint.mjJNT_FREE: "free", mujoco.mjtJoint.mjJNT_BALL: "ball",
             mujoco.mjtJoint.mjJNT_SLIDE: "slide", mujoco.mjtJoint.mjJNT_HINGE: "hinge"}
    return kinds[mujoco.mjtJoint(int(model.jnt_type[j]))]


def describe_observation(body: str) -> list[Dimension]:
    """Name every observation dimension of a body's env (positions first, then velocities).

    Gymnasium's MuJoCo envs observe qpos (without the global x, y: the policy should not care where
    it is) followed by qvel; we read the joint names off the compiled model.
    """
    env_id, kwargs = MODELS[body]
    env = gym.make(env_id, **kwargs)
    model = env.unwrapped.model
    qpos_names, qvel_names = [], []
    for j in range(model.njnt):
        name, kind = model.joint(j).name or f"joint{j}", _joint_kind(model, j)
        if kind == "free":
            qpos_names += [(f"{name} x", "m"), (f"{name} y", "m"), (f"{name} z (height)", "m")]
            qpos_names += [(f"{name} orientation quaternion {c}", "") for c in "wxyz"]
            qvel_names += [(f"{name} velocity {c}", "m/s") for c in "xyz"]
            qvel_names += [(f"{name} angular velocity {c}", "rad/s") for c in "xyz"]
        elif kind == "slide":
            qpos_names.append((f"{name} position", "m"))
            qvel_names.append((f"{name} velocity", "m/s"))
        else:
            qpos_names.append((f"{name} angle", "rad"))
            qvel_names.append((f"{name} angular velocity", "rad/s"))
    skip = 2  # the global x (and y for the humanoid) position is excluded from the observation
    if body == "cheetah":
        skip = 1
    names = qpos_names[skip:] + qvel_names
    obs_dim = env.observation_space.shape[0]
    if len(names) != obs_dim:
        names = (names + [(f"extra {i}", "") for i in range(obs_dim)])[:obs_dim]
    env.close()
    return [Dimension(i, n, u) for i, (n, u) in enumerate(names)]


def describe_action(body: str) -> list[Dimension]:
    """Name every action dimension: the actuated joint and its gear (torque scale)."""
    env_id, kwargs = MODELS[body]
    env = gym.make(env_id, **kwargs)
    model = env.unwrapped.model
    dims = []
    for a in range(model.nu):
        joint = model.joint(model.actuator_trnid[a, 0]).name
        lo, hi = model.actuator_ctrlrange[a]
        dims.append(Dimension(a, f"torque on {joint} (gear {model.actuator_gear[a, 0]:.0f}, range [{lo:g}, {hi:g}])", "N m"))
    env.close()
    return dims


def mj_steps_per_second(body: str, seconds: float = 2.0) -> float:
    """Raw physics: ``mujoco.mj_step`` steps per second on the body's model, timed in C calls only.

    States come from a random-action episode of the env itself (reset when it would end), so the
    physics sees the same contacts as the ``env.step`` loop; only the ``mj_step`` calls are timed.
    """
    env_id, kwargs = MODELS[body]
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    env.action_space.seed(0)
    model, data = env.unwrapped.model, env.unwrapped.data
    fs = env.unwrapped.frame_skip
    physics_time, n, t0 = 0.0, 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        qpos, qvel = data.qpos.copy(), data.qvel.copy()
        data.ctrl[:] = env.action_space.sample()
        t = time.perf_counter()
        mujoco.mj_step(model, data, nstep=fs)
        physics_time += time.perf_counter() - t
        n += fs
        # let the env take the same step from the same state (its obs/reward/termination logic)
        data.qpos[:], data.qvel[:] = qpos, qvel
        _, _, terminated, truncated, _ = env.step(data.ctrl.copy())
        if terminated or truncated:
            env.reset()
    env.close()
    return n / physics_time


def env_steps_per_second(body: str, seconds: float = 2.0) -> float:
    """A plain ``env.step`` loop with random actions (frame_skip physics steps, obs and reward)."""
    env_id, kwargs = MODELS[body]
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(256)]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        n += len(actions)
    elapsed = time.perf_counter() - t0
    env.close()
    return n / elapsed


def frame_skip(body: str) -> int:
    env_id, kwargs = MODELS[body]
    env = gym.make(env_id, **kwargs)
    fs = env.unwrapped.frame_skip
    env.close()
    return fs


def tracking_camera(body: str, make_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``make_kwargs`` with the cheetah filmed by the model's own "track" camera when it renders:
    Gymnasium's default view is a free camera that stays put while the cheetah runs out of the frame.
    (The humanoids' default camera already follows the torso.)"""
    if body == "cheetah" and make_kwargs.get("render_mode") and not {"camera_name", "camera_id"} & set(make_kwargs):
        return {**make_kwargs, "camera_name": "track"}
    return make_kwargs


def random_rollout_frames(body: str, steps: int, size: tuple[int, int] = (320, 240), seed: int = 0) -> list[np.ndarray]:
    """Frames of a uniformly random policy (what every learner starts from)."""
    env_id, kwargs = MODELS[body]
    env = gym.make(env_id, **tracking_camera(body, {"render_mode": "rgb_array", "width": size[0], "height": size[1], **kwargs}))
    env.reset(seed=seed)
    env.action_space.seed(seed)
    frames = [env.render()]
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        frames.append(env.render())
        if terminated or truncated:
            env.reset()
    fps = env.metadata.get("render_fps", 30)
    env.close()
    return frames, fps
