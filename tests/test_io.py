import pytest

from rskeras.io import atomic_path, atomic_write_text


def test_atomic_write_replaces_only_when_complete(tmp_path):
    dst = tmp_path / "out" / "result.json"
    atomic_write_text(dst, "first")
    with pytest.raises(RuntimeError):
        with atomic_path(dst) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert dst.read_text() == "first"
    assert sorted(p.name for p in dst.parent.iterdir()) == ["result.json"]


def test_temporary_name_keeps_every_suffix(tmp_path):
    with atomic_path(tmp_path / "ckpt.weights.h5") as tmp:
        assert tmp.name.startswith(".ckpt.") and tmp.name.endswith(".tmp.weights.h5")
        tmp.write_bytes(b"x")
    assert (tmp_path / "ckpt.weights.h5").read_bytes() == b"x"
