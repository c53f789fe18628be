"""The minimal pages: sign in, see your own plans and tasks, sign out."""

import re

from app.demo import DEMO_PASSWORD


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, username: str):
    token = _csrf(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token})


def test_signed_out_visitor_is_sent_to_the_login_page(app):
    r = app.test_client().get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_county_official_sees_only_own_unit_tasks_after_login(app):
    client = app.test_client()
    assert login(client, "lushi_handler").status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "三建〔2022〕187号" in page
    assert "卢氏县住房和城乡建设局" in page
    assert "湖滨区住房和城乡建设局" not in page


def test_wrong_password_shows_an_error_and_no_session(app):
    client = app.test_client()
    token = _csrf(client.get("/login").get_data(as_text=True))
    r = client.post("/login", data={"username": "lushi_handler", "password": "nope", "csrf_token": token})
    assert r.status_code == 401 and "用户名或密码不正确" in r.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_form_without_csrf_token_is_refused(app):
    client = app.test_client()
    client.get("/login")
    r = client.post("/login", data={"username": "lushi_handler", "password": DEMO_PASSWORD})
    assert r.status_code == 400
    assert client.get("/").status_code == 302


def test_logout_ends_the_session(app):
    client = app.test_client()
    login(client, "smx_head")
    token = _csrf(client.get("/").get_data(as_text=True))
    client.post("/logout", data={"csrf_token": token})
    assert client.get("/").status_code == 302


def test_pages_send_a_content_security_policy(app):
    r = app.test_client().get("/login")
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
