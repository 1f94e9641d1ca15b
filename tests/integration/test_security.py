"""Access control and backend hiding: trusted proxies, the forwarding
fields a reverse proxy gives its backends (never an untrusted client's),
backend software and addresses kept from clients, CONNECT ports and
destination rules of forward listeners."""

from luxyharness import Client, free_port, run_check


def reverse(env, handler=None, opts="", extra=""):
    b = env.backend(handler)
    lx = env.luxy('workers(1)\nlisten { "127.0.0.1:$port", mode = "reverse", upstream = "app"%s }\n'
                  'upstream "app" { "127.0.0.1:$backend_port" }\n%s' % (opts, extra), backend_port=b.port)
    return b, lx


# ---- trusted proxies

CLIENT_IP = '''
function on_response(req, res)
  res:set_header("X-Seen-Client", req.client_ip)
  res:set_header("X-Seen-Peer", req.peer_ip)
  res:set_header("X-In-Doc-Net", tostring(req:client_in("203.0.113.0/24")))
end
'''


def test_a_trusted_peer_names_the_client(env):
    b, lx = reverse(env, opts=', trusted_proxies = { "127.0.0.1" }', extra=CLIENT_IP)
    c = Client(lx.port)
    r = c.roundtrip("GET", "/t", headers=[("X-Forwarded-For", "198.51.100.1, 203.0.113.9")])
    assert r.header("X-Seen-Client") == "203.0.113.9", "the rightmost untrusted address"
    assert r.header("X-Seen-Peer") == "127.0.0.1"
    assert r.header("X-In-Doc-Net") == "true", "ACLs see the client"
    assert b.last().header("X-Forwarded-For") == "198.51.100.1, 203.0.113.9, 127.0.0.1"
    lx.wait_access(lambda l: l.split(" ")[1] == "203.0.113.9" and "/t" in l, what="the client in the access log")
    # trusted hops are skipped; Forwarded when there is no X-Forwarded-For
    r = c.roundtrip("GET", "/f", headers=[("Forwarded", 'for=203.0.113.5;proto=https, for=127.0.0.1')])
    assert r.header("X-Seen-Client") == "203.0.113.5"
    r = c.roundtrip("GET", "/v6", headers=[("Forwarded", 'for="[2001:db8::5]:4711"')])
    assert r.header("X-Seen-Client") == "2001:db8::5"
    r = c.roundtrip("GET", "/g", headers=[("X-Forwarded-For", "garbage, 127.0.0.1")])
    assert r.header("X-Seen-Client") == "127.0.0.1", "not an address: what came before it is not believed"


def test_an_untrusted_peer_cannot_claim_an_address(env):
    b, lx = reverse(env, opts=', trusted_proxies = { "10.0.0.0/8" }', extra=CLIENT_IP)
    r = Client(lx.port).roundtrip("GET", "/u", headers=[("X-Forwarded-For", "203.0.113.9"),
                                                       ("X-Real-IP", "203.0.113.9")])
    assert r.header("X-Seen-Client") == "127.0.0.1"
    assert r.header("X-In-Doc-Net") == "false"
    req = b.last()
    assert req.header("X-Forwarded-For") == "127.0.0.1"
    assert req.header("X-Real-IP") is None


# ---- what backends receive

SPOOFED = [
    ("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Port", "443"),
    ("X-Forwarded-Server", "evil"), ("X-Original-URL", "/admin"), ("X-Rewrite-URL", "/admin"),
    ("X-Host", "evil.example"), ("Forwarded", "host=evil.example"), ("X-HTTP-Method-Override", "DELETE"),
    ("X-HTTP-Method", "DELETE"), ("X-Method-Override", "DELETE"), ("X-Forwarded-Scheme", "https"),
]


def test_forwarding_fields_from_clients_are_dropped(env):
    b, lx = reverse(env)
    r = Client(lx.port).roundtrip("GET", "/p", headers=[("Host", "shop.example")] + SPOOFED)
    assert r.status == 200
    req = b.last()
    names = [k.lower() for k, _ in req.headers]
    for k, _ in SPOOFED:
        if k not in ("X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port"):
            assert k.lower() not in names, k
    assert req.header("X-Forwarded-Host") == "shop.example"
    assert req.header("X-Forwarded-Proto") == "http"
    assert req.header("X-Forwarded-Port") == str(lx.port)
    assert req.header("X-Forwarded-For") == "127.0.0.1"


