"""Train and predict with the managed env: config rendering, preflight, launch (one process or torchrun), the
progress stream, the report, and top-down prediction. The stack runs in the env (hoofenv/inenv), never here."""
