"""POST /auth/token and the OpenAPI document."""

from __future__ import annotations

from flask import jsonify, request

from app.api import bp, rt, spec
from app.schemas import TokenOut, TokenRequest
from app.services.auth import issue_token, sign_in


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
    user = sign_in(runtime.db, runtime.login_throttle, body.username, body.password, request.remote_addr or "")
    return TokenOut(token=issue_token(runtime.config.SECRET_KEY, user), expires_in=runtime.config.TOKEN_TTL_SECONDS)


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec.document())
