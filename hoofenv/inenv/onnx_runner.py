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
    a = np.zeros((6, 6))
    for i in range(3):
        a[2 * i, 0:3] = a[2 * i + 1, 3:6] = [float(src[i, 0]), float(src[i, 1]), 1.0]
    return np.linalg.solve(a, dst.astype(np.float64).reshape(6)).reshape(2, 3)


def warp_like_cv2(img, m, size, np):
    """cv2.warpAffine(img, m, size, flags=INTER_LINEAR) of a uint8 H x W x C picture, bit for bit as OpenCV 4.8
    does it (imgwarp.cpp): the inverse map in double, source positions in 1/32 pixel (AB_BITS 10, INTER_BITS 5,
    cvRound half to even), bilinear weights in 15-bit fixed point, BORDER_CONSTANT 0 for neighbours outside."""
    m0, m1, m2, m3, m4, m5 = (float(v) for v in np.asarray(m, dtype=np.float64).ravel())
    det = m0 * m4 - m1 * m3
    det = 1.0 / det if det != 0 else 0.0
    a11, a22 = m4 * det, m0 * det
    m0, m1, m3, m4 = a11, m1 * -det, m3 * -det, a22
    m2, m5 = -m0 * m2 - m1 * m5, -m3 * m2 - m4 * m5
    w, h = size
    xs, ys = np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)
    x = ((np.rint((m1 * ys + m2) * 1024).astype(np.int64) + 16)[:, None]
         + np.rint(m0 * xs * 1024).astype(np.int64)[None, :]) >> 5
    y = ((np.rint((m4 * ys + m5) * 1024).astype(np.int64) + 16)[:, None]
         + np.rint(m3 * xs * 1024).astype(np.int64)[None, :]) >> 5
    sx, fx, sy, fy = x >> 5, x & 31, y >> 5, y & 31
    rows, cols = img.shape[:2]
    padded = np.zeros((rows + 2, cols + 2, img.shape[2]), dtype=np.int64)
    padded[1:-1, 1:-1] = img
    x0, x1 = np.clip(sx + 1, 0, cols + 1), np.clip(sx + 2, 0, cols + 1)
    y0, y1 = np.clip(sy + 1, 0, rows + 1), np.clip(sy + 2, 0, rows + 1)
    w00, w01 = ((32 - fx) * (32 - fy) * 32)[..., None], (fx * (32 - fy) * 32)[..., None]
    w10, w11 = ((32 - fx) * fy * 32)[..., None], (fx * fy * 32)[..., None]
    out = (padded[y0, x0] * w00 + padded[y0, x1] * w01 + padded[y1, x0] * w10 + padded[y1, x1] * w11
           + (1 << 14)) >> 15
    return np.clip(out, 0, 255).astype(np.uint8)


def crop(rgb, centre, scale, meta: dict, np):
    """The input tensor (1, 3, H, W) of one box: TopdownAffine's warp, then PoseDataPreprocessor's normalisation
    (mean and std are for RGB when bgr_to_rgb, as the config says)."""
    size = meta["input_size"]
    x = warp_like_cv2(rgb, warp_matrix(centre, scale, size, np), size, np).astype(np.float32)
    if not meta["bgr_to_rgb"]:  # a model trained on cv2's BGR as it comes
        x = x[..., ::-1]
    x = (x - np.asarray(meta["mean"], dtype=np.float32)) / np.asarray(meta["std"], dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


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


def predict_image(session, meta: dict, image_id: int, path: str, boxes: dict, roles, out: Path, np):
    from PIL import Image, ImageOps

    started = time.perf_counter()
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")  # cv2.imread turns by EXIF too
    except (OSError, ValueError, Image.DecompressionBombError):
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
    image.save(out / (Path(path).stem + ".png"))
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


def open_session(ort, model: str, threads: int):
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
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
