"""perflib.py - exact per-request costs of a proxy: callgrind instructions
and strace syscall counts, startup and shutdown subtracted.

One nginx origin on two loopback ports (the same content as `make bench`:
/1k, /100k, /cached/1k with Cache-Control: max-age=60), a proxy in front of
it (luxy, nginx or haproxy, one worker each, configured as in `make bench`),
and a client that sends keep-alive GETs over 10 connections, one request per
connection per round. A proxy runs twice under the tool, for n1 and n2
requests; (total(n2) - total(n1)) / (n2 - n1) is what one request costs:
start-up, the first connections and shutdown cancel out.

Used by perf_table.py (the issue 14 table) and bench_check.py (make
bench-check). Every process started here is stopped by its PID.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from luxyharness import free_port  # noqa: E402

CONNS = 10
HOOKS = """
function on_request(req) req:set_header("X-A", "1") end
function select_backend(req, backends) return backends[1] end
function on_response(req, res) res:del_header("Server") end
"""


def _wait_port(port, proc, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("process on :%d exited (%s)" % (port, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nothing listens on :%d" % port)


def _stop(proc, seconds=120):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class Origin:
    """nginx serving fixed bodies on two ports (sendfile, like make bench)."""

    def __init__(self, work):
        self.dir = os.path.join(work, "origin")
        os.chmod(work, 0o755)  # nginx's worker may run as nobody: it reads www
        os.makedirs(os.path.join(self.dir, "www", "cached"))
        os.makedirs(os.path.join(self.dir, "tmp"))
        for name, size, ch in (("1k", 1024, b"a"), ("100k", 102400, b"b")):
            for sub in ("", "cached"):
                with open(os.path.join(self.dir, "www", sub, name), "wb") as f:
                    f.write(ch * size)
        self.ports = (free_port(), free_port())
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_prologue(self.dir) + "http {\n" + nginx_http_common(self.dir) + """
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:%d;
        listen 127.0.0.1:%d;
        root %s/www;
        location /cached/ { add_header Cache-Control "max-age=60"; }
    }
}
""" % (self.ports[0], self.ports[1], self.dir))
        self.proc = subprocess.Popen(["nginx", "-p", self.dir, "-e", self.dir + "/error.log", "-c", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.ports[0], self.proc)

    def close(self):
        _stop(self.proc)


def nginx_prologue(d, master=True):
    return """worker_processes 1;
%sdaemon off;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 4096; }
""" % ("" if master else "master_process off;\n", d, d)


def nginx_http_common(d):
    return """    access_log off;
    default_type application/octet-stream;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path %s/tmp/body;
    proxy_temp_path %s/tmp/proxy;
    fastcgi_temp_path %s/tmp/fastcgi;
    uwsgi_temp_path %s/tmp/uwsgi;
    scgi_temp_path %s/tmp/scgi;
""" % ((d,) * 5)


def proxy_command(kind, work, origin, port, luxy=None, hooks=False, cache=False):
    """The command line of a proxy listening on port: kind is luxy, nginx or
    haproxy, configured like `make bench` (one worker, keep-alive to both
    origin ports, no access log)."""
    d = os.path.join(work, kind + ("-hooks" if hooks else "") + ("-cache" if cache else ""))
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    o1, o2 = origin.ports
    if kind == "luxy":
        tmpl = "luxy-cache.lua" if cache else "luxy-passthrough.lua"
        with open(os.path.join(HERE, tmpl)) as f:
            conf = f.read()
        conf = conf.replace("@LISTEN_PORT@", str(port)).replace("@ORIGIN1_PORT@", str(o1)) \
                   .replace("@ORIGIN2_PORT@", str(o2))
        if hooks:
            conf += HOOKS
        path = os.path.join(d, "luxy.lua")
        with open(path, "w") as f:
            f.write(conf)
        return [luxy or os.path.join(ROOT, "build", "luxy"), "-c", path]
    if kind == "nginx":
        path = os.path.join(d, "nginx.conf")
        with open(path, "w") as f:
            # master_process off: one process, so the tool sees the worker
            f.write(nginx_prologue(d, master=False) + "http {\n" + nginx_http_common(d) + """
    upstream origin {
        server 127.0.0.1:%d;
        server 127.0.0.1:%d;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:%d;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffer_size 16k;
            proxy_buffers 16 16k;
        }
    }
}
""" % (o1, o2, port))
        return ["nginx", "-p", d, "-e", d + "/error.log", "-c", path]
    if kind == "haproxy":
        path = os.path.join(d, "haproxy.cfg")
        with open(path, "w") as f:
            f.write("""global
    nbthread 1
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s

