from whisper_pipeline.core.recording_id import content_hash, make_recording_id, slugify
from whisper_pipeline.storage.registry import RecordingRegistry


def test_ids_are_readable_url_safe_and_tied_to_content(tmp_path):
    path = tmp_path / "Réunion équipe v1.2 (final).wav"
    path.write_bytes(b"some audio bytes")
    recording_id = make_recording_id(path, content_hash(path))
    assert recording_id.startswith("reunion-equipe-v1-2-final-")
    assert all(c.isalnum() or c == "-" for c in recording_id)
    assert "," not in recording_id and recording_id.islower()


def test_slug_of_a_name_without_letters_is_still_usable():
    assert slugify("???.wav".removesuffix(".wav")) == "recording"
    assert slugify("日本語") == "recording"


def test_same_content_under_two_names_is_one_recording(tmp_path):
    registry = RecordingRegistry(tmp_path / "registry")
    first = tmp_path / "call.wav"
    second = tmp_path / "copy of call.wav"
    first.write_bytes(b"identical")
    second.write_bytes(b"identical")
    a = registry.register(first)
    b = registry.register(second)
    assert a.recording_id == b.recording_id
    assert registry.ids() == [a.recording_id]


def test_a_changed_file_is_a_new_version(tmp_path):
    registry = RecordingRegistry(tmp_path / "registry")
    path = tmp_path / "call.wav"
    path.write_bytes(b"version one")
    a = registry.register(path)
    path.write_bytes(b"version two!")
    b = registry.register(path)
    assert a.recording_id != b.recording_id
    assert sorted(registry.ids()) == sorted([a.recording_id, b.recording_id])
    assert b.supersedes == () and registry.get(a.recording_id).superseded_by is None


def test_a_file_registered_while_still_being_copied_is_superseded_by_the_whole(tmp_path):
    registry = RecordingRegistry(tmp_path / "registry")
    path = tmp_path / "call.wav"
    whole = bytes(range(256)) * 4096  # 1 MiB: more than one hashing block
    path.write_bytes(whole[:300_000])
    partial = registry.register(path)
    path.write_bytes(whole)
    complete = registry.register(path)
    assert complete.supersedes == (partial.recording_id,)
    assert registry.get(partial.recording_id).superseded_by == complete.recording_id
    assert registry.get(complete.recording_id) == complete  # kept as registered
    assert content_hash(path, limit_bytes=300_000) == partial.content_sha256


def test_a_symbolic_link_is_recorded_under_the_name_the_user_gave(tmp_path):
    stored = tmp_path / "store" / "2026-12-01T09-00-00Z.bin"
    stored.parent.mkdir()
    stored.write_bytes(b"RIFF" + bytes(2000))
    link = tmp_path / "board meeting.wav"
    link.symlink_to(stored)
    entry = RecordingRegistry(tmp_path / "registry").register(link)
    assert entry.source_name == "board meeting.wav"
    assert entry.recording_id.startswith("board-meeting-")
    assert entry.link_target == str(stored)
    plain = RecordingRegistry(tmp_path / "other").register(stored)
    assert plain.link_target is None and plain.source_name == stored.name
