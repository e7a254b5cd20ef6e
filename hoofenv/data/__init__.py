"""Checks, repairs, merges and splits CVAT "COCO Keypoints 1.0" exports for MMPose.

Standard library only, except `preview` (Pillow). Every module works on the plain dict that `json.load`
returns, so a 20,000-annotation export costs one parse and one pass.
"""
