"""Pictures as MMPose's loader decodes them: EXIF orientation (JPEG, PNG, TIFF turned; WebP not), and files
that make training crash (empty, no picture, cut short, GIF, over 2^30 pixels) are errors in `check --images`;
`preview` draws on the turned pixels, reads nothing outside --images and lists what it cannot draw instead of
crashing. The stack test decodes the same generated files with mmcv/OpenCV and holds hoofenv to its answers."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoofenv.data.imagefiles import MAX_PIXELS, decoded
from tests.data.helpers import cvat_export
from tests.data.hostile import run

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "TIFF": "tif"}
TURNED_BY_OPENCV = {"JPEG", "PNG", "TIFF"}  # measured with OpenCV 4.8.1; the stack test re-measures it


def picture(fmt: str, orientation: int, w: int = 60, h: int = 40) -> bytes:
    """W x H pixels as stored, red in the top rows, with EXIF orientation ORIENTATION."""
    im = Image.new("RGB", (w, h), (0, 0, 200))
    for x in range(w):
        for y in range(8):
            im.putpixel((x, y), (230, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def png(w: int, h: int, body: bytes | None = None, end: bool = True) -> bytes:
    """A 1-bit grey PNG of W x H (all black), or a header with BODY as its only data."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    if body is None:
        row = b"\x00" * (1 + (w + 7) // 8)
        c = zlib.compressobj(9)
        body = b"".join(c.compress(row * min(256, h - i)) for i in range(0, h, 256)) + c.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + (chunk(b"IEND", b"") if end else b""))


def export_for(files: dict[str, tuple[int, int]]) -> dict:
    """An export whose images are FILES (name -> JSON width, height), one annotation each."""
    data = cvat_export(n_images=len(files), per_image=1)
    for img, (name, (w, h)) in zip(data["images"], files.items()):
        img.update(file_name=name, width=w, height=h)
    for a in data["annotations"]:
        a["bbox"] = [1.0, 1.0, 20.0, 20.0]
        a["keypoints"] = [5.0, 5.0, 2, 10.0, 5.0, 2, 5.0, 10.0, 2, 10.0, 10.0, 2]
        a["area"] = 400.0
    return data


def cvat_size(orientation: int, w: int = 60, h: int = 40) -> tuple[int, int]:
    """What CVAT writes: the turned size for orientation > 4, whatever the format (image_size_within_orientation)."""
    return (h, w) if orientation > 4 else (w, h)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_exif_orientation_follows_what_opencv_decodes(tmp_path, fmt):
    files = {}
    for orientation in (1, 3, 6, 8):
        name = f"o{orientation}.{FORMATS[fmt]}"
        (tmp_path / "images").mkdir(exist_ok=True)
        (tmp_path / "images" / name).write_bytes(picture(fmt, orientation))
        files[name] = cvat_size(orientation)
    (tmp_path / "ann.json").write_text(json.dumps(export_for(files)))
    code, out, err = run("data", "check", str(tmp_path / "ann.json"), "--images", str(tmp_path / "images"), "--json")
    mismatch = next((f for f in json.loads(out)["findings"] if f["code"] == "image-size-mismatch"), None)
    if fmt in TURNED_BY_OPENCV:
        assert mismatch is None and code == 0, out
    else:  # CVAT turns the size, OpenCV does not turn a WebP: MMPose really gets 60x40 for a 40x60 JSON
        assert code == 1 and mismatch["ids"] == [3, 4], out
        assert "decoded 60x40, JSON 40x60" in mismatch["details"][0]


def test_preview_draws_on_the_turned_pixels(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "turned.jpg").write_bytes(picture("JPEG", 6))  # stored 60x40, red on top
    (tmp_path / "ann.json").write_text(json.dumps(export_for({"turned.jpg": (40, 60)})))
    code, out, err = run("data", "preview", str(tmp_path / "ann.json"), "--images", str(tmp_path / "images"),
                         "-o", str(tmp_path / "pv"), "--json")
    assert code == 0, err
    [drawn] = json.loads(out)["pictures"]
    with Image.open(drawn) as im:
        assert im.size == (40, 60)
        r, g, b = im.convert("RGB").getpixel((36, 30))  # orientation 6: the stored top rows end up on the right
        assert r > 150 and b < 100


@st.composite
def broken_picture(draw):
    """(bytes, what OpenCV does with it): cut short at any point, emptied, replaced by text, a GIF, a header
    claiming more than 2^30 pixels."""
    kind = draw(st.sampled_from(["cut-png", "cut-jpeg", "empty", "text", "gif", "huge-header", "zero-size"]))
    good_png = picture("PNG", 1)
    if kind == "cut-png":
        return good_png[:draw(st.integers(min_value=0, max_value=len(good_png) - 13))], "unreadable"
    if kind == "cut-jpeg":
        jpg = picture("JPEG", 1)
        cut = draw(st.integers(min_value=2, max_value=len(jpg) - 1))
        return jpg[:cut], ("decodes" if cut > jpg.index(b"\xff\xda") + 14 else "unreadable")
    if kind == "empty":
        return b"", "unreadable"
    if kind == "text":
        return draw(st.text(min_size=1, max_size=40)).encode(), "unreadable"
    if kind == "gif":
        buf = io.BytesIO()
        Image.new("RGB", (60, 40)).save(buf, "GIF")
        return buf.getvalue(), "unreadable"
    if kind == "zero-size":
        return png(0, 40, body=b""), "unreadable"
    side = draw(st.integers(min_value=32769, max_value=100000))
    return png(side, side, body=b"\x78\x9c\x03\x00\x00\x00\x00\x01"), "too-large"


