"""Application factory."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, g, jsonify, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import configure_mappers
from werkzeug.middleware.proxy_fix import ProxyFix

from app.celery_init import celery_init_app
from app.db import Database
from app.domain.reminders import Policy
from app.http import DbIntConverter
from app.notify import build_channels, robot_factory, seconds
from app.services.delivery import Channels, DeliverySettings, delivery_settings
from app.services.throttle import LoginThrottle, login_throttle
from config import BaseConfig, config_from_env

ROOT = Path(__file__).resolve().parent.parent
RETRY_AFTER_SECONDS = 30
DATABASE_UNAVAILABLE = "系统暂时无法连接数据库，请稍后再试。恢复后刷新即可继续使用，已保存的数据不受影响。"
log = logging.getLogger("rectify")


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """What views, commands and jobs need, hung on ``app.extensions["rectify"]``."""

    config: BaseConfig
    db: Database
    clock: Callable[[], datetime]
    login_throttle: LoginThrottle
    channels: Channels
    delivery: DeliverySettings

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
    app.url_map.converters["int"] = DbIntConverter
    config.INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    db = Database(config.DATABASE_URL)
    # the mappers set up now, at start-up, not inside the first query of the first request
    # or tick (a tenth of the embedded process's first tick in bench/sweep.py's profile);
    # once per process, whatever the number of apps
    configure_mappers()
    Policy.from_dict(config.REMINDER_DEFAULTS)  # a bad RECTIFY_REMINDER_POLICY fails here, at start-up
    built = build_channels(config.CHANNEL_SETTINGS)
    channels = Channels(
        email=built.get("smtp"), webhook=built.get("webhook"), robot_factory=robot_factory(config.CHANNEL_SETTINGS)
    )
    timeouts = [c.timeout for c in built.values()] + [seconds(config.CHANNEL_SETTINGS, "RECTIFY_ROBOT_TIMEOUT", 10)]
    delivery = delivery_settings(config.DELIVERY_LEASE_SECONDS, config.DELIVERY_BATCH, config.DELIVERY_RATES, timeouts)
    clock = clock or system_clock
    throttle = login_throttle(config.REDIS_URL, db, clock)
    runtime = Runtime(config, db, clock, throttle, channels, delivery)
    app.extensions["rectify"] = runtime
    celery_init_app(app, config.REDIS_URL, config.SWEEP_SECONDS)
    db.outbox.update(channels=runtime.enabled_channels, defaults=config.REMINDER_DEFAULTS, base_url=config.BASE_URL)
    if config.PROXY_HOPS:  # behind a reverse proxy the client's address is in X-Forwarded-For
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.PROXY_HOPS)

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

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_unavailable(err):
        """The database is unreachable (down, restarting, cut off): 503 with a sentence and
        Retry-After, never a bare 500. Nothing to restart: the pool checks connections
        before use (pre-ping), so the first request after the database is back succeeds."""
        log.warning("database unavailable: %s", err.orig if hasattr(err, "orig") else err)
        db.remove()
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        if request.path.startswith("/api/"):
            body = {"error": "database_unavailable", "message": DATABASE_UNAVAILABLE, "details": []}
            return jsonify(body), 503, headers
        from app.web import lang
        from app.web.i18n import translate

        g.user = None  # the page must not touch the database again (no name, no unread count)
        message = translate(DATABASE_UNAVAILABLE, lang())
        return render_template("error.html", status=503, message=message), 503, headers

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
