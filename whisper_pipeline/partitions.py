"""Every recording is a partition: one dynamic partition key per recording id."""

from dagster import DynamicPartitionsDefinition

RECORDINGS_PARTITION = "recordings"
PARTITION_TAG = "dagster/partition"  # the run tag holding a run's recording id

recordings_partitions = DynamicPartitionsDefinition(name=RECORDINGS_PARTITION)
