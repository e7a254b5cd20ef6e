"""The picture files of an export as MMPose's loader will see them, judged from their headers.

MMPose 1.3's `LoadImage` calls `mmcv.imfrombytes(bytes, flag='color', backend='cv2')`, i.e. OpenCV's
`imdecode(IMREAD_COLOR)`. Measured with OpenCV 4.8.1 / mmcv 2.1.0 (tests/data/test_data_images.py re-measures
it in the real stack):

- EXIF orientation 5-8 (a quarter turn) swaps width and height for JPEG, PNG (eXIf) and TIFF; OpenCV ignores it
  in WebP. CVAT writes the turned size for every format (`image_size_within_orientation`, orientation > 4), so a
  turned WebP really is decoded at another size than its JSON says.
- GIF is not decoded (OpenCV < 4.11): the loader gets None and training stops on an assertion. So do an empty
  file, a file that is no picture, a PNG cut short (no IEND chunk), and more than 2^30 pixels (OpenCV's
  CV_IO_MAX_IMAGE_PIXELS), and a JPEG cut before its scan (SOS) begins. A JPEG cut later is decoded with a grey
  bottom (no error, no finding).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from hoofenv.data.imagesize import header

MAX_PIXELS = 1 << 30  # OpenCV's CV_IO_MAX_IMAGE_PIXELS default
TURNING = {"jpeg", "png", "tiff"}  # formats whose EXIF orientation OpenCV applies


@dataclass
class Decoded:
    width: int = 0
    height: int = 0
    problem: str | None = None  # why the loader gets no picture
    turned: bool = False  # width and height swapped by the EXIF orientation
    too_large: bool = False


def unsafe_reason(name: str) -> str | None:
    """Why a file_name would leave the images folder (absolute, `..`, a drive), or None."""
    if "\x00" in name:
        return "holds a NUL character"
    if PurePosixPath(name).is_absolute() or name.startswith("\\") or PureWindowsPath(name).drive:
        return "is an absolute path, outside the images folder"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "climbs out of the images folder with '..'"
    return None


def inside(root: Path, name) -> Path | None:
    """ROOT/NAME when NAME is a relative path that stays inside ROOT (by its text), else None."""
    if not isinstance(name, str) or not name or unsafe_reason(name):
        return None
    return root / name


def decoded(path: Path) -> Decoded:
    """The size OpenCV's IMREAD_COLOR gives, or why it gives nothing (see the module docstring)."""
    h = header(path)
    if h is None:
        return Decoded(problem="its header is cut short or broken")
    if not h.format:
        return Decoded(problem="is empty (0 bytes)" if h.bytes == 0 else
                       "is not a picture (no PNG, JPEG, BMP, WebP or TIFF signature)")
    if h.format == "gif":
        return Decoded(problem="is a GIF, which OpenCV (MMPose's decoder) cannot read before 4.11")
    if h.format == "png" and not h.complete:
        return Decoded(problem="is a PNG cut short (no IEND chunk): OpenCV cannot decode it")
    if h.format == "jpeg" and not h.complete:
        return Decoded(problem="is a JPEG cut short before its image data: OpenCV cannot decode it")
    if h.width <= 0 or h.height <= 0:
        return Decoded(problem=f"has a size of {h.width}x{h.height} in its header")
    turned = h.format in TURNING and h.orientation in (5, 6, 7, 8)
    w, ht = (h.height, h.width) if turned else (h.width, h.height)
    return Decoded(w, ht, turned=turned, too_large=w * ht > MAX_PIXELS)


def check_files(files: list[tuple], root: Path, add) -> None:
    """Findings for each (image id, file_name, width, height) under ROOT."""
    for iid, fname, w, h in files:
        path = root / fname
        try:
            present = path.is_file()
        except OSError:
            present = False
        if not present:
            add("image-file-missing", iid, str(path))
            continue
        d = decoded(path)
        if d.problem:
            add("image-unreadable", iid, f"{fname} {d.problem}")
        elif d.too_large:
            add("image-too-large", iid, f"{fname}: {d.width}x{d.height} is over OpenCV's 2^30 pixels")
        elif (w, h) != (d.width, d.height):
            how = " after its EXIF orientation" if d.turned else ""
            add("image-size-mismatch", iid,
                f"{fname}: decoded {d.width}x{d.height}{how}, JSON {w}x{h}")
