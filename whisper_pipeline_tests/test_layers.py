"""The layering of docs/architecture.md, checked on the source: imports only point down, no
module imports itself through others, and library internals are touched only in adapters/."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import whisper_pipeline

PACKAGE = Path(whisper_pipeline.__file__).parent

# lowest first; a module may import its own layer and those before it (docs/architecture.md)
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("vocabulary", ("whisper_pipeline", "tags", "home", "config")),
    ("adapters", ("adapters",)),
    ("algorithms", ("lib", "partitions")),
    ("models and storage", ("resources",)),
    ("steps", ("assets",)),
    (
        "code location",
        (
            "definitions",
            "jobs",
            "schedules",
            "sensors",
            "launcher",
            "worker",
            "local_worker",
            "runner",
            "run_health",
            "status",
            "speaker_names",
            "instance",
            "settings",
        ),
    ),
    ("entry points", ("cli", "evaluate", "samples", "ami_excerpts", "__main__")),
]

# where a library's private modules or attributes may be used (one adapter per library)
PRIVATE_TOUCHES = re.compile(
    r"\b(?:dagster\._\w+|faster_whisper\.(?:transcribe|tokenizer)\b|whisperx\.(?:audio|asr)\b"
    r"|\.vad_pipeline\b|\._segmentation\b|generate_segment_batched|unload_model"
    r"|\.is_multilingual\b|\.hf_tokenizer\b|\.find_alignment\b|\.feat_kwargs\b|merge_punctuations)"
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    first = module.split(".")[1] if "." in module else "whisper_pipeline"
    for rank, (_, members) in enumerate(LAYERS):
        if first in members:
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


def our_imports() -> dict[str, set[str]]:
    """Every module of ours each module imports, at the top or inside a function."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "whisper_pipeline"
            ):
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            graph[module] |= {name for name in names if name in modules and name != module}
    return graph


def test_every_import_points_to_the_same_layer_or_below():
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in our_imports().items()
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_no_import_cycles():
    graph = our_imports()
    cycles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_library_internals_are_touched_only_in_the_adapters():
    touches = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        if "adapters" not in path.parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if PRIVATE_TOUCHES.search(line.split("#")[0])
    ]
    assert touches == []


def test_the_checker_sees_a_violation():
    """The checks above are not vacuous: lib does import the vocabulary, and the pattern
    matches what it is meant to catch."""
    graph = our_imports()
    assert "whisper_pipeline.tags" in graph["whisper_pipeline.lib.progress"]
    assert layer_of("whisper_pipeline.cli") > layer_of("whisper_pipeline.lib.records")
    assert PRIVATE_TOUCHES.search("from dagster._core.launcher import WorkerStatus")
    assert PRIVATE_TOUCHES.search("model.model.model.unload_model()")
