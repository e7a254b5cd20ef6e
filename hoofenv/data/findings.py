"""Every finding code `data check` reports: severity, what MMPose does with it, and the fix. One table."""

from __future__ import annotations

from dataclasses import dataclass, field

FIX = "hoofenv data fix {path} -o {fixed}"
REEXPORT = "re-export the task from CVAT as 'COCO Keypoints 1.0'"

# code: (severity, what MMPose/xtcocotools does, message with {n} = count, hint with {path} and {fixed})
CODES: dict[str, tuple[str, str, str, str]] = {
    "invalid-json": ("error", "crash", "the file is not valid JSON", REEXPORT + ", or repair the spot named"),
    "missing-field": ("error", "crash", "{n} records lack a required field", REEXPORT),
    "wrong-type": ("error", "crash", "{n} fields have the wrong type", REEXPORT),
    "no-keypoint-names": (
        "error", "crash", "no category carries keypoint names: the training metainfo cannot be derived",
        "hoofenv data fix {path} --schema hoof-side -o {fixed}  (or four-hooves)"),
    "keypoint-count-mismatch": (
        "error", "crash", "{n} annotations belong to a category whose keypoint count differs from the schema",
        "export all tasks with the same skeleton, or pick the matching --schema"),
    "keypoints-length": (
        "error", "crash", "{n} annotations have a keypoints list whose length is not 3 x the schema's count",
        "fix the skeleton in CVAT and re-export; hoofenv cannot guess the missing points"),
    "rectangle-category": (
        "error", "wrong-metric",
        "{n} annotations use a category with an empty keypoint list (CVAT rectangle grouped with the skeleton)",
        FIX + "  (moves them to the keypoint category)"),
    "unknown-category": ("error", "wrong-metric", "{n} annotations name a category_id that does not exist",
                         REEXPORT),
    "area-missing": ("error", "wrong-metric", "{n} annotations have a missing or zero area (OKS divides by it)",
                     FIX + "  (area = bbox w x h)"),
    "bbox-missing": ("error", "drop", "{n} annotations have no bbox: MMPose skips them", FIX),
    "bbox-degenerate": (
        "error", "drop", "{n} annotations have a bbox of zero width or height (CVAT skeleton without a rectangle)",
        FIX + "  (box around the labelled keypoints, padded)"),
    "bbox-outside-image": ("error", "drop", "{n} annotations have a bbox entirely outside their image",
                           "redraw the box in CVAT"),
    "bbox-exceeds-image": ("warning", "none", "{n} annotations have a bbox partly outside their image (clipped)",
                           "nothing to do; MMPose clips the box"),
    "num-keypoints-wrong": (
        "error", "wrong-metric",
        "{n} annotations have a missing or wrong num_keypoints (MMPose trusts it and drops those with 0)",
        FIX + "  (counts points with v > 0)"),
    "iscrowd-missing": ("error", "crash", "{n} annotations lack iscrowd (CocoMetric reads it)", FIX),
    "crowd-instance": ("warning", "drop", "{n} annotations are iscrowd=1: MMPose drops them",
                       "set iscrowd to 0 in the file if they are single animals"),
    "visibility-invalid": (
        "error", "wrong-metric", "{n} annotations have a visibility outside 0/1/2 (MMPose clips it to 1)",
        "relabel those points in CVAT (outside, occluded or visible) and re-export"),
    "outside-coords-kept": (
        "warning", "none", "{n} annotations keep coordinates for points marked outside (v=0)",
        FIX + "  (zeroes them, as COCO does)"),
    "no-visible-keypoints": ("warning", "drop", "{n} annotations have no labelled keypoint: MMPose drops them",
                             "label the points in CVAT or delete the empty skeletons"),
    "keypoint-outside-bbox": (
        "warning", "drop-keypoints", "{n} annotations have labelled keypoints outside their bbox (cut off by the crop)",
        "enlarge the box in CVAT, or delete the box so fix derives it from the points"),
    "keypoint-outside-image": (
        "warning", "drop-keypoints", "{n} annotations have labelled keypoints outside the image (not learnt)",
        "move the points onto the picture in CVAT, or mark them outside"),
    "duplicate-image-id": ("error", "wrong-metric", "{n} image ids occur more than once",
                           "hoofenv data merge {path} -o merged.json  (renumbers ids)"),
    "duplicate-annotation-id": ("error", "wrong-metric", "{n} annotation ids occur more than once",
                                FIX + "  (renumbers the repeats)"),
    "duplicate-file-name": ("warning", "none", "{n} images share a file name with another image",
                            "hoofenv data merge {path} -o merged.json  (de-duplicates images)"),
    "annotation-missing-image": ("error", "drop", "{n} annotations point at an image id that does not exist",
                                 REEXPORT),
    "image-file-missing": ("error", "crash", "{n} image files are missing under --images",
                           "copy the export's images/ folder next to the annotations"),
    "image-size-mismatch": (
        "error", "wrong-metric", "{n} image files differ in size from the JSON's width/height",
        "export annotations and images from the same CVAT task version"),
    "image-unreadable": ("error", "crash", "{n} image files cannot be decoded by OpenCV (empty, not a picture, "
                         "cut short, or GIF)", "replace them with the export's originals, or convert them to PNG"),
    "image-too-large": ("error", "crash", "{n} image files have more than 2^30 pixels, OpenCV's limit",
                        "downscale them (and their annotations) before training"),
    "image-path-outside": (
        "error", "crash", "{n} images have a file_name that leaves the images folder (absolute, or '..')",
        REEXPORT + "; file names are relative to images/"),
    "non-finite": ("error", "crash", "{n} records hold NaN, Infinity or a number beyond +-2^53 (1e400 reads as "
                   "Infinity): not JSON, and the loss becomes NaN", "correct those values in CVAT and re-export"),
    "split-mismatch": (
        "error", "wrong-metric", "this file is not the one its split wrote, or its partner changed: val images may "
        "also be in train", "{path}"),
    "split-source-changed": ("warning", "none", "the export this split was made from has changed since",
                             "{path}"),
    "image-without-annotations": ("warning", "drop", "{n} images have no annotation: MMPose skips them",
                                  "annotate them or leave them out of the export"),
    "skeleton-one-based": ("warning", "crash", "the skeleton is 1-based (COCO/CVAT); MMPose indexes from 0",
                           FIX + "  (makes it 0-based)"),
    "skeleton-invalid": ("error", "crash", "{n} skeleton edges point at keypoints that do not exist",
                         "fix the skeleton in CVAT and re-export"),
}


@dataclass
class Finding:
    """One kind of problem. `ids` are annotation ids, image ids for image-level codes, category ids for skeletons."""

    code: str
    severity: str
    count: int
    ids: list
    message: str
    hint: str
    mmpose: str
    details: list[str] = field(default_factory=list)


def make(code: str, ids: list, path: str, details: list[str] | None = None, count: int | None = None,
         hint: str | None = None) -> Finding:
    severity, mmpose, message, default_hint = CODES[code]
    hint = default_hint if hint is None else hint
    n = len(ids) if count is None else count
    fixed = path[:-5] + ".fixed.json" if path.endswith(".json") else path + ".fixed.json"
    return Finding(code=code, severity=severity, count=n, ids=ids, message=message.format(n=n),
                   hint=hint.format(path=path, fixed=fixed), mmpose=mmpose, details=details or [])
