"""Run on every rank of the doctor's job with the engine's own python (its torch and NCCL): all-reduce and all-to-all
bus bandwidth across the allocation, as nccl-tests defines it. NCCL on GPUs, Gloo where there is none (the sandbox).

Environment: MASTER_ADDR, MASTER_PORT, and Slurm's SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID. Rank 0 prints one JSON
line. Arguments: MEBIBYTES ITERATIONS.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any


def main(argv: list[str]) -> int:
    import torch
    import torch.distributed as dist

    mib, iterations = float(argv[0]), int(argv[1])
    rank, world = int(os.environ["SLURM_PROCID"]), int(os.environ["SLURM_NTASKS"])
    cuda = torch.cuda.is_available()
    if cuda:
        # Slurm gives every task of a node all of its GPUs: each rank takes its own.
        torch.cuda.set_device(int(os.environ.get("SLURM_LOCALID", "0")))
    device = "cuda" if cuda else "cpu"
    dist.init_process_group(
        "nccl" if cuda else "gloo",
        init_method="tcp://{}:{}".format(os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"]),
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=120),
    )
    data = torch.ones(int(mib * (1 << 20)) // 4, dtype=torch.float32, device=device)
    out = torch.empty_like(data)

    def seconds(op: Callable[[], Any]) -> float:
        for _ in range(2):
            op()
        if cuda:
            torch.cuda.synchronize()
        dist.barrier()
        start = time.perf_counter()
        for _ in range(iterations):
            op()
        if cuda:
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / iterations

    size = data.numel() * 4
    reduce_s = seconds(lambda: dist.all_reduce(data))
    all_to_all_s = seconds(lambda: dist.all_to_all_single(out, data))
    if rank == 0:
        print(json.dumps({
            "backend": dist.get_backend(),
            "ranks": world,
            "bytes": size,
            "all_reduce_busbw_gbs": size / reduce_s * 2 * (world - 1) / world / 1e9,
            "all_to_all_busbw_gbs": size / all_to_all_s * (world - 1) / world / 1e9,
        }))  # fmt: skip
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
