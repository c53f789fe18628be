"""Units and users."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from app.db import Database
from app.domain import permissions
from app.models import Unit, User
from app.schemas import UnitIn, UnitNoticeIn, UserIn
from app.services.auth import end_all_sessions
from app.services.errors import Conflict, Invalid, NotFound
from app.services.scope import require, unit_visible, who


def _require_admin(user: User) -> None:
    require(permissions.may_administer(who(user)), "只有系统管理员可以管理单位和用户。")


def create_unit(db: Database, actor: User | None, data: UnitIn) -> Unit:
    """Add a unit under ``parent_id`` (None: a root). ``actor`` None means the CLI."""
    if actor is not None:
        _require_admin(actor)
    with db.transaction() as s:
        parent = s.get(Unit, data.parent_id) if data.parent_id is not None else None
        if data.parent_id is not None and parent is None:
            raise Invalid("上级单位 {id} 不存在。", id=data.parent_id)
        dup = select(Unit.id).where(Unit.name == data.name, Unit.parent_id == data.parent_id)
        if s.scalar(dup) is not None:
            raise Conflict("同一上级下已有名为「{name}」的单位。", name=data.name)
        unit = Unit(
            name=data.name,
            kind=data.kind,
            parent_id=data.parent_id,
            depth=parent.depth + 1 if parent else 0,
        )
        s.add(unit)
        s.flush()
        unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    return unit


def create_user(db: Database, actor: User | None, data: UserIn) -> User:
    if actor is not None:
        _require_admin(actor)
    with db.transaction() as s:
        if s.get(Unit, data.unit_id) is None:
            raise Invalid("单位 {id} 不存在。", id=data.unit_id)
        user = User(
            username=data.username,
            password_hash=generate_password_hash(data.password),
            full_name=data.full_name,
            unit_id=data.unit_id,
            role=data.role,
            position=data.position,
            email=data.email,
            phone=data.phone,
        )
        s.add(user)
        try:
            s.flush()
        except IntegrityError:
            raise Conflict("用户名「{name}」已被使用。", name=data.username) from None
    return user


def list_units(db: Database, viewer: User) -> list[Unit]:
    s = db.session()
    return list(s.scalars(select(Unit).where(unit_visible(viewer)).order_by(Unit.path)))


def unit_choices(
    db: Database, viewer: User, limit: int | None = None, unit_id: int | None = None
) -> list[tuple[int, str]]:
    """(id, name) of the units the viewer sees, in tree order, for a filter's choices:
    plain rows, since a city's thousand units would cost more as objects than its list.
    ``limit`` reads no more than that many; ``unit_id`` only that unit (if seen)."""
    q = select(Unit.id, Unit.name).where(unit_visible(viewer))
    if unit_id is not None:
        q = q.where(Unit.id == unit_id)
    rows = db.session().execute(q.order_by(Unit.path).limit(limit))
    return [(uid, name) for uid, name in rows]


def list_users(db: Database, viewer: User) -> list[User]:
    s = db.session()
    q = select(User).join(Unit, User.unit_id == Unit.id).where(unit_visible(viewer))
    return list(s.scalars(q.order_by(User.unit_id, User.username)))


def get_unit(db: Database, viewer: User, unit_id: int) -> Unit:
    unit = db.session().scalar(select(Unit).where(Unit.id == unit_id, unit_visible(viewer)))
    if unit is None:
        raise NotFound("单位 {id} 不存在或不在您的权限范围内。", id=unit_id)
    return unit


def find_unit(db: Database, name: str) -> Unit | None:
    return db.session().scalar(select(Unit).where(Unit.name == name))


def set_preferences(
    db: Database,
    user: User,
    notify_email: bool | None,
    digest: bool | None,
    events: Mapping[str, str] | None = None,
    lang: str | None = None,
) -> User:
    """The user's own notification settings; what is None stays as it was. ``events``
    (kind → mode, see app.domain.events) overrides the chosen kinds only."""
    with db.transaction() as s:
        me = s.get(User, user.id)
        if notify_email is not None:
            me.notify_email = notify_email
        if digest is not None:
            me.digest = digest
        if events:
            me.event_prefs = dict(me.event_prefs or {}) | dict(events)
        if lang is not None:
            me.lang = lang
    return me


def set_robot(db: Database, actor: User, unit_id: int, kind: str | None, url: str | None, secret: str | None) -> Unit:
    """A unit's group robot (WeCom or DingTalk), set by an admin."""
    _require_admin(actor)
    if kind is not None and not url:
        raise Invalid("设置群机器人需要提供 webhook 地址 (url)。")
    with db.transaction() as s:
        unit = s.get(Unit, unit_id)
        if unit is None:
            raise NotFound("单位 {id} 不存在。", id=unit_id)
        unit.robot_kind, unit.robot_url, unit.robot_secret = kind, url if kind else None, secret if kind else None
    return unit


def set_notice_details(db: Database, actor: User | None, unit_id: int, data: UnitNoticeIn) -> Unit:
    """The prefix and contact a unit prints on its 督办单, set by an admin (``actor`` None: the demo loader)."""
    if actor is not None:
        _require_admin(actor)
    with db.transaction() as s:
        unit = s.get(Unit, unit_id)
        if unit is None:
            raise NotFound("单位 {id} 不存在。", id=unit_id)
        unit.notice_prefix = data.notice_prefix.strip()
        unit.contact_person = data.contact_person.strip()
        unit.contact_phone = data.contact_phone.strip()
    return unit


def change_password(db: Database, user: User, current: str, new: str, repeat: str) -> None:
    """Old password first; the new one at least 8 characters. Changing it ends every web
    session of the user and revokes their API tokens (they carry a fingerprint of the hash)."""
    if len(new) < 8:
        raise Invalid("新密码至少 8 个字符。")
    if new != repeat:
        raise Invalid("两次输入的新密码不一致。")
    with db.transaction() as s:
        me = s.get(User, user.id)
        if not check_password_hash(me.password_hash, current):
            raise Invalid("原密码不正确。")
        me.password_hash = generate_password_hash(new)
        end_all_sessions(s, me.id)
