"""Signing in, web sessions and API bearer tokens.

Sign-in (form and API alike) goes through :func:`sign_in`, which asks the throttle first.
A web session is a row (:class:`WebSession`) named by the SHA-256 of a random token the
cookie carries: signing out deletes it, a password change deletes all of the user's.
API tokens are signed (itsdangerous) and carry the user id and a fingerprint of the
password hash, so changing a password revokes every token issued before it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, joinedload
from werkzeug.security import check_password_hash

from app.db import Database
from app.models import User, WebSession
from app.services.errors import TooManyAttempts, Unauthorized
from app.services.throttle import LoginThrottle

SESSION_MAX_AGE = timedelta(days=31)  # Flask's default cookie lifetime, now enforced by the server

# A real hash to compare against when the user does not exist, so a wrong username
# takes as long as a wrong password.
_DUMMY_HASH = "scrypt:32768:8:1$dummysaltdummysa$" + "0" * 128


def authenticate(db: Database, username: str, password: str) -> User | None:
    user = db.session().scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def sign_in(db: Database, throttle: LoginThrottle, username: str, password: str, address: str) -> User:
    """The user, or TooManyAttempts (before the password is even checked) or Unauthorized."""
    if not throttle.allows(username, address):
        raise TooManyAttempts("登录失败次数过多，请 15 分钟后再试。")
    user = authenticate(db, username, password)
    if user is None:
        throttle.failed(username, address)
        raise Unauthorized("用户名或密码不正确。")
    throttle.succeeded(username, address)
    return user


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(db: Database, user: User, now: datetime) -> str:
    """A new web session for ``user``; returns the token for the cookie. Sessions past
    their age are swept on the way."""
    token = secrets.token_urlsafe(32)
    with db.transaction() as s:
        s.execute(delete(WebSession).where(WebSession.created_at < now - SESSION_MAX_AGE))
        s.add(WebSession(id=_session_id(token), user_id=user.id, created_at=now))
    return token


def session_user(db: Database, token: str, now: datetime) -> User | None:
    """The active user of a live session, or None (signed out, too old, deactivated).
    One statement, the user's unit with it: every page reads both (the header names the
    unit, the permission model starts from it), and three round trips were a tenth of a
    task list's page."""
    return db.session().scalar(
        select(User)
        .join(WebSession, WebSession.user_id == User.id)
        .where(WebSession.id == _session_id(token), WebSession.created_at >= now - SESSION_MAX_AGE, User.active)
        .options(joinedload(User.unit))
    )


def end_session(db: Database, token: str) -> None:
    with db.transaction() as s:
        s.execute(delete(WebSession).where(WebSession.id == _session_id(token)))


def end_all_sessions(s: Session, user_id: int) -> None:
    """Inside the caller's transaction (a password change): every browser signs in again."""
    s.execute(delete(WebSession).where(WebSession.user_id == user_id))


def password_fingerprint(user: User) -> str:
    """Changes whenever the password does: tokens carry it, so a change revokes them."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def issue_token(secret: str, user: User) -> str:
    return URLSafeTimedSerializer(secret, salt="api-token").dumps({"u": user.id, "p": password_fingerprint(user)})


def user_from_token(db: Database, secret: str, token: str, max_age: int) -> User | None:
    try:
        data = URLSafeTimedSerializer(secret, salt="api-token").loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired):
        return None
    user = db.session().get(User, data.get("u")) if isinstance(data, dict) else None
    if user is None or not user.active or data.get("p") != password_fingerprint(user):
        return None
    return user
