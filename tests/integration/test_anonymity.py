"""Anonymity levels of forward listeners: what an origin sees of a
browser-like client at each level, field by field, in order; the options
on top (cookies, send_only, per-destination exceptions); and the Lua
versions in lua/luxy/anonymity/ held to exactly the same output as the C
ones."""

import pytest

from luxyharness import Client

# A browser behind another proxy: client hints, cookies, a referer from
# another site, and address fields a downstream proxy (or the client) set.
BROWSER = [
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0 MyDistro/1.2"),
    ("Accept", "text/html"),
    ("Accept-Language", "ko-KR,ko;q=0.9,en;q=0.5"),
    ("Cookie", "session=abc"),
    ("Referer", "https://news.example/articles/1?ref=home"),
    ("X-Forwarded-For", "192.0.2.7"),
    ("X-Real-IP", "192.0.2.7"),
    ("Forwarded", "for=192.0.2.7"),
    ("Client-IP", "192.0.2.7"),
    ("Via", "1.1 corp-proxy"),
    ("From", "someone@example.com"),
    ("Sec-CH-UA", '"Chromium";v="131"'),
    ("Sec-CH-UA-Platform", '"Linux"'),
    ("Sec-CH-UA-Mobile", "?0"),
    ("Device-Memory", "8"),
    ("X-Forwarded-Proto", "https"),
    ("X-Custom", "kept"),
]

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def origin_seen(env, conf, headers=BROWSER, path="/page", backend=None):
    b = backend or env.backend()
    lx = env.luxy(conf)
    host = "127.0.0.1:%d" % b.port
    r = Client(lx.port).roundtrip("GET", "http://%s%s" % (host, path), headers=headers, host=host)
    assert r.status == 200, r
    return [(k, v) for k, v in b.last().headers], host, r


def forward(level_opts):
    return 'workers(1)\nlisten { "127.0.0.1:$port", mode = "forward"%s }\n' % level_opts


def test_transparent_forwards_the_client(env):
    seen, host, _ = origin_seen(env, forward(', anonymity = "transparent"'))
    expected = [("Host", host)] + [
        (k, "192.0.2.7, 127.0.0.1" if k == "X-Forwarded-For" else
         "for=192.0.2.7, for=127.0.0.1" if k == "Forwarded" else v) for k, v in BROWSER
    ] + [("Via", "1.1 luxy")]
    assert seen == expected


def test_anonymous_is_the_default_and_carries_no_address(env):
    seen, host, _ = origin_seen(env, forward(""))
    dropped = {"x-forwarded-for", "x-real-ip", "forwarded", "client-ip"}
    expected = [("Host", host)] + [(k, v) for k, v in BROWSER if k.lower() not in dropped] + [("Via", "1.1 luxy")]
    assert seen == expected
    assert "192.0.2.7" not in repr(seen) and "127.0.0.1, " not in repr(seen)


def test_elite_leaves_no_trace_of_a_proxy_or_the_device(env):
    seen, host, r = origin_seen(env, forward(', anonymity = "elite"'))
    assert seen == [
        ("Host", host),
        ("User-Agent", UA),
        ("Accept", "text/html"),
        ("Accept-Language", "en-US,en;q=0.9"),
        ("Cookie", "session=abc"),
        ("Referer", "https://news.example/"),
        ("X-Custom", "kept"),
    ]
    assert r.header("Via") is None, "not on the response either"


def test_elite_options_and_same_origin_referer(env):
    b = env.backend()
    host = "127.0.0.1:%d" % b.port
    headers = [("Referer", "http://%s/previous?q=1" % host), ("Accept-Language", "fr")]
    conf = forward(', anonymity = "elite", user_agent = "Common/1.0", accept_language = "en"')
    seen, _, _ = origin_seen(env, conf, headers=headers, backend=b)
    assert seen == [("Host", host), ("Referer", "http://%s/previous?q=1" % host), ("Accept-Language", "en"),
                    ("User-Agent", "Common/1.0")], "a same-origin Referer stays whole; a missing UA is added"


