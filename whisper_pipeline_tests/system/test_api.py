"""The HTTP API as programs use it: `whisper-pipeline api` started as a subprocess on a free
port with its own run worker, called with the openai SDK, with curl as whisper-asr-webservice's
documentation shows, and with plain HTTP; hostile requests get their documented answer and
leave nothing behind."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
import requests

from whisper_pipeline.core.scoring import read_rttm
from whisper_pipeline.defs.resources.storage import PipelineStorage
from whisper_pipeline.evaluation.samples import pyannote_sample_dir
from whisper_pipeline.inference.audio import read_spans, write_wav
from whisper_pipeline.inference.voices import solo_spans
from whisper_pipeline_tests.conftest import REPO, cli, cli_env, free_port, kill_group, wait_for

MAX_UPLOAD_MB = 8
MAX_CONCURRENT = 3


@dataclass
class Server:
    url: str
    token: str
    revoked: str
    home: Path
    process: subprocess.Popen

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, headers=self.auth, timeout=60, **kwargs)

    def uploads(self) -> list[Path]:
        folder = self.home / "uploads"
        return sorted(folder.rglob("*")) if folder.exists() else []

    def wait_final(self, recording_id: str, timeout_s: float = 300) -> dict:
        def final():
            view = self.get(f"/v1/recordings/{recording_id}").json()
            return view if view["state"] in ("succeeded", "failed", "canceled") else None

        return wait_for(final, timeout_s, f"{recording_id} to finish")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    home = tmp_path_factory.mktemp("api") / "home"
    token = cli(home, "api-token", "create", "tests", check=True).stdout.strip()
    revoked = cli(home, "api-token", "create", "old laptop", check=True).stdout.strip()
    cli(home, "api-token", "revoke", "old laptop", check=True)
    listed = cli(home, "api-token", "list", check=True).stdout
    assert "tests" in listed and token not in listed and "old laptop" not in listed
    port = free_port()
    log = open(tmp_path_factory.mktemp("api-log") / "api.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "whisper_pipeline.cli", "api", "--port", str(port)]
        + ["--max-upload-mb", str(MAX_UPLOAD_MB), "--max-concurrent", str(MAX_CONCURRENT)],
        env=cli_env(home),
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            return requests.get(url + "/health", timeout=2).ok
        except requests.ConnectionError:
            assert process.poll() is None, "the API exited"
            return False

    wait_for(healthy, 120, "the API to answer")
    yield Server(url, token, revoked, home, process)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    finally:
        kill_group(process)
        log.close()


def a_copy(source: Path, folder: Path, name: str, pad_s: float = 0.0) -> Path:
    """`source` under `name`; with `pad_s`, silence added first, so it is new content."""
    target = folder / name
    if pad_s:
        subprocess.run(["sox", str(source), str(target), "pad", str(pad_s), "0"], check=True)
    else:
        shutil.copyfile(source, target)
    return target


def post_recording(server: Server, path: Path, **fields) -> requests.Response:
    with open(path, "rb") as handle:
        return requests.post(
            server.url + "/v1/recordings",
            headers=server.auth,
            files={"file": (path.name, handle)},
            data=fields,
            timeout=120,
        )


def test_without_a_valid_token_nothing_is_said(server, tmp_path, sample_call):
    before = server.uploads()
    answers = []
    for header in (
        {},
        {"Authorization": "Bearer wp_guess"},
        {"Authorization": f"Bearer {server.revoked}"},
        {"Authorization": f"Basic {server.token}"},
    ):
        for method, path in (
            ("GET", "/v1/recordings/board-call-c319b4abca76"),
            ("GET", "/v1/recordings"),
            ("POST", "/v1/recordings"),
            ("GET", "/v1/models"),
        ):
            files = {"file": ("call.wav", sample_call.read_bytes())} if method == "POST" else None
            response = requests.request(
                method, server.url + path, headers=header, files=files, timeout=30
            )
            answers.append((response.status_code, response.headers.get("www-authenticate")))
            assert response.status_code == 401, (header, path, response.text)
    assert set(answers) == {(401, "Bearer")}
    assert server.uploads() == before
    assert requests.get(server.url + "/health", timeout=10).json() == {"status": "ok"}
    ready = requests.get(server.url + "/ready", timeout=30)
    assert ready.status_code == 200 and ready.json() == {"ready": True}, ready.text
    assert requests.get(server.url + "/openapi.json", timeout=10).json()["paths"]["/asr"]


def sse_events(server: Server, recording_id: str) -> list[tuple[str, dict]]:
    events = []
    with requests.get(
        server.url + f"/v1/recordings/{recording_id}/events",
        headers=server.auth,
        stream=True,
        timeout=300,
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[len("data: ") :])))
                if kind == "done":
                    break
    return events


def test_a_recording_handed_in_followed_named_found_and_deleted(server, sample_call, tmp_path):
    call = a_copy(sample_call, tmp_path, "board call.wav")
    submitted = post_recording(server, call)
    assert submitted.status_code == 202, submitted.text
    recording_id, run_id = submitted.json()["id"], submitted.json()["run_id"]
    events = sse_events(server, recording_id)
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and set(kinds[:-1]) <= {"progress"}
    steps = [view.get("step") for kind, view in events if kind == "progress"]
    assert "transcribe" in steps or "diarization" in steps, events
    view = events[-1][1]
    assert view["state"] == "succeeded" and view["run_id"] == run_id
    assert view["duration_s"] == 30.0 and view["language"] == "en"
    assert view["speakers"] == ["SPEAKER_00", "SPEAKER_01"]
    assert set(view["links"]["transcripts"]) == {"srt", "vtt", "txt", "tsv", "json", "rttm"}
    for kind, url in view["links"]["transcripts"].items():
        fetched = requests.get(url, headers=server.auth, timeout=30)
        assert fetched.status_code == 200, kind
        exported = server.home / "outputs" / recording_id / f"{recording_id}.{kind}"
        assert fetched.content == exported.read_bytes()
    assert server.get(f"/v1/recordings/{recording_id}/transcript?format=docx").status_code == 422
    srt = server.get(f"/v1/exports/{recording_id}/{recording_id}.srt")  # storage.exports_url
    assert srt.status_code == 200 and "-->" in srt.text
    for wrong in (f"{recording_id}.docx", "..%2F..%2Fregistry", "other.srt"):
        assert server.get(f"/v1/exports/{recording_id}/{wrong}").status_code == 404
    # the UI's export links (storage.exports_url naming this endpoint) open in a browser,
    # which sends no token: signed for their one file
    served = PipelineStorage(home_dir=str(server.home), exports_url=server.url + "/v1/exports")
    outputs = server.home / "outputs" / recording_id
    link = served.export_link(outputs / f"{recording_id}.srt").value
    opened = requests.get(link, timeout=30)
    assert opened.status_code == 200 and opened.content == srt.content
    other_file = link.replace(f"{recording_id}.srt?", f"{recording_id}.vtt?")
    unsigned = link.partition("?")[0]
    for refused in (other_file, unsigned, link[:-2] + "xx"):
        assert requests.get(refused, timeout=30).status_code == 401, refused

    again = post_recording(server, a_copy(sample_call, tmp_path, "same call, other name.wav"))
    assert again.status_code == 200 and again.json()["id"] == recording_id
    assert not again.json()["created"]
    assert len([p for p in server.uploads() if p.is_file()]) == 1  # the copy was dropped

    hits = server.get("/v1/search", params={"q": "New Jersey"}).json()["data"]
    assert hits and hits[0]["recording_id"] == recording_id

    renamed = requests.patch(
        server.url + f"/v1/recordings/{recording_id}/speakers/SPEAKER_00",
        headers=server.auth,
        json={"name": "Ana Lima"},
        timeout=60,
    )
    assert renamed.status_code == 200, renamed.text
    transcript = server.get(
        f"/v1/recordings/{recording_id}/transcript", params={"format": "json"}
    ).json()
    assert "Ana Lima" in {s.get("speaker") for s in transcript["segments"]}
    assert server.get(f"/v1/recordings/{recording_id}").json()["speakers"] == [
        "Ana Lima",
        "SPEAKER_01",
    ]
    unknown = requests.patch(
        server.url + f"/v1/recordings/{recording_id}/speakers/SPEAKER_07",
        headers=server.auth,
        json={"name": "Bo"},
        timeout=60,
    )
    assert unknown.status_code == 404 and "SPEAKER_01" in unknown.json()["detail"]
    listed = server.get("/v1/recordings", params={"name": "board"}).json()["data"]
    assert [v["id"] for v in listed] == [recording_id]

    deleted = requests.delete(
        server.url + f"/v1/recordings/{recording_id}", headers=server.auth, timeout=60
    )
    assert deleted.status_code == 200, deleted.text
    assert server.get(f"/v1/recordings/{recording_id}").status_code == 404
    assert not (server.home / "outputs" / recording_id).exists()
    assert not [p for p in server.uploads() if p.is_file()]
    assert server.get("/v1/search", params={"q": "New Jersey"}).json()["data"] == []
    runs = cli(server.home, "status")  # the run history stays
    assert recording_id in runs.stdout and "SUCCESS" in runs.stdout, runs.stdout


def known_speaker_references(folder: Path) -> dict[str, str]:
    """Solo speech of each of the call's two people (its reference RTTM), as data URLs."""
    sample = pyannote_sample_dir()
    spans = solo_spans(read_rttm(sample / "sample.rttm"), 12.0)
    references = {}
    for speaker, where in sorted(spans.items()):
        clip = folder / f"{speaker}.wav"
        write_wav(clip, read_spans(sample / "sample.wav", where))
        references[speaker] = (
            "data:audio/wav;base64," + base64.b64encode(clip.read_bytes()).decode()
        )
    return references


