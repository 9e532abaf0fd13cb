"""`whisper-pipeline`: process recordings, query the warehouse, see run status.

One module per group of commands: run.py (processing), results.py (query, search),
speakers.py (naming speakers), api.py (the HTTP API and its tokens), status.py, evaluation.py (samples, evaluate), services.py (ui,
worker, with-instance); common.py holds what they share."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import click

from whisper_pipeline.cli.api import api_command, api_token_group
from whisper_pipeline.cli.common import INTERRUPTED, Options
from whisper_pipeline.cli.evaluation import evaluate_command, samples_command
from whisper_pipeline.cli.metrics import metrics_command
from whisper_pipeline.cli.results import query_command, search_command
from whisper_pipeline.cli.run import run_command
from whisper_pipeline.cli.services import ui_command, with_instance_command, worker_command
from whisper_pipeline.cli.speakers import speakers_group
from whisper_pipeline.cli.status import status_command
from whisper_pipeline.storage import home


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    "home_dir",
    default=None,
    help=f"Pipeline home folder (default ${home.HOME_ENV}, else ./{home.DEFAULT_HOME_NAME}).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show Dagster's own log lines.")
@click.pass_context
def cli(context: click.Context, home_dir: str | None, verbose: bool) -> None:
    """Process recordings, query the warehouse, see run status."""
    context.obj = Options(home=home_dir, verbose=verbose)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("whisper_pipeline").setLevel(logging.INFO)
    if not verbose:
        from whisperx.log_utils import setup_logging  # cheap: loads no model or torch

        setup_logging("warning")


for command in (
    run_command,
    status_command,
    query_command,
    search_command,
    speakers_group,
    samples_command,
    evaluate_command,
    ui_command,
    worker_command,
    with_instance_command,
    api_command,
    api_token_group,
    metrics_command,
):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code (2: a usage error or a refused request)."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="whisper-pipeline",
            standalone_mode=False,
        )
    except click.exceptions.Exit as done:  # --help
        return done.exit_code
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.Abort:
        return INTERRUPTED
    return result if isinstance(result, int) else 0
