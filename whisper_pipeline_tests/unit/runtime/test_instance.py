"""A home made before the layers were folders still opens: its dagster.yaml names the run
launcher's old module, which is pointed at where it is now."""

from whisper_pipeline.runtime.instance import _follow_moved_modules, instance_config_source


def test_an_old_instance_config_follows_the_moved_launcher(tmp_path):
    current = instance_config_source(None).read_text()
    old = current.replace(
        "module: whisper_pipeline.runtime.launcher\n", "module: whisper_pipeline.launcher\n"
    )
    assert old != current
    config = tmp_path / "dagster.yaml"
    config.write_text(old)
    _follow_moved_modules(config)
    assert config.read_text() == current
    _follow_moved_modules(config)  # nothing to follow any more: unchanged
    assert config.read_text() == current
