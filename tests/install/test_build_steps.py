"""The mmcv build's own machinery with real tools and small inputs: a failing g++ compile diagnosed (first error,
likely fix, log path), ninja's counts as progress, the sdist unpacked safely and patched, a CUDA_HOME made from
NVIDIA's wheel layout, and the build steps a CUDA plan produces."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from hoofenv.errors import HoofenvError
from hoofenv.install import build_log, mmcv_build, sdist, toolchain
from hoofenv.install.build_log import BuildProgress, diagnose, progress_text
from hoofenv.install.installers import Installer
from hoofenv.install.recipe import Step
from hoofenv.install.runner import Progress, run_steps
from hoofenv.install.sources import Sources
from hoofenv.machine.facts import Facts
from hoofenv.stack import matrix as matrix_mod
from hoofenv.stack.resolve import Overrides, resolve
from tests.conftest import FIXTURES

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not on this machine")


class Recorder(Progress):
    def __init__(self):
        self.lines = []

    def step_output(self, label, line, elapsed):
        self.lines.append(line)


def _project(tmp_path: Path, source: str) -> Path:
    """A setuptools extension project: what mmcv's setup.py drives, minus torch."""
    proj = tmp_path / "proj"
    (proj / "src").mkdir(parents=True)
    (proj / "src" / "bad.cpp").write_text(source)
    (proj / "setup.py").write_text(textwrap.dedent("""
        from setuptools import Extension, setup
        setup(name="tiny", version="0.1", ext_modules=[Extension("tiny", ["src/bad.cpp"], language="c++")])
    """))
    return proj


def _failed_build(tmp_path: Path, proj: Path, env: dict | None = None) -> HoofenvError:
    step = Step("build-mmcv", "compile", [sys.executable, "setup.py", "build_ext", "--build-temp", str(tmp_path / "t"),
                                          "--build-lib", str(tmp_path / "l")], env or {})
    import os

    cwd = os.getcwd()
    os.chdir(proj)
    try:
        with pytest.raises(HoofenvError) as info:
            run_steps([step], Progress(), tmp_path / "logs", None, "mmcv build")
    finally:
        os.chdir(cwd)
    return build_log.explain(info.value, tmp_path / "logs")


@needs_gxx
def test_a_real_failing_compile_is_named_by_its_first_error(tmp_path):
    proj = _project(tmp_path, "#include <vector>\nint f() {\n  return undefined_thing + 1;\n}\nint g() { return nope; }\n")
    err = _failed_build(tmp_path, proj)
    assert err.code == "build-compile-failed" and "src/bad.cpp" in err.message
    assert err.causes[0].startswith("first error in src/bad.cpp:3:") and "undefined_thing" in err.causes[0]
    assert any(c.startswith("full log: ") and c.endswith("01-build-mmcv.log") for c in err.causes)
    assert 0 < len(err.output) <= build_log.ERROR_CONTEXT and "undefined_thing" in err.output[0]
    assert "nope" not in err.causes[0]  # the first error, not the last


def test_a_missing_compiler_gets_the_apt_line(tmp_path):
    proj = _project(tmp_path, "int f() { return 1; }\n")
    err = _failed_build(tmp_path, proj, {"CC": "/nonexistent/gcc", "CXX": "/nonexistent/g++"})
    assert any("no C++ compiler" in c for c in err.causes)
    assert err.hint == "sudo apt-get install -y build-essential"


@needs_gxx
def test_a_compiler_killed_for_memory_asks_for_fewer_jobs(tmp_path):
    src = tmp_path / "m.cpp"
    src.write_text("#include <map>\n#include <string>\nint main() { std::map<std::string, int> m; return m.size(); }\n")
    step = Step("build-mmcv", "compile", ["bash", "-c", f"ulimit -v 60000; g++ -O2 -c {src} -o {tmp_path / 'm.o'}"])
    with pytest.raises(HoofenvError) as info:
        run_steps([step], Progress(), tmp_path / "logs", None, "mmcv build")
    err = build_log.explain(info.value, tmp_path / "logs")
    assert any("killed for memory" in c for c in err.causes) and "MAX_JOBS=1" in err.hint


