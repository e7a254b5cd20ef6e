"""Top-down inference inside the managed env: `ENV_PYTHON hoofenv/inenv/launch.py predict CONFIG CKPT -o DIR IMAGES...`
[--bboxes FILE] [--angles auto|JSON] [--export-onnx PATH]`.

Boxes come from a COCO-style JSON (`--bboxes`: a list of {"file_name" or "image_id", "bbox": [x, y, w, h]}, or a
COCO file with images and annotations); without it each whole image is one box. Writes DIR/predictions.json (COCO
results: image_id, category_id, keypoints [x, y, score]*K, score, bbox, file_name) and DIR/NAME.png with the
keypoints (and with --angles the hoof angles) drawn (results.py, drawing.py: shared with the ONNX runner). With
--export-onnx and no images it only exports (onnx_export.py). Reports through protocol events and exit codes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import checkpoint, drawing, protocol, results


def parse_args(argv: list[str] | None):
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("checkpoint")
    ap.add_argument("images", nargs="*")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--bboxes")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--trust-checkpoint", action="store_true")
    ap.add_argument("--export-onnx", metavar="PATH", nargs="?", const="",
                    help="write the model as ONNX there (hoofenv export); without PATH: DIR/model.onnx")
    ap.add_argument("--angles", help="auto, or a JSON object of role -> keypoint name: draw the hoof angles")
    return ap.parse_args(argv)


def predict_image(model, image_id: int, image: str, boxes: dict, roles, out: Path) -> tuple | None:
    """The COCO results for one picture (and its drawn PNG) with the seconds it took, or None when the picture does
    not decode."""
    import time

    import cv2
    import numpy as np
    from mmpose.apis import inference_topdown
    from mmpose.structures import merge_data_samples
    from PIL import Image

    started = time.perf_counter()
    img = cv2.imread(image)
    if img is None:
        return None
    h, w = img.shape[:2]
    xyxy = results.boxes_xyxy(boxes, image, w, h)
    merged = merge_data_samples(inference_topdown(model, img, np.array(xyxy, dtype=np.float32), bbox_format="xyxy"))
    kps, scores = merged.pred_instances.keypoints, merged.pred_instances.keypoint_scores
    found, instances = [], []
    for n in range(len(kps)):
        rec = results.record(image_id, image, kps[n].tolist(), scores[n].tolist(), xyxy[n])
        found.append(rec)
        pts = results.angle_points(rec)
        instances.append(dict(kps=list(zip(rec["keypoints"][0::3], rec["keypoints"][1::3])), box=xyxy[n],
                              points=pts, angles=drawing.measured(pts, roles)))
    seconds = time.perf_counter() - started
    names, skeleton = keypoint_names(model.dataset_meta), skeleton_of(model.dataset_meta)
    picture = Image.fromarray(np.ascontiguousarray(img[..., ::-1]))
    drawing.draw(picture, instances, names, skeleton, roles)
    drawing.save(picture, out / (Path(image).stem + ".png"))
    protocol.emit("image", image_id=image_id, path=image, width=w, height=h, instances=len(found),
                  seconds=round(seconds, 5))
    return found, seconds


def keypoint_names(meta: dict) -> list[str]:
    id2name = meta.get("keypoint_id2name") or {}
    return [str(id2name[i]) for i in sorted(id2name)]


def skeleton_of(meta: dict) -> list[list[int]]:
    return [[int(a), int(b)] for a, b in meta.get("skeleton_links") or []]


def predict_all(model, args, out: Path) -> int:
    """Every picture of args.images -> DIR/predictions.json, DIR/NAME.png and the `predicted` event."""
    boxes = results.boxes_or_exit(args.bboxes)
    names = keypoint_names(model.dataset_meta)
    roles = results.angle_roles(names, args.angles)
    found, seconds = [], []
    for image_id, image in enumerate(args.images, start=1):
        done = predict_image(model, image_id, image, boxes, roles, out)
        if done is None:
            protocol.emit("unreadable", image=image)
            return protocol.EXIT_USAGE
        found += done[0]
        seconds.append(done[1])
    results.write_predictions(out, found)
    protocol.emit("predicted", instances=len(found), images=len(args.images), out=str(out), keypoints=names,
                  skeleton=skeleton_of(model.dataset_meta), category=model.dataset_meta.get("dataset_name", "hoof"),
                  seconds_per_image=results.median_after_first(seconds), backend="torch")
    return protocol.EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # hoofenv's own checkpoints (recorded where they were saved) load with numpy types and HistoryBuffer, others
    # with numpy types, all under weights_only; --trust-checkpoint: weights_only=False for this file
    checkpoint.install([args.checkpoint] if args.trust_checkpoint else [])
    from mmpose.apis import init_model

    model = init_model(args.config, args.checkpoint, device=args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.images:
        rc = predict_all(model, args, out)
        if rc != protocol.EXIT_OK:
            return rc
    if args.export_onnx is not None:
        from . import onnx_export

        return onnx_export.export(model, Path(args.export_onnx) if args.export_onnx else out / "model.onnx")
    return protocol.EXIT_OK
