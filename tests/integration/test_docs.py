"""Every Lua snippet in README.md and the docs listed in DOCS is taken from the Markdown itself and
checked with `luxy -t`, so the docs cannot drift from what the binary
accepts. A snippet that declares no listener gets a forward one in front
(fragments such as `workers(2)`); host names in snippets resolve through a
fake DNS server."""

import os
import re

import pytest

from luxyharness import REPO, run_check

DOCS = ["README.md", "docs/config.md", "docs/lua-api.md", "docs/caching.md", "docs/shared.md",
        "docs/anonymity.md", "docs/security.md"]


def snippets():
    out = []
    for doc in DOCS:
        text = open(os.path.join(REPO, doc)).read()
        for m in re.finditer(r"```lua\n(.*?)```", text, re.S):
            line = text[:m.start()].count("\n") + 2
            out.append(pytest.param(doc, line, m.group(1), id="%s:%d" % (doc, line)))
    return out


SNIPPETS = snippets()


def test_the_docs_have_snippets():
    assert len(SNIPPETS) >= 7, [p.id for p in SNIPPETS]


@pytest.mark.parametrize("doc,line,code", SNIPPETS)
def test_doc_snippet_passes_luxy_t(env, tmp_path, doc, line, code):
    dns = env.dns(default="127.0.0.1")
    prelude = 'resolver { servers = { "%s" }, hosts = false, timeout = "1s", attempts = 1 }\n' % dns.addr
    if not re.search(r"^\s*listen\b", code, re.M):
        prelude += 'listen { "127.0.0.1:1", mode = "forward" }\n'
    # a user file for the snippets that name one (auth = { users = "users.htpasswd" })
    with open(os.path.join(str(tmp_path), "users.htpasswd"), "w") as f:
        f.write("alice:$2b$05$wB8XAaMbhrzuiUL.kYvhi.7ha9ycNgqWJQfWdelunuPIXZ6e4OxGy\n")
    path = os.path.join(str(tmp_path), "snippet.lua")
    with open(path, "w") as f:
        f.write(prelude + code)
    rc, out = run_check(["-c", path])
    assert rc == 0, "%s:%d: the snippet fails luxy -t:\n%s\n---\n%s" % (doc, line, out, code)
    assert "warning" not in out, "%s:%d: luxy -t warns about the snippet:\n%s" % (doc, line, out)
