"""Atomic writes keep the previous file when a write fails."""

import errno
import os

import pytest

from ase_dipole.atomic import atomic_write, write_text_atomic


def test_replaces_file_and_keeps_mode(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    os.chmod(target, 0o600)
    write_text_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert os.stat(target).st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["out.txt"]


def test_exception_inside_block_keeps_previous_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(target) as out:
            out.write("partial")
            raise RuntimeError("boom")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_disk_full_names_target_and_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "model.json"
    target.write_text("old\n")

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match=r"could not write .*model\.json.*previous file"):
        write_text_atomic(target, "new\n")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["model.json"]


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(OSError):
        write_text_atomic(tmp_path / "missing" / "out.txt", "x")
