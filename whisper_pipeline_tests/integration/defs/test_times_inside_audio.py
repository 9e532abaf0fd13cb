"""Every turn, segment and word the pipeline writes lies inside the audio, on short and
odd-length files, through the offline diarizer and the channel path: the models' grids run
past the last sample (a 6.031 s file got a turn ending at 6.224 s)."""

import subprocess

import pytest

from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.evaluation.samples import write_overlapping_stereo_call
from whisper_pipeline.runtime import runner
from whisper_pipeline_tests.in_process import process_in_process

SPANS_SQL = """
SELECT r.source_name, r.duration_s, t.kind, t.start_s, t.end_s
FROM recordings AS r JOIN (
    SELECT recording_id, 'turn' AS kind, start_s, end_s FROM speaker_turns
    UNION ALL SELECT recording_id, 'segment', start_s, end_s FROM segments
    UNION ALL SELECT recording_id, 'word', start_s, end_s FROM words
) AS t USING (recording_id)
"""


def _sox(*args: str) -> None:
    subprocess.run(["sox", *args], check=True, capture_output=True)


@pytest.fixture
def odd_files(tmp_path, conversation):
    """Files whose lengths fall between the models' frames, and one per-channel call."""
    folder = tmp_path / "in"
    folder.mkdir()
    meeting, _turns, _text = conversation
    _sox(str(meeting), str(folder / "meeting 6.031s.wav"), "trim", "0", "6.031")
    _sox(str(meeting), str(folder / "meeting 8.000s.wav"), "trim", "2", "8.0")
    _sox("-n", "-r", "16000", str(folder / "beep 0.5s.wav"), "synth", "0.5", "sine", "880")
    _sox(str(meeting), str(folder / "speech 1.337s.wav"), "trim", "0.4", "1.337")
    stereo = tmp_path / "call.wav"
    write_overlapping_stereo_call(stereo)
    _sox(str(stereo), str(folder / "call 7.777s.wav"), "trim", "0", "7.777")
    return sorted(folder.iterdir())


def test_every_turn_segment_and_word_lies_inside_the_audio(instance, pipeline_home, odd_files):
    storage = PipelineStorage(home_dir=str(pipeline_home))
    entries = runner.register(instance, storage.registry, odd_files)
    outcomes = process_in_process(instance, entries)
    assert [o.status for o in outcomes] == ["succeeded"] * len(odd_files), outcomes
    with storage.warehouse.query_connection() as con:
        spans = con.execute(SPANS_SQL).fetchall()
        backends = dict(
            con.execute("SELECT source_name, diarization_backend FROM recordings").fetchall()
        )
        checks = con.execute(
            "SELECT f.source_name, c.passed, c.description FROM checks AS c"
            " JOIN recording_files AS f USING (recording_id) WHERE c.check_name = 'totals_add_up'"
        ).fetchall()
    assert backends["call 7.777s.wav"] == "channels"
    assert backends["meeting 6.031s.wav"] == "offline"
    kinds = {(name, kind) for name, _d, kind, _s, _e in spans}
    assert ("meeting 6.031s.wav", "turn") in kinds and ("call 7.777s.wav", "word") in kinds
    outside = [row for row in spans if not 0 <= row[3] < row[4] <= row[1]]
    assert outside == []
    # and the beep gave no words (Whisper hears "you" in it: lib/quality.sounds_like_non_speech)
    assert ("beep 0.5s.wav", "word") not in kinds
    assert {(name, passed) for name, passed, _said in checks} == {
        (path.name, True) for path in odd_files
    }, checks
