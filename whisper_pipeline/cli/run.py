"""`whisper-pipeline run`: register recordings, launch one `process_recording` run each, and
follow them to the end (Ctrl+C or SIGTERM cancels what has not finished)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from whisper_pipeline.cli.common import (
    Options,
    load_run_config,
    open_instance,
    open_storage,
    pass_options,
    report_settled,
    resource_config,
    with_settings,
)
from whisper_pipeline.core.display import label

if TYPE_CHECKING:
    from dagster import DagsterInstance

    from whisper_pipeline.defs.resources.storage import PipelineStorage


@click.command("run")
@click.argument("given_paths", metavar="PATHS...", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Process again even if already done.")
@click.option("--config", help="Dagster run config YAML (resources: asr: config: ...).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Runs at a time in the command's own worker (embedded broker only; each loads its "
    "models). Default: 1 on a GPU host, else 2 (never more than the recordings).",
)
@pass_options
def run_command(
    options: Options,
    given_paths: tuple[str, ...],
    force: bool,
    config: str | None,
    workers: int | None,
) -> int:
    """Process recordings (files or folders).

    Registers the files, launches one `process_recording` run per recording with work left,
    and follows the runs until they end (with a worker of its own when the instance has no
    broker)."""
    from whisper_pipeline.runtime.local_worker import default_concurrency
    from whisper_pipeline.storage.intake import find_recordings

    instance = open_instance(options.pipeline_home)
    storage = open_storage(options.pipeline_home)
    run_config = with_settings(load_run_config(config))
    paths = list(find_recordings(Path(p) for p in given_paths))
    for path in (p for p in paths if not p.exists()):
        click.echo(f"not found: {path}", err=True)
    paths = [p for p in paths if p.exists()]
    if not paths:
        click.echo("no recordings found in " + ", ".join(given_paths), err=True)
        return 2
    if workers is None:
        workers = default_concurrency(len(paths), _asr_device(run_config))
    followed = _follow_runs(
        instance, storage, options.pipeline_home, paths, force, run_config, workers
    )
    if followed.exit_code is not None:
        return followed.exit_code
    return _conclude(instance, storage, followed)


@dataclass
class _Followed:
    """The runs a command launched and how they ended (or the exit code it stopped with)."""

    outcomes: list = field(default_factory=list)
    launched: list = field(default_factory=list)
    exit_code: int | None = None


def _follow_runs(
    instance: DagsterInstance,
    storage: PipelineStorage,
    pipeline_home: Path,
    paths: list[Path],
    force: bool,
    run_config: dict,
    workers: int,
) -> _Followed:
    """Register, launch and follow to the end; on SIGINT/SIGTERM, cancel what is unfinished."""
    from whisper_pipeline.runtime import runner
    from whisper_pipeline.runtime.local_worker import WorkerDied, local_worker
    from whisper_pipeline.runtime.run_health import (
        launched_by_this_process,
        record_interrupted_steps,
        settle_dead_runs,
    )

    followed = _Followed()
    launched = followed.launched
    # the worker starts first: it boots while the files are registered and the runs created
    with (
        stop_on_signals() as stop,
        local_worker(instance, pipeline_home / "logs", workers) as worker,
    ):
        try:
            report_settled(instance, settle_dead_runs(instance, storage))
            entries = runner.register(instance, storage.registry, paths, storage.warehouse)
            click.echo(f"{len(entries)} recording(s) registered in {pipeline_home}")
            # runs our own worker executes name this command: if it is killed, the next
            # command cancels those nobody will start
            tags = launched_by_this_process() if worker is not None else {}
            _, skipped = runner.launch_recordings(
                instance, entries, force, run_config, launched, tags
            )
            for outcome in skipped:
                followed.outcomes.append(outcome)
                why = outcome.error or "already processed (use --force to process again)"
                click.echo(f"{outcome.recording_id}: {label(why)}")
            for item in launched:
                click.echo(
                    f"{label(item.entry.source_name)} -> {item.entry.recording_id}: run {item.run_id}"
                )
            follower = _RunFollower(instance, launched, worker, storage, stop)
            followed.outcomes += runner.wait_for_runs(
                instance, launched, on_outcome=follower.report, check=follower.poll
            )
            if worker is not None:
                worker.idle = True
        except KeyboardInterrupt:
            pass  # handled below: the runs are canceled, the worker stopped
        except WorkerDied as error:
            click.echo(f"\n{error}", err=True)
            runner.abandon_runs(instance, [i.run_id for i in launched], str(error))
            followed.exit_code = 1
            return followed
        if stop.signal:
            reason = f"stopped by {signal.Signals(stop.signal).name}"
            canceled = runner.cancel_runs(instance, [i.run_id for i in launched], reason)
            ended = wait_for_cancellation(instance, canceled, storage)
            record_interrupted_steps(instance, canceled, storage)
            if worker is not None and ended:
                worker.idle = True  # it releases its models and exits on its own
            click.echo(
                f"\n{reason}: {len(canceled)} unfinished run(s) canceled; the next `run` redoes them",
                err=True,
            )
            followed.exit_code = 128 + stop.signal
    return followed


def _conclude(instance: DagsterInstance, storage: PipelineStorage, followed: _Followed) -> int:
    """Summaries and the warehouse follow what was processed; the summary table; the exit code:
    2 with nothing to do, 1 when a recording failed."""
    outcomes = followed.outcomes
    if any(o.status in ("succeeded", "failed") for o in outcomes):
        refresh_summaries(instance, storage)
    storage.warehouse.refresh_database()
    busy = {o.recording_id for o in outcomes if o.status == "skipped" and o.run_id}
    _print_summary(storage, [o.recording_id for o in outcomes if o.recording_id not in busy])
    if not followed.launched:
        click.echo(
            f"\nnothing to do: {len(outcomes) - len(busy)} already processed, {len(busy)} being"
            " processed by another command (`status` follows them; --force processes again)",
            err=True,
        )
        return 2
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        click.echo(f"\n{len(failed)} recording(s) failed:", err=True)
        for outcome in failed:
            click.echo(
                f"  {label(Path(outcome.source_path).name)}: {label(outcome.error or '')}",
                err=True,
            )
        return 1
    return 0


HEALTH_CHECK_S = 5.0


def refresh_summaries(instance, storage) -> None:
    """daily_totals and recording_index follow what this command processed (the hourly schedule only ticks where
    the Dagster daemon runs): recomputed here and recorded as its materialization, so the UI
    shows it fresh. A failure here is reported and leaves the recordings' results as they are."""
    from dagster import AssetMaterialization

    from whisper_pipeline.defs.assets.summaries import refresh_daily_totals, refresh_recording_index

    for name, refresh in (
        ("daily_totals", refresh_daily_totals),
        ("recording_index", refresh_recording_index),
    ):
        try:
            instance.report_runless_asset_event(
                AssetMaterialization(
                    name, description="refreshed by whisper-pipeline run", metadata=refresh(storage)
                )
            )
        except Exception as error:
            click.echo(f"{name} not refreshed: {error}", err=True)


