#!/usr/bin/python3
"""idle_memory.py - luxy's RSS per idle keep-alive client connection.

One luxy worker in front of the nginx origin (perflib.py). N1 clients each
make one request and stay connected; RSS is read; N2 - N1 more do the same;
RSS is read again. (RSS2 - RSS1) / (N2 - N1) is what one idle connection
costs in user space (kernel socket memory is not in RSS): the pools and
whatever the first connections warmed up cancel out. RLIMIT_NOFILE is
raised for this script and luxy (which inherits it). A few seconds.

  tests/bench/idle_memory.py                    # 1,000 and 9,000 connections
  tests/bench/idle_memory.py --conns 500,4500 --luxy build/luxy.old
"""
import argparse
import os
import resource
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import perflib as P  # noqa: E402


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS for %d" % pid)


def open_idle(port, n, socks):
    req = b"GET /1k HTTP/1.1\r\nHost: bench.local\r\n\r\n"
    batch = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(req)
        batch.append(s)
        if len(batch) == 100:  # bounded in flight: read the responses
            for b in batch:
                P.FastClient._read_one(b)
            socks.extend(batch)
            batch = []
    for b in batch:
        P.FastClient._read_one(b)
    socks.extend(batch)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conns", default="1000,9000", help="N1,N2")
    ap.add_argument("--luxy", default=None)
    a = ap.parse_args()
    n1, n2 = (int(x) for x in a.conns.split(","))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * n2 + 200  # our sockets and luxy's
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
        except (ValueError, OSError):
            raise SystemExit("RLIMIT_NOFILE hard limit %d < %d: run as root or lower --conns" % (hard, need))
    else:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    with P.workdir() as work:
        origin = P.Origin(work)
        port = P.free_port()
        cmd = P.proxy_command("luxy", work, origin, port, luxy=a.luxy)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        socks = []
        try:
            P._wait_port(port, proc)
            open_idle(port, n1, socks)
            r1 = rss_kb(proc.pid)
            open_idle(port, n2 - n1, socks)
            r2 = rss_kb(proc.pid)
        finally:
            for s in socks:
                s.close()
            P._stop(proc)
            origin.close()
    print("idle keep-alive connections: RSS %d KiB at %d, %d KiB at %d: %.2f KiB per connection"
          % (r1, n1, r2, n2, (r2 - r1) / (n2 - n1)))


if __name__ == "__main__":
    main()
