"""torch.distributed for the trainer: one small context object, a no-op when running alone.

Under torchrun (RANK / WORLD_SIZE / LOCAL_RANK in the environment) the process group is initialised
with NCCL on CUDA and gloo on CPU; each rank trains on its shard of every epoch's permutation, the
model is wrapped in DistributedDataParallel, sums are all-reduced, and only rank 0 writes files and
emits events. Checkpoints hold the unwrapped model's state, so they are the same as single-process ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass
class DistContext:
    enabled: bool = False
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        if self.device is not None and self.device.type == "cuda":
            return DistributedDataParallel(model, device_ids=[self.device.index])
        return DistributedDataParallel(model)

    def shard_size(self, n: int) -> int:
        """The largest shard: every rank runs the same number of steps, or collectives would hang."""
        return -(-n // self.world_size)

    def shard(self, perm: torch.Tensor) -> torch.Tensor:
        """This rank's part of the permutation; together the ranks cover every sample exactly once."""
        if not self.enabled:
            return perm
        return torch.tensor_split(perm, self.world_size)[self.rank]

    def all_reduce_sums(self, loss_sum: torch.Tensor, correct: torch.Tensor) -> tuple[float, int]:
        if not self.enabled:
            return float(loss_sum), int(correct)
        import torch.distributed as dist

        buf = torch.stack([loss_sum.double(), correct.double()])
        dist.all_reduce(buf)
        return float(buf[0]), int(round(float(buf[1])))

    def all_reduce_count(self, count: int) -> int:
        if not self.enabled:
            return count
        import torch.distributed as dist

        t = torch.tensor([count], dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(t)
        return int(t.item())

    def any_flag(self, flag: bool) -> bool:
        if not self.enabled:
            return flag
        import torch.distributed as dist

        t = torch.tensor([1.0 if flag else 0.0], device=self._comm_device())
        dist.all_reduce(t)
        return bool(t.item() > 0)

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def _comm_device(self) -> torch.device:
        return self.device if self.device is not None and self.device.type == "cuda" else torch.device("cpu")


_context: DistContext | None = None


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_from_env(device_request: str = "auto") -> DistContext:
    """Initialise the process group from torchrun's environment (idempotent)."""
    global _context
    if _context is not None:
        return _context
    if not launched_by_torchrun() or int(os.environ.get("WORLD_SIZE", "1")) < 1:
        _context = DistContext()
        return _context
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_request in ("auto", "cuda") or device_request.startswith("cuda:")
    if use_cuda:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    _context = DistContext(True, rank, world, local_rank, device)
    return _context


def current() -> DistContext:
    return _context if _context is not None else DistContext()


def shutdown() -> None:
    global _context
    if _context is not None and _context.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    _context = None
