"""Application factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, jsonify, request

from app.db import Database
from app.domain.reminders import Policy
from app.notify import build_channels
from app.services.delivery import Channels
from app.services.throttle import LoginThrottle, RedisLoginThrottle
from config import BaseConfig, config_from_env

ROOT = Path(__file__).resolve().parent.parent


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """What views, commands and jobs need, hung on ``app.extensions["rectify"]``."""

    config: BaseConfig
    db: Database
    clock: Callable[[], datetime]
    login_limiter: LoginThrottle | RedisLoginThrottle
    channels: Channels

    @property
    def enabled_channels(self) -> frozenset[str]:
        """Which outbox channels the sweep writes rows for (inbox and robots always)."""
        names = {"inbox", "robot"}
        if self.channels.email is not None:
            names.add("email")
        if self.channels.webhook is not None:
            names.add("webhook")
        return frozenset(names)


def create_app(config: BaseConfig | None = None, clock: Callable[[], datetime] | None = None) -> Flask:
    config = config or config_from_env()
    app = Flask(__name__, template_folder=str(ROOT / "templates"))
    app.config.from_object(config)
    app.config["MAX_UPLOAD_BYTES"] = config.MAX_UPLOAD_BYTES
    app.json.ensure_ascii = False
    config.INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    db = Database(config.DATABASE_URL)
    Policy.from_dict(config.REMINDER_DEFAULTS)  # a bad RECTIFY_REMINDER_POLICY fails here, at start-up
    built = build_channels(config.CHANNEL_SETTINGS)
    channels = Channels(email=built.get("smtp"), webhook=built.get("webhook"))
    limiter = RedisLoginThrottle(config.REDIS_URL) if config.REDIS_URL else LoginThrottle()
    runtime = Runtime(config, db, clock or system_clock, limiter, channels)
    app.extensions["rectify"] = runtime
    db.outbox.update(channels=runtime.enabled_channels, defaults=config.REMINDER_DEFAULTS, base_url=config.BASE_URL)

    @app.teardown_appcontext
    def _remove_session(_exc):
        db.remove()

    from app.api import bp as api_bp
    from app.web import bp as web_bp

    app.register_blueprint(api_bp)
    app.register_blueprint(web_bp)

    @app.errorhandler(404)
    def _not_found(err):
        if request.path.startswith("/api/"):
            return jsonify({"error": "not_found", "message": "没有这个接口。", "details": []}), 404
        return err

    @app.errorhandler(405)
    def _wrong_method(err):
        if request.path.startswith("/api/"):
            allowed = ", ".join(err.valid_methods or [])
            body = {
                "error": "method_not_allowed",
                "message": f"该接口不支持此请求方法，可用：{allowed}。",
                "details": [],
            }
            return jsonify(body), 405, {"Allow": allowed}
        return err

    @app.errorhandler(413)
    def _too_large(err):
        msg = f"上传内容过大，上限 {config.MAX_UPLOAD_BYTES // (1024 * 1024)} MB。"
        if request.path.startswith("/api/"):
            return jsonify({"error": "too_large", "message": msg, "details": []}), 413
        return msg, 413

    @app.after_request
    def _security_headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
        )
        return resp

    from app.cli import register_cli

    register_cli(app)
    return app
