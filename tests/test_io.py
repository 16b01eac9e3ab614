"""rskeras.io: checks before work, temporaries a rerun removes, outputs that appear whole or not at all."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from rskeras.io import (
    TEMP_MARK,
    atomic_path,
    atomic_paths,
    atomic_write_text,
    check_output,
    check_outputs,
    remove_stale_temporaries,
)


def test_atomic_write_replaces_only_when_complete(tmp_path):
    dst = tmp_path / "out" / "result.json"
    atomic_write_text(dst, "first")
    with pytest.raises(RuntimeError):
        with atomic_path(dst) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert dst.read_text() == "first"
    assert sorted(p.name for p in dst.parent.iterdir()) == ["result.json"]


def test_temporary_name_keeps_every_suffix_and_marks_its_process(tmp_path):
    with atomic_path(tmp_path / "ckpt.weights.h5") as tmp:
        assert tmp.name.startswith(f".ckpt{TEMP_MARK}{os.getpid()}-") and tmp.name.endswith(".weights.h5")
        tmp.write_bytes(b"x")
    assert (tmp_path / "ckpt.weights.h5").read_bytes() == b"x"


def test_a_group_appears_whole_or_not_at_all(tmp_path):
    records, mixer = tmp_path / "p.tfrecord.gz", tmp_path / "p-mixer.json"
    with pytest.raises(KeyboardInterrupt):
        with atomic_paths(records, mixer) as (tmp_records, tmp_mixer):
            tmp_records.write_bytes(b"records")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with atomic_paths(records, mixer) as (tmp_records, tmp_mixer):
        tmp_records.write_bytes(b"records")
        tmp_mixer.write_text("{}")
        assert not records.exists()  # nothing appears before the block ends
    assert records.read_bytes() == b"records" and mixer.read_text() == "{}"


def test_sigkilled_writer_leaves_temporaries_that_the_next_write_removes(tmp_path):
    dst = tmp_path / "map.tif"
    code = textwrap.dedent(f"""
        import os, signal
        from rskeras.io import atomic_path
        with atomic_path({str(dst)!r}) as tmp:
            tmp.write_bytes(b"half")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    subprocess.run([sys.executable, "-c", code], check=False)
    stale = [p for p in tmp_path.iterdir() if TEMP_MARK in p.name]
    assert len(stale) == 1 and not dst.exists()
    atomic_write_text(dst, "whole")
    assert [p.name for p in tmp_path.iterdir()] == ["map.tif"]


def test_temporaries_of_a_running_process_are_kept(tmp_path):
    with atomic_path(tmp_path / "a.tif") as tmp:
        tmp.write_bytes(b"x")
        assert remove_stale_temporaries(tmp_path / "a.tif") == [] and tmp.exists()


def test_sigterm_in_the_cli_removes_temporaries(tmp_path):
    dst = tmp_path / "slow.json"
    code = textwrap.dedent(f"""
        import os, signal, time
        from rskeras.io import atomic_path, exit_on_sigterm
        exit_on_sigterm()
        with atomic_path({str(dst)!r}) as tmp:
            tmp.write_text("half")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    """)
    done = subprocess.run([sys.executable, "-c", code], check=False)
    assert done.returncode == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []


def test_after_sigterm_a_half_built_objects_finalizer_prints_no_traceback():
    # TensorFlow's AtomicFunction.__del__ raised KeyError for a function traced when SIGTERM came
    code = textwrap.dedent("""
        import os, signal, time
        from rskeras.io import exit_on_sigterm
        exit_on_sigterm()

        class Half:
            def __del__(self):
                raise KeyError("never registered")

        Half()  # before the SIGTERM: printed as usual
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            Half()
    """)
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode == 128 + signal.SIGTERM
    assert done.stderr.count("Exception ignored") == 1 and done.stderr.count("KeyError") == 1, done.stderr


def test_check_output_refuses_inputs_directories_and_wrong_suffixes(tmp_path):
    shard = tmp_path / "export" / "hls-00000.tfrecord.gz"
    shard.parent.mkdir()
    shard.write_bytes(b"x")
    with pytest.raises(ValueError, match="is also an input"):
        check_output(shard, inputs=[str(tmp_path / "export" / "*.tfrecord.gz")], what="OUT")
    with pytest.raises(ValueError, match="existing directory"):
        check_output(tmp_path / "export", what="dst")
    with pytest.raises(ValueError, match=r"dst .*out\.png must end in \.tif or \.tiff"):
        check_output(tmp_path / "out.png", suffixes=(".tif", ".tiff"), what="dst")
    check_output(tmp_path / "OUT.TIF", suffixes=(".tif", ".tiff"), inputs=[shard])
    with pytest.raises(ValueError, match="the same file"):
        check_outputs([(tmp_path / "a.tif", (".tif",), "dst"), (tmp_path / "a.tif", (".tif",), "probabilities")])


def test_a_failing_pipeline_ends_the_program_instead_of_hanging_it():
    # an element fails while others run Python code (tf.numpy_function) in tf.data's threads;
    # the uncaught error keeps the iterator alive until exit, where it used to wait forever
    code = textwrap.dedent("""
        import time
        import rskeras
        import numpy as np, tensorflow as tf

        def read(i):
            if i == 2:
                raise ValueError("corrupt element 2")
            time.sleep(0.5)
            return np.float32(i)

        ds = tf.data.Dataset.range(64).map(lambda i: tf.numpy_function(read, [i], tf.float32), num_parallel_calls=4)
        for batch in ds.batch(4).prefetch(2):
            pass
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 1 and "corrupt element 2" in done.stderr
