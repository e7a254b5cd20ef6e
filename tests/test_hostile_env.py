"""Every environment variable hoofenv reads, set to what it cannot use: one usage error (exit 2) naming the variable
and the fix, where it is read, never a traceback; --json stays one JSON object."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hoofenv.errors import HoofenvError
from tests.conftest import FIXTURES
from tests.hostile import NASTY_TEXT, assert_refused, cli, few

PROFILE = str(FIXTURES / "facts" / "nogpu-debian12.json")
ENV_TEXT = [t for t in NASTY_TEXT if "\x00" not in t]  # the one thing no variable can hold
ISOLATED = {"PIP_CONFIG_FILE": "/dev/null", "PIP_INDEX_URL": None, "PIP_EXTRA_INDEX_URL": None,
            "PIP_FIND_LINKS": None, "HOOFENV_INDEX_URL": None, "HOOFENV_EXTRA_INDEX_URL": None,
            "HOOFENV_FIND_LINKS": None}


@pytest.fixture
def env(monkeypatch):
    def set_(values: dict[str, str | None]) -> None:
        for key, value in values.items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
    return set_


def usage_error_naming(fn, variable: str) -> HoofenvError:
    with pytest.raises(HoofenvError) as info:
        fn()
    err = info.value
    assert err.exit_code == 2 and variable in err.message + " ".join(err.causes), err.render()
    assert err.hint, err.render()
    return err


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


GIB_BAD = [t for t in ENV_TEXT + ["-1", "-0.5", "1e400", "-inf", "8GiB", "8 GB"]
           if (v := _float(t)) is None or v != v or v < 0 or v == float("inf")]


def test_gpu_memory(env):
    from hoofenv.machine.probe import gpu_memory_gib

    for value in GIB_BAD:
        env({"HOOFENV_GPU_MEMORY_GIB": value})
        usage_error_naming(gpu_memory_gib, "HOOFENV_GPU_MEMORY_GIB")
    for value, want in (("0", None), ("8", 8.0), (" 7.5 ", 7.5), ("1e1", 10.0)):
        env({"HOOFENV_GPU_MEMORY_GIB": value})
        assert gpu_memory_gib() == want


def test_driver_and_arch_stand_ins(env):
    from hoofenv.machine.cuda import ComputeCapability, DriverVersion
    from hoofenv.machine.probe import probe_nvidia

    def fails(parse, text):
        try:
            parse(text)
        except HoofenvError:
            return True
        return False

    drivers = [t for t in ENV_TEXT if t.strip() and fails(DriverVersion.parse, t)]
    arches = [t for t in ENV_TEXT if t.strip() and fails(ComputeCapability.parse, t)]
    assert len(drivers) > 30 and len(arches) > 30
    for value in drivers:
        env({"HOOFENV_CUDA_DRIVER_VERSION": value, "HOOFENV_CUDA_ARCH": None})
        usage_error_naming(probe_nvidia, "HOOFENV_CUDA_DRIVER_VERSION")
    for value in arches:
        env({"HOOFENV_CUDA_DRIVER_VERSION": "550.54.14", "HOOFENV_CUDA_ARCH": value})
        usage_error_naming(probe_nvidia, "HOOFENV_CUDA_ARCH")
    env({"HOOFENV_CUDA_DRIVER_VERSION": " 550.54.14 ", "HOOFENV_CUDA_ARCH": "sm_86"})
    assert probe_nvidia().driver_version == "550.54.14"
    rc, out, err = cli(["plan", "--json"], env={"HOOFENV_CUDA_DRIVER_VERSION": "banana"})
    assert_refused(rc, out, err, 2, "HOOFENV_CUDA_DRIVER_VERSION", json_mode=True)


URL_PIECES = ["https://m/", "ftp://m/", "whl/", "{cuda}", "{CUDA}", "{0}", "{", " ", "none", "[/]", "x"]


@few(25)
@given(variable=st.sampled_from(["HOOFENV_TORCH_INDEX_URL", "HOOFENV_MMCV_BASE_URL"]),
       value=st.one_of(st.sampled_from(ENV_TEXT), st.lists(st.sampled_from(URL_PIECES), min_size=1,
                                                             max_size=3).map("".join)))
def test_index_mirror_variables(variable, value):
    from hoofenv.commands.options import env_override
    from hoofenv.stack.resolve import override_problem

    name = "torch_index_url" if variable == "HOOFENV_TORCH_INDEX_URL" else "mmcv_base_url"
    if not value or override_problem(name, value) is None:
        return  # unset (empty) or usable
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(variable, value)
        usage_error_naming(lambda: env_override(variable, name), variable)


def test_index_mirror_variable_through_the_cli():
    rc, out, err = cli(["plan", "--facts", PROFILE, "--json"],
                       env={"HOOFENV_TORCH_INDEX_URL": "https://m/whl/{CUDA}"})
    assert_refused(rc, out, err, 2, "$HOOFENV_TORCH_INDEX_URL", json_mode=True)


SOURCE_VARIABLES = ["HOOFENV_INDEX_URL", "HOOFENV_EXTRA_INDEX_URL", "HOOFENV_FIND_LINKS", "PIP_INDEX_URL",
                    "PIP_EXTRA_INDEX_URL"]


@few(25)
@given(variable=st.sampled_from(SOURCE_VARIABLES),
       value=st.sampled_from(["ftp://m/simple", "gopher://x", "/no/such/folder", "relative/nope", "{cuda}://x",
                              "https://ok/simple /missing/dir", "x://y", "[bold]", "~nobody_here/x"]))
def test_package_source_variables(variable, value):
    from hoofenv.install.sources import sources_from

    with pytest.MonkeyPatch.context() as mp:
        for key, val in ISOLATED.items():
            mp.delenv(key, raising=False) if val is None else mp.setenv(key, val)
        mp.setenv(variable, value)
        usage_error_naming(sources_from, variable)


def test_package_sources_through_the_cli_and_pip_files(tmp_path, env):
    from hoofenv.install.sources import sources_from

    rc, out, err = cli(["install", "--dry-run", "--facts", PROFILE, "--json"],
                       env={**ISOLATED, "HOOFENV_INDEX_URL": "ftp://m/simple"})
    assert_refused(rc, out, err, 2, "$HOOFENV_INDEX_URL", json_mode=True)
    conf = tmp_path / "pip.conf"
    for content in (b"\xff\xfe[global]\n", b"index-url = x\n", b"[global]\n[global]\n"):
        conf.write_bytes(content)
        env({**ISOLATED, "PIP_CONFIG_FILE": str(conf)})
        usage_error_naming(sources_from, str(conf))
    conf.write_text("[global]\nfind-links = /no/such/wheels\nindex-url = ftp://x\n")
    err = usage_error_naming(sources_from, str(conf))
    assert "index-url" in err.message and "--no-pip-config" in err.hint
    assert sources_from(use_pip_config=False).index_url is None


def test_files_named_by_variables(tmp_path):
    missing = str(tmp_path / "nope.json")
    for variable, code in (("HOOFENV_FACTS", "facts-unreadable"), ("HOOFENV_MATRIX", "matrix-unreadable")):
        rc, out, err = cli(["plan", "--json"] + (["--facts", PROFILE] if variable == "HOOFENV_MATRIX" else []),
                           env={variable: missing})
        doc = assert_refused(rc, out, err, 2, f"${variable}", json_mode=True)
        assert doc["error"]["code"] == code and missing in doc["error"]["message"]


def test_cache_dir_that_is_a_file(tmp_path):
    a_file = tmp_path / "f"
    a_file.write_text("x")
    for value in (str(a_file), str(a_file / "below")):
        rc, out, err = cli(["plan", "--facts", PROFILE], env={"HOOFENV_CACHE_DIR": value})
        assert_refused(rc, out, err, 2, "HOOFENV_CACHE_DIR")


def test_env_variable_with_odd_paths(tmp_path):
    """$HOOFENV_ENV naming a file, markup or a name too long: verify says there is no env there (exit 1)."""
    a_file = tmp_path / "f"
    a_file.write_text("x")
    for value in (str(a_file), str(tmp_path / "v2[/final]"), str(tmp_path / ("x" * 300))):
        rc, out, err = cli(["verify", "--json"], env={"HOOFENV_ENV": value})
        doc = assert_refused(rc, out, err, 1, value, json_mode=True)
        assert doc["error"]["code"] in ("env-missing", "os-error")


def test_verify_fault_seam():
    for value in ("banana", "python.version", "python.version:explode", "nope:crash", ":hang"):
        rc, out, err = cli(["verify", "--python", sys.executable, "--json"], env={"HOOFENV_VERIFY_FAULT": value})
        assert_refused(rc, out, err, 2, "HOOFENV_VERIFY_FAULT", json_mode=True)
