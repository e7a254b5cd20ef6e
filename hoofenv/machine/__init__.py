"""Machine -> facts: the probe, the facts it records, CUDA/driver/GPU value types, Python environments on disk.

Decides nothing. Imports only hoofenv.errors, hoofenv.files, hoofenv.paths and hoofenv.inenv.protocol.
"""
