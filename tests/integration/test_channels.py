"""The channels against real servers on 127.0.0.1: aiosmtpd for mail, http.server for robots and webhooks.

Nothing is mocked: each test points a channel at a local server that plays the far
end (or at a closed port) and checks what arrived and which Result came back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from app.notify import DingTalkRobot, Outgoing, Result, SmtpChannel, WebhookChannel, WeComRobot, verify_signature
from tests.integration.celery_fixtures import offering_pipelining

NOW = datetime(2022, 6, 20, 1, 30, tzinfo=UTC)  # 09:30 in China, a Monday morning
SUBJECT = "【整改提醒】农村危房改造档案不规范（3天后到期）"
TEXT = "事项：农村危房改造档案不规范\n责任单位：湖滨区住房和城乡建设局\n整改时限：2022年6月23日\n"
HTML = "<p>事项：农村危房改造档案不规范</p>"


def outgoing(n: int = 0, **changes) -> Outgoing:
    fields = {
        "key": f"task:17/rule:remind-3d/2022-06-20/user:{n}",
        "to_name": f"张{n}",
        "to_email": f"user{n}@example.cn",
        "to_mobile": None,
        "subject": SUBJECT,
        "text": TEXT,
        "html": HTML,
        "data": {"task_id": 17, "due_at": datetime(2022, 6, 23, 15, 59, 59, tzinfo=UTC)},
    }
    return Outgoing(**(fields | changes))


def free_port() -> int:
    """A port nothing listens on (bound, read, released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- SMTP -------------------------------------------------------------------------------------------------


@dataclass
class MailServer:
    """aiosmtpd handler hooks: count connections (EHLO), refuse chosen recipients, keep what
    is delivered. ``pipelining`` offers PIPELINING (as real servers do); ``in_one_write``
    notes, per MAIL, whether its RCPT and DATA had come with it."""

    pipelining: bool = True
    in_one_write: list[bool] = field(default_factory=list)
    refuse_sender: str | None = None
    refuse: dict[str, str] = field(default_factory=dict)
    data_after_refusal: bool = False  # a broken server: a refused recipient still counts, DATA gets 354
    connections: int = 0
    delivered: list = field(default_factory=list)
    tls_versions: list = field(default_factory=list)  # per delivered message: the TLS version, or None

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1  # smtplib says EHLO exactly once per connection when there is no STARTTLS
        session.host_name = hostname
        return offering_pipelining(responses) if self.pipelining else responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.in_one_write.append(b"DATA\r\n" in server._reader._buffer)  # what came in behind MAIL, unread
        if self.refuse_sender is not None:
            return self.refuse_sender
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            if self.data_after_refusal:
                envelope.rcpt_tos.append(address)
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        tls = server.transport.get_extra_info("ssl_object")
        self.tls_versions.append(tls.version() if tls else None)
        self.delivered.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"notify", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


def pytest_generate_tests(metafunc):
    """Each SMTP test of this module runs against a server that offers PIPELINING and one
    that does not (a module that imports ``mail`` gets the first only)."""
    if "mail" in metafunc.fixturenames:
        metafunc.parametrize("mail", [True, False], ids=["pipelining", "one-by-one"], indirect=True)


@pytest.fixture
def mail(request) -> Iterator[tuple[MailServer, int]]:
    handler = MailServer(pipelining=getattr(request, "param", True))
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), auth_require_tls=False, authenticator=_authenticate
    )
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def smtp_channel(port: int, **kw) -> SmtpChannel:
    return SmtpChannel("127.0.0.1", port, "noreply@rectify.example.cn", timeout=5, **kw)


