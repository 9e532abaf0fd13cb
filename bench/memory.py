"""Peak memory does not grow with the recording's length.

Runs the whole pipeline (`whisper-pipeline run`, every step) on a 2-minute and a 20-minute
recording, each in a fresh process with the same model, and bare whisperx (load_audio +
transcribe) on the same files in the same run, then prints peak resident memory and the ratios.
Target: pipeline ratio (20 min / 2 min) <= 1.15; bare whisperx measured ~1.30 here.

    .venv/bin/python -m bench.memory [--short 2] [--long 20]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.common import bare_whisperx, call_of_length, pipeline_run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--short", type=float, default=2.0, help="minutes")
    parser.add_argument("--long", type=float, default=20.0, help="minutes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        folder = Path(tmp)
        short, long = call_of_length(folder, args.short), call_of_length(folder, args.long)
        rows = {}
        for label, path in (("short", short), ("long", long)):
            rows[("pipeline", label)] = pipeline_run(folder / f"home-{label}", [path])
            rows[("whisperx", label)] = bare_whisperx([path])
        print(
            f"\nPeak resident memory, {args.short:g}-minute vs {args.long:g}-minute recording (CPU, bundled tiny.en)"
        )
        print(f"{'':24} {'short MB':>10} {'long MB':>10} {'ratio':>7} {'short s':>9} {'long s':>9}")
        for who in ("pipeline", "whisperx"):
            s, lg = rows[(who, "short")], rows[(who, "long")]
            failed = " (FAILED)" if s.returncode or lg.returncode else ""
            name = (
                "whisper_pipeline (all steps)"
                if who == "pipeline"
                else "bare whisperx (transcribe)"
            )
            print(
                f"{name:<24} {s.peak_rss_mb:>10.0f} {lg.peak_rss_mb:>10.0f} "
                f"{lg.peak_rss_mb / s.peak_rss_mb:>7.2f} {s.seconds:>9.1f} {lg.seconds:>9.1f}{failed}"
            )
        ours = rows[("pipeline", "long")].peak_rss_mb / rows[("pipeline", "short")].peak_rss_mb
        theirs = rows[("whisperx", "long")].peak_rss_mb / rows[("whisperx", "short")].peak_rss_mb
        print(f"\nratio pipeline {ours:.2f} (target <= 1.15), bare whisperx {theirs:.2f}")


if __name__ == "__main__":
    main()
