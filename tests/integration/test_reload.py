"""Hitless reload: SIGHUP (or luxy -s reload) switches every worker to the
new configuration while connections stay open and requests in flight
finish on the configuration they began on; a broken file is refused and
the running one keeps serving; the cache and shared dictionaries survive;
listeners added or removed by a reload open or close."""

import os
import subprocess
import threading
import time

from luxyharness import Client, LUXY_BIN, port_accepts, wait_for

CONF = '''workers(2)
pid "$dir/luxy.pid"
logs { access = false }
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
shared "counts" { size = "1MB" }
cache { size = "4MB" }
local counts = luxy.shared("counts")
function on_response(req, res)
  res:set_header("X-Version", "%s")
  res:set_header("X-Total", tostring(counts:incr("n", 1, 0)))
  res:set_header("X-Worker", tostring(luxy.worker_id))
end
'''


def start(env, tmp_path, version="v0"):
    def handler(req, conn):
        if req.path.startswith("/cached"):
            conn.respond(200, b"cached body", [("Cache-Control", "max-age=300")], req=req)
        else:
            conn.respond(200, b"ok", req=req)
    b = env.backend(handler)
    lx = env.luxy(CONF.replace("%s", version), backend_port=b.port, dir=str(tmp_path))
    return b, lx


def test_twenty_reloads_under_load_lose_nothing(env, tmp_path):
    b, lx = start(env, tmp_path)
    stop = threading.Event()
    seen = []      # (client, version) in order, per client
    failures = []
    lock = threading.Lock()

    def load(k):
        c = Client(lx.port, timeout=10)
        n = 0
        deadline = time.monotonic() + 60  # bounded in time and in count
        while not stop.is_set() and n < 200000 and time.monotonic() < deadline:
            try:
                r = c.roundtrip("GET", "/r%d-%d" % (k, n))
            except Exception as e:  # a connection lost or a bad response is a failure
                failures.append("client %d request %d: %r" % (k, n, e))
                return
            if r.status != 200:
                failures.append("client %d request %d: %d" % (k, n, r.status))
            with lock:
                seen.append((k, r.header("X-Version")))
            n += 1
    threads = [threading.Thread(target=load, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for g in range(2, 22):  # 20 reloads
        lx.rewrite(CONF.replace("%s", "v%d" % (g - 1)))
        lx.reload(g)
        time.sleep(0.05)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # let every client see the last version
        with lock:
            last = {k: v for k, v in seen}
        if len(last) == 4 and all(v == "v20" for v in last.values()):
            break
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(20)
    assert not failures, failures[:5]
    assert len(seen) >= 100, "the load ran (%d requests)" % len(seen)
    versions = [v for _, v in seen]
    assert set(versions) <= {"v%d" % i for i in range(21)}, "only configured values"
    for k in range(4):  # per connection, versions never go back
        mine = [int(v[1:]) for c, v in seen if c == k]
        assert mine == sorted(mine), "client %d saw an older configuration after a newer one" % k
        assert mine[-1] == 20, "client %d ended on v%d" % (k, mine[-1])
    r = Client(lx.port).roundtrip("GET", "/after")
    assert r.header("X-Version") == "v20"
    assert lx.alive()


def test_a_broken_file_is_refused_and_the_old_one_serves(env, tmp_path):
    b, lx = start(env, tmp_path, "good")
    c = Client(lx.port)
    assert c.roundtrip("GET", "/a").header("X-Version") == "good"
    lx.rewrite(CONF.replace("%s", "bad") + "\nfunction oops(\n")
    lx.signal(__import__("signal").SIGHUP)
    lx.wait_error_log("reload refused: ")
    log = lx.error_log()
    assert "conf.lua:" in log.split("reload refused: ", 1)[1].splitlines()[0], "file:line in the log"
    assert c.roundtrip("GET", "/b").header("X-Version") == "good", "the same connection, the old script"
    assert Client(lx.port).roundtrip("GET", "/c").header("X-Version") == "good"
    # luxy -s reload checks first: a broken file never reaches the process
    out = subprocess.run([LUXY_BIN, "-s", "reload", "-c", lx.conf_path], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "configuration error" in out.stderr and "not reloaded" in out.stderr
    # a runtime error at the new file's top level is refused too, with its line
    lx.rewrite(CONF.replace("%s", "bad2") + '\nerror("not today")\n')
    lx.signal(__import__("signal").SIGHUP)
    wait_for(lambda: lx.error_log().count("reload refused: ") == 2, what="the second refusal")
    assert "not today" in lx.error_log()
    assert c.roundtrip("GET", "/d").header("X-Version") == "good"


def test_luxy_s_reload_through_the_pid_file(env, tmp_path):
    b, lx = start(env, tmp_path, "first")
    c = Client(lx.port)
    assert c.roundtrip("GET", "/1").header("X-Version") == "first"
    lx.rewrite(CONF.replace("%s", "second"))
    out = subprocess.run([LUXY_BIN, "-s", "reload", "-c", lx.conf_path], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    lx.wait_error_log("reload: generation 2 is serving")
    assert c.roundtrip("GET", "/2").header("X-Version") == "second", "a connection kept open follows the reload"
    assert os.path.exists(str(tmp_path / "luxy.pid"))
    out = subprocess.run([LUXY_BIN, "-s", "quit", "-p", str(tmp_path / "luxy.pid")], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    assert lx.wait(15) == 0
    lx.checked = True
    assert not os.path.exists(str(tmp_path / "luxy.pid")), "the pid file goes with the process"
    out = subprocess.run([LUXY_BIN, "-s", "reload", "-p", str(tmp_path / "luxy.pid")], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 1 and "luxy.pid" in out.stderr


def test_the_cache_and_shared_counters_survive(env, tmp_path):
    b, lx = start(env, tmp_path, "a")
    c = Client(lx.port)
    r = c.roundtrip("GET", "/cached/x")
    assert r.header("X-Cache") == "MISS"
    totals = [int(c.roundtrip("GET", "/n%d" % i).header("X-Total")) for i in range(5)]
    lx.rewrite(CONF.replace("%s", "b"))
    lx.reload(2)
    r = Client(lx.port).roundtrip("GET", "/cached/x")
    assert r.header("X-Cache") == "HIT" and r.header("X-Version") == "b", "the store outlived the reload"
    assert len(b.requests) == 6, "the origin was not asked again"
    after = int(Client(lx.port).roundtrip("GET", "/n").header("X-Total"))
    assert after > max(totals), "the shared counter went on (%d after %d)" % (after, max(totals))


def test_a_request_in_flight_finishes_on_its_generation(env, tmp_path):
    release = threading.Event()

    def handler(req, conn):
        if req.path == "/slow":
            release.wait(10)
        conn.respond(200, b"ok", req=req)
    b = env.backend(handler)
    lx = env.luxy(CONF.replace("%s", "old"), backend_port=b.port, dir=str(tmp_path))
    c = Client(lx.port)
    c.request("GET", "/slow")
    wait_for(lambda: any(r.path == "/slow" for r in b.requests), what="the slow request at the backend")
    lx.rewrite(CONF.replace("%s", "new"))
    lx.reload(2)
    assert Client(lx.port).roundtrip("GET", "/fast").header("X-Version") == "new"
    release.set()
    r = c.read_response()
    assert r.status == 200 and r.header("X-Version") == "old", "it finished under the script it began with"
    assert c.roundtrip("GET", "/next").header("X-Version") == "new", "its connection then moved on"
    lx.wait_error_log("generation 1: its last user ended; freed")


def test_listeners_added_and_removed(env, tmp_path):
    b = env.backend()
    two = '''workers(2)
pid "$dir/luxy.pid"
logs { access = false }
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
listen { "127.0.0.1:$extra_port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
'''
    one = '''workers(2)
pid "$dir/luxy.pid"
logs { access = false }
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
'''
    lx = env.luxy(one, backend_port=b.port, dir=str(tmp_path))
    kept = Client(lx.port)
    assert kept.roundtrip("GET", "/1").status == 200
    lx.rewrite(two)
    lx.reload(2)
    extra = lx.subs["extra_port"]
    assert Client(extra).roundtrip("GET", "/2").status == 200, "the new listener serves"
    on_extra = Client(extra)
    assert on_extra.roundtrip("GET", "/3").status == 200
    lx.rewrite(one)
    lx.reload(3)
    wait_for(lambda: not port_accepts(extra), what="the removed listener closed")
    r = on_extra.roundtrip("GET", "/4")
    assert r.status == 200 and r.header("Connection") == "close", "its connection finishes, then closes"
    assert kept.roundtrip("GET", "/5").status == 200, "the kept listener's connection never noticed"


def test_a_port_taken_by_another_program_refuses_the_reload(env, tmp_path):
    import socket
    b = env.backend()
    lx = env.luxy('''workers(1)
pid "$dir/luxy.pid"
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
''', backend_port=b.port, dir=str(tmp_path))
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(1)
    taken = squatter.getsockname()[1]
    lx.rewrite('''workers(1)
pid "$dir/luxy.pid"
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
listen { "127.0.0.1:%d", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
''' % taken)
    lx.signal(__import__("signal").SIGHUP)
    lx.wait_error_log("reload refused: ")
    assert "cannot listen on 127.0.0.1:%d" % taken in lx.error_log()
    assert Client(lx.port).roundtrip("GET", "/still").status == 200
    squatter.close()


# ---- binary upgrade

def proc_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def read_pid(path):
    with open(path) as f:
        return int(f.read().strip())


class RetryingClient:
    """A keep-alive client as browsers and libraries are: a connection the
    server closed (Connection: close, or found closed before any byte of
    the response) is replaced, and the idempotent GET sent again once."""

    def __init__(self, port):
        self.port = port
        self.c = None

    def get(self, path):
        for attempt in range(2):
            if self.c is None:
                self.c = Client(self.port, timeout=10)
            try:
                r = self.c.roundtrip("GET", path)
            except Exception:
                self.c = None
                if attempt == 0:
                    continue
                raise
            if (r.header("Connection") or "").lower() == "close":
                self.c = None
            return r


def test_binary_upgrade_under_load(env, tmp_path):
    if os.environ.get("LUXY_WRAPPER"):
        import pytest
        pytest.skip("the new process is started without the wrapper")
    import signal
    b, lx = start(env, tmp_path, "before")
    pid_file = str(tmp_path / "luxy.pid")
    # luxy listens (the harness's readiness check) a moment before it writes its pid file
    old_pid = wait_for(lambda: os.path.exists(pid_file) and read_pid(pid_file), what="the pid file")
    assert old_pid == lx.pid
    stop = threading.Event()
    failures, statuses = [], []

    def load(k):
        c = RetryingClient(lx.port)
        n = 0
        deadline = time.monotonic() + 60
        while not stop.is_set() and n < 100000 and time.monotonic() < deadline:
            try:
                r = c.get("/u%d-%d" % (k, n))
                statuses.append(r.status)
            except Exception as e:
                failures.append("client %d request %d: %r" % (k, n, e))
                return
            n += 1
    threads = [threading.Thread(target=load, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    wait_for(lambda: len(statuses) > 200, what="load before the upgrade")
    lx.rewrite(CONF.replace("%s", "after"))  # the new process reads the file again
    lx.signal(signal.SIGUSR2)
    assert lx.wait(30) == 0, "the old process drained and exited"
    lx.checked = True
    new_pid = read_pid(pid_file)
    assert new_pid != old_pid and proc_alive(new_pid)
    before = len(statuses)
    wait_for(lambda: len(statuses) > before + 200, what="load after the upgrade")
    stop.set()
    for t in threads:
        t.join(20)
    try:
        assert not failures, failures[:5]
        assert set(statuses) == {200}
        r = Client(lx.port).roundtrip("GET", "/new")
        assert r.header("X-Version") == "after"
        log = lx.error_log()
        assert "upgrade: process %d" % new_pid in log and "stops accepting and drains" in log
    finally:
        os.kill(new_pid, signal.SIGTERM)
        wait_for(lambda: not proc_alive(new_pid), 15, what="the new process to stop")
    assert "ERROR: AddressSanitizer" not in lx.error_log()


def test_a_new_binary_that_fails_leaves_the_old_one_serving(env, tmp_path):
    import signal
    b, lx = start(env, tmp_path, "stays")
    lx.rewrite(CONF.replace("%s", "broken") + "\nthis is not lua\n")
    out = subprocess.run([LUXY_BIN, "-s", "upgrade", "-c", lx.conf_path], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "not upgraded" in out.stderr, "the CLI checks the file first"
    lx.signal(signal.SIGUSR2)  # straight to the process: the new one fails to load its file
    lx.wait_error_log("upgrade failed: ")
    assert "keeps serving" in lx.error_log()
    assert Client(lx.port).roundtrip("GET", "/x").header("X-Version") == "stays"
    assert read_pid(str(tmp_path / "luxy.pid")) == lx.pid, "the pid file names the process that serves"


def test_systemd_hears_ready_and_the_new_main_pid(env, tmp_path, monkeypatch):
    import signal
    import socket
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    b, lx = start(env, tmp_path, "n")
    msg = sock.recv(256).decode()
    assert msg == "MAINPID=%d\nREADY=1" % lx.pid
    lx.rewrite(CONF.replace("%s", "n2"))
    lx.signal(signal.SIGHUP)
    assert sock.recv(256) == b"RELOADING=1" and sock.recv(256) == b"READY=1"
    lx.signal(signal.SIGUSR2)
    msg = sock.recv(256).decode()
    new_pid = int(msg.split("\n")[0].split("=")[1])
    assert new_pid != lx.pid and msg.endswith("READY=1")
    assert lx.wait(30) == 0
    lx.checked = True
    os.kill(new_pid, signal.SIGTERM)
    wait_for(lambda: not proc_alive(new_pid), 15, what="the new process to stop")
    sock.close()
