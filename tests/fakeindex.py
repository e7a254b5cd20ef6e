"""Small wheels and sdists built by the tests, served as PEP 503 indexes on 127.0.0.1 (real HTTP, real uv/pip).

Names and tags are the stack's (torch 2.1.2+cpu cp311 manylinux, an mmcv find-links page like OpenMMLab's, an
sdist-only mmcv, numpy 1.26.4 and a numpy 2 that must never win); they only ever go into temp venvs.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import os
import shutil
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

CP = f"cp{sys.version_info[0]}{sys.version_info[1]}"
TAG = f"{CP}-{CP}-manylinux_2_17_x86_64.manylinux2014_x86_64"


def _norm(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def make_wheel(dest: Path, name: str, version: str, requires: list[str] = (), tag: str = "py3-none-any",
               payload: bytes = b"", extra_py: str = "") -> Path:
    mod, dist = _norm(name), f"{_norm(name)}-{version}"
    files = {f"{mod}/__init__.py": f"__version__ = {version!r}\n{extra_py}".encode()}
    if payload:
        files[f"{mod}/payload.bin"] = payload
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    files[f"{dist}.dist-info/METADATA"] = meta.encode()
    py, abi, plat = tag.split("-")
    files[f"{dist}.dist-info/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: hoofenv-tests\nRoot-Is-Purelib: "
                                        f"{'true' if plat == 'any' else 'false'}\n" +
                                        "".join(f"Tag: {p}-{a}-{pl}\n" for p in py.split(".") for a in abi.split(".")
                                                for pl in plat.split("."))).encode()
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / f"{dist}-{tag}.whl"
    with zipfile.ZipFile(out, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return out


BACKEND = '''
"""In-tree build backend of the fake mmcv sdist: records the build environment hoofenv set up."""
import base64, hashlib, os, zipfile

def _wheel(directory, editable=False):
    if os.environ.get("MMCV_WITH_OPS") != "1":
        raise SystemExit("fake mmcv: MMCV_WITH_OPS=1 is required for ops")
    import torch  # the build venv must hold the header torch
    gate = os.environ.get("FAKE_MMCV_GATE")  # tests: say "started", then wait until the test opens the gate
    if gate:
        import time
        open(gate + ".started", "a").write("%d\\n" % os.getpid())
        for _ in range(6000):
            if os.path.exists(gate):
                break
            time.sleep(0.05)
    files = {"mmcv/__init__.py": ("__version__ = '%s'\\nBUILT_WITH_TORCH = %r\\nFORCE_CUDA = %r\\nMAX_JOBS = %r\\n" % (
        VERSION, torch.__version__, os.environ.get("FORCE_CUDA"), os.environ.get("MAX_JOBS"))).encode(),
             "mmcv/_ext.py": b"OPS = True\\n"}
    dist = "mmcv-" + VERSION
    files[dist + ".dist-info/METADATA"] = ("Metadata-Version: 2.1\\nName: mmcv\\nVersion: %s\\nRequires-Dist: numpy\\n" % VERSION).encode()
    files[dist + ".dist-info/WHEEL"] = b"Wheel-Version: 1.0\\nGenerator: fake\\nRoot-Is-Purelib: false\\nTag: TAGX\\n"
    rec = []
    for p, d in files.items():
        rec.append("%s,sha256=%s,%d" % (p, base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode(), len(d)))
    rec.append(dist + ".dist-info/RECORD,,")
    files[dist + ".dist-info/RECORD"] = ("\\n".join(rec) + "\\n").encode()
    name = dist + "-TAGX.whl"
    with zipfile.ZipFile(os.path.join(directory, name), "w") as zf:
        for p, d in files.items():
            zf.writestr(p, d)
    return name

VERSION = "VERSIONX"

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory)

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    """Metadata without compiling, as setuptools' egg_info gives pip for the real sdist (`pip download` builds nothing)."""
    dist = "mmcv-" + VERSION + ".dist-info"
    os.makedirs(os.path.join(metadata_directory, dist))
    with open(os.path.join(metadata_directory, dist, "METADATA"), "w") as fh:
        fh.write("Metadata-Version: 2.1\\nName: mmcv\\nVersion: %s\\nRequires-Dist: numpy\\n" % VERSION)
    return dist

def build_sdist(sdist_directory, config_settings=None):
    raise RuntimeError("this test package is built as a wheel only")
