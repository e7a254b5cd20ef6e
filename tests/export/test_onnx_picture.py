"""The ONNX runner's picture reading (onnx_runner.open_rgb) and the runners' PNG writing (drawing.save): the same
pixels as Pillow's exif_transpose + convert("RGB") for every EXIF orientation and mode, None for what cannot be
read, and no half picture under the final name."""

from __future__ import annotations

import importlib
import importlib.util
import io
import random

import pytest

from tests.conftest import REPO

Image = pytest.importorskip("PIL.Image")
ImageOps = pytest.importorskip("PIL.ImageOps")


@pytest.fixture(scope="module")
def inenv():
    spec = importlib.util.spec_from_file_location("launch", REPO / "hoofenv" / "inenv" / "launch.py")
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    launch.load_package()
    return (importlib.import_module("hoofenv_inenv.onnx_runner"), importlib.import_module("hoofenv_inenv.drawing"))


def _picture(tmp_path, mode: str, orientation: int | None, fmt: str = "JPEG"):
    noise = random.Random(orientation or 0).randbytes(53 * 37 * 3)
    base = Image.frombytes("RGB", (53, 37), noise).convert(mode)
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    path = tmp_path / f"p_{mode}_{orientation}.{fmt.lower()}"
    base.save(path, fmt, exif=exif.tobytes()) if fmt == "JPEG" else base.save(path, fmt)
    return path


@pytest.mark.parametrize("orientation", [None, 1, 2, 3, 4, 5, 6, 7, 8])
@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_open_rgb_turns_and_converts_as_exif_transpose(inenv, tmp_path, mode, orientation):
    run, _ = inenv
    path = _picture(tmp_path, mode, orientation)
    with Image.open(path) as opened:
        want = ImageOps.exif_transpose(opened).convert("RGB")
    got = run.open_rgb(str(path))
    assert got.mode == "RGB" and got.size == want.size and got.tobytes() == want.tobytes()
    if orientation in (5, 6, 7, 8):
        assert got.size == (37, 53)
    got.putpixel((0, 0), (1, 2, 3))  # still a usable picture after its file was closed


def test_open_rgb_palette_png(inenv, tmp_path):
    run, _ = inenv
    path = tmp_path / "p.png"
    Image.frombytes("RGB", (8, 8), bytes(range(192))).convert("P").save(path)
    with Image.open(path) as opened:
        want = opened.convert("RGB").tobytes()
    assert run.open_rgb(str(path)).tobytes() == want


@pytest.mark.parametrize("content", [b"", b"not a picture", "truncated", "directory"])
def test_open_rgb_says_none_for_what_is_not_a_picture(inenv, tmp_path, content):
    run, _ = inenv
    path = tmp_path / "bad.jpg"
    if content == "truncated":
        buf = io.BytesIO()
        Image.new("RGB", (64, 64), (9, 9, 9)).save(buf, "JPEG")
        path.write_bytes(buf.getvalue()[:200])
    elif content == "directory":
        path.mkdir()
    else:
        path.write_bytes(content)
    assert run.open_rgb(str(path)) is None


def test_save_writes_a_whole_png_or_nothing(inenv, tmp_path, monkeypatch):
    _, drawing = inenv
    picture = Image.new("RGB", (40, 30), (200, 10, 10))
    out = tmp_path / "a.png"
    drawing.save(picture, out)
    with Image.open(out) as back:
        assert back.size == (40, 30) and back.getpixel((3, 3)) == (200, 10, 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]

    def full_disk(self, fp, *args, **kwargs):
        with open(fp, "wb") as half:
            half.write(b"\x89PNG\r\n")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(Image.Image, "save", full_disk)
    with pytest.raises(OSError):
        drawing.save(Image.new("RGB", (40, 30)), out)
    with Image.open(out) as back:  # the earlier picture, whole
        assert back.getpixel((3, 3)) == (200, 10, 10)
