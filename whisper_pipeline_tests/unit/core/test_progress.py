from whisper_pipeline.core.progress import ProgressReporter, format_duration
from whisper_pipeline.core.tags import TAG_SEGMENTS, TAG_STEP, TAG_UPDATED


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_progress_describes_step_segments_percent_elapsed_and_eta():
    clock, seen = Clock(), []
    reporter = ProgressReporter("transcribe", "rec", 1692.0, [seen.append], 10.0, clock)
    clock.now += 130
    reporter.update(position_s=1692.0 * 0.37, segments=45, force=True)
    snapshot = seen[-1]
    assert (
        snapshot.describe()
        == "transcribe: 45 segments, 37% of 28m12s audio, elapsed 2m10s, ETA 3m41s"
    )


def test_updates_are_throttled_and_forced_ones_always_go_out():
    clock, seen = Clock(), []
    reporter = ProgressReporter("transcribe", "rec", 100.0, [seen.append], 10.0, clock)
    reporter.update(1.0, 1)
    reporter.update(2.0, 2)
    clock.now += 11
    reporter.update(3.0, 3)
    reporter.update(4.0, 4, force=True)
    assert [s.segments for s in seen] == [1, 3, 4]


def test_a_failing_sink_never_fails_the_work_and_others_still_get_updates(caplog):
    seen = []

    def broken(_snapshot):
        raise RuntimeError("UI unreachable")

    reporter = ProgressReporter("transcribe", "rec", 10.0, [broken, seen.append], 0.0)
    reporter.update(5.0, 3)
    assert seen and seen[-1].segments == 3
    assert "progress sink" in caplog.text


def test_time_tags_read_as_people_do_and_back():
    from whisper_pipeline.core.tags import read_time_tag, time_tag

    assert time_tag(1_764_000_000) == "2025-11-24T16:00:00Z"
    assert read_time_tag(time_tag(1_764_000_000)) == 1_764_000_000
    assert read_time_tag("1764000000") == 1_764_000_000  # runs of earlier versions
    assert read_time_tag("soon") is None and read_time_tag(None) is None


def test_format_duration():
    assert [format_duration(s) for s in (5, 65, 3725, None)] == ["5s", "1m05s", "1h02m", "?"]


def test_progress_tags_describe_where_a_run_is():
    from whisper_pipeline.core.progress import describe_progress, worker_died_message

    tags = {
        TAG_STEP: "transcribe",
        TAG_SEGMENTS: "45",
        TAG_UPDATED: "1000",
    }
    assert (
        describe_progress(tags, now=1960)
        == "in step transcribe (45 segments); last update 16m00s ago"
    )
    iso = {**tags, TAG_UPDATED: "1970-01-01T00:16:40Z"}  # what steps write
    assert describe_progress(iso, now=1960) == describe_progress(tags, now=1960)
    assert describe_progress({TAG_STEP: "diarization"}) == "in step diarization"
    assert describe_progress({}) == "before its first step"
    assert (
        worker_died_message({}, "pid 7 gone")
        == "Run worker died before its first step (pid 7 gone)"
    )
