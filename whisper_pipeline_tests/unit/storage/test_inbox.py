"""Stability across observations, on real files and their real stat()."""

import os
import time

from whisper_pipeline.storage.inbox import InboxCursor, Observation, scan_inbox


def look(inbox, cursor, now, settle_s=10.0, stable_age_s=3600.0):
    return scan_inbox(inbox, cursor, now, settle_s, stable_age_s)


def test_a_file_being_written_is_taken_only_once_unchanged_for_the_settle_time(tmp_path):
    path = tmp_path / "call.wav"
    path.write_bytes(b"RIFF" + b"\0" * 1000)
    now = time.time()
    first = look(tmp_path, InboxCursor(), now)
    assert first.ready == [] and "call.wav" in first.waiting

    with open(path, "ab") as handle:  # the copy goes on
        handle.write(b"\1" * 1000)
    second = look(tmp_path, first.cursor, now + 20)
    assert second.ready == [] and "being written" in second.waiting["call.wav"]

    too_soon = look(tmp_path, second.cursor, now + 25)
    assert too_soon.ready == [] and "settle" in too_soon.waiting["call.wav"]

    settled = look(tmp_path, second.cursor, now + 31)
    assert [f.relative_path for f in settled.ready] == ["call.wav"]
    assert settled.ready[0].size_bytes == 2004


def test_files_older_than_the_stable_age_are_ready_at_first_sight(tmp_path):
    old, new = tmp_path / "archive" / "old.mp3", tmp_path / "new.mp3"
    old.parent.mkdir()
    old.write_bytes(b"a")
    new.write_bytes(b"b")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    scan = look(tmp_path, InboxCursor(), time.time(), stable_age_s=600)
    assert [f.relative_path for f in scan.ready] == ["archive/old.mp3"]
    assert list(scan.waiting) == ["new.mp3"]


def test_hidden_temporary_and_other_files_are_ignored_with_reasons(tmp_path):
    for name in (".x.wav", "a.wav.part", "b.mp3.crdownload", "~$c.wav", "notes.txt", ".git/d.wav"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    scan = look(tmp_path, InboxCursor(), time.time(), stable_age_s=0)
    assert scan.ready == [] and scan.waiting == {}
    assert scan.ignored == {
        "hidden": 1,
        "hidden folder": 1,
        "temporary or partial download": 3,
        "not an audio or video extension": 1,
    }


def test_the_cursor_round_trips_and_a_broken_one_starts_afresh(tmp_path):
    cursor = InboxCursor(waiting={"a b/é.wav": Observation(10, 123, 5.5)}, taken={"abc"})
    assert InboxCursor.from_json(cursor.to_json()) == cursor
    for broken in ("", "{", '{"v": 99}', '{"v": 1, "waiting": {"x": [1]}}', "[]"):
        assert InboxCursor.from_json(broken) == InboxCursor()


def test_taken_files_are_skipped_until_modified_and_forgotten_when_gone(tmp_path):
    path, other = tmp_path / "a.wav", tmp_path / "b.wav"
    path.write_bytes(b"one")
    other.write_bytes(b"two")
    now = time.time()
    scan = look(tmp_path, InboxCursor(), now, stable_age_s=0)
    cursor = scan.cursor
    cursor.taken = {f.fingerprint for f in scan.ready}

    again = look(tmp_path, cursor, now + 1, stable_age_s=0)
    assert again.ready == [] and again.already_taken == 2

    other.unlink()
    path.write_bytes(b"one, edited")  # a new version
    changed = look(tmp_path, again.cursor, now + 2, stable_age_s=0)
    assert [f.relative_path for f in changed.ready] == ["a.wav"]
    assert changed.cursor.taken == set()  # b.wav is gone, a.wav's old version too
