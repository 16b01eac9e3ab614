"""Argument types shared by the sub-commands."""

from __future__ import annotations


def band_argument(value: str) -> int | str:
    """A band given on the command line: a 1-based index or a band name."""
    return int(value) if value.isdigit() else value
