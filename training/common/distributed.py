"""Data-parallel training: one process per core group (CPU, gloo) or per GPU (nccl), started by
``torchrun``; a single process when it is not.

Every process holds the same model and optimiser and draws its own crops; DDP averages the
gradients, so the weights stay identical. Process 0 validates, logs and writes checkpoints and
the exported model; the others only train. Stop decisions (time budget, Ctrl-C) are agreed on
by all processes each step, so none waits forever for another.
"""

from __future__ import annotations

import os


def world() -> int:
    """Processes in the run (``WORLD_SIZE`` set by torchrun; 1 without it)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def device():
    """The training device: this process's CUDA GPU when there is one, else the CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    return torch.device("cpu")


def setup() -> tuple[int, int]:
    """Join the process group when started by torchrun (gloo on CPU, nccl on CUDA) and share the
    cores among the processes; returns (rank, world size)."""
    import torch

    n = world()
    if n > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dev = device()
            if dev.type == "cuda":
                torch.cuda.set_device(dev)
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // n))
    return rank(), n


def wrap(net):
    """``net`` for the forward pass: DistributedDataParallel across the processes, else itself."""
    if world() <= 1:
        return net
    from torch.nn.parallel import DistributedDataParallel

    dev = device()
    return DistributedDataParallel(net, device_ids=[dev.index] if dev.type == "cuda" else None)


def sync(flag: bool, seconds: float) -> tuple[bool, float]:
    """(whether any process raised ``flag``, process 0's ``seconds``), the same on every process:
    one small all-reduce per step."""
    if world() <= 1:
        return flag, seconds
    import torch
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0, seconds if is_main() else 0.0], dtype=torch.float64, device=device())
    dist.all_reduce(t)
    return bool(t[0].item() > 0), float(t[1].item())


def barrier() -> None:
    if world() > 1:
        import torch.distributed as dist

        dist.barrier()


def cleanup() -> None:
    if world() > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
