"""`whisper-pipeline`: process recordings, query the warehouse, see run status."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from whisper_pipeline import home

log = logging.getLogger("whisper_pipeline.cli")


def _instance(pipeline_home: Path):
    from dagster import DagsterInstance

    from whisper_pipeline.instance import prepare_dagster_home

    prepare_dagster_home(pipeline_home)
    return DagsterInstance.get()


def _storage(pipeline_home: Path):
    from whisper_pipeline.resources.storage import PipelineStorage

    return PipelineStorage(home_dir=str(pipeline_home))


def cmd_run(args: argparse.Namespace) -> int:
    """Register the files, launch one `process_recording` run per recording with work left,
    and follow the runs until they end (a worker of its own when the instance has no broker)."""
    from whisper_pipeline import runner
    from whisper_pipeline.lib.intake import find_recordings
    from whisper_pipeline.local_worker import WorkerDied, local_worker
    from whisper_pipeline.run_health import (
        launched_by_this_process,
        record_interrupted_steps,
        settle_dead_runs,
    )

    pipeline_home = home.resolve_home(args.home)
    instance = _instance(pipeline_home)
    storage = _storage(pipeline_home)
    run_config = with_settings(load_run_config(args.config))
    paths = list(find_recordings(Path(p) for p in args.paths))
    for path in (p for p in paths if not p.exists()):
        print(f"not found: {path}", file=sys.stderr)
    paths = [p for p in paths if p.exists()]
    if not paths:
        print("no recordings found in " + ", ".join(args.paths), file=sys.stderr)
        return 2
    outcomes: list = []
    launched: list = []
    logs = pipeline_home / "logs"
    # the worker starts first: it boots while the files are registered and the runs created
    with stop_on_signals() as stop, local_worker(instance, logs, args.workers) as worker:
        try:
            _report_settled(instance, settle_dead_runs(instance, storage))
            entries = runner.register(instance, storage.registry, paths, storage.warehouse)
            print(f"{len(entries)} recording(s) registered in {pipeline_home}")
            # runs our own worker executes name this command: if it is killed, the next
            # command cancels those nobody will start
            tags = launched_by_this_process() if worker is not None else {}
            _, skipped = runner.launch_recordings(
                instance, entries, args.force, run_config, launched, tags
            )
            for outcome in skipped:
                outcomes.append(outcome)
                why = outcome.error or "already processed (use --force to process again)"
                print(f"{outcome.recording_id}: {why}")
            for item in launched:
                print(f"{item.entry.source_name} -> {item.entry.recording_id}: run {item.run_id}")
            follower = _RunFollower(instance, launched, worker, storage)
            outcomes += runner.wait_for_runs(
                instance, launched, on_outcome=follower.report, check=follower.poll
            )
            if worker is not None:
                worker.idle = True
        except KeyboardInterrupt:
            pass  # handled below: the runs are canceled, the worker stopped
        except WorkerDied as error:
            print(f"\n{error}", file=sys.stderr)
            runner.abandon_runs(instance, [i.run_id for i in launched], str(error))
            return 1
        if stop.signal:
            reason = f"stopped by {signal.Signals(stop.signal).name}"
            canceled = runner.cancel_runs(instance, [i.run_id for i in launched], reason)
            _wait_for_cancellation(instance, canceled, storage)
            record_interrupted_steps(instance, canceled, storage)
            print(
                f"\n{reason}: {len(canceled)} unfinished run(s) canceled; the next `run` redoes them",
                file=sys.stderr,
            )
            return 128 + stop.signal
    if any(o.status == "succeeded" for o in outcomes):
        _refresh_summaries(instance, storage)
    storage.warehouse.refresh_database()
    _print_summary(storage, [o.recording_id for o in outcomes])
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        print(f"\n{len(failed)} recording(s) failed:", file=sys.stderr)
        for outcome in failed:
            print(f"  {Path(outcome.source_path).name}: {outcome.error}", file=sys.stderr)
        return 1
    return 0


HEALTH_CHECK_S = 5.0


def _refresh_summaries(instance, storage) -> None:
    """daily_totals follows what this command processed (the hourly schedule only ticks where
    the Dagster daemon runs): recomputed here and recorded as its materialization, so the UI
    shows it fresh. A failure here is reported and leaves the recordings' results as they are."""
    from dagster import AssetMaterialization

    from whisper_pipeline.assets.summaries import refresh_daily_totals

    try:
        metadata = refresh_daily_totals(storage)
        instance.report_runless_asset_event(
            AssetMaterialization(
                "daily_totals", description="refreshed by whisper-pipeline run", metadata=metadata
            )
        )
    except Exception as error:
        print(f"daily_totals not refreshed: {error}", file=sys.stderr)


