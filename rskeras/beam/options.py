"""Beam's pipeline options from command-line style flags, refusing flags Beam does not know.

Beam itself drops a flag it cannot parse with a logged warning (``Discarding unparseable args``), so a typo
such as ``--direct_num_worker 2`` would silently run with one worker; here it is an error carrying Beam's own
words.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

BEAM_MISSING = ("apache-beam is not installed; install the extra: pip install 'rskeras[beam]' "
                "(or pip install apache-beam)")


def require_beam():
    """The ``apache_beam`` module, or ImportError saying how to install it."""
    try:
        import apache_beam
    except ImportError as err:
        raise ImportError(BEAM_MISSING) from err
    return apache_beam


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def pipeline_options(flags: Sequence[str] | object | None = None):
    """``PipelineOptions`` from Beam flags (``["--runner", "DirectRunner", "--direct_num_workers", "2"]``).

    Args:
        flags: Beam's command-line flags, a ``PipelineOptions`` (returned as it is), or None: the
            DirectRunner in this process.

    Raises:
        ValueError: a flag Beam does not know, with Beam's message (``Discarding unparseable args: [...]``).
    """
    require_beam()
    from apache_beam.options.pipeline_options import PipelineOptions

    if isinstance(flags, PipelineOptions):
        return flags
    flags = list(flags or [])
    options = PipelineOptions(flags)
    capture = _Capture()
    logger = logging.getLogger("apache_beam.options.pipeline_options")
    logger.addHandler(capture)
    try:
        options.get_all_options()
    finally:
        logger.removeHandler(capture)
    unknown = [m for m in capture.messages if m.startswith("Discarding unparseable args")]
    if unknown:
        raise ValueError(f"Beam does not know these runner options: {unknown[0]}")
    return options
