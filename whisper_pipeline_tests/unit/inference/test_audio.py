import subprocess

import numpy as np
import pytest

from whisper_pipeline.core.errors import RecordingError
from whisper_pipeline.inference.audio import (
    SAMPLE_RATE,
    iter_windows,
    load_audio,
    probe,
    quietest_point,
)


def test_probe_reports_the_facts_of_a_real_recording(sample_call):
    info = probe(sample_call)
    assert info.duration_s == pytest.approx(30.0, abs=0.01)
    assert (info.codec, info.sample_rate_hz, info.channels, info.container) == (
        "pcm_s16le",
        16000,
        1,
        "wav",
    )


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("empty", "file is empty"),
        ("text", "not decodable audio"),
        ("random", "not decodable audio"),
        ("truncated", "not decodable audio"),
    ],
)
def test_probe_rejects_what_is_not_audio_naming_file_and_problem(bad_files, kind, expected):
    with pytest.raises(RecordingError) as caught:
        probe(bad_files[kind])
    assert expected in str(caught.value)
    assert str(bad_files[kind]) in str(caught.value)


def test_missing_file_says_so(tmp_path):
    with pytest.raises(RecordingError, match="file not found"):
        probe(tmp_path / "gone.wav")


def test_mp3_decodes_to_16k_mono(tmp_path, sample_call):
    mp3 = tmp_path / "call.mp3"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(sample_call), str(mp3)], check=True
    )
    audio = load_audio(mp3)
    assert audio.dtype == np.float32
    assert abs(len(audio) / SAMPLE_RATE - 30.0) < 0.1


def test_windows_cover_every_sample_once_and_cut_at_quiet_points(sample_call):
    whole = load_audio(sample_call)
    windows = list(iter_windows(sample_call, window_s=8.0, search_s=2.0))
    assert len(windows) >= 3
    joined = np.concatenate([w.samples for w in windows])
    np.testing.assert_array_equal(joined, whole)
    for previous, following in zip(windows, windows[1:], strict=False):
        assert following.start_s == pytest.approx(previous.end_s)
        assert 6.0 <= len(previous.samples) / SAMPLE_RATE <= 8.0


def test_quietest_point_prefers_a_pause_over_a_gap_between_words():
    rng = np.random.default_rng(0)
    signal = rng.normal(0, 0.3, 3 * SAMPLE_RATE).astype(np.float32)
    signal[8000:8960] = 0.0  # 60 ms between two words: not a place to cut
    signal[32000:38400] = 0.001  # 400 ms pause between sentences
    assert 32000 <= quietest_point(signal) <= 38400


def test_spans_read_as_a_stream_equal_the_same_slices_of_the_whole(sample_call, tmp_path):
    from whisper_pipeline.inference.audio import SAMPLE_RATE, load_audio, read_spans, write_wav

    whole = load_audio(sample_call)
    spans = [(1.0, 2.5), (10.0, 10.25), (29.0, 31.0)]  # the last runs past the end
    expected = np.concatenate(
        [whole[round(a * SAMPLE_RATE) : round(b * SAMPLE_RATE)] for a, b in spans]
    )
    assert np.array_equal(read_spans(sample_call, spans), expected)
    clip = tmp_path / "clip.wav"
    write_wav(clip, expected)
    assert np.allclose(load_audio(clip), expected, atol=1 / 16_000)
