"""The cores this process may run on."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The CPUs the scheduler lets this process use (a SLURM job's, a container's, a taskset's), not the machine's:
    os.cpu_count() counts every core of a 64-core node where the job was given 4."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1
