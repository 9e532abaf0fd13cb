"""Every recording is a partition: one dynamic partition key per recording id."""

from dagster import DynamicPartitionsDefinition

from whisper_pipeline.core.display import label
from whisper_pipeline.core.tags import PARTITION_TAG, SOURCE_NAME_TAG
from whisper_pipeline.storage.registry import RegisteredRecording

RECORDINGS_PARTITION = "recordings"
PARTITION_CHUNK = 500  # keys added per call: SQLite refuses statements with too many variables

recordings_partitions = DynamicPartitionsDefinition(name=RECORDINGS_PARTITION)


def recording_run_tags(entry: RegisteredRecording) -> dict[str, str]:
    """The tags of a recording's run: its partition, and the file name people recognise."""
    return {PARTITION_TAG: entry.recording_id, SOURCE_NAME_TAG: label(entry.source_name)[:200]}
