"""hoofenv: a fresh Ubuntu box to a trained RTMPose hoof-keypoint model."""

__version__ = "0.1.0"
