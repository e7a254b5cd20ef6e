"""The model as ONNX, for inference without torch (onnx_runner.py): run by predict_runner.py for `hoofenv export
--onnx PATH` and `hoofenv predict --export onnx`, inside the training env, which needs the `onnx` package for
torch.onnx.export (hoofenv installs it on demand, held to the env's versions).

The graph is backbone + RTMCC head: input (N, 3, H, W) normalised RGB crops, outputs the SimCC logits simcc_x
(N, K, W*r) and simcc_y (N, K, H*r); the crop, the normalisation and the decoding stay outside, as onnx_runner.py
does them. Everything onnx_runner needs to do them as MMPose does is written into the model as the metadata entry
onnx_runner.META_KEY (JSON). Written to a temporary file beside PATH, checked with onnx.checker, then moved into
place: never half a model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import onnx_runner, protocol

OPSET = 17


def _transform(pipeline: list, kind: str) -> dict:
    return next((dict(t) for t in pipeline if str(t.get("type", "")).split(".")[-1] == kind), {})


def metadata(model) -> dict:
    """What onnx_runner needs, read from the model's config and dataset metainfo. Raises ValueError for a model it
    cannot mirror (not SimCC, UDP, rotation in the test pipeline)."""
    cfg = model.cfg
    head = cfg.model.head
    decoder = dict(head.get("decoder") or {})
    if decoder.get("type") != "SimCCLabel":
        raise ValueError(f"the head decodes with {decoder.get('type')!r}; the ONNX runner decodes SimCCLabel only")
    if decoder.get("use_dark") or decoder.get("normalize") or decoder.get("decode_visibility"):
        raise ValueError("the SimCC decoder uses DARK, normalisation or visibility, which the ONNX runner does not")
    pipeline = list(cfg.test_dataloader.dataset.pipeline)
    affine = _transform(pipeline, "TopdownAffine")
    if affine.get("use_udp"):
        raise ValueError("the test pipeline uses UDP, which the ONNX runner does not")
    padding = _transform(pipeline, "GetBBoxCenterScale").get("padding", 1.25)
    pre = cfg.model.data_preprocessor
    meta = model.dataset_meta
    id2name = meta.get("keypoint_id2name") or {}
    flip = bool((cfg.model.get("test_cfg") or {}).get("flip_test", False))
    return {
        "format": onnx_runner.META_FORMAT, "input_size": [int(v) for v in affine["input_size"]],
        "mean": [float(v) for v in pre.mean], "std": [float(v) for v in pre.std],
        "bgr_to_rgb": bool(pre.get("bgr_to_rgb", False)), "bbox_padding": float(padding),
        "simcc_split_ratio": float(head.simcc_split_ratio), "flip_test": flip,
        "flip_indices": [int(i) for i in meta.get("flip_indices") or []],
        "keypoints": [str(id2name[i]) for i in sorted(id2name)],
        "skeleton": [[int(a), int(b)] for a, b in meta.get("skeleton_links") or []],
        "category": str(meta.get("dataset_name") or "hoof"),
        "hoof_angles": dict(cfg.get("hoof_angles") or {}) or None,
        "outputs": ["simcc_x", "simcc_y"], "opset": OPSET,
    }


def export(model, path: Path) -> int:
    """Write `path`; emits `onnx` (or `missing-package`, `export-unsupported`) and returns the exit status."""
    try:
        import onnx
    except ImportError:
        protocol.emit("missing-package", package="onnx")
        return protocol.EXIT_MISSING_PACKAGE
    import torch

    try:
        meta = metadata(model)
    except (ValueError, KeyError, AttributeError) as exc:
        protocol.emit("export-unsupported", message=str(exc))
        return protocol.EXIT_USAGE

    class Wrapped(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.backbone, self.head = m.backbone, m.head

        def forward(self, x):
            return self.head.forward(self.backbone(x))

    w, h = meta["input_size"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        model.eval()
        torch.onnx.export(Wrapped(model).eval(), torch.zeros(1, 3, h, w), str(tmp), input_names=["input"],
                          output_names=["simcc_x", "simcc_y"], opset_version=OPSET,
                          dynamic_axes={"input": {0: "batch"}, "simcc_x": {0: "batch"}, "simcc_y": {0: "batch"}},
                          dynamo=False)
        graph = onnx.load(str(tmp))
        onnx.helper.set_model_props(graph, {onnx_runner.META_KEY: json.dumps(meta)})
        onnx.checker.check_model(graph)
        onnx.save(graph, str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    protocol.emit("onnx", path=str(path), input=[1, 3, h, w], outputs=meta["outputs"], keypoints=meta["keypoints"],
                  bytes=path.stat().st_size)
    return protocol.EXIT_OK