def _report_settled(instance, run_ids: list[str]) -> None:
    """Say which runs a killed command or worker had left looking alive, and how they ended."""
    from whisper_pipeline.status import run_error

    for run_id in run_ids:
        print(f"run {run_id} was left behind: {run_error(instance, run_id)}", file=sys.stderr)


class _RunFollower:
    """Prints each run's outcome, and its progress line whenever it changes; watches the
    command's own worker, if it has one."""

    def __init__(self, instance, launched, worker, storage) -> None:
        import time

        self.instance = instance
        self.worker = worker
        self.storage = storage
        self.names = {item.run_id: item.entry.source_name for item in launched}
        self.shown: dict[str, str] = {}
        self.done = 0
        self.next_health_check = time.monotonic() + HEALTH_CHECK_S

    def report(self, outcome) -> None:
        self.done += 1
        name = self.names.get(outcome.run_id, outcome.recording_id)
        prefix = f"[{self.done}/{len(self.names)}] {name}"
        if outcome.status == "failed":
            print(f"{prefix}: FAILED: {outcome.error}", flush=True)
        else:
            print(f"{prefix}: done ({', '.join(outcome.steps)})", flush=True)

    def poll(self) -> None:
        """On every poll: the local worker is alive, its runs' pool processes too (every few
        seconds, as run monitoring would on a daemon), and progress is shown."""
        import time

        from whisper_pipeline.run_health import fail_runs_with_dead_workers

        if self.worker is not None:
            self.worker.check()
            if time.monotonic() > self.next_health_check:
                self.next_health_check = time.monotonic() + HEALTH_CHECK_S
                fail_runs_with_dead_workers(self.instance, list(self.names), self.storage)
        self.show_progress()

    def show_progress(self) -> None:
        from dagster import DagsterRunStatus, RunsFilter

        from whisper_pipeline.tags import TAG_PROGRESS, own_tags

        runs = self.instance.get_runs(
            RunsFilter(run_ids=list(self.names), statuses=[DagsterRunStatus.STARTED])
        )
        for run in runs:
            line = own_tags(run).get(TAG_PROGRESS)
            if line and self.shown.get(run.run_id) != line:
                self.shown[run.run_id] = line
                print(f"    {self.names[run.run_id]}: {line}", file=sys.stderr, flush=True)


def _wait_for_cancellation(instance, run_ids: list[str], storage, timeout_s: float = 60.0) -> None:
    """Give terminated runs time to unwind (their steps record where they stopped); a run
    whose worker process died instead is canceled here."""
    import time

    from dagster import RunsFilter

    from whisper_pipeline.run_health import finish_canceling_runs_with_dead_workers
    from whisper_pipeline.runner import FINISHED

    deadline = time.monotonic() + timeout_s
    while run_ids and time.monotonic() < deadline:
        finish_canceling_runs_with_dead_workers(instance, run_ids, storage)
        runs = instance.get_runs(RunsFilter(run_ids=run_ids))
        if all(run.status in FINISHED for run in runs):
            return
        time.sleep(0.3)


def with_settings(run_config: dict) -> dict:
    """Run config for a resource replaces what the settings file bound to it: a resource given
    here starts from the settings file's values."""
    from whisper_pipeline.settings import as_run_config, load_resource_settings

    settings = as_run_config(load_resource_settings())
    for name, section in (run_config.get("resources") or {}).items():
        given = (section or {}).get("config") or {}
        section["config"] = {**settings.get(name, {}).get("config", {}), **given}
    return run_config


