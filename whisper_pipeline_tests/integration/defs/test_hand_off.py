"""The hand-off between steps follows the run's own `storage` resource: a run whose config
names another home keeps every result, the handed-on records too, in that home."""

import shutil

from dagster import AssetKey

from whisper_pipeline.definitions import defs
from whisper_pipeline.defs.jobs import PROCESS_RECORDING
from whisper_pipeline.defs.partitions import recording_run_tags
from whisper_pipeline.defs.resources.hand_off import RecordingResults
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.runtime import runner


def test_a_run_configured_for_another_home_hands_on_in_that_home(
    instance, pipeline_home, sample_call, tmp_path
):
    call = tmp_path / "board call.wav"
    shutil.copyfile(sample_call, call)
    configured = PipelineStorage(home_dir=str(tmp_path / "configured home"))
    (entry,) = runner.register(instance, configured.registry, [call])
    result = defs.resolve_job_def(PROCESS_RECORDING).execute_in_process(
        instance=instance,
        partition_key=entry.recording_id,
        tags=recording_run_tags(entry),
        asset_selection=[AssetKey("recording_metadata"), AssetKey("diarization")],
        run_config={
            "resources": {
                "storage": {"config": {"home_dir": configured.home_dir}},
                "diarizer": {"config": {"backend": "none"}},
            }
        },
    )
    assert result.success
    handed = RecordingResults(configured, entry.recording_id).diarization
    assert handed.backend == "none" and handed.skipped
    assert not (pipeline_home / "step_outputs").exists()
