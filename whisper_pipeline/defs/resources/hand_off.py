"""How one step's result reaches the steps downstream: a Dagster IO manager over the JSON
documents of storage/step_outputs.py (`<home>/step_outputs/<asset>/<recording id>.json`).

Assets return their record in `MaterializeResult(value=...)` and take their upstream records
as typed parameters, so each can be called with in-memory records in a test. Code outside a
run (renaming speakers, the rename Launchpad's scaffold) reads the same documents through
`RecordingResults`, typed, never by a string of its own."""

from typing import Any

from dagster import (
    AssetKey,
    InitResourceContext,
    InputContext,
    IOManager,
    OutputContext,
    io_manager,
)

from whisper_pipeline.core.records import Diarization, Segment, Transcript
from whisper_pipeline.defs.resources.storage import PipelineStorage

HAND_OFF = "hand_off"  # the resource key the per-recording assets' outputs go through

# the assets whose results are read outside a run (test_hand_off checks they are the assets')
TRANSCRIPT = AssetKey("transcript")
DIARIZATION = AssetKey("diarization")
SPEAKER_TRANSCRIPT = AssetKey("speaker_transcript")


def _folder(key: AssetKey) -> str:
    return key.to_user_string()


class StepHandOff(IOManager):
    """Each per-recording asset's result, kept as JSON in the home folder per recording."""

    def __init__(self, storage: PipelineStorage) -> None:
        self._store = storage.step_outputs

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        self._store.save(_folder(context.asset_key), context.asset_partition_key, obj)

    def load_input(self, context: InputContext) -> Any:
        return self._store.load(_folder(context.asset_key), context.asset_partition_key)


@io_manager(
    required_resource_keys={"storage"},
    description="Hands each step's record to the steps downstream as JSON in the home folder.",
)
def step_hand_off(init_context: InitResourceContext) -> StepHandOff:
    """The `storage` resource the run has (run config and all), so the hand-off is always
    in the same home as the steps' other results."""
    return StepHandOff(init_context.resources.storage)


class RecordingResults:
    """What the steps handed on for one recording, read (and, for a rename, replaced) outside
    a run; a missing result raises FileNotFoundError naming the step and what to do."""

    def __init__(self, storage: PipelineStorage, recording_id: str) -> None:
        self._store = storage.step_outputs
        self.recording_id = recording_id

    @property
    def transcript(self) -> Transcript:
        return self._store.load(_folder(TRANSCRIPT), self.recording_id)

    @property
    def diarization(self) -> Diarization:
        return self._store.load(_folder(DIARIZATION), self.recording_id)

    @property
    def speaker_transcript(self) -> list[Segment]:
        return self._store.load(_folder(SPEAKER_TRANSCRIPT), self.recording_id)

    def replace_speakers(self, diarization: Diarization, segments: list[Segment]) -> None:
        """After a rename: a later run of the steps downstream reads the new names."""
        self._store.save(_folder(SPEAKER_TRANSCRIPT), self.recording_id, segments)
        self._store.save(_folder(DIARIZATION), self.recording_id, diarization)