class _StopRequest:
    signal: int | None = None


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
        raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")

    for sig in previous:
        signal.signal(sig, interrupt)
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def load_run_config(path: str | None) -> dict:
    """A Dagster run config file (YAML), as pasted into the UI's launchpad."""
    if not path:
        return {}
    import yaml

    loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(loaded, dict):
        raise SystemExit(f"{path}: a run config must be a mapping (resources: ...)")
    from whisper_pipeline.resources.secrets import LiteralSecretError, refuse_literal_secrets

    try:
        refuse_literal_secrets(loaded.get("resources") or {}, where=path)
    except LiteralSecretError as error:
        raise SystemExit(str(error)) from error
    return loaded


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
    print("\nSummary")
    header = f"{'recording':<40} {'duration':>9} {'lang':>4} {'speakers':>8} {'words':>6} {'RTF':>6}  transcripts"
    print(header)
    skipped = {row[-1] for row in rows if row[-1]}
    for recording_id, _name, duration, language, speakers, words, rtf, _skipped in rows:
        folder = storage.outputs_for(recording_id)
        exports = folder if folder.exists() else "-"
        print(
            f"{recording_id[:40]:<40} {_num(duration, '{:.1f}s'):>9} {language or '-':>4}"
            f" {_num(speakers, '{}'):>8} {_num(words, '{}'):>6} {_num(rtf, '{:.3f}'):>6}  {exports}"
        )
    for reason in sorted(skipped):
        print(f"\nSpeakers: diarization skipped: {reason}")
    if failed_checks:
        print("\nChecks that failed (docs/checks.md):")
        for name, check, severity, description in failed_checks:
            print(f"  {severity:<5} {name}: {check}: {description}")
    print(
        f"\nWarehouse: {storage.warehouse.database_path} (DuckDB views: recordings, segments, words, ...)"
    )


def _first_line(error: BaseException) -> str:
    """DuckDB wraps an exception from the read-only file system in a Python traceback."""
    from whisper_pipeline.lib.query_sandbox import REFUSED

    text = str(error)
    if REFUSED in text:
        return text[text.index(REFUSED) :].splitlines()[0]
    return text.splitlines()[0] if text else type(error).__name__


