"""The package's layout rules (docs/DEVELOPING.md), held against the code: who may import whom, what runs inside the
managed env, how long a function may be, where each shared constant lives, which error codes exist."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from hoofenv.errors import CODES, registered

from tests.conftest import REPO

PACKAGE = REPO / "hoofenv"
SHARED = {"hoofenv.__version__", "hoofenv.errors", "hoofenv.files", "hoofenv.paths", "hoofenv.inenv.protocol",
          "hoofenv.inenv.angles"}
# folder -> the hoofenv packages its modules may import (besides SHARED and themselves)
MAY_IMPORT = {
    "machine": set(),
    "data": set(),
    "stack": {"machine"},
    "install": {"machine", "stack"},
    "verify": {"machine", "stack", "data"},
    "train": {"machine", "stack", "data", "verify"},
    "export": {"machine", "stack", "install", "data", "train"},
}
# what code inside the managed env may import besides the standard library and its own package
STACK = {"torch", "torchvision", "mmengine", "mmcv", "mmdet", "mmpose", "numpy", "cv2", "onnx", "xtcocotools",
         "matplotlib", "pkg_resources", "PIL"}
# the ONNX runtime env (numpy, onnxruntime, Pillow) runs these in-env modules and only these
ONNX_RUNNER = "onnx_runner.py"
ONNX_ENV = {"numpy", "onnxruntime", "PIL"}
MAX_FUNCTION_LINES = 80


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imports(path: Path) -> list[tuple[int, str, int]]:
    """(line, module, relative level) of every import in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, 0) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if base.startswith("hoofenv") and node.level == 0:  # `from hoofenv.x import y`: y may be a module
                found += [(node.lineno, f"{base}.{a.name}", 0) for a in node.names]
            else:
                found.append((node.lineno, base, node.level))
    return found


def folder(path: Path) -> str | None:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else None


def test_only_the_cli_imports_the_cli():
    leaks = [f"{p.relative_to(REPO)}:{line} imports {mod}" for p in modules() if folder(p) != "commands"
             and p.name != "__main__.py" for line, mod, _ in imports(p) if mod.startswith("hoofenv.commands")]
    assert not leaks, leaks


def test_each_stage_imports_only_the_stages_below_it():
    wrong = []
    for p in modules():
        here = folder(p)
        if here in (None, "commands", "inenv"):
            continue
        allowed = {f"hoofenv.{x}" for x in MAY_IMPORT[here] | {here}} | SHARED
        for line, mod, level in imports(p):
            if level == 0 and mod.startswith("hoofenv") and not any(mod == a or mod.startswith(a + ".")
                                                                    for a in allowed):
                wrong.append(f"{p.relative_to(REPO)}:{line} imports {mod}")
    assert not wrong, wrong


def test_the_shared_modules_import_nothing_above_them():
    for name in ("errors.py", "files.py", "paths.py"):
        mods = {m.rsplit(".", 1)[0] for _, m, _ in imports(PACKAGE / name) if m.startswith("hoofenv")}
        assert mods <= {"hoofenv.errors"}, (name, mods)


def test_code_run_inside_the_env_uses_the_standard_library_and_the_stack_only():
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    wrong = []
    for p in sorted((PACKAGE / "inenv").glob("*.py")):
        for line, mod, level in imports(p):
            top = mod.split(".")[0]
            if level == 0 and top not in stdlib and top not in STACK and not (p.name == ONNX_RUNNER
                                                                                and top in ONNX_ENV):
                wrong.append(f"{p.name}:{line} imports {mod}")
    assert not wrong, wrong


def test_the_onnx_runner_needs_nothing_of_the_training_stack():
    """inenv/onnx_runner.py and every in-env module it imports, at any depth: standard library, numpy, onnxruntime
    and Pillow only (the light env of `hoofenv predict --onnx` has no torch, mmcv, MMPose or OpenCV)."""
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    todo, seen, wrong = [ONNX_RUNNER], set(), []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line, mod, level in imports(PACKAGE / "inenv" / name):
            if level == 1:
                todo += [f"{m}.py" for m in ([mod] if mod else [])]
                todo += [f"{a.name}.py" for node in ast.walk(ast.parse((PACKAGE / "inenv" / name).read_text()))
                         if isinstance(node, ast.ImportFrom) and node.level == 1 and not node.module
                         for a in node.names]
            elif mod.split(".")[0] not in stdlib | ONNX_ENV:
                wrong.append(f"{name}:{line} imports {mod}")
    assert {"drawing.py", "results.py", "angles.py", "protocol.py"} <= seen
    assert not wrong, wrong


def test_no_function_is_longer_than_80_lines():
    long = []
    for p in modules():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{p.relative_to(REPO)}:{node.lineno} {node.name}: {n} lines")
    assert not long, long


@pytest.mark.parametrize("literal, home", [
    ('"opencv-python-headless"', "inenv/protocol.py"),
    ('"hoofenv-plan.json"', "machine/environment.py"),
    ('"HOOFENV_CACHE_DIR"', "paths.py"),
    ('"HOOFENV_GPU_MEMORY_GIB"', "machine/probe.py"),
    ('"python.version"', "inenv/protocol.py"),
    ("EXIT_OOM = ", "inenv/protocol.py"),
    ('OK, WARN, FAIL, SKIP = ', "inenv/protocol.py"),
])
def test_each_shared_constant_has_one_home(literal, home):
    where = [str(p.relative_to(PACKAGE)) for p in modules() if literal in p.read_text()]
    assert where == [home], f"{literal} is defined in {where}, expected only {home}"


def test_every_error_code_is_registered():
    codes = set()
    for p in modules():
        text = p.read_text()
        codes |= set(re.findall(r'\bcode=f?"([a-z0-9:-]+)', text))
    # an f-string's literal prefix (`demo-{name}`) must begin registered codes
    unregistered = sorted(c for c in codes if not registered(c)
                          and not (c.endswith("-") and any(k.startswith(c) for k in CODES)))
    assert not unregistered, f"add these to hoofenv/errors.py CODES: {unregistered}"


def test_every_test_the_promises_page_names_exists():
    """docs/PROMISES.md lists each promise with the tests that hold it: a renamed or deleted test breaks this."""
    text = (REPO / "docs" / "PROMISES.md").read_text()
    missing = []
    current = None
    for token in re.findall(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`|(?<=, )`::(\w+)`", text):
        path, name, bare = token
        if path:
            current = REPO / path
            if not current.exists():
                missing.append(path)
                continue
        name = name or bare
        if name and current is not None and not re.search(rf"^def {name}\(", current.read_text(), re.M):
            missing.append(f"{current.relative_to(REPO)}::{name}")
    assert not missing, missing
