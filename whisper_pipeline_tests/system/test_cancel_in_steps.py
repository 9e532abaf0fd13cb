"""Ctrl+C inside the model steps and at the later steps (test_cancel_moments.py says what
must hold each time)."""

import pytest

from whisper_pipeline_tests.system.test_cancel_moments import EARLY, MOMENTS, stop_at


@pytest.mark.parametrize("moment", [m for m in MOMENTS if m not in EARLY])
def test_ctrl_c_stops_the_work_inside_and_after_the_steps(
    moment, tmp_path, sample_call, monkeypatch
):
    stop_at(moment, tmp_path, sample_call, monkeypatch)