def test_a_batch_of_twenty_goes_over_one_connection_as_readable_chinese_mail(mail):
    server, port = mail
    batch = [outgoing(n) for n in range(20)]

    results = smtp_channel(port).send_batch(batch, NOW)

    assert results == [Result.sent()] * 20
    assert server.connections == 1
    assert len(server.delivered) == 20
    rcpts, msg = server.delivered[0]
    assert rcpts == ["user0@example.cn"]
    assert msg["Subject"] == SUBJECT
    assert msg["From"].addresses[0].display_name == "整改台账"
    assert msg["From"].addresses[0].addr_spec == "noreply@rectify.example.cn"
    assert msg["To"].addresses[0].display_name == "张0"
    assert msg["Date"] == format_datetime(NOW)
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_body(("plain",)).get_content() == TEXT
    assert HTML in msg.get_body(("html",)).get_content()
    message_ids = {m["Message-ID"] for _, m in server.delivered}
    assert len(message_ids) == 20
    assert all(mid.endswith("@rectify.example.cn>") for mid in message_ids)
    # a server that offers PIPELINING gets each envelope in one write (one round trip, not three)
    assert server.in_one_write == [server.pipelining] * 20


def test_headers_arrive_as_written_however_long_quoted_or_international():
    handler = MailServer()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=True)
    controller.start()
    long_subject = "【整改督办】" + "农村危房改造档案不规范、资料缺失，" * 6 + "（已逾期5个工作日）"
    batch = [
        outgoing(0, subject=long_subject, text="第一行\r\n第二行\n\n.以点开头的一行\n"),
        outgoing(1, to_name='Smith, John "JJ"', subject="Reminder: item due in 3 days"),
        outgoing(2, to_name="李四", to_email="lisi@例子.中国", html=None),
        outgoing(3, subject="换行\r\nBcc: someone@else.cn"),
    ]
    try:
        results = smtp_channel(controller.port).send_batch(batch, NOW)
    finally:
        controller.stop()

    assert [r.status for r in results] == ["sent", "sent", "sent", "permanent"]  # no header smuggled in
    assert "cannot write the headers" in results[3].detail
    (_, first), (_, english), (rcpts, international) = handler.delivered
    assert first["Subject"] == long_subject
    assert first.get_body(("plain",)).get_content() == "第一行\n第二行\n\n.以点开头的一行\n"
    assert english["Subject"] == "Reminder: item due in 3 days"
    assert english["To"].addresses[0].display_name == 'Smith, John "JJ"'
    assert english["To"].addresses[0].addr_spec == "user1@example.cn"
    assert rcpts == ["lisi@例子.中国"]
    assert "To: 李四 <lisi@例子.中国>" in international.as_bytes().decode("utf-8", "surrogateescape")
    assert international.get_content_type() == "text/plain" and international.get_content() == TEXT
    assert all(not m.defects for _, m in handler.delivered)


def test_one_mail_to_a_units_three_people_names_them_all_and_a_refused_one_gets_its_own_verdict(mail):
    """An item's step to several people goes as one message (a RCPT each): all of them in
    its To, each one's outbox key in X-Rectify-Key; the server refusing one of them fails
    that one only, and the message still goes to the others."""
    server, port = mail
    others = (("task:17/step/user:1", "李四", "user1@example.cn"), ("task:17/step/user:2", "王五", "gone@example.cn"))
    server.refuse = {"gone@example.cn": "550 5.1.1 no such mailbox"}
    together = outgoing(0, also=others, message_key="task:17/step")
    alone = outgoing(0, message_key="task:17/step")

    [result] = smtp_channel(port).send_batch([together], NOW)
    everyone_refused = outgoing(3, to_email="gone@example.cn", also=(others[1],))
    [refused] = smtp_channel(port).send_batch([everyone_refused], NOW)
    smtp_channel(port).send_batch([alone], NOW)

    assert [result.of(j).status for j in range(3)] == ["sent", "sent", "permanent"]
    assert "550" in result.of(2).detail and not result.stop
    [(rcpts, msg), (_, msg_alone)] = server.delivered  # nothing for the mail whose recipients were all refused
    assert rcpts == ["user0@example.cn", "user1@example.cn"]
    assert [(a.display_name, a.addr_spec) for a in msg["To"].addresses] == [
        ("张0", "user0@example.cn"),
        ("李四", "user1@example.cn"),
        ("王五", "gone@example.cn"),
    ]
    assert msg["X-Rectify-Key"].split() == ["task:17/rule:remind-3d/2022-06-20/user:0", *(k for k, _, _ in others)]
    assert msg["Message-ID"] == msg_alone["Message-ID"]  # the step's message, to whomever it goes
    assert [refused.of(j).status for j in range(2)] == ["permanent", "permanent"]
    assert not msg.defects


