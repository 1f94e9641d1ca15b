"""Helpers for the luxy integration tests: the luxy process, fake backends,
a raw HTTP client and a fake DNS server. Standard library only.

Everything listens on 127.0.0.1 (one IPv6 test uses ::1) on ports picked by
binding port 0. Nothing waits with a fixed sleep: every wait polls a
condition with a deadline (see wait_for).

Environment:
  LUXY_BIN            the binary (default build/luxy)
  LUXY_WRAPPER        a command prefixed to every luxy command line, e.g.
                      "valgrind --error-exitcode=99 --leak-check=full
                       --errors-for-leak-kinds=definite -q"; the teardown check
                      then also fails on valgrind's "ERROR SUMMARY: N errors"
                      with N > 0 (and, as always, on a non-zero exit code)
  LUXY_TIMEOUT_SCALE  multiplies the harness's own waits (startup, stop,
                      wait_for, default client/backend read timeouts); use
                      e.g. 10 under valgrind. Default 1.
"""

import os
import re
import shlex
import signal
import socket
import string
import struct
import subprocess
import threading
import time

LUXY_BIN = os.environ.get("LUXY_BIN") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "build", "luxy"))
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

SANITIZER_MARKERS = ("AddressSanitizer", "runtime error", "LeakSanitizer",
                     "UndefinedBehaviorSanitizer", "ThreadSanitizer")

LUXY_WRAPPER = shlex.split(os.environ.get("LUXY_WRAPPER", ""))
try:
    TIMEOUT_SCALE = max(1.0, float(os.environ.get("LUXY_TIMEOUT_SCALE") or 1))
except ValueError:
    raise SystemExit("LUXY_TIMEOUT_SCALE must be a number, not %r"
                     % os.environ.get("LUXY_TIMEOUT_SCALE"))

# valgrind: "==123== ERROR SUMMARY: 3 errors from 2 contexts"
VALGRIND_SUMMARY_RE = re.compile(r"ERROR SUMMARY: (\d+) errors?")


def scaled(seconds):
    """A harness wait, stretched by LUXY_TIMEOUT_SCALE (slow wrappers)."""
    return seconds * TIMEOUT_SCALE


def luxy_command(args):
    """The command line that runs luxy with args (LUXY_WRAPPER prefixed)."""
    return LUXY_WRAPPER + [LUXY_BIN] + list(args)


def valgrind_report(text):
    """The part of text around the first valgrind ERROR SUMMARY with N > 0."""
    for m in VALGRIND_SUMMARY_RE.finditer(text):
        if int(m.group(1)) > 0:
            return text[max(0, m.start() - 6000): m.end() + 200]
    return None


# ---------------------------------------------------------------- utilities

_GIVEN_PORTS = []


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port that was free a moment ago (bind port 0, read it, close),
    and not one this process handed out lately: the kernel may give the
    same free port twice in a row, and two listeners of one test would
    then collide."""
    for _ in range(64):
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.bind((host, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in _GIVEN_PORTS:
            break
    _GIVEN_PORTS.append(port)
    del _GIVEN_PORTS[:-2048]
    return port


def wait_for(cond, timeout=10.0, interval=0.02, what="condition"):
    """Polls cond() until it returns a true value or timeout passes.
    Returns the value; raises AssertionError on timeout."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def port_accepts(port, host="127.0.0.1", timeout=0.5):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def tail(text, n=60):
    lines = text.splitlines()
    return "\n".join(lines[-n:])


# ---------------------------------------------------------------- luxy

def run_check(args, timeout=30):
    """Runs `luxy -t ...` (args after -t); returns (exit code, stdout+stderr)."""
    p = subprocess.run(luxy_command(["-t"] + list(args)), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=scaled(timeout))
    out = p.stdout.decode("utf-8", "replace")
    rep = valgrind_report(out)
    if rep:
        raise AssertionError("valgrind errors in luxy -t %s:\n%s" % (" ".join(args), rep))
    return p.returncode, out


class LuxyDied(AssertionError):
    pass


