"""The sources probe against real servers on 127.0.0.1: one that answers, a port with no listener, one that accepts
and never answers, one answering 503, one behind a certificate no trust store knows; a name that does not resolve;
find-links folders; pip and uv configuration set per test in files and variables."""

from __future__ import annotations

import json
import os

import pytest

from hoofenv.machine import reach
from hoofenv.machine import sources as src
from hoofenv.machine.sources import Target
from tests.fakeindex import TAG, Server, closed_port_url, make_wheel, self_signed, write_simple

DEADLINE = 1.0


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("idx")
    w = root / "build"
    write_simple(root / "simple", [make_wheel(w, "torch", "2.1.2", tag=TAG), make_wheel(w, "numpy", "1.26.4")])
    (root / "mmcv" / "dist" / "cpu" / "torch2.1").mkdir(parents=True)
    (root / "mmcv" / "dist" / "cpu" / "torch2.1" / "index.html").write_text("<html></html>")
    return root


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No pip/uv configuration but what a test writes, no proxies, a cache of its own."""
    for key in list(os.environ):
        if key.startswith(("PIP_", "UV_", "HOOFENV_")) or key.lower() in ("https_proxy", "http_proxy", "no_proxy"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg-dirs"))
    monkeypatch.setenv("HOOFENV_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def by_url(facts):
    return {f.url: f for f in facts}


def test_each_way_a_source_fails_is_named(index, tmp_path, clean_env):
    good, hang, busy = Server(index), Server(index, mode="hang"), Server(index, mode=503)
    cert = self_signed(tmp_path)
    bad_tls = Server(index, tls=cert) if cert else None
    refused = closed_port_url()
    try:
        targets = [Target("index", good.url + "/simple"), Target("pytorch", refused + "/whl/cpu", tag="cpu"),
                   Target("openmmlab", hang.url + "/mmcv/dist/cpu/torch2.1/index.html", tag="cpu", torch_minor="2.1"),
                   Target("extra-index", busy.url + "/simple"),
                   Target("extra-index", "http://hoofenv-no-such-host.invalid/simple")]
        if bad_tls:
            targets.append(Target("extra-index", bad_tls.url.replace("127.0.0.1", "localhost") + "/simple"))
        facts = by_url(reach.check_remote(targets, deadline_s=DEADLINE))
        assert facts[good.url + "/simple"].status == "ok" and facts[good.url + "/simple"].http_status == 200
        assert facts[refused + "/whl/cpu"].status == "refused"
        stalled = facts[hang.url + "/mmcv/dist/cpu/torch2.1/index.html"]
        assert stalled.status == "timeout" and "http" in stalled.detail  # it connected, then nothing came
        assert facts[busy.url + "/simple"].status == "http" and facts[busy.url + "/simple"].http_status == 503
        assert facts["http://hoofenv-no-such-host.invalid/simple"].status == "dns"
        if bad_tls:
            tls = facts[bad_tls.url.replace("127.0.0.1", "localhost") + "/simple"]
            assert tls.status == "tls" and "certificate" in tls.detail, tls
        assert "HEAD /simple/torch/" in good.requests  # an index is asked for its torch page
        assert src.describe(facts[refused + "/whl/cpu"]).endswith("connection refused")
    finally:
        for s in (good, hang, busy, bad_tls):
            if s:
                s.stop()
    if not cert:
        pytest.skip("openssl is missing: the bad-certificate case was not run (the others were)")


def test_hosts_are_asked_side_by_side_within_one_deadline(index):
    """Two hosts that never answer: both are connected to before either times out, so the probe costs one
    deadline in total, not one per host (a sequential probe would leave the second unasked)."""
    a, b = Server(index, mode="hang"), Server(index, mode="hang")
    try:
        facts = reach.check_remote([Target("index", a.url + "/simple"), Target("index", b.url + "/simple")],
                                 deadline_s=DEADLINE)
        assert [f.status for f in facts] == ["timeout", "timeout"]
        assert a.connected.is_set() and b.connected.is_set()
    finally:
        a.stop()
        b.stop()


def test_a_host_that_fails_fails_its_other_pages_without_asking_again(index):
    refused = closed_port_url()
    facts = reach.check_remote([Target("pytorch", f"{refused}/whl/{t}", tag=t) for t in ("cpu", "cu118", "cu121")],
                             deadline_s=DEADLINE)
    assert {f.status for f in facts} == {"refused"} and len(facts) == 3


def test_results_are_cached_briefly_and_doctor_asks_again(index, clean_env):
    server = Server(index)
    targets = [Target("index", server.url + "/simple")]
    c = src.read_configured(use_pip_config=False)
    assert src.probe_sources(targets, c).entries[0].status == "ok"
    server.stop()
    cached = src.probe_sources(targets, c)
    assert cached.entries[0].status == "ok", "a second plan within the TTL reuses the check"
    fresh = src.probe_sources(targets, c, use_cache=False)
    assert fresh.entries[0].status == "refused"
    data = json.loads((clean_env / "cache" / src.CACHE_FILE).read_text())
    assert any(server.url in k for k in data)
    assert src.probe_sources(targets, c, offline=True).entries[0].status == "offline"


def test_pip_and_uv_configuration_and_variables_are_read_with_their_origin(clean_env, monkeypatch, tmp_path):
    links = tmp_path / "wheels"
    make_wheel(links, "torch", "2.13.0+cpu", tag=TAG)
    make_wheel(links, "numpy", "1.26.4")
    cons = tmp_path / "constraints.txt"
    cons.write_text("# capped here\ntorch<=2.14.1\ntorchvision<=0.29.1  # and this\n")
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nextra-index-url = file://{tmp_path}/local/simple\n    http://mirror.example/simple\n"
                    f"find-links = {links}\nconstraint = {cons}\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("PIP_INDEX_URL", "http://company.example/pypi/simple")
    (tmp_path / "xdg" / "uv").mkdir(parents=True)
    (tmp_path / "xdg" / "uv" / "uv.toml").write_text('[[index]]\nurl = "http://uv-index.example/simple"\n')
    monkeypatch.setenv("UV_FIND_LINKS", "/nowhere/uv-links")
    c = src.read_configured()
    assert c.index == ("http://company.example/pypi/simple", "$PIP_INDEX_URL")
    assert [u for u, _ in c.extra] == [f"file://{tmp_path}/local/simple", "http://mirror.example/simple"]
    assert c.extra[0][1] == f"pip config {conf}" and c.find_links == [(str(links), f"pip config {conf}")]
    targets = src.configured_targets(c)
    roles = {t.url: t.role for t in targets}
    assert roles["http://company.example/pypi/simple"] == "index" and roles[str(links)] == "find-links"
    assert roles["http://uv-index.example/simple"] == "extra-index"
    assert any(t.url == "/nowhere/uv-links" and t.origin == "$UV_FIND_LINKS" for t in targets)
    facts = src.probe_sources([t for t in targets if not src.is_remote(t.url)], c)
    local = by_url(facts.entries)
    assert local[str(links)].status == "ok" and local[str(links)].holds == ["torch-2.13.0+cpu-" + TAG + ".whl"]
    assert local["/nowhere/uv-links"].status == "missing"
    assert [x.requirement for x in facts.constraints] == ["torch<=2.14.1", "torchvision<=0.29.1"]
    assert facts.constraints[0].file == str(cons) and "uv reads its own configuration" in facts.notes[0]


def test_hoofenv_flags_and_variables_come_before_pip_config(clean_env, monkeypatch, tmp_path):
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = http://from-pip-conf.example/simple\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("HOOFENV_INDEX_URL", "http://from-variable.example/simple")
    assert src.read_configured().index[1] == "$HOOFENV_INDEX_URL"
    assert src.read_configured(index_url="http://flag.example/simple").index == ("http://flag.example/simple",
                                                                                "--index-url")
    assert src.read_configured(use_pip_config=False).index[0] == "http://from-variable.example/simple"


def test_a_file_index_says_which_torch_files_it_holds(tmp_path):
    w = tmp_path / "b"
    write_simple(tmp_path / "simple", [make_wheel(w, "torch", "2.14.1", tag=TAG),
                                       make_wheel(w, "torchvision", "0.29.1", tag=TAG), make_wheel(w, "scipy", "1")])
    fact = src.check_local(Target("extra-index", f"file://{tmp_path}/simple"))
    assert fact.status == "ok" and fact.holds == sorted([f"torch-2.14.1-{TAG}.whl", f"torchvision-0.29.1-{TAG}.whl"])
    assert src.describe(fact).endswith("holds torch 2.14.1; torchvision 0.29.1")


def test_a_proxy_that_refuses_the_tunnel_is_named(clean_env, monkeypatch):
    """https_proxy points at a proxy that answers CONNECT with 403: the source fails as `proxy`, not as the host."""
    import http.server
    import threading

    class Deny(http.server.BaseHTTPRequestHandler):
        def do_CONNECT(self):
            self.send_error(403, "tunnels are not allowed here")

        def log_message(self, *a):
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Deny)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.server_address[1]}")
        fact = reach.check_remote([Target("index", "https://pypi.example/simple")], deadline_s=DEADLINE)[0]
        assert fact.status == "proxy" and "403" in fact.detail, fact
        monkeypatch.setenv("no_proxy", "pypi.example")
        assert reach.check_remote([Target("index", "https://pypi.example/simple")], deadline_s=DEADLINE)[0].status \
            == "dns", "no_proxy: asked directly"
    finally:
        proxy.shutdown()
        proxy.server_close()