def test_forwarding_fields_kept_when_asked_and_forwarded_added(env):
    b, lx = reverse(env, opts=', forwarding_headers = "keep", forwarded = true')
    Client(lx.port).roundtrip("GET", "/p", headers=[("Host", "shop.example")] + SPOOFED)
    req = b.last()
    assert req.header("X-Original-URL") == "/admin" and req.header("X-HTTP-Method-Override") == "DELETE"
    assert req.header("X-Forwarded-Host") == "evil.example", "kept as the client sent it"
    assert req.header("Forwarded") == 'host=evil.example, for=127.0.0.1;host="shop.example";proto=http'


def test_a_trusted_proxys_scheme_and_host_stand(env):
    b, lx = reverse(env, opts=', trusted_proxies = { "127.0.0.1" }')
    Client(lx.port).roundtrip("GET", "/p", headers=[("Host", "shop.example"), ("X-Forwarded-Proto", "https"),
                                                    ("X-Forwarded-Host", "www.shop.example")])
    req = b.last()
    assert req.header("X-Forwarded-Proto") == "https" and req.header("X-Forwarded-Host") == "www.shop.example"


# ---- backends stay hidden

def revealing(port):
    def handler(req, conn):
        if req.path == "/r":
            conn.respond(302, b"", [("Location", "http://127.0.0.1:%d/login?next=/r" % port),
                                    ("Content-Location", "http://127.0.0.1:%d/r" % port),
                                    ("Refresh", "5; url=http://127.0.0.1:%d/later" % port),
                                    ("Server", "Apache/2.4.1 (Unix)")], req=req)
            return
        if req.path == "/elsewhere":
            conn.respond(302, b"", [("Location", "https://login.example/x")], req=req)
            return
        conn.respond(200, b"page", [("Server", "Apache/2.4.1 (Unix)"), ("X-Powered-By", "PHP/8.1"),
                                    ("X-AspNet-Version", "4.0"), ("X-AspNetMvc-Version", "5.2"),
                                    ("X-Generator", "Drupal 10"), ("X-Backend-Server", "app-3.internal"),
                                    ("X-Served-By", "app-3"), ("Cache-Control", "max-age=60"),
                                    ("X-Kept", "yes")], req=req)
    return handler


def hidden_backend(env, opts="", cache=""):
    b = env.backend(revealing(0))
    b.handler = revealing(b.port)
    lx = env.luxy('workers(1)\nlisten { "127.0.0.1:$port", mode = "reverse", upstream = "app"%s }\n'
                  'upstream "app" { "127.0.0.1:$backend_port" }\n%s' % (opts, cache), backend_port=b.port)
    return b, lx


SOFTWARE = ["Server", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version", "X-Generator",
            "X-Backend-Server", "X-Served-By"]


def test_backend_software_and_addresses_are_hidden(env):
    b, lx = hidden_backend(env, cache='cache { size = "1MB" }\n')
    c = Client(lx.port)
    for expect in ("MISS", "HIT"):
        r = c.roundtrip("GET", "/page", headers=[("Host", "www.example.test")])
        assert r.status == 200 and r.body == b"page" and r.header("X-Cache") == expect
        for name in SOFTWARE:
            assert r.header(name) is None, (expect, name)
        assert r.header("X-Kept") == "yes"
    r = c.roundtrip("GET", "/r", headers=[("Host", "www.example.test")])
    assert r.status == 302
    assert r.header("Location") == "http://www.example.test/login?next=/r"
    assert r.header("Content-Location") == "http://www.example.test/r"
    assert r.header("Refresh") == "5; url=http://www.example.test/later"
    assert str(b.port) not in r.raw_text(), "the backend's port appears nowhere"
    r = c.roundtrip("GET", "/elsewhere", headers=[("Host", "www.example.test")])
    assert r.header("Location") == "https://login.example/x", "other sites' URLs are left alone"


def test_server_header_replaced_or_hiding_off(env):
    b, lx = hidden_backend(env, opts=', server_header = "web"')
    r = Client(lx.port).roundtrip("GET", "/page")
    assert r.headers.get_all("Server") == ["web"] and r.header("X-Powered-By") is None
    b2, lx2 = hidden_backend(env, opts=", hide_backend = false")
    r = Client(lx2.port).roundtrip("GET", "/page")
    assert r.header("Server") == "Apache/2.4.1 (Unix)" and r.header("X-Powered-By") == "PHP/8.1"


def test_error_pages_never_name_a_backend(env):
    dead = free_port()
    lx = env.luxy('workers(1)\nlisten { "127.0.0.1:$port", mode = "reverse", upstream = "app" }\n'
                  'upstream "app" { "127.0.0.1:%d" }\n' % dead)
    r = Client(lx.port).roundtrip("GET", "/")
    assert r.status == 502 and str(dead) not in r.raw_text() and "127.0.0.1" not in r.raw_text()


