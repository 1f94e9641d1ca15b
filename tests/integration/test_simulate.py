"""luxy simulate (docs/policy-lab.md, "Simulate a strategy"): the real
binary replays traffic against a configuration's strategy on virtual time.

- the same inputs and seed give byte-identical output (table, JSON, HTML),
  another seed another run;
- the known result: with one backend five times slower, least_conn and
  p2c send it markedly less than round robin;
- validation against reality: a bounded closed-loop load through the real
  luxy to real backends on loopback (one 5x slower) and the simulator with
  the matching model give per-backend shares within SHARE_TOLERANCE, for
  rr, least_conn and p2c;
- traces luxy itself wrote (json and combined access logs) replay whole;
  an hour of trace simulates within the test's bound;
- a Lua select_backend runs in the simulation; servers leaving and joining
  move keys as their strategy says (chash about 1/N, rr most);
- failures: a server that goes down is found by the emulated health
  checks, its requests retried elsewhere; a backend's 5xx is not retried;
- the HTML report renders in headless Chromium with its plots;
- wrong inputs are refused with a reason.
"""

import json
import os
import re
import subprocess
import time

import pytest

from luxyharness import REPO, luxy_command, scaled
from test_balancing import Load, Proc

# Per-backend request share, simulated vs measured, absolute (0.05 = 5
# percentage points). The real run has scheduling noise (Python backends,
# a shared 2-core machine); the simulator none.
SHARE_TOLERANCE = 0.05

LAB = os.path.join(REPO, "scripts", "lab")


def simulate(args, timeout=120, expect_rc=0):
    p = subprocess.run(luxy_command(["simulate"] + list(args)), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=scaled(timeout))
    out, err = p.stdout.decode(), p.stderr.decode()
    assert "Sanitizer" not in err and "runtime error" not in err, err
    assert p.returncode == expect_rc, "rc %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, out, err)
    return out, err


def write(tmp_path, name, text):
    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as f:
        f.write(text)
    return path


def group_conf(tmp_path, n=3, balance="rr", extra="", top="", name="conf.lua"):
    servers = ", ".join('"127.0.0.1:%d"' % (9101 + i) for i in range(n))
    return write(tmp_path, name, """%s
workers(1)
listen { "127.0.0.1:18080", mode = "reverse", upstream = "app" }
upstream "app" { %s, balance = "%s"%s }
""" % (top, servers, balance, (", " + extra) if extra else ""))


def shares(run):
    return [b["share"] for b in run["backends"]]


def run_json(args, timeout=120):
    out, err = simulate(list(args) + ["--json", "-"], timeout=timeout)
    return json.loads(out), err


SLOW_MODEL = os.path.join(LAB, "slow-backend.model.lua")


def test_same_inputs_and_seed_give_the_same_bytes(tmp_path):
    conf = group_conf(tmp_path)
    wl = write(tmp_path, "w.lua", "return { rate = 200, duration = 20, keys = { count = 500, zipf = 1.1 } }")
    outs = []
    for k, seed in enumerate(["7", "7", "8"]):
        html, js = str(tmp_path / ("r%d.html" % k)), str(tmp_path / ("r%d.json" % k))
        out, _ = simulate(["-c", conf, "--balance", "rr,p2c,random", "--workload", wl, "--model", SLOW_MODEL,
                           "--seed", seed, "--html", html, "--json", js])
        outs.append((out, open(html, "rb").read(), open(js, "rb").read()))
    assert outs[0] == outs[1], "two runs with seed 7 differ"
    assert outs[0][2] != outs[2][2], "seed 8 gave the same run as seed 7"
    assert "rr" in outs[0][0] and "p2c" in outs[0][0] and "random" in outs[0][0]
    runs = json.loads(outs[0][2])["runs"]
    assert [r["requests"] for r in runs] == [runs[0]["requests"]] * 3, "the same traffic for every strategy"
    assert 3600 < runs[0]["requests"] < 4400, runs[0]["requests"]


