"""`whisper-pipeline query` and `search`: read the warehouse (its DuckDB views), nothing else."""

from __future__ import annotations

import json
import signal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from whisper_pipeline.cli.common import INTERRUPTED, Options, open_storage, pass_options
from whisper_pipeline.core.display import label
from whisper_pipeline.storage.query_sandbox import (
    REFUSED,
    Outcome,
    QueryLimits,
    Terminated,
    TimeLimit,
    is_refusal,
    refusal,
    run_isolated,
    scratch_folder,
)

if TYPE_CHECKING:
    from whisper_pipeline.storage.warehouse import Warehouse


@click.command("query")
@click.argument("sql")
@click.option("--format", "output", type=click.Choice(["table", "csv", "json"]), default="table")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0.1),
    default=QueryLimits.timeout_s,
    show_default=True,
    envvar="WHISPER_PIPELINE_QUERY_TIMEOUT",
    help="Seconds a query may run.",
)
@click.option(
    "--memory-limit",
    default=QueryLimits.memory,
    show_default=True,
    envvar="WHISPER_PIPELINE_QUERY_MEMORY",
    help="Memory a query may use (DuckDB sizes: 500MB, 2GB).",
)
@click.option(
    "--spill-limit",
    default=QueryLimits.spill,
    show_default=True,
    envvar="WHISPER_PIPELINE_QUERY_SPILL",
    help="Disk a query may spill to, in its scratch folder under the home's tmp/.",
)
@pass_options
def query_command(
    options: Options, sql: str, output: str, timeout_s: float, memory_limit: str, spill_limit: str
) -> int:
    """Read-only SQL on the warehouse views, within time, memory and spill limits."""
    storage = open_storage(options.pipeline_home)
    warehouse = storage.warehouse
    warehouse.refresh_database()  # the database file people open: rebuilt if damaged
    limits = QueryLimits(timeout_s, memory_limit, spill_limit)
    with scratch_folder(warehouse.scratch_root) as scratch:
        try:
            outcome = run_isolated(
                partial(run_query, warehouse, sql, output, limits, scratch), scratch, timeout_s
            )
        except KeyboardInterrupt:
            click.echo("query interrupted (Ctrl+C)", err=True)
            return INTERRUPTED
        except Terminated:
            click.echo("query stopped (SIGTERM)", err=True)
            return 128 + signal.SIGTERM
    if outcome.out:
        click.echo(outcome.out, nl=False)
    if outcome.err:
        click.echo(outcome.err, err=True)
    return outcome.code


def run_query(
    warehouse: Warehouse, sql: str, output: str, limits: QueryLimits, scratch: Path
) -> Outcome:
    """The statement and its rows formatted; the command runs it in its own process
    (run_isolated)."""
    import duckdb

    with warehouse.query_connection(limits=limits, scratch=scratch) as connection:
        try:
            with TimeLimit(connection, limits.timeout_s) as limit:
                relation = connection.sql(sql)
                frame = relation.df() if relation is not None else None
        except duckdb.InterruptException:
            if not limit.reached:
                return Outcome(INTERRUPTED, err="query interrupted")
            return Outcome(
                2,
                err=f"query stopped: it ran past the time limit of {limits.timeout_s:g} s"
                " (--timeout)",
            )
        except duckdb.OutOfMemoryException as error:
            return Outcome(
                2,
                err=f"query stopped: {_first_line(error)} (--memory-limit {limits.memory},"
                f" --spill-limit {limits.spill})",
            )
        except duckdb.Error as error:
            if is_refusal(error):
                return Outcome(2, err=refusal(_first_line(error)))
            return Outcome(2, err=f"query failed: {error}")
    if frame is None:
        return Outcome(0)
    if output == "csv":
        return Outcome(0, out=frame.to_csv(index=False))
    if output == "json":
        return Outcome(
            0, out=frame.to_json(orient="records", date_format="iso", force_ascii=False) + "\n"
        )
    import pandas as pd

    with pd.option_context(
        "display.max_rows", 500, "display.max_columns", 50, "display.width", 200
    ):
        shown = frame.map(lambda value: label(value) if isinstance(value, str) else value)
        return Outcome(0, out=(shown.to_string(index=False) if len(frame) else "(no rows)") + "\n")


def _first_line(error: BaseException) -> str:
    """DuckDB wraps an exception from the read-only file system in a Python traceback."""
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

    from whisper_pipeline.core.errors import ConfigurationError
    from whisper_pipeline.core.progress import format_duration
    from whisper_pipeline.storage.search import fts_extension_path, search

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
        where = f"{label(hit.source_name or hit.recording_id)} @ {format_duration(hit.start_s)}"
        click.echo(f"{hit.score:6.2f}  {where}  {label(hit.speaker or '-')}: {label(hit.text)}")
    return 0
