"""1 GiB through luxy in each direction with bounded memory: luxy's VmRSS,
sampled during the transfer, stays under 64 MiB and the byte counts match
exactly."""

import socket
import threading
import time

import pytest

from luxyharness import Reader, parse_head, Headers

GIB = 1 << 30
MIB = 1 << 20
RSS_LIMIT_KB = 64 * 1024
TIME_LIMIT = 120.0

CONF = """
workers(1)
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
limits { body_size = false }
timeouts { backend_read = "60s", client_body = "60s", send = "60s" }
"""


class RssSampler:
    def __init__(self, lx, interval=0.1):
        self.lx = lx
        self.interval = interval
        self.samples = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                self.samples.append(self.lx.rss_kb())
            except (OSError, ValueError):
                return
            self.stop.wait(self.interval)

    def finish(self):
        self.stop.set()
        self.thread.join(5)
        return max(self.samples) if self.samples else 0


@pytest.mark.heavy
def test_upload_1gib_streams_with_bounded_memory(env):
    def count(req, conn):
        conn.respond(200, b"%d" % req.body_len, req=req)
    b = env.backend(count, store_body=False)
    lx = env.luxy(CONF, backend_port=b.port)
    base = lx.rss_kb()
    s = socket.create_connection(("127.0.0.1", lx.port), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MIB)
    sampler = RssSampler(lx)
    chunk = b"\x00\xffluxy" * (MIB // 6) + b"!" * (MIB % 6)
    assert len(chunk) == MIB
    t0 = time.monotonic()
    try:
        s.sendall(b"PUT /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % GIB)
        for i in range(GIB // MIB):
            s.sendall(chunk)
            if time.monotonic() - t0 > TIME_LIMIT:
                pytest.fail("upload too slow: %d MiB in %.0fs" % (i + 1, TIME_LIMIT))
        reader = Reader(s, timeout=max(5.0, TIME_LIMIT - (time.monotonic() - t0)))
        reader.record = False
        head = reader.read_until(b"\r\n\r\n")
        start, headers = parse_head(head[:-2])
        headers = Headers(headers)
        body = reader.read_exact(int(headers.get("Content-Length")))
    finally:
        peak = sampler.finish()
        s.close()
    elapsed = time.monotonic() - t0
    print("1 GiB in %.1fs, luxy VmRSS %d KiB at start, peak %d KiB over %d samples"
          % (elapsed, base, peak, len(sampler.samples)))
    assert start.split(" ")[1] == "200", start
    assert body == b"%d" % GIB, "backend counted %r bytes of %d" % (body, GIB)
    assert b.last().body_len == GIB
    assert len(sampler.samples) >= 3
    assert peak < RSS_LIMIT_KB, "luxy VmRSS peaked at %d KiB (start %d KiB) during a 1 GiB upload" % (peak, base)
    assert elapsed < TIME_LIMIT


@pytest.mark.heavy
def test_download_1gib_streams_with_bounded_memory(env):
    chunk = bytes(range(256)) * (MIB // 256)

    def generate(req, conn):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Length: %d\r\n\r\n" % GIB)
        for _ in range(GIB // MIB):
            conn.send(chunk)
    b = env.backend(generate, write_timeout=TIME_LIMIT)
    lx = env.luxy(CONF, backend_port=b.port)
    base = lx.rss_kb()
    s = socket.create_connection(("127.0.0.1", lx.port), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MIB)
    sampler = RssSampler(lx)
    t0 = time.monotonic()
    got = 0
    try:
        s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(s, timeout=30)
        reader.record = False
        head = reader.read_until(b"\r\n\r\n")
        start, headers = parse_head(head[:-2])
        headers = Headers(headers)
        assert start.split(" ")[1] == "200", start
        assert headers.get("Content-Length") == str(GIB), headers
        got = len(reader.buf)
        first = bytes(reader.buf[:256])
        buf = bytearray(4 * MIB)
        view = memoryview(buf)
        while got < GIB:
            if time.monotonic() - t0 > TIME_LIMIT:
                pytest.fail("download too slow: %d MiB in %.0fs" % (got // MIB, TIME_LIMIT))
            n = s.recv_into(view, min(len(buf), GIB - got))
            if n == 0:
                break
            if got == 0:
                first = bytes(view[:256])
            got += n
        last = bytes(view[max(0, n - 256):n]) if got else b""
    finally:
        peak = sampler.finish()
        s.close()
    elapsed = time.monotonic() - t0
    print("1 GiB in %.1fs, luxy VmRSS %d KiB at start, peak %d KiB over %d samples"
          % (elapsed, base, peak, len(sampler.samples)))
    assert got == GIB, "received %d of %d bytes" % (got, GIB)
    if len(first) == 256:
        assert first == bytes(range(256))
    if len(last) == 256:
        assert last == bytes(range(256))
    assert len(sampler.samples) >= 3
    assert peak < RSS_LIMIT_KB, "luxy VmRSS peaked at %d KiB (start %d KiB) during a 1 GiB download" % (peak, base)
    assert elapsed < TIME_LIMIT
