"""build_channels and robot_for: env-style settings to channels, and misconfiguration caught at startup."""

from __future__ import annotations

import pytest

from app.notify import DingTalkRobot, SmtpChannel, WebhookChannel, WeComRobot, build_channels, robot_for


def test_nothing_configured_means_no_channels():
    assert build_channels({}) == {}


def test_smtp_and_webhook_are_built_from_their_settings():
    channels = build_channels(
        {
            "RECTIFY_SMTP_HOST": "smtp.example.cn",
            "RECTIFY_SMTP_SENDER": "noreply@example.cn",
            "RECTIFY_SMTP_USER": "noreply",
            "RECTIFY_SMTP_PASSWORD": "pw",
            "RECTIFY_SMTP_STARTTLS": "true",
            "RECTIFY_WEBHOOK_URL": "https://hooks.example.cn/rectify",
            "RECTIFY_WEBHOOK_SECRET": "k",
        }
    )

    smtp, webhook = channels["smtp"], channels["webhook"]
    assert isinstance(smtp, SmtpChannel) and isinstance(webhook, WebhookChannel)
    assert (smtp.host, smtp.port, smtp.username, smtp.password, smtp.starttls) == (
        "smtp.example.cn",
        587,
        "noreply",
        "pw",
        True,
    )
    assert smtp.sender.addr_spec == "noreply@example.cn"
    assert (webhook.url, webhook.secret) == ("https://hooks.example.cn/rectify", "k")


def test_plain_smtp_defaults_to_port_25_and_an_explicit_port_wins():
    base = {"RECTIFY_SMTP_HOST": "mail", "RECTIFY_SMTP_SENDER": "a@b.cn"}

    assert build_channels(base)["smtp"].port == 25
    assert build_channels(base | {"RECTIFY_SMTP_PORT": "2525"})["smtp"].port == 2525


def test_implicit_tls_defaults_to_port_465_and_names_the_ca_file_to_trust(self_signed):
    ca = self_signed.cert
    base = {"RECTIFY_SMTP_HOST": "smtp.qq.com", "RECTIFY_SMTP_SENDER": "a@b.cn", "RECTIFY_SMTP_SSL": "1"}

    plain = build_channels(base)["smtp"]
    private = build_channels(base | {"RECTIFY_SMTP_CA_FILE": str(ca)})["smtp"]

    assert (plain.port, plain.implicit_tls, plain.starttls, plain.ca_file) == (465, True, False, None)
    assert private.ca_file == str(ca)


@pytest.mark.parametrize(
    "settings",
    [
        {"RECTIFY_SMTP_HOST": "mail"},
        {"RECTIFY_SMTP_HOST": "mail", "RECTIFY_SMTP_SENDER": "a@b.cn", "RECTIFY_SMTP_PORT": "smtp"},
        {"RECTIFY_SMTP_HOST": "mail", "RECTIFY_SMTP_SENDER": "a@b.cn", "RECTIFY_SMTP_STARTTLS": "maybe"},
        {"RECTIFY_SMTP_HOST": "mail", "RECTIFY_SMTP_SENDER": "not an address"},
        {"RECTIFY_WEBHOOK_URL": "https://hooks.example.cn"},
        {"RECTIFY_SMTP_HOST": "m", "RECTIFY_SMTP_SENDER": "a@b", "RECTIFY_SMTP_SSL": "1", "RECTIFY_SMTP_STARTTLS": "1"},
        {"RECTIFY_SMTP_HOST": "m", "RECTIFY_SMTP_SENDER": "a@b", "RECTIFY_SMTP_SSL": "1", "RECTIFY_SMTP_CA_FILE": "/x"},
    ],
    ids=[
        "no sender",
        "bad port",
        "bad flag",
        "bad sender",
        "webhook without secret",
        "both TLS modes",
        "missing CA file",
    ],
)
def test_half_configured_channels_fail_at_startup(settings):
    with pytest.raises(ValueError):
        build_channels(settings)


def test_robot_for_builds_the_unit_robot():
    wecom = robot_for("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", None)
    ding = robot_for("dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=t", "SECx")

    assert isinstance(wecom, WeComRobot)
    assert isinstance(ding, DingTalkRobot) and ding.secret == "SECx"
    with pytest.raises(ValueError):
        robot_for("feishu", "https://open.feishu.cn/x", None)