def test_a_slow_backend_gets_markedly_less_from_least_conn_and_p2c(tmp_path):
    conf = group_conf(tmp_path)
    wl = write(tmp_path, "w.lua", "return { rate = 400, duration = 60, keys = { count = 1000 } }")
    res, _ = run_json(["-c", conf, "--balance", "rr,least_conn,p2c", "--workload", wl, "--model", SLOW_MODEL])
    by = {r["strategy"]: r for r in res["runs"]}
    slow = {k: shares(r)[2] for k, r in by.items()}  # the model's third server is 5x slower
    assert abs(slow["rr"] - 1 / 3.0) < 0.01, slow
    for s in ("least_conn", "p2c"):
        assert slow[s] < 0.2 and slow[s] < slow["rr"] / 2, slow
        assert by[s]["latency"]["p99"] < by["rr"]["latency"]["p99"], (s, by[s]["latency"], by["rr"]["latency"])
    for r in by.values():
        assert r["ok"] == r["requests"] and r["failed"] == 0 and r["retries"] == 0, r


# ---- validation: the simulator against a real load ----

REAL_CLIENTS = 12
REAL_EACH = 40
SLOW_DELAY, FAST_DELAY = 0.050, 0.010


def quantile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


@pytest.mark.heavy  # under valgrind luxy's own time would dominate the backends'
@pytest.mark.parametrize("balance", ["rr", "least_conn", "p2c"])
def test_the_simulator_agrees_with_a_real_load(env, tmp_path, balance):
    slow = Proc("slow", delay=SLOW_DELAY)
    fast = [Proc("fast%d" % i, delay=FAST_DELAY) for i in (1, 2)]
    ps = [slow] + fast
    try:
        log = str(tmp_path / "access.json")
        conf = """
workers(1)
logs { access = { { "%s", format = "json" } } }
listen { "127.0.0.1:$port", upstream = "app" }
upstream "app" { %s, balance = "%s" }
""" % (log, ", ".join('"127.0.0.1:%d"' % p.port for p in ps), balance)
        lx = env.luxy(conf, name="%s.lua" % balance)
        t0 = time.monotonic()
        load = Load(lx.port, conns=REAL_CLIENTS, each=REAL_EACH)
        load.join(120)
        took = time.monotonic() - t0
        assert not load.errors, load.errors[:5]
        assert load.ok == REAL_CLIENTS * REAL_EACH
        real = [load.by[p.name] / float(load.ok) for p in ps]
        lx.stop()
        # the matching model, from what the backends did: each one's time to
        # first byte as luxy logged it (median and p99), so a busy machine's
        # slower backends are modelled as slow as they were
        ttfb = {}
        for line in open(log):
            e = json.loads(line)
            ttfb.setdefault(e["backend"], []).append(e["ttfb"])
        assert sum(len(v) for v in ttfb.values()) == load.ok
        rows = []
        for i, p in enumerate(ps):
            t = ttfb.get("127.0.0.1:%d" % p.port) or [SLOW_DELAY if p is slow else FAST_DELAY]
            med, p99 = quantile(t, 0.5), max(quantile(t, 0.99), quantile(t, 0.5))
            rows.append('[%d] = { latency = { median = %.6f, p99 = %.6f } }' % (i + 1, med, p99))
        model = write(tmp_path, "m.lua", "return { default = { capacity = 1000 }, backends = { %s } }"
                      % ", ".join(rows))
        wl = write(tmp_path, "w.lua", "return { clients = %d, requests = %d, think = '0.5ms' }"
                   % (REAL_CLIENTS, REAL_CLIENTS * REAL_EACH))
        res, _ = run_json(["-c", lx.conf_path, "--workload", wl, "--model", model])
        sim = shares(res["runs"][0])
        # Little's law on the closed loop: 12 clients are nearly always in flight
        infl = res["runs"][0]["series"]["inflight"]
        n = len(infl[0])
        total = [sum(b[k] for b in infl) for k in range(n // 4, 3 * n // 4)]
        assert all(10.5 < t <= 12.001 for t in total), total
        print("%s: real %s (%.1fs) sim %s; model %s" % (balance, ["%.3f" % s for s in real], took,
                                                        ["%.3f" % s for s in sim], rows))
        for r, s in zip(real, sim):
            assert abs(r - s) <= SHARE_TOLERANCE, (balance, real, sim)
        if balance != "rr":  # and both show the known result
            assert real[0] < 0.2 and sim[0] < 0.2, (real, sim)
    finally:
        for p in ps:
            p.close()


# ---- traces ----

def test_traces_luxy_wrote_replay_whole(env, tmp_path):
    b = env.backend()
    conf = """
workers(1)
logs { access = { { "$dir/access.json", format = "json" }, { "$dir/access.log", format = "combined" },
                  "$dir/access.luxy" } }
listen { "127.0.0.1:$port", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
"""
    lx = env.luxy(conf, subs={"dir": str(tmp_path), "backend_port": b.port})
    c = env.client(lx.port)
    n = 60
    for i in range(n):
        assert c.roundtrip("GET", "/t/%d?q=%d" % (i % 7, i)).status == 200
    lx.stop()
    sim_conf = group_conf(tmp_path, n=2)
    model = write(tmp_path, "m.lua", 'return { default = { latency = "2ms" } }')
    for log in ("access.json", "access.log", "access.luxy"):
        path = str(tmp_path / log)
        assert len(open(path).read().splitlines()) == n, log
        res, _ = run_json(["-c", sim_conf, "--trace", path, "--model", model])
        run = res["runs"][0]
        assert run["requests"] == n and run["ok"] == n, (log, run)
        assert run["keys"] == n, (log, run["keys"])  # every target differs (the query)
        assert shares(run) == [0.5, 0.5], (log, shares(run))  # rr over two


@pytest.mark.heavy
def test_an_hour_of_trace_simulates_in_seconds(tmp_path):
    path = str(tmp_path / "hour.json")
    start = 1796169600  # 2026-12-02T00:00:00Z
    lines = []
    for i in range(180000):  # 50 requests a second for an hour
        t = start + i / 50.0 + 0.004
        lines.append('{"time":"%s.%03dZ","client":"10.0.%d.%d","method":"GET","target":"/p/%d","status":200,'
                     '"bytes_sent":%d,"duration":0.004000}' % (
                         time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(t))), int(t * 1000) % 1000,
                         i % 7, i % 200, (i * 7919) % 5000, 1000 + i % 9000))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    conf = group_conf(tmp_path, n=4, balance="p2c")
    t0 = time.monotonic()
    res, err = run_json(["-c", conf, "--trace", path, "--model", SLOW_MODEL], timeout=300)
    took = time.monotonic() - t0
    run = res["runs"][0]
    print("an hour of trace (180000 requests): %.1f s wall; %s" % (took, err.strip()))
    assert run["requests"] == 180000 and run["ok"] == 180000, run
    assert 3599 < run["seconds"] < 3601, run["seconds"]


