"""A run terminated as one of its steps ends starts no further step: the signal lands outside
the step's body (Dagster records the step's success meanwhile), where Dagster only notes it
and would raise it in the next step, after recording that step's start."""

import logging
import os
import signal

from dagster import (
    DagsterEventType,
    DagsterRunStatus,
    execute_job,
    in_process_executor,
    job,
    logger,
    op,
    reconstructable,
)

from whisper_pipeline.adapters.dagster_internals import interrupts_on_sigterm
from whisper_pipeline.defs.assets.step import stop_between_steps


class _TerminateAsStepOneSucceeds(logging.Handler):
    """SIGTERM to this process as Dagster records the first step's success."""

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_meta", {}).get("dagster_event")
        succeeded = event is not None and event.event_type == DagsterEventType.STEP_SUCCESS
        if succeeded and event.step_key == "step_one":
            os.kill(os.getpid(), signal.SIGTERM)


@logger
def terminate_as_step_one_succeeds(_init_context) -> logging.Logger:
    terminating = logging.getLogger("terminate_as_step_one_succeeds")
    terminating.setLevel(logging.DEBUG)
    if not terminating.handlers:
        terminating.addHandler(_TerminateAsStepOneSucceeds())
    return terminating


@op
def step_one(context) -> int:
    context.instance.report_run_canceling(context.run, message="terminated from the test")
    return 1


@op
def step_two(number: int) -> int:
    return number + 1


TERMINATING = {"terminating": terminate_as_step_one_succeeds}


@job(executor_def=in_process_executor, logger_defs=TERMINATING, hooks={stop_between_steps})
def two_steps():
    step_two(step_one())


@job(executor_def=in_process_executor, logger_defs=TERMINATING)
def two_steps_without_the_hook():
    step_two(step_one())


def events_of(instance, run_id: str) -> list[tuple[str, str | None]]:
    return [
        (record.event_log_entry.dagster_event.event_type_value, record.event_log_entry.step_key)
        for record in instance.get_records_for_run(run_id).records
        if record.event_log_entry.dagster_event
        and record.event_log_entry.dagster_event.is_step_event
    ]


def test_a_run_terminated_as_a_step_ends_starts_no_further_step(instance):
    config = {"loggers": {"terminating": {}}}
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        interrupts_on_sigterm()  # as in a run worker
        hooked = execute_job(reconstructable(two_steps), instance, config, raise_on_error=False)
        plain = execute_job(
            reconstructable(two_steps_without_the_hook), instance, config, raise_on_error=False
        )
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    assert instance.get_run_by_id(hooked.run_id).status == DagsterRunStatus.CANCELED
    events = events_of(instance, hooked.run_id)
    assert ("STEP_SUCCESS", "step_one") in events  # the step's success stands
    assert [step for kind, step in events if kind == "STEP_START"] == ["step_one"]
    assert [kind for kind, _ in events if kind == "STEP_FAILURE"] == []
    # what the hook mends: without it the next step starts, and is interrupted at once
    assert instance.get_run_by_id(plain.run_id).status == DagsterRunStatus.CANCELED
    events = events_of(instance, plain.run_id)
    assert [step for kind, step in events if kind == "STEP_START"] == ["step_one", "step_two"]