@settings(max_examples=30, deadline=None)
@given(case=broken_picture())
def test_pictures_that_stop_training_are_errors_and_preview_lists_them(case):
    data, effect = case
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "images").mkdir()
        (tmp / "images" / "bad.png").write_bytes(data)
        (tmp / "images" / "good.png").write_bytes(picture("PNG", 1))
        (tmp / "ann.json").write_text(json.dumps(export_for({"good.png": (60, 40), "bad.png": (60, 40)})))
        code, out, err = run("data", "check", str(tmp / "ann.json"), "--images", str(tmp / "images"), "--json")
        codes = {f["code"]: f["ids"] for f in json.loads(out)["findings"]}
        if effect == "unreadable":
            assert code == 1 and codes.get("image-unreadable") == [2], codes
        elif effect == "too-large":
            assert code == 1 and codes.get("image-too-large") == [2], codes
        else:
            assert "image-unreadable" not in codes
        code, out, err = run("data", "preview", str(tmp / "ann.json"), "--images", str(tmp / "images"),
                             "-o", str(tmp / "pv"), "--json")
        assert code == 0 and "Traceback" not in err, err
        report = json.loads(out)
        assert len(report["pictures"]) + len(report["skipped"]) == 2
        assert any(p.endswith("1_good.png") for p in report["pictures"])


@given(name=st.sampled_from(["../secret.png", "../../secret.png", "{abs}", "sub/../../secret.png",
                             "..\\secret.png", "C:secret.png"]))
@settings(max_examples=12, deadline=None)
def test_nothing_outside_the_images_folder_is_read(name):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "images" / "sub").mkdir(parents=True)
        (tmp / "secret.png").write_bytes(picture("PNG", 1))
        file_name = name.format(abs=tmp / "secret.png")
        (tmp / "ann.json").write_text(json.dumps(export_for({file_name: (60, 40)})))
        code, out, err = run("data", "check", str(tmp / "ann.json"), "--images", str(tmp / "images"), "--json")
        codes = {f["code"] for f in json.loads(out)["findings"]}
        if "\\" in name or ":" in name:  # a literal backslash or colon is a plain name on Linux: not found
            assert "image-file-missing" in codes or "image-path-outside" in codes
        else:
            assert code == 1 and "image-path-outside" in codes
        code, out, err = run("data", "preview", str(tmp / "ann.json"), "--images", str(tmp / "images"),
                             "-o", str(tmp / "pv"), "--json")
        assert code == 0 and json.loads(out)["pictures"] == []


# -- the real decoder ---------------------------------------------------------------------------------------------

DECODE = """
import json, sys
import mmcv
out = {}
for path in sys.argv[1:]:
    try:
        img = mmcv.imfrombytes(open(path, 'rb').read(), flag='color')  # MMPose's LoadImage, default arguments
        out[path] = None if img is None else [img.shape[1], img.shape[0]]
    except Exception as exc:
        out[path] = None
print(json.dumps(out))
"""


def test_hoofenv_agrees_with_mmcv_and_opencv(tmp_path, stack_python):
    files = {}
    for fmt, ext in FORMATS.items():
        for orientation in (1, 2, 3, 4, 5, 6, 7, 8):
            files[f"{fmt}-{orientation}.{ext}"] = picture(fmt, orientation)
    jpg, good_png = picture("JPEG", 1), picture("PNG", 1)
    buf = io.BytesIO()
    Image.new("RGB", (60, 40)).save(buf, "GIF")
    files.update({"empty.png": b"", "text.jpg": b"not a picture\n", "cut.png": good_png[: len(good_png) // 2],
                  "no-iend.png": good_png[:-12], "cut.jpg": jpg[: len(jpg) // 2], "anim.gif": buf.getvalue(),
                  "cut-in-scan.jpg": jpg[: (jpg.index(b"\xff\xda") + len(jpg)) // 2],
                  "huge.png": png(33000, 33000)})
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    paths = [str(tmp_path / n) for n in files]
    proc = subprocess.run([str(stack_python), "-c", DECODE, *paths], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    opencv = json.loads(proc.stdout.strip().splitlines()[-1])
    for path in paths:
        mine = decoded(Path(path))
        if opencv[path] is None:
            assert mine.problem or mine.too_large, (path, mine)
        else:
            assert not mine.problem and not mine.too_large, (path, mine)
            assert [mine.width, mine.height] == opencv[path], (path, mine, opencv[path])
            assert mine.width * mine.height <= MAX_PIXELS
