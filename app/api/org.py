"""Units, users and the admin holiday table."""

from __future__ import annotations

from flask import g

from app.api import bp, now, rt, spec
from app.domain import permissions
from app.domain.deadlines import CHINA
from app.schemas import (
    CalendarChangeOut,
    CalendarYearOut,
    HolidayIn,
    OfficialYearIn,
    UnitIn,
    UnitNoticeIn,
    UnitOut,
    UserIn,
    UserOut,
)
from app.services import calendar, org
from app.services.scope import require, who


@spec.route(bp, "/units", "GET", summary="Units you can see (yours and those under it)", response=UnitOut, many=True)
def list_units():
    return [UnitOut.model_validate(u) for u in org.list_units(rt().db, g.user)]


@spec.route(bp, "/units", "POST", summary="Add a unit (admin)", body=UnitIn, response=UnitOut, status=201)
def create_unit(body: UnitIn):
    return UnitOut.model_validate(org.create_unit(rt().db, g.user, body))


@spec.route(
    bp,
    "/units/<int:unit_id>/notice",
    "PUT",
    summary="What the unit prints on the 督办单 it issues: the number's prefix, contact person and telephone (admin)",
    body=UnitNoticeIn,
    response=UnitOut,
)
def set_unit_notice(unit_id: int, body: UnitNoticeIn):
    return UnitOut.model_validate(org.set_notice_details(rt().db, g.user, unit_id, body))


@spec.route(bp, "/units/<int:unit_id>", "GET", summary="One unit", response=UnitOut)
def get_unit(unit_id: int):
    return UnitOut.model_validate(org.get_unit(rt().db, g.user, unit_id))


@spec.route(bp, "/users", "GET", summary="Users of the units you can see", response=UserOut, many=True)
def list_users():
    return [UserOut.model_validate(u) for u in org.list_users(rt().db, g.user)]


@spec.route(bp, "/users", "POST", summary="Add a user (admin)", body=UserIn, response=UserOut, status=201)
def create_user(body: UserIn):
    return UserOut.model_validate(org.create_user(rt().db, g.user, body))


@spec.route(bp, "/me", "GET", summary="The signed-in user", response=UserOut)
def me():
    return UserOut.model_validate(g.user)


@spec.route(bp, "/calendar/overrides", "GET", summary="The admin holiday table", response=HolidayIn, many=True)
def list_overrides():
    return [HolidayIn(day=o.day, is_workday=o.is_workday, note=o.note) for o in calendar.list_overrides(rt().db)]


@spec.route(
    bp,
    "/calendar/overrides",
    "PUT",
    summary="Set one day as working day or day off (admin)",
    body=HolidayIn,
    response=CalendarChangeOut,
)
def set_override(body: HolidayIn):
    _admin_only()
    moved = calendar.set_override(rt().db, body, now(), g.user.id)
    return CalendarChangeOut(**body.model_dump(), moved=moved)


@spec.route(
    bp,
    "/calendar/years",
    "GET",
    summary="Where each year's working days come from",
    response=CalendarYearOut,
    many=True,
)
def list_calendar_years():
    return [
        CalendarYearOut(year=y, source=src) for y, src in calendar.year_sources(rt().db, now().astimezone(CHINA).date())
    ]


@spec.route(
    bp,
    "/calendar/years/<int:year>",
    "PUT",
    summary="Mark a year official once its holidays are in the admin table (admin); open deadlines are counted again",
    body=OfficialYearIn,
    response=CalendarYearOut,
)
def set_calendar_year(year: int, body: OfficialYearIn):
    _admin_only()
    source, moved = calendar.set_official_year(rt().db, year, body.official, now(), g.user.id)
    return CalendarYearOut(year=year, source=source, moved=moved)


def _admin_only() -> None:
    require(permissions.may_administer(who(g.user)), "只有系统管理员可以维护节假日表。")
