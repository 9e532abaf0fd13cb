import json
import re

from pyannote.database.util import load_rttm

from whisper_pipeline.core.exports import (
    to_rttm,
    to_srt,
    to_txt,
    to_vtt,
    wrap_caption,
    write_exports,
)
from whisper_pipeline.core.records import Segment, SpeakerTurn, Word

SEGMENTS = [
    Segment(
        0.5,
        2.25,
        "Hello there.",
        (Word(0.5, 1.0, "Hello"), Word(1.1, 2.25, "there.")),
        "SPEAKER_00",
    ),
    Segment(2.5, 3661.042, "Long one.", (Word(2.5, 3661.042, "Long"),), "SPEAKER_01"),
    Segment(3662.0, 3663.0, "Again.", (), "SPEAKER_01"),
]
TURNS = [SpeakerTurn(0.5, 2.25, "SPEAKER_00"), SpeakerTurn(2.5, 3663.0, "SPEAKER_01")]
SRT_TIME = r"(\d{2}):(\d{2}):(\d{2}),(\d{3})"


def _seconds(h, m, s, ms):
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def test_srt_blocks_have_consecutive_indices_and_valid_ordered_times():
    blocks = to_srt(SEGMENTS).strip().split("\n\n")
    assert len(blocks) == len(SEGMENTS)
    for index, (block, segment) in enumerate(zip(blocks, SEGMENTS, strict=True), start=1):
        number, times, text = block.split("\n")
        assert int(number) == index
        match = re.fullmatch(SRT_TIME + " --> " + SRT_TIME, times)
        assert match, times
        start, end = _seconds(*match.groups()[:4]), _seconds(*match.groups()[4:])
        assert abs(start - segment.start_s) < 0.001 and abs(end - segment.end_s) < 0.001
        assert int(match.group(2)) < 60 and int(match.group(3)) < 60
        assert text == f"[{segment.speaker}] {segment.text}"


def test_vtt_has_header_and_voice_tags():
    vtt = to_vtt(SEGMENTS)
    assert vtt.startswith("WEBVTT\n")
    assert "01:01:01.042" in vtt
    assert "<v SPEAKER_00>Hello there." in vtt


def test_txt_joins_consecutive_segments_of_one_speaker():
    assert to_txt(SEGMENTS) == "SPEAKER_00: Hello there.\nSPEAKER_01: Long one. Again.\n"


def test_every_export_parses(tmp_path):
    written = write_exports(tmp_path, "rec-1", "en", SEGMENTS, TURNS)
    assert set(written) == {"srt", "vtt", "txt", "tsv", "json", "rttm"}
    header, *rows = written["tsv"].read_text().splitlines()
    assert header == "start\tend\ttext"
    assert [row.split("\t")[:2] for row in rows] == [
        [str(round(s.start_s * 1000)), str(round(s.end_s * 1000))] for s in SEGMENTS
    ]
    assert all(
        row.split("\t")[2] == f"{s.speaker}: {s.text.strip()}"
        for row, s in zip(rows, SEGMENTS, strict=True)
    )
    document = json.loads(written["json"].read_text())
    assert document["recording_id"] == "rec-1"
    assert [s["text"] for s in document["segments"]] == [s.text for s in SEGMENTS]
    # WhisperX's shape: a key without a value is left out
    first = document["segments"][0]
    assert set(first) >= {"start", "end", "text", "speaker", "words"}
    assert first["words"][1] == {"word": "there.", "start": 1.1, "end": 2.25}
    assert len(document["word_segments"]) == sum(len(s.words) for s in SEGMENTS)
    annotation = load_rttm(str(written["rttm"]))["rec-1"]
    assert sorted(annotation.labels()) == ["SPEAKER_00", "SPEAKER_01"]
    assert abs(annotation.get_timeline().duration() - (1.75 + 3660.5)) < 0.01


