#!/usr/bin/python3
"""bench_check.py - instructions per request against a committed baseline.

`make bench-check` runs this: callgrind instructions per request (perflib.py:
nginx origin, 10 keep-alive connections, the difference of a 1,000- and a
3,000-request run, so start-up cancels out) for four cases -

  passthrough_1k    reverse proxy, GET /1k
  passthrough_100k  reverse proxy, GET /100k
  hooks_1k          the same as passthrough_1k with three small hooks
  cache_hit_1k      luxy-cache.lua, GET /cached/1k, every request a hit

- and fails when one of them rose by more than the tolerance over
tests/bench/baseline.json (instruction counts repeat within about 0.1% from
run to run, so the tolerance is tight: 2%). A drop beyond it passes, with a
note to refresh the baseline. `make bench-baseline` rewrites the file from
the current build. About a minute.

  tests/bench/bench_check.py check [--tolerance 2] [--luxy BIN]
  tests/bench/bench_check.py baseline
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import perflib as P  # noqa: E402

BASELINE = os.path.join(P.HERE, "baseline.json")
REQUESTS = (1000, 3000)
CASES = {  # name -> (hooks, cache, path)
    "passthrough_1k": (False, False, "/1k"),
    "passthrough_100k": (False, False, "/100k"),
    "hooks_1k": (True, False, "/1k"),
    "cache_hit_1k": (False, True, "/cached/1k"),
}


def measure(luxy):
    out = {}
    with P.workdir() as work:
        origin = P.Origin(work)
        try:
            for name, (hooks, cache, path) in CASES.items():
                port = P.free_port()
                cmd = P.proxy_command("luxy", work, origin, port, luxy=luxy, hooks=hooks, cache=cache)
                v, _ = P.per_request("callgrind", cmd, port, path, REQUESTS[0], REQUESTS[1], work,
                                     warm=10 if cache else 0)
                out[name] = round(v)
                print("# %s: %d instructions/request" % (name, out[name]), file=sys.stderr, flush=True)
        finally:
            origin.close()
    return out


def commit():
    try:
        return subprocess.run(["git", "-C", P.ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["check", "baseline"])
    ap.add_argument("--tolerance", type=float, default=None, help="percent (default: the baseline's, 2)")
    ap.add_argument("--luxy", default=None, help="the binary (default build/luxy)")
    a = ap.parse_args()
    P.require("valgrind", "nginx")
    if a.action == "baseline":
        now = measure(a.luxy)
        doc = {
            "about": "callgrind instructions per request, tests/bench/bench_check.py; "
                     "make bench-baseline rewrites this file",
            "commit": commit(),
            "requests": list(REQUESTS),
            "tolerance_percent": a.tolerance if a.tolerance is not None else 2.0,
            "instructions_per_request": now,
        }
        with open(BASELINE, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        print("wrote %s" % BASELINE)
        return 0
    with open(BASELINE) as f:
        doc = json.load(f)
    tol = a.tolerance if a.tolerance is not None else doc.get("tolerance_percent", 2.0)
    base = doc["instructions_per_request"]
    now = measure(a.luxy)
    failed, improved = [], []
    print("| case | baseline (%s) | now | change | |" % doc.get("commit", "?"))
    print("|---|---:|---:|---:|---|")
    for name in CASES:
        b, n = base.get(name), now[name]
        if b is None:
            print("| %s | - | %d | - | not in the baseline |" % (name, n))
            continue
        pct = (n - b) * 100.0 / b
        verdict = "ok"
        if pct > tol:
            verdict = "ROSE beyond %.1f%%" % tol
            failed.append(name)
        elif pct < -tol:
            verdict = "dropped: refresh with make bench-baseline"
            improved.append(name)
        print("| %s | %d | %d | %+.2f%% | %s |" % (name, b, n, pct, verdict))
    if failed:
        print("bench-check: FAILED: %s rose more than %.1f%% over tests/bench/baseline.json"
              % (", ".join(failed), tol))
        return 1
    print("bench-check: ok (tolerance %.1f%%)" % tol)
    return 0


if __name__ == "__main__":
    sys.exit(main())
