"""`whisper-pipeline speakers rename`: name a recording's speakers (nothing is processed
again); `speakers voices`: what the voices folder knows, and where its names may go wrong."""

from __future__ import annotations

import click

from whisper_pipeline.cli.common import Options, open_instance, open_storage, pass_options


@click.group("speakers")
def speakers_group() -> None:
    """Name a recording's speakers; check the voices folder."""


@speakers_group.command("rename")
@click.argument("recording")
@click.argument("speaker")
@click.argument("name")
@click.option(
    "--voices-dir",
    help="Add the voice to this voices folder (default: the diarizer's voices_dir setting).",
)
@pass_options
def rename_command(
    options: Options, recording: str, speaker: str, name: str, voices_dir: str | None
) -> int:
    """Give SPEAKER (e.g. SPEAKER_01) of RECORDING (id or file name) a NAME (e.g. Ana), in the
    warehouse and the transcript files."""
    from whisper_pipeline.defs.speaker_names import (
        RenameError,
        rename_speaker,
        renamed_materializations,
    )

    pipeline_home = options.pipeline_home
    storage = open_storage(pipeline_home)
    try:
        renamed = rename_speaker(
            storage, recording, speaker, name, _voices_dir(voices_dir), _subtitle_style()
        )
    except RenameError as error:
        click.echo(f"rename refused: {error}", err=True)
        return 2
    storage.warehouse.refresh_database()
    with open_instance(pipeline_home) as instance:  # the UI's partition pages show the names too
        for materialization in renamed_materializations(instance, renamed):
            instance.report_runless_asset_event(materialization)
    click.echo(
        f"{renamed.recording_id}: {renamed.old} is now {renamed.new} ({renamed.segments}"
        f" segments); rewritten: {', '.join(renamed.files)}"
    )
    if renamed.voice_sample:
        click.echo(
            f"voice remembered: {renamed.voice_sample} (later recordings are named {renamed.new})"
        )
    else:
        click.echo(f"voice not remembered: {renamed.voice_note}")
    return 0


@speakers_group.command("voices")
@click.option(
    "--voices-dir", help="The voices folder (default: the diarizer's voices_dir setting)."
)
@click.option(
    "--threshold",
    type=float,
    help="Match threshold (default: the diarizer's voice_match_threshold setting, else 0.65).",
)
def voices_command(voices_dir: str | None, threshold: float | None) -> int:
    """List the names of the voices folder with their samples' length, and the names a speaker
    could be given in each other's place (their voices are at least THRESHOLD alike)."""
    from whisper_pipeline.core.errors import ConfigurationError
    from whisper_pipeline.inference.speaker_embedding import SpeakerEmbedder
    from whisper_pipeline.inference.voices import (
        DEFAULT_VOICE_MATCH,
        LIKELY_SAME_PERSON,
        MIN_SAMPLE_S,
        load_voice_library,
        voice_samples,
    )
    from whisper_pipeline.runtime.settings import load_resource_settings

    diarizer = load_resource_settings().get("diarizer", {})
    folder = voices_dir or diarizer.get("voices_dir")
    if not folder:
        click.echo("no voices folder: give --voices-dir or set diarizer.voices_dir", err=True)
        return 2
    if threshold is None:
        threshold = diarizer.get("voice_match_threshold", DEFAULT_VOICE_MATCH)
    try:
        samples = voice_samples(folder)
        library = load_voice_library(folder, SpeakerEmbedder())
    except ConfigurationError as error:
        click.echo(f"voices folder refused: {error}", err=True)
        return 2
    click.echo(f"{folder}: {len(library.names)} names (match threshold {threshold:g})")
    if library.names:
        click.echo(f"{'name':24} {'samples':>7} {'seconds':>8}")
    for name in library.names:
        seconds = library.seconds[name]
        short = (
            f"  short: under {MIN_SAMPLE_S:g} s; add samples of {name} alone"
            if seconds < MIN_SAMPLE_S
            else ""
        )
        click.echo(f"{name:24} {len(samples[name]):>7} {seconds:>8.1f}{short}")
    for first, second, similarity in library.alike_names(threshold):
        why = (
            "probably one person under two names"
            if similarity >= LIKELY_SAME_PERSON
            else "a speaker may be given either name; longer samples help"
        )
        click.echo(f"alike: {first} and {second} ({similarity:.2f}): {why}")
    return 0


def _subtitle_style():
    """The subtitle layout of the settings file (defaults when it sets none)."""
    from whisper_pipeline.defs.resources.subtitles import SubtitleSettings
    from whisper_pipeline.runtime.settings import load_resource_settings

    return SubtitleSettings(**load_resource_settings().get("subtitles", {})).style()


def _voices_dir(given: str | None) -> str | None:
    """--voices-dir, else the diarizer's voices_dir of the settings file."""
    from whisper_pipeline.runtime.settings import load_resource_settings

    return given or load_resource_settings().get("diarizer", {}).get("voices_dir")
