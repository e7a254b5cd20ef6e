"""The mmcv sdist unpacked into the build folder and patched as the plan says, with a record of each patch.

Run as a build step (`python -m hoofenv.install.sdist SDIST_DIR DEST PATCHES_FILE`), so `install --dry-run` shows it
and its log holds what it changed. Unpacking accepts only plain files and folders inside DEST (no links, no absolute
or `..` paths); a patch that no longer finds its text stops the build rather than compile unpatched sources.
"""

from __future__ import annotations

import json
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from hoofenv.errors import HoofenvError
from hoofenv.files import atomic_write_text

RECORD = "hoofenv-patches.json"


def _safe_name(name: str, archive: Path) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise HoofenvError(f"{archive.name} holds an unsafe path: {name}", [f"archive: {archive}"],
                           hint="the sdist is not what PyPI publishes: delete it and retry", code="sdist-unsafe")
    return name


def unpack(archive: Path, dest: Path) -> Path:
    """The sdist's top folder under `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    tops = set()
    if archive.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                name = _safe_name(member.name, archive)
                if not (member.isfile() or member.isdir()):
                    raise HoofenvError(f"{archive.name} holds a link or device: {name}", [f"archive: {archive}"],
                                       hint="the sdist is not what PyPI publishes: delete it and retry",
                                       code="sdist-unsafe")
                tops.add(PurePosixPath(name).parts[0])
                target = dest / name
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with tf.extractfile(member) as src, open(target, "wb") as out:
                    out.write(src.read())
    elif archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                tops.add(PurePosixPath(_safe_name(name, archive)).parts[0])
            zf.extractall(dest)
    else:
        raise HoofenvError(f"{archive.name} is not an sdist (.tar.gz or .zip)", hint="delete it and retry",
                           code="sdist-unsafe")
    if len(tops) != 1:
        raise HoofenvError(f"{archive.name} does not unpack into one folder ({', '.join(sorted(tops))})",
                           hint="delete it and retry", code="sdist-unsafe")
    return dest / tops.pop()


def unity(src: Path, patch: dict) -> dict:
    """The `*.cpp` files of one folder (but `exclude`) compiled as `units` translation units that #include them.

    mmcv's thin op wrappers each parse all of torch's headers (~20 s of a core each, 56 of them) to compile a few
    lines; as two units the headers are parsed twice. The parts are renamed `NAME.cpp.unity` in place (setup.py
    globs `*.cpp`; their own relative #includes still resolve) and `hoofenv_unity_N.cpp` include them."""
    folder = src / patch["unity"]
    names = sorted(p.name for p in folder.glob("*.cpp") if p.name not in patch.get("exclude", ()))
    if not names:
        raise HoofenvError(f"the unity build finds no sources in {patch['unity']}", [f"why it exists: {patch['why']}"],
                           hint="the sdist changed: update `mmcv_build.unity` in compat_matrix.yaml",
                           code="sdist-patch")
    units = [names[i::patch["units"]] for i in range(min(patch["units"], len(names)))]
    for name in names:
        (folder / name).rename(folder / f"{name}.unity")
    for i, unit in enumerate(units):
        atomic_write_text(folder / f"hoofenv_unity_{i}.cpp", "// written by hoofenv: " + patch["why"] + "\n"
                          + "".join(f'#include "{name}.unity"\n' for name in unit))
    return {**patch, "places": len(names)}


def apply(src: Path, patches: list[dict]) -> list[dict]:
    """Each {file, replace, with, why} applied to every occurrence, each {unity, ...} as unity() says; the record
    says how many places each changed."""
    done = []
    for patch in patches:
        if "unity" in patch:
            done.append(unity(src, patch))
            continue
        target = src / patch["file"]
        try:
            text = target.read_text()
        except OSError as exc:
            raise HoofenvError(f"cannot patch {patch['file']} in the mmcv sdist", [str(exc)],
                               hint="the sdist differs from the one the matrix's patch was written for",
                               code="sdist-patch") from exc
        count = text.count(patch["replace"])
        if not count:
            raise HoofenvError(f"the patch for {patch['file']} no longer applies: it has no {patch['replace']}",
                               [f"why the patch exists: {patch['why']}"],
                               hint="the sdist changed: update `mmcv_build.patches` in compat_matrix.yaml",
                               code="sdist-patch")
        atomic_write_text(target, text.replace(patch["replace"], patch["with"]))
        done.append({**patch, "places": count})
    atomic_write_text(src / RECORD, json.dumps(done, indent=2) + "\n")
    return done


def prepare(sdist_dir: Path, dest: Path, patches: list[dict]) -> tuple[Path, list[dict]]:
    archives = sorted(p for p in sdist_dir.iterdir() if p.name.endswith((".tar.gz", ".tgz", ".zip")))
    if len(archives) != 1:
        raise HoofenvError(f"expected one sdist in {sdist_dir}, found {len(archives)}", hint="retry the install",
                           code="sdist-unsafe")
    src = unpack(archives[0], dest)
    return src, apply(src, patches)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: python -m hoofenv.install.sdist SDIST_DIR DEST PATCHES_FILE", file=sys.stderr)
        return 2
    try:
        src, done = prepare(Path(args[0]), Path(args[1]), json.loads(Path(args[2]).read_text()))
    except (HoofenvError, ValueError, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"unpacked {src}")
    for p in done:
        if "unity" in p:
            units = f"{p['units']} unit" + ("s" if p["units"] > 1 else "")
            print(f"unity build: {p['places']} sources of {p['unity']} as {units}: {p['why']}")
        else:
            print(f"patched {p['file']}: {p['replace']} -> {p['with']} ({p['places']} places): {p['why']}")
    if not done:
        print("no patches for this torch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
