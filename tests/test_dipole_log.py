"""The Ṗ log: round trip, append, truncated rows and damaged files."""

import numpy as np
import pytest

from ase_dipole.dynamics.dipole_log import DipoleLogWriter, read_dipole_log

METADATA = {"timestep_fs": 0.5, "interval": 2, "n_atoms": 3, "volume_A3": None, "periodic": False,
            "temperature_K": 300.0}


def write_rows(path, times, metadata=METADATA):
    rng = np.random.default_rng(int(times[0]))
    rows = rng.normal(size=(len(times), 6))
    with DipoleLogWriter(path, metadata) as writer:
        for t, row in zip(times, rows):
            writer.write(t, row[:3], row[3:])
    return rows


def test_round_trip_keeps_every_digit_that_matters(tmp_path):
    path = tmp_path / "a.log"
    rows = write_rows(path, np.arange(5) * 1.0)
    log = read_dipole_log(path)
    np.testing.assert_allclose(log.pdot, rows[:, :3], rtol=1e-10)
    np.testing.assert_allclose(log.dipole, rows[:, 3:], rtol=1e-10)
    assert log.sample_interval_fs == 1.0
    assert log.metadata["temperature_K"] == 300.0


def test_gzip_compressed_log_reads_as_the_plain_one(tmp_path):
    import gzip
    import shutil

    path = tmp_path / "a.log"
    write_rows(path, np.arange(5) * 1.0)
    with open(path, "rb") as plain, gzip.open(tmp_path / "a.log.gz", "wb") as packed:
        shutil.copyfileobj(plain, packed)
    log, packed_log = read_dipole_log(path), read_dipole_log(tmp_path / "a.log.gz")
    np.testing.assert_array_equal(packed_log.pdot, log.pdot)
    np.testing.assert_array_equal(packed_log.time_fs, log.time_fs)
    assert packed_log.metadata == log.metadata


def test_append_continues_and_checks_metadata(tmp_path):
    path = tmp_path / "a.log"
    write_rows(path, np.arange(3) * 1.0)
    writer = DipoleLogWriter(path, METADATA)
    assert writer.last_time_fs == 2.0
    writer.write(3.0, np.zeros(3), np.zeros(3))
    writer.close()
    assert len(read_dipole_log(path).time_fs) == 4
    with pytest.raises(ValueError, match="its timestep_fs is 0.5, this run has 1.0"):
        DipoleLogWriter(path, dict(METADATA, timestep_fs=1.0))


def test_truncated_last_row_is_skipped_and_dropped_on_append(tmp_path):
    path = tmp_path / "a.log"
    write_rows(path, np.arange(4) * 1.0)
    text = path.read_text()
    path.write_text(text[:-20])
    with pytest.warns(UserWarning, match="truncated last row"):
        assert len(read_dipole_log(path).time_fs) == 3
    with pytest.warns(UserWarning, match="dropped a truncated last row"):
        writer = DipoleLogWriter(path, METADATA)
    writer.write(3.0, np.ones(3), np.ones(3))
    writer.close()
    log = read_dipole_log(path)
    np.testing.assert_array_equal(log.time_fs, [0.0, 1.0, 2.0, 3.0])


def test_damaged_files_name_the_problem(tmp_path):
    path = tmp_path / "a.log"
    write_rows(path, np.arange(3) * 1.0)
    lines = path.read_text().splitlines(keepends=True)
    lines[4] = "1.0 2.0 3.0\n"
    path.write_text("".join(lines))
    with pytest.raises(ValueError, match="line 5 has 3 columns"):
        read_dipole_log(path)
    other = tmp_path / "b.log"
    other.write_text("time pdot\n1 2\n")
    with pytest.raises(ValueError, match="is not an ase-dipole dipole log"):
        read_dipole_log(other)
    with pytest.raises(ValueError, match="metadata lacks"):
        DipoleLogWriter(tmp_path / "c.log", {"timestep_fs": 1.0})


def test_append_only_continues_the_same_run(tmp_path):
    path = tmp_path / "a.log"
    identity = dict(METADATA, model_sha256="a" * 64, symbols=["O", "H", "H"])
    write_rows(path, np.arange(3) * 1.0, identity)
    before = path.read_text()
    with pytest.raises(ValueError, match=r"its model_sha256 is 'aaaaaaaaaaaa…', this run has "
                                         r"'bbbbbbbbbbbb…'.*overwrite=True"):
        DipoleLogWriter(path, dict(identity, model_sha256="b" * 64))
    with pytest.raises(ValueError, match="its temperature_K is 300.0, this run has 310.0"):
        DipoleLogWriter(path, dict(identity, temperature_K=310.0))
    # a second run from t = 0 (a rerun of the same script) is not spliced on
    writer = DipoleLogWriter(path, identity)
    with pytest.raises(ValueError, match=r"last row is at t = 2 fs, so the run continues at "
                                         r"t = 3 fs, not 0 fs"):
        writer.write(0.0, np.zeros(3), np.zeros(3))
    writer.close()
    assert path.read_text() == before
    # overwrite replaces the log with the new run
    with DipoleLogWriter(path, dict(identity, temperature_K=310.0), overwrite=True) as writer:
        writer.write(0.0, np.ones(3), np.ones(3))
    log = read_dipole_log(path)
    np.testing.assert_array_equal(log.time_fs, [0.0])
    assert log.metadata["temperature_K"] == 310.0


def test_failed_header_write_keeps_the_previous_log(tmp_path, monkeypatch):
    path = tmp_path / "a.log"
    write_rows(path, np.arange(3) * 1.0)
    before = path.read_text()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", disk_full)
    with pytest.raises(OSError, match="could not write .*a.log: No space left on device; the "
                                      "previous file, if any, is unchanged"):
        DipoleLogWriter(path, dict(METADATA, temperature_K=310.0), overwrite=True)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.log"]
