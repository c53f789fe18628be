"""A plan's reminder policy: config defaults with the plan's own overrides."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import update

from app.db import Database
from app.domain import permissions
from app.domain.reminders import Policy, PolicyError
from app.models import Plan, Task, User
from app.schemas import PolicyIn
from app.services.errors import Invalid, Words
from app.services.scope import facts, get_visible_plan, require


def get_policy(db: Database, viewer: User, plan_id: int, defaults: Mapping) -> tuple[Policy, dict]:
    plan = get_visible_plan(db.session(), viewer, plan_id)
    return Policy.from_dict(dict(defaults) | (plan.reminder_policy or {})), dict(plan.reminder_policy or {})


def set_policy(db: Database, actor: User, plan_id: int, data: PolicyIn, defaults: Mapping, now: datetime) -> Policy:
    """Replace the plan's overrides. Open tasks are rescheduled from now under the new
    policy (nothing already sent is sent again: the ladder resumes, it does not replay)."""
    with db.transaction() as s:
        plan: Plan = get_visible_plan(s, actor, plan_id)
        f = facts(actor, plan)
        require(permissions.may_set_policy(f.who, f.plan), "只有方案下发单位的督办人员可以修改提醒规则。")
        overrides = data.model_dump(exclude_none=True)
        try:
            policy = Policy.from_dict(dict(defaults) | overrides)
        except PolicyError as err:
            details = [{"field": err.setting or "(policy)", "message": str(err)}]
            reason = Words(err.zh, err.en)
            if err.setting:
                raise Invalid("提醒设置「{setting}」{reason}", details, setting=err.setting, reason=reason) from None
            raise Invalid("提醒设置{reason}", details, reason=reason) from None
        plan.reminder_policy = overrides or None
        s.execute(
            update(Task)
            .where(Task.plan_id == plan.id, Task.next_action_at.is_not(None))
            .values(next_action_at=now, swept_until=now)
        )
        s.execute(  # the 签收 ladders too (the day to acknowledge stays as it was set on arrival)
            update(Task)
            .where(Task.plan_id == plan.id, Task.ack_next_action_at.is_not(None))
            .values(ack_next_action_at=now, ack_swept_until=now)
        )
    return policy
