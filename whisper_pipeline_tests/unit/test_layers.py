"""The layering of docs/architecture.md, checked on the source: a module's layer is its folder,
imports only point down, no module imports itself through others, and library internals are
touched only in adapters/."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import whisper_pipeline

PACKAGE = Path(whisper_pipeline.__file__).parent

# lowest first; a module may import its own layer and those before it (docs/architecture.md)
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("the package", ("whisper_pipeline", "config")),
    ("core", ("core",)),
    ("adapters", ("adapters",)),
    ("inference", ("inference",)),
    ("storage", ("storage",)),
    ("what Dagster loads", ("defs",)),
    ("runtime", ("runtime",)),
    ("evaluation", ("evaluation",)),
    ("entry points", ("definitions", "cli", "api", "__main__")),
]
# The imports that point up, and why: submitting a run resolves the job (with its resources)
# from the code location's Definitions (which hold the runtime's sensor too), and a run worker
# imports the code location as it starts, before its first run needs it.
UPWARD_ALLOWED = {
    ("whisper_pipeline.runtime.runner", "whisper_pipeline.definitions"),
    ("whisper_pipeline.runtime.worker", "whisper_pipeline.definitions"),
}
# the modules that may live at the package root (everything else is in a layer's folder)
AT_THE_ROOT = {"whisper_pipeline", "whisper_pipeline.definitions"}

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
    """A module's layer: the folder it is in (its first name below the package)."""
    first = module.split(".")[1] if "." in module else "whisper_pipeline"
    for rank, (_, members) in enumerate(LAYERS):
        if first in members:
            return rank
    raise AssertionError(f"{module} is in no layer's folder (docs/architecture.md)")


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
        if layer_of(target) > layer_of(module) and (module, target) not in UPWARD_ALLOWED
    ]
    assert upward == []


def test_every_module_lives_in_a_layer_s_folder():
    modules = {module_name(path) for path in PACKAGE.rglob("*.py")}
    at_the_root = {
        m for m in modules if m.count(".") == 0 or (PACKAGE / f"{m.split('.')[1]}.py").exists()
    }
    assert at_the_root <= AT_THE_ROOT, at_the_root - AT_THE_ROOT
    for module in modules:
        layer_of(module)  # raises for a module outside every layer


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
    """The checks above are not vacuous: modules do import within and across layers, the
    order is the documented one, and the pattern matches what it is meant to catch."""
    graph = our_imports()
    assert "whisper_pipeline.core.tags" in graph["whisper_pipeline.core.progress"]
    assert "whisper_pipeline.core.records" in graph["whisper_pipeline.defs.assets.step"]
    assert layer_of("whisper_pipeline.cli") > layer_of("whisper_pipeline.core.records")
    assert layer_of("whisper_pipeline.runtime.runner") > layer_of("whisper_pipeline.defs.jobs")
    assert PRIVATE_TOUCHES.search("from dagster._core.launcher import WorkerStatus")
    assert PRIVATE_TOUCHES.search("model.model.model.unload_model()")
