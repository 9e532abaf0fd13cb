"""Dagster resources: where things are stored, and the models (each family one resource)."""
