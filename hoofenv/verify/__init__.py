"""Prove an environment can train: the checks run inside it (hoofenv/inenv/verify_probe.py, through the
launcher), supervised here so that a crash or a hang fails only its own check."""
