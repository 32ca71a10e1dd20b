"""Scaling out on real engines: collection on a 2-node Ray cluster and the generalist under torchrun.

    python benchmarks/scaling_out.py --json [--steps 100000] [--repeats 3] [--ddp-steps 30]

Starts its own cluster (``ray start --head`` and ``ray start --address``, one CPU per node, loopback
only), measures, and stops it (``ray stop --force``); then runs its own torchrun job (two c10d "nodes"
of one process each, gloo). Measured in this run, on this machine:
* ``ratio``: Ray collection steps/s with 2 workers over 1 worker, same cluster, same run (after a
  warm-up job, so that both compare rollouts rather than worker start-up; each configuration the
  median of ``--repeats`` runs, taking turns);
* ``machine_ceiling``: raw physics steps/s of 2 processes at once over 1 alone, the most any
  collector can scale on this machine (cores shared in a VM give less than 2);
* ``vs_multiprocessing``: Ray's 2-worker steps/s over the multiprocessing collector's at 2 workers;
* ``merge_share``: the Minari merge's time over the collection's (Ray, 2 workers);
* ``ddp_processes`` and ``ddp_max_loss_gap``: the largest absolute difference of the training loss,
  2 processes vs 1 at the same global batch, over the first ``--ddp-steps`` steps; ``ddp_speedup``.
The last line printed is one JSON object; ``baseline`` names what ``ratio`` is measured against.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--skill", default="run_forward")
    p.add_argument("--steps", type=int, default=100_000, help="collection steps per measured run")
    p.add_argument("--repeats", type=int, default=3, help="runs per configuration (the median is reported)")
    p.add_argument("--envs-per-worker", type=int, default=16)
    p.add_argument("--ddp-steps", type=int, default=30)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    from helpers.core.cluster import LocalRayCluster
    from helpers.core.provenance import machine_info
    from helpers.course.scaling import DDPBench, collection_scaling, ddp_data, ddp_scaling

    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="scaling-out-") as tmp:
        with LocalRayCluster(nodes=2, cpus_per_node=1) as cluster:
            coll = collection_scaling(cluster.address, args.steps, Path(tmp) / "collect", skill=args.skill,
                                      envs_per_worker=args.envs_per_worker, repeats=args.repeats)
            cluster_start_s = cluster.started_s
        ddp = ddp_scaling(ddp_data(Path(tmp) / "ddp_data"), Path(tmp) / "ddp", DDPBench(steps=args.ddp_steps))
    out = {
        "benchmark": "scaling_out", "baseline": "1 Ray worker on the same 2-node cluster, same run",
        "machine": machine_info(), "cores": os.cpu_count(), "load_avg_1m_at_start": load_start,
        "load_avg_1m_at_end": os.getloadavg()[0], "cluster_start_s": cluster_start_s,
        "ray_nodes": coll["ray_nodes"], "ratio": coll["ratio"], "vs_multiprocessing": coll["vs_multiprocessing"],
        "machine_ceiling": coll["machine_ceiling"], "merge_share": coll["merge_share"], "repeats": coll["repeats"], "ray_overhead_share": coll["ray_overhead_share"],
        "ray_warmup_seconds": coll["ray_warmup_seconds"], "plain_loop_steps_per_s": coll["plain_loop_steps_per_s"],
        "collection": coll["rows"], "bytes_per_task": coll["bytes_per_task"],
        "ddp_processes": ddp["ddp_processes"], "ddp_max_loss_gap": ddp["ddp_max_loss_gap"], "ddp_speedup": ddp["speedup"],
        "ddp_step_seconds": dict(zip(map(str, ddp["processes"]), ddp["step_seconds"])),
        "ddp_same_weights_on_every_rank": ddp["same_weights_on_every_rank"], "ddp_parameters": ddp["parameters"],
    }
    if not args.json:
        for k, v in out.items():
            if k != "machine":
                print(f"{k}: {v}")
    print(json.dumps(out, default=float))
    return out


if __name__ == "__main__":
    main()
