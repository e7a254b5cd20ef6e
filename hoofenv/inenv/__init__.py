"""Everything that runs INSIDE the managed environment, started as `ENV_PYTHON hoofenv/inenv/launch.py ENTRY ...`.

Standard library and the training stack only: no other part of hoofenv is importable there. The modules import
each other relatively; `protocol` is the one module hoofenv's own process imports too (events, exit codes,
check ids and statuses).
"""