def test_the_openai_sdk_gets_every_response_format(server, sample_call, tmp_path):
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.token, max_retries=0)
    assert {"whisper-1", "bundled:tiny.en", "bundled:base"} <= {m.id for m in client.models.list()}
    call = a_copy(sample_call, tmp_path, "sdk call.wav", pad_s=0.25)

    def transcribe(**options):
        with open(call, "rb") as audio:
            return client.audio.transcriptions.create(
                file=audio, **{"model": "whisper-1", **options}
            )

    assert "New Jersey" in transcribe().text
    text = transcribe(response_format="text")
    assert isinstance(text, str) and "New Jersey" in text
    assert "-->" in transcribe(response_format="srt")
    assert transcribe(response_format="vtt").startswith("WEBVTT")
    verbose = transcribe(
        response_format="verbose_json", timestamp_granularities=["word", "segment"]
    )
    assert verbose.language == "english" and verbose.duration == pytest.approx(30.25, abs=0.05)
    assert verbose.segments and verbose.words and verbose.words[0].start < verbose.words[-1].end
    plain = transcribe(response_format="diarized_json")
    assert {s.speaker for s in plain.segments} == {"A", "B"}

    references = known_speaker_references(tmp_path)
    names = dict(zip(sorted(references), ["Diane", "Sheila"], strict=True))
    with open(call, "rb") as audio:
        named = client.audio.transcriptions.create(
            file=audio,
            model="gpt-4o-transcribe-diarize",
            response_format="diarized_json",
            known_speaker_names=list(names.values()),
            known_speaker_references=[references[speaker] for speaker in names],
        )
    said = {segment.text: segment.speaker for segment in named.segments}
    assert {segment.speaker for segment in named.segments} == {"Diane", "Sheila"}
    assert [who for text, who in said.items() if "This is Diane" in text] == ["Diane"]
    assert not list((server.home / "api" / "voices").glob("*"))  # the samples went with the run

    with pytest.raises(openai.NotFoundError):
        transcribe(model="large-v9")
    with pytest.raises(openai.APIStatusError) as refused:
        client.audio.transcriptions.create(
            file=("notes.wav", b"minutes of the meeting\n" * 50), model="whisper-1"
        )
    assert refused.value.status_code == 415 and "not decodable audio" in refused.value.message


