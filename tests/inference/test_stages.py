"""The pipeline of predict_raster's loops (rskeras.inference.stages): order, failures, threads that end."""

import os
import sys
import threading

import pytest

from rskeras.inference.stages import STAGES, StageTimes, prefetched, run_behind


def test_prefetched_yields_in_order_and_stays_at_most_depth_ahead():
    made = []

    def items():
        for i in range(6):
            made.append(i)
            yield i

    seen = []
    with prefetched(items(), depth=1) as steps:
        for item in steps:
            seen.append(item)
            assert len(made) <= item + 3  # one waiting and one being made, no more
    assert seen == list(range(6))


def test_prefetched_raises_the_readers_error_and_its_thread_ends():
    def items():
        yield 1
        raise ValueError("unreadable strip")

    with pytest.raises(ValueError, match="unreadable strip"):
        with prefetched(items()) as steps:
            assert list(steps) == [1]
    assert not [t for t in threading.enumerate() if t.name == "rskeras-reader"]


def test_prefetched_stops_its_thread_when_the_caller_fails():
    with pytest.raises(RuntimeError, match="model failed"):
        with prefetched(iter(range(1000))) as steps:
            next(steps)
            raise RuntimeError("model failed")
    assert not [t for t in threading.enumerate() if t.name == "rskeras-reader"]


def test_run_behind_writes_in_order_and_times_the_write_stage():
    written, times = [], StageTimes()
    with run_behind(lambda a, b: written.append((a, b)), times, "write") as write:
        for i in range(5):
            write(i, -i)
    assert written == [(i, -i) for i in range(5)]
    assert set(times.seconds) == set(STAGES) and times.seconds["write"] >= 0


def test_run_behind_raises_the_writers_error():
    def write(value):
        raise OSError(f"disk full at {value}")

    with pytest.raises(OSError, match="disk full at 0"):
        with run_behind(write, StageTimes(), "write") as submit:
            for i in range(5):
                submit(i)
    assert not [t for t in threading.enumerate() if t.name == "rskeras-writer"]


def test_run_behind_skips_what_waits_when_the_caller_fails():
    written = []
    with pytest.raises(RuntimeError, match="model failed"):
        with run_behind(written.append, StageTimes(), "write", depth=100) as write:
            write(1)
            raise RuntimeError("model failed")
    assert written in ([], [1])
    assert not [t for t in threading.enumerate() if t.name == "rskeras-writer"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have a scheduling priority of their own on Linux")
def test_reader_and_writer_threads_yield_to_the_model():
    """The reader and writer threads run at nice 19, so the model's thread pool keeps its cores."""
    def nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    caller = nice()
    seen = []

    def items():
        seen.append(nice())
        yield 1

    with prefetched(items()) as steps:
        list(steps)
    with run_behind(lambda: seen.append(nice()), StageTimes(), "write") as submit:
        submit()
    assert seen == [19] * 2 and nice() == caller
