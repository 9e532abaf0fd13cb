"""Every recording is a partition: one dynamic partition key per recording id."""

from dagster import DynamicPartitionsDefinition

RECORDINGS_PARTITION = "recordings"

recordings_partitions = DynamicPartitionsDefinition(name=RECORDINGS_PARTITION)