def curl(server: Server, path: str, *form: str) -> subprocess.CompletedProcess:
    """A multipart request as whisper-asr-webservice's documentation shows it (with a token)."""
    command = [
        "curl",
        "-sS",
        "-X",
        "POST",
        "-H",
        "content-type: multipart/form-data",
        "-H",
        f"Authorization: Bearer {server.token}",
        "-w",
        "\n%{http_code}",
    ]
    for field in form:
        command += ["-F", field]
    return subprocess.run(
        [*command, server.url + path], capture_output=True, text=True, timeout=600, check=True
    )


def answer(done: subprocess.CompletedProcess) -> tuple[int, str]:
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def test_whisper_asr_webservice_requests(server, sample_call, tmp_path):
    call = a_copy(sample_call, tmp_path, "asr call.wav", pad_s=0.5)
    status, body = answer(
        curl(server, "/asr?output=json&word_timestamps=true", f"audio_file=@{call}")
    )
    assert status == 200, body
    result = json.loads(body)
    assert result["language"] == "en" and "New Jersey" in result["text"]
    assert result["segments"][0]["words"] and "speaker" not in result["segments"][0]
    for output, looks_like in (
        ("txt", "New Jersey"),
        ("srt", "-->"),
        ("vtt", "WEBVTT"),
        ("tsv", "start\tend\ttext"),
    ):
        status, body = answer(curl(server, f"/asr?output={output}", f"audio_file=@{call}"))
        assert status == 200 and looks_like in body, (output, body[:200])
        assert "SPEAKER_0" not in body
    status, body = answer(curl(server, "/asr?output=txt&diarize=true", f"audio_file=@{call}"))
    assert status == 200 and body.startswith("SPEAKER_0"), body[:200]

    raw = tmp_path / "call.pcm"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(call),
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            "16000",
            str(raw),
        ],
        check=True,
    )
    status, body = answer(curl(server, "/asr?encode=false&output=txt", f"audio_file=@{raw}"))
    assert status == 200 and "Jersey" in body, body[:200]

    status, body = answer(curl(server, "/detect-language", f"audio_file=@{call}"))
    assert status == 200 and json.loads(body)["language_code"] == "en", body
    assert json.loads(body)["detected_language"] == "english"
    status, body = answer(curl(server, "/asr?task=translate", f"audio_file=@{call}"))
    assert status == 400 and "translate" in body