def test_elite_error_pages_name_no_proxy(env):
    from luxyharness import free_port
    lx = env.luxy(forward(', anonymity = "elite"'))
    r = Client(lx.port).roundtrip("GET", "http://127.0.0.1:%d/x" % free_port())
    assert r.status == 502
    text = r.raw_text().lower()
    assert "luxy" not in text and "via" not in text and r.header("Server") is None


def cookie_origin(env):
    def handler(req, conn):
        conn.respond(200, b"ok", [("Set-Cookie", "tracker=1"), ("Content-Type", "text/plain")], req=req)
    return env.backend(handler)


def test_cookies_strip(env):
    b = cookie_origin(env)
    seen, _, r = origin_seen(env, forward(', cookies = "strip"'), headers=[("Cookie", "a=1")], backend=b)
    assert "cookie" not in [k.lower() for k, _ in seen]
    assert r.header("Set-Cookie") is None


def test_cookies_third_party(env):
    b = cookie_origin(env)
    lx = env.luxy(forward(', cookies = "third_party"'))
    c = Client(lx.port)
    url = "http://127.0.0.1:%d/pixel" % b.port
    cases = [
        ([("Cookie", "a=1"), ("Referer", "https://news.example/story")], True),   # another site embeds it
        ([("Cookie", "a=1"), ("Sec-Fetch-Site", "cross-site")], True),
        ([("Cookie", "a=1"), ("Sec-Fetch-Site", "same-origin"), ("Referer", "https://x.example/")], False),
        ([("Cookie", "a=1"), ("Referer", "http://127.0.0.1:%d/home" % b.port)], False),  # the same site
        ([("Cookie", "a=1")], False),                                              # typed in
    ]
    for headers, third in cases:
        r = c.roundtrip("GET", url, headers=headers)
        assert r.status == 200
        sent = b.last().header("Cookie")
        assert (sent is None) == third, (headers, sent)
        assert (r.header("Set-Cookie") is None) == third, (headers, r)


def test_send_only(env):
    seen, host, _ = origin_seen(env, forward(', send_only = { "Accept", "Cookie" }'))
    assert seen == [("Host", host), ("Accept", "text/html"), ("Cookie", "session=abc"), ("Via", "1.1 luxy")]


def test_a_script_makes_exceptions_per_destination(env):
    b = env.backend()
    conf = forward(', anonymity = "elite"') + '''
function on_request(req)
  if req.path == "/intranet" then
    req.anonymity = "transparent"
  end
  req:set_header("X-Original-Agent", req:client_header("User-Agent") or "-")
end
'''
    lx = env.luxy(conf)
    c = Client(lx.port)
    ua = [("User-Agent", "Real/1.0"), ("X-Forwarded-For", "192.0.2.1")]
    c.roundtrip("GET", "http://127.0.0.1:%d/public" % b.port, headers=ua)
    public = b.last()
    assert public.header("User-Agent") == UA and public.header("X-Forwarded-For") is None
    assert public.header("X-Original-Agent") == "Real/1.0", "req:client_header reads what the client sent"
    c.roundtrip("GET", "http://127.0.0.1:%d/intranet" % b.port, headers=ua)
    inside = b.last()
    assert inside.header("User-Agent") == "Real/1.0"
    assert inside.header("X-Forwarded-For") == "192.0.2.1, 127.0.0.1"
    assert inside.header("Via") == "1.1 luxy"


def test_a_script_may_raise_any_listener_to_elite(env):
    # an anonymous (or off) listener has elite's defaults too: a request a
    # script raises to elite gets them (this crashed the worker once)
    b = env.backend()
    for level in ('', ', anonymity = false'):
        lx = env.luxy(forward(level) + 'function on_request(req) req.anonymity = "elite" end\n')
        c = Client(lx.port)
        r = c.roundtrip("GET", "http://127.0.0.1:%d/up" % b.port,
                        headers=[("User-Agent", "Real/1.0"), ("Accept-Language", "ko-KR")])
        assert r.status == 200, r
        seen = b.last()
        assert seen.header("User-Agent") == UA and seen.header("Accept-Language") == "en-US,en;q=0.9", seen
        assert seen.header("Via") is None
        assert c.roundtrip("GET", "http://127.0.0.1:%d/again" % b.port).status == 200


