"""How the SRT and VTT files lay out their cues: WhisperX's --max_line_width,
--max_line_count and --highlight_words, and how long a cue stays on screen."""

from dagster import ConfigurableResource
from pydantic import Field

from whisper_pipeline.core.exports import LINE_WIDTH, SubtitleStyle


class SubtitleSettings(ConfigurableResource):
    """Subtitle layout of the exports (the transcript itself is not changed)."""

    max_line_width: int = Field(
        default=LINE_WIDTH,
        ge=10,
        description="Display columns per subtitle line (a Chinese or Japanese character takes two).",
    )
    max_line_count: int | None = Field(
        default=2,
        ge=1,
        description="Lines per cue; a longer segment is split into several cues, timed by its words. Null: one cue per segment.",
    )
    min_cue_duration_s: float = Field(
        default=0.5,
        ge=0.0,
        description="A shorter cue is held this long, unless the next cue starts sooner.",
    )

    highlight_words: bool = Field(
        default=False,
        description="One cue per spoken word with that word underlined (<u>), like WhisperX's --highlight_words.",
    )

    def style(self) -> SubtitleStyle:
        return SubtitleStyle(
            self.max_line_width,
            self.max_line_count,
            self.min_cue_duration_s,
            self.highlight_words,
        )
