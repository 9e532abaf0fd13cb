"""The exporter's bookkeeping: failures sorted into kinds, warehouse files read once each."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from whisper_pipeline.runtime.exporter import FileRows, failure_kind


@pytest.mark.parametrize(
    ("error_type", "message", "kind"),
    [
        ("RecordingError", "a.wav: not decodable audio", "decode"),
        ("WorkerDied", "worker died in step transcribe", "worker_died"),
        ("RunMonitor", "Stuck in step transcribe (45 segments); last update 16m ago", "stuck"),
        ("Interrupted", "interrupted in step diarization", "interrupted"),
        ("ReadTimeout", "the server did not answer", "timeout"),
        ("RuntimeError", "ffmpeg timed out after 120 s", "timeout"),
        ("ConfigurationError", "no such model", "configuration"),
        ("ValueError", "something else", "other"),
    ],
)
def test_failures_are_sorted_into_kinds(error_type, message, kind):
    assert failure_kind(error_type, message) == kind


def test_each_file_is_read_once_until_it_changes_and_damaged_ones_are_counted(tmp_path):
    reads = []

    def read(path):
        reads.append(path.name)
        return pq.read_metadata(path).num_rows

    for name, rows in (("a", 2), ("b", 3)):
        pq.write_table(pa.table({"x": list(range(rows))}), tmp_path / f"{name}.parquet")
    (tmp_path / "c.parquet").write_bytes(b"damaged")
    table = FileRows(read)
    assert table.refresh(tmp_path) == {"a.parquet": 2, "b.parquet": 3}
    assert table.unreadable == {"c.parquet"}
    reads.clear()
    assert table.refresh(tmp_path) == {"a.parquet": 2, "b.parquet": 3}
    assert reads == ["c.parquet"]  # only the damaged one is tried again
    pq.write_table(pa.table({"x": [1]}), tmp_path / "c.parquet")
    (tmp_path / "a.parquet").unlink()
    assert table.refresh(tmp_path) == {"b.parquet": 3, "c.parquet": 1}
    assert table.unreadable == set()


def test_runs_are_counted_for_every_job_of_the_code_location():
    from whisper_pipeline.definitions import defs
    from whisper_pipeline.runtime.exporter import JOBS

    jobs = {job.name for job in defs.get_repository_def().get_all_jobs()}
    assert set(JOBS) == jobs - {"__ASSET_JOB"}
