"""Print the machine as each benchmark's JSON records it (:func:`rskeras.training.precision.describe_machine`):
architecture, CPU cores and the CPU flags that decide whether bfloat16 trains faster than float32. Run it before
choosing ``--precision`` for a long run::

    python benchmarks/machine.py        # e.g. x86_64, 2 CPU cores, avx512_bf16
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rskeras.training.precision import describe_machine  # noqa: E402

if __name__ == "__main__":
    print(describe_machine())
