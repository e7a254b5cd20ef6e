"""Generation speed of the synthetic hoof dataset: the demo's default size (240 train + 60 val, 256x256 JPEG).

    python bench/synthetic_speed.py [REPEATS]
Prints the median wall time of `synthetic.generate` over REPEATS runs (default 3) into a temporary folder.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from hoofenv.data import synthetic


def main(repeats: int = 3) -> None:
    times = []
    for r in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            synthetic.generate(Path(tmp) / "d", n_train=240, n_val=60, seed=r)
            times.append(time.perf_counter() - t)
    med = statistics.median(times)
    print(f"300 pictures 256x256: median {med:.2f} s over {repeats} runs ({300 / med:.0f} pictures/s); "
          f"all: {', '.join(f'{t:.2f}' for t in times)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
