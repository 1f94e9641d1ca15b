"""`luxy -t`: good files pass, mistakes fail with file:line."""

import glob
import os

import pytest

from luxyharness import REPO, run_check

SCRIPTS = sorted(glob.glob(os.path.join(REPO, "scripts", "**", "*.lua"), recursive=True))


def write(tmp_path, text, name="conf.lua"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_scripts_exist():
    assert SCRIPTS, "no scripts/*.lua found under %s" % REPO


@pytest.mark.parametrize("path", SCRIPTS, ids=[os.path.basename(p) for p in SCRIPTS])
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
