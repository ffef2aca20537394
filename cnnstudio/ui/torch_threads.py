"""Keep every thread but the training thread to one torch (OpenMP) thread.

libgomp keeps a pool of OpenMP workers per thread that ever ran a parallel torch op. Once the process
has more OpenMP threads than CPU cores, libgomp stops busy-waiting between parallel regions and puts
its workers to sleep, and the training loop pays a wake-up on every op: measured here (2 cores),
training on a QThread ran at 0.86x the speed of training on the main thread after the main thread
had used two torch threads, and at 0.97x when the main thread kept to one. The setting is per OS
thread (omp_set_num_threads), so the trainer's own configure_threads() still uses every core.
"""

from __future__ import annotations

import threading

_done = threading.local()


def use_one_torch_thread() -> None:
    """Call at the start of GUI-thread or background-task torch work (cheap after the first call)."""
    if getattr(_done, "value", False):
        return
    import torch

    torch.set_num_threads(1)
    _done.value = True
