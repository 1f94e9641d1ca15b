#!/usr/bin/python3
"""A backend in a process of its own, for what threads cannot be: killed
with SIGKILL, frozen with SIGSTOP, restarted on the same port.

    backend_proc.py PORT NAME [DELAY_SECONDS]

HTTP/1.1 with keep-alive. Every answer says who answered (X-Test-Backend
and the body). GET /healthz answers the status last set with
GET /_control/health?status=N (200 at start); /_control/delay?s=F sets the
delay before each answer. Prints "ready" once listening."""

import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
NAME = sys.argv[2]
state = {"health": 200, "delay": float(sys.argv[3]) if len(sys.argv) > 3 else 0.0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        # head and body in one write: a busy machine never parts them
        head = ("HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                "X-Test-Backend: %s\r\n\r\n" % (status, self.responses.get(status, ("",))[0], len(body), NAME))
        self.wfile.write(head.encode() + (b"" if self.command == "HEAD" else body))
        self.wfile.flush()

    def do_GET(self):
        if self.path.startswith("/_control/"):
            what, _, value = self.path[len("/_control/"):].partition("?")
            value = value.partition("=")[2]
            if what == "health":
                state["health"] = int(value)
            elif what == "delay":
                state["delay"] = float(value)
            return self.answer(200, b"ok\n")
        if self.path == "/healthz":
            return self.answer(state["health"], b"health\n")
        if state["delay"]:
            time.sleep(state["delay"])
        self.answer(200, ("%s %s\n" % (NAME, self.path)).encode())

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        self.answer(200, ("%s posted %d\n" % (NAME, n)).encode())

    do_HEAD = do_GET


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


srv = Server(("127.0.0.1", PORT), Handler)
srv.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
print("ready", flush=True)
srv.serve_forever()
