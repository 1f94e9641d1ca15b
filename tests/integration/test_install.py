"""`make install` and `make uninstall` into a scratch DESTDIR, and what they
put there: the binary that the rest of the suite tested (install reuses it,
never rebuilds it), `-V`, the default configuration passing `-t`, the man
page without a groff warning, the systemd unit passing `systemd-analyze
verify`, an operator's configuration never overwritten nor removed."""

import gzip
import os
import re
import shutil
import stat
import subprocess

import pytest

from luxyharness import LUXY_BIN, LUXY_WRAPPER, REPO, scaled

LIBRARIES = ("Lua", "libev", "http-parser", "c-ares", "libxcrypt", "glibc")


def luxy_version():
    m = re.search(r'#define LUXY_VERSION "([^"]+)"', open(os.path.join(REPO, "core", "luxy.h")).read())
    return m.group(1)


def build_dir():
    """BUILD for make: the directory LUXY_BIN was built in, so that under
    `make test-asan` the install takes build/asan/luxy, the binary tested."""
    d = os.path.dirname(os.path.abspath(LUXY_BIN))
    if not os.path.exists(os.path.join(d, "libluxy.a")):
        pytest.skip("LUXY_BIN (%s) is not a build of this tree's Makefile" % LUXY_BIN)
    rel = os.path.relpath(d, REPO)
    return d if rel.startswith("..") else rel


