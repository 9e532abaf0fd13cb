"""The bundled models compared on the same audio, in one run: load time, real-time factor, peak
memory and WER per language, through the pipeline's transcription and through bare whisperx.

Audio: pyannote's real 30 s call (English, its reference transcript) and espeak-ng speech with
known German, Spanish and French text (samples.FOREIGN_SPEECH). Each model runs in a fresh
process (peak RSS is that process's); language is detected, not given, except that English-only
models are English. Bare whisperx loads the same model folder and transcribes the same files
(language detected by whisperx on the first 30 s).

    .venv/bin/python -m bench.models [--models tiny.en base]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jiwer

from whisper_pipeline.core.scoring import read_reference_text
from whisper_pipeline.evaluation.samples import FOREIGN_SPEECH, pyannote_sample_dir, speak_language

PIPELINE = """
import json, sys, time
started = time.monotonic()
from whisper_pipeline.inference.audio import iter_windows, probe
from whisper_pipeline.inference.transcription import transcribe_windows
from whisper_pipeline.defs.resources.asr import WhisperASR
asr = WhisperASR(model="bundled:" + sys.argv[1], device="cpu")
with asr.borrow() as whisper:
    load_s = time.monotonic() - started
    for path in sys.argv[2:]:
        t = time.monotonic()
        windows = list(transcribe_windows(whisper.model, iter_windows(path, asr.windows_of(whisper.model)),
                                          probe(path).duration_s, None, asr.batch_size))
        text = " ".join(s.text for w in windows for s in w.segments)
        languages = sorted({w.language for w in windows})
        print(json.dumps({"path": path, "seconds": time.monotonic() - t, "text": text,
                          "language": ",".join(languages), "load_s": load_s}), flush=True)
"""

BARE = """
import json, sys, time
started = time.monotonic()
import whisperx
from whisper_pipeline.inference.bundled_models import bundled_model_path
model = whisperx.load_model(str(bundled_model_path(sys.argv[1])), device="cpu", compute_type="int8")
load_s = time.monotonic() - started
language = None if model.model.model.is_multilingual else "en"  # *.en models cannot detect
for path in sys.argv[2:]:
    t = time.monotonic()
    result = model.transcribe(whisperx.load_audio(path), batch_size=8, language=language)
    text = " ".join(s["text"] for s in result["segments"])
    print(json.dumps({"path": path, "seconds": time.monotonic() - t, "text": text,
                      "language": result["language"], "load_s": load_s}), flush=True)
"""


def words(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def audio_set(folder: Path) -> dict[str, tuple[Path, str]]:
    """{language: (file, reference text)}."""
    sample = pyannote_sample_dir()
    files = {"en": (sample / "sample.wav", read_reference_text(sample / "sample.stm"))}
    for language, text in FOREIGN_SPEECH.items():
        path = folder / f"{language}.wav"
        speak_language(language, text, path)
        files[language] = (path, text)
    return files


def run(script: str, model: str, files: list[Path]) -> tuple[list[dict], float, float]:
    """Per-file results, wall seconds and peak RSS (MB) of one fresh process."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-c", script, model, *map(str, files)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    out = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{model}: the benchmark process failed")
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return rows, time.monotonic() - started, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        files = audio_set(Path(tmp))
        order = list(files)
        paths = [files[language][0] for language in order]
        durations = {
            str(path): float(subprocess.check_output(["sox", "--i", "-D", str(path)]))
            for path in paths
        }
        header = (
            f"{'model':<9} {'runner':<9} {'start s':>7} {'RTF':>6} {'peak MB':>8}  "
            + "  ".join(f"WER {language} (detected)" for language in order)
        )
        print(header)
        totals: dict[tuple[str, str], float] = {}
        for model in args.models:
            for runner, script in (("pipeline", PIPELINE), ("whisperx", BARE)):
                rows, _, peak = run(script, model, paths)
                by_path = {row["path"]: row for row in rows}
                seconds = sum(row["seconds"] for row in rows)
                totals[(model, runner)] = seconds
                rtf = seconds / sum(durations.values())
                cells = []
                for language in order:
                    path, reference = files[language]
                    row = by_path[str(path)]
                    error = jiwer.wer(words(reference), words(row["text"]) or "-")
                    cells.append(
                        f"{error:>6.2f} ({row['language']})".ljust(
                            len(f"WER {language} (detected)")
                        )
                    )
                load_s = rows[0]["load_s"] if rows else float("nan")
                print(
                    f"{model:<9} {runner:<9} {load_s:>7.1f} {rtf:>6.3f} {peak:>8.0f}  "
                    + "  ".join(cells)
                )
        print()
        for model in args.models:
            ratio = totals[(model, "pipeline")] / totals[(model, "whisperx")]
            print(f"{model}: pipeline transcription time / bare whisperx = {ratio:.2f}")


if __name__ == "__main__":
    main()
