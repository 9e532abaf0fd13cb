"""Ctrl+C and SIGTERM on `whisper-pipeline run` are never lost: the handler's KeyboardInterrupt
can be swallowed (raised inside a garbage-collection callback, Python only prints it), so the
command's wait asks again."""

import contextlib
import os
import signal

import pytest

from whisper_pipeline.cli.run import stop_on_signals
from whisper_pipeline.runtime.instance import runs_by_id
from whisper_pipeline.runtime.run_health import record_interrupted_steps
from whisper_pipeline.runtime.runner import abandon_runs, cancel_runs


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_swallowed_interrupt_is_raised_again_where_the_command_waits(signum):
    before = signal.getsignal(signum)
    with stop_on_signals() as stop:
        stop.raise_if_signaled()  # nothing yet
        with contextlib.suppress(KeyboardInterrupt):  # as in a garbage-collection callback
            os.kill(os.getpid(), signum)
        assert stop.signal == signum
        with pytest.raises(KeyboardInterrupt, match=signal.Signals(signum).name):
            stop.raise_if_signaled()
    assert signal.getsignal(signum) == before  # the command's handlers are gone


def test_no_runs_is_nothing_to_do_never_an_error(instance, tmp_path):
    """Ctrl+C after every run ended (or before one was launched) cancels nothing."""
    assert runs_by_id(instance, []) == []
    assert cancel_runs(instance, [], "stopped by SIGINT") == []
    abandon_runs(instance, [], "worker died")
    record_interrupted_steps(instance, [], storage=object())
