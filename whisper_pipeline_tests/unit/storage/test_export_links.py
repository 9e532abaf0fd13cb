"""Signed export links: one file per link, the deployment's key, voided by a new key."""

import stat

from whisper_pipeline.storage import export_links


def test_a_link_names_its_one_file_under_the_home_s_key(tmp_path, monkeypatch):
    monkeypatch.delenv(export_links.LINK_KEY_ENV, raising=False)
    key = export_links.link_key(tmp_path)
    assert export_links.link_key(tmp_path) == key and len(key) >= 32  # made once, then kept
    key_file = tmp_path / "api" / "link_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    path = "rec-1/rec-1.srt"
    link = export_links.signed_link("http://host:8000/v1/exports/", key, path)
    base, _, query = link.partition("?sig=")
    assert base == "http://host:8000/v1/exports/rec-1/rec-1.srt"
    assert export_links.is_signed(key, path, query)
    assert not export_links.is_signed(key, "rec-1/rec-1.vtt", query)  # another file
    assert not export_links.is_signed(key, "rec-2/rec-1.srt", query)
    assert not export_links.is_signed(key, path, query[:-1] + ("A" if query[-1] != "A" else "B"))
    # a new key voids the links given out
    key_file.unlink()
    assert not export_links.is_signed(export_links.link_key(tmp_path), path, query)


def test_every_host_of_a_deployment_signs_alike_with_the_key_it_is_given(tmp_path, monkeypatch):
    monkeypatch.setenv(export_links.LINK_KEY_ENV, "shared secret of the deployment")
    one, other = export_links.link_key(tmp_path / "a"), export_links.link_key(tmp_path / "b")
    assert one == other == b"shared secret of the deployment"
    assert not (tmp_path / "a" / "api" / "link_key").exists()
    name = "rec-1/hot interview.srt"
    assert export_links.signed_link("http://h/x", one, name).startswith(
        "http://h/x/rec-1/hot%20interview.srt?sig="
    )