def test_a_retried_message_keeps_its_message_id_so_duplicates_can_be_spotted(mail):
    server, port = mail
    channel = smtp_channel(port)

    channel.send_batch([outgoing(1)], NOW)
    channel.send_batch([outgoing(1)], NOW + timedelta(minutes=5))

    first, second = (m["Message-ID"] for _, m in server.delivered)
    assert first == second


def test_a_text_only_message_is_sent_as_plain_text(mail):
    server, port = mail

    assert smtp_channel(port).send_batch([outgoing(html=None)], NOW) == [Result.sent()]

    _, msg = server.delivered[0]
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content() == TEXT


def test_a_recipient_refused_with_550_fails_only_its_own_message(mail):
    server, port = mail
    server.refuse["user1@example.cn"] = "550 no such user"

    results = smtp_channel(port).send_batch([outgoing(0), outgoing(1), outgoing(2)], NOW)

    assert [r.status for r in results] == ["sent", "permanent", "sent"]
    assert "550" in results[1].detail
    assert [rcpts for rcpts, _ in server.delivered] == [["user0@example.cn"], ["user2@example.cn"]]
    assert server.connections == 1


def test_a_server_asking_for_data_after_refusing_the_recipient_gets_none_and_the_batch_goes_on(mail):
    server, port = mail
    server.refuse["user0@example.cn"] = "550 no such user"
    server.data_after_refusal = True

    results = smtp_channel(port).send_batch([outgoing(0), outgoing(1)], NOW)

    assert [r.status for r in results] == ["permanent", "sent"]
    delivered = [(rcpts, msg["X-Rectify-Key"]) for rcpts, msg in server.delivered]
    if server.pipelining:  # the 354 came with the refusal: the data it asked for was one dot, no message
        assert delivered[0] == (["user0@example.cn"], None)
        delivered = delivered[1:]
    assert delivered == [(["user1@example.cn"], outgoing(1).key)]
    assert server.connections == 1


def test_a_refused_sender_stops_the_batch_untried_and_the_next_batch_goes_out(mail):
    server, port = mail
    channel = smtp_channel(port)
    server.refuse_sender = "451 sender domain has no DNS entry"

    results = channel.send_batch([outgoing(0), outgoing(1)], NOW)

    assert [r.status for r in results] == ["temporary", "untried"]
    assert results[0].stop and "sender refused: 451" in results[0].detail
    assert server.delivered == []
    server.refuse_sender = None
    assert channel.send_batch([outgoing(0), outgoing(1)], NOW) == [Result.sent()] * 2
    assert len(server.delivered) == 2


def test_a_server_closing_at_rcpt_stops_the_batch_and_a_new_session_takes_the_next(mail):
    server, port = mail
    channel = smtp_channel(port)
    server.refuse["user1@example.cn"] = "421 shutting down"

    results = channel.send_batch([outgoing(0), outgoing(1), outgoing(2)], NOW)

    assert [r.status for r in results] == ["sent", "temporary", "untried"]
    assert results[1].stop and "421" in results[1].detail
    del server.refuse["user1@example.cn"]
    assert channel.send_batch([outgoing(1), outgoing(2)], NOW) == [Result.sent()] * 2
    assert [rcpts for rcpts, _ in server.delivered] == [[f"user{n}@example.cn"] for n in range(3)]
    assert server.connections == 2  # the closed session was not reused


