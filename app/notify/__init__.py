"""Notification channels: SMTP mail, WeCom and DingTalk group robots, a signed webhook.

Every channel takes a batch of :class:`Outgoing` and returns one :class:`Result` per
message; delivery trouble is a value, never an exception. The outbox decides retries.
The in-app inbox is not here: it is a database write the outbox does itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.notify.base import Channel, Outgoing, Result
from app.notify.render import KINDS, china_date, defang, format_day, render, render_markdown
from app.notify.robots import DINGTALK_BLOCK_SECONDS, WECOM_BLOCK_SECONDS, DingTalkRobot, WeComRobot
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
    "defang",
    "format_day",
    "render",
    "render_markdown",
    "robot_factory",
    "robot_for",
    "seconds",
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
            timeout=seconds(settings, "RECTIFY_SMTP_TIMEOUT", 30),
        )
    if url := settings.get("RECTIFY_WEBHOOK_URL", "").strip():
        secret = settings.get("RECTIFY_WEBHOOK_SECRET", "")
        if not secret:
            raise ValueError(
                "RECTIFY_WEBHOOK_URL is set but RECTIFY_WEBHOOK_SECRET is not: receivers could not verify it"
            )
        channels["webhook"] = WebhookChannel(url, secret, timeout=seconds(settings, "RECTIFY_WEBHOOK_TIMEOUT", 10))
    return channels


def robot_factory(settings: Mapping[str, str]):
    """``robot_for`` with the robots' settings: RECTIFY_ROBOT_TIMEOUT (seconds, default
    10) and how long a robot the platform called too fast is left alone,
    RECTIFY_ROBOT_WECOM_BLOCK_SECONDS (60) and RECTIFY_ROBOT_DINGTALK_BLOCK_SECONDS (600,
    DingTalk's published 10 minutes)."""
    timeout = seconds(settings, "RECTIFY_ROBOT_TIMEOUT", 10)
    blocks = {
        "wecom": seconds(settings, "RECTIFY_ROBOT_WECOM_BLOCK_SECONDS", WECOM_BLOCK_SECONDS),
        "dingtalk": seconds(settings, "RECTIFY_ROBOT_DINGTALK_BLOCK_SECONDS", DINGTALK_BLOCK_SECONDS),
    }

    def build(kind: str, url: str, secret: str | None) -> Channel:
        return robot_for(kind, url, secret, timeout, blocks.get(kind))

    return build


def robot_for(
    kind: str, url: str, secret: str | None, timeout: float = 10, block_seconds: float | None = None
) -> Channel:
    """The group robot for one unit, from the kind and webhook URL stored on the unit.

    WeCom group robots have no signing secret (the key in the URL is the credential),
    so a secret given for one is ignored rather than refused.
    """
    if kind == "wecom":
        return WeComRobot(url, timeout, block_seconds or WECOM_BLOCK_SECONDS)
    if kind == "dingtalk":
        return DingTalkRobot(url, secret or None, timeout, block_seconds or DINGTALK_BLOCK_SECONDS)
    raise ValueError(f"unknown robot kind {kind!r}; expected one of {ROBOT_KINDS}")


def seconds(settings: Mapping[str, str], name: str, default: float) -> float:
    text = settings.get(name, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {text!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be more than 0 seconds, not {text!r}")
    return value


def _flag(settings: Mapping[str, str], name: str) -> bool:
    value = settings.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")
