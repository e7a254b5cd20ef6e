"""Facts + compat_matrix.yaml -> a plan (pure), and doctor's comparison of an environment with it.

Imports hoofenv.machine and the shared modules, never install/verify/train or the CLI.
"""
