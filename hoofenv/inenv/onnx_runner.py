"""Top-down inference with an exported model and nothing of the training stack:

    PY hoofenv/inenv/launch.py onnx MODEL.onnx IMAGES... -o DIR [--bboxes FILE] [--angles auto|JSON] [--threads N]

PY needs numpy, onnxruntime and Pillow only (no torch, mmcv, MMPose or OpenCV): the light env of
`hoofenv predict --onnx`. The model carries what the PyTorch path knows from its config (`hoofenv export`
writes it as the metadata entry META_KEY): input size, normalisation, box padding, SimCC split ratio, keypoint
names, skeleton, category, flip pairs. This module repeats MMPose's top-down steps for one box (GetBBoxCenterScale,
TopdownAffine without rotation -- cv2.warpAffine's fixed-point bilinear warp reproduced bit for bit --,
PoseDataPreprocessor, SimCCLabel.decode, the inverse affine) in numpy, so its predictions.json, pictures and angles
are those of predict_runner.py (tests/export/test_onnx_real.py holds it to 1 pixel). Pillow decodes the pictures:
JPEG through libjpeg-turbo as OpenCV does (the same pixels here), EXIF orientation applied as cv2.imread does.
The standard library at the top: numpy, onnxruntime and PIL are imported in main, where their absence becomes a
`missing-package` event and protocol.EXIT_MISSING_PACKAGE.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from . import drawing, protocol, results

META_KEY = "hoofenv"
META_FORMAT = 1
NEEDS = {"numpy": "numpy", "onnxruntime": "onnxruntime", "PIL": "pillow"}


def parse_args(argv: list[str] | None):
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("images", nargs="+")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--bboxes")
    ap.add_argument("--angles", help="auto, or a JSON object of role -> keypoint name")
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0: its default)")
    return ap.parse_args(argv)


def read_meta(session) -> dict:
    raw = session.get_modelmeta().custom_metadata_map.get(META_KEY)
    if raw is None:
        raise ValueError(f"the model has no '{META_KEY}' metadata: export it with `hoofenv export --onnx`")
    meta = json.loads(raw)
    if meta.get("format") != META_FORMAT:
        raise ValueError(f"metadata format {meta.get('format')!r}; this runner reads {META_FORMAT}")
    return meta


def center_scale(box, meta: dict, np):
    """GetBBoxCenterScale (padding) then TopdownAffine's aspect fix, in float32 as MMPose computes them:
    (centre x, y), (scale w, h)."""
    w, h = meta["input_size"]
    bbox = np.asarray(box, dtype=np.float32)
    scale = (bbox[2:] - bbox[:2]) * meta["bbox_padding"]
    centre = (bbox[2:] + bbox[:2]) * 0.5
    aspect = w / h
    sw, sh = scale[0:1], scale[1:2]
    scale = np.where(sw > sh * aspect, np.hstack([sw, sw / aspect]), np.hstack([sh * aspect, sh]))
    return centre, scale


def warp_matrix(centre, scale, size, np):
    """mmpose's get_warp_matrix(rot=0, fix_aspect_ratio=True): three float32 point pairs, solved in float64 as
    cv2.getAffineTransform does. The image -> crop matrix (2 x 3)."""
    w, h = size
    c = np.asarray(centre, dtype=np.float32)
    src, dst = np.zeros((3, 2), np.float32), np.zeros((3, 2), np.float32)
    src[0] = c
    src[1] = c.astype(np.float64) + np.array([float(np.float32(scale[0])) * -0.5, 0.0])
    dst[0] = [w * 0.5, h * 0.5]
    dst[1] = np.array([w * 0.5, h * 0.5]) + np.array([w * -0.5, 0.0])
    for pts in (src, dst):  # _get_3rd_point, in float32 like mmpose
        d = pts[0] - pts[1]
        pts[2] = pts[1] + np.array([-d[1], d[0]], dtype=np.float32)
    a = [[0.0] * 6 for _ in range(6)]
    for i in range(3):
        a[2 * i][0:3] = a[2 * i + 1][3:6] = [float(src[i, 0]), float(src[i, 1]), 1.0]
    return np.array(solve_like_cv2(a, [float(v) for v in dst.reshape(6)])).reshape(2, 3)


def solve_like_cv2(a: list, b: list) -> list:
    """cv::solve(A, b, DECOMP_LU) of a small system as OpenCV 4's hal::LU64f does it (matrix_decomp.cpp LUImpl:
    partial pivoting, elimination by -1/pivot, back substitution dividing by the pivot), in Python floats, each
    product and sum rounded apart as in its baseline build. LAPACK's dgesv (np.linalg.solve) differs in the last
    bits for most boxes, and for about one in two thousand that flips the rounding of the warp's 1/1024 pixel
    offsets on whole rows of the crop."""
    a, b, m = [row[:] for row in a], b[:], len(b)
    for i in range(m):
        k = max(range(i, m), key=lambda j: (abs(a[j][i]), -j))
        if a[k][i] == 0.0:
            raise ValueError("singular warp matrix")
        a[i], a[k], b[i], b[k] = a[k], a[i], b[k], b[i]
        d = -1.0 / a[i][i]
        for j in range(i + 1, m):
            alpha = a[j][i] * d
            for c in range(i + 1, m):
                a[j][c] += alpha * a[i][c]
            b[j] += alpha * b[i]
    for i in range(m - 1, -1, -1):
        s = b[i]
        for c in range(i + 1, m):
            s -= a[i][c] * b[c]
        b[i] = s / a[i][i]
    return b


def _source_maps(m, size, np):
    """cv2.warpAffine's inverse map (imgwarp.cpp, AB_BITS 10): the source x of output pixel (row j, column i) in
    1/1024 pixel is (rx[j] + cx[i]) >> 5 in 1/32 pixel, the source y (ry[j] + cy[i]) >> 5."""
    m0, m1, m2, m3, m4, m5 = (float(v) for v in np.asarray(m, dtype=np.float64).ravel())
    det = m0 * m4 - m1 * m3
    det = 1.0 / det if det != 0 else 0.0
    a11, a22 = m4 * det, m0 * det
    m0, m1, m3, m4 = a11, m1 * -det, m3 * -det, a22
    m2, m5 = -m0 * m2 - m1 * m5, -m3 * m2 - m4 * m5
    w, h = size
    xs, ys = np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)

    def fixed(v):
        return np.rint(v * 1024).astype(np.int64)  # cvRound: half to even, as np.rint

    return (fixed(m1 * ys + m2) + 16, fixed(m0 * xs)), (fixed(m4 * ys + m5) + 16, fixed(m3 * xs))


def _bilinear_rows(img, sx, fx, sy, fy, np):
    """The warp of an axis-aligned map (source column sx + fx/32 for every output row, source row sy + fy/32 for
    every output column): the 2 x 2 neighbours of every output pixel are rows (sy, sy + 1) x columns (sx, sx + 1)
    of the picture, gathered once; a neighbour outside the picture gets weight 0 (BORDER_CONSTANT 0). The integer
    sums are cv2's ((p00 w00 + p01 w01 + p10 w10 + p11 w11) + 2^14) >> 15, regrouped (exact): across the columns
    in int16 (at most 255 x 32), then down the rows in int32. The channels stay interleaved in one row of
    w x C values, so every numpy loop runs over a whole row, not over 3 channels at a time."""
    rows, cols, ch = img.shape
    w, h = len(sx), len(sy)
    ys, xs = np.concatenate([sy, sy + 1]), np.concatenate([sx, sx + 1])
    wy = (np.concatenate([32 - fy, fy]) * ((ys >= 0) & (ys < rows))).astype(np.int32)
    wx = (np.concatenate([32 - fx, fx]) * ((xs >= 0) & (xs < cols))).astype(np.int16)
    columns = (np.clip(xs, 0, cols - 1)[:, None] * ch + np.arange(ch)).ravel()
    p = img.take(np.clip(ys, 0, rows - 1), axis=0).reshape(2 * h, cols * ch).take(columns, axis=1)
    p = np.multiply(p, np.repeat(wx, ch), dtype=np.int16)
    across = np.multiply(p[:, :w * ch] + p[:, w * ch:], wy[:, None], dtype=np.int32)
    out = across[:h] + across[h:]
    out += 512  # (32 s + 2^14) >> 15 == (s + 2^9) >> 10
    out >>= 10
    return out.astype(np.uint8).reshape(h, w, ch)


def _bilinear_any(img, x, y, np):
    """The warp of any map (x, y: H x W source positions in 1/32 pixel), one neighbour at a time."""
    rows, cols, channels = img.shape
    flat = img.reshape(rows * cols, channels)
    sx, fx, sy, fy = x >> 5, (x & 31).astype(np.int32), y >> 5, (y & 31).astype(np.int32)

    def tap(yy, xx, weight):
        inside = (xx >= 0) & (xx < cols) & (yy >= 0) & (yy < rows)
        return flat.take(np.where(inside, yy * cols + xx, 0), axis=0) * (weight * inside)[..., None]

    out = (tap(sy, sx, (32 - fx) * (32 - fy)) + tap(sy, sx + 1, fx * (32 - fy)) + tap(sy + 1, sx, (32 - fx) * fy)
           + tap(sy + 1, sx + 1, fx * fy)) * 32
    return ((out + (1 << 14)) >> 15).astype(np.uint8)


def warp_like_cv2(img, m, size, np):
    """cv2.warpAffine(img, m, size, flags=INTER_LINEAR) of a uint8 H x W x C picture, bit for bit as OpenCV 4.8
    does it (imgwarp.cpp): the inverse map in double, source positions in 1/32 pixel (AB_BITS 10, INTER_BITS 5,
    cvRound half to even), bilinear weights in 15-bit fixed point, BORDER_CONSTANT 0 for neighbours outside.
    TopdownAffine without rotation maps columns to columns and rows to rows: each group of output rows that share
    the rounding of their x offset (one or two groups) is warped from its rows x columns of neighbours; any other
    map takes the general path. Either touches only the output's neighbours, never the whole picture."""
    (rx, cx), (ry, cy) = _source_maps(m, size, np)
    w, h = size
    if cy.any():
        x, y = (rx[:, None] + cx[None, :]) >> 5, (ry[:, None] + cy[None, :]) >> 5
        return _bilinear_any(img, x, y, np)
    y = ry >> 5

    def rows(offset, group):
        x = (offset + cx) >> 5
        return _bilinear_rows(img, x >> 5, x & 31, y[group] >> 5, y[group] & 31, np)

    offsets = np.unique(rx)
    if len(offsets) == 1:  # the usual case: no output array to copy into
        return rows(offsets[0], slice(None))
    out = np.empty((h, w, img.shape[2]), dtype=np.uint8)
    for offset in offsets:
        group = rx == offset
        out[group] = rows(offset, group)
    return out


