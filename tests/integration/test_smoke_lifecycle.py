"""A task of each seed plan goes through its whole life over the JSON API."""

import io

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_sanmenxia_task_goes_from_identified_to_closed_with_one_rejection(api):
    task = api.task_of("lushi_handler")
    tid = task["id"]
    r = api.post(f"/tasks/{tid}/transitions", "lushi_handler", json={"to": "in_progress", "version": 1})
    assert r.status_code == 200 and r.get_json()["state"] == "in_progress"
    up = api.post(f"/tasks/{tid}/evidence", "lushi_handler", data={"file": (io.BytesIO(PNG), "现场照片.png")})
    assert up.status_code == 201, up.get_json()
    r = api.post(
        f"/tasks/{tid}/transitions", "lushi_handler", json={"to": "rectified", "comment": "已拆除", "version": 2}
    )
    assert r.status_code == 200, r.get_json()
    r = api.post(
        f"/tasks/{tid}/transitions", "smx_deputy", json={"to": "in_progress", "comment": "照片不清", "version": 3}
    )
    assert r.status_code == 200 and r.get_json()["state"] == "in_progress"
    api.post(f"/tasks/{tid}/evidence", "lushi_handler", data={"file": (io.BytesIO(PNG), "补充照片.png")})
    r = api.post(
        f"/tasks/{tid}/transitions", "lushi_handler", json={"to": "rectified", "comment": "已补", "version": 4}
    )
    assert r.status_code == 200
    assert api.post(f"/tasks/{tid}/transitions", "smx_deputy", json={"to": "verified", "version": 5}).status_code == 200
    r = api.post(f"/tasks/{tid}/transitions", "smx_head", json={"to": "closed", "version": 6})
    assert r.status_code == 200 and r.get_json()["state"] == "closed"
    history = api.get(f"/tasks/{tid}/history", "smx_head").get_json()
    assert [(h["from_state"], h["to_state"]) for h in history] == [
        (None, "identified"),
        ("identified", "in_progress"),
        ("in_progress", "rectified"),
        ("rectified", "in_progress"),
        ("in_progress", "rectified"),
        ("rectified", "verified"),
        ("verified", "closed"),
    ]


def test_yuzhou_self_reported_problem_is_closed_by_the_city(api):
    task = api.task_of("gucheng_handler")
    tid = task["id"]
    api.post(f"/tasks/{tid}/transitions", "gucheng_handler", json={"to": "in_progress", "version": 1})
    api.post(f"/tasks/{tid}/evidence", "gucheng_handler", data={"file": (io.BytesIO(PNG), "a.png")})
    r = api.post(
        f"/tasks/{tid}/transitions", "gucheng_handler", json={"to": "rectified", "comment": "ok", "version": 2}
    )
    assert r.status_code == 200
    assert api.post(f"/tasks/{tid}/transitions", "yz_deputy", json={"to": "verified", "version": 3}).status_code == 200
    assert api.post(f"/tasks/{tid}/transitions", "yz_head", json={"to": "closed", "version": 4}).status_code == 200