class _RunFollower:
    """Prints each run's outcome, and its progress line whenever it changes; watches the
    command's own worker, if it has one."""

    def __init__(self, instance, launched, worker, storage, stop: _StopRequest) -> None:
        import time

        self.stop = stop
        self.instance = instance
        self.worker = worker
        self.storage = storage
        self.names = {item.run_id: label(item.entry.source_name) for item in launched}
        self.shown: dict[str, str] = {}
        self.done = 0
        self.next_health_check = time.monotonic() + HEALTH_CHECK_S

    def report(self, outcome) -> None:
        self.done += 1
        name = self.names.get(outcome.run_id, outcome.recording_id)
        prefix = f"[{self.done}/{len(self.names)}] {name}"
        if outcome.status == "failed":
            click.echo(f"{prefix}: FAILED: {label(outcome.error or '')}")
        else:
            click.echo(f"{prefix}: done ({', '.join(outcome.steps)})")

    def poll(self) -> None:
        """On every poll: the local worker is alive, its runs' pool processes too (every few
        seconds, as run monitoring would on a daemon), and progress is shown."""
        import time

        from whisper_pipeline.runtime.run_health import fail_runs_with_dead_workers

        self.stop.raise_if_signaled()
        if self.worker is not None:
            self.worker.check()
            if time.monotonic() > self.next_health_check:
                self.next_health_check = time.monotonic() + HEALTH_CHECK_S
                fail_runs_with_dead_workers(self.instance, list(self.names), self.storage)
        self.show_progress()

    def show_progress(self) -> None:
        from dagster import DagsterRunStatus, RunsFilter

        from whisper_pipeline.core.tags import TAG_PROGRESS, own_tags

        runs = self.instance.get_runs(
            RunsFilter(run_ids=list(self.names), statuses=[DagsterRunStatus.STARTED])
        )
        for run in runs:
            line = own_tags(run).get(TAG_PROGRESS)
            if line and self.shown.get(run.run_id) != line:
                self.shown[run.run_id] = line
                click.echo(f"    {self.names[run.run_id]}: {label(line)}", err=True)