def test_torch_refusing_another_cuda_names_the_mismatch():
    # torch 2.14.1's cpp_extension raises RuntimeError(CUDA_MISMATCH_MESSAGE, ...) unformatted, as printed here
    d = diagnose(["Traceback (most recent call last):",
                  "RuntimeError: ('The detected CUDA version (%s) mismatches the version that was used to compile"
                  "PyTorch (%s). Please make sure to use the same CUDA versions.', '12.8', '13.0')"])
    assert d.cause == "the nvcc found is of another CUDA than torch's" and "--nvcc" in d.hint
    nvcc = diagnose(["/src/nms_cuda.cu(41): error: identifier \"foo\" is undefined", "1 error detected"])
    assert (nvcc.file, nvcc.line, nvcc.message) == ("/src/nms_cuda.cu", 41, 'identifier "foo" is undefined')


def test_progress_counts_files_and_estimates_the_rest():
    assert progress_text(1, 4, 10.0, None) == "compiled 1/4 files (25%)"
    assert progress_text(3, 4, 30.0, (10.0, 1)) == "compiled 3/4 files (75%), ~10 s left"
    assert progress_text(10, 170, 600.0, (10.0, 1)).endswith("~175 min left")


@pytest.mark.skipif(shutil.which("ninja") is None, reason="ninja is not on this machine")
def test_real_ninja_output_becomes_files_compiled(tmp_path):
    (tmp_path / "build.ninja").write_text("rule t\n  command = true $out\n" +
                                          "".join(f"build o{i}: t\n" for i in range(3)))
    seen = Recorder()
    run_steps([Step("build-mmcv", "compile", ["ninja", "-C", str(tmp_path), "-j", "1"])], BuildProgress(seen),
              tmp_path / "logs", None, "mmcv build")
    assert [x for x in seen.lines if x.startswith("compiled")][-1] == "compiled 3/3 files (100%), ~0 s left"