class Luxy:
    """A running luxy. conf is Lua text with $placeholders (string.Template)
    filled from subs; any placeholder named *port that is not given gets a
    free port. $port is the listener the readiness check waits for, unless
    ready=(host, port) says otherwise."""

    def __init__(self, workdir, conf=None, subs=None, name="conf.lua", ready=None,
                 args=None, ready_timeout=10.0):
        self.workdir = str(workdir)
        self.subs = dict(subs or {})
        self.conf_path = None
        self.conf_text = None
        stem = os.path.splitext(name)[0]
        self.stdout_path = os.path.join(self.workdir, stem + ".access.log")
        self.stderr_path = os.path.join(self.workdir, stem + ".error.log")
        if conf is not None:
            tpl = string.Template(conf)
            for m in tpl.pattern.finditer(conf):
                ident = m.group("named") or m.group("braced")
                if ident and ident not in self.subs and ident.endswith("port"):
                    self.subs[ident] = free_port()
            self.conf_text = tpl.substitute(self.subs)
            self.conf_path = os.path.join(self.workdir, name)
            with open(self.conf_path, "w") as f:
                f.write(self.conf_text)
        self.port = self.subs.get("port")
        cmd = []
        if self.conf_path:
            cmd += ["-c", self.conf_path]
        cmd += list(args or [])
        cmd = luxy_command(cmd)
        self.cmd = cmd
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL, cwd=self.workdir)
        self.pid = self.proc.pid
        self.returncode = None
        self.checked = False
        if ready is None and self.port is not None:
            ready = ("127.0.0.1", self.port)
        if ready:  # ready=False: do not wait (a test expecting a failed start)
            self.wait_ready(ready[0], ready[1], ready_timeout)

    # -- lifecycle

    def wait_ready(self, host, port, timeout=10.0):
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LuxyDied("luxy exited with %s before listening on %s:%s\n%s"
                               % (self.proc.returncode, host, port, self.describe()))
            if port_accepts(port, host):
                return
            time.sleep(0.05)
        raise AssertionError("luxy did not accept on %s:%s within %.0fs\n%s"
                             % (host, port, timeout, self.describe()))

    def alive(self):
        return self.proc.poll() is None

    def rewrite(self, conf, **subs):
        """Writes a new configuration to the same file, with the same
        placeholders filled (ports stay; new *port placeholders get free
        ports), for a reload."""
        self.subs.update(subs)
        tpl = string.Template(conf)
        for m in tpl.pattern.finditer(conf):
            ident = m.group("named") or m.group("braced")
            if ident and ident not in self.subs and ident.endswith("port"):
                self.subs[ident] = free_port()
        self.conf_text = tpl.substitute(self.subs)
        tmp = self.conf_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.conf_text)
        os.replace(tmp, self.conf_path)

    def reload(self, generation, timeout=15.0):
        """SIGHUP, then waits for the log line saying that generation serves."""
        self.signal(signal.SIGHUP)
        self.wait_error_log("reload: generation %d is serving" % generation, timeout)

    def signal(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout=15.0):
        timeout = scaled(timeout)
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.returncode = None
            raise AssertionError("luxy did not exit within %.0fs of SIGTERM (killed)\n%s"
                                 % (timeout, self.describe()))
        finally:
            self._close_files()
        return self.returncode

    def stop(self, timeout=15.0):
        """SIGTERM, wait up to timeout, return the exit code."""
        if self.returncode is not None or self.proc.poll() is not None:
            self.returncode = self.proc.wait()
            self._close_files()
            return self.returncode
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._close_files()

    def _close_files(self):
        for f in (self._out, self._err):
            try:
                f.close()
            except Exception:
                pass

    # -- observation

    def error_log(self):
        return read_text(self.stderr_path)

    def access_log(self):
        return read_text(self.stdout_path)

    def access_lines(self):
        return [l for l in self.access_log().splitlines() if l.strip()]

    def wait_access(self, pred, timeout=10.0, what="an access log line"):
        """Waits for an access log line satisfying pred (the writer thread is
        asynchronous) and returns it."""
        def find():
            for l in self.access_lines():
                if pred(l):
                    return l
            return None
        try:
            return wait_for(find, timeout, what=what)
        except AssertionError:
            raise AssertionError("no access log line matched (%s); access log:\n%s\nerror log:\n%s"
                                 % (what, tail(self.access_log()), tail(self.error_log())))

    def wait_error_log(self, needle, timeout=10.0):
        try:
            return wait_for(lambda: needle in self.error_log(), timeout,
                            what="%r in the error log" % needle)
        except AssertionError:
            raise AssertionError("%r not in the error log:\n%s" % (needle, tail(self.error_log())))

    def rss_kb(self):
        return rss_kb(self.pid)

    def fd_count(self):
        """luxy's open file descriptors right now (under LUXY_WRAPPER this
        includes the wrapper's own, a constant)."""
        return fd_count(self.pid)

    def fd_targets(self):
        return fd_targets(self.pid)

    def connection_fds(self):
        """luxy's TCP connection fds (client, backend, tunnel), {fd: state}."""
        return connection_fds(self.pid)

    def base_fd_count(self, tries=20):
        """luxy's fds that are not TCP connections (listeners, epoll, eventfd,
        logs, resolver sockets): the count luxy returns to when idle.
        Read until two readings agree (connections come and go meanwhile)."""
        last = None
        for _ in range(tries):
            n = self.fd_count() - len(self.connection_fds())
            if n == last:
                return n
            last = n
            time.sleep(0.01)
        return last

    def wait_fds(self, pred, timeout=10.0, what="the fd count"):
        """Polls the fd count until pred(count) holds; returns the count.
        On timeout the assertion lists the fds luxy still holds."""
        seen = {}

        def ok():
            seen["n"] = self.fd_count()
            return pred(seen["n"])
        try:
            wait_for(ok, timeout, what=what)
            return seen["n"]
        except AssertionError:
            n = self.fd_count()
            conns = {}
            for st in self.connection_fds().values():
                name = TCP_STATE_NAMES.get(st, st)
                conns[name] = conns.get(name, 0) + 1
            raise AssertionError("%s: luxy holds %d fds (%s; TCP connections by state: %s)\n%s"
                                 % (what, n, summarize_fds(self.fd_targets()), conns or "none",
                                    self.describe()))

    def wait_fds_at_most(self, limit, timeout=10.0, what=None):
        return self.wait_fds(lambda n: n <= limit, timeout,
                             what or "luxy's fd count to drop to %d or less" % limit)

    def describe(self):
        return ("--- command: %s\n--- config:\n%s\n--- error log (tail):\n%s\n--- access log (tail):\n%s"
                % (" ".join(self.cmd), self.conf_text or "(none)", tail(self.error_log()),
                   tail(self.access_log(), 20)))

    def sanitizer_report(self):
        """A sanitizer report, or valgrind errors (LUXY_WRAPPER), or None."""
        text = self.error_log() + self.access_log()
        for m in SANITIZER_MARKERS:
            if m in text:
                i = text.index(m)
                return text[max(0, i - 2000): i + 4000]
        return valgrind_report(text)


