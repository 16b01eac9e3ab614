"""The machine a benchmark ran on, as its JSON records it: architecture, CPU cores, and the CPU features that
decide whether bfloat16 training is faster than float32 (on a CPU with AMX it was 1.62x faster, on one with
AVX-512 BF16 alone 0.85x: ``benchmarks/results/training_paired_amx.json``, ``training_batchnorm.json``)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

#: ``/proc/cpuinfo`` flags that speed up bfloat16 and float16 arithmetic on x86 (oneDNN uses them when present).
PRECISION_FLAGS = ("avx512_bf16", "avx512_fp16", "amx_bf16", "amx_fp16", "amx_tile")


def describe(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """E.g. ``'x86_64, 2 CPU cores, avx512_bf16 avx512_fp16 amx_bf16 amx_tile'``; ``'..., none of avx512_bf16 ...'``
    where the CPU reports none of :data:`PRECISION_FLAGS`, and no flags part where ``cpuinfo`` cannot be read."""
    text = f"{platform.machine()}, {os.cpu_count()} CPU cores"
    try:
        flags = set(cpuinfo.read_text().split())
    except OSError:
        return text
    present = [flag for flag in PRECISION_FLAGS if flag in flags]
    return f"{text}, {' '.join(present) if present else 'none of ' + ' '.join(PRECISION_FLAGS)}"


if __name__ == "__main__":
    print(describe())
