"""Samples and evaluation sets, and `whisper-pipeline evaluate`: how well the pipeline does on recordings with known answers."""
