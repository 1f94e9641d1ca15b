"""pytest fixtures for the luxy integration tests (see luxyharness.py).

    def test_x(env):
        b = env.backend()
        lx = env.luxy(CONF, backend_port=b.port)     # $port is picked for you
        r = env.client(lx.port).roundtrip("GET", "/")

At teardown every client, backend and helper is closed, then every luxy is
stopped with SIGTERM and must exit 0 with no sanitizer report (and, under
LUXY_WRAPPER=valgrind ..., no valgrind error summary).

The soft RLIMIT_NOFILE of the test process is raised to its hard limit so
tests can hold thousands of sockets; luxy inherits it.
"""
import os
import resource
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import luxyharness  # noqa: E402


def raise_nofile_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= hard:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass


raise_nofile_limit()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "heavy: load or volume tests skipped under slow wrappers (make valgrind)")
    if not os.access(luxyharness.LUXY_BIN, os.X_OK):
        raise pytest.UsageError("luxy binary not found at %s (build it: make all; or set LUXY_BIN)"
                                % luxyharness.LUXY_BIN)


@pytest.fixture
def env(tmp_path):
    e = luxyharness.Env(tmp_path)
    yield e
    e.teardown()


@pytest.fixture
def luxy(env):
    """Factory: luxy(conf_text, **placeholders) -> a running Luxy."""
    return env.luxy


@pytest.fixture
def backend(env):
    """Factory: backend(handler=None, **options) -> a running Backend."""
    return env.backend