# ---- strategies in Lua, membership, failures ----

def test_a_lua_select_backend_runs_in_the_simulation(tmp_path):
    conf = group_conf(tmp_path, top="""
function select_backend(req, backends)
  if req.path:find("^/item/1$") then return backends[1] end   -- the hottest key has a server of its own
  for i = 2, #backends do
    local b = backends[i]
    if not b.tried and (best == nil or b.inflight < best.inflight) then best = b end
  end
  local pick = best
  best = nil
  return pick
end
best = nil
""")
    wl = write(tmp_path, "w.lua", "return { rate = 100, duration = 30, keys = { count = 50, zipf = 1.5 } }")
    model = write(tmp_path, "m.lua", 'return { default = { latency = "20ms" } }')
    res, _ = run_json(["-c", conf, "--workload", wl, "--model", model])
    run = res["runs"][0]
    assert run["strategy"] == "select_backend"
    s = shares(run)
    h = sum(k ** -1.5 for k in range(1, 51))
    assert abs(s[0] - 1 / h) < 0.03, (s, 1 / h)  # key 1's Zipf share, all on server 1
    assert abs(s[1] - s[2]) < 0.2, s


def test_servers_leaving_and_joining_move_keys_as_the_strategy_says(tmp_path):
    conf = group_conf(tmp_path, n=4, balance="chash", extra='hash = "uri"')
    model = write(tmp_path, "m.lua", """return {
  default = { latency = "5ms" },
  events = { { at = 20, backend = 1, leave = true }, { at = 40, backend = 1, join = true } },
}""")
    wl = write(tmp_path, "w.lua", "return { rate = 300, duration = 60, keys = { count = 400, zipf = 0.5 } }")
    res, _ = run_json(["-c", conf, "--balance", "chash,rr", "--workload", wl, "--model", model])
    chash, rr = res["runs"]
    for run in (chash, rr):
        assert [c["change"] for c in run["changes"]] == ["leave", "join"], run["changes"]
        for c in run["changes"]:
            assert c["keys_seen"] > 300, c
    leave, join = chash["changes"]
    # chash: only the keys of the server that left move, about 1/4, and they come back when it joins
    assert leave["keys_moved"] == leave["keys_had_to"], leave
    assert 0.1 < leave["keys_moved"] / float(leave["keys_seen"]) < 0.4, leave
    assert 0.1 < join["keys_moved"] / float(join["keys_seen"]) < 0.4, join
    # round robin keeps no key on its server
    assert rr["changes"][0]["keys_moved"] / float(rr["changes"][0]["keys_seen"]) > 0.6, rr["changes"]
    # while it was out, server 1 got nothing
    assert chash["backends"][0]["attempts"] < chash["backends"][1]["attempts"], chash["backends"]


