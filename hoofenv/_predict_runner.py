"""Top-down inference inside the managed env: `ENV_PYTHON hoofenv/_predict_runner.py CONFIG CKPT -o DIR IMAGES...`.

Executed by path (imports only the stack and the standard library). Boxes come from a COCO-style JSON
(`--bboxes`: a list of {"file_name" or "image_id", "bbox": [x, y, w, h]}, or a COCO file with images and
annotations); without it each whole image is one box. Writes DIR/predictions.json (COCO results: image_id,
category_id, keypoints [x, y, score]*K, score, bbox, file_name) and DIR/NAME.png with the keypoints drawn.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("checkpoint")
    ap.add_argument("images", nargs="+")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--bboxes")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--trust-checkpoint", action="store_true")
    ap.add_argument("--own", action="store_true", help="a checkpoint hoofenv train wrote (allowlist applies)")
    ap.add_argument("--export-onnx", action="store_true")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    allowlisted = False
    if True:
        sys.path.insert(0, str(HERE.parent))
        try:  # hoofenv/checkpoint.py's allowlist (branch verify), when present
            from hoofenv import checkpoint as hcp

            allow = getattr(hcp, "allow_mmengine_checkpoints", None) or getattr(hcp, "add_safe_globals", None)
            if allow:
                allow()
            else:
                raise ImportError
        except Exception:  # noqa: BLE001
            allowlisted = False
        else:
            allowlisted = True
        finally:
            sys.path.pop(0)
    original = torch.load
    ckpt_path = str(Path(args.checkpoint).resolve())
    # trusted by the user, or our own checkpoint while hoofenv/checkpoint.py's allowlist is absent
    own = args.trust_checkpoint or (args.own and not allowlisted)

    def load(f, *a, **kw):
        name = str(Path(f).resolve()) if isinstance(f, (str, os.PathLike)) else None
        if name == ckpt_path and own and "weights_only" not in kw:
            # hoofenv's own checkpoint (the CLI only passes files it recognises as its own, or trusted ones)
            kw["weights_only"] = False
        try:
            return original(f, *a, **kw)
        except Exception as exc:  # noqa: BLE001
            if "Weights only load failed" in str(exc):
                print(f"[hoofenv] checkpoint-refused {name}", flush=True)
                raise SystemExit(4) from exc
            raise

    torch.load = load

    from mmpose.apis import inference_topdown, init_model
    from mmpose.structures import merge_data_samples

    model = init_model(args.config, args.checkpoint, device=args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    boxes = load_boxes(args.bboxes)
    results = []
    import cv2

    skeleton = [tuple(v["link"]) for v in model.dataset_meta.get("skeleton_info", {}).values()] \
        if isinstance(model.dataset_meta.get("skeleton_info"), dict) else []
    names = model.dataset_meta.get("keypoint_id2name", {})
    name2id = {v: k for k, v in names.items()}
    for image_id, image in enumerate(args.images, start=1):
        img = cv2.imread(image)
        if img is None:
            print(f"[hoofenv] unreadable {image}", flush=True)
            return 2
        h, w = img.shape[:2]
        bxs = boxes.get(os.path.basename(image))
        xyxy = np.array([[x, y, x + bw, y + bh] for x, y, bw, bh in bxs], dtype=np.float32) if bxs \
            else np.array([[0, 0, w, h]], dtype=np.float32)
        samples = inference_topdown(model, img, xyxy, bbox_format="xyxy")
        merged = merge_data_samples(samples)
        kps = merged.pred_instances.keypoints
        scores = merged.pred_instances.keypoint_scores
        vis = img.copy()
        for n in range(len(kps)):
            flat = []
            for (x, y), s in zip(kps[n], scores[n]):
                flat += [round(float(x), 2), round(float(y), 2), round(float(s), 4)]
            box = xyxy[n]
            results.append(dict(image_id=image_id, file_name=os.path.basename(image), category_id=1,
                                keypoints=flat, score=round(float(np.mean(scores[n])), 4),
                                bbox=[float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]))
            cv2.rectangle(vis, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])), (255, 200, 0), 1)
            for a, b in skeleton:
                ia, ib = name2id.get(a), name2id.get(b)
                if ia is not None and ib is not None:
                    cv2.line(vis, tuple(int(v) for v in kps[n][ia]), tuple(int(v) for v in kps[n][ib]),
                             (0, 255, 255), 1)
            for k, (x, y) in enumerate(kps[n]):
                cv2.circle(vis, (int(x), int(y)), max(2, w // 100), (0, 0, 255), -1)
                cv2.putText(vis, names.get(k, str(k)), (int(x) + 3, int(y) - 3), cv2.FONT_HERSHEY_SIMPLEX,
                            max(0.3, w / 800), (255, 255, 255), 1)
        cv2.imwrite(str(out / (Path(image).stem + ".png")), vis)
    (out / "predictions.json").write_text(json.dumps(results, indent=1))
    print(f"[hoofenv] predicted {len(results)} instances in {len(args.images)} images -> {out}", flush=True)

    if args.export_onnx:
        export_onnx(model, out)
    return 0


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
    print(f"[hoofenv] onnx {path} (input 1x3x{h}x{w} normalised BGR->RGB; outputs SimCC logits)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
