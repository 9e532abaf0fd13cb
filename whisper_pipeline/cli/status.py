"""`whisper-pipeline status`: recent runs per recording, with their step, progress and error."""

from __future__ import annotations

import json
from pathlib import Path

import click

from whisper_pipeline.cli.common import Options, open_instance, open_storage, pass_options
from whisper_pipeline.core.display import label


@click.command("status")
@click.argument("name", required=False)
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table")
@click.option("--watch", is_flag=True, help="Refresh until Ctrl+C.")
@click.option("--interval", type=float, default=2.0, help="Seconds between refreshes.")
@pass_options
def status_command(
    options: Options, name: str | None, limit: int, output: str, watch: bool, interval: float
) -> int:
    """Recent runs per recording: state, step, error. With NAME, only the recordings whose file
    name (or id) holds it, e.g. `status "hot interview"`."""
    import time

    from whisper_pipeline.runtime.run_health import settle_dead_runs
    from whisper_pipeline.runtime.status import format_table, recent_runs

    pipeline_home = options.pipeline_home
    instance = open_instance(pipeline_home)
    storage = open_storage(pipeline_home)
    recording_ids = None
    if name is not None:
        from whisper_pipeline.runtime.status import matching_recordings

        recording_ids = matching_recordings(storage.registry, name)
        if not recording_ids:
            click.echo(f"no recording named like {label(name)!r} (see `status` for all)", err=True)
            return 2
    while True:
        settle_dead_runs(instance, storage)  # a dead run is never shown as running
        rows = recent_runs(instance, limit=limit, recording_ids=recording_ids)
        if output == "json":
            click.echo(json.dumps(rows, indent=2, default=str))
        else:
            if watch:
                click.echo("\033[2J\033[H", nl=False)  # clear the terminal
            click.echo(format_table(rows) if rows else "no runs yet")
            failures = _recent_failures(pipeline_home, recording_ids)
            if failures:
                click.echo("\nrecent failures:")
                for failed_at, name, step, error in failures:
                    click.echo(
                        f"  {failed_at:%Y-%m-%d %H:%M} {label(name or '')} [{step}] {label(error or '')}"
                    )
        if not watch:
            return 0
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return 0


def _recent_failures(
    pipeline_home: Path, recording_ids: list[str] | None = None, limit: int = 5
) -> list[tuple]:
    """The newest rows of the failures view (of the given recordings only, when given)."""
    with open_storage(pipeline_home).warehouse.query_connection() as connection:
        return connection.execute(
            "SELECT failed_at, source_name, step, error FROM failures"
            " WHERE ? IS NULL OR list_contains(?, recording_id)"
            " ORDER BY failed_at DESC LIMIT ?",
            [recording_ids, recording_ids, limit],
        ).fetchall()
