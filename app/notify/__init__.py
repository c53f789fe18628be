"""Notification channels: SMTP mail, WeCom and DingTalk group robots, a signed webhook.

Every channel takes a batch of :class:`Outgoing` and returns one :class:`Result` per
message; delivery trouble is a value, never an exception. The outbox decides retries.
The in-app inbox is not here: it is a database write the outbox does itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.notify.base import Channel, Outgoing, Result
from app.notify.render import KINDS, china_date, format_day, render
from app.notify.robots import DingTalkRobot, WeComRobot
from app.notify.smtp import SmtpChannel
from app.notify.webhook import WebhookChannel, verify_signature

__all__ = [
    "KINDS",
    "Channel",
    "DingTalkRobot",
    "Outgoing",
    "Result",
    "SmtpChannel",
    "WeComRobot",
    "WebhookChannel",
    "build_channels",
    "china_date",
    "format_day",
    "render",
    "robot_for",
    "verify_signature",
]

ROBOT_KINDS = ("wecom", "dingtalk")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def build_channels(settings: Mapping[str, str]) -> dict[str, Channel]:
    """The site-wide channels the settings configure, keyed by channel name.

    A channel is configured by its URL or host; leaving that out leaves the channel out.
    A half-configured channel (a host without a sender, a webhook without its secret,
    a port that is not a number) raises ValueError, so the app fails at startup rather
    than at the first reminder.
    """
    channels: dict[str, Channel] = {}
    if host := settings.get("RECTIFY_SMTP_HOST", "").strip():
        sender = settings.get("RECTIFY_SMTP_SENDER", "").strip()
        if not sender:
            raise ValueError("RECTIFY_SMTP_HOST is set but RECTIFY_SMTP_SENDER is not")
        starttls = _flag(settings, "RECTIFY_SMTP_STARTTLS")
        implicit_tls = _flag(settings, "RECTIFY_SMTP_SSL")
        port_text = settings.get("RECTIFY_SMTP_PORT", "").strip()
        try:
            port = int(port_text) if port_text else (465 if implicit_tls else 587 if starttls else 25)
        except ValueError:
            raise ValueError(f"RECTIFY_SMTP_PORT must be a number, not {port_text!r}") from None
        channels["smtp"] = SmtpChannel(
            host,
            port,
            sender,
            username=settings.get("RECTIFY_SMTP_USER") or None,
            password=settings.get("RECTIFY_SMTP_PASSWORD") or None,
            starttls=starttls,
            implicit_tls=implicit_tls,
            ca_file=settings.get("RECTIFY_SMTP_CA_FILE", "").strip() or None,
        )
    if url := settings.get("RECTIFY_WEBHOOK_URL", "").strip():
        secret = settings.get("RECTIFY_WEBHOOK_SECRET", "")
        if not secret:
            raise ValueError(
                "RECTIFY_WEBHOOK_URL is set but RECTIFY_WEBHOOK_SECRET is not: receivers could not verify it"
            )
        channels["webhook"] = WebhookChannel(url, secret)
    return channels


def robot_for(kind: str, url: str, secret: str | None) -> Channel:
    """The group robot for one unit, from the kind and webhook URL stored on the unit.

    WeCom group robots have no signing secret (the key in the URL is the credential),
    so a secret given for one is ignored rather than refused.
    """
    if kind == "wecom":
        return WeComRobot(url)
    if kind == "dingtalk":
        return DingTalkRobot(url, secret or None)
    raise ValueError(f"unknown robot kind {kind!r}; expected one of {ROBOT_KINDS}")


def _flag(settings: Mapping[str, str], name: str) -> bool:
    value = settings.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")
