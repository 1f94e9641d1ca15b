#!/usr/bin/python3
"""perf_table.py - instructions and syscalls per request, luxy vs nginx vs haproxy.

The issue 14 table: each proxy with one worker in front of an nginx origin
(tests/bench/perflib.py), keep-alive GETs over 10 connections, under
valgrind --tool=callgrind (user-space instructions, exact) and strace -f -c
(syscalls), each the difference of a 2,000- and a 22,000-request run:
exactly 20,000 requests, start-up and shutdown subtracted. 1 KiB and
100 KiB bodies; luxy also with three small hooks and as a cache (hits).
About two minutes.

  tests/bench/perf_table.py
  tests/bench/perf_table.py --only luxy,luxy-hooks --requests 1000,3000
  tests/bench/perf_table.py --luxy build/luxy.old     # another binary
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import perflib as P  # noqa: E402

ROWS = {  # name -> (kind, hooks, cache)
    "nginx": ("nginx", False, False),
    "haproxy": ("haproxy", False, False),
    "luxy": ("luxy", False, False),
    "luxy-hooks": ("luxy", True, False),
    "luxy-cache": ("luxy", False, True),
}
LABEL = {"nginx": "nginx", "haproxy": "haproxy", "luxy": "luxy",
         "luxy-hooks": "luxy, 3 small hooks", "luxy-cache": "luxy, cache hits"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(ROWS), help="rows: " + ",".join(ROWS))
    ap.add_argument("--requests", default="2000,22000", help="N1,N2 (multiples of 10)")
    ap.add_argument("--tools", default="callgrind,strace")
    ap.add_argument("--luxy", default=None, help="the luxy binary (default build/luxy)")
    a = ap.parse_args()
    n1, n2 = (int(x) for x in a.requests.split(","))
    tools = a.tools.split(",")
    P.require("nginx", *(["valgrind"] if "callgrind" in tools else []) + (["strace"] if "strace" in tools else []))
    names = a.only.split(",")
    if "haproxy" in names:
        P.require("haproxy")
    res = {}
    with P.workdir() as work:
        origin = P.Origin(work)
        try:
            for name in names:
                kind, hooks, cache = ROWS[name]
                port = P.free_port()
                cmd = P.proxy_command(kind, work, origin, port, luxy=a.luxy, hooks=hooks, cache=cache)
                for size in ("1k", "100k"):
                    path = ("/cached/" if cache else "/") + size
                    for tool in tools:
                        v, _ = P.per_request(tool, cmd, port, path, n1, n2, work, warm=10 if cache else 0)
                        res[name, size, tool] = v
                        print("# %s %s %s: %.2f" % (name, path, tool, v), file=sys.stderr, flush=True)
        finally:
            origin.close()
    print("%d requests (%d - %d), 10 connections, one worker each, nginx origin" % (n2 - n1, n2, n1))
    print()
    cols = [(t, s) for t in tools for s in ("1k", "100k")]
    head = {"callgrind": "instructions/request", "strace": "syscalls/request"}
    print("| proxy | " + " | ".join("%s %s" % (head[t], "1 KiB" if s == "1k" else "100 KiB") for t, s in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for name in names:
        cells = []
        for t, s in cols:
            v = res[name, s, t]
            cells.append("{:,.0f}".format(v) if t == "callgrind" else "%.2f" % v)
        print("| %s | %s |" % (LABEL[name], " | ".join(cells)))


if __name__ == "__main__":
    main()
