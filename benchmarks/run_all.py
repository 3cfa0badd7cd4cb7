"""`make bench`: run every benchmark in a fresh subprocess (RSS isolation), print a summary table
and write benchmarks/results/latest.json.

    python -m benchmarks.run_all [--only ack,latency] [--strict]

Exit status: 1 if a benchmark crashed (or, with --strict, if any target missed), else 0.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import common as c

BENCHES = ["ack", "retrieval", "latency", "throughput", "ingest", "versions", "process", "replicas"]
TIMEOUT_S = 300


def _run_one(name: str) -> tuple[dict | None, float, str]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([c.PY, "-m", f"benchmarks.bench_{name}"], cwd=str(c.ROOT), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    result = None
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += f"\n(timed out after {TIMEOUT_S}s)"
    for line in out.splitlines():
        if line.startswith('{"bench"'):
            result = json.loads(line)
        else:
            print(line)
    if proc.returncode != 0 or result is None:
        print(f"!! bench_{name} failed (exit {proc.returncode}):\n{err[-3000:]}", flush=True)
        result = None
    return result, time.perf_counter() - t0, err


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated subset of: " + ", ".join(BENCHES))
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args(argv)
    names = [n for n in BENCHES if not args.only or n in args.only.split(",")]
    t0 = time.perf_counter()
    results, durations, crashed = {}, {}, []
    for name in names:
        print(f"\n######## bench_{name}", flush=True)
        res, secs, _ = _run_one(name)
        durations[name] = round(secs, 1)
        if res is None:
            crashed.append(name)
        else:
            print(json.dumps(res), flush=True)  # the bench's one JSON line, passed through
            results[name] = res
    total = time.perf_counter() - t0

    rows, misses = [], []
    for name, res in results.items():
        for metric, target in res.get("targets", {}).items():
            ok = res.get("pass", {}).get(metric)
            rows.append((f"{name}.{metric}", res.get(metric), target, "yes" if ok else "NO"))
            if not ok:
                misses.append(f"{name}.{metric}")
    for name in crashed:
        rows.append((f"{name}", "CRASHED", "", "NO"))
    c.print_table(f"summary ({total:.0f} s total; per bench: "
                  + ", ".join(f"{k} {v}s" for k, v in durations.items()) + ")",
                  ["metric", "value", "target", "ok"], rows)

    out_dir = c.ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    latest = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "total_s": round(total, 1), "durations_s": durations,
              "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count(),
                          "platform": platform.platform()},
              "misses": misses, "crashed": crashed, "results": results}
    (out_dir / "latest.json").write_text(json.dumps(latest, indent=2, default=str))
    print(f"wrote {out_dir / 'latest.json'}; {len(misses)} target(s) missed, {len(crashed)} crashed")
    return 1 if crashed or (args.strict and misses) else 0


if __name__ == "__main__":
    sys.exit(main())
