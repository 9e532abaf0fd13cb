from whisper_pipeline.core.display import clock, counted, label, megabytes, percent, timestamp


def test_durations_shares_sizes_and_counts_read_as_people_write_them():
    assert [clock(s) for s in (0, 27.371, 59.6, 725, 3729.4)] == [
        "0:00",
        "0:27",
        "1:00",
        "12:05",
        "1:02:09",
    ]
    assert clock(None) == "?"
    assert timestamp(5.99) == "0:05" and timestamp(65.0) == "1:05"  # a moment is not rounded up
    assert percent(0.2275) == "22.8 %" and percent(1.0, 0) == "100 %"
    assert megabytes(960104) == "0.96 MB" and megabytes(123_456_789) == "123.5 MB"
    assert counted(1, "speaker") == "1 speaker" and counted(2, "speaker") == "2 speakers"
    assert counted(0, "day") == "0 days"


def test_export_files_are_links_when_the_outputs_are_served(tmp_path):
    from whisper_pipeline.defs.resources.storage import PipelineStorage

    served = PipelineStorage(home_dir=str(tmp_path), exports_url="https://api.example/v1/files/")
    path = served.outputs_for("hot-interview-aaa") / "hot interview.srt"
    link = served.export_link(path).url
    assert link.startswith(
        "https://api.example/v1/files/hot-interview-aaa/hot%20interview.srt?sig="
    )
    assert PipelineStorage(home_dir=str(tmp_path)).export_link(path).path == str(path)


def test_a_label_shows_control_and_format_characters_escaped():
    forged = "call\n[2/2] payroll.wav: done\r\x1b[31mred\t\u202ekcab\u200b\u2028.wav"
    assert label(forged) == (
        "call\\n[2/2] payroll.wav: done\\r\\x1b[31mred\\t\\u202ekcab\\u200b\\u2028.wav"
    )
    assert "\n" not in label(forged) and "\x1b" not in label(forged)
    assert label("Zoë's 会议 – notes (1).wav") == "Zoë's 会议 – notes (1).wav"  # names stay names
