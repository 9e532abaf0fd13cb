"""Beyond English with the bundled multilingual model: real (synthetic) German, Spanish and
French speech with known text, a recording that switches language, and the English-only model
warning instead of passing nonsense silently."""

import re
import subprocess

import jiwer
import pytest

from whisper_pipeline.defs.resources.asr import WhisperASR
from whisper_pipeline.evaluation.samples import FOREIGN_SPEECH, speak_language
from whisper_pipeline.inference.audio import iter_windows, probe
from whisper_pipeline.inference.language import summarize
from whisper_pipeline.inference.transcription import transcribe_windows

TEXTS = FOREIGN_SPEECH
# measured here with bundled base: de 0.16, es 0.03, fr 0.26 (espeak-ng's voices are robotic)
MAX_WER = {"de": 0.3, "es": 0.15, "fr": 0.4}


def speak(folder, language: str, text: str, name: str | None = None):
    path = folder / f"{name or language}.wav"
    speak_language(language, text, path)
    return path


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    folder = tmp_path_factory.mktemp("voices")
    return {language: speak(folder, language, text) for language, text in TEXTS.items()}


@pytest.fixture(scope="module")
def base():
    return WhisperASR(model="bundled:base", device="cpu")


def words(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def transcribe(asr: WhisperASR, path):
    with asr.borrow() as whisper:
        return list(
            transcribe_windows(
                whisper.model,
                iter_windows(path, asr.windows_of(whisper.model)),
                probe(path).duration_s,
                asr.language,
                asr.batch_size,
            )
        )


@pytest.mark.parametrize("language", sorted(TEXTS))
def test_the_language_is_detected_and_transcribed(base, voices, language):
    windows = transcribe(base, voices[language])
    segments = [s for w in windows for s in w.segments]
    summary = summarize(segments, {w.language: [w.probability] for w in windows})
    assert summary.language == language and summary.probability > 0.8, summary
    assert summary.languages == ""  # one language, nothing else claimed
    assert all(s.language == language for s in segments)
    timed = [w for s in segments for w in s.words]  # word timestamps in every language
    assert len(timed) >= 20 and [w.start_s for w in timed] == sorted(w.start_s for w in timed)
    assert all(s.start_s <= w.start_s <= w.end_s <= s.end_s for s in segments for w in s.words)
    error = jiwer.wer(words(TEXTS[language]), words(" ".join(s.text for s in segments)))
    assert error <= MAX_WER[language], (error, [s.text for s in segments])


def test_a_recording_that_switches_language_is_reported_as_both(base, tmp_path):
    """40 s of German, then 40 s of Spanish: detected window by window (30 s windows)."""
    german = speak(tmp_path, "de", " ".join([TEXTS["de"]] * 3), "de3")
    spanish = speak(tmp_path, "es", " ".join([TEXTS["es"]] * 3), "es3")
    both = tmp_path / "switch.wav"
    subprocess.run(["sox", "-D", str(german), str(spanish), str(both)], check=True)
    switch_s = probe(german).duration_s
    windows = transcribe(base, both)
    segments = [s for w in windows for s in w.segments]
    summary = summarize(segments, {w.language: [w.probability] for w in windows})
    assert set(summary.languages.replace(",", "").split()) >= {"de", "es"}, summary
    middle = {s: (s.start_s + s.end_s) / 2 for s in segments}
    assert {s.language for s in segments if middle[s] < switch_s - 3} == {"de"}
    # the window that holds the switch may be detected as neither language (on this machine
    # its few seconds of Spanish after the switch came out as 'la', probability 0.56)
    assert {s.language for s in segments if middle[s] > switch_s + 6} == {"es"}
    german = " ".join(s.text for s in segments if middle[s] < switch_s)
    spanish = " ".join(s.text for s in segments if middle[s] > switch_s)
    # each language's words are transcribed in it; the sentence at the switch may be lost
    assert words(german).count("kosten") >= 1 and words(german).count("jahr") >= 1
    assert words(spanish).count("presupuesto") >= 2


def test_a_fixed_language_is_used_as_given(voices):
    asr = WhisperASR(model="bundled:base", device="cpu", language="es")
    windows = transcribe(asr, voices["es"])
    assert {w.language for w in windows} == {"es"} and {w.probability for w in windows} == {None}


def test_the_english_only_model_warns_on_other_languages(tmp_path, instance, voices, sample_call):
    """The default tiny.en on German speech: a warning in the step's metadata and in the
    warehouse, not silent nonsense; on English speech, no warning."""
    import shutil

    from dagster import AssetKey

    from whisper_pipeline.defs.resources.storage import PipelineStorage
    from whisper_pipeline.runtime import runner
    from whisper_pipeline_tests.in_process import process_in_process

    home = tmp_path / "home"
    storage = PipelineStorage(home_dir=str(home))
    shutil.copyfile(voices["de"], tmp_path / "besprechung.wav")
    entries = runner.register(
        instance, storage.registry, [tmp_path / "besprechung.wav", sample_call]
    )
    config = {
        "resources": {
            "storage": {"config": {"home_dir": str(home)}},
            "diarizer": {"config": {"backend": "none"}},
        }
    }
    outcomes = process_in_process(instance, entries, True, config)
    assert [o.status for o in outcomes] == ["succeeded", "succeeded"], outcomes
    german, english = (e.recording_id for e in entries)
    for recording_id, warned in ((german, True), (english, False)):
        event = instance.get_latest_materialization_event(AssetKey("transcript"))
        records = instance.fetch_materializations(AssetKey("transcript"), limit=10).records
        (materialization,) = [
            r.asset_materialization for r in records if r.partition_key == recording_id
        ]
        warning = materialization.metadata.get("warning")
        assert (warning is not None) == warned, (recording_id, materialization.metadata)
        if warned:
            assert "English-only" in warning.value and "speech is de" in warning.value
        assert event is not None
    with storage.warehouse.query_connection() as con:
        notes = dict(con.execute("SELECT recording_id, language_note FROM recordings").fetchall())
    assert notes[english] is None and "bundled:base" in notes[german]
