"""`whisper-pipeline speakers rename`: name a recording's speakers (nothing is processed again)."""

from __future__ import annotations

import click

from whisper_pipeline.cli.common import Options, open_instance, open_storage, pass_options


@click.group("speakers")
def speakers_group() -> None:
    """Name a recording's speakers."""


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
    from whisper_pipeline.speaker_names import RenameError, rename_speaker, renamed_materialization

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
    with open_instance(pipeline_home) as instance:  # the UI's partition page shows the names too
        instance.report_runless_asset_event(renamed_materialization(renamed))
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


def _subtitle_style():
    """The subtitle layout of the settings file (defaults when it sets none)."""
    from whisper_pipeline.resources.subtitles import SubtitleSettings
    from whisper_pipeline.settings import load_resource_settings

    return SubtitleSettings(**load_resource_settings().get("subtitles", {})).style()


def _voices_dir(given: str | None) -> str | None:
    """--voices-dir, else the diarizer's voices_dir of the settings file."""
    from whisper_pipeline.settings import load_resource_settings

    return given or load_resource_settings().get("diarizer", {}).get("voices_dir")