def fd_count(pid):
    """Open file descriptors of process pid."""
    return len(os.listdir("/proc/%d/fd" % pid))


def fd_targets(pid):
    """{fd: readlink target} of process pid (sockets read 'socket:[inode]')."""
    out = {}
    d = "/proc/%d/fd" % pid
    for name in os.listdir(d):
        try:
            out[int(name)] = os.readlink(os.path.join(d, name))
        except OSError:
            pass
    return out


TCP_STATE_NAMES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
                   "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
                   "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}


def tcp_states():
    """{socket inode: TCP state (hex, "0A" = LISTEN)} from /proc/net/tcp{,6}."""
    out = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if len(parts) > 9:
                        out[parts[9]] = parts[3]
        except (OSError, StopIteration):
            pass
    return out


def connection_fds(pid):
    """fds of pid that are TCP connections (not listeners), as {fd: state}."""
    states = tcp_states()
    out = {}
    for fd, t in fd_targets(pid).items():
        if t.startswith("socket:["):
            st = states.get(t[8:-1])
            if st is not None and st != "0A":
                out[fd] = st
    return out


def summarize_fds(targets):
    kinds = {}
    for t in targets.values():
        k = t.split(":", 1)[0] if ":" in t else t
        kinds[k] = kinds.get(k, 0) + 1
    return ", ".join("%s: %d" % kv for kv in sorted(kinds.items()))


def rss_kb(pid):
    """VmRSS of process pid in KiB (0 if it has none, e.g. a zombie)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _close_listener(sock):
    """shutdown() wakes a thread blocked in accept() (close() alone does not)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


# ---------------------------------------------------------------- HTTP parsing helpers

class HTTPError(Exception):
    pass


class Closed(HTTPError):
    """The peer closed (or reset) the connection; .partial holds what was read."""

    def __init__(self, msg, partial=b""):
        HTTPError.__init__(self, msg)
        self.partial = partial