def make(*args, check=True):
    """make -C REPO with BUILD set; the caller's make flags (MAKEFLAGS from
    `make integration`) are not passed on."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    p = subprocess.run(["make", "--no-print-directory", "-C", REPO, "BUILD=" + build_dir()] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=scaled(120))
    out = p.stdout.decode("utf-8", "replace")
    if check:
        assert p.returncode == 0, "make %s failed (%d):\n%s" % (" ".join(args), p.returncode, out)
    return p.returncode, out


def install(destdir, prefix="/usr"):
    """make install into destdir; fails if it would have to rebuild luxy."""
    rc, out = make("-q", os.path.join(build_dir(), "luxy"), check=False)
    assert rc == 0, ("%s is not up to date with the sources: build it first (make all); "
                     "the install test must not rebuild it" % LUXY_BIN)
    before = os.stat(LUXY_BIN).st_mtime_ns
    _, out = make("install", "DESTDIR=" + str(destdir), "PREFIX=" + prefix)
    assert os.stat(LUXY_BIN).st_mtime_ns == before, "make install rebuilt luxy:\n" + out
    return out


def expected_files(prefix="/usr", sysconf="/etc"):
    """{installed path (under DESTDIR): (mode, source in the repository)}"""
    files = {prefix + "/sbin/luxy": (0o755, None),
             prefix + "/share/man/man8/luxy.8.gz": (0o644, "docs/luxy.8"),
             prefix + "/lib/systemd/system/luxy.service": (0o644, "scripts/luxy.service"),
             sysconf + "/luxy/luxy.lua": (0o644, "scripts/default.lua")}
    for root, _, names in os.walk(os.path.join(REPO, "scripts")):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), REPO)
            if n.endswith(".lua") and rel.count("/") <= 2:   # scripts/*.lua, scripts/*/*.lua
                files[prefix + "/share/luxy/" + rel] = (0o644, rel)
    for n in os.listdir(os.path.join(REPO, "docs")):
        if n.endswith(".md"):
            files[prefix + "/share/doc/luxy/" + n] = (0o644, "docs/" + n)
    return files


def under(destdir, path):
    return os.path.join(str(destdir), path.lstrip("/"))


def run_installed(destdir, *args):
    p = subprocess.run(LUXY_WRAPPER + [under(destdir, "/usr/sbin/luxy")] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=scaled(30))
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def dest(tmp_path_factory):
    """One install with PREFIX=/usr, shared by the tests that only read it."""
    d = tmp_path_factory.mktemp("destdir")
    install(d)
    return d


# ---------------------------------------------------------------- what install puts where

def test_install_puts_every_file_in_place(dest):
    files = expected_files()
    assert len([p for p in files if "/share/luxy/scripts/" in p]) >= 5, sorted(files)
    assert any(p.endswith("/scripts/cache/static_assets.lua") for p in files), "subdirectories are kept"
    for path, (mode, src) in sorted(files.items()):
        full = under(dest, path)
        assert os.path.isfile(full), "make install did not install %s" % path
        got = stat.S_IMODE(os.stat(full).st_mode)
        assert got == mode, "%s has mode %o, not %o" % (path, got, mode)
        if src and not path.endswith((".gz", ".service")):
            assert open(full, "rb").read() == open(os.path.join(REPO, src), "rb").read(), path
    found = set()
    for root, _, names in os.walk(str(dest)):
        found.update("/" + os.path.relpath(os.path.join(root, n), str(dest)) for n in names)
    assert found == set(files), "installed files other than the documented ones: %r" % sorted(found ^ set(files))


def test_the_installed_binary_is_the_tested_one(dest):
    assert open(under(dest, "/usr/sbin/luxy"), "rb").read() == open(LUXY_BIN, "rb").read()


def test_the_installed_binary_prints_every_version(dest):
    rc, out, err = run_installed(dest, "-V")
    assert rc == 0 and err == "", (rc, out, err)
    lines = out.splitlines()
    assert lines[0] == "luxy " + luxy_version(), out
    rc, one, _ = run_installed(dest, "-v")
    assert rc == 0 and one.startswith(lines[0] + " "), one
    by_name = {l.split(" ", 1)[0]: l for l in lines[1:]}
    for lib in LIBRARIES:
        assert lib in by_name, "-V does not name %s:\n%s" % (lib, out)
        assert re.match(r"^%s \d+\.\d+(\.\d+)? \(" % re.escape(lib), by_name[lib]), by_name[lib]
    assert "MISMATCH" not in out, "luxy runs against libraries other than the ones it was built with:\n" + out
    # the numbers are the real ones, not constants: check two against other sources
    assert re.match(r"^Lua 5\.4 \(built with Lua 5\.4\.\d+\)$", by_name["Lua"]), by_name["Lua"]
    libc = os.confstr("CS_GNU_LIBC_VERSION").split()[1]         # "glibc 2.36"
    assert by_name["glibc"] == "glibc %s (built with %s)" % (libc, libc), by_name["glibc"]
    assert re.match(r"^built by (gcc \d+\.\d+|.*[Cc]lang \d+\.\d+)", by_name["built"]), by_name["built"]


def test_the_installed_configuration_passes_check(dest):
    conf = under(dest, "/etc/luxy/luxy.lua")
    rc, out, err = run_installed(dest, "-t", "-c", conf)
    assert rc == 0, (out, err)
    assert "configuration %s is valid" % conf in out, out
    assert "warning" not in out + err, out + err


def test_the_installed_specs_pass_against_the_installed_scripts(dest):
    """The specs are installed next to their configurations and name them
    by relative path: `luxy test` runs them there as in the tree."""
    scripts = under(dest, "/usr/share/luxy/scripts")
    specs = sorted(os.path.join(root, n) for root, _, names in os.walk(scripts) for n in names
                   if n.endswith("_spec.lua"))
    assert len(specs) >= 5 and any(p.endswith("/balance/wrr_spec.lua") for p in specs), specs
    rc, out, err = run_installed(dest, "test", *specs)
    assert rc == 0, (out[-4000:], err[-2000:])
    m = re.search(r"^(\d+) passed, 0 failed$", out.rstrip("\n").split("\n")[-1])
    assert m and int(m.group(1)) > 0, out[-2000:]


def test_the_installed_man_page_renders_without_warning(dest, tmp_path):
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed (apt-get install groff-base)")
    with gzip.open(under(dest, "/usr/share/man/man8/luxy.8.gz")) as f:
        text = f.read()
    assert text == open(os.path.join(REPO, "docs", "luxy.8"), "rb").read()
    page = tmp_path / "luxy.8"
    page.write_bytes(text)
    p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    assert p.returncode == 0 and p.stdout == b"", p.stdout.decode("utf-8", "replace")
    src = text.decode()
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SIGNALS", "FILES", "EXIT STATUS",
                    "EXAMPLES", "SEE ALSO"):
        assert re.search(r'^\.SH "?%s"?$' % section, src, re.M), "the man page has no %s section" % section
    for opt in ("c", "t", "v", "V", "h", "s", "p"):
        assert re.search(r"^\.(B|BI|BR) \\-%s\b" % opt, src, re.M), "the man page does not describe -%s" % opt


def test_the_installed_unit_runs_the_installed_binary(dest, tmp_path):
    unit = open(under(dest, "/usr/lib/systemd/system/luxy.service")).read()
    assert not re.search(r"(?m)^[^#].*@[A-Z_]+@", unit), "a placeholder was left in the unit:\n" + unit
    keys = {}
    for line in unit.splitlines():
        if line and not line.startswith(("#", "[")):
            k, v = line.split("=", 1)
            keys.setdefault(k, []).append(v)
    assert keys["ExecStart"] == ["/usr/sbin/luxy -c /etc/luxy/luxy.lua"], keys["ExecStart"]
    assert keys["ExecStartPre"] == ["/usr/sbin/luxy -t -c /etc/luxy/luxy.lua"], keys["ExecStartPre"]
    assert keys["ExecReload"][-1] == "/bin/kill -HUP $MAINPID", keys["ExecReload"]
    assert keys["KillSignal"] == ["SIGQUIT"]     # a graceful stop (docs/config.md, Signals)
    assert keys["User"] == ["luxy"] and keys["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    # the grace luxy gives requests (10 s by default) fits in systemd's stop timeout
    assert 10 < int(keys["TimeoutStopSec"][0].rstrip("s")) <= 30, keys["TimeoutStopSec"]

    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed: the unit was not verified")
    # verify checks that the commands exist: point them at the installed
    # copies, and the man:luxy(8) link at the installed manual
    copy = tmp_path / "luxy.service"
    copy.write_text(unit.replace("/usr/sbin/luxy", under(dest, "/usr/sbin/luxy"))
                    .replace("/etc/luxy/luxy.lua", under(dest, "/etc/luxy/luxy.lua")))
    env = dict(os.environ, MANPATH=under(dest, "/usr/share/man"))
    cmd = ["systemd-analyze", "verify"]
    if shutil.which("man") is None:
        cmd.append("--man=no")    # nothing to look Documentation=man:luxy(8) up with
    p = subprocess.run(cmd + [str(copy)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=env, cwd=str(tmp_path), timeout=60)
    out = p.stdout.decode("utf-8", "replace")
    # an unknown or misspelled key is only a warning for verify: any output fails
    assert p.returncode == 0 and out == "", "systemd-analyze verify:\n" + out


def test_default_prefix_is_usr_local_with_its_own_etc(tmp_path):
    install(tmp_path, prefix="/usr/local")
    assert os.path.isfile(under(tmp_path, "/usr/local/sbin/luxy"))
    assert os.path.isfile(under(tmp_path, "/usr/local/etc/luxy/luxy.lua"))
    assert not os.path.exists(under(tmp_path, "/etc"))
    unit = open(under(tmp_path, "/usr/local/lib/systemd/system/luxy.service")).read()
    assert "\nExecStart=/usr/local/sbin/luxy -c /usr/local/etc/luxy/luxy.lua\n" in unit, unit


# ---------------------------------------------------------------- the operator's configuration

def test_a_second_install_keeps_a_changed_configuration(tmp_path):
    install(tmp_path)
    conf = under(tmp_path, "/etc/luxy/luxy.lua")
    mine = "-- the operator's own\nlisten { \"127.0.0.1:8888\", mode = \"forward\" }\n"
    with open(conf, "w") as f:
        f.write(mine)
    os.chmod(conf, 0o640)
    out = install(tmp_path)
    assert open(conf).read() == mine, "make install overwrote the operator's configuration"
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o640
    assert "keeping" in out, out


def test_uninstall_removes_everything_but_the_configuration(tmp_path):
    install(tmp_path)
    conf = under(tmp_path, "/etc/luxy/luxy.lua")
    with open(conf, "a") as f:
        f.write("-- changed\n")
    make("uninstall", "DESTDIR=" + str(tmp_path), "PREFIX=/usr")
    left = []
    for root, dirs, names in os.walk(str(tmp_path)):
        left += ["/" + os.path.relpath(os.path.join(root, n), str(tmp_path)) for n in names]
    assert left == ["/etc/luxy/luxy.lua"], "make uninstall left %r" % left
    assert open(conf).read().endswith("-- changed\n")
    for d in ("/usr/share/luxy", "/usr/share/doc/luxy"):
        assert not os.path.exists(under(tmp_path, d)), "make uninstall left the directory %s" % d
