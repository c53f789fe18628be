"""Settings read from the environment.

The embedded default (SQLite, in-process scheduler) needs no variable at all: it keeps
its database, uploads and a generated secret key under ``instance/``. Production
(``RECTIFY_ENV=production``) refuses to start without an explicit secret key and
database URL, so a forgotten variable cannot silently run on demo settings.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _instance_secret(instance: Path) -> str:
    """A random key generated once per checkout, so the embedded mode needs no secret."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


class BaseConfig:
    ENV_NAME = "embedded"
    TESTING = False

    def __init__(self, instance_dir: Path | None = None) -> None:
        instance = instance_dir or Path(_env("RECTIFY_INSTANCE_DIR", str(ROOT / "instance")))
        self.INSTANCE_DIR = instance
        self.DATABASE_URL = _env("RECTIFY_DATABASE_URL", f"sqlite:///{instance / 'rectify.db'}")
        self.SECRET_KEY = _env("RECTIFY_SECRET_KEY") or self._default_secret(instance)
        self.UPLOAD_DIR = Path(_env("RECTIFY_UPLOAD_DIR", str(instance / "uploads")))
        self.MAX_UPLOAD_BYTES = int(_env("RECTIFY_MAX_UPLOAD_MB", "20")) * 1024 * 1024
        self.MAX_CONTENT_LENGTH = self.MAX_UPLOAD_BYTES + 64 * 1024  # room for form fields
        self.TOKEN_TTL_SECONDS = int(_env("RECTIFY_TOKEN_TTL_HOURS", "12")) * 3600
        self.REDIS_URL = _env("RECTIFY_REDIS_URL")
        self.SCHEDULER = _env("RECTIFY_SCHEDULER", "embedded")  # embedded | off
        self.SWEEP_SECONDS = int(_env("RECTIFY_SWEEP_SECONDS", "60"))
        self.BASE_URL = _env("RECTIFY_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
        # The reminder policy every plan starts from (a plan may override any key):
        # 7, 3 and 1 days ahead and on the morning; working days 09:00-17:30 China time;
        # level 2 after 3 working days overdue, level 3 after 5; a nag every 2 working days.
        # 签收 within 2 working days of receipt; unacknowledged, the handler hears the day
        # after, the head 2 working days after, the issuing unit 3 working days after.
        self.REMINDER_DEFAULTS = {
            "remind_days_before": [7, 3, 1],
            "remind_on_day": True,
            "window_start": "09:00",
            "window_end": "17:30",
            "level2_after_workdays": 3,
            "level3_after_workdays": 5,
            "nag_every_workdays": 2,
            "immediate_every_workdays": 1,
            "ack_within_workdays": 2,
            "ack_level2_after_workdays": 2,
            "ack_level3_after_workdays": 3,
        } | json.loads(_env("RECTIFY_REMINDER_POLICY", "{}"))
        # Channel settings (RECTIFY_SMTP_*, RECTIFY_WEBHOOK_*, RECTIFY_ROBOT_*) are read by app.notify.
        self.CHANNEL_SETTINGS = {
            k: v for k, v in os.environ.items() if k.startswith(("RECTIFY_SMTP_", "RECTIFY_WEBHOOK_", "RECTIFY_ROBOT_"))
        }
        # Delivery: how long a claim holds (renewed while a message is in flight; must
        # exceed the transports' timeouts), how many rows one claim takes, and each
        # destination's rate as <messages>/<seconds>. Both robot platforms allow a robot
        # 20 messages a minute; the mail relay and the webhook have no limit unless set.
        self.DELIVERY_LEASE_SECONDS = float(_env("RECTIFY_DELIVERY_LEASE_SECONDS", "300"))
        self.DELIVERY_BATCH = int(_env("RECTIFY_DELIVERY_BATCH", "100"))
        self.DELIVERY_RATES = {
            channel: rate
            for channel, default in (("email", None), ("webhook", None), ("wecom", "20/60"), ("dingtalk", "20/60"))
            if (rate := _env(f"RECTIFY_RATE_{channel.upper()}", default))
        }
        # How many reverse proxies in front of the app set X-Forwarded-For (0: none); the
        # sign-in throttle counts per client address.
        self.PROXY_HOPS = int(_env("RECTIFY_PROXY_HOPS", "0"))
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _env("RECTIFY_SECURE_COOKIES", "0") == "1"

    def _default_secret(self, instance: Path) -> str:
        return _instance_secret(instance)


class ProductionConfig(BaseConfig):
    ENV_NAME = "production"

    def __init__(self) -> None:
        missing = [n for n in ("RECTIFY_SECRET_KEY", "RECTIFY_DATABASE_URL") if not _env(n)]
        if missing:
            raise RuntimeError("RECTIFY_ENV=production needs these environment variables: " + ", ".join(missing))
        super().__init__()
        self.SESSION_COOKIE_SECURE = _env("RECTIFY_SECURE_COOKIES", "1") == "1"


class TestConfig(BaseConfig):
    """Used by the test suite: explicit database and folders, no background scheduler."""

    ENV_NAME = "test"
    TESTING = True

    def __init__(self, database_url: str, instance_dir: Path) -> None:
        super().__init__(instance_dir)
        self.DATABASE_URL = database_url
        self.SECRET_KEY = "test-secret-key"
        self.SCHEDULER = "off"


def config_from_env() -> BaseConfig:
    return ProductionConfig() if _env("RECTIFY_ENV") == "production" else BaseConfig()
