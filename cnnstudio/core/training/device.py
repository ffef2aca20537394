"""Which device and precision to train on, and what hardware is really there."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cnnstudio.core.errors import CNNStudioError

if TYPE_CHECKING:  # torch is imported when a device is resolved: `cnnstudio devices` starts without it
    import torch


@dataclass(frozen=True)
class DeviceInfo:
    """One device a user can pick: shown by the app's device picker and `cnnstudio devices`."""

    id: str  # "cpu", "cuda:0", "mps"
    name: str
    memory_bytes: int | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "memory_bytes": self.memory_bytes, "detail": self.detail}


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@lru_cache(maxsize=1)
def physical_cores() -> int:
    """Physical cores (not hyper-threads): more threads than cores slows PyTorch's CPU kernels."""
    pairs: set[tuple[str, str]] = set()
    try:
        phys = core = None
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("physical id"):
                    phys = line.split(":", 1)[1].strip()
                elif line.startswith("core id"):
                    core = line.split(":", 1)[1].strip()
                elif not line.strip():
                    if core is not None:
                        pairs.add((phys or "0", core))
                    phys = core = None
            if core is not None:
                pairs.add((phys or "0", core))
    except OSError:
        pass
    logical = os.cpu_count() or 1
    try:
        logical = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    return max(1, min(len(pairs) or logical, logical))


# oneDNN's instruction-set levels (ONEDNN_MAX_CPU_ISA) that include bf16 arithmetic; below them oneDNN
# runs bf16 convolutions and products on reference code, about a thousand times slower than fp32.
_ONEDNN_BF16_ISAS = ("AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX10_")


def onednn_allows_bf16() -> bool:
    """False when ONEDNN_MAX_CPU_ISA (or its old name DNNL_MAX_CPU_ISA) holds oneDNN below bf16: set by a
    user or a benchmark to run as on an older CPU, it must not leave auto precision picking bf16."""
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "").strip().upper()
    return cap in ("", "ALL", "DEFAULT") or cap.startswith(_ONEDNN_BF16_ISAS)


def cpu_supports_bf16() -> bool:
    """True where bf16 matmuls run natively (AVX-512 BF16 or AMX): only there is bf16 faster on CPU."""
    if not onednn_allows_bf16():
        return False
    flags = cpu_flags()
    if {"avx512_bf16", "amx_bf16"} & flags:
        return True
    if not flags:  # not Linux: ask oneDNN
        try:
            import torch

            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except Exception:  # noqa: BLE001 - a private torch probe: whatever it raises means no bf16
            return False
    return False


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "CPU"


def available_devices() -> list[DeviceInfo]:
    import torch

    devices = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            devices.append(DeviceInfo(f"cuda:{i}", props.name, int(props.total_memory),
                                      f"CUDA {torch.version.cuda}, compute {props.major}.{props.minor}"))
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append(DeviceInfo("mps", "Apple GPU (Metal)", None, "Metal Performance Shaders"))
    # Training uses one thread per physical core (configure_threads), whatever the calling thread has.
    bf16 = ", bf16" if cpu_supports_bf16() else ""
    devices.append(DeviceInfo("cpu", cpu_name(), None,
                              f"{physical_cores()} cores, {physical_cores()} training threads{bf16}"))
    return devices


def resolve_device(requested: str) -> torch.device:
    """Map "auto" / "cpu" / "cuda[:i]" / "mps" to a torch.device, with a clear error if absent."""
    import torch

    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise CNNStudioError("device 'cuda' was asked for, but no CUDA GPU is available here "
                                 "(use --device cpu or auto)")
        return torch.device(requested)
    if requested == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise CNNStudioError("device 'mps' was asked for, but Apple MPS is not available here "
                                 "(use --device cpu or auto)")
        return torch.device("mps")
    return torch.device("cpu")


def resolve_precision(requested: str, device: torch.device) -> str:
    """Pick fp32 / bf16 / fp16 for a device; `auto` picks the fastest that trains as well as fp32."""
    import torch

    kind = device.type
    if requested == "auto":
        if kind == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if kind == "cpu":
            return "bf16" if cpu_supports_bf16() else "fp32"
        return "fp32"
    if requested == "fp16" and kind == "cpu":
        raise CNNStudioError("fp16 training is not supported on the CPU; use bf16 or fp32")
    return requested


def autocast_dtype(precision: str) -> torch.dtype | None:
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


def configure_threads(device: torch.device) -> int:
    """Train on the physical cores; the GUI thread mostly sleeps, so it stays responsive."""
    import torch

    if device.type == "cpu":
        # Under torchrun several ranks share the machine's cores.
        local_ranks = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
        n = max(1, physical_cores() // local_ranks)
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        return n
    return torch.get_num_threads()
