"""What one step hands to the next: a JSON document per step and recording in the home folder
(written and read by the Dagster IO manager in defs/resources/hand_off.py).

The documents name their record types by a stable name (`Transcript`), not by an import path
as a pickle does, so moving or renaming a module keeps every stored result readable; a field
added later takes its default when an older document lacks it, and `version` says which
layout a document has."""

from __future__ import annotations

import json
import typing
from dataclasses import fields, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any

from whisper_pipeline.core.fileio import replace_atomic

FORMAT = "whisper-pipeline step output"
VERSION = 1
TYPE_KEY = "@type"


@cache
def record_types() -> dict[str, type]:
    """The types a step may hand on, by their stable names."""
    from whisper_pipeline.core.analytics import RecordingStats, SpeakerStats
    from whisper_pipeline.core.records import (
        Diarization,
        RecordingFacts,
        Segment,
        SpeakerTurn,
        Transcript,
        Word,
    )

    kinds = (RecordingFacts, Transcript, Segment, Word, SpeakerTurn, Diarization)
    return {kind.__name__: kind for kind in (*kinds, RecordingStats, SpeakerStats)}


def encode(value: Any) -> Any:
    """JSON-ready form: records as objects with their type name, sequences as lists."""
    if is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if record_types().get(name) is not type(value):
            raise TypeError(
                f"{name} is not a record type steps may hand on (storage/step_outputs.py)"
            )
        return {TYPE_KEY: name, **{f.name: encode(getattr(value, f.name)) for f in fields(value)}}
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {str(key): encode(item) for key, item in value.items()}
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return value


def decode(data: Any, hint: Any = None) -> Any:
    """The value `encode` made, with tuples where the record's field is a tuple."""
    if isinstance(data, dict) and TYPE_KEY in data:
        kind = record_types()[data[TYPE_KEY]]
        hints = typing.get_type_hints(kind)
        known = {f.name for f in fields(kind)}
        return kind(**{k: decode(v, hints.get(k)) for k, v in data.items() if k in known})
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if isinstance(data, list):
        item_hint = args[0] if args else None
        items = [decode(item, item_hint) for item in data]
        return tuple(items) if origin is tuple else items
    if isinstance(data, dict):
        value_hint = args[1] if origin is dict and len(args) == 2 else None
        return {key: decode(item, value_hint) for key, item in data.items()}
    if origin is tuple and data is not None:
        return tuple(data)
    return data


class StepOutputStore:
    """JSON documents under `root/<step>/<recording id>.json`, replaced atomically."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, step: str, recording_id: str) -> Path:
        return self.root / step / f"{recording_id}.json"

    def save(self, step: str, recording_id: str, value: Any) -> None:
        document = {"format": FORMAT, "version": VERSION, "value": encode(value)}
        data = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        replace_atomic(self._path(step, recording_id), lambda tmp: Path(tmp).write_bytes(data))

    def load(self, step: str, recording_id: str) -> Any:
        path = self._path(step, recording_id)
        if path.exists():
            document = json.loads(path.read_bytes())
            if document.get("format") != FORMAT or document.get("version", 0) > VERSION:
                raise ValueError(
                    f"{path} was written by a newer whisper-pipeline (format version"
                    f" {document.get('version')}); upgrade, or process the recording again"
                )
            return decode(document["value"])
        raise FileNotFoundError(
            f"the result of step {step} for recording {recording_id} is missing ({path}); "
            "process the recording again with `whisper-pipeline run --force`"
        )
