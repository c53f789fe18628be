"""POST /auth/token and the OpenAPI document."""

from __future__ import annotations

from flask import jsonify

from app.api import bp, now, rt, spec
from app.schemas import TokenOut, TokenRequest
from app.services.auth import authenticate, issue_token
from app.services.errors import ServiceError


class BadCredentials(ServiceError):
    status = 401


class Throttled(ServiceError):
    status = 429


@spec.route(
    bp,
    "/auth/token",
    "POST",
    summary="Exchange username and password for a bearer token",
    body=TokenRequest,
    response=TokenOut,
    auth=False,
)
def create_token(body: TokenRequest):
    runtime = rt()
    if not runtime.login_limiter.allow(body.username, now()):
        raise Throttled("登录失败次数过多，请 15 分钟后再试。")
    user = authenticate(runtime.db, body.username, body.password)
    if user is None:
        runtime.login_limiter.fail(body.username, now())
        raise BadCredentials("用户名或密码不正确。")
    return TokenOut(token=issue_token(runtime.config.SECRET_KEY, user), expires_in=runtime.config.TOKEN_TTL_SECONDS)


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec.document())
