"""What Dagster loads: the assets (one step each), their resources, the inbox sensor, jobs, schedules and partitions."""
