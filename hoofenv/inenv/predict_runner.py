"""Top-down inference inside the managed env: `ENV_PYTHON hoofenv/inenv/launch.py predict CONFIG CKPT -o DIR IMAGES...`.

Boxes come from a COCO-style JSON (`--bboxes`: a list of {"file_name" or "image_id", "bbox": [x, y, w, h]}, or a
COCO file with images and annotations); without it each whole image is one box. Writes DIR/predictions.json (COCO
results: image_id, category_id, keypoints [x, y, score]*K, score, bbox, file_name) and DIR/NAME.png with the
keypoints drawn. Reports through protocol events and exit codes.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from . import checkpoint, protocol


def load_boxes(path: str | None) -> dict[str, list[list[float]]]:
    if not path:
        return {}
    data = json.loads(Path(path).read_text())
    by_name: dict[str, list[list[float]]] = {}
    if isinstance(data, dict) and "annotations" in data:
        names = {i["id"]: i["file_name"] for i in data.get("images", [])}
        for ann in data["annotations"]:
            if ann.get("bbox"):
                by_name.setdefault(os.path.basename(names.get(ann["image_id"], "")), []).append(ann["bbox"])
    else:
        for rec in data:
            key = os.path.basename(str(rec.get("file_name", rec.get("image_id", ""))))
            by_name.setdefault(key, []).append(rec["bbox"])
    return by_name


def parse_args(argv: list[str] | None):
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("checkpoint")
    ap.add_argument("images", nargs="+")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--bboxes")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--trust-checkpoint", action="store_true")
    ap.add_argument("--export-onnx", action="store_true")
    return ap.parse_args(argv)


def draw(vis, kps, scores, box, skeleton, names, name2id, width: int) -> None:
    import cv2

    cv2.rectangle(vis, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])), (255, 200, 0), 1)
    for a, b in skeleton:
        ia, ib = name2id.get(a), name2id.get(b)
        if ia is not None and ib is not None:
            cv2.line(vis, tuple(int(v) for v in kps[ia]), tuple(int(v) for v in kps[ib]), (0, 255, 255), 1)
    for k, (x, y) in enumerate(kps):
        cv2.circle(vis, (int(x), int(y)), max(2, width // 100), (0, 0, 255), -1)
        cv2.putText(vis, names.get(k, str(k)), (int(x) + 3, int(y) - 3), cv2.FONT_HERSHEY_SIMPLEX,
                    max(0.3, width / 800), (255, 255, 255), 1)


def predict_image(model, image_id: int, image: str, boxes: dict, out: Path) -> list[dict] | None:
    """The COCO results for one picture (and its drawn PNG), or None when the picture does not decode."""
    import cv2
    import numpy as np
    from mmpose.apis import inference_topdown
    from mmpose.structures import merge_data_samples

    img = cv2.imread(image)
    if img is None:
        return None
    h, w = img.shape[:2]
    bxs = boxes.get(os.path.basename(image))
    xyxy = np.array([[x, y, x + bw, y + bh] for x, y, bw, bh in bxs], dtype=np.float32) if bxs \
        else np.array([[0, 0, w, h]], dtype=np.float32)
    merged = merge_data_samples(inference_topdown(model, img, xyxy, bbox_format="xyxy"))
    kps, scores = merged.pred_instances.keypoints, merged.pred_instances.keypoint_scores
    meta = model.dataset_meta
    skeleton = [tuple(v["link"]) for v in meta.get("skeleton_info", {}).values()] \
        if isinstance(meta.get("skeleton_info"), dict) else []
    names = meta.get("keypoint_id2name", {})
    name2id = {v: k for k, v in names.items()}
    vis, results = img.copy(), []
    for n in range(len(kps)):
        flat = []
        for (x, y), s in zip(kps[n], scores[n]):
            flat += [round(float(x), 2), round(float(y), 2), round(float(s), 4)]
        box = xyxy[n]
        results.append(dict(image_id=image_id, file_name=os.path.basename(image), category_id=1, keypoints=flat,
                            score=round(float(np.mean(scores[n])), 4),
                            bbox=[float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]))
        draw(vis, kps[n], scores[n], box, skeleton, names, name2id, w)
    cv2.imwrite(str(out / (Path(image).stem + ".png")), vis)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # hoofenv's own checkpoints (recorded where they were saved) load with numpy types and HistoryBuffer, others
    # with numpy types, all under weights_only; --trust-checkpoint: weights_only=False for this file
    checkpoint.install([args.checkpoint] if args.trust_checkpoint else [])
    from mmpose.apis import init_model

    model = init_model(args.config, args.checkpoint, device=args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    boxes = load_boxes(args.bboxes)
    results = []
    for image_id, image in enumerate(args.images, start=1):
        found = predict_image(model, image_id, image, boxes, out)
        if found is None:
            protocol.emit("unreadable", image=image)
            return protocol.EXIT_USAGE
        results += found
    (out / "predictions.json").write_text(json.dumps(results, indent=1))
    protocol.emit("predicted", instances=len(results), images=len(args.images), out=str(out))
    if args.export_onnx:
        try:
            import onnx  # noqa: F401 -- torch.onnx.export needs it
        except ImportError:
            protocol.emit("missing-package", package="onnx")
            return protocol.EXIT_MISSING_PACKAGE
        export_onnx(model, out)
    return protocol.EXIT_OK


def export_onnx(model, out: Path) -> None:
    """torch.onnx of backbone + head (the SimCC x/y logits); decoding (argmax / split ratio) stays outside."""
    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.backbone, self.head = m.backbone, m.head

        def forward(self, x):
            return self.head.forward(self.backbone(x))

    w, h = model.cfg.codec["input_size"]
    dummy = torch.zeros(1, 3, h, w)
    path = out / "model.onnx"
    model.eval()
    torch.onnx.export(Wrapped(model).eval(), dummy, str(path), input_names=["input"],
                      output_names=["simcc_x", "simcc_y"], opset_version=17,
                      dynamic_axes={"input": {0: "batch"}, "simcc_x": {0: "batch"}, "simcc_y": {0: "batch"}},
                      dynamo=False)
    protocol.emit("onnx", path=str(path), input=[1, 3, h, w], outputs=["simcc_x", "simcc_y"])