def raw_request(server: Server, headers: list[str], body_chunks, read: bool = True) -> str:
    """An HTTP request written by hand on a socket (what a client cut off, or lying about its
    length, sends); the status line of the answer."""
    with socket.create_connection(
        ("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=60
    ) as sock:
        head = [
            "POST /v1/recordings HTTP/1.1",
            "Host: test",
            f"Authorization: Bearer {server.token}",
            *headers,
        ]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the body ended
        if not read:
            return ""
        return sock.makefile("rb").readline().decode()


MULTIPART_HEAD = (
    b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
    b"Content-Type: audio/wav\r\n\r\n"
)


def test_hostile_uploads_get_their_status_and_leave_nothing(server, sample_call, tmp_path):
    before = server.uploads()
    megabyte = b"\0" * (1 << 20)
    # 2 GB announced: refused before a byte is read
    status = raw_request(
        server,
        ["Content-Type: multipart/form-data; boundary=XyZ", f"Content-Length: {2 << 30}"],
        [MULTIPART_HEAD, *[megabyte] * 4],
    )
    assert " 413 " in status, status
    # no length given, streamed past the limit: cut off there
    chunks = [MULTIPART_HEAD, *[megabyte] * (MAX_UPLOAD_MB + 4)]
    chunked = [b"%x\r\n%s\r\n" % (len(c), c) for c in chunks]
    status = raw_request(
        server,
        ["Content-Type: multipart/form-data; boundary=XyZ", "Transfer-Encoding: chunked"],
        chunked,
    )
    assert " 413 " in status, status
    # a client gone mid-upload
    raw_request(
        server,
        ["Content-Type: multipart/form-data; boundary=XyZ", f"Content-Length: {5 << 20}"],
        [MULTIPART_HEAD, megabyte, megabyte],
        read=False,
    )
    # a text file named .wav, an empty file, an odd name
    notes = tmp_path / "notes.wav"
    notes.write_text("minutes of the meeting\n" * 100)
    refused = post_recording(server, notes)
    assert (
        refused.status_code == 415 and "notes.wav: not decodable audio" in refused.json()["detail"]
    )
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    assert post_recording(server, empty).status_code == 415
    time.sleep(1)
    assert server.uploads() == before
    odd = requests.post(
        server.url + "/v1/recordings",
        headers=server.auth,
        timeout=120,
        files={"file": ("../../etc/pass\0wd" + "é" * 300 + ".wav", sample_call.read_bytes())},
    )
    assert odd.status_code in (200, 202), odd.text
    kept = [p for p in server.uploads() if p.is_file() and p not in before]
    assert all(p.parent.parent == server.home / "uploads" for p in kept)
    assert all(
        len(p.name.encode()) <= 200 and "\0" not in p.name and "/" not in p.name for p in kept
    )
    assert requests.get(server.url + "/ready", timeout=30).status_code == 200

    # a truncated mp3: what decodes is transcribed, and the check says the file is cut
    mp3 = tmp_path / "cut off.mp3"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(sample_call), "-af", "apad=pad_dur=1", str(mp3)],
        check=True,
    )
    mp3.write_bytes(mp3.read_bytes()[: mp3.stat().st_size // 2])
    submitted = post_recording(server, mp3)
    assert submitted.status_code == 202, submitted.text
    view = server.wait_final(submitted.json()["id"])
    assert view["state"] == "succeeded", view
    assert [c["check"] for c in view["failed_checks"]] == ["decodes_completely"], view


def test_too_many_uploads_at_once_get_429_with_retry_after(server):
    held = []
    try:
        for _ in range(MAX_CONCURRENT):
            sock = socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
            head = [
                "POST /v1/recordings HTTP/1.1",
                "Host: test",
                f"Authorization: Bearer {server.token}",
                "Content-Type: multipart/form-data; boundary=XyZ",
                f"Content-Length: {4 << 20}",
            ]
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + MULTIPART_HEAD)
            held.append(sock)
        time.sleep(1)
        busy = requests.post(
            server.url + "/v1/recordings",
            headers=server.auth,
            timeout=30,
            files={"file": ("call.wav", b"RIFF")},
        )
        assert busy.status_code == 429 and int(busy.headers["Retry-After"]) > 0
        assert server.get("/v1/recordings").status_code == 200  # polls are never limited
    finally:
        for sock in held:
            sock.close()
    wait_for(
        lambda: (
            requests.post(
                server.url + "/v1/recordings",
                headers=server.auth,
                timeout=30,
                files={"file": ("tiny.wav", b"RIFF")},
            ).status_code
            == 415
        ),
        30,
        "the held uploads to be let go",
    )


STEPS = {
    "recording_metadata",
    "diarization",
    "transcribe",
    "speaker_transcript",
    "recording_analytics",
}
ORDER = {"registered": 0, "queued": 1, "running": 2, "succeeded": 3, "failed": 3, "canceled": 3}


def test_parallel_status_polls_while_a_run_goes_on(server, sample_call, tmp_path):
    submitted = post_recording(server, a_copy(sample_call, tmp_path, "polled call.wav", pad_s=0.75))
    recording_id = submitted.json()["id"]
    seen: list[dict] = []

    def poll(_):
        response = server.get(f"/v1/recordings/{recording_id}")
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(max_workers=50) as pool:
        seen = list(pool.map(poll, range(200)))
    assert all(view["id"] == recording_id for view in seen)
    ordered = [poll(0)]
    while ordered[-1]["state"] not in ("succeeded", "failed"):
        time.sleep(0.3)
        ordered.append(poll(0))
    ranks = [ORDER[view["state"]] for view in ordered]
    assert ranks == sorted(ranks) and ordered[-1]["state"] == "succeeded"
    running = [v for v in [*seen, *ordered] if v["state"] == "running"]
    assert running and all(v["run_id"] == submitted.json()["run_id"] for v in running)
    steps = {v["step"] for v in running}  # None: started, its first step not yet begun
    assert steps - {None} and steps <= {None, *STEPS}, steps


def test_a_sync_request_times_out_with_504_and_the_run_goes_on(server, sample_call, tmp_path):
    call = a_copy(sample_call, tmp_path, "slow call.wav", pad_s=1.0)
    status, body = answer(curl(server, "/asr?output=json&wait_s=1", f"audio_file=@{call}"))
    assert status == 504, body
    detail = json.loads(body)["detail"]
    view = server.wait_final(detail["id"])
    assert view["state"] == "succeeded" and view["run_id"] == detail["run_id"]


def test_a_worker_killed_while_asr_waits_fails_the_request_with_its_step(
    server, sample_call, tmp_path, monkeypatch
):
    from dagster import DagsterInstance, RunsFilter

    from whisper_pipeline.core.tags import SOURCE_NAME_TAG, TAG_PID, TAG_STEP

    call = a_copy(sample_call, tmp_path, "doomed call.wav", pad_s=1.25)
    result: dict = {}
    waiting = threading.Thread(
        target=lambda: result.update(
            done=answer(curl(server, "/asr?output=json", f"audio_file=@{call}"))
        )
    )
    waiting.start()
    monkeypatch.setenv("DAGSTER_HOME", str(server.home / "dagster"))
    with DagsterInstance.get() as instance:

        def in_a_model_step():
            runs = instance.get_runs(RunsFilter(tags={SOURCE_NAME_TAG: call.name}), limit=1)
            if runs and runs[0].tags.get(TAG_STEP) in ("diarization", "transcribe"):
                return runs[0] if TAG_PID in runs[0].tags else None
            return None

        run = wait_for(in_a_model_step, 120, "the run to reach a model step", 0.2)
        os.kill(int(run.tags[TAG_PID]), signal.SIGKILL)
        waiting.join(timeout=120)
    status, body = result["done"]
    assert status == 500, body
    detail = json.loads(body)["detail"]
    assert detail["step"] in ("diarization", "transcribe"), detail
    view = server.get(f"/v1/recordings/{detail['id']}").json()
    assert view["state"] == "failed" and view["error"]["step"] == detail["step"]
    assert detail["step"] in view["error"]["message"]
    # the worker goes on (a new pool process): the same file again is processed
    wait_for(
        lambda: requests.get(server.url + "/ready", timeout=30).status_code == 200, 60, "ready"
    )
    status, body = answer(curl(server, "/asr?output=txt", f"audio_file=@{call}"))
    assert status == 200 and "Jersey" in body, body
