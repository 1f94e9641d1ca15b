"""`luxy -t`: good files pass, mistakes fail with file:line. And every
shipped configuration has a spec next to it (NAME_spec.lua) that
`luxy test` runs and passes; the runner's verdicts and exit codes."""

import glob
import os
import re
import subprocess

import pytest

from luxyharness import REPO, SANITIZER_MARKERS, luxy_command, run_check, scaled, valgrind_report


def _is_config(path):
    rel = os.path.relpath(path, os.path.join(REPO, "scripts"))
    # specs are tests, scripts/lab/ holds inputs of `luxy simulate`: neither is a configuration
    return not path.endswith("_spec.lua") and not rel.startswith("lab" + os.sep)


ALL_LUA = sorted(glob.glob(os.path.join(REPO, "scripts", "**", "*.lua"), recursive=True))
SCRIPTS = [p for p in ALL_LUA if _is_config(p)]
SPECS = [p for p in ALL_LUA if p.endswith("_spec.lua")]


def _short(path):
    return os.path.relpath(path, os.path.join(REPO, "scripts"))


def write(tmp_path, text, name="conf.lua"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_scripts_exist():
    assert SCRIPTS, "no scripts/*.lua found under %s" % REPO


@pytest.mark.parametrize("path", SCRIPTS, ids=[_short(p) for p in SCRIPTS])
def test_every_script_passes_check(path):
    rc, out = run_check(["-c", path])
    assert rc == 0, out
    assert "is valid" in out, out


def test_builtin_default_passes_check():
    rc, out = run_check([])
    assert rc == 0, out
    assert "is valid" in out, out


def test_good_config_passes(tmp_path):
    path = write(tmp_path, """
workers(1)
listen { "127.0.0.1:18080", mode = "reverse", upstream = "app" }
listen { "127.0.0.1:13128", mode = "forward", allow = { "127.0.0.0/8" }, connect_ports = { 443 }, via = "edge", anonymity = "transparent" }
upstream "app" { "127.0.0.1:19001", { "127.0.0.1:19002", weight = 2 }, balance = "least_conn", tries = 2, keepalive = 8 }
timeouts { client_header = "10s", backend_read = "250ms", grace = 0 }
limits { head_size = "16KB", body_size = false }
lua { memory = "16MB", instructions = 100000 }
logs { level = "warn", access = false }
resolver { servers = { "127.0.0.1:5353" }, hosts = false }
fail_open { "on_response" }
function on_request(req) end
function select_backend(req, backends) return backends:wrr() end
function on_response(req, res) end
""")
    rc, out = run_check(["-c", path])
    assert rc == 0, out
    assert "is valid" in out


def expect_error(tmp_path, text, line, *needles):
    path = write(tmp_path, text)
    rc, out = run_check(["-c", path])
    assert rc != 0, "luxy -t accepted a bad file:\n%s" % out
    # Lua shortens long chunk names to "...tail": the file's name and the
    # line must be there (test_error_names_the_whole_path checks the path)
    where = "%s:%d:" % (os.path.basename(path), line)
    assert where in out, "expected %r in the message, got:\n%s" % (where, out)
    for n in needles:
        assert n in out, "expected %r in the message, got:\n%s" % (n, out)
    return out


def test_typo_in_listen_option(tmp_path):
    expect_error(tmp_path, """workers(1)
upstream "app" { "127.0.0.1:19001" }
listen { "127.0.0.1:18080", mode = "reverse", upstrem = "app" }
""", 3, "upstrem")


def test_typo_in_timeouts_option(tmp_path):
    expect_error(tmp_path, """workers(1)
listen { "127.0.0.1:18080" }
upstream "app" { "127.0.0.1:19001" }
timeouts { backend_raed = "1s" }
""", 4, "backend_raed")


def test_unknown_upstream_referenced(tmp_path):
    expect_error(tmp_path, """workers(1)
upstream "app" { "127.0.0.1:19001" }
listen { "127.0.0.1:18080", mode = "reverse", upstream = "nope" }
""", 3, "nope")


def test_lua_syntax_error(tmp_path):
    expect_error(tmp_path, """workers(1)
listen { "127.0.0.1:18080" }
upstream "app" { "127.0.0.1:19001" }
function on_request(req)
  if req.path == "/" then then
end
""", 5)


def test_bad_mode_value(tmp_path):
    expect_error(tmp_path, """workers(1)

listen { "127.0.0.1:18080", mode = "sideways" }
""", 3, "mode")


def test_hook_not_a_function(tmp_path):
    path = write(tmp_path, """workers(1)
listen { "127.0.0.1:18080", mode = "forward" }
on_request = 42
""")
    rc, out = run_check(["-c", path])
    assert rc != 0, out
    assert "on_request" in out


def test_missing_file(tmp_path):
    rc, out = run_check(["-c", str(tmp_path / "does-not-exist.lua")])
    assert rc != 0
    assert "does-not-exist.lua" in out


def test_runtime_error_at_top_level(tmp_path):
    expect_error(tmp_path, """workers(1)
listen { "127.0.0.1:18080", mode = "forward" }
local x = nil
print(x.field)
""", 4)


def test_error_names_the_whole_path(tmp_path):
    """The message names the file as given on the command line, even when
    the path is long (Lua's chunk names are cut to 60 bytes by default)."""
    deep = tmp_path / ("a-rather-long-directory-name-" * 3)
    deep.mkdir()
    path = write(deep, 'workers(1)\nlisten { "127.0.0.1:18080", mode = "forward", typo = 1 }\n')
    rc, out = run_check(["-c", path])
    assert rc != 0
    assert "%s:2:" % path in out, "expected the whole path %r:2: in:\n%s" % (path, out)


def test_check_output_streams(tmp_path):
    """The verdict goes to stdout, errors to stderr."""
    import subprocess
    from luxyharness import LUXY_BIN
    good = write(tmp_path, 'listen { "127.0.0.1:18080", mode = "forward" }\n', "good.lua")
    p = subprocess.run([LUXY_BIN, "-t", "-c", good], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    assert p.returncode == 0
    assert b"is valid" in p.stdout
    bad = write(tmp_path, 'listen { "127.0.0.1:18080", mode = "forward", nope = 1 }\n', "bad.lua")
    p = subprocess.run([LUXY_BIN, "-t", "-c", bad], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    assert p.returncode != 0
    assert b"bad.lua:1:" in p.stderr, p.stderr
    assert b"is valid" not in p.stdout


# ---------------------------------------------------------------- specs: `luxy test`

def run_spec(args, timeout=60):
    """Runs `luxy test ARGS...`; returns (exit code, stdout, stderr)."""
    p = subprocess.run(luxy_command(["test"] + list(args)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=scaled(timeout))
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    rep = valgrind_report(err)
    if rep:
        raise AssertionError("valgrind errors in luxy test %s:\n%s" % (" ".join(args), rep))
    for m in SANITIZER_MARKERS:
        assert m not in err, "luxy test %s: %s\n%s" % (" ".join(args), m, err[-6000:])
    return p.returncode, out, err


def verdict(out):
    """(passed, failed) from the closing line, which must be the last one."""
    lines = out.rstrip("\n").split("\n")
    m = re.match(r"^(\d+) passed, (\d+) failed$", lines[-1])
    assert m, "the output does not end with 'N passed, N failed':\n%s" % out[-3000:]
    return int(m.group(1)), int(m.group(2))


def test_specs_exist():
    assert len(SPECS) >= len(SCRIPTS), (SPECS, SCRIPTS)


@pytest.mark.parametrize("path", SCRIPTS, ids=[_short(p) for p in SCRIPTS])
def test_every_configuration_has_a_spec(path):
    spec = path[:-len(".lua")] + "_spec.lua"
    assert os.path.isfile(spec), "%s has no spec next to it (%s)" % (_short(path), _short(spec))
    # and the spec is about that configuration
    text = open(spec).read()
    assert re.search(r'^config "%s"' % re.escape(os.path.basename(path)), text, re.M), \
        "%s does not load %s" % (_short(spec), os.path.basename(path))


@pytest.mark.parametrize("path", SPECS, ids=[_short(p) for p in SPECS])
def test_every_spec_belongs_to_a_configuration(path):
    assert path[:-len("_spec.lua")] + ".lua" in SCRIPTS, "%s: no configuration of that name" % _short(path)


@pytest.mark.parametrize("path", SPECS, ids=[_short(p) for p in SPECS])
def test_every_spec_passes(path):
    rc, out, err = run_spec([path])
    passed, failed = verdict(out)
    assert rc == 0 and failed == 0, "luxy test %s: exit %d\n%s%s" % (_short(path), rc, out[-6000:], err[-2000:])
    assert passed > 0, out
    assert "FAIL" not in out, out


def test_all_specs_in_one_run():
    """One process, every spec: each opens its own lab (the previous one is
    closed), and the counts add up."""
    rc, out, err = run_spec(SPECS, timeout=120)
    passed, failed = verdict(out)
    assert rc == 0 and failed == 0, out[-6000:] + err[-2000:]
    each = sum(verdict(run_spec([p])[1])[0] for p in SPECS[:3])
    assert passed > each > 0, (passed, each)


def _without_timings(text):
    # the trace's times are measured (real time), the rest is fixed: clock, seeds, field order
    text = re.sub(r"^(\s*)\d+\.\d+ ms ", r"\1", text, flags=re.M)
    return re.sub(r"ran in \d+\.\d+ ms, \d+ budget units", "ran", text)


def test_explain_is_the_same_every_run():
    """Same spec, same output: request ids, random draws, field order and
    the virtual clock reproduce (a Lua table of fields has no order; the
    lab gives one)."""
    specs = [p for p in SPECS if os.path.basename(p) in ("reverse_spec.lua", "p2c_spec.lua", "anonymous_spec.lua")]
    assert len(specs) == 3, specs
    runs = [run_spec(["--explain"] + specs) for _ in range(3)]
    assert all(rc == 0 for rc, _, _ in runs), runs[0][1][-3000:]
    assert "X-Request-Id: " in runs[0][1], runs[0][1][:3000]
    texts = [_without_timings(out) for _, out, _ in runs]
    assert texts[0] == texts[1] == texts[2]


FAILING = """-- a spec that must fail
config "%(config)s"

case "passes" {
  request = { path = "/cart", headers = { Host = "shop.example" } },
  expect = { decision = "route", upstream = "app" },
}

case "wrong upstream and header" {
  request = { path = "/cart", headers = { Host = "shop.example" } },
  expect = { upstream = "db", headers = { ["X-Request-Start"] = false } },
}

case "wrong status" {
  request = { path = "/_luxy/health", headers = { Host = "shop.example" } },
  expect = { decision = "respond", status = 204 },
}
"""


def test_a_failing_spec_exits_1_and_says_where_and_what(tmp_path):
    spec = tmp_path / "shop_spec.lua"
    spec.write_text(FAILING % {"config": os.path.join(REPO, "scripts", "reverse.lua")})
    rc, out, err = run_spec([str(spec)])
    assert rc == 1, (rc, out, err)
    assert verdict(out) == (1, 2), out
    # which case, the spec's file and line, expected and got
    assert "FAIL wrong upstream and header (%s:9)" % spec in out, out
    assert 'upstream: expected "db", got "app"' in out, out
    assert "backend header X-Request-Start: expected absent, got " in out, out
    assert "FAIL wrong status (%s:14)" % spec in out, out
    assert "status: expected 204, got 200" in out, out
    assert "FAIL passes" not in out
    # a failing case shows what the backend would get and the decision trace
    assert "the backend would receive:\n       GET /cart HTTP/1.1" in out, out
    assert re.search(r"hook +on_request \(.*reverse\.lua:\d+\)", out), out


def test_expect_semantics_can_fail(tmp_path):
    """false: absent; a list: one of; a repeated field matches any of its
    values; cache = false: no cache decision. Each can fail."""
    spec = tmp_path / "sem_spec.lua"
    spec.write_text("""config "%s"
case "absent scalar" { request = { path = "/", headers = { Host = "a" } }, expect = { backend = false } }
case "one of" { request = { path = "/", headers = { Host = "a" } }, expect = { backend_index = { 5, 6 } } }
case "repeated field" { request = { path = "/", headers = { Host = "a" } },
  response = { status = 200, headers = { { "Set-Cookie", "a=1" }, { "Set-Cookie", "b=2" } } },
  expect = { response = { headers = { ["Set-Cookie"] = "c=3" } } } }
case "repeated field ok" { request = { path = "/", headers = { Host = "a" } },
  response = { status = 200, headers = { { "Set-Cookie", "a=1" }, { "Set-Cookie", "b=2" } } },
  expect = { response = { headers = { ["Set-Cookie"] = "b=2" } } } }
""" % os.path.join(REPO, "scripts", "reverse.lua"))
    rc, out, _ = run_spec([str(spec)])
    assert rc == 1 and verdict(out) == (1, 3), out
    assert re.search(r'backend: expected absent, got "127\.0\.0\.1:900[12]"', out), out
    assert re.search(r"backend_index: expected one of 5, 6, got [12]", out), out
    assert 'response header Set-Cookie: expected "c=3", got "a=1", "b=2"' in out, out
    spec.write_text("""config "%s"
case "a GET is looked up" { request = { path = "/a.css", headers = { Host = "a" } }, expect = { cache = false } }
""" % os.path.join(REPO, "scripts", "cache", "static_assets.lua"))
    rc, out, _ = run_spec([str(spec)])
    assert rc == 1 and 'cache: expected no cache decision, got plan "lookup"' in out, out


def test_each_case_has_its_own_clock(tmp_path):
    """A case without time sees the lab's fixed start, not the time an
    earlier case gave."""
    spec = tmp_path / "clock_spec.lua"
    spec.write_text("""config "%s"
case "late" { time = 1800000000.5, request = { path = "/", headers = { Host = "a" } },
              expect = { headers = { ["X-Request-Start"] = "1800000000.500" } } }
case "default" { request = { path = "/", headers = { Host = "a" } },
                 expect = { headers = { ["X-Request-Start"] = "1767225600.000" } } }
""" % os.path.join(REPO, "scripts", "reverse.lua"))
    rc, out, _ = run_spec([str(spec)])
    assert rc == 0 and verdict(out) == (2, 0), out


@pytest.mark.parametrize("what", ["missing spec", "syntax error", "missing config", "no config line", "bad config"])
def test_a_spec_that_cannot_run_exits_2(tmp_path, what):
    spec = tmp_path / "broken_spec.lua"
    if what == "missing spec":
        spec = tmp_path / "does_not_exist_spec.lua"
        needle = "does_not_exist_spec.lua"
    elif what == "syntax error":
        spec.write_text('config "x.lua"\ncase "a" {\n  request = { path = "/" ,,\n}\n')
        needle = "broken_spec.lua:3:"
    elif what == "missing config":
        spec.write_text('config "nowhere.lua"\ncase "a" { request = { path = "/" }, expect = {} }\n')
        needle = os.path.join(str(tmp_path), "nowhere.lua")
    elif what == "no config line":
        spec.write_text('case "a" { request = { path = "/" }, expect = {} }\n')
        needle = 'no config "FILE" line'
    else:
        (tmp_path / "bad.lua").write_text('listen { "127.0.0.1:18080", mode = "sideways" }\n')
        spec.write_text('config "bad.lua"\ncase "a" { request = { path = "/" }, expect = {} }\n')
        needle = "bad.lua:1:"
    rc, out, err = run_spec([str(spec)])
    assert rc == 2, (rc, out, err)
    assert needle in err, (needle, err)
    assert "passed" not in out, out


def test_usage_exits_2():
    rc, out, err = run_spec([])
    assert rc == 2 and "usage: luxy test" in err, (rc, out, err)
    rc, out, err = run_spec(["--frobnicate", SPECS[0]])
    assert rc == 2 and "unknown option --frobnicate" in err, (rc, out, err)