def test_json_is_whisperx_shaped_with_what_the_recording_is():
    from whisper_pipeline.core.exports import to_json

    word = Word(0.5, 1.0, " Hello", 0.91234, "Ana")
    segment = Segment(0.5, 1.0, "Hello", (word,), "Ana", -0.2, "en")
    about = {"source": "team call.wav", "duration": 30.0, "model": "tiny.en (bundled)"}
    document = json.loads(to_json("rec-1", "en", [segment], about))
    assert document == {
        "recording_id": "rec-1",
        "source": "team call.wav",
        "duration": 30.0,
        "model": "tiny.en (bundled)",
        "language": "en",
        "segments": [
            {
                "start": 0.5,
                "end": 1.0,
                "text": "Hello",
                "speaker": "Ana",
                "words": [
                    {"word": "Hello", "start": 0.5, "end": 1.0, "score": 0.9123, "speaker": "Ana"}
                ],
                "avg_logprob": -0.2,
                "language": "en",
            }
        ],
        "word_segments": [
            {"word": "Hello", "start": 0.5, "end": 1.0, "score": 0.9123, "speaker": "Ana"}
        ],
    }


def test_rttm_is_removed_when_there_are_no_turns_any_more(tmp_path):
    write_exports(tmp_path, "rec-1", "en", SEGMENTS, TURNS)
    written = write_exports(tmp_path, "rec-1", "en", SEGMENTS, [])
    assert "rttm" not in written
    assert not (tmp_path / "rec-1.rttm").exists()
    assert "[" not in to_srt([Segment(0, 1, "no speaker")])


CHINESE = "今天我们讨论明年的预算。培训费用上涨了，但是销售额也增长了。请在星期五之前把报告发给我。"


def test_subtitle_lines_fit_42_columns_counted_as_displayed(tmp_path):
    """Wide characters take two columns: a Chinese line holds 21 of them, not 42; files and
    warehouse rows keep every script intact (UTF-8)."""
    from whisper_pipeline.core.exports import display_width
    from whisper_pipeline.storage.warehouse import Warehouse, segment_rows

    french = "Aujourd'hui nous parlons du budget de l'année prochaine, puis de la formation."
    segments = [
        Segment(0.0, 6.0, CHINESE, speaker="SPEAKER_00", language="zh"),
        Segment(6.0, 9.0, french, speaker="SPEAKER_01", language="fr"),
    ]
    written = write_exports(tmp_path, "rec", "zh", segments, ())
    for extension in ("srt", "vtt"):
        text = written[extension].read_text(encoding="utf-8")
        lines = [line for line in text.splitlines() if line and "-->" not in line]
        caption_lines = [  # as displayed: VTT's voice tags are markup
            re.sub(r"<[^>]+>", "", line)
            for line in lines
            if not line.isdigit() and line != "WEBVTT"
        ]
        assert max(display_width(line) for line in caption_lines) <= 42, caption_lines
        flat = "".join(line.split("] ", 1)[-1] for line in caption_lines)
        assert CHINESE in flat.replace(" ", "")  # nothing lost or garbled by the wrapping
        assert "l'année prochaine" in text
    assert CHINESE in written["json"].read_text(encoding="utf-8")  # not \\u-escaped
    warehouse = Warehouse(tmp_path / "warehouse")
    warehouse.write("segments", "rec", segment_rows("rec", segments))
    with warehouse.query_connection() as con:
        rows = con.execute("SELECT text, language FROM segments ORDER BY start_s").fetchall()
    assert rows == [(CHINESE, "zh"), (french, "fr")]


def test_wrapping_breaks_between_words_and_keeps_short_lines_whole():
    from whisper_pipeline.core.exports import wrap_caption

    assert wrap_caption("Hello there.") == "Hello there."
    wrapped = wrap_caption("one two three four five six seven eight nine ten eleven twelve")
    assert all(len(line) <= 42 for line in wrapped.splitlines())
    assert (
        wrapped.replace("\n", " ")
        == "one two three four five six seven eight nine ten eleven twelve"
    )


def test_cues_never_end_at_their_start_and_short_ones_are_held_until_the_next():
    segments = [
        Segment(1.0, 1.0, "Oh."),  # a one-word segment with no length
        Segment(1.2, 1.34, "Yes."),  # 0.14 s
        Segment(5.0, 7.0, "Then we start."),
    ]
    from whisper_pipeline.core.exports import subtitle_cues

    times = [(cue.start_s, cue.end_s) for cue in subtitle_cues(segments)]
    assert all(end > start for start, end in times)
    assert times[0] == (1.0, 1.2)  # held, but not past the next cue
    assert times[1] == (1.2, 1.7)  # held to 0.5 s
    assert times[2] == (5.0, 7.0)
    assert "00:00:01.000 --> 00:00:01.200" in to_vtt(segments)


