"""Atomic writes keep readers safe and give files the permissions the umask asks for."""

import os
import stat

import pytest

from whisper_pipeline.core.fileio import replace_atomic, write_text_atomic


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_files_follow_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "call.srt", "1\n")
        replace_atomic(tmp_path / "rows.parquet", lambda tmp: tmp.write_bytes(b"PAR1"))
    finally:
        os.umask(previous)
    for name in ("call.srt", "rows.parquet"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "segments.parquet"
    target.write_bytes(b"old")

    def broken(tmp):
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        replace_atomic(target, broken)
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]