'''


def make_sdist(dest: Path, name: str, version: str) -> Path:
    """An sdist with an in-tree backend (no setuptools needed): builds only when MMCV_WITH_OPS=1."""
    base = f"{name}-{version}"
    files = {
        f"{base}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{base}/pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "fakebackend"\nbackend-path = ["."]\n',
        f"{base}/fakebackend.py": BACKEND.replace("VERSIONX", version).replace("TAGX", TAG),
    }
    if name == "mmcv":  # the op sources' layout, which the build's unity step rewrites (compat_matrix's `unity`)
        ops = f"{base}/mmcv/ops/csrc/pytorch"
        for src in ("nms.cpp", "roi_align.cpp", "pybind.cpp", "cpu/nms.cpp", "cpu/psamask.cpp", "cpu/roi_align.cpp"):
            files[f"{ops}/{src}"] = f"// {src}\n"
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / f"{base}.tar.gz"
    with tarfile.open(out, "w:gz") as tf:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return out


def write_simple(root: Path, files: list[Path]) -> None:
    """PEP 503 pages for `files` under root/<project>/index.html, with #sha256= fragments."""
    by_project: dict[str, list[Path]] = {}
    for f in files:
        project = f.name.split("-")[0].lower().replace("_", "-")
        by_project.setdefault(project, []).append(f)
    for project, fs in by_project.items():
        d = root / project
        d.mkdir(parents=True, exist_ok=True)
        links = []
        for f in fs:
            shutil.copy2(f, d / f.name)
            sha = hashlib.sha256(f.read_bytes()).hexdigest()
            links.append(f'<a href="{f.name}#sha256={sha}">{f.name}</a><br>')
        (d / "index.html").write_text("<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n")
    (root / "index.html").write_text("<html><body>" + "".join(f'<a href="{p}/">{p}</a>' for p in by_project) +
                                     "</body></html>")


def write_find_links(page: Path, files: list[Path]) -> None:
    page.parent.mkdir(parents=True, exist_ok=True)
    links = []
    for f in files:
        shutil.copy2(f, page.parent / f.name)
        links.append(f'<a href="{f.name}">{f.name}</a><br>')
    page.write_text("<html><body>\n" + "\n".join(links) + "\n</body></html>\n")


class Server:
    """http.server on 127.0.0.1 in a thread; records request paths; can be stopped (network loss).

    `mode`: "serve" (files), "hang" (accept, never answer: a timeout), or an HTTP status such as 503. `hang_on`: a
    substring of a request path that switches the server to "hang" from that request on (a source that stops
    answering in the middle of an install). `tls`: (certfile, keyfile) to serve HTTPS."""

    def __init__(self, root: Path, mode: str | int = "serve", hang_on: str | None = None,
                 tls: tuple[Path, Path] | None = None) -> None:
        self.root = root
        self.requests: list[str] = []
        self.mode = mode
        self.hang_on = hang_on
        self.connected = threading.Event()
        self.released = threading.Event()
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(root), **kw)

            def _gate(self) -> bool:
                server.connected.set()
                server.requests.append(f"{self.command} {self.path}" if self.command != "GET" else self.path)
                if server.hang_on and server.hang_on in self.path:
                    server.mode = "hang"
                if server.mode == "hang":
                    server.released.wait()  # until stop(): never an answer
                    self.close_connection = True
                    return False
                if isinstance(server.mode, int):
                    self.send_error(server.mode)
                    return False
                return True

            def do_GET(self):
                return super().do_GET() if self._gate() else None

            def do_HEAD(self):
                return super().do_HEAD() if self._gate() else None

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        scheme = "http"
        if tls:
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def self_signed(folder: Path) -> tuple[Path, Path] | None:
    """A certificate no trust store knows (openssl req), or None where openssl is missing."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    if not shutil.which("openssl"):
        return None
    proc = __import__("subprocess").run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1"], capture_output=True)
    return (cert, key) if proc.returncode == 0 else None


def build_world(root: Path) -> dict:
    """The fake stack: PyPI-like index, a torch index, an OpenMMLab-like mmcv page, an sdist-only mmcv page."""
    w = root / "build"
    bundled = Path(__import__("ensurepip").__file__).parent / "_bundled"
    real_pip = sorted(bundled.glob("pip-*.whl"))
    pypi = [
        *real_pip,  # the build venv runs the real pip
        make_wheel(w, "setuptools", "80.9.0"), make_wheel(w, "setuptools", "81.0.0"), make_wheel(w, "wheel", "0.45.1"),
        make_wheel(w, "numpy", "1.26.4", tag=TAG), make_wheel(w, "numpy", "2.1.0", tag=TAG),
        make_wheel(w, "mmengine", "0.10.7", ["numpy", "opencv-python>=3", "addict"]),
        make_wheel(w, "addict", "2.4.0"),
        make_wheel(w, "mmdet", "3.2.0", ["numpy", "pycocotools", "scipy", "shapely", "terminaltables"]),
        make_wheel(w, "mmpose", "1.3.2", ["chumpy", "json_tricks", "munkres", "numpy", "opencv-python", "pillow",
                                          "scipy", "xtcocotools>=1.12"]),
        *[make_wheel(w, n, v) for n, v in [("json_tricks", "3.17.3"), ("munkres", "1.1.4"), ("scipy", "1.14.1"),
                                           ("matplotlib", "3.9.2"), ("pillow", "11.0.0"), ("pycocotools", "2.0.8"),
                                           ("shapely", "2.0.6"), ("terminaltables", "3.1.10"), ("ninja", "1.11.1"),
                                           ("psutil", "6.1.0")]],
        make_wheel(w, "opencv-python", "4.8.1.78", ["numpy>=1.21"], tag=TAG),
        make_wheel(w, "opencv-python", "4.12.0.88", ["numpy>=2"], tag=TAG),
        make_wheel(w, "xtcocotools", "1.14.3", ["numpy"], tag=TAG),
        make_wheel(w, "openmim", "0.3.9", ["numpy", "opendatalab", "pip"]),
        make_wheel(w, "opendatalab", "0.0.10", ["setuptools==60.2.0"]), make_wheel(w, "opendatalab", "0.0.9"),
        make_wheel(w, "setuptools", "60.2.0"),  # real openmim pulls this through opendatalab unless held
        make_sdist(w, "mmcv", "2.1.0"),  # PyPI has only the sdist (as for the real mmcv 2.1.0)
    ]
    pypi += [make_wheel(w / "p", "torch", "2.1.2", ["numpy"], tag=TAG),  # PyPI's own (CUDA) build: no label
             make_wheel(w / "p", "torchvision", "0.16.2", ["torch"], tag=TAG)]
    write_simple(root / "simple", pypi)
    torch = [make_wheel(w / "t", "torch", v, ["numpy"], tag=TAG) for v in ("2.0.1+cpu", "2.1.2+cpu")]
    torch += [make_wheel(w / "t", "torchvision", v, ["torch"], tag=TAG) for v in ("0.15.2+cpu", "0.16.2+cpu")]
    write_simple(root / "torch" / "cpu", torch)
    mmcv_whl = make_wheel(w / "m", "mmcv", "2.1.0", ["numpy", "opencv-python>=3", "mmengine>=0.3.0"], tag=TAG)
    for minor in ("2.0", "2.1"):
        write_find_links(root / "mmcv" / "dist" / "cpu" / f"torch{minor}" / "index.html", [mmcv_whl])
    # a mirror of the mmcv base that holds only the sdist: no wheel for this torch
    write_find_links(root / "sdistonly" / "mmcv" / "dist" / "cpu" / "torch2.1" / "index.html",
                     [w / "mmcv-2.1.0.tar.gz"])
    # a find-links folder holding a +cpu torch that `torch==2.1.2` would take instead of PyPI's build
    links = root / "links"
    links.mkdir(exist_ok=True)
    for f in torch:
        if "2.1.2" in f.name:
            shutil.copy2(f, links / f.name)
    return {"root": root}


def isolated_env(tmp: Path, server_url: str, cache: Path) -> dict:
    """Environment for a hoofenv subprocess that sees only the fake indexes (no pip config, no PyPI)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "HOOFENV_"))}
    env.update({
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INPUT": "1",
        "UV_CACHE_DIR": str(cache / "uv"),
        "UV_NO_CONFIG": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "HOOFENV_CACHE_DIR": str(cache / "hoofenv"),
        "HOOFENV_INDEX_URL": f"{server_url}/simple",
        "HOOFENV_TORCH_INDEX_URL": f"{server_url}/torch/{{cuda}}",
        "HOOFENV_MMCV_BASE_URL": server_url,
        "PIP_INDEX_URL": f"{server_url}/simple",  # the build venv's pip, and pip download
    })
    return env
