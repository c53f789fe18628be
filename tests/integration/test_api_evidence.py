"""Evidence files (佐证材料): uploads checked by size and content, downloads as attachments."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy import func, select

import config as rectify_config
from app import create_app
from app.models import Evidence
from tests.conftest import Api, presign

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
JPG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(255, -1, -1)) * 4
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
MB = 1024 * 1024

pytestmark = pytest.mark.presigned  # not about signing in: tokens minted up front


def upload_dir(app) -> Path:
    return app.extensions["rectify"].config.UPLOAD_DIR


def files_in(app) -> list[str]:
    d = upload_dir(app)
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def evidence_rows(app) -> int:
    with app.app_context():
        return app.extensions["rectify"].db.session().scalar(select(func.count()).select_from(Evidence))


def upload(api, tid: int, as_user: str, content: bytes, name: str):
    return api.post(f"/tasks/{tid}/evidence", as_user, data={"file": (io.BytesIO(content), name)})


def assert_nothing_written(api, app, tid: int, files_before: list[str]) -> None:
    assert files_in(app) == files_before
    assert evidence_rows(app) == 0
    assert api.get(f"/tasks/{tid}/evidence", "admin").get_json() == []


@pytest.mark.parametrize(
    "name, content, mime",
    [
        ("现场照片.png", PNG, "image/png"),
        ("拆除后.JPG", JPG, "image/jpeg"),
        ("整改报告.pdf", PDF, "application/pdf"),
    ],
)
def test_an_uploaded_file_is_stored_with_its_hash_and_size_and_downloads_byte_for_byte(api, app, name, content, mime):
    tid = api.task_of("lushi_handler")["id"]
    r = upload(api, tid, "lushi_handler", content, name)
    assert r.status_code == 201, r.get_json()
    ev = r.get_json()
    assert ev["task_id"] == tid and ev["event_id"] is None
    assert ev["original_name"] == name
    assert ev["content_type"] == mime
    assert ev["size"] == len(content)
    assert ev["sha256"] == hashlib.sha256(content).hexdigest()
    assert [e["id"] for e in api.get(f"/tasks/{tid}/evidence", "smx_deputy").get_json()] == [ev["id"]]
    # the file on disk is not named after the upload
    assert len(files_in(app)) == 1 and name not in files_in(app)

    for reader in ("lushi_handler", "smx_head", "smx_viewer"):
        down = api.get(f"/evidence/{ev['id']}/content", reader)
        assert down.status_code == 200, reader
        assert down.data == content
        assert down.headers["X-Content-Type-Options"] == "nosniff"
        assert down.mimetype == mime
        disposition = down.headers["Content-Disposition"]
        assert disposition.startswith("attachment")
        assert name in unquote(disposition)


def test_evidence_is_attached_to_the_transition_that_used_it(api):
    tid = api.task_of("lushi_handler")["id"]
    api.post(f"/tasks/{tid}/transitions", "lushi_handler", json={"to": "in_progress", "version": 1})
    first = upload(api, tid, "lushi_handler", PNG, "a.png").get_json()["id"]
    second = upload(api, tid, "lushi_handler", PDF, "b.pdf").get_json()["id"]
    r = api.post(f"/tasks/{tid}/transitions", "lushi_handler", json={"to": "rectified", "comment": "好", "version": 2})
    assert r.status_code == 200
    history = api.get(f"/tasks/{tid}/history", "smx_head").get_json()
    assert sorted(history[-1]["evidence_ids"]) == [first, second]
    listed = api.get(f"/tasks/{tid}/evidence", "smx_head").get_json()
    assert {e["event_id"] for e in listed} == {listed[0]["event_id"]} and listed[0]["event_id"] is not None


def test_a_path_in_the_uploaded_file_name_is_dropped(api, app):
    tid = api.task_of("lushi_handler")["id"]
    r = upload(api, tid, "lushi_handler", PNG, "../../../etc/照片.png")
    assert r.status_code == 201
    assert r.get_json()["original_name"] == "照片.png"
    instance = app.extensions["rectify"].config.INSTANCE_DIR
    assert not (instance.parent / "etc").exists()
    assert len(files_in(app)) == 1


@pytest.fixture
def small_app(db_url, tmp_path, clock):
    """The app with a 1 MB upload limit."""
    config = rectify_config.TestConfig(db_url, tmp_path / "small-instance")
    config.MAX_UPLOAD_BYTES = 1 * MB
    config.MAX_CONTENT_LENGTH = config.MAX_UPLOAD_BYTES + 64 * 1024
    application = create_app(config, clock=clock)
    yield application
    application.extensions["rectify"].db.dispose()


def padded_png(size: int) -> bytes:
    return PNG + b"\x00" * (size - len(PNG))


def test_a_file_of_exactly_the_limit_is_accepted(small_app):
    api = presign(Api(small_app.test_client()), small_app)
    tid = api.task_of("lushi_handler")["id"]
    r = upload(api, tid, "lushi_handler", padded_png(1 * MB), "big.png")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["size"] == 1 * MB


@pytest.mark.parametrize("size", [1 * MB + 1, 2 * MB], ids=["just-over-the-file-limit", "over-the-request-limit"])
def test_an_oversized_upload_is_a_413_json_and_leaves_no_file_and_no_row(small_app, size):
    api = presign(Api(small_app.test_client()), small_app)
    tid = api.task_of("lushi_handler")["id"]
    before = files_in(small_app)
    r = upload(api, tid, "lushi_handler", padded_png(size), "big.png")
    assert r.status_code == 413
    assert r.is_json
    body = r.get_json()
    assert body["error"] == "too_large" and "1 MB" in body["message"]
    assert_nothing_written(api, small_app, tid, before)


def test_a_file_whose_bytes_do_not_match_its_extension_is_a_422_and_nothing_is_written(api, app):
    tid = api.task_of("lushi_handler")["id"]
    for name, content in [
        ("照片.png", PDF),
        ("scan.pdf", PNG),
        ("photo.jpg", PNG),
        ("empty.png", b""),
        ("random.png", b"just some text, not an image at all" * 10),
    ]:
        r = upload(api, tid, "lushi_handler", content, name)
        assert r.status_code == 422, name
        assert r.get_json()["error"] == "invalid"
        assert_nothing_written(api, app, tid, [])


def test_an_unknown_file_type_is_a_422_naming_what_is_accepted(api, app):
    tid = api.task_of("lushi_handler")["id"]
    for name in ("setup.exe", "notes.txt", "page.html", "photo.svg", "noextension", "archive.png.zip"):
        r = upload(api, tid, "lushi_handler", PNG, name)
        assert r.status_code == 422, name
        message = r.get_json()["message"]
        assert "png" in message and "pdf" in message
    assert_nothing_written(api, app, tid, [])


def test_an_upload_without_a_file_field_is_a_422(api, app):
    tid = api.task_of("lushi_handler")["id"]
    r = api.post(f"/tasks/{tid}/evidence", "lushi_handler", data={"other": (io.BytesIO(PNG), "a.png")})
    assert r.status_code == 422
    r = api.post(f"/tasks/{tid}/evidence", "lushi_handler", json={"file": "a.png"})
    assert r.status_code == 422
    assert_nothing_written(api, app, tid, [])


def test_uploading_to_or_downloading_from_another_units_task_is_not_found(api, app):
    tid = api.task_of("lushi_handler")["id"]
    ev = upload(api, tid, "lushi_handler", PNG, "卢氏.png").get_json()["id"]
    files_before = files_in(app)
    for outsider in ("hubin_handler", "gucheng_handler", "yz_deputy"):
        r = upload(api, tid, outsider, PNG, "mine.png")
        assert r.status_code == 404 and r.get_json()["error"] == "not_found", outsider
        assert files_in(app) == files_before and evidence_rows(app) == 1
        down = api.get(f"/evidence/{ev}/content", outsider)
        assert down.status_code == 404 and down.is_json, outsider
        unknown = api.get("/evidence/999999/content", outsider).get_json()["message"]
        assert down.get_json()["message"].replace(str(ev), "N") == unknown.replace("999999", "N")


def test_a_viewer_cannot_upload_evidence(api, app):
    tid = api.task_of("lushi_handler")["id"]
    r = upload(api, tid, "smx_viewer", PNG, "a.png")
    assert r.status_code == 403
    assert_nothing_written(api, app, tid, [])
