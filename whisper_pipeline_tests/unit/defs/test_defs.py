import subprocess
import sys

from dagster import AssetKey, Definitions, DynamicPartitionsDefinition

from whisper_pipeline.definitions import defs
from whisper_pipeline.defs.jobs import PROCESS_RECORDING

STEPS = [
    "recording_metadata",
    "transcript",
    "diarization",
    "speaker_transcript",
    "recording_analytics",
]


def test_definitions_load_and_validate():
    Definitions.validate_loadable(defs)


def test_process_recording_selects_every_step_partitioned_by_recording():
    job = defs.resolve_job_def(PROCESS_RECORDING)
    graph = job.asset_layer.asset_graph
    assert {key.to_user_string() for key in graph.toposorted_asset_keys} == set(STEPS)
    for step in STEPS:
        partitions = graph.get(AssetKey(step)).partitions_def
        assert isinstance(partitions, DynamicPartitionsDefinition)
        assert partitions.name == "recordings"


def test_lineage_follows_the_data_flow():
    graph = defs.resolve_job_def(PROCESS_RECORDING).asset_layer.asset_graph
    parents = {
        step: {k.to_user_string() for k in graph.get(AssetKey(step)).parent_keys} for step in STEPS
    }
    assert parents["transcript"] == {"recording_metadata"}
    assert parents["diarization"] == {"recording_metadata"}
    assert parents["speaker_transcript"] == {"transcript", "diarization"}
    assert "speaker_transcript" in parents["recording_analytics"]


def test_importing_the_code_location_loads_no_model():
    code = (
        "import sys, whisper_pipeline.definitions;"
        "heavy = [m for m in ('torch', 'whisperx', 'pyannote.audio', 'faster_whisper') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_dagster_cli_loads_the_workspace(tmp_path):
    env_home = tmp_path / "dagster"
    env_home.mkdir()
    out = subprocess.run(
        [sys.executable, "-m", "dagster", "job", "list", "-w", "workspace.yaml"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "DAGSTER_HOME": str(env_home)},
    )
    assert out.returncode == 0, out.stderr
    assert PROCESS_RECORDING in out.stdout


def test_every_asset_has_a_group_kinds_owners_and_a_description():
    from dagster import AssetSpec

    specs = list(defs.resolve_all_asset_specs())
    assert len(specs) >= 6
    for spec in specs:
        assert isinstance(spec, AssetSpec)
        assert spec.group_name in ("recordings", "summaries"), spec.key
        assert spec.kinds and spec.owners and spec.description, spec.key


def test_the_instance_configs_turn_off_telemetry_and_new_user_pop_ups():
    import yaml

    from whisper_pipeline.runtime.instance import INSTANCE_CONFIGS, instance_config_source

    for choice in INSTANCE_CONFIGS:
        config = yaml.safe_load(instance_config_source(choice).read_text())
        assert config["telemetry"] == {"enabled": False} and config["nux"] == {"enabled": False}


def test_a_speaker_count_stopped_at_its_limit_is_a_yellow_check_on_diarization():
    """The diarization asset declares the check; a count that stopped at the most it looks for
    fails it as a warning saying what to set, any other count passes with how it was chosen."""
    from dagster import AssetCheckKey

    from whisper_pipeline.core.records import Diarization, SpeakerTurn
    from whisper_pipeline.core.speaker_count import SpeakerCounts, count_note
    from whisper_pipeline.defs.assets.checks import diarization_checks

    graph = defs.resolve_job_def(PROCESS_RECORDING).asset_layer.asset_graph
    key = AssetCheckKey(AssetKey("diarization"), "speaker_count_within_limit")
    assert key in graph.asset_check_keys

    def checked(speakers: int, counts: SpeakerCounts):
        turns = tuple(SpeakerTurn(i, i + 1.0, f"SPEAKER_{i:02d}") for i in range(speakers))
        note, at_ceiling = count_note(counts, speakers, 10)
        extra = {"speaker_count": note, "count_at_ceiling": at_ceiling}
        return diarization_checks(Diarization(turns, "offline", extra=extra))[0]

    stopped = checked(10, SpeakerCounts())
    assert not stopped.passed and stopped.severity.value == "WARN"
    assert "set max_speakers if more people speak" in stopped.description
    assert checked(3, SpeakerCounts()).passed
    assert checked(10, SpeakerCounts(max_speakers=12)).description == (
        "10 speakers (automatic, between 1 and 12)"
    )
    skipped = diarization_checks(Diarization(skipped_reason="diarization is switched off"))
    assert skipped[0].passed and skipped[0].description.startswith("not checked")