def _num(value, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def cmd_query(args: argparse.Namespace) -> int:
    import duckdb

    from whisper_pipeline.lib.query_sandbox import is_refusal

    storage = _storage(home.resolve_home(args.home))
    storage.warehouse.refresh_database()  # the database file people open: rebuilt if damaged
    with storage.warehouse.query_connection() as connection:
        try:
            relation = connection.sql(args.sql)
            frame = relation.df() if relation is not None else None
        except duckdb.Error as error:
            if is_refusal(error):
                print(
                    "query refused: `query` reads the warehouse views and nothing else; it"
                    f" writes no file and reads none outside the warehouse ({_first_line(error)})",
                    file=sys.stderr,
                )
            else:
                print(f"query failed: {error}", file=sys.stderr)
            return 2
        if frame is None:
            return 0
    if args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        print(frame.to_json(orient="records", date_format="iso", force_ascii=False))
    else:
        import pandas as pd

        with pd.option_context(
            "display.max_rows", 500, "display.max_columns", 50, "display.width", 200
        ):
            print(frame.to_string(index=False) if len(frame) else "(no rows)")
    return 0


def cmd_speakers_rename(args: argparse.Namespace) -> int:
    from whisper_pipeline.speaker_names import RenameError, rename_speaker, renamed_materialization

    pipeline_home = home.resolve_home(args.home)
    storage = _storage(pipeline_home)
    try:
        renamed = rename_speaker(
            storage,
            args.recording,
            args.speaker,
            args.name,
            _voices_dir(args.voices_dir),
            _subtitle_style(),
        )
    except RenameError as error:
        print(f"rename refused: {error}", file=sys.stderr)
        return 2
    storage.warehouse.refresh_database()
    with _instance(pipeline_home) as instance:  # the UI's partition page shows the names too
        instance.report_runless_asset_event(renamed_materialization(renamed))
    print(
        f"{renamed.recording_id}: {renamed.old} is now {renamed.new} ({renamed.segments}"
        f" segments); rewritten: {', '.join(renamed.files)}"
    )
    if renamed.voice_sample:
        print(
            f"voice remembered: {renamed.voice_sample} (later recordings are named {renamed.new})"
        )
    else:
        print(f"voice not remembered: {renamed.voice_note}")
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


def cmd_search(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from whisper_pipeline.lib.errors import ConfigurationError
    from whisper_pipeline.lib.progress import format_duration
    from whisper_pipeline.lib.search import fts_extension_path, search

    storage = _storage(home.resolve_home(args.home))
    try:
        extension = fts_extension_path()
    except ConfigurationError as error:
        print(f"search unavailable: {error}", file=sys.stderr)
        return 2
    with storage.warehouse.query_connection(extensions=[extension]) as connection:
        hits = search(connection, args.words, args.limit)
    if args.format == "json":
        print(json.dumps([asdict(hit) for hit in hits], ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print(f"no segment matches {args.words!r}")
        return 0
    for hit in hits:
        where = f"{hit.source_name or hit.recording_id} @ {format_duration(hit.start_s)}"
        print(f"{hit.score:6.2f}  {where}  {hit.speaker or '-'}: {hit.text}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    import time

    from whisper_pipeline.run_health import settle_dead_runs
    from whisper_pipeline.status import format_table, recent_runs

    pipeline_home = home.resolve_home(args.home)
    instance = _instance(pipeline_home)
    storage = _storage(pipeline_home)
    while True:
        settle_dead_runs(instance, storage)  # a dead run is never shown as running
        rows = recent_runs(instance, limit=args.limit)
        if args.format == "json":
            print(json.dumps(rows, indent=2, default=str))
        else:
            if args.watch:
                print("\033[2J\033[H", end="")  # clear the terminal
            print(format_table(rows) if rows else "no runs yet")
            failures = _recent_failures(pipeline_home)
            if failures:
                print("\nrecent failures:")
                for failed_at, name, step, error in failures:
                    print(f"  {failed_at:%Y-%m-%d %H:%M} {name} [{step}] {error}")
        if not args.watch:
            return 0
        try:
            time.sleep(args.interval)
        except KeyboardInterrupt:
            return 0


def _recent_failures(pipeline_home: Path, limit: int = 5) -> list[tuple]:
    with _storage(pipeline_home).warehouse.query_connection() as connection:
        return connection.execute(
            "SELECT failed_at, source_name, step, error FROM failures ORDER BY failed_at DESC LIMIT ?",
            [limit],
        ).fetchall()


def cmd_samples(args: argparse.Namespace) -> int:
    from whisper_pipeline.samples import write_meeting_set, write_samples

    if args.meetings:
        paths = write_meeting_set(Path(args.folder), args.meetings, seed=args.seed)
    else:
        paths = write_samples(Path(args.folder))
    for path in paths:
        print(path)
    return 0


def _resource_config(run_config: dict, name: str) -> dict:
    return dict(((run_config.get("resources") or {}).get(name) or {}).get("config") or {})


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score the diarizer (and the ASR, where transcripts exist) on a folder with references."""
    from whisper_pipeline.evaluate import (
        evaluate_folder,
        table_header,
        table_line,
        write_report,
    )
    from whisper_pipeline.lib.evaluation import summarize
    from whisper_pipeline.lib.model_cache import MODEL_CACHE
    from whisper_pipeline.lib.speaker_count import SpeakerCounts
    from whisper_pipeline.resources.asr import WhisperASR
    from whisper_pipeline.resources.diarization import SpeakerDiarizer

    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"evaluate: {folder} is not a folder", file=sys.stderr)
        return 2
    run_config = load_run_config(args.config)
    diarizer = SpeakerDiarizer(**_resource_config(run_config, "diarizer"))
    asr = None if args.no_wer else WhisperASR(**_resource_config(run_config, "asr"))
    counts = SpeakerCounts(args.num_speakers, args.min_speakers, args.max_speakers)
    print(table_header(), flush=True)
    try:
        results = evaluate_folder(
            folder,
            diarizer,
            asr,
            counts,
            collar_s=args.collar,
            on_file=lambda result: print(table_line(result), flush=True),
        )
    finally:
        MODEL_CACHE.clear(reason="evaluation finished")
    if not results:
        print(f"evaluate: no recordings in {folder}", file=sys.stderr)
        return 2
    summary = summarize(results)
    print("\n" + "  ".join(f"{key}={value}" for key, value in summary.items()))
    report = Path(args.json) if args.json else folder / "evaluation.json"
    settings = {
        "backend": diarizer.resolved_backend(),
        "pipeline": diarizer.pipeline,
        "collar_s": args.collar,
        **{k: v for k, v in vars(counts).items() if v is not None},
    }
    write_report(report, results, settings)
    print(f"written: {report}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Open the Dagster UI (webserver and daemon) on the same instance the CLI uses, with a run
    worker beside it when the instance uses the embedded broker."""
    import os
    import subprocess

    from whisper_pipeline.local_worker import local_worker
    from whisper_pipeline.run_health import settle_dead_runs

    pipeline_home = home.resolve_home(args.home)
    instance = _instance(pipeline_home)
    workspace = Path("workspace.yaml").resolve()
    target = (
        ["-w", str(workspace)] if workspace.exists() else ["-m", "whisper_pipeline.definitions"]
    )
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", *target, "-h", args.host, "-p", str(args.port)]
    # dagster dev warns that a dagster.yaml in its working folder (the repository's template)
    # is ignored: it runs in the instance's own folder, whose dagster.yaml it does use
    dagster_home = os.environ["DAGSTER_HOME"]
    _report_settled(instance, settle_dead_runs(instance, _storage(pipeline_home)))
    with local_worker(instance, pipeline_home / "logs") as worker:
        if worker:
            print(f"run worker started (log: {worker.log_path})", flush=True)
        print("starting: " + " ".join(command), flush=True)
        process = subprocess.Popen(command, cwd=dagster_home)
        try:
            return process.wait()
        except KeyboardInterrupt:  # the terminal's Ctrl+C reached dagster dev too
            return process.wait()


def cmd_worker(args: argparse.Namespace) -> int:
    """A long-lived run worker (Celery): runs execute in it and its models stay loaded."""
    import os

    from whisper_pipeline.instance import prepare_dagster_home
    from whisper_pipeline.local_worker import worker_command

    dagster_home = prepare_dagster_home(home.resolve_home(args.home))
    command = worker_command(args.queues, args.concurrency, args.name, args.loglevel)
    print(f"DAGSTER_HOME={dagster_home}\nstarting: {' '.join(command)}", file=sys.stderr)
    os.execv(command[0], command)
    return 0


def cmd_with_instance(args: argparse.Namespace) -> int:
    """Prepare DAGSTER_HOME (see WHISPER_PIPELINE_INSTANCE), then run a command in it: the
    containers' entry point, e.g. `whisper-pipeline with-instance dagster-daemon run`."""
    import os

    from whisper_pipeline.instance import prepare_dagster_home

    command = [part for part in args.command if part != "--"] if args.command else []
    if not command:
        print("with-instance: give a command to run", file=sys.stderr)
        return 2
    dagster_home = prepare_dagster_home(home.resolve_home(args.home))
    print(f"DAGSTER_HOME={dagster_home}", file=sys.stderr, flush=True)
    beside_python = Path(sys.executable).with_name(command[0])  # this environment's dagster
    if beside_python.exists():
        command[0] = str(beside_python)
    os.execvp(command[0], command)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="whisper-pipeline", description=__doc__)
    parser.add_argument(
        "--home",
        default=None,
        help=f"pipeline home folder (default ${home.HOME_ENV}, else ./{home.DEFAULT_HOME_NAME})",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show Dagster's own log lines")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="process recordings (files or folders)")
    run.add_argument("paths", nargs="+")
    run.add_argument("--force", action="store_true", help="process again even if already done")
    run.add_argument("--config", help="Dagster run config YAML (resources: asr: config: ...)")
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        help="runs at a time in the CLI's own worker (embedded broker only; each loads its models)",
    )
    run.set_defaults(func=cmd_run)

    speakers = commands.add_parser("speakers", help="name a recording's speakers")
    speaker_commands = speakers.add_subparsers(dest="speakers_command", required=True)
    rename = speaker_commands.add_parser(
        "rename",
        help="give a speaker a name (warehouse and transcript files; nothing is processed again)",
    )
    rename.add_argument("recording", help="recording id or file name")
    rename.add_argument("speaker", help="the label to replace, e.g. SPEAKER_01")
    rename.add_argument("name", help="the name to give, e.g. Ana")
    rename.add_argument(
        "--voices-dir",
        help="add the voice to this voices folder (default: the diarizer's voices_dir setting)",
    )
    rename.set_defaults(func=cmd_speakers_rename)

    search = commands.add_parser(
        "search", help="full-text search over every transcript (ranked, BM25)"
    )
    search.add_argument("words", help='what to look for, e.g. "budget review"')
    search.add_argument("--limit", type=int, default=20)
    search.add_argument("--format", choices=("table", "json"), default="table")
    search.set_defaults(func=cmd_search)

    query = commands.add_parser("query", help="read-only SQL on the warehouse views")
    query.add_argument("sql")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    query.set_defaults(func=cmd_query)

    status = commands.add_parser("status", help="recent runs per recording: state, step, error")
    status.add_argument("--limit", type=int, default=20)
    status.add_argument("--format", choices=("table", "json"), default="table")
    status.add_argument("--watch", action="store_true", help="refresh until Ctrl+C")
    status.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes")
    status.set_defaults(func=cmd_status)

    samples = commands.add_parser("samples", help="write the sample recordings into a folder")
    samples.add_argument("folder")
    samples.add_argument(
        "--meetings",
        type=int,
        default=0,
        help="instead: this many synthetic meetings (2-4 voices) with RTTM and TXT references",
    )
    samples.add_argument("--seed", type=int, default=0, help="seed of the synthetic meetings")
    samples.set_defaults(func=cmd_samples)

    evaluate = commands.add_parser(
        "evaluate", help="DER/JER/WER/speaker count/speed on a folder with RTTM references"
    )
    evaluate.add_argument("folder")
    evaluate.add_argument("--json", help="report file (default FOLDER/evaluation.json)")
    evaluate.add_argument("--config", help="run config YAML (resources: diarizer: config: ...)")
    evaluate.add_argument("--collar", type=float, default=0.25, help="DER collar (seconds)")
    evaluate.add_argument("--num-speakers", type=int, help="tell the diarizer the count")
    evaluate.add_argument("--min-speakers", type=int)
    evaluate.add_argument("--max-speakers", type=int)
    evaluate.add_argument("--no-wer", action="store_true", help="skip transcription and WER")
    evaluate.set_defaults(func=cmd_evaluate)

    with_instance = commands.add_parser(
        "with-instance", help="prepare DAGSTER_HOME, then run a command (container entry point)"
    )
    with_instance.add_argument("command", nargs=argparse.REMAINDER)
    with_instance.set_defaults(func=cmd_with_instance)

    worker = commands.add_parser(
        "worker", help="start a run worker (Celery) that keeps models loaded across runs"
    )
    worker.add_argument(
        "--queues", default="gpu,cpu", help="Celery queues to take runs from (default gpu,cpu)"
    )
    worker.add_argument(
        "--concurrency", type=int, default=1, help="runs at a time (one per GPU; default 1)"
    )
    worker.add_argument("--name", help="worker node name (default whisper@<host>)")
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(func=cmd_worker)

    ui = commands.add_parser("ui", help="open the Dagster UI on this pipeline's instance")
    ui.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("whisper_pipeline").setLevel(logging.INFO)
    if not args.verbose:
        from whisperx.log_utils import setup_logging  # cheap: loads no model or torch

        setup_logging("warning")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