def test_a_server_that_goes_down_is_found_by_health_checks_and_retried_around(tmp_path):
    conf = group_conf(tmp_path, extra='health = { path = "/healthz", interval = "1s", fall = 2, rise = 2 }, '
                                      'outlier = { consecutive = 0 }')
    model = write(tmp_path, "m.lua", """return {
  default = { latency = "10ms" },
  events = { { at = 10, backend = 2, down = true, duration = 20 } },
}""")
    wl = write(tmp_path, "w.lua", "return { rate = 100, duration = 60 }")
    res, _ = run_json(["-c", conf, "--workload", wl, "--model", model])
    run = res["runs"][0]
    b2 = run["backends"][1]
    # refused until two checks failed (about 2 s at 1/3 of 100/s), then not picked; each refusal retried
    assert 0 < b2["errors"]["connect"] <= 120, b2
    assert run["retries"] == b2["errors"]["connect"], run
    assert run["failed"] == 0 and run["ok"] == run["requests"], run
    # back after it rose again: it has most of its share outside the 20 s
    assert b2["attempts"] > 0.5 * (run["requests"] / 3.0) * (40 / 60.0), b2


def test_a_backends_5xx_is_passed_on_not_retried(tmp_path):
    conf = group_conf(tmp_path, extra="outlier = { consecutive = 0 }")
    model = write(tmp_path, "m.lua", """return {
  default = { latency = "10ms" },
  backends = { [1] = { fail = 1, fail_kind = "http_5xx" }, [2] = { fail = 1, fail_kind = "reset" } },
}""")
    wl = write(tmp_path, "w.lua", "return { rate = 100, duration = 10, method = 'GET' }")
    res, _ = run_json(["-c", conf, "--workload", wl, "--model", model])
    run = res["runs"][0]
    b1, b2 = run["backends"][0], run["backends"][1]
    assert run["http_5xx"] == b1["errors"]["http_5xx"] > 0, run
    # each reset is retried elsewhere, or fails when the retry budget (or tries) says no more
    assert b2["errors"]["reset"] > 0 and run["retries"] > 0 and run["failed"] > 0, run
    assert b2["errors"]["reset"] == run["retries"] + run["failed"], run
    assert run["ok"] + run["http_5xx"] + run["failed"] == run["requests"], run


def test_the_example_models_and_workloads_run(tmp_path):
    conf = group_conf(tmp_path, n=4, balance="p2c")
    models = sorted(f for f in os.listdir(LAB) if f.endswith(".model.lua"))
    workloads = sorted(f for f in os.listdir(LAB) if f.endswith(".workload.lua"))
    assert models and workloads
    for m in models:
        for w in workloads:
            res, _ = run_json(["-c", conf, "--workload", os.path.join(LAB, w), "--model", os.path.join(LAB, m)])
            run = res["runs"][0]
            assert run["requests"] > 10000 and run["ok"] + run["http_5xx"] + run["failed"] == run["requests"], (m, w)


def test_wrong_inputs_are_refused_with_a_reason(tmp_path):
    conf = group_conf(tmp_path)
    wl = write(tmp_path, "w.lua", "return { rate = 10, duration = 1 }")
    cases = [
        ([], "required"),
        (["-c", conf, "--workload", wl], "--model"),
        (["-c", conf, "--model", SLOW_MODEL], "--trace or --workload"),
        (["-c", conf, "--workload", wl, "--model", write(tmp_path, "bad1.lua", "return { default = { capacity = 0 } }")],
         "capacity"),
        (["-c", conf, "--workload", wl, "--model", write(tmp_path, "bad2.lua",
                                                        "return { events = { { at = 1, backend = 1 } } }")],
         "event 1"),
        (["-c", conf, "--workload", wl, "--model", write(tmp_path, "bad3.lua",
                                                        "return { backends = { [5] = { latency = 1 } } }")],
         "describes 5 backends"),
        (["-c", conf, "--workload", write(tmp_path, "w2.lua", "return { rate = 10 }"), "--model", SLOW_MODEL],
         "duration or requests"),
        (["-c", conf, "--trace", write(tmp_path, "empty.log", "nothing here\n"), "--model", SLOW_MODEL],
         "no request lines"),
        (["-c", conf, "--workload", wl, "--model", SLOW_MODEL, "--balance", "nope"], "not a strategy"),
        (["-c", conf, "--workload", wl, "--model", SLOW_MODEL, "--upstream", "other"], "no upstream"),
        (["-c", str(tmp_path / "missing.lua"), "--workload", wl, "--model", SLOW_MODEL], "missing.lua"),
    ]
    for args, needle in cases:
        _, err = simulate(args, expect_rc=2)
        assert needle in err, (args, needle, err)