def crop(rgb, centre, scale, meta: dict, np):
    """The input tensor (1, 3, H, W) of one box: TopdownAffine's warp, then PoseDataPreprocessor's normalisation."""
    size = meta["input_size"]
    return normalise(warp_like_cv2(rgb, warp_matrix(centre, scale, size, np), size, np), meta, np)


def normalise(warped, meta: dict, np):
    """(x - mean) / std in float32, as PoseDataPreprocessor (mean and std are for RGB when bgr_to_rgb, as the
    config says), channels first before the arithmetic so that every loop runs over whole rows."""
    chw = warped.transpose(2, 0, 1)
    if not meta["bgr_to_rgb"]:  # a model trained on cv2's BGR as it comes
        chw = chw[::-1]
    x = np.ascontiguousarray(chw, dtype=np.float32)
    x -= np.asarray(meta["mean"], dtype=np.float32)[:, None, None]
    x /= np.asarray(meta["std"], dtype=np.float32)[:, None, None]
    return x[None]


def decode(simcc_x, simcc_y, meta: dict, np):
    """SimCCLabel.decode (get_simcc_maximum without softmax): locations in input pixels, scores."""
    xs, ys = simcc_x.argmax(-1), simcc_y.argmax(-1)
    vals = np.minimum(simcc_x.max(-1), simcc_y.max(-1))
    locs = np.stack([xs, ys], axis=-1).astype(np.float32)
    locs[vals <= 0.0] = -1
    return locs / meta["simcc_split_ratio"], vals


