from whisper_pipeline.storage.intake import find_recordings


def test_folders_yield_audio_and_video_but_not_hidden_or_partial_files(tmp_path):
    names = [
        "a.wav",
        "b.MP3",
        "nested/c.m4a",
        "nested/deeper/d.webm",
        "e.mkv",
        "f.opus",
        ".hidden.wav",
        "g.wav.part",
        "h.mp3.crdownload",
        "~$lock.wav",
        "notes.txt",
        ".trash/i.wav",
    ]
    for name in names:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    found = {p.relative_to(tmp_path).as_posix() for p in find_recordings([tmp_path])}
    assert found == {"a.wav", "b.MP3", "nested/c.m4a", "nested/deeper/d.webm", "e.mkv", "f.opus"}


def test_a_file_named_directly_is_taken_whatever_its_extension(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    assert list(find_recordings([path])) == [path]
