"""`hoofenv train --nproc 2` (gloo DDP on the CPU) vs a bare MMEngine Runner launched by plain torchrun on the same
rendered config, in the same run (alternating, A B A B).

    HOOFENV_STACK_PYTHON=/path/to/env/bin/python python bench/bench_scale.py [--rounds 2] [--n-train 320]

Both sides: 2 processes, RTMPose-t, input 128x128, batch 4 per process (global 8), no loader workers, no pretrained
weights, one epoch of n_train/8 iterations on synthetic 128 px images. The bare side is the least that makes MMEngine
train DDP on a CPU at all (BARE below: the process group started before the Runner, because MMEngine's pytorch
launcher calls torch.cuda.set_device; DDP without device_ids and SyncBN reverted to BN, because torch's SyncBatchNorm
refuses CPU tensors); hoofenv adds its progress hook, the per-epoch BN-buffer averaging, the rank digests and the
CLI around it. Times are MMEngine's own IterTimerHook figures from rank 0's vis_data/scalars.json (10-iteration
windows, the first dropped, median) and each side's whole wall time. On a GPU machine use bench_train.py (one GPU).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_train import scalars  # noqa: E402

BARE = (
    "import sys\n"
    "import torch.distributed as dist\n"
    "from mmengine.config import Config\n"
    "from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm\n"
    "from mmengine.registry import MODEL_WRAPPERS\n"
    "from mmengine.runner import Runner\n"
    "dist.init_process_group('gloo')\n"
    "@MODEL_WRAPPERS.register_module()\n"
    "class CpuDDP(MMDistributedDataParallel):\n"
    "    def __init__(self, module, device_ids=None, **kwargs):\n"
    "        super().__init__(module=revert_sync_batchnorm(module), device_ids=None, broadcast_buffers=False)\n"
    "cfg = Config.fromfile(sys.argv[1]); cfg.work_dir = sys.argv[2]; cfg.launcher = 'pytorch'\n"
    "cfg.model_wrapper_cfg = dict(type='CpuDDP'); cfg.env_cfg.dist_cfg.backend = 'gloo'\n"
    "Runner.from_cfg(cfg).train()\n"
)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--n-train", type=int, default=320)
    ap.add_argument("--batch", type=int, default=4)
    args = ap.parse_args()
    py = os.environ.get("HOOFENV_STACK_PYTHON")
    if not py:
        sys.exit("set HOOFENV_STACK_PYTHON to the stack's python")
    from hoofenv.data.synthetic import generate

    tmp = Path(tempfile.mkdtemp(prefix="bench_scale."))
    data = generate(tmp / "data", n_train=args.n_train, n_val=4, seed=1, image_size=(128, 128))
    bare_py = tmp / "bare.py"
    bare_py.write_text(BARE)
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // 2))}  # the same threads both sides
    hoof, bare = [], []
    for r in range(args.rounds):
        work = tmp / f"hoofenv{r}"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hoofenv", "train", "--data", str(data), "--python", py,
                        "--work-dir", str(work), "--epochs", "1", "--batch-size", str(args.batch), "--nproc", "2",
                        "--input-size", "128x128", "--workers", "0", "--pretrained", "none", "--skip-verify",
                        "--val-interval", "1"], check=True, cwd=REPO, stdout=subprocess.DEVNULL, env=env)
        hoof.append((*scalars(work), time.perf_counter() - t0))
        bwork = tmp / f"bare{r}"
        t0 = time.perf_counter()
        subprocess.run([py, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(bare_py),
                        str(work / "config.py"), str(bwork)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=env, cwd=tmp)
        bare.append((*scalars(bwork), time.perf_counter() - t0))
        print(f"round {r + 1}: hoofenv {hoof[-1][0]:.3f} s/iter ({hoof[-1][2]:.0f} s), "
              f"bare {bare[-1][0]:.3f} s/iter ({bare[-1][2]:.0f} s), ratio {hoof[-1][0] / bare[-1][0]:.3f}",
              flush=True)
    h_it, b_it = statistics.median(h[0] for h in hoof), statistics.median(b[0] for b in bare)
    iters = args.n_train // (2 * args.batch)
    print(f"\n2 processes (gloo), RTMPose-t, input 128x128, batch {args.batch} per process, {iters} iterations "
          f"per run, {args.rounds} rounds alternating")
    print("| what | s/iter (median) | whole process s (median) |")
    print("|---|---:|---:|")
    print(f"| hoofenv train --nproc 2 | {h_it:.3f} | {statistics.median(h[2] for h in hoof):.1f} |")
    print(f"| bare Runner, plain torchrun, same config.py | {b_it:.3f} | {statistics.median(b[2] for b in bare):.1f} |")
    print(f"\nratio hoofenv / bare (s/iter): {h_it / b_it:.3f}; per round: "
          + ", ".join(f"{h[0] / b[0]:.3f}" for h, b in zip(hoof, bare)))
    print(f"(work dirs under {tmp})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
