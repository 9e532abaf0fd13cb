"""Where recordings are registered and results are written, as one Dagster resource."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource, MetadataValue
from pydantic import Field

from whisper_pipeline.core.display import label
from whisper_pipeline.storage import export_links, home
from whisper_pipeline.storage.registry import RecordingRegistry
from whisper_pipeline.storage.step_outputs import StepOutputStore
from whisper_pipeline.storage.warehouse import Warehouse

STEP_OUTPUTS_DIR = "step_outputs"


class PipelineStorage(ConfigurableResource):
    """The home folder holding the recording registry, the warehouse and the exports."""

    home_dir: str | None = Field(
        default=None,
        description=(
            "Folder for the registry, warehouse (Parquet + whisper.duckdb) and transcript exports."
            " Default: $WHISPER_PIPELINE_HOME, else ./whisper_pipeline_home."
        ),
    )

    exports_url: str | None = Field(
        default=None,
        description=(
            "Base URL at which <home>/outputs is served (the HTTP API's download endpoint, or"
            " any web server or bucket serving that folder). When set, the export files on the"
            " UI's pages are links to <exports_url>/<recording id>/<file>, signed so that the"
            " API serves them to a browser without a token; otherwise paths."
        ),
    )

    def export_link(self, path: Path) -> MetadataValue:
        """An export file as the UI shows it: a link when exports are served, else its path."""
        if not self.exports_url:
            return MetadataValue.path(str(path))
        relative = Path(path).relative_to(home.outputs_dir(self.home)).as_posix()
        key = export_links.link_key(self.home)
        return MetadataValue.url(export_links.signed_link(self.exports_url, key, relative))

    @property
    def home(self) -> Path:
        return home.resolve_home(self.home_dir)

    @property
    def registry(self) -> RecordingRegistry:
        return RecordingRegistry(home.registry_dir(self.home))

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(home.warehouse_dir(self.home))

    @property
    def step_outputs(self) -> StepOutputStore:
        return StepOutputStore(self.home / STEP_OUTPUTS_DIR)

    def outputs_for(self, recording_id: str) -> Path:
        return home.outputs_dir(self.home) / recording_id

    def source_name(self, recording_id: str) -> str:
        """The recording's file name (its id when it is not registered here)."""
        try:
            return self.registry.get(recording_id).source_name
        except KeyError:
            return recording_id

    def shown_name(self, recording_id: str) -> str:
        """The file name as people read it (UI, tags, logs, exports' headers): control
        characters escaped (core/display.label)."""
        return label(self.source_name(recording_id))
