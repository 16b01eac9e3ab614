"""Training: compiling for a task (and, as they arrive, precision, distribution, resumable runs)."""

from rskeras.training.compile import compile_for_task
from rskeras.training.progress import EpochProgress

__all__ = ["EpochProgress", "compile_for_task"]