def _tar(path: Path, members: dict[str, bytes], link: str | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo("mmcv-2.1.0/evil")
            info.type, info.linkname = tarfile.SYMTYPE, link
            tf.addfile(info)
    return path


PATCH = {"file": "setup.py", "replace": "'-std=c++17'", "with": "'-std=c++20'", "why": "torch >= 2.14 needs C++20"}


def test_the_sdist_is_unpacked_and_patched_with_a_record(tmp_path):
    (tmp_path / "sd").mkdir()
    _tar(tmp_path / "sd" / "mmcv-2.1.0.tar.gz", {"mmcv-2.1.0/setup.py": b"a = ['-std=c++17']\nb = '-std=c++17'\n"})
    (tmp_path / "p.json").write_text(json.dumps([PATCH]))
    assert sdist.main([str(tmp_path / "sd"), str(tmp_path / "src"), str(tmp_path / "p.json")]) == 0
    src = tmp_path / "src" / "mmcv-2.1.0"
    assert src.joinpath("setup.py").read_text() == "a = ['-std=c++20']\nb = '-std=c++20'\n"
    assert json.loads((src / sdist.RECORD).read_text())[0]["places"] == 2


@pytest.mark.parametrize("members, link", [
    ({"/etc/evil": b"x"}, None),
    ({"mmcv-2.1.0/../../evil": b"x"}, None),
    ({"mmcv-2.1.0/setup.py": b"x"}, "/etc/passwd"),
    ({"a/setup.py": b"x", "b/setup.py": b"y"}, None),
])
def test_a_hostile_sdist_is_refused_and_writes_nothing_outside(tmp_path, members, link):
    archive = _tar(tmp_path / "mmcv-2.1.0.tar.gz", members, link)
    with pytest.raises(HoofenvError) as info:
        sdist.unpack(archive, tmp_path / "out" / "src")
    assert info.value.code == "sdist-unsafe" and not (tmp_path / "evil").exists()


def test_a_patch_that_no_longer_applies_stops_the_build(tmp_path):
    src = tmp_path / "mmcv-2.2.0"
    src.mkdir()
    (src / "setup.py").write_text("cxx = ['-std=c++20']\n")
    with pytest.raises(HoofenvError) as info:
        sdist.apply(src, [PATCH])
    assert info.value.code == "sdist-patch" and "mmcv_build.patches" in info.value.hint


UNITY = {"unity": "ops/csrc", "exclude": ["pybind.cpp"], "units": 2, "why": "headers parsed once per unit"}


def test_a_unity_build_leaves_setup_py_a_few_units_that_compile_every_part(tmp_path):
    src = tmp_path / "mmcv-2.1.0"
    ops = src / "ops" / "csrc"
    ops.mkdir(parents=True)
    (ops / "helper.h").write_text("#pragma once\nstatic inline int twice(int x) { return 2 * x; }\n")
    for name in ("a", "b", "c"):
        (ops / f"{name}.cpp").write_text(f'#include "helper.h"\nint op_{name}(int x) {{ return twice(x); }}\n')
    (ops / "pybind.cpp").write_text("int bind() { return 0; }\n")
    done = sdist.apply(src, [UNITY])
    assert done[0]["places"] == 3
    # what mmcv's setup.py globs now: the units and the excluded file, each part compiled once through a unit
    globbed = sorted(p.name for p in ops.glob("*.cpp"))
    assert globbed == ["hoofenv_unity_0.cpp", "hoofenv_unity_1.cpp", "pybind.cpp"]
    included = [line for u in globbed[:2] for line in (ops / u).read_text().splitlines() if line.startswith("#incl")]
    assert sorted(included) == ['#include "a.cpp.unity"', '#include "b.cpp.unity"', '#include "c.cpp.unity"']
    assert (ops / "a.cpp.unity").read_text().endswith("return twice(x); }\n")
    assert json.loads((src / sdist.RECORD).read_text())[0]["units"] == 2
    if shutil.which("g++"):
        objs = []
        for name in globbed:
            subprocess.run(["g++", "-fPIC", "-c", str(ops / name), "-o", str(tmp_path / f"{name}.o")], check=True)
            objs.append(str(tmp_path / f"{name}.o"))
        subprocess.run(["g++", "-shared", *objs, "-o", str(tmp_path / "ext.so")], check=True)
        symbols = subprocess.run(["nm", "-D", "--defined-only", str(tmp_path / "ext.so")], capture_output=True,
                                 text=True, check=True).stdout
        assert all(f"op_{n}" in symbols for n in "abc") and "bind" in symbols


def test_a_unity_build_that_finds_no_sources_stops_the_build(tmp_path):
    (tmp_path / "mmcv-2.2.0" / "ops" / "csrc").mkdir(parents=True)
    with pytest.raises(HoofenvError) as info:
        sdist.apply(tmp_path / "mmcv-2.2.0", [UNITY])
    assert info.value.code == "sdist-patch" and "mmcv_build.unity" in info.value.hint


def _fake_wheel_root(root: Path, release: str) -> Path:
    cu = root / "lib" / "python3.11" / "site-packages" / "nvidia" / "cu13"
    for d in ("bin", "include", "lib", "nvvm"):
        (cu / d).mkdir(parents=True)
    nvcc = cu / "bin" / "nvcc"
    nvcc.write_text(f"#!/bin/sh\necho 'Cuda compilation tools, release {release}, V{release}.88'\n")
    nvcc.chmod(0o755)
    for lib in ("libcudart.so.13", "libnvrtc.so.13", "libcudadevrt.a"):
        (cu / "lib" / lib).write_bytes(b"")
    return cu


def test_a_cuda_home_is_made_of_links_to_the_pypi_toolchain(tmp_path, capsys):
    cu = _fake_wheel_root(tmp_path / "venv", "13.0")
    assert toolchain.main([str(tmp_path / "venv"), "13.0", str(tmp_path / "cuda")]) == 0
    home = tmp_path / "cuda"
    assert (home / "lib64" / "libcudart.so").resolve() == (cu / "lib" / "libcudart.so.13").resolve()
    assert (home / "bin").resolve() == (cu / "bin").resolve() and not (cu / "lib" / "libcudart.so").exists()
    assert f"CUDA_HOME={home}: nvcc 13.0" in capsys.readouterr().out
    _fake_wheel_root(tmp_path / "v2", "12.8")
    assert toolchain.main([str(tmp_path / "v2"), "13.0", str(tmp_path / "c2")]) == 1
    assert toolchain.main([str(tmp_path / "nothing"), "13.0", str(tmp_path / "c3")]) == 1


def test_a_cuda_plan_builds_with_the_pypi_toolchain_steps(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOFENV_CACHE_DIR", str(tmp_path))
    plan = resolve(Facts.load(FIXTURES / "facts" / "b200-580-ubuntu22.04.json"), matrix_mod.load(),
                   Overrides(ptx=True))
    cached = mmcv_build.lookup(plan)
    where = mmcv_build.build_dir(cached)
    steps = mmcv_build.build_steps(plan, Installer("pip", Sources()), "python3.10", where / "venv", where / "out",
                                   where / "constraints.txt")
    names = [s.name for s in steps]
    assert names == ["build-venv", "build-tools", "build-toolchain", "build-cuda-home", "build-sdist", "build-source",
                     "build-mmcv"]
    tools = steps[2].argv
    assert plan.headers_requirement() == f"torch=={plan.torch}+{plan.cuda}" in tools and plan.mmcv.build.toolchain.packages[0] in tools
    env = steps[-1].env
    assert env["CUDA_HOME"] == str(where / "cuda") and env["TORCH_CUDA_ARCH_LIST"] == "10.0+PTX"
    assert env["FORCE_CUDA"] == "1" and env["CPPFLAGS"] == "-g0" and "CFLAGS" not in env and env["MAX_JOBS"] == str(plan.mmcv.build.max_jobs)
    assert steps[-1].argv[-1] == str(where / "src" / "mmcv-2.1.0") and "--no-index" in steps[-1].argv
    assert "10.0+PTX" in cached.key and plan.cuda in cached.key


@needs_gxx
def test_the_build_flags_keep_pythons_optimisation_and_drop_debug_info(tmp_path, monkeypatch):
    """The compile step's environment, given to a real setuptools build: -O3 and NDEBUG stay, -g0 comes last."""
    plan = resolve(Facts.load(FIXTURES / "facts" / "nogpu-debian12.json"), matrix_mod.load(),
                   Overrides(torch="2.14.1", cuda="cpu", python="3.11"))
    env = toolchain.build_env(plan, tmp_path)
    proj = _project(tmp_path, "int f() { return 1; }\n")
    out = subprocess.run([sys.executable, "setup.py", "build_ext", "--build-temp", str(tmp_path / "t"),
                          "--build-lib", str(tmp_path / "l")], cwd=proj, capture_output=True, text=True,
                         env={**__import__("os").environ, **env})
    assert out.returncode == 0, out.stderr
    compile_line = next(x for x in out.stdout.splitlines() if " -c src/bad.cpp" in x)
    flags = compile_line.split()
    assert "-O3" in flags and "-DNDEBUG" in flags and flags.index("-g0") > flags.index("-g"), compile_line


def test_a_wheel_without_its_compiled_ops_never_enters_the_cache(tmp_path, monkeypatch):
    import zipfile

    monkeypatch.setenv("HOOFENV_CACHE_DIR", str(tmp_path / "cache"))
    plan = resolve(Facts.load(FIXTURES / "facts" / "nogpu-debian12.json"), matrix_mod.load(),
                   Overrides(torch="2.14.1", cuda="cpu", python="3.11"))
    cached = mmcv_build.lookup(plan)
    out = mmcv_build.build_dir(cached) / "out"
    lite = (f"import zipfile; zipfile.ZipFile({str(out / 'mmcv-2.1.0-py3-none-any.whl')!r}, 'w')"
            ".writestr('mmcv/__init__.py', b'')")  # what mmcv#3201 describes: bdist_wheel without _ext
    with pytest.raises(HoofenvError) as info:
        mmcv_build.build(plan, [Step("build-mmcv", "compile", [sys.executable, "-c", lite])], cached, Progress())
    assert info.value.code == "build-no-ops" and cached.wheel is None and not cached.folder.exists()
    assert zipfile.ZipFile(next(out.glob("*.whl"))).namelist() == ["mmcv/__init__.py"]  # kept for reading