def infer(session, batch, meta: dict, np):
    simcc_x, simcc_y = session.run(None, {session.get_inputs()[0].name: batch})
    if meta.get("flip_test"):
        fx, fy = session.run(None, {session.get_inputs()[0].name: np.ascontiguousarray(batch[..., ::-1])})
        flip = meta["flip_indices"]
        simcc_x = (simcc_x + fx[:, flip, ::-1]) * 0.5
        simcc_y = (simcc_y + fy[:, flip]) * 0.5
    return decode(simcc_x, simcc_y, meta, np)


ORIENTATION = 0x0112  # the EXIF tag exif_transpose reads


def open_rgb(path: str):
    """The picture as an RGB PIL image turned by its EXIF orientation, as cv2.imread reads it; None when it cannot
    be read. No copy where none is needed (exif_transpose and convert both copy an image they leave as it is: 0.6 ms
    of a picture's 8 here). Loading a picture opened by name closes its file, so the image stays usable."""
    from PIL import Image, ImageOps

    try:
        image = Image.open(path)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    try:
        image.load()
        if image.getexif().get(ORIENTATION, 1) != 1:
            image = ImageOps.exif_transpose(image)
        return image if image.mode == "RGB" else image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        image.close()
        return None


def predict_image(session, meta: dict, image_id: int, path: str, boxes: dict, roles, out: Path, np):
    started = time.perf_counter()
    image = open_rgb(path)
    if image is None:
        return None
    xyxy = results.boxes_xyxy(boxes, path, *image.size)
    frames = [center_scale(b, meta, np) for b in xyxy]
    rgb = np.asarray(image)
    batch = np.concatenate([crop(rgb, c, s, meta, np) for c, s in frames])
    locs, scores = infer(session, batch, meta, np)
    size = np.asarray(meta["input_size"])  # ints: float64 from here on, as mmpose's add_pred_to_datasample
    found, instances = [], []
    for n, (centre, scale) in enumerate(frames):
        kps = locs[n] / size * scale + centre - 0.5 * scale
        rec = results.record(image_id, path, kps.tolist(), scores[n].tolist(), xyxy[n])
        found.append(rec)
        pts = results.angle_points(rec)
        instances.append(dict(kps=list(zip(rec["keypoints"][0::3], rec["keypoints"][1::3])), box=xyxy[n],
                              points=pts, angles=drawing.measured(pts, roles)))
    seconds = time.perf_counter() - started
    drawing.draw(image, instances, meta["keypoints"], meta.get("skeleton", []), roles)
    drawing.save(image, out / (Path(path).stem + ".png"))
    protocol.emit("image", image_id=image_id, path=path, width=image.size[0], height=image.size[1],
                  instances=len(found), seconds=round(seconds, 5))
    return found, seconds


