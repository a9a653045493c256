"""One atomic-write helper: a file is either the old one or the complete new one."""

from __future__ import annotations

import os

import pytest

from seqlab.utils.files import atomic_open, atomic_write_text


def test_atomic_write_text_writes_exactly_the_text_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "summary.csv"
    assert atomic_write_text(target, "a,b\r\n1,2\r\n") == target
    assert target.read_bytes() == b"a,b\r\n1,2\r\n"  # no newline translation
    assert os.listdir(target.parent) == ["summary.csv"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # like open(), not mkstemp's 0600


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "code.diff"
    atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError), atomic_open(target, "w") as file:
        file.write("half of the new")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["code.diff"]


def test_atomic_open_only_writes_whole_files(tmp_path):
    with pytest.raises(ValueError, match="mode 'w' or 'wb'"), atomic_open(tmp_path / "x", "a"):
        pass
