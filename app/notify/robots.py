"""Group robots: a unit's 企业微信 or 钉钉 group gets the message, the person gets an @.

Robots are configured per unit (each unit pastes its group's webhook URL), so one
instance serves one group and a batch is "everything due for that group now".

Both APIs answer HTTP 200 with ``{"errcode": ..., "errmsg": ...}``; the errcode decides.
``-1`` (系统繁忙, "busy, retry later") is temporary. The rate-limit codes are ``limited``:
both platforms allow a robot 20 messages a minute, and DingTalk then throttles the robot
for 10 minutes (WeCom documents no period; a minute is assumed), so the destination is
blocked for that long and its messages wait. Every other non-zero errcode (bad key,
sign/keyword/IP check failed, content too long, robot disabled) will fail the same way
on retry, so it is permanent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from datetime import datetime
from typing import Any

from app.notify import _http
from app.notify.base import OneByOne, Outgoing, Result
from app.notify.render import escape_markdown, markdown_of

BUSY = -1
WECOM_RATE_LIMITED = frozenset({45009})  # api freq out of limit: over 20 messages a minute
# 130101 "send too fast, exceed 20 times per minute"; 410100 "发送速度太快而限流"
DINGTALK_RATE_LIMITED = frozenset({130101, 410100})
WECOM_BLOCK_SECONDS = 60
DINGTALK_BLOCK_SECONDS = 600

WECOM_MARKDOWN_MAX_BYTES = 4096
WECOM_TEXT_MAX_BYTES = 2048
_CLIPPED = "\n…（内容过长，已截断）"


def _verdict(reply: _http.Reply | Result, limited_codes: frozenset[int], block_seconds: float) -> Result:
    if isinstance(reply, Result):
        return reply
    by_status = _http.classify_status(reply.status)
    if by_status is not None:
        return by_status
    try:
        answer = reply.json()
        code = int(answer["errcode"])
    except (ValueError, TypeError, KeyError):
        # A 200 that is not the robot API's JSON: the URL points at something else.
        return Result.permanent(f"not a robot API answer: {reply.body[:200]!r}")
    if code == 0:
        return Result.sent()
    detail = f"errcode {code}: {answer.get('errmsg', '')}"
    if code in limited_codes:
        return Result.limited(detail, block_seconds)
    return Result.temporary(detail, stop=True) if code == BUSY else Result.permanent(detail)


def _markdown(msg: Outgoing) -> str:
    """The message as robot markdown, user text escaped (app.notify.render)."""
    return msg.markdown or markdown_of(msg.subject, msg.text)


def _clip(text: str, max_bytes: int) -> str:
    """Cut ``text`` to ``max_bytes`` of UTF-8 on a character boundary, saying so.

    A digest for someone with many open items can exceed WeCom's documented limits, and
    a clipped message (with its link to the full list) beats a permanent rejection.
    """
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    room = max_bytes - len(_CLIPPED.encode("utf-8"))
    return raw[:room].decode("utf-8", errors="ignore") + _CLIPPED


class WeComRobot(OneByOne):
    """企业微信群机器人 (``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…``).

    The message goes out as markdown. WeCom's markdown can only @ someone as
    ``<@userid>`` (an enterprise user id, which we do not hold), and
    ``mentioned_mobile_list`` is documented for *text* messages only, so when the
    recipient has a mobile number a short second text message carries the @.
    The markdown is the delivery; if only the @ fails the result is still ``sent``
    (with the reason in ``detail``), because a retry would post the markdown twice.
    """

    name = "wecom"

    def __init__(self, webhook_url: str, timeout: float = 10, block_seconds: float = WECOM_BLOCK_SECONDS) -> None:
        self.webhook_url = webhook_url
        self.timeout = timeout
        self.block_seconds = block_seconds

    def send_one(self, msg: Outgoing, now: datetime) -> Result:
        content = _clip(_markdown(msg), WECOM_MARKDOWN_MAX_BYTES)
        result = self._post({"msgtype": "markdown", "markdown": {"content": content}}, msg.key)
        if result.status != "sent" or not msg.to_mobile:
            return result
        mention = {
            "msgtype": "text",
            "text": {
                "content": _clip(f"请{msg.to_name}关注：{msg.subject}", WECOM_TEXT_MAX_BYTES),
                "mentioned_mobile_list": [msg.to_mobile],
            },
        }
        mentioned = self._post(mention, f"{msg.key}:mention")
        return result if mentioned.status == "sent" else Result.sent(f"sent without @: {mentioned.detail}")

    def _post(self, payload: dict[str, Any], key: str) -> Result:
        reply = _http.post(self.webhook_url, _http.dumps(payload), {"Idempotency-Key": key}, self.timeout)
        return _verdict(reply, WECOM_RATE_LIMITED, self.block_seconds)


class DingTalkRobot(OneByOne):
    """钉钉自定义机器人 (``https://oapi.dingtalk.com/robot/send?access_token=…``).

    With a secret the robot is in 加签 mode: ``timestamp`` (ms, from ``now``; DingTalk
    rejects one more than an hour off) and ``sign`` are appended to the URL. Without a
    secret the robot must be in keyword or IP allow-list mode, and a failed check comes
    back as errcode 310000 (permanent: fix the robot's settings or the templates).

    The @ is ``at.atMobiles`` plus ``@<mobile>`` in the text: DingTalk only highlights a
    mention whose number also appears in the text.
    """

    name = "dingtalk"

    def __init__(
        self,
        webhook_url: str,
        secret: str | None = None,
        timeout: float = 10,
        block_seconds: float = DINGTALK_BLOCK_SECONDS,
    ) -> None:
        self.webhook_url = webhook_url
        self.secret = secret
        self.timeout = timeout
        self.block_seconds = block_seconds

    def _signed_url(self, now: datetime) -> str:
        if not self.secret:
            return self.webhook_url
        timestamp = int(now.timestamp() * 1000)
        string_to_sign = f"{timestamp}\n{self.secret}".encode()
        digest = hmac.new(self.secret.encode(), string_to_sign, hashlib.sha256).digest()
        sign = urllib.parse.quote_plus(base64.b64encode(digest))
        separator = "&" if "?" in self.webhook_url else "?"
        return f"{self.webhook_url}{separator}timestamp={timestamp}&sign={sign}"

    def send_one(self, msg: Outgoing, now: datetime) -> Result:
        url = self._signed_url(now)
        # DingTalk markdown joins single newlines; two trailing spaces force the break.
        text = _markdown(msg).replace("\n", "  \n")
        mobiles = [msg.to_mobile] if msg.to_mobile else []
        if mobiles:
            text += f"\n\n@{msg.to_mobile}"
        payload = {
            "msgtype": "markdown",
            "markdown": {"title": escape_markdown(msg.subject), "text": text},
            "at": {"atMobiles": mobiles, "isAtAll": False},
        }
        reply = _http.post(url, _http.dumps(payload), {"Idempotency-Key": msg.key}, self.timeout)
        return _verdict(reply, DINGTALK_RATE_LIMITED, self.block_seconds)