def wait_for_cancellation(instance, run_ids: list[str], storage, timeout_s: float = 60.0) -> bool:
    """Give terminated runs time to unwind (their steps record where they stopped); a run
    whose worker process died instead is canceled here. True when all have ended."""
    import time

    from dagster import RunsFilter

    from whisper_pipeline.runtime.run_health import finish_canceling_runs_with_dead_workers
    from whisper_pipeline.runtime.runner import FINISHED

    deadline = time.monotonic() + timeout_s
    while run_ids and time.monotonic() < deadline:
        finish_canceling_runs_with_dead_workers(instance, run_ids, storage)
        runs = instance.get_runs(RunsFilter(run_ids=run_ids))
        if all(run.status in FINISHED for run in runs):
            return True
        time.sleep(0.1)
    return not run_ids


class _StopRequest:
    signal: int | None = None

    def raise_if_signaled(self) -> None:
        """The handler's KeyboardInterrupt can be swallowed (raised inside a garbage-collection
        callback, Python only prints it): whoever waits asks again."""
        if self.signal is not None:
            raise KeyboardInterrupt(f"received {signal.Signals(self.signal).name}")


@contextmanager
def stop_on_signals() -> Iterator[_StopRequest]:
    """SIGTERM and SIGINT (Ctrl+C) stop the CLI: it remembers which, raises KeyboardInterrupt
    where it waits, then cancels its runs (a started one is terminated in its worker, whose
    step records where it stopped). A second signal falls back to the default."""
    stop = _StopRequest()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def interrupt(signum: int, _frame: object) -> None:
        stop.signal = signum
        for sig in previous:
            signal.signal(sig, signal.SIG_DFL)
        stop.raise_if_signaled()

    for sig in previous:
        signal.signal(sig, interrupt)
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


SUMMARY_SQL = """
SELECT r.recording_id, r.source_name, r.duration_s, r.language, r.speakers, r.words,
       r.realtime_factor, r.diarization_skipped_reason
FROM recordings AS r
WHERE r.recording_id IN (SELECT unnest($ids))
ORDER BY r.source_name
"""
FAILED_CHECKS_SQL = """
SELECT f.source_name, c.check_name, c.severity, c.description
FROM checks AS c JOIN recording_files AS f USING (recording_id)
WHERE NOT c.passed AND c.recording_id IN (SELECT unnest($ids))
ORDER BY c.severity, f.source_name, c.check_name
"""


def _print_summary(storage, recording_ids: list[str]) -> None:
    with storage.warehouse.query_connection() as connection:
        rows = connection.execute(SUMMARY_SQL, {"ids": recording_ids}).fetchall()
        failed_checks = connection.execute(FAILED_CHECKS_SQL, {"ids": recording_ids}).fetchall()
    if not rows:
        return
    click.echo("\nSummary")
    header = f"{'recording':<40} {'duration':>9} {'lang':>4} {'speakers':>8} {'words':>6} {'RTF':>6}  transcripts"
    click.echo(header)
    skipped = {row[-1] for row in rows if row[-1]}
    for recording_id, _name, duration, language, speakers, words, rtf, _skipped in rows:
        folder = storage.outputs_for(recording_id)
        exports = folder if folder.exists() else "-"
        click.echo(
            f"{recording_id[:40]:<40} {_num(duration, '{:.1f}s'):>9} {language or '-':>4}"
            f" {_num(speakers, '{}'):>8} {_num(words, '{}'):>6} {_num(rtf, '{:.3f}'):>6}  {exports}"
        )
    for reason in sorted(skipped):
        click.echo(f"\nSpeakers: diarization skipped: {label(reason)}")
    if failed_checks:
        click.echo("\nChecks that failed (docs/checks.md):")
        for name, check, severity, description in failed_checks:
            click.echo(f"  {severity:<5} {label(name or '')}: {check}: {label(description or '')}")
    click.echo(
        f"\nWarehouse: {storage.warehouse.database_path} (DuckDB views: recordings, segments, words, ...)"
    )


def _num(value, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def _asr_device(run_config: dict) -> str:
    """The ASR device the runs will use: the run config's, else the settings file's, else auto."""
    from whisper_pipeline.runtime.settings import load_resource_settings

    given = resource_config(run_config, "asr").get("device")
    return str(given or load_resource_settings().get("asr", {}).get("device") or "auto")
