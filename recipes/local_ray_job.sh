#!/bin/bash
# A Ray cluster of two nodes on this machine (loopback only), and the collector submitted to it as a
# Ray job, as on a real cluster: `ray start --head` on one node, `ray start --address` on the others,
# `ray job submit` from anywhere that reaches the head's dashboard.
#
#   bash recipes/local_ray_job.sh                                   # start, submit, wait, stop
#   RAY_DASHBOARD=http://127.0.0.1:8265 bash recipes/local_ray_job.sh   # submit to a running head only
#
# Settings (environment): STEPS (default 4000), OUT (an absolute Minari root; default a temp dir),
# PYTHON (the interpreter of this project's environment; default: python on PATH).
# On a real cluster --out must be a filesystem every node mounts, and the head's address is its IP.
set -euo pipefail
STEPS=${STEPS:-4000}
OUT=${OUT:-$(mktemp -d /tmp/course-ray-job.XXXXXX)}
PYTHON=${PYTHON:-$(command -v python)}
RAY=${RAY:-$(dirname "$PYTHON")/ray}
export RAY_USAGE_STATS_ENABLED=0
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled}  # loopback only; a real cluster: RAY_AUTH_MODE=token

free_port() { "$PYTHON" -c 'from helpers.core.cluster import free_port; print(free_port())'; }

if [ -z "${RAY_DASHBOARD:-}" ]; then
  PORT=$(free_port); DASH=$(free_port); TMP=$(mktemp -d /tmp/course-ray.XXXXXX)
  trap '"$RAY" stop --force >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT
  COMMON="--num-cpus 1 --node-ip-address 127.0.0.1 --temp-dir $TMP --object-store-memory 104857600 --disable-usage-stats"
  "$RAY" start --head --port "$PORT" --ray-client-server-port "$(free_port)" --include-dashboard true \
      --dashboard-host 127.0.0.1 --dashboard-port "$DASH" $COMMON >/dev/null
  "$RAY" start --address "127.0.0.1:$PORT" $COMMON >/dev/null
  RAY_DASHBOARD=http://127.0.0.1:$DASH
fi
# `ray start` returns before the dashboard answers: wait for it (up to 3 minutes)
"$PYTHON" -c 'import sys; from helpers.core.cluster import wait_for_dashboard; wait_for_dashboard(sys.argv[1])' "$RAY_DASHBOARD"

# the job's entrypoint runs on the cluster; `--ray auto` joins the cluster it runs on. `--no-wait` and
# polling, because `ray job submit`'s log stream can close while the job still runs (seen on a loaded
# 2-core machine), and then it returns 0 with the job unfinished.
# The dashboard answers before its job agent does ("No available agent to submit job"), and on a loaded
# machine it can drop a connection while it starts the agent: retry those two, for up to 2 minutes.
JOB_ID=raysubmit_course_$(date +%s)_$$
for TRY in $(seq 1 60); do
  if SUBMITTED=$("$RAY" job submit --address "$RAY_DASHBOARD" --submission-id "$JOB_ID" --no-wait -- \
      "$PYTHON" -m helpers.collect --skill jump --quality random --steps "$STEPS" --out "$OUT" --ray auto --workers 2 --quiet 2>&1); then
    echo "$SUBMITTED"; break
  fi
  if ! grep -qE "No available agent|Failed to connect to Ray" <<< "$SUBMITTED" || [ "$TRY" -eq 60 ]; then echo "$SUBMITTED" >&2; exit 1; fi
  sleep 2
done
DEADLINE=$(( $(date +%s) + ${JOB_TIMEOUT:-1800} ))
while STATUS=$("$RAY" job status --address "$RAY_DASHBOARD" --log-style record "$JOB_ID" 2>&1) \
      && grep -qE "PENDING|RUNNING" <<< "$STATUS"; do
  if [ "$(date +%s)" -gt "$DEADLINE" ]; then
    echo "job $JOB_ID still running after ${JOB_TIMEOUT:-1800} s; stopping it" >&2
    "$RAY" job stop --address "$RAY_DASHBOARD" "$JOB_ID" >/dev/null 2>&1 || true; exit 1
  fi
  sleep 2
done
"$RAY" job logs --address "$RAY_DASHBOARD" "$JOB_ID"
echo "$STATUS"
grep -q "Job '$JOB_ID' succeeded" <<< "$STATUS"  # the exit status: 0 only for a job that succeeded
# cleanup (ray stop --force, the temp dir) runs on exit when this script started the cluster
