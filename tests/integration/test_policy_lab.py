"""The policy lab's walkthrough (docs/policy-lab.md) works as written: its
configuration and spec are taken from the page itself and run with
`luxy test`; a spec that expects the wrong thing fails, naming the case,
its file and line, expected and got, with the decision trace; and the
same inputs give the same output, run after run."""

import os
import re
import subprocess

from luxyharness import REPO, luxy_command

PAGE = os.path.join(REPO, "docs", "policy-lab.md")


def walkthrough_files(tmp_path):
    text = open(PAGE).read()
    files = dict(re.findall(r"```lua file=(\S+)\n(.*?)```", text, re.S))
    assert {"lab-walkthrough.lua", "lab-walkthrough_spec.lua"} <= set(files), sorted(files)
    for name, code in files.items():
        (tmp_path / name).write_text(code)
    return files


def luxy_test(*args, timeout=60):
    p = subprocess.run(luxy_command(["test"] + list(args)), capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def test_the_walkthrough_spec_passes(tmp_path):
    walkthrough_files(tmp_path)
    rc, out, err = luxy_test(str(tmp_path / "lab-walkthrough_spec.lua"))
    assert rc == 0, out + err
    assert out.strip().splitlines()[-1] == "5 passed, 0 failed", out


def test_a_wrong_expectation_fails_readably(tmp_path):
    files = walkthrough_files(tmp_path)
    spec = files["lab-walkthrough_spec.lua"].replace('backend = "127.0.0.1:9002", headers = { Cookie = false }',
                                                     'backend = "127.0.0.1:9001", headers = { Cookie = false }')
    assert spec != files["lab-walkthrough_spec.lua"]
    (tmp_path / "wrong_spec.lua").write_text(spec)
    rc, out, _ = luxy_test(str(tmp_path / "wrong_spec.lua"))
    assert rc == 1, out
    line = spec[:spec.index("the least loaded server")].count("\n") + 1
    assert "FAIL the least loaded server is chosen (%s:%d)" % (tmp_path / "wrong_spec.lua", line) in out, out
    assert 'backend: expected "127.0.0.1:9001", got "127.0.0.1:9002"' in out, out
    assert "chose server 2 127.0.0.1:9002 (by select_backend)" in out, out
    assert "- Cookie: session=1" in out, "the trace shows on_request's change"
    assert out.strip().splitlines()[-1] == "4 passed, 1 failed", out


def test_explain_prints_every_trace_and_runs_repeat(tmp_path):
    walkthrough_files(tmp_path)
    spec = str(tmp_path / "lab-walkthrough_spec.lua")
    runs = [luxy_test("--explain", spec) for _ in range(2)]
    for rc, out, _ in runs:
        assert rc == 0, out
        assert out.count("trace:") == 5, out
    strip = lambda out: re.sub(r"\d+\.\d+ ms", "T ms", out)   # wall-clock times differ; nothing else may
    assert strip(runs[0][1]) == strip(runs[1][1])


def test_a_spec_that_cannot_run_exits_2(tmp_path):
    (tmp_path / "noconf_spec.lua").write_text('case "x" { request = {}, expect = {} }\n')
    rc, _, err = luxy_test(str(tmp_path / "noconf_spec.lua"))
    assert rc == 2 and "no config" in err, err
    (tmp_path / "broken_spec.lua").write_text('config "missing.lua"\ncase "x" { request = {} }\n')
    rc, _, err = luxy_test(str(tmp_path / "broken_spec.lua"))
    assert rc == 2 and "missing.lua" in err, err
    rc, _, err = luxy_test()
    assert rc == 2 and "usage" in err


def test_proxy_credentials_are_checked_as_the_server_checks_them(tmp_path):
    """A forward listener with a users file: the lab hashes with the same
    checker (its threads) and the case sees 407 for none or a wrong
    password, and the route for the right one, with req.user set."""
    from test_security import basic, htpasswd
    htpasswd(tmp_path, {"alice": "wonderland"})
    (tmp_path / "auth.lua").write_text('''
listen { "127.0.0.1:3128", mode = "forward", auth = { users = "users.htpasswd" } }
function on_request(req) req:set_header("X-User", req.user or "nobody") end
''')
    (tmp_path / "auth_spec.lua").write_text('''
config "auth.lua"
local target = "http://example.com/"
case "no credentials: a challenge" {
  request = { target = target, headers = { Host = "example.com" } },
  expect = { decision = "auth", status = 407 },
}
case "a wrong password: a challenge" {
  request = { target = target, headers = { Host = "example.com", ["Proxy-Authorization"] = "%s" } },
  expect = { decision = "auth", status = 407 },
}
case "the right one: on its way, as alice, without the credentials" {
  request = { target = target, headers = { Host = "example.com", ["Proxy-Authorization"] = "%s" } },
  expect = { decision = "route", origin = "example.com:80",
             headers = { ["X-User"] = "alice", ["Proxy-Authorization"] = false } },
}
''' % (basic("alice", "looking-glass"), basic("alice", "wonderland")))
    rc, out, err = luxy_test(str(tmp_path / "auth_spec.lua"))
    assert rc == 0, out + err
    assert out.strip().splitlines()[-1] == "3 passed, 0 failed", out