# ---- forward: CONNECT ports and destinations

def connect(c, port, host="127.0.0.1"):
    c.send(b"CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host.encode(), port, host.encode(), port))
    return c.read_response(method="CONNECT")


def test_connect_goes_to_443_only_by_default(env):
    echo = env.echo()
    lx = env.luxy('workers(1)\nlisten { "127.0.0.1:$port", mode = "forward" }\n')
    r = connect(Client(lx.port), echo.port)
    assert r.status == 403 and b"port" in r.body
    lx2 = env.luxy('workers(1)\nlisten { "127.0.0.1:$port", mode = "forward", connect_ports = { $echo_port } }\n',
                   echo_port=echo.port)
    c = Client(lx2.port)
    assert connect(c, echo.port).status == 200
    c.send(b"ping")
    assert c.reader.read_exact(4) == b"ping"


def test_destinations_denied_by_address_and_name(env):
    b = env.backend()
    echo = env.echo()
    dns = env.dns({"inside.test": "127.0.0.1", "ok.test": "127.0.0.1", "a.blocked.test": "127.0.0.1",
                   "blocked.test": "127.0.0.1"})
    conf = '''workers(1)
listen { "127.0.0.1:$port", mode = "forward", connect_ports = "any", deny_destinations = { "loopback", "*.blocked.test" } }
listen { "127.0.0.1:$other_port", mode = "forward", connect_ports = "any", deny_destinations = { "10.0.0.0/8", "private" } }
resolver { servers = { "127.0.0.1:$dns_port" }, hosts = false, timeout = "1s", attempts = 1 }
'''
    lx = env.luxy(conf, dns_port=dns.port)
    c = Client(lx.port)
    for host in ("inside.test", "127.0.0.1", "a.blocked.test", "[::ffff:127.0.0.1]"):
        r = c.roundtrip("GET", "http://%s:%d/x" % (host, b.port))
        assert r.status == 403 and b"destination is not allowed" in r.body, (host, r)
    assert connect(Client(lx.port), echo.port, "inside.test").status == 403
    lx.wait_error_log("refused (deny_destinations)")
    # a name resolving outside the denied ranges (here: loopback is not denied) works
    c2 = Client(lx.subs["other_port"])
    assert c2.roundtrip("GET", "http://ok.test:%d/x" % b.port).status == 200
    c3 = Client(lx.subs["other_port"])
    r = connect(c3, echo.port, "ok.test")
    assert r.status == 200
    c3.send(b"x")
    assert c3.reader.read_exact(1) == b"x"


def test_open_forward_proxy_without_destination_rules_warns(env, tmp_path):
    p = tmp_path / "open.lua"
    p.write_text('listen { "127.0.0.1:18091", mode = "forward", allow = { "10.0.0.0/8" } }\n')
    rc, out = run_check(["-c", str(p)])
    assert rc == 0 and "warning" in out and "deny_destinations" in out
    p.write_text('listen { "127.0.0.1:18091", mode = "forward" }\n')
    rc, out = run_check(["-c", str(p)])
    assert rc == 0 and "warning" not in out, "the loopback-only default keeps quiet"
    p.write_text('listen { "127.0.0.1:18091", mode = "forward", deny_destinations = { "10.0.0.0/33" } }\n')
    rc, out = run_check(["-c", str(p)])
    assert rc != 0 and "deny_destinations[1]" in out


# ---- parent proxies

def test_forward_through_a_parent_with_failover(env):
    origin = env.backend()
    echo = env.echo()
    dead = free_port()
    parent = env.luxy('workers(1)\nlisten { "127.0.0.1:$port", mode = "forward", connect_ports = "any", via = "parent" }\n')
    lx = env.luxy('''workers(1)
listen { "127.0.0.1:$port", mode = "forward", connect_ports = "any", parent = "corp" }
parent "corp" { "127.0.0.1:%d", "127.0.0.1:%d" }
timeouts { backend_connect = "2s" }
''' % (dead, parent.port))
    c = Client(lx.port)
    for i in range(3):
        r = c.roundtrip("GET", "http://127.0.0.1:%d/p%d" % (origin.port, i))
        assert r.status == 200 and r.body == b"GET /p%d\n" % i
    req = origin.last()
    assert req.target == "/p2"
    assert req.headers.get_all("Via") == ["1.1 luxy", "1.1 parent"], req
    lx.wait_access(lambda l: "upstream=corp" in l and "retries=1" in l, what="a failover to the second parent")
    parent.wait_access(lambda l: "/p1" in l, what="the parent served it")
    # CONNECT through the parent
    c2 = Client(lx.port)
    r = connect(c2, echo.port)
    assert r.status == 200
    c2.send(b"hello")
    assert c2.reader.read_exact(5) == b"hello"


def test_parent_sees_absolute_form_and_credentials(env):
    def parent_handler(req, conn):
        conn.respond(200, b"via parent", [("X-Target", req.target),
                                          ("X-Auth", req.header("Proxy-Authorization") or "-")], req=req)
    fake_parent = env.backend(parent_handler)
    lx = env.luxy('''workers(1)
listen { "127.0.0.1:$port", mode = "forward" }
parent "up" { "127.0.0.1:$parent_port", auth = "alice:s3cret" }
function on_request(req)
  if req.path == "/direct" then req.parent = nil else req.parent = "up" end
end
''', parent_port=fake_parent.port)
    origin = env.backend()
    c = Client(lx.port)
    r = c.roundtrip("GET", "http://127.0.0.1:%d/a?b=1" % origin.port,
                    headers=[("Proxy-Authorization", "Basic Y2xpZW50OnNlY3JldA==")])
    assert r.body == b"via parent"
    assert r.header("X-Target") == "http://127.0.0.1:%d/a?b=1" % origin.port
    assert r.header("X-Auth") == "Basic YWxpY2U6czNjcmV0", "the parent's credentials, never the client's"
    r = c.roundtrip("GET", "http://127.0.0.1:%d/direct" % origin.port)
    assert r.body == b"GET /direct\n", "the script sent it direct"


def test_a_parent_refusing_connect_is_a_502(env):
    def refuse(req, conn):
        conn.respond(403, b"no", [], req=req, close=True)
    fake_parent = env.backend(refuse)
    lx = env.luxy('''workers(1)
listen { "127.0.0.1:$port", mode = "forward", parent = "p" }
parent "p" { "127.0.0.1:$parent_port" }
''', parent_port=fake_parent.port)
    r = connect(Client(lx.port), 443, "example.test")
    assert r.status == 502 and b"parent proxy refused" in r.body
    assert fake_parent.last().method == "CONNECT" and fake_parent.last().target == "example.test:443"
    lx.wait_error_log("answered CONNECT example.test:443 with 403")


def test_parent_names_are_checked(env, tmp_path):
    p = tmp_path / "c.lua"
    p.write_text('listen { "127.0.0.1:18092", mode = "forward", parent = "nope" }\n')
    rc, out = run_check(["-c", str(p)])
    assert rc != 0 and "parent 'nope' is not defined" in out
    p.write_text('listen { "127.0.0.1:18092", mode = "forward" }\nupstream "x" { "127.0.0.1:1" }\nparent "x" { "127.0.0.1:2" }\n')
    rc, out = run_check(["-c", str(p)])
    assert rc != 0 and "the name is taken" in out


# ---- proxy authentication

def htpasswd(tmp_path, users, cost=5):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
        lines = ["%s:%s" % (u, crypt.crypt(p, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << cost)))
                 for u, p in users.items()]
    path = tmp_path / "users.htpasswd"
    path.write_text("# made by the test\n" + "\n".join(lines) + "\n")
    return path


