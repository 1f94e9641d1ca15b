#!/usr/bin/python3
"""callgrind.py - instructions per request of one luxy configuration, exactly.

Runs luxy under valgrind --tool=callgrind twice, for N1 and N2 keep-alive
requests over 10 connections to a 1 KiB origin on loopback, and prints
(total(N2) - total(N1)) / (N2 - N1): start-up and shutdown cancel out, and
the figure repeats exactly from run to run (docs/performance.md).

  tests/bench/callgrind.py reverse                # plain reverse proxy
  tests/bench/callgrind.py reverse --hooks        # with three small hooks
  tests/bench/callgrind.py forward --anonymity elite   # a browser's fields
  tests/bench/callgrind.py reverse --access json  # with an access log to a file
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from luxyharness import Backend, Client, free_port  # noqa: E402

BROWSER = [("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"),
           ("Accept", "text/html,application/xhtml+xml"), ("Accept-Language", "ko-KR,ko;q=0.9"),
           ("Accept-Encoding", "gzip, deflate"), ("Cookie", "session=abc"),
           ("Referer", "https://news.example/a"), ("Sec-CH-UA", '"Chromium";v="131"'),
           ("Sec-CH-UA-Platform", '"Linux"'), ("Upgrade-Insecure-Requests", "1"),
           ("X-Forwarded-For", "192.0.2.1")]
HOOKS = """
function on_request(req) req:set_header("X-A", "1") end
function select_backend(req, backends) return backends[1] end
function on_response(req, res) res:del_header("Server") end
"""


def total(binary, conf, port, n, url, headers, work):
    out = os.path.join(work, "callgrind.%d" % n)
    p = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, binary, "-c", conf],
                         stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            time.sleep(0.1)
    clients = [Client(port, timeout=60) for _ in range(10)]
    for _ in range(n // 10):
        for c in clients:
            c.request("GET", url, headers=headers)
        for c in clients:
            assert c.read_response().status == 200
    for c in clients:
        c.close()
    p.terminate()
    p.wait(60)
    text = subprocess.run(["callgrind_annotate", out], capture_output=True, text=True).stdout
    for line in text.splitlines():
        if "PROGRAM TOTALS" in line:
            return int(line.split()[0].replace(",", ""))
    raise SystemExit("no totals in " + out)


LUA_RR = """
local turn = 0
function select_backend(req, backends)
  turn = turn % #backends + 1
  return backends[turn]
end
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["reverse", "forward"])
    ap.add_argument("--hooks", action="store_true", help="reverse: on_request, select_backend, on_response")
    ap.add_argument("--anonymity", default="anonymous", help="forward: transparent, anonymous, elite, off")
    ap.add_argument("--access", default=None,
                    help="an access log to a file in this format (luxy, combined, json); default none")
    ap.add_argument("--balance", default=None,
                    help="reverse: two servers balanced by this strategy (lua: round robin in select_backend)")
    ap.add_argument("--requests", default="1000,3000", help="N1,N2")
    ap.add_argument("--luxy", default=os.path.join(HERE, "..", "..", "build", "luxy"))
    a = ap.parse_args()
    n1, n2 = (int(x) for x in a.requests.split(","))
    body = b"x" * 1024
    origin = Backend(lambda req, conn: conn.respond(200, body, req=req))
    second = Backend(lambda req, conn: conn.respond(200, body, req=req)) if a.balance else None
    port = free_port()
    conf = 'workers(1)\nlogs { level = "error", access = false }\n'
    work = tempfile.TemporaryDirectory()
    if a.access:
        fmt = "" if a.access == "luxy" else ', access_format = "%s"' % a.access  # the old spelling for luxy
        conf = 'workers(1)\nlogs { level = "error", access = "%s"%s }\n' % (
            os.path.join(work.name, "access.log"), fmt)
    if a.mode == "reverse":
        conf += 'listen { "127.0.0.1:%d", mode = "reverse", upstream = "app" }\n' % port
        if a.balance:
            strategy = "rr" if a.balance == "lua" else a.balance
            conf += 'upstream "app" { "127.0.0.1:%d", "127.0.0.1:%d", balance = "%s" }\n' % (
                origin.port, second.port, strategy)
            if a.balance == "lua":
                conf += LUA_RR
        else:
            conf += 'upstream "app" { "127.0.0.1:%d" }\n' % origin.port
        conf += HOOKS if a.hooks else ""
        url, headers = "/x", None
    else:
        level = "false" if a.anonymity == "off" else '"%s"' % a.anonymity
        conf += 'listen { "127.0.0.1:%d", mode = "forward", anonymity = %s }\n' % (port, level)
        url, headers = "http://127.0.0.1:%d/x" % origin.port, BROWSER
    with work as workdir:
        path = os.path.join(workdir, "conf.lua")
        with open(path, "w") as f:
            f.write(conf)
        t1 = total(a.luxy, path, port, n1, url, headers, workdir)
        t2 = total(a.luxy, path, port, n2, url, headers, workdir)
    origin.close()
    if second:
        second.close()
    print("%s%s%s%s: %.0f instructions/request (%d requests: %d, %d requests: %d)"
          % (a.mode, " hooks" if a.hooks else (" " + a.anonymity if a.mode == "forward" else ""),
             " access=" + a.access if a.access else "", " balance=" + a.balance if a.balance else "",
             (t2 - t1) / (n2 - n1), n1, t1, n2, t2))


if __name__ == "__main__":
    main()
