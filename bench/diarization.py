"""Offline diarization speed and memory on long recordings.

Diarizes a 2-minute and a 20-minute recording (pyannote's real call, repeated) with the default
offline backend, each in a fresh process, and runs bare whisperx (load_audio + transcribe) on
the 20-minute file in the same run. Prints the real-time factor of diarization (audio seconds
per second of diarization, model load excluded), peak resident memory 20 min / 2 min, and
diarization time as a share of bare whisperx transcription time.
Targets (issue 8): >= 10x real time for 20 minutes on CPU; memory flat in the length.

    .venv/bin/python -m bench.diarization [--short 2] [--long 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import bare_whisperx, call_of_length

DIARIZE = """
import json, sys, time
from whisper_pipeline.inference.audio import load_audio
from whisper_pipeline.defs.resources.diarization import SpeakerDiarizer
diarizer = SpeakerDiarizer()
started = time.monotonic()
with diarizer.borrow() as loaded:
    load_s = time.monotonic() - started
    audio = load_audio(sys.argv[1])
    result = diarizer.diarize(loaded.model, audio)
print(json.dumps({"load_s": load_s, "diarize_s": result.seconds, "speakers": len(result.speakers),
                  "audio_s": len(audio) / 16000}))
"""


def diarize_in_fresh_process(path: Path) -> dict:
    with tempfile.TemporaryFile() as log:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-c", DIARIZE, str(path)], stdout=subprocess.PIPE, stderr=log
        )
        out = process.stdout.read() if process.stdout else b""
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            log.seek(0)
            sys.exit(log.read().decode(errors="replace")[-3000:])
    row = json.loads(out.decode().strip().splitlines()[-1])
    row["wall_s"] = time.monotonic() - started
    row["peak_rss_mb"] = usage.ru_maxrss / 1024
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--short", type=float, default=2.0, help="minutes")
    parser.add_argument("--long", type=float, default=20.0, help="minutes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-diarization-") as tmp:
        folder = Path(tmp)
        short, long = call_of_length(folder, args.short), call_of_length(folder, args.long)
        rows = {"short": diarize_in_fresh_process(short), "long": diarize_in_fresh_process(long)}
        whisperx_long = bare_whisperx([long])
    print(f"\nOffline diarization (CPU, {os.cpu_count()} cores), pyannote's call repeated")
    print(
        f"{'':10} {'audio s':>8} {'load s':>7} {'diarize s':>10} {'xRT':>6} {'speakers':>9} {'peak MB':>8}"
    )
    for label, row in rows.items():
        print(
            f"{label:10} {row['audio_s']:>8.0f} {row['load_s']:>7.1f} {row['diarize_s']:>10.1f}"
            f" {row['audio_s'] / row['diarize_s']:>6.1f} {row['speakers']:>9} {row['peak_rss_mb']:>8.0f}"
        )
    print(
        "(speakers: the call's two women, but every repeat of the 30 s gives identical window"
        " vectors, so repeats may be counted apart; docs/diarization.md measures the count)"
    )
    long_row = rows["long"]
    memory = long_row["peak_rss_mb"] / rows["short"]["peak_rss_mb"]
    print(
        f"\nreal-time factor {long_row['audio_s'] / long_row['diarize_s']:.1f}x (target >= 10x);"
        f" peak memory {args.long:g} min / {args.short:g} min = {memory:.2f} (flat: <= 1.15);"
        f" diarization / bare whisperx transcription of the same {args.long:g} min ="
        f" {long_row['diarize_s'] / whisperx_long.seconds:.2f}"
        f" ({long_row['diarize_s']:.0f} s vs {whisperx_long.seconds:.0f} s)"
    )


if __name__ == "__main__":
    main()