def test_bad_levels_are_refused_at_load(env, tmp_path):
    from luxyharness import run_check
    cases = [
        ('anonymity = "paranoid"', "anonymity must be"),
        ('user_agent = "x"', "elite"),
        ('anonymity = false, cookies = "strip"', "needs an anonymity level"),
        ('cookies = "eat"', "cookies must be"),
        ('anonymity = "elite", via = "x"', "via means nothing"),
        ('send_only = { "Bad Name" }', "send_only[1]"),
    ]
    for opts, message in cases:
        p = tmp_path / "c.lua"
        p.write_text('listen { "127.0.0.1:18090", mode = "forward", %s }\n' % opts)
        rc, out = run_check(["-c", str(p)])
        assert rc != 0 and message in out, (opts, out)
    p = tmp_path / "r.lua"
    p.write_text('listen { "127.0.0.1:18090", mode = "reverse", anonymity = "elite" }\nupstream "a" { "127.0.0.1:1" }\n')
    rc, out = run_check(["-c", str(p)])
    assert rc != 0 and "means nothing for a reverse listener" in out


# ---- the Lua versions behave exactly as the C ones

LUA_LEVEL = '''workers(1)
listen { "127.0.0.1:$port", mode = "forward", anonymity = false }
local level = require "luxy.anonymity.%s"
local opts = %s
function on_request(req) level.request(req, opts) end
function on_response(req, res) level.response(req, res, opts) end
'''

VARIANTS = [
    ("transparent", "", "{}"),
    ("anonymous", "", "{}"),
    ("elite", "", "{}"),
    ("elite", ', user_agent = "Same/2.0", accept_language = "de"', '{ user_agent = "Same/2.0", accept_language = "de" }'),
    ("anonymous", ', cookies = "third_party"', '{ cookies = "third_party" }'),
    ("elite", ', cookies = "strip"', '{ cookies = "strip" }'),
    ("transparent", ', send_only = { "Accept", "Referer" }', '{ send_only = { "Accept", "Referer" } }'),
    ("anonymous", ', via = "edge"', '{ via = "edge" }'),
]

REQUESTS = [
    BROWSER,
    [],
    [("Referer", "not a url"), ("User-Agent", "a"), ("User-Agent", "b")],
    [("Cookie", "x=1"), ("Sec-Fetch-Site", "cross-site"), ("X-Forwarded-For", "1.1.1.1"),
     ("X-Forwarded-For", "2.2.2.2"), ("Forwarded", 'for="[2001:db8::1]"')],
    [("Referer", "https://user@shop.example.co.uk:8443/a"), ("Cookie", "y=2"), ("sec-ch-ua-arch", "x86")],
]


@pytest.mark.parametrize("level,c_opts,lua_opts", VARIANTS, ids=["%s%s" % (v[0], v[1]) for v in VARIANTS])
def test_lua_level_matches_c(env, level, c_opts, lua_opts):
    def handler(req, conn):
        conn.respond(200, b"ok", [("Set-Cookie", "s=1"), ("Content-Type", "text/plain")], req=req)
    b = env.backend(handler)
    via = ', via = "edge"' if "edge" in c_opts else ""
    c_conf = forward(', anonymity = "%s"%s' % (level, c_opts.replace(', via = "edge"', "") + via))
    lua_conf = LUA_LEVEL % (level, lua_opts)
    if via:
        lua_conf = lua_conf.replace('anonymity = false', 'anonymity = false, via = "edge"')
    results = []
    for conf in (c_conf, lua_conf):
        lx = env.luxy(conf)
        c = Client(lx.port)
        out = []
        for headers in REQUESTS:
            r = c.roundtrip("GET", "http://127.0.0.1:%d/p" % b.port, headers=headers)
            assert r.status == 200, (conf, r)
            out.append(([(k, v) for k, v in b.last().headers],
                        r.headers.get_all("Set-Cookie"), r.headers.get_all("Via")))
        results.append(out)
        lx.stop()
    for i, (c_out, lua_out) in enumerate(zip(*results)):
        assert c_out == lua_out, "request %d: C %r\nLua %r" % (i, c_out, lua_out)
