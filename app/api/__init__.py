"""The JSON API under /api/v1: bearer-token auth, JSON errors, OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from app.api.spec import ApiSpec, BadJson
from app.http import http_status, refuse_control_characters
from app.schemas import describe
from app.services.auth import user_from_token
from app.services.errors import ServiceError
from app.web.i18n import refusal

bp = Blueprint("api", __name__, url_prefix="/api/v1")
spec = ApiSpec("Rectify API", "1.0", "/api/v1")
PUBLIC_ENDPOINTS = {"api.create_token", "api.openapi"}


def error(status: int, code: str, message: str, details: list | None = None):
    return jsonify({"error": code, "message": message, "details": details or []}), status


@bp.before_request
def require_token():
    if request.endpoint in PUBLIC_ENDPOINTS:
        refuse_control_characters()
        return None
    header = request.headers.get("Authorization", "")
    runtime = rt()
    user = None
    if header.startswith("Bearer "):
        user = user_from_token(
            runtime.db, runtime.config.SECRET_KEY, header[7:].strip(), runtime.config.TOKEN_TTL_SECONDS
        )
    if user is None:
        return error(401, "unauthorized", "需要有效的登录令牌（Authorization: Bearer …）。")
    g.user = user
    refuse_control_characters()
    return None


@bp.errorhandler(ServiceError)
def service_error(err: ServiceError):
    status, code = http_status(err)
    return error(status, code, refusal(err, message_lang()), err.details)


def message_lang() -> str:
    """The language of the API's refusals: English when the request's Accept-Language
    prefers it to Chinese, else Chinese (what a client that says nothing gets)."""
    return request.accept_languages.best_match(["zh", "en"], default="zh") or "zh"


@bp.errorhandler(BadJson)
def bad_json(err: BadJson):
    return error(400, "bad_json", str(err))


@bp.errorhandler(ValidationError)
def invalid(err: ValidationError):
    details = [
        {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"], "type": e["type"]}
        for e in err.errors(include_url=False, include_input=False)
    ]
    return error(422, "invalid", f"请求内容有误：{describe(err)}", details)


@bp.errorhandler(HTTPException)
def http_error(err: HTTPException):
    messages = {
        413: f"上传内容过大，上限 {current_app.config['MAX_UPLOAD_BYTES'] // (1024 * 1024)} MB。",
        404: "没有这个接口。",
        405: "该接口不支持此请求方法。",
    }
    return error(err.code or 500, err.name.lower().replace(" ", "_"), messages.get(err.code, err.description))


def rt():
    """The app's runtime (database, config, clock, channels)."""
    return current_app.extensions["rectify"]


def now():
    return rt().clock()


from app.api import answers, drafts, ledger, org, plans, reminders, tasks, tokens  # noqa: E402,F401  (register routes)