def test_a_long_segment_becomes_cues_of_at_most_two_lines_timed_by_its_words():
    from whisper_pipeline.core.exports import SubtitleStyle, subtitle_cues

    text = (
        "We looked at the numbers for the whole quarter and the training budget went up"
        " while sales grew as well, so we keep the plan and meet again on Friday."
    )
    words = []
    for index, token in enumerate(text.split()):
        words.append(Word(10.0 + index * 0.3, 10.0 + index * 0.3 + 0.25, f" {token}"))
    segment = Segment(10.0, words[-1].end_s, text, tuple(words), "SPEAKER_00")
    cues = subtitle_cues([segment])
    assert len(cues) > 1 and " ".join(c.text for c in cues) == text
    for cue in cues:
        assert len(wrap_caption(f"[SPEAKER_00] {cue.text}").splitlines()) <= 2
    assert cues[0].start_s == 10.0 and cues[-1].end_s == words[-1].end_s
    assert all(a.end_s <= b.start_s for a, b in zip(cues, cues[1:], strict=False))
    srt = to_srt([segment], SubtitleStyle(max_line_width=30, max_line_count=1))
    captions = [line for line in srt.splitlines() if line.startswith("[")]
    assert all(len(line) <= 30 for line in captions) and len(captions) > len(cues)
    one_cue = SubtitleStyle(max_line_count=None)
    assert len(subtitle_cues([segment], one_cue)) == 1


def test_chinese_cues_keep_their_text_without_added_spaces():
    from whisper_pipeline.core.exports import subtitle_cues

    tokens = [CHINESE[i : i + 3] for i in range(0, len(CHINESE), 3)]
    words = tuple(Word(i * 0.5, i * 0.5 + 0.4, t) for i, t in enumerate(tokens))
    cues = subtitle_cues([Segment(0.0, words[-1].end_s, CHINESE, words, "SPEAKER_00")])
    assert "".join(cue.text for cue in cues) == CHINESE and len(cues) > 1


def test_rttm_keeps_a_name_with_spaces_in_one_field():
    text = to_rttm("rec-1", [SpeakerTurn(0.0, 1.5, "Ana Lima"), SpeakerTurn(1.0, 2.0, "Bo")])
    lines = text.splitlines()
    assert len(lines) == 2 and all(len(line.split()) == 10 for line in lines)
    assert lines[0].split()[7] == "Ana_Lima"


def test_highlighted_words_get_a_cue_each_with_the_word_being_said_underlined():
    from whisper_pipeline.core.exports import SubtitleStyle

    words = (Word(1.0, 1.4, "Good"), Word(1.5, 2.0, "morning,"), Word(2.2, 2.9, "Ana."))
    segment = Segment(0.9, 3.0, "Good morning, Ana.", words, speaker="SPEAKER_00")
    plain = to_srt([segment])
    assert "<u>" not in plain and plain.count("-->") == 1
    srt = to_srt([segment], SubtitleStyle(highlight_words=True))
    blocks = [block.splitlines() for block in srt.strip().split("\n\n")]
    assert [block[0] for block in blocks] == ["1", "2", "3"]
    assert [block[2] for block in blocks] == [
        "[SPEAKER_00] <u>Good</u> morning, Ana.",
        "[SPEAKER_00] Good <u>morning,</u> Ana.",
        "[SPEAKER_00] Good morning, <u>Ana.</u>",
    ]
    assert [block[1] for block in blocks] == [
        "00:00:00,900 --> 00:00:01,500",
        "00:00:01,500 --> 00:00:02,200",
        "00:00:02,200 --> 00:00:03,000",
    ]
    vtt = to_vtt([segment], SubtitleStyle(highlight_words=True))
    assert vtt.count("-->") == 3 and "<v SPEAKER_00>Good <u>morning,</u> Ana." in vtt
