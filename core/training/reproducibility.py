"""Fix everything that makes two runs of one command differ, and record it in the card.

Same command, same machine: bit-identical weights (seeds, deterministic kernels, fixed thread
count, fixed data order). Another machine of the same kind may still differ in the last bits:
CPU kernels (oneDNN/MKL) pick different code paths per processor, and float sums change with them.
"""
from __future__ import annotations

import os
import platform
import random
from typing import Any

import numpy as np
import torch


def cpu_model() -> str:
    """The processor's model name (Linux /proc/cpuinfo), or the platform's word for it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: fall back to what the platform says
    return platform.processor() or platform.machine()


def make_deterministic(seed: int, threads: int) -> dict[str, Any]:
    """Seed every generator, ask torch for deterministic kernels, fix the thread count; say what was set."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.mkldnn.deterministic = True  # oneDNN's own switch; the call above leaves it off on CPU
    return {"seed": seed, "threads": threads, "deterministic_algorithms": True, "onednn_deterministic": True,
            "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "cpu": cpu_model(), "machine": platform.machine()}