def test_a_recipient_deferred_with_4xx_is_temporary(mail):
    server, port = mail
    server.refuse["user0@example.cn"] = "450 mailbox busy, try later"

    results = smtp_channel(port).send_batch([outgoing(0), outgoing(1)], NOW)

    assert [r.status for r in results] == ["temporary", "sent"]
    assert "450" in results[0].detail


def test_messages_without_a_usable_address_are_permanent_and_the_rest_still_go(mail):
    server, port = mail
    batch = [outgoing(0, to_email=None), outgoing(1), outgoing(2, to_email="not an address")]

    results = smtp_channel(port).send_batch(batch, NOW)

    assert [r.status for r in results] == ["permanent", "sent", "permanent"]
    assert len(server.delivered) == 1


def test_the_channel_logs_in_when_given_credentials(mail):
    server, port = mail

    good = smtp_channel(port, username="notify", password="s3cret").send_batch([outgoing()], NOW)
    bad = smtp_channel(port, username="notify", password="wrong").send_batch([outgoing(), outgoing(1)], NOW)

    assert good == [Result.sent()]
    assert [r.status for r in bad] == ["temporary", "untried"]  # the second was never tried: no attempt used
    assert "535" in bad[0].detail and bad[0].stop
    assert len(server.delivered) == 1


def test_an_smtp_server_that_is_down_makes_the_first_message_temporary_and_leaves_the_rest_untried():
    results = smtp_channel(free_port()).send_batch([outgoing(0), outgoing(1)], NOW)

    assert [r.status for r in results] == ["temporary", "untried"]
    assert "cannot connect" in results[0].detail