def _imports():
    """numpy and onnxruntime, or a `missing-package` event naming what to install."""
    missing = []
    for module, package in NEEDS.items():
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        protocol.emit("missing-package", package=" ".join(missing))
        raise SystemExit(protocol.EXIT_MISSING_PACKAGE)
    import numpy
    import onnxruntime

    return numpy, onnxruntime


def spare_core() -> bool:
    """Whether the last minute left at least one core idle (1-minute load average below cores - 0.5)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        return os.getloadavg()[0] < cores - 0.5
    except OSError:
        return False


def open_session(ort, model: str, threads: int):
    """One session for every picture. Its intra-op threads spin while they wait only when a core is free: on an
    idle 2-core machine spinning halves session.run (4.3 ms against 7.8 ms), while on cores busy with other work a
    spinning thread burns the time slice another one needs (7.8 ms without, 19.6 ms with; docs/PERFORMANCE.md)."""
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spare_core() else "0")
    options.log_severity_level = 3
    session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    return session, read_meta(session)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    np, ort = _imports()
    try:
        session, meta = open_session(ort, args.model, args.threads)
    except Exception as exc:  # noqa: BLE001 -- onnxruntime's own errors (not a model, truncated) are plain
        protocol.emit("model-unreadable", path=args.model, message=str(exc).strip().splitlines()[-1][:300])
        return protocol.EXIT_USAGE
    roles = results.angle_roles(meta["keypoints"], args.angles)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    boxes = results.boxes_or_exit(args.bboxes)
    found, seconds = [], []
    for image_id, image in enumerate(args.images, start=1):
        done = predict_image(session, meta, image_id, image, boxes, roles, out, np)
        if done is None:
            protocol.emit("unreadable", image=image)
            return protocol.EXIT_USAGE
        found += done[0]
        seconds.append(done[1])
    results.write_predictions(out, found)
    protocol.emit("predicted", instances=len(found), images=len(args.images), out=str(out),
                  keypoints=meta["keypoints"], skeleton=meta.get("skeleton", []),
                  category=meta.get("category", "hoof"), seconds_per_image=results.median_after_first(seconds),
                  backend="onnxruntime")
    return protocol.EXIT_OK
