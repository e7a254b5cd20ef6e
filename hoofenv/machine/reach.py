"""Is a remote package source there: DNS, connect, TLS (through a proxy when one applies), HTTP; every host at
once, each in a daemon thread, all within one deadline. Imported only when something must be asked (a `plan` with
a warm cache never loads it), and by install/watch.py while steps run."""

from __future__ import annotations

import os
import threading
import time

from hoofenv.machine.facts import SourceFact
from hoofenv.machine.sources import CONNECT_S, DEADLINE_S, Target

def _path_for(t: Target) -> str:
    """What to ask: the torch project page of an index (it answers, and says whether it holds torch)."""
    from urllib.parse import urlsplit

    parts = urlsplit(t.url)
    path = parts.path or "/"
    if t.role in ("pytorch", "index"):
        path = path.rstrip("/") + "/torch/"
    return path + (f"?{parts.query}" if parts.query else "")


def _proxy_for(scheme: str, host: str, configured: str | None) -> str | None:
    if configured:
        return configured
    no = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    for entry in (e.strip() for e in no.split(",")):
        if entry == "*" or entry and (host == entry.lstrip(".") or host.endswith("." + entry.lstrip("."))):
            return None
    return os.environ.get(f"{scheme}_proxy") or os.environ.get(f"{scheme.upper()}_PROXY") or None


def _classify(exc: BaseException, via_proxy: bool, phase: str) -> tuple[str, str]:
    import socket
    import ssl

    text = str(exc) or type(exc).__name__
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "tls", f"certificate: {exc.verify_message or text}"
    if isinstance(exc, ssl.SSLError):
        return "tls", text
    if via_proxy and (phase in ("dns", "connect") or "Tunnel connection failed" in text):
        return "proxy", f"proxy: {text}"
    if isinstance(exc, socket.gaierror):
        return "dns", text
    if isinstance(exc, ConnectionRefusedError):
        return "refused", text
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout", f"no answer during {phase}"
    return "network", text


def _connect(scheme: str, host: str, port: int, proxy: str | None, ctx, left: float, phase: dict):
    """An open HTTP(S) connection to host (through `proxy` when one applies), phase by phase."""
    import http.client
    import socket
    from urllib.parse import urlsplit

    phase["now"] = "dns"
    if proxy:
        p = urlsplit(proxy if "://" in proxy else "http://" + proxy)
        if scheme == "https":
            conn = http.client.HTTPSConnection(p.hostname, p.port or 8080, timeout=min(CONNECT_S, left), context=ctx)
            conn.set_tunnel(host, port)
        else:
            conn = http.client.HTTPConnection(p.hostname, p.port or 8080, timeout=min(CONNECT_S, left))
        phase["now"] = "connect"
        conn.connect()
        return conn
    addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4]
    phase["now"] = "connect"
    sock = socket.create_connection(addr[:2], timeout=min(CONNECT_S, left))
    if ctx is not None:
        phase["now"] = "tls"
        sock = ctx.wrap_socket(sock, server_hostname=host)
        conn = http.client.HTTPSConnection(host, port, timeout=left, context=ctx)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=left)
    conn.sock = sock
    return conn


def _host_check(key: tuple, targets: list[Target], deadline: float, cert: str | None, proxy_cfg: str | None,
                out: dict, phase: dict) -> None:
    """Ask one host for each of its targets' pages over one connection; record a SourceFact per target. When
    the host fails, its remaining targets fail the same way without spending the deadline again."""
    import http.client
    import socket
    import ssl
    from urllib.parse import urlsplit

    scheme, host, port = key
    proxy = _proxy_for(scheme, host, proxy_cfg)
    start = time.monotonic()
    ctx = ssl.create_default_context(cafile=cert if cert and os.path.isfile(cert) else None) \
        if scheme == "https" else None
    conn = None
    failed: SourceFact | None = None
    for t in targets:
        fact = SourceFact(role=t.role, url=t.url, origin=t.origin, tag=t.tag, torch_minor=t.torch_minor)
        if failed is not None:
            fact.status, fact.detail, fact.ms = failed.status, failed.detail, failed.ms
            out[(t.role, t.url)] = fact
            continue
        try:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("deadline")
            conn = conn or _connect(scheme, host, port, proxy, ctx, left, phase)
            phase["now"] = "http"
            if conn.sock is not None:
                conn.sock.settimeout(max(0.05, deadline - time.monotonic()))
            path = _path_for(t)
            if proxy and scheme == "http":  # a plain-HTTP proxy takes the absolute URL
                path = f"{scheme}://{urlsplit(t.url).netloc}{path}"
            conn.request("HEAD", path, headers={"User-Agent": "hoofenv-source-check", "Accept": "text/html"})
            resp = conn.getresponse()
            resp.read()
            fact.http_status = resp.status
            answers = resp.status < 400 or (resp.status == 404 and t.role in ("index", "extra-index"))
            fact.status = "ok" if answers else "http"
            fact.detail = None if answers else f"HTTP {resp.status} {resp.reason}".strip()
        except OSError as exc:
            fact.status, fact.detail = _classify(exc, bool(proxy), phase.get("now", "connect"))
            failed = fact
        except http.client.HTTPException as exc:
            fact.status, fact.detail = "network", f"{type(exc).__name__}: {exc}"
            failed = fact
        fact.ms = round((time.monotonic() - start) * 1000, 1)
        out[(t.role, t.url)] = fact
        start = time.monotonic()


def check_remote(targets: list[Target], *, deadline_s: float = DEADLINE_S, cert: str | None = None,
                 proxy: str | None = None) -> list[SourceFact]:
    """One daemon thread per host, all within one deadline: a host that never answers (or whose DNS hangs, which
    no socket timeout covers) costs `deadline_s`, and the process never waits for its thread."""
    from urllib.parse import urlsplit

    by_host: dict[tuple, list[Target]] = {}
    for t in targets:
        parts = urlsplit(t.url)
        scheme = parts.scheme.lower()
        key = (scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80))
        by_host.setdefault(key, []).append(t)
    out: dict[tuple, SourceFact] = {}
    phases: dict[tuple, dict] = {}
    threads = []
    deadline = time.monotonic() + deadline_s
    for key, ts in by_host.items():
        phases[key] = {}
        th = threading.Thread(target=_host_check, args=(key, ts, deadline, cert, proxy, out, phases[key]),
                              daemon=True, name=f"hoofenv-source-{key[1]}")
        th.start()
        threads.append(th)
    for th in threads:
        th.join(max(0.0, deadline + 0.05 - time.monotonic()))
    facts = []
    for key, ts in by_host.items():
        for t in ts:
            fact = out.get((t.role, t.url))
            if fact is None:  # the thread is still in DNS or connect
                phase = phases[key].get("now", "dns")
                fact = SourceFact(role=t.role, url=t.url, origin=t.origin, tag=t.tag, torch_minor=t.torch_minor,
                                  status="proxy" if phase in ("dns", "connect") and _proxy_for(key[0], key[1], proxy)
                                  else "timeout", ms=round(deadline_s * 1000, 1),
                                  detail=f"no answer within {deadline_s:g} s (during {phase})")
            facts.append(fact)
    return facts
