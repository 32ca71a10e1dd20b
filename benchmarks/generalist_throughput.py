"""The generalist's cost: training throughput against the single-skill Decision Transformer, acting
speed, and memory, all measured in this run.

    python benchmarks/generalist_throughput.py --json [--rounds 6] [--steps-per-round 8] [--threads 1]

* ``generalist_samples_per_s`` / ``dt_samples_per_s``: training samples per second (forward, loss,
  backward, clipping, AdamW) at the same width and depth (context 20, width 128, 3 layers, batch 64):
  the generalist on a batch mixing bodies (cheetah and humanoid windows, per-body projections, goal
  tokens), the DT on cheetah windows. They alternate in rounds so that load changes hit both;
  ``ratio`` = generalist / DT (medians over rounds).
* ``actions_per_s_batch1``: one env, one action per call through the key/value-cached runner, timed
  by the wall clock and by this process's CPU time; ``actions_per_s_batched``: ``--envs`` cheetahs
  acted for with one batched full-window forward per step (the way a vectorised evaluation would).
* ``train_peak_rss_mb``: peak resident memory of a separate process that trains on a 5M-step
  memory-mapped cheetah dataset and a 1M-step humanoid one (synthetic, the real layout).
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

B, K = 64, 20


def models():
    from helpers.models.dt import DecisionTransformer, DTConfig
    from helpers.models.generalist import Generalist, GeneralistConfig

    gen = Generalist(GeneralistConfig(context_len=K, n_layer=3, n_head=1, n_embd=128, dropout=0.1))
    dt = DecisionTransformer(DTConfig(state_dim=17, act_dim=6, context_len=K, n_layer=3, n_head=1, n_embd=128, dropout=0.1))
    return gen, dt


def batches(gen, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    cfg = gen.cfg
    body = torch.randint(0, len(cfg.bodies), (B,), generator=g)
    gb = {"states": torch.randn(B, K, cfg.state_dim, generator=g), "actions": torch.rand(B, K, cfg.act_dim, generator=g) * 2 - 1,
          "goals": torch.randn(B, K, cfg.goal_dim, generator=g), "timesteps": torch.randint(0, 980, (B, 1), generator=g) + torch.arange(K),
          "mask": torch.ones(B, K, dtype=torch.bool), "body": body}
    db = {"states": torch.randn(B, K, 17, generator=g), "actions": torch.rand(B, K, 6, generator=g) * 2 - 1,
          "returns_to_go": torch.randn(B, K, 1, generator=g), "timesteps": gb["timesteps"], "mask": gb["mask"]}
    return gb, db


def step_fns(gen, dt):
    from helpers.models.dt import action_loss

    opts = {m: torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=1e-4) for m in (gen, dt)}
    gen.train(), dt.train()

    def gen_step(b):
        pred = gen(b["states"], b["actions"], b["goals"], b["timesteps"], b["body"])
        loss = gen.loss(pred, b["actions"], b["mask"], b["body"])
        opts[gen].zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(gen.parameters(), 0.25)
        opts[gen].step()

    def dt_step(b):
        pred = dt(b["states"], b["actions"], b["returns_to_go"], b["timesteps"])
        loss = action_loss(pred, b["actions"], b["mask"])
        opts[dt].zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(dt.parameters(), 0.25)
        opts[dt].step()

    return gen_step, dt_step


def training_ratio(rounds: int, steps: int) -> dict:
    gen, dt = models()
    gb, db = batches(gen)
    gen_step, dt_step = step_fns(gen, dt)
    for _ in range(2):  # warm-up
        gen_step(gb), dt_step(db)
    g_rates, d_rates = [], []
    for _ in range(rounds):
        for fn, batch, rates in ((gen_step, gb, g_rates), (dt_step, db, d_rates)):
            t0 = time.perf_counter()
            for _ in range(steps):
                fn(batch)
            rates.append(steps * B / (time.perf_counter() - t0))
    g, d = statistics.median(g_rates), statistics.median(d_rates)
    return {"generalist_samples_per_s": round(g, 1), "dt_samples_per_s": round(d, 1), "ratio": round(g / d, 3),
            "rounds": rounds, "steps_per_round": steps, "batch": B, "context": K, "width": 128, "layers": 3}


def acting_speed(envs: int, steps: int) -> dict:
    from helpers.envs.factory import make_env
    from helpers.models.generalist_policy import GeneralistPolicy

    gen, _ = models()
    gen.eval()
    cfg = gen.cfg
    config = {"normalisation": {b: {"obs_mean": [0.0] * o, "obs_std": [1.0] * o} for b, (o, _) in cfg.bodies.items()},
              "action_scale": {b: [1.0] * a for b, (_, a) in cfg.bodies.items()}}
    policy = GeneralistPolicy(gen, config)
    env = make_env("run_forward")
    obs, _ = env.reset(seed=0)
    policy.start("cheetah", "run_forward")
    t_wall, t_cpu, timed = 0.0, 0.0, 0
    for i in range(steps):
        w, c = time.perf_counter(), time.process_time()
        action = policy(obs)
        if i >= 20:  # past the warm-up
            t_wall += time.perf_counter() - w
            t_cpu += time.process_time() - c
            timed += 1
        obs, _, term, trunc, _ = env.step(action)
        if term or trunc:
            obs, _ = env.reset()
            policy.start("cheetah", "run_forward")
    # batched: one full-window forward for many envs at once (no cache), as a vectorised evaluation would
    from helpers.models.generalist import goal_features

    view = gen.body_view("cheetah")
    s = torch.randn(envs, K, 17)
    a = torch.rand(envs, K, 6) * 2 - 1
    g = torch.from_numpy(goal_features(cfg, np.zeros((envs, K), np.int64), np.full((envs, K), np.nan)))
    t = torch.arange(K)[None].repeat(envs, 1)
    with torch.inference_mode():
        view(s, a, g, t)
        reps = 20
        t0 = time.perf_counter()
        for _ in range(reps):
            view(s, a, g, t)
        batched = envs * reps / (time.perf_counter() - t0)
    return {"actions_per_s_batch1": round(timed / t_wall, 1), "actions_per_cpu_s_batch1": round(timed / t_cpu, 1),
            "actions_per_s_batched": round(batched, 1), "batched_envs": envs}


RSS_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, sys.argv[1])
torch.set_num_threads(1)
from helpers.data.flat import synthetic_flat
from helpers.data.windows import WindowSampler
from helpers.models.generalist import Generalist, GeneralistConfig, goal_features
root = Path(sys.argv[1]) / "datasets" / "bench"
cheetah = synthetic_flat(root / "generalist_cheetah_5M", 5_000_000, obs_dim=17, act_dim=6)
humanoid = synthetic_flat(root / "generalist_humanoid_1M", 1_000_000, obs_dim=45, act_dim=17)
gen = Generalist(GeneralistConfig(context_len=20))
opt = torch.optim.AdamW(gen.parameters(), lr=1e-4)
samplers = {"cheetah": WindowSampler(cheetah, 20), "humanoid": WindowSampler(humanoid, 20)}
rng = np.random.default_rng(0)
cfg = gen.cfg
for step in range(int(sys.argv[2])):
    body = "cheetah" if step % 2 == 0 else "humanoid"
    b = samplers[body].sample(64, rng)
    o, a = cfg.bodies[body]
    states = np.zeros((64, 20, cfg.state_dim), np.float32); states[..., :o] = b["states"]
    actions = np.zeros((64, 20, cfg.act_dim), np.float32); actions[..., :a] = b["actions"]
    goals = goal_features(cfg, np.zeros((64, 20), np.int64), np.full((64, 20), np.nan))
    bi = torch.full((64,), gen.body_index(body))
    pred = gen(torch.from_numpy(states), torch.from_numpy(actions), torch.from_numpy(goals), torch.from_numpy(b["timesteps"]), bi)
    loss = gen.loss(pred, torch.from_numpy(actions), torch.from_numpy(b["mask"]), bi)
    opt.zero_grad(); loss.backward(); opt.step()
status = Path("/proc/self/status").read_text()
fields = {l.split(":")[0]: int(l.split()[1]) for l in status.splitlines() if l.startswith(("RssAnon", "RssFile"))}
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "anon_mb": fields.get("RssAnon", 0) / 1024, "file_mb": fields.get("RssFile", 0) / 1024}))
"""


def peak_rss(steps: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", RSS_CHILD, str(REPO), str(steps)], capture_output=True, text=True,
                          timeout=3600)
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"train_peak_rss_mb": round(res["peak_rss_mb"], 1), "train_rss_anon_mb": round(res["anon_mb"], 1),
            "train_rss_file_mb": round(res["file_mb"], 1), "rss_steps": steps}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--steps-per-round", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--envs", type=int, default=64)
    p.add_argument("--act-steps", type=int, default=2000)
    p.add_argument("--rss-steps", type=int, default=50)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from helpers.core.provenance import machine_info

    res = {"benchmark": "generalist_throughput", "baseline": "single-skill DecisionTransformer, same width and depth",
           **training_ratio(args.rounds, args.steps_per_round), **acting_speed(args.envs, args.act_steps),
           **peak_rss(args.rss_steps), "threads": args.threads, "machine": machine_info(),
           "load_average": list(__import__("os").getloadavg())}
    print(json.dumps(res) if args.json else json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
