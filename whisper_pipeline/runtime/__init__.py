"""Submitting, executing and watching runs: the instance, settings, the run launcher, workers, run health and the run monitor, status and progress."""
