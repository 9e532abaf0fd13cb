"""`whisper-pipeline query` and `search`: read the warehouse (its DuckDB views), nothing else."""

from __future__ import annotations

import json
import sys

import click

from whisper_pipeline.cli.common import Options, open_storage, pass_options


@click.command("query")
@click.argument("sql")
@click.option("--format", "output", type=click.Choice(["table", "csv", "json"]), default="table")
@pass_options
def query_command(options: Options, sql: str, output: str) -> int:
    """Read-only SQL on the warehouse views."""
    import duckdb

    from whisper_pipeline.lib.query_sandbox import is_refusal

    storage = open_storage(options.pipeline_home)
    storage.warehouse.refresh_database()  # the database file people open: rebuilt if damaged
    with storage.warehouse.query_connection() as connection:
        try:
            relation = connection.sql(sql)
            frame = relation.df() if relation is not None else None
        except duckdb.Error as error:
            if is_refusal(error):
                click.echo(
                    "query refused: `query` reads the warehouse views and nothing else; it"
                    f" writes no file and reads none outside the warehouse ({_first_line(error)})",
                    err=True,
                )
            else:
                click.echo(f"query failed: {error}", err=True)
            return 2
        if frame is None:
            return 0
    if output == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif output == "json":
        click.echo(frame.to_json(orient="records", date_format="iso", force_ascii=False))
    else:
        import pandas as pd

        with pd.option_context(
            "display.max_rows", 500, "display.max_columns", 50, "display.width", 200
        ):
            click.echo(frame.to_string(index=False) if len(frame) else "(no rows)")
    return 0


def _first_line(error: BaseException) -> str:
    """DuckDB wraps an exception from the read-only file system in a Python traceback."""
    from whisper_pipeline.lib.query_sandbox import REFUSED

    text = str(error)
    if REFUSED in text:
        return text[text.index(REFUSED) :].splitlines()[0]
    return text.splitlines()[0] if text else type(error).__name__


@click.command("search")
@click.argument("words")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table")
@pass_options
def search_command(options: Options, words: str, limit: int, output: str) -> int:
    """Full-text search over every transcript (ranked, BM25).

    WORDS: what to look for, e.g. "budget review"."""
    from dataclasses import asdict

    from whisper_pipeline.lib.errors import ConfigurationError
    from whisper_pipeline.lib.progress import format_duration
    from whisper_pipeline.lib.search import fts_extension_path, search

    storage = open_storage(options.pipeline_home)
    try:
        extension = fts_extension_path()
    except ConfigurationError as error:
        click.echo(f"search unavailable: {error}", err=True)
        return 2
    with storage.warehouse.query_connection(extensions=[extension]) as connection:
        hits = search(connection, words, limit)
    if output == "json":
        click.echo(json.dumps([asdict(hit) for hit in hits], ensure_ascii=False, indent=2))
        return 0
    if not hits:
        click.echo(f"no segment matches {words!r}")
        return 0
    for hit in hits:
        where = f"{hit.source_name or hit.recording_id} @ {format_duration(hit.start_s)}"
        click.echo(f"{hit.score:6.2f}  {where}  {hit.speaker or '-'}: {hit.text}")
    return 0