def basic(user, password):
    import base64
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


AUTH_CONF = '''workers(1)
listen { "127.0.0.1:$port", mode = "forward", connect_ports = "any", auth = { users = "%s", realm = "staff" } }
function on_request(req)
  req:set_header("X-Proxy-User", req.user or "-")
end
'''


def test_proxy_auth_with_a_user_file(env, tmp_path):
    users = htpasswd(tmp_path, {"alice": "wonderland", "bob": "builder"})
    origin = env.backend()
    echo = env.echo()
    lx = env.luxy(AUTH_CONF % users)
    c = Client(lx.port)
    url = "http://127.0.0.1:%d/x" % origin.port
    r = c.roundtrip("GET", url)
    assert r.status == 407 and r.header("Proxy-Authenticate") == 'Basic realm="staff", charset="UTF-8"'
    r = c.roundtrip("GET", url, headers=[("Proxy-Authorization", basic("alice", "wrong"))])
    assert r.status == 407
    lx.wait_error_log("proxy user 'alice' refused")
    r = c.roundtrip("GET", url, headers=[("Proxy-Authorization", "Basic !!!")])
    assert r.status == 407
    assert origin.requests == [], "nothing reached the origin yet"
    for _ in range(2):  # the second from the cache
        r = c.roundtrip("GET", url, headers=[("Proxy-Authorization", basic("alice", "wonderland"))])
        assert r.status == 200, r
        seen = origin.last()
        assert seen.header("Proxy-Authorization") is None, "the credential never goes upstream"
        assert seen.header("X-Proxy-User") == "alice"
    lx.wait_access(lambda l: "user=alice" in l and " 200 " in l, what="the user in the access log")
    r = c.roundtrip("GET", url, headers=[("Proxy-Authorization", basic("mallory", "wonderland"))])
    assert r.status == 407, "unknown users are refused like wrong passwords"
    # CONNECT needs it too
    c2 = Client(lx.port)
    c2.send(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n" % echo.port)
    assert c2.read_response(method="CONNECT").status == 407
    c2.send(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\nProxy-Authorization: %s\r\n\r\n"
            % (echo.port, basic("bob", "builder").encode()))
    assert c2.read_response(method="CONNECT").status == 200
    c2.send(b"hi")
    assert c2.reader.read_exact(2) == b"hi"


def test_a_flood_of_wrong_passwords_does_not_stall_traffic(env, tmp_path):
    import threading
    import time
    users = htpasswd(tmp_path, {"alice": "wonderland"}, cost=9)  # about 25 ms a hash
    origin = env.backend()
    lx = env.luxy(AUTH_CONF % users)
    url = "http://127.0.0.1:%d/ok" % origin.port
    good = Client(lx.port)
    assert good.roundtrip("GET", url, headers=[("Proxy-Authorization", basic("alice", "wonderland"))]).status == 200
    results = []

    def flood(k):
        c = Client(lx.port)
        for i in range(20):
            r = c.roundtrip("GET", url, headers=[("Proxy-Authorization", basic("alice", "guess-%d-%d" % (k, i)))],
                            timeout=30)
            results.append(r.status)
    threads = [threading.Thread(target=flood, args=(k,)) for k in range(10)]  # 200 wrong passwords
    for t in threads:
        t.start()
    slowest = 0.0
    deadline = time.monotonic() + 20
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        t0 = time.monotonic()
        r = good.roundtrip("GET", url, headers=[("Proxy-Authorization", basic("alice", "wonderland"))])
        assert r.status == 200
        slowest = max(slowest, time.monotonic() - t0)
    for t in threads:
        t.join(30)
    assert len(results) == 200 and set(results) <= {407, 503}, set(results)
    # 200 hashes of 25 ms are 5 s of CPU: hashing on the loop would stall the good client for seconds
    assert slowest < 1.0, "a logged-in client waited %.2fs during the flood" % slowest


def test_proxy_auth_by_script(env, tmp_path):
    origin = env.backend()
    lx = env.luxy('''workers(1)
listen { "127.0.0.1:$port", mode = "forward", auth = { realm = "script" } }
local accounts = { carol = "pass1" }
function proxy_auth(req, user, password)
  if user == "boom" then error("backend of the script is down") end
  return accounts[user] == password
end
''')
    c = Client(lx.port)
    url = "http://127.0.0.1:%d/s" % origin.port
    assert c.roundtrip("GET", url, headers=[("Proxy-Authorization", basic("carol", "nope"))]).status == 407
    assert c.roundtrip("GET", url, headers=[("Proxy-Authorization", basic("carol", "pass1"))]).status == 200
    assert origin.last().header("Proxy-Authorization") is None
    assert c.roundtrip("GET", url, headers=[("Proxy-Authorization", basic("boom", "x"))]).status == 500
    lx.wait_error_log("backend of the script is down")


def test_proxy_auth_configuration_errors(env, tmp_path):
    p = tmp_path / "c.lua"
    p.write_text('listen { "127.0.0.1:18093", mode = "forward", auth = { realm = "x" } }\n')
    rc, out = run_check(["-c", str(p)])
    assert rc != 0 and "proxy_auth(req, user, password)" in out
    (tmp_path / "md5.htpasswd").write_text("old:$apr1$abcdefgh$0123456789abcdefghijkl\n")
    p.write_text('listen { "127.0.0.1:18093", mode = "forward", auth = { users = "md5.htpasswd" } }\n')
    rc, out = run_check(["-c", str(p)])
    assert rc != 0 and "md5.htpasswd:1" in out and "htpasswd -B" in out, out
    p.write_text('listen { "127.0.0.1:18093", mode = "forward" }\nfail_open { "proxy_auth" }\n')
    rc, out = run_check(["-c", str(p)])
    assert rc != 0 and "always fails closed" in out
