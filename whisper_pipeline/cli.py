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
    from whisper_pipeline import runner
    from whisper_pipeline.definitions import defs
    from whisper_pipeline.jobs import PROCESS_RECORDING
    from whisper_pipeline.lib.intake import find_recordings
    from whisper_pipeline.lib.model_cache import MODEL_CACHE

    pipeline_home = home.resolve_home(args.home)
    instance = _instance(pipeline_home)
    storage = _storage(pipeline_home)
    paths = list(find_recordings(Path(p) for p in args.paths))
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        print(f"not found: {path}", file=sys.stderr)
    paths = [p for p in paths if p.exists()]
    if not paths:
        print("no recordings found in " + ", ".join(args.paths), file=sys.stderr)
        return 2
    entries = runner.register(instance, storage.registry, paths)
    print(f"{len(entries)} recording(s) registered in {pipeline_home}")
    job = defs.resolve_job_def(PROCESS_RECORDING)
    run_config = runner.shared_models_run_config(load_run_config(args.config), pipeline_home)
    if not args.verbose:  # the CLI prints each failure itself; Dagster's full log is in the UI
        run_config["loggers"] = {"console": {"config": {"log_level": "CRITICAL"}}}
    outcomes = []
    with stop_on_signals() as stop:
        try:
            for index, entry in enumerate(entries, start=1):
                print(
                    f"[{index}/{len(entries)}] {entry.source_name} -> {entry.recording_id}",
                    flush=True,
                )
                (outcome,) = runner.process(
                    job, instance, [entry], force=args.force, run_config=run_config
                )
                outcomes.append(outcome)
                if outcome.status == "failed":
                    print(f"    FAILED: {outcome.error}", flush=True)
                elif outcome.status == "skipped":
                    print("    already processed (use --force to process again)", flush=True)
                else:
                    print(f"    done ({', '.join(outcome.steps)})", flush=True)
                if stop.signal or outcome.interrupted:
                    stop.signal = stop.signal or signal.SIGINT
                    break
        except KeyboardInterrupt:
            pass  # raised outside a run (between recordings); handled below
        finally:
            MODEL_CACHE.shutdown()  # models released on every way out, logged
    if stop.signal:
        print(
            f"\nstopped by a signal: {len(outcomes)} of {len(entries)} recording(s) attempted;"
            " the interrupted run is marked failed and the next `run` redoes it",
            file=sys.stderr,
        )
        return 128 + stop.signal
    storage.warehouse.refresh_database()
    _print_summary(storage, [o.recording_id for o in outcomes])
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        print(f"\n{len(failed)} recording(s) failed:", file=sys.stderr)
        for outcome in failed:
            print(f"  {Path(outcome.source_path).name}: {outcome.error}", file=sys.stderr)
        return 1
    return 0


class _StopRequest:
    signal: int | None = None


@contextmanager
def stop_on_signals() -> Iterator[_StopRequest]:
    """SIGTERM and SIGINT (Ctrl+C) stop the CLI. Inside a run Dagster's own handler turns them
    into an interruption of the running step (the run is marked failed, step cleanup and
    resource teardown run); between runs ours raises KeyboardInterrupt. Either way the CLI
    stops after it, releasing the models. A second signal falls back to the default."""
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
    return loaded


SUMMARY_SQL = """
SELECT r.recording_id, r.source_name, r.duration_s, r.language, r.speakers, r.words,
       r.realtime_factor, r.diarization_skipped_reason
FROM recordings AS r
WHERE r.recording_id IN (SELECT unnest($ids))
ORDER BY r.source_name
"""


def _print_summary(storage, recording_ids: list[str]) -> None:
    with storage.warehouse.query_connection() as connection:
        rows = connection.execute(SUMMARY_SQL, {"ids": recording_ids}).fetchall()
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
    print(
        f"\nWarehouse: {storage.warehouse.database_path} (DuckDB views: recordings, segments, words, ...)"
    )


def _num(value, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


READ_ONLY_STATEMENTS = {"SELECT", "EXPLAIN", "PRAGMA", "RELATION"}


def cmd_query(args: argparse.Namespace) -> int:
    import duckdb

    storage = _storage(home.resolve_home(args.home))
    try:
        kinds = {statement.type for statement in duckdb.extract_statements(args.sql)}
    except duckdb.Error as error:
        print(f"query failed: {error}", file=sys.stderr)
        return 2
    refused = {kind.name for kind in kinds} - READ_ONLY_STATEMENTS
    if refused or len(kinds) == 0:
        print(
            f"query refused: only read-only statements ({', '.join(sorted(READ_ONLY_STATEMENTS))})"
            f" are allowed, got {', '.join(sorted(refused)) or 'nothing'}",
            file=sys.stderr,
        )
        return 2
    with storage.warehouse.query_connection() as connection:
        try:
            relation = connection.sql(args.sql)
        except duckdb.Error as error:
            print(f"query failed: {error}", file=sys.stderr)
            return 2
        if relation is None:
            return 0
        frame = relation.df()
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


def cmd_status(args: argparse.Namespace) -> int:
    import time

    from whisper_pipeline.status import format_table, recent_runs

    pipeline_home = home.resolve_home(args.home)
    instance = _instance(pipeline_home)
    while True:
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
    from whisper_pipeline.resources.asr import WhisperASR
    from whisper_pipeline.resources.diarization import SpeakerCounts, SpeakerDiarizer

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
    """Open the Dagster UI (webserver and daemon) on the same instance the CLI uses."""
    import os

    from whisper_pipeline.instance import prepare_dagster_home

    prepare_dagster_home(home.resolve_home(args.home))
    target = (
        ["-w", "workspace.yaml"]
        if Path("workspace.yaml").exists()
        else ["-m", "whisper_pipeline.definitions"]
    )
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", *target, "-h", args.host, "-p", str(args.port)]
    print("starting: " + " ".join(command), flush=True)
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
    run.set_defaults(func=cmd_run)

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