# --- HTTP: a local server playing WeCom, DingTalk and a webhook receiver -------------------------------------


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Endpoint:
    """What the fake server answers (queued, else 200 errcode 0) and what it has received."""

    replies: list[tuple[int, bytes, float]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def answer(self, status: int = 200, body: dict | bytes | None = None, delay: float = 0) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body or {"errcode": 0, "errmsg": "ok"}).encode()
        self.replies.append((status, raw, delay))

    def next_reply(self) -> tuple[int, bytes, float]:
        return self.replies.pop(0) if self.replies else (200, b'{"errcode":0,"errmsg":"ok"}', 0)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client that timed out and left makes the late answer fail to write; that is the point of the test."""


@pytest.fixture(scope="module")
def http_server() -> Iterator[tuple[Endpoint, str]]:
    endpoint = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            url = urlsplit(self.path)
            endpoint.seen.append(Seen(url.path, parse_qs(url.query), dict(self.headers), body))
            status, raw, delay = endpoint.next_reply()
            if delay:
                endpoint.release.wait(delay)
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format, *args):
            pass

    server = _QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield endpoint, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        endpoint.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def endpoint(http_server) -> Iterator[Endpoint]:
    endpoint, _ = http_server
    endpoint.replies.clear()
    endpoint.seen.clear()
    yield endpoint
    endpoint.release.set()  # let a deliberately slow answer finish
    endpoint.release.clear()


@pytest.fixture
def base_url(http_server) -> str:
    return http_server[1]


def test_wecom_posts_markdown_then_a_text_message_that_mentions_the_mobile(endpoint, base_url):
    robot = WeComRobot(f"{base_url}/cgi-bin/webhook/send?key=abc")

    results = robot.send_batch([outgoing(to_mobile="13800000001")], NOW)

    assert results == [Result.sent()]
    markdown, mention = (s.json() for s in endpoint.seen)
    assert markdown["msgtype"] == "markdown"
    assert markdown["markdown"]["content"] == f"### {SUBJECT}\n{TEXT}"
    assert mention["msgtype"] == "text"
    assert mention["text"]["mentioned_mobile_list"] == ["13800000001"]
    assert SUBJECT in mention["text"]["content"]
    assert endpoint.seen[0].query == {"key": ["abc"]}


def test_wecom_sends_no_mention_message_without_a_mobile(endpoint, base_url):
    assert WeComRobot(f"{base_url}/wecom").send_batch([outgoing(), outgoing(1)], NOW) == [Result.sent()] * 2
    assert [s.json()["msgtype"] for s in endpoint.seen] == ["markdown", "markdown"]


def test_wecom_clips_a_long_message_to_the_documented_4096_bytes(endpoint, base_url):
    long_text = "逾期事项清单。\n" * 1000

    assert WeComRobot(f"{base_url}/wecom").send_batch([outgoing(text=long_text)], NOW) == [Result.sent()]

    content = endpoint.seen[0].json()["markdown"]["content"]
    assert len(content.encode()) <= 4096
    assert content.endswith("（内容过长，已截断）")


def test_wecom_rate_limit_blocks_the_robot_for_a_minute_and_spares_the_rest_of_the_batch(endpoint, base_url):
    endpoint.answer(body={"errcode": 45009, "errmsg": "api freq out of limit"})

    results = WeComRobot(f"{base_url}/wecom").send_batch([outgoing(0), outgoing(1), outgoing(2)], NOW)

    assert [r.status for r in results] == ["limited", "untried", "untried"]
    assert "45009" in results[0].detail and results[0].retry_after == 60
    assert results[2].detail.startswith("not attempted")
    assert len(endpoint.seen) == 1


def test_wecom_other_errcodes_are_permanent_for_that_message_only(endpoint, base_url):
    endpoint.answer(body={"errcode": 93000, "errmsg": "invalid webhook url"})

    results = WeComRobot(f"{base_url}/wecom").send_batch([outgoing(0), outgoing(1)], NOW)

    assert [r.status for r in results] == ["permanent", "sent"]
    assert "93000" in results[0].detail


def test_wecom_counts_a_delivered_markdown_as_sent_even_if_the_mention_fails(endpoint, base_url):
    endpoint.answer()
    endpoint.answer(body={"errcode": 45009, "errmsg": "api freq out of limit"})

    [result] = WeComRobot(f"{base_url}/wecom").send_batch([outgoing(to_mobile="13800000001")], NOW)

    assert result.status == "sent"
    assert "45009" in result.detail


def test_dingtalk_signs_the_url_and_mentions_the_mobile(endpoint, base_url):
    secret = "SEC0123456789abcdef"
    robot = DingTalkRobot(f"{base_url}/robot/send?access_token=tok", secret=secret)

    assert robot.send_batch([outgoing(to_mobile="13800000002")], NOW) == [Result.sent()]

    [seen] = endpoint.seen
    timestamp = seen.query["timestamp"][0]
    assert timestamp == str(int(NOW.timestamp() * 1000))
    expected = base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest())
    assert seen.query["sign"] == [expected.decode()]
    assert seen.query["access_token"] == ["tok"]
    body = seen.json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == SUBJECT
    assert "农村危房改造档案不规范" in body["markdown"]["text"]
    assert body["markdown"]["text"].endswith("@13800000002")
    assert body["at"] == {"atMobiles": ["13800000002"], "isAtAll": False}


def test_dingtalk_without_a_secret_leaves_the_url_alone(endpoint, base_url):
    assert DingTalkRobot(f"{base_url}/robot/send?access_token=tok").send_batch([outgoing()], NOW) == [Result.sent()]
    assert endpoint.seen[0].query == {"access_token": ["tok"]}
    assert endpoint.seen[0].json()["at"]["atMobiles"] == []


@pytest.mark.parametrize(
    ("errcode", "status"),
    [
        (0, "sent"),
        (130101, "limited"),
        (410100, "limited"),
        (-1, "temporary"),
        (310000, "permanent"),
        (300001, "permanent"),
    ],
)
def test_dingtalk_errcodes_map_to_results(endpoint, base_url, errcode, status):
    endpoint.answer(body={"errcode": errcode, "errmsg": "x"})

    [result] = DingTalkRobot(f"{base_url}/robot", secret="SECx").send_batch([outgoing()], NOW)

    assert result.status == status
    assert result.retry_after == (600 if status == "limited" else None)  # DingTalk throttles for 10 minutes


@pytest.mark.parametrize("robot", [WeComRobot, DingTalkRobot])
@pytest.mark.parametrize(
    ("http_status", "body", "status"),
    [
        (500, b"oops", "temporary"),
        (502, b"", "temporary"),
        (429, b"", "temporary"),
        (400, b'{"errcode":40035}', "permanent"),
        (404, b"", "permanent"),
        (200, b"<html>not a robot</html>", "permanent"),
    ],
)
def test_robot_http_failures_map_to_results(endpoint, base_url, robot, http_status, body, status):
    endpoint.answer(http_status, body)

    [result] = robot(f"{base_url}/robot").send_batch([outgoing()], NOW)

    assert result.status == status


def test_webhook_body_is_signed_so_that_the_receiver_can_verify_it(endpoint, base_url):
    secret = "webhook-secret"

    assert WebhookChannel(f"{base_url}/hook", secret).send_batch([outgoing()], NOW) == [Result.sent("HTTP 200")]

    [seen] = endpoint.seen
    body = seen.json()
    assert body == {
        "key": outgoing().key,
        "subject": SUBJECT,
        "text": TEXT,
        "data": {"task_id": 17, "due_at": "2022-06-23T15:59:59+00:00"},
        "sent_at": NOW.isoformat(),
    }
    assert seen.headers["Content-Type"].startswith("application/json")
    assert seen.headers["Idempotency-Key"] == outgoing().key
    timestamp, signature = seen.headers["X-Rectify-Timestamp"], seen.headers["X-Rectify-Signature"]
    assert timestamp == str(int(NOW.timestamp()))
    assert verify_signature(secret, timestamp, seen.body, signature, NOW + timedelta(seconds=2))
    assert not verify_signature("other-secret", timestamp, seen.body, signature, NOW)
    assert not verify_signature(secret, timestamp, seen.body.replace(b"17", b"18"), signature, NOW)
    assert not verify_signature(secret, timestamp, seen.body, signature, NOW + timedelta(minutes=10))


def test_webhook_data_that_is_not_json_is_permanent_without_a_request(endpoint, base_url):
    [result] = WebhookChannel(f"{base_url}/hook", "s").send_batch([outgoing(data={"x": object()})], NOW)

    assert result.status == "permanent"
    assert endpoint.seen == []


@pytest.mark.parametrize(
    ("http_status", "status"),
    [
        (200, "sent"),
        (202, "sent"),
        (204, "sent"),
        (408, "temporary"),
        (429, "temporary"),
        (500, "temporary"),
        (503, "temporary"),
        (400, "permanent"),
        (401, "permanent"),
        (404, "permanent"),
        (302, "permanent"),
    ],
)
def test_webhook_http_status_maps_to_results(endpoint, base_url, http_status, status):
    endpoint.answer(http_status, b"")

    [result] = WebhookChannel(f"{base_url}/hook", "s").send_batch([outgoing()], NOW)

    assert result.status == status
    assert len(endpoint.seen) == 1  # a redirect is not followed


def test_webhook_server_trouble_stops_the_batch(endpoint, base_url):
    endpoint.answer(503, b"")

    results = WebhookChannel(f"{base_url}/hook", "s").send_batch([outgoing(0), outgoing(1)], NOW)

    assert [r.status for r in results] == ["temporary", "untried"]
    assert len(endpoint.seen) == 1


CHANNELS = {
    "wecom": lambda url, timeout: WeComRobot(url, timeout=timeout),
    "dingtalk": lambda url, timeout: DingTalkRobot(url, secret="SECx", timeout=timeout),
    "webhook": lambda url, timeout: WebhookChannel(url, "s", timeout=timeout),
}


@pytest.mark.parametrize("make", CHANNELS.values(), ids=CHANNELS.keys())
def test_a_closed_port_is_temporary(make):
    channel = make(f"http://127.0.0.1:{free_port()}/send?key=k", 2)

    results = channel.send_batch([outgoing(0), outgoing(1)], NOW)

    assert [r.status for r in results] == ["temporary", "untried"]


@pytest.mark.parametrize("make", CHANNELS.values(), ids=CHANNELS.keys())
def test_a_server_slower_than_the_timeout_is_unknown_and_waited_for_once(endpoint, base_url, make):
    endpoint.answer(delay=3)
    channel = make(f"{base_url}/slow", 0.5)

    started = time.monotonic()
    results = channel.send_batch([outgoing(0), outgoing(1), outgoing(2)], NOW)

    assert [r.status for r in results] == ["unknown", "untried", "untried"]  # it may have taken the first
    assert len(endpoint.seen) == 1
    assert time.monotonic() - started < 2


# --- SMTP over TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def tls_mail(self_signed) -> Iterator[tuple[MailServer, int]]:
    """aiosmtpd speaking TLS from the first byte, as a port-465 server does."""
    handler = MailServer()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), ssl_context=self_signed.server_context())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def test_mail_goes_over_implicit_tls_to_a_server_whose_certificate_is_trusted(tls_mail, self_signed):
    server, port = tls_mail

    results = smtp_channel(port, implicit_tls=True, ca_file=str(self_signed.cert)).send_batch(
        [outgoing(0), outgoing(1)], NOW
    )

    assert results == [Result.sent(), Result.sent()]
    assert [rcpts for rcpts, _ in server.delivered] == [["user0@example.cn"], ["user1@example.cn"]]
    assert server.delivered[0][1]["Subject"] == SUBJECT
    assert all(v and v.startswith("TLSv1.") for v in server.tls_versions)


def test_implicit_tls_refuses_a_certificate_nobody_trusts_and_keeps_the_mail_for_later(tls_mail):
    server, port = tls_mail

    results = smtp_channel(port, implicit_tls=True).send_batch([outgoing(0), outgoing(1)], NOW)

    assert [r.status for r in results] == ["temporary", "untried"]  # the second waits without using an attempt
    assert "CERTIFICATE_VERIFY_FAILED" in results[0].detail
    assert server.delivered == []


def test_starttls_checks_the_certificate_against_the_configured_ca_file(self_signed):
    handler = MailServer()
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), tls_context=self_signed.server_context(), require_starttls=True
    )
    controller.start()
    try:
        trusted = smtp_channel(controller.port, starttls=True, ca_file=str(self_signed.cert))
        untrusted = smtp_channel(controller.port, starttls=True)

        assert trusted.send_batch([outgoing(0)], NOW) == [Result.sent()]
        refused = untrusted.send_batch([outgoing(1)], NOW)
    finally:
        controller.stop()

    assert refused[0].status == "temporary" and "CERTIFICATE_VERIFY_FAILED" in refused[0].detail
    assert [rcpts for rcpts, _ in handler.delivered] == [["user0@example.cn"]]
    assert handler.tls_versions[0].startswith("TLSv1.")


def test_a_session_kept_between_batches_is_reused_and_reopened_once_the_server_has_closed_it():
    handler = MailServer()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), server_kwargs={"timeout": 0.5})
    controller.start()
    try:
        channel = smtp_channel(controller.port)
        first = channel.send_batch([outgoing(0)], NOW)
        second = channel.send_batch([outgoing(1)], NOW)  # the next claim, at once: the same session
        time.sleep(1.5)  # idle past the server's timeout: it hangs up
        third = channel.send_batch([outgoing(2)], NOW)
    finally:
        controller.stop()

    assert [r.status for r in first + second + third] == ["sent"] * 3  # the hang-up cost no attempt
    assert handler.connections == 2
    assert len(handler.delivered) == 3
