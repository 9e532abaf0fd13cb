"""The model steps called as functions on pyannote's real two-speaker call, each with the
records its upstream step returned in memory (no run): what they hand on."""

import shutil

import pytest
from dagster import build_asset_context

from whisper_pipeline.defs.assets.diarization import DiarizationConfig, diarization
from whisper_pipeline.defs.assets.metadata import recording_metadata
from whisper_pipeline.defs.assets.transcript import transcript
from whisper_pipeline.defs.resources.alignment import WordAlignment
from whisper_pipeline.defs.resources.diarization import SpeakerDiarizer
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.defs.resources.subtitles import SubtitleSettings


@pytest.fixture
def registered(tmp_path, sample_call):
    storage = PipelineStorage(home_dir=str(tmp_path / "home"))
    call = tmp_path / "sample call.wav"
    shutil.copyfile(sample_call, call)
    entry = storage.registry.register(call)
    with build_asset_context(partition_key=entry.recording_id) as context:
        facts = recording_metadata(context, storage=storage).value
    return storage, facts


def test_transcript_of_the_facts_metadata_handed_on(registered, asr):
    storage, facts = registered
    assert facts.duration_s == pytest.approx(30.0, abs=0.1) and facts.channels == 1
    with build_asset_context(partition_key=facts.recording_id) as context:
        result = transcript(
            context,
            recording_metadata=facts,
            storage=storage,
            asr=asr,
            alignment=WordAlignment(),
            subtitles=SubtitleSettings(),
        )
    said = result.value
    assert said.language == "en" and said.model.startswith("tiny.en")
    assert len(said.words) > 40
    assert all(0 <= w.start_s < w.end_s <= facts.duration_s for w in said.words)
    assert all(c.passed for c in result.check_results), result.check_results
    assert (storage.outputs_for(facts.recording_id) / f"{facts.recording_id}.srt").exists()


def test_diarization_of_the_facts_metadata_handed_on(registered):
    storage, facts = registered
    with build_asset_context(partition_key=facts.recording_id) as context:
        result = diarization(
            context,
            config=DiarizationConfig(),
            recording_metadata=facts,
            storage=storage,
            diarizer=SpeakerDiarizer(),
        )
    found = result.value
    assert found.backend == "offline" and len(found.speakers) == 2
    assert set(found.voice_vectors) == set(found.speakers)
    assert all(0 <= t.start_s < t.end_s <= facts.duration_s for t in found.turns)
    assert result.metadata["speakers"].value == 2
