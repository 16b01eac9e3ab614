"""Checks of library arguments before any work (no TensorFlow here).

Messages name the argument as a Python keyword with its value (``epochs=-1 must be an integer
>= 1``), the convention by which the CLI rewrites them as options (``--epochs -1 ...``, see
:func:`rskeras.cli.cli_message`).
"""

from __future__ import annotations

import math
import numbers


def check_integer(name: str, value, minimum: int = 1, *, allow_none: bool = False) -> None:
    """Raise ValueError unless ``value`` is an integer >= ``minimum`` (or None when ``allow_none``)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")


def check_number(name: str, value, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False) -> None:
    """Raise ValueError unless ``value`` is a finite number in the interval ``low .. high``.

    ``low_open`` / ``high_open`` exclude the bounds: ``check_number("test_fraction", f, 0, 1,
    low_open=True, high_open=True)`` asks for ``0 < f < 1``.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        interval = (f"{'(' if low_open or low is None else '['}{'-inf' if low is None else low}, "
                    f"{'inf' if high is None else high}{')' if high_open or high is None else ']'}")
        raise ValueError(f"{name}={value!r} must be a number in {interval}")
