"""Evaluation sets written and scored through the CLI, as a user runs them."""

import json

from whisper_pipeline.cli import main as cli_main
from whisper_pipeline.core.scoring import read_rttm


def evaluate_samples(tmp_path, *samples_args: str) -> dict:
    """`samples FOLDER *samples_args`, then `evaluate FOLDER --no-wer`: the JSON report."""
    folder = tmp_path / "set"
    assert cli_main(["samples", str(folder), *samples_args]) == 0
    for path in folder.glob("*.wav"):  # the references say who speaks, as the name says
        speakers = {turn.speaker for turn in read_rttm(path.with_suffix(".rttm"))}
        assert path.stem.startswith("ami_") or len(speakers) == int(path.stem[-4])
    return evaluate(folder, tmp_path / "report.json")


def evaluate(folder, report_path, *evaluate_args: str) -> dict:
    """`evaluate FOLDER --no-wer *evaluate_args`: the JSON report."""
    args = ["evaluate", str(folder), "--no-wer", "--json", str(report_path), *evaluate_args]
    assert cli_main(args) == 0
    return json.loads(report_path.read_text())