class Reader:
    """Buffered reads from a socket, with a deadline per call."""

    def __init__(self, sock, timeout=10.0, on_bytes=None):
        self.sock = sock
        self.on_bytes = on_bytes
        self.buf = bytearray()
        self.timeout = timeout
        self.eof = False
        self.reset = False
        self.raw = bytearray()      # everything ever received
        self.record = True

    def _fill(self, deadline):
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("read timed out")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            self.eof = True
            self.reset = True
            return False
        if not data:
            self.eof = True
            return False
        self.buf += data
        if self.on_bytes:
            self.on_bytes(data)
        if self.record:
            self.raw += data
        return True

    def read_until(self, sep, limit=1 << 24, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        start = 0
        while True:
            i = self.buf.find(sep, start)
            if i >= 0:
                out = bytes(self.buf[:i + len(sep)])
                del self.buf[:i + len(sep)]
                return out
            start = max(0, len(self.buf) - len(sep) + 1)
            if len(self.buf) > limit:
                raise HTTPError("no %r within %d bytes" % (sep, limit))
            if not self._fill(deadline):
                raise Closed("connection closed before %r" % sep, bytes(self.buf))

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise Closed("connection closed after %d of %d bytes" % (len(self.buf), n),
                             bytes(self.buf))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_until_close(self, timeout=None, limit=1 << 30):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self._fill(deadline):
            if len(self.buf) > limit:
                raise HTTPError("more than %d bytes before close" % limit)
        out = bytes(self.buf)
        self.buf.clear()
        return out


def parse_head(head):
    """b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n" -> (start-line parts, [(name, value)])."""
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    start = lines[0]
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        if ":" not in line:
            raise HTTPError("bad header line %r" % line)
        name, value = line.split(":", 1)
        headers.append((name, value.strip(" \t")))
    return start, headers


class Headers(list):
    """A list of (name, value) pairs with case-insensitive lookups."""

    def get(self, name, default=None):
        n = name.lower()
        for k, v in self:
            if k.lower() == n:
                return v
        return default

    def get_all(self, name):
        n = name.lower()
        return [v for k, v in self if k.lower() == n]

    def has(self, name):
        return self.get(name) is not None

    def names(self):
        return [k.lower() for k, _ in self]


def read_chunked(reader, timeout=None):
    """Reads a chunked body; returns (body, chunk sizes, trailer lines)."""
    body = bytearray()
    sizes = []
    while True:
        line = reader.read_until(b"\r\n", limit=4096, timeout=timeout)
        size_text = line[:-2].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HTTPError("bad chunk size line %r" % line)
        sizes.append(size)
        if size == 0:
            break
        body += reader.read_exact(size, timeout=timeout)
        if reader.read_exact(2, timeout=timeout) != b"\r\n":
            raise HTTPError("chunk data not followed by CRLF")
    trailers = []
    while True:
        line = reader.read_until(b"\r\n", limit=65536, timeout=timeout)
        if line == b"\r\n":
            break
        trailers.append(line[:-2])
    return bytes(body), sizes, trailers


# ---------------------------------------------------------------- client

class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = Headers()
        self.body = b""
        self.framing = None        # "length", "chunked", "close", "none"
        self.chunk_sizes = []
        self.interim = []          # 1xx responses seen before this one
        self.head = b""
        self.complete = True

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def raw_text(self):
        return (self.head + self.body).decode("latin-1")

    def __repr__(self):
        return "<Response %s %s %r body=%r>" % (self.status, self.reason, list(self.headers),
                                                 self.body[:200])


class Client:
    """A raw HTTP/1.x client connection: send exact bytes, read parsed
    responses."""

    def __init__(self, port, host="127.0.0.1", timeout=None, connect_timeout=None):
        timeout = scaled(10.0) if timeout is None else timeout
        connect_timeout = scaled(5.0) if connect_timeout is None else connect_timeout
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(connect_timeout)
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.reader = Reader(self.sock, timeout)
        self.reader.record = False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def request(self, method, target, headers=None, body=None, version="HTTP/1.1", host=True):
        """Builds and sends a simple request. headers: list of pairs or dict."""
        hs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        names = [k.lower() for k, _ in hs]
        if host and "host" not in names:
            hs.insert(0, ("Host", host if isinstance(host, str) else "test.local"))
        if body is not None and "content-length" not in names and "transfer-encoding" not in names:
            hs.append(("Content-Length", str(len(body))))
        head = "%s %s %s\r\n" % (method, target, version)
        head += "".join("%s: %s\r\n" % (k, v) for k, v in hs) + "\r\n"
        self.send(head.encode("latin-1") + (body or b""))

    def read_response(self, method="GET", skip_interim=True, timeout=None, strict=True):
        """Reads one response. 1xx responses are collected in .interim and
        skipped (skip_interim) or returned. strict=False returns a truncated
        response (complete=False) instead of raising."""
        t = self.timeout if timeout is None else timeout
        interim = []
        while True:
            head = self.reader.read_until(b"\r\n\r\n", limit=1 << 20, timeout=t)
            start, headers = parse_head(head[:-4] + b"\r\n")
            parts = start.split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/"):
                raise HTTPError("bad status line %r" % start)
            r = Response()
            r.head = head
            r.version = parts[0]
            r.status = int(parts[1])
            r.reason = parts[2] if len(parts) > 2 else ""
            r.headers = Headers(headers)
            if 100 <= r.status < 200 and r.status != 101:
                r.framing = "none"
                interim.append(r)
                if skip_interim:
                    continue
                return r
            break
        r.interim = interim
        te = r.header("Transfer-Encoding")
        cl = r.header("Content-Length")
        try:
            if method == "CONNECT" and 200 <= r.status < 300:
                r.framing = "tunnel"
            elif method == "HEAD" or r.status in (204, 304) or 100 <= r.status < 200:
                r.framing = "none"
            elif te is not None and "chunked" in te.lower():
                r.framing = "chunked"
                r.body, r.chunk_sizes, _ = read_chunked(self.reader, timeout=t)
            elif cl is not None:
                r.framing = "length"
                r.body = self.reader.read_exact(int(cl), timeout=t)
            else:
                r.framing = "close"
                r.body = self.reader.read_until_close(timeout=t)
        except Closed as e:
            if strict:
                raise Closed("response %s truncated: %s" % (r.status, e), e.partial)
            r.body = e.partial
            r.complete = False
            self.reader.buf.clear()
        return r

    def roundtrip(self, method, target, headers=None, body=None, version="HTTP/1.1", host=True,
                  timeout=None):
        self.request(method, target, headers, body, version, host)
        return self.read_response(method, timeout=timeout)

    def wait_closed(self, timeout=5.0):
        """True when the peer closes (EOF or reset) within timeout with no
        further bytes; raises if bytes arrive; False on timeout."""
        try:
            data = self.reader.read_until_close(timeout=timeout)
        except socket.timeout:
            return False
        if data:
            raise HTTPError("expected the connection to close, got %r" % data[:200])
        return True

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def get(port, target="/", headers=None, host="127.0.0.1", timeout=None, method="GET", body=None):
    """One request on a fresh connection."""
    c = Client(port, host=host, timeout=timeout)
    try:
        return c.roundtrip(method, target, headers, body)
    finally:
        c.close()


# ---------------------------------------------------------------- backends

class BackendRequest:
    def __init__(self):
        self.method = None
        self.target = None
        self.version = None
        self.headers = Headers()
        self.body = b""
        self.body_len = 0
        self.raw = b""
        self.conn_id = None
        self.chunked = False
        self.chunk_sizes = []
        self.trailers = []

    @property
    def path(self):
        return self.target.split("?", 1)[0]

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def __repr__(self):
        return "<BackendRequest %s %s %r>" % (self.method, self.target, list(self.headers))


class BackendConn:
    """What a handler gets to answer with."""

    def __init__(self, backend, sock, conn_id):
        self.backend = backend
        self.sock = sock
        self.conn_id = conn_id
        self.closed = False
        self.reader = Reader(sock, timeout=backend.read_timeout, on_bytes=backend._count)
        self.reader.record = False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.settimeout(self.backend.write_timeout)
        self.sock.sendall(data)

    def respond(self, status=200, body=b"", headers=None, reason=None, req=None,
                length=True, close=False):
        """A complete response with Content-Length (unless length=False, then
        close-delimited). A HEAD request (req given) gets no body."""
        if isinstance(body, str):
            body = body.encode()
        hs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        names = [k.lower() for k, _ in hs]
        if length and "content-length" not in names and status not in (204, 304) and status >= 200:
            hs.append(("Content-Length", str(len(body))))
        if close and "connection" not in names:
            hs.append(("Connection", "close"))
        head = "HTTP/1.1 %d %s\r\n" % (status, reason if reason is not None else REASONS.get(status, "Whatever"))
        head += "".join("%s: %s\r\n" % (k, v) for k, v in hs) + "\r\n"
        no_body = (req is not None and req.method == "HEAD") or status in (204, 304)
        self.send(head.encode("latin-1") + (b"" if no_body else body))
        if close or not length:
            self.close()

    def respond_chunked(self, status=200, chunks=(), headers=None, trailers=b""):
        hs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        hs.append(("Transfer-Encoding", "chunked"))
        head = "HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "Whatever"))
        head += "".join("%s: %s\r\n" % (k, v) for k, v in hs) + "\r\n"
        self.send(head.encode("latin-1"))
        for c in chunks:
            if isinstance(c, str):
                c = c.encode()
            self.send(b"%x\r\n" % len(c) + c + b"\r\n")
        self.send(b"0\r\n" + trailers + b"\r\n")

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()

    def reset(self):
        """Close with an RST (SO_LINGER 0)."""
        if not self.closed:
            self.closed = True
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()

    def hang(self, timeout=60.0):
        """Never answer (until the backend is closed or timeout)."""
        self.backend.stopping.wait(timeout)


REASONS = {100: "Continue", 200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently",
           304: "Not Modified", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def default_handler(req, conn):
    body = ("%s %s\n" % (req.method, req.target)).encode()
    conn.respond(200, body, [("Content-Type", "text/plain"), ("X-Test-Backend", conn.backend.name)],
                 req=req)


class Backend:
    """A threaded HTTP/1.1 server on 127.0.0.1 that records every request.

    handler(req, conn) answers; it may use conn.respond / respond_chunked /
    send / close / reset / hang. After it returns the connection serves the
    next request unless the handler closed it.
    on_head(req, conn), if given, runs after the head and before the body is
    read (e.g. to send 100 Continue).
    store_body=False counts body bytes (req.body_len) without keeping them.
    """

    def __init__(self, handler=None, name="b", on_head=None, store_body=True,
                 read_timeout=60.0, write_timeout=60.0, continue_on_expect=False):
        self.handler = handler or default_handler
        self.name = name
        self.on_head = on_head
        self.store_body = store_body
        self.continue_on_expect = continue_on_expect
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.requests = []
        self.connections = 0
        self.raw_total = 0           # bytes received on all connections
        self.received = bytearray()  # the first 16 MiB received, all connections
        self.partial = []            # raw bytes of requests that never completed
        self.errors = []
        self.ended = {}              # conn id -> why its serving loop ended
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.socks = set()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self._accept_loop, daemon=True,
                                       name="backend-%s" % name)
        self.thread.start()

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            if self.stopping.is_set():
                s.close()
                return
            with self.lock:
                self.connections += 1
                cid = self.connections
                self.socks.add(s)
            threading.Thread(target=self._serve, args=(s, cid), daemon=True,
                             name="backend-%s-%d" % (self.name, cid)).start()

    def _serve(self, s, cid):
        conn = BackendConn(self, s, cid)
        why = "stopped"
        try:
            while not conn.closed and not self.stopping.is_set():
                req = self._read_request(conn)
                if req is None:
                    why = "eof"          # the peer closed (or reset) the connection
                    break
                with self.lock:
                    self.requests.append(req)
                self.handler(req, conn)
            else:
                if conn.closed:
                    why = "handler closed"
        except (Closed, socket.timeout, ConnectionError, OSError) as e:
            why = "error: %r" % (e,)
            if not self.stopping.is_set() and not isinstance(e, Closed):
                self.errors.append(repr(e))
        except Exception as e:  # a handler bug: keep it visible
            why = "handler bug: %r" % (e,)
            self.errors.append(repr(e))
            raise
        finally:
            with self.lock:
                self.socks.discard(s)
                self.ended[cid] = why
            conn.close()

    def _read_request(self, conn):
        r = conn.reader
        r.record = True
        r.raw = bytearray(r.buf)    # pipelined bytes already here belong to this request
        try:
            while True:
                head = r.read_until(b"\r\n\r\n", limit=1 << 20, timeout=self.read_timeout)
                head = head.lstrip(b"\r\n")  # empty lines before a request (RFC 9112 2.2)
                if head:
                    break
            req = BackendRequest()
            req.conn_id = conn.conn_id
            start, headers = parse_head(head[:-4] + b"\r\n")
            parts = start.split(" ")
            if len(parts) != 3:
                raise HTTPError("bad request line %r" % start)
            req.method, req.target, req.version = parts
            req.headers = Headers(headers)
            if self.on_head:
                self.on_head(req, conn)
            if self.continue_on_expect and (req.header("Expect") or "").lower() == "100-continue":
                conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            te = req.header("Transfer-Encoding")
            cl = req.header("Content-Length")
            if te is not None:
                req.chunked = True
                if self.store_body:
                    req.body, req.chunk_sizes, req.trailers = read_chunked(r)
                    req.body_len = len(req.body)
                else:
                    req.body_len = self._discard_chunked(r)
            elif cl is not None:
                n = int(cl)
                if self.store_body:
                    req.body = r.read_exact(n)
                    req.body_len = n
                else:
                    req.body_len = self._discard(r, n)
            req.raw = bytes(r.raw[:max(0, len(r.raw) - len(r.buf))])
            return req
        except Closed:
            if r.raw:
                self._note_partial(bytes(r.raw))
            return None

    def _count(self, data):
        """Every byte any connection received (bytes, or a count for bodies
        that are discarded)."""
        with self.lock:
            if isinstance(data, int):
                self.raw_total += data
                return
            self.raw_total += len(data)
            if len(self.received) < (16 << 20):
                self.received += data

    def saw(self, marker):
        """Has marker (bytes) ever arrived at this backend, on any connection?"""
        if isinstance(marker, str):
            marker = marker.encode()
        with self.lock:
            return marker in self.received

    def _note_partial(self, raw):
        with self.lock:
            self.partial.append(raw)

    def _discard(self, r, n):
        r.record = False
        got = 0
        take = min(len(r.buf), n)
        del r.buf[:take]
        got += take
        deadline = time.monotonic() + self.read_timeout
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        while got < n:
            r.sock.settimeout(max(0.01, deadline - time.monotonic()))
            k = r.sock.recv_into(view, min(len(buf), n - got))
            if k == 0:
                raise Closed("body truncated at %d of %d" % (got, n))
            got += k
            self._count(k)
            deadline = time.monotonic() + self.read_timeout
        r.record = True
        return got

    def _discard_chunked(self, r):
        r.record = False
        total = 0
        while True:
            line = r.read_until(b"\r\n", limit=4096)
            size = int(line[:-2].split(b";")[0], 16)
            if size == 0:
                while r.read_until(b"\r\n", limit=65536) != b"\r\n":
                    pass
                break
            while size:
                if not r.buf:
                    r._fill(time.monotonic() + self.read_timeout)
                    if r.eof:
                        raise Closed("chunked body truncated")
                take = min(size, len(r.buf))
                del r.buf[:take]
                size -= take
                total += take
            r.read_exact(2)
        r.record = True
        return total

    # -- observation

    def wait_requests(self, n, timeout=10.0):
        wait_for(lambda: len(self.requests) >= n, timeout,
                 what="%d requests at backend %s (have %d)" % (n, self.name, len(self.requests)))
        return self.requests

    def last(self):
        assert self.requests, "backend %s received no request" % self.name
        return self.requests[-1]

    def open_connections(self):
        """How many connections are being served right now."""
        with self.lock:
            return len(self.socks)

    def wait_conn_ended(self, cid, timeout=10.0):
        """Waits until connection cid's serving loop ended (the peer closed
        it, or a send/recv failed); returns why."""
        wait_for(lambda: cid in self.ended, timeout,
                 what="backend %s connection %s to end" % (self.name, cid))
        return self.ended[cid]

    def close(self):
        self.stopping.set()
        _close_listener(self.lsock)
        with self.lock:
            socks = list(self.socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class EchoServer:
    """A plain TCP echo server. On EOF from the client it sends
    eof_marker, then closes. Counts connections and bytes."""

    def __init__(self, eof_marker=b"<EOF-SEEN>"):
        self.eof_marker = eof_marker
        self.connections = 0
        self.closed = 0              # connections finished (EOF, reset or error)
        self.lock = threading.Lock()
        self.received = 0
        self.saw_eof = threading.Event()
        self.stopping = threading.Event()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.socks = []
        threading.Thread(target=self._accept, daemon=True, name="echo").start()

    def _accept(self):
        while True:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            self.connections += 1
            self.socks.append(s)
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        try:
            s.settimeout(60)
            while True:
                data = s.recv(65536)
                if not data:
                    self.saw_eof.set()
                    s.sendall(self.eof_marker)
                    break
                self.received += len(data)
                s.sendall(data)
        except OSError:
            pass
        finally:
            try:
                s.close()
            except OSError:
                pass
            with self.lock:
                self.closed += 1

    def close(self):
        self.stopping.set()
        _close_listener(self.lsock)
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# ---------------------------------------------------------------- fake DNS

class FakeDNS:
    """UDP DNS server on 127.0.0.1: A queries from records (name -> IPv4 or
    a list), AAAA -> empty NOERROR for known names, NXDOMAIN for unknown
    names; a name mapped to None is never answered (a timeout).
    Counts queries per (name, type)."""

    def __init__(self, records=None, ttl=60, default=None):
        self.records = {k.lower().rstrip("."): v for k, v in (records or {}).items()}
        self.default = default       # an IPv4 for every unknown name (None: NXDOMAIN)
        self.ttl = ttl
        self.queries = []            # (name, qtype)
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)  # so the thread notices close()
        self.port = self.sock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.stopping = False
        threading.Thread(target=self._loop, daemon=True, name="fakedns").start()

    def count(self, name=None, qtype=None):
        with self.lock:
            return sum(1 for n, t in self.queries
                       if (name is None or n == name.lower()) and (qtype is None or t == qtype))

    def _loop(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                reply = self._answer(data)
            except Exception:
                continue
            if reply:
                try:
                    self.sock.sendto(reply, peer)
                except OSError:
                    pass

    def _answer(self, data):
        if len(data) < 12:
            return None
        qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", data[:12])
        if qd != 1:
            return None
        i = 12
        labels = []
        while True:
            n = data[i]
            i += 1
            if n == 0:
                break
            labels.append(data[i:i + n].decode("ascii", "replace"))
            i += n
        qtype, qclass = struct.unpack("!HH", data[i:i + 4])
        question = data[12:i + 4]
        name = ".".join(labels).lower()
        with self.lock:
            self.queries.append((name, qtype))
        rd = flags & 0x0100
        answers = b""
        nans = 0
        if name in self.records and self.records[name] is None:
            return None
        if name not in self.records and self.default:
            self.records[name] = self.default
        if name in self.records:
            rcode = 0
            if qtype == 1:
                ips = self.records[name]
                if isinstance(ips, str):
                    ips = [ips]
                for ip in ips:
                    answers += (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, self.ttl, 4)
                                + socket.inet_aton(ip))
                    nans += 1
        else:
            rcode = 3  # NXDOMAIN
        rflags = 0x8000 | rd | 0x0080 | rcode  # QR, RD copied, RA
        return struct.pack("!HHHHHH", qid, rflags, 1, nans, 0, 0) + question + answers

    def close(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------- test environment

class Env:
    """Owns everything a test starts; tears it down in a safe order and
    checks every luxy exited 0 without sanitizer reports."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.luxies = []
        self.backends = []
        self.clients = []
        self.others = []
        self.count = 0

    def luxy(self, conf=None, name=None, **kw):
        self.count += 1
        if name is None:
            name = "conf.lua" if self.count == 1 else "conf%d.lua" % self.count
        subs = kw.pop("subs", {})
        subs.update({k: v for k, v in kw.items() if k not in ("ready", "args", "ready_timeout")})
        opts = {k: v for k, v in kw.items() if k in ("ready", "args", "ready_timeout")}
        lx = Luxy(self.tmp_path, conf, subs, name=name, **opts)
        self.luxies.append(lx)
        return lx

    def backend(self, handler=None, **kw):
        kw.setdefault("name", "b%d" % (len(self.backends) + 1))
        b = Backend(handler, **kw)
        self.backends.append(b)
        return b

    def client(self, port, **kw):
        c = Client(port, **kw)
        self.clients.append(c)
        return c

    def dns(self, records=None, ttl=60, default=None):
        d = FakeDNS(records, ttl, default)
        self.others.append(d)
        return d

    def echo(self, **kw):
        e = EchoServer(**kw)
        self.others.append(e)
        return e

    def teardown(self):
        problems = []
        for c in self.clients:
            c.close()
        for b in self.backends:
            b.close()
        for o in self.others:
            o.close()
        for lx in self.luxies:
            if lx.checked:
                continue
            try:
                rc = lx.stop()
                if rc != 0:
                    problems.append("luxy (%s) exited with %s at teardown\n%s"
                                    % (lx.conf_path, rc, lx.describe()))
            except AssertionError as e:
                problems.append(str(e))
            rep = lx.sanitizer_report()
            if rep:
                problems.append("sanitizer report from luxy (%s):\n%s" % (lx.conf_path, rep))
        if problems:
            raise AssertionError("\n\n".join(problems))
