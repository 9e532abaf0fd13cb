"""Sensors on the Dagster daemon: the run monitor (and intake)."""