frontend fe
    bind 127.0.0.1:%d
    default_backend be

backend be
    balance roundrobin
    http-reuse always
    server o1 127.0.0.1:%d
    server o2 127.0.0.1:%d
""" % (port, o1, o2))
        return ["haproxy", "-db", "-f", path]
    raise ValueError(kind)


def read_response(s, buf):
    """Reads one 200 response with a Content-Length from socket s (buf: bytes
    already read); returns what came after it."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(262144)
        if not chunk:
            raise SystemExit("the proxy closed a connection")
        buf += chunk
    end = buf.index(b"\r\n\r\n") + 4
    head = buf[:end]
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit("unexpected response: %r" % head[:200])
    m = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
    if not m:
        raise SystemExit("response without Content-Length: %r" % head[:300])
    need = end + int(m.group(1))
    while len(buf) < need:
        chunk = s.recv(262144)
        if not chunk:
            raise SystemExit("the proxy closed a connection mid-body")
        buf += chunk
    return buf[need:]


class FastClient:
    """Keep-alive GETs over raw sockets, responses framed by Content-Length
    (every response here has one). Checks each status is 200."""

    def __init__(self, port, conns=CONNS):
        self.socks = []
        for _ in range(conns):
            s = socket.create_connection(("127.0.0.1", port), timeout=120)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.socks.append([s, b""])

    def _read(self, slot):
        slot[1] = read_response(slot[0], slot[1])

    @staticmethod
    def _read_one(sock):
        if read_response(sock, b""):
            raise SystemExit("bytes after the response")

    def run(self, path, n):
        """n requests (a multiple of the connection count), round by round."""
        req = ("GET %s HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: perflib\r\nAccept: */*\r\n\r\n"
               % path).encode()
        for _ in range(n // len(self.socks)):
            for slot in self.socks:
                slot[0].sendall(req)
            for slot in self.socks:
                self._read(slot)

    def close(self):
        for s, _ in self.socks:
            s.close()


def _attach_strace(pid, outfile):
    """strace -f -c attached to every thread of pid; returns once it is."""
    st = subprocess.Popen(["strace", "-f", "-c", "-o", outfile, "-p", str(pid)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # "Process N attached" or "Process N attached with M threads"
    line = st.stderr.readline()
    if "attached" not in line:
        raise SystemExit("strace did not attach to %d: %s" % (pid, line))
    return st


def _one_run(tool, outfile, cmd, port, path, n, warm=0):
    # strace attaches once the proxy listens: SIGTERM to a strace that
    # started the proxy would not reach the proxy, SIGINT to an attached one
    # detaches it and writes the counts
    full = cmd
    if tool == "callgrind":
        full = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + outfile] + cmd
    proc = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    st = None
    try:
        _wait_port(port, proc, 120)
        client = FastClient(port)
        if warm:
            client.run(path, warm)
        if tool == "strace":
            st = _attach_strace(proc.pid, outfile)
        client.run(path, n)
        client.close()
        if st:
            time.sleep(0.2)  # the proxy sees the closes
            st.send_signal(signal.SIGINT)
            st.communicate(timeout=60)
            st = None
    finally:
        if st:
            st.kill()
            st.wait()
        _stop(proc)
    return proc


def callgrind_total(outfile):
    # the "summary:" / "totals:" line of the output file is the program total
    with open(outfile) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise SystemExit("no totals in " + outfile)


def strace_total(outfile):
    with open(outfile) as f:
        for line in f:
            parts = line.split()
            if parts and parts[-1] == "total":
                # "100.00 secs usecs/call calls [errors] total": calls is the 4th
                return int(parts[3])
    raise SystemExit("no totals in " + outfile)


def per_request(tool, cmd, port, path, n1, n2, work, warm=0):
    """tool's count per request: the difference of an n1 and an n2 run."""
    totals = []
    for n in (n1, n2):
        out = os.path.join(work, "%s.%d.out" % (tool, n))
        _one_run(tool, out, cmd, port, path, n, warm)
        totals.append(callgrind_total(out) if tool == "callgrind" else strace_total(out))
        os.unlink(out)
    return (totals[1] - totals[0]) / (n2 - n1), totals


def workdir():
    return tempfile.TemporaryDirectory(prefix="luxy-perf-")


def require(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise SystemExit("missing: " + " ".join(missing))