# ---- the report in a browser ----

def test_the_html_report_shows_its_plots_in_chromium(tmp_path):
    html = str(tmp_path / "report.html")
    simulate(["-c", os.path.join(REPO, "scripts", "balance", "rr.lua"), "--balance", "rr,least_conn,p2c",
              "--workload", os.path.join(LAB, "bursty.workload.lua"), "--model", SLOW_MODEL,
              "--duration", "60", "--html", html, "-q"])
    text = open(html).read()
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', ""), "the page must need no network"
    art = os.path.join(REPO, "build", "test-artifacts")
    os.makedirs(art, exist_ok=True)
    shot = os.path.join(art, "simulate-report.png")
    cmd = ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=%s" % (tmp_path / "u"),
           "--window-size=1400,2400"]
    dom = subprocess.run(cmd + ["--dump-dom", "file://" + html], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=scaled(90)).stdout.decode()
    subprocess.run(cmd + ["--screenshot=%s" % shot, "file://" + html], stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, timeout=scaled(90))
    assert "<h1>luxy simulate</h1>" in dom, dom[:500]
    charts = re.findall(r'<svg class="chart"', dom)
    assert len(charts) == 1 + 3 * 4, len(charts)  # the share bars, then four plots per run
    lines = re.findall(r'<polyline class="series" data-name="([^"]*)" stroke="[^"]*" points="([^"]*)"', dom)
    per_server = [(n, p) for n, p in lines if n.startswith("127.0.0.1:")]
    assert len(per_server) == 3 * 2 * 3, lines[:3]  # load and in flight, per server and run
    load_lines = [l for k, l in enumerate(per_server) if k % 6 < 3]
    for name, points in lines:
        pts = [tuple(map(float, xy.split(","))) for xy in points.split()]
        assert len(pts) >= 50, (name, len(pts))
        assert all(0 <= x <= 720 and 0 <= y <= 240 for x, y in pts), name
    for run in range(3):  # the bursts show: the fast servers' load lines move
        for name, points in load_lines[3 * run:3 * run + 2]:
            ys = [float(xy.split(",")[1]) for xy in points.split()]
            assert max(ys) - min(ys) > 40, (run, name, min(ys), max(ys))
    bars = re.findall(r'<rect class="bar" data-run="(\d+)" data-share="([0-9.]+)"', dom)
    assert len(bars) == 3 * 3, bars
    for run in "123":
        assert abs(sum(float(s) for r, s in bars if r == run) - 100) < 0.1, bars
    assert os.path.getsize(shot) > 10000, "no screenshot"


# ---- the walkthrough (docs/policy-lab.md, "Simulate a strategy") ----

def test_the_walkthroughs_simulation_prints_what_the_page_shows(tmp_path):
    text = open(os.path.join(REPO, "docs", "policy-lab.md")).read()
    for name, code in re.findall(r"```lua file=(\S+)\n(.*?)```", text, re.S):
        (tmp_path / name).write_text(code)
    section = text[text.index("## Simulate a strategy"):]
    command, shown = re.search(r"```sh\n(.*?)```\n\n```\n(.*?)```", section, re.S).groups()
    args = command.replace("\\\n", " ").split()
    assert args[:2] == ["luxy", "simulate"], args
    p = subprocess.run(luxy_command(args[1:]), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       cwd=str(tmp_path), timeout=scaled(120))
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode() == shown, ("the output differs from docs/policy-lab.md's: update the page\n"
                                        + p.stdout.decode())
    assert os.path.getsize(str(tmp_path / "report.html")) > 10000
