"""Password checks and API bearer tokens.

Tokens are signed (itsdangerous) and carry the user id and a fingerprint of the
password hash, so changing a password revokes every token issued before it.
"""

from __future__ import annotations

import hashlib

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from werkzeug.security import check_password_hash

from app.db import Database
from app.models import User

# A real hash to compare against when the user does not exist, so a wrong username
# takes as long as a wrong password.
_DUMMY_HASH = "scrypt:32768:8:1$dummysaltdummysa$" + "0" * 128


def authenticate(db: Database, username: str, password: str) -> User | None:
    user = db.session().scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def password_fingerprint(user: User) -> str:
    """Changes whenever the password does: tokens and sessions carry it to be revoked by a change."""
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
