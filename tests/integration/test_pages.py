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


def test_the_inbox_pages_newest_first_fifty_at_a_time_and_mark_all_read_reaches_every_page(app, api):
    lushi = api.get("/me", "lushi_handler").get_json()["unit_id"]
    for n in range(1, 61):  # sixty problems assigned to 卢氏县: a message each for its handler
        body = {"nature": "individual", "title": f"巡查发现问题{n:02d}", "deadline": "6月30日", "unit_ids": [lushi]}
        assert api.post("/plans/1/problems", "smx_deputy", json=body).status_code == 201
    client = app.test_client()
    login(client, "lushi_handler")

    def titles(html: str) -> list[int]:
        return [int(m) for m in re.findall(r"巡查发现问题(\d\d)", html)]

    first = client.get("/inbox").get_data(as_text=True)
    assert titles(first) == list(range(60, 10, -1)), "the newest fifty, newest first"
    older = re.search(r'href="(/inbox\?before=\d+)" rel="next"', first).group(1)
    second = client.get(older).get_data(as_text=True)
    assert titles(second)[:10] == list(range(10, 0, -1)), "then the ten before them, none twice"
    assert 'href="/inbox"' in second, "a way back to the newest"

    api_page = api.get("/inbox", "lushi_handler").get_json()
    assert len(api_page["items"]) == 50 and api_page["next_before"] is not None
    rest = api.get(f"/inbox?before={api_page['next_before']}", "lushi_handler").get_json()
    assert {i["id"] for i in rest["items"]}.isdisjoint({i["id"] for i in api_page["items"]})

    read_all = re.search(r'<form[^>]*id="read-all".*?</form>', second, re.S).group(0)
    assert f'name="next" value="{older}"' in read_all.replace("&amp;", "&")
    r = client.post("/inbox/read", data={"csrf_token": _csrf(second), "next": older})
    assert r.status_code == 302 and r.headers["Location"].endswith(older), "back to the page it was marked on"
    assert api.get("/inbox", "lushi_handler").get_json()["unread"] == 0, "every page read, not only the one shown"
    assert 'class="unread' not in client.get(older).get_data(as_text=True)
    assert 'class="unread' not in client.get("/inbox").get_data(as_text=True)
