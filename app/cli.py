"""Flask commands: `flask --app app migrate | create-user | demo | holiday | sweep | verify-history |
draft-template`."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import Flask, current_app
from pydantic import ValidationError
from sqlalchemy import func, select

from app import migrate as migrations
from app.models import Unit, User
from app.schemas import HolidayIn, UserIn, describe
from app.services import calendar, org
from app.services.drafts.layout import BUILDERS, default_template
from app.services.errors import ServiceError


def _rt():
    return current_app.extensions["rectify"]


def _fail(message: str) -> None:
    raise click.ClickException(message)


def register_cli(app: Flask) -> None:
    @app.cli.command("migrate")
    def migrate_cmd() -> None:
        """Create or upgrade the database schema to the latest version."""
        migrations.upgrade(_rt().config.DATABASE_URL)
        click.echo("database is at the latest schema")

    @app.cli.command("serve")
    @click.option("--host", default="127.0.0.1")
    @click.option("--port", default=5000, type=int)
    def serve_cmd(host: str, port: int) -> None:
        """Serve the app in one process with the embedded scheduler (`make run`)."""
        if _rt().config.SCHEDULER == "embedded":
            from app.scheduler import start

            start(app)
        from werkzeug.serving import run_simple

        from app.heap import freeze_startup_heap

        freeze_startup_heap()
        click.echo(f"serving on http://{host}:{port}/ (demo logins in README.md)")
        run_simple(host, port, app, threaded=True, use_reloader=False)

    @app.cli.command("sweep")
    @click.option("--at", "at", default=None, help="ISO instant to sweep as of, e.g. 2022-06-09T09:00+08:00")
    @click.option("--deliver/--no-deliver", default=True, help="also send what the sweep wrote")
    def sweep_cmd(at: str | None, deliver: bool) -> None:
        """Run one sweep as of an instant and print what it did."""
        from app import jobs

        rt = _rt()
        try:
            now = datetime.fromisoformat(at) if at else rt.clock()
        except ValueError:
            _fail(f"无法识别的时间「{at}」，应为 ISO 8601，例如 2022-06-09T09:00+08:00")
        if now.tzinfo is None:
            _fail("时间须带时区，例如 2022-06-09T09:00+08:00 (an aware ISO instant)")
        now = now.astimezone(UTC)
        report = jobs.tick(rt, now, verbose=True)
        for line in report.sweep.lines:
            click.echo(line)
        click.echo(report.sweep.summary() + f"; {report.digests} digests")
        if deliver:
            d = jobs.deliver_due(rt, clock=lambda: now)
            click.echo(f"delivered: {d.sent} sent, {d.retry} to retry, {d.failed} failed")

    @app.cli.command("verify-history")
    @click.option("--files/--no-files", default=True, help="also hash every attached evidence file again")
    @click.option("--head", "head", default=None, help="a printed chain head to recompute, e.g. sm3:3f2a…")
    @click.option("--as-of", "as_of", default=None, help="the instant printed beside the head (ISO, with its zone)")
    @click.option("--plan", "plan_id", type=int, default=None, help="the head's scope: a plan")
    @click.option("--unit", "unit_id", type=int, default=None, help="the head's scope: tasks of units at or under it")
    @click.option("--task", "task_ids", type=int, multiple=True, help="the head's scope: these tasks")
    def verify_history_cmd(files, head, as_of, plan_id, unit_id, task_ids) -> None:
        """Check every link of the history's hash chain and name the first broken one;
        with --head, also recompute a printed chain head for its scope and instant."""
        from app.services import chain

        rt = _rt()
        s = rt.db.session()
        report = chain.verify(s, rt.config.UPLOAD_DIR if files else None)
        click.echo(report.summary())
        problems = []
        if not report.ok:
            problems.append(f"first broken link: {report.breaks[0]}")
            problems += [f"  also: {b}" for b in report.breaks[1:50]]
            if len(report.breaks) > 50:
                problems.append(f"  … and {len(report.breaks) - 50} more")
        if head is not None:
            problems += _check_head(s, head, as_of, plan_id, unit_id, task_ids)
        s.rollback()
        if problems:
            _fail("\n".join(problems))

    def _check_head(s, head, as_of, plan_id, unit_id, task_ids) -> list[str]:
        from app.services import chain

        algorithm, _, digest = head.partition(":")
        if not digest or as_of is None:
            _fail("--head takes the printed value algorithm:digest (e.g. sm3:3f2a…) and needs --as-of")
        try:
            instant = datetime.fromisoformat(as_of)
        except ValueError:
            _fail(f"无法识别的时间「{as_of}」，应为 ISO 8601，例如 2022-06-09T09:00:00+08:00")
        if instant.tzinfo is None:
            _fail("--as-of 须带时区，例如 2022-06-09T09:00:00+08:00 (an aware ISO instant)")
        try:
            now = chain.head_as_of(
                s,
                as_of=instant,
                plan_id=plan_id,
                unit_id=unit_id,
                task_ids=task_ids or None,
                algorithm=algorithm,
                recompute=True,
            )
        except ServiceError as err:
            _fail(err.message)
        if now.digest == digest.lower():
            click.echo(f"chain head {head} as of {now.as_of_text} matches: {now.tasks} tasks, {now.events} events")
            return []
        return [
            f"chain head differs: printed {head}, the record as of {now.as_of_text} now gives {now.value} "
            f"({now.tasks} tasks, {now.events} events): the record behind the document has changed since"
        ]

    @app.cli.command("create-user")
    @click.option("--username", required=True)
    @click.option("--password", required=True, prompt=True, hide_input=True, confirmation_prompt=True)
    @click.option("--unit", "unit_name", required=True, help="unit name, e.g. 三门峡市住房和城乡建设局")
    @click.option("--role", type=click.Choice(["admin", "supervisor", "official", "viewer"]), required=True)
    @click.option("--position", type=click.Choice(["head", "deputy", "handler"]), default=None)
    @click.option("--full-name", default="")
    @click.option("--email", default=None)
    @click.option("--phone", default=None)
    def create_user_cmd(username, password, unit_name, role, position, full_name, email, phone) -> None:
        """Add a user to an existing unit."""
        rt = _rt()
        unit = org.find_unit(rt.db, unit_name)
        if unit is None:
            _fail(f"没有名为「{unit_name}」的单位 (unknown unit)")
        try:
            data = UserIn(
                username=username,
                password=password,
                full_name=full_name,
                unit_id=unit.id,
                role=role,
                position=position,
                email=email,
                phone=phone,
            )
            user = org.create_user(rt.db, None, data)
        except ValidationError as err:
            _fail(describe(err))
        except ServiceError as err:
            _fail(err.message)
        click.echo(f"created user {user.username} (id {user.id}) in {unit.name}")

    @app.cli.command("draft-template")
    @click.argument("kind", type=click.Choice(sorted(BUILDERS)))
    @click.argument("path", type=click.Path(dir_okay=False, writable=True))
    def draft_template_cmd(kind: str, path: str) -> None:
        """Write the default .docx template of a drafted document (the same bytes every time)."""
        with open(path, "wb") as out:
            out.write(default_template(kind))
        click.echo(f"{kind} template written to {path}")

    @app.cli.command("holiday")
    @click.argument("day")
    @click.option("--off/--work", "off", default=True, help="a day off (default) or a working day")
    @click.option("--note", default="")
    def holiday_cmd(day, off, note) -> None:
        """Set DAY (YYYY-MM-DD) in the admin holiday table."""
        try:
            data = HolidayIn.model_validate({"day": day, "is_workday": not off, "note": note}, strict=False)
        except ValidationError:
            _fail(f"日期「{day}」格式不对，应为 YYYY-MM-DD")
        rt = _rt()
        moved = calendar.set_override(rt.db, data, rt.clock())
        click.echo(f"{data.day}: {'day off' if off else 'working day'}; {moved} open deadlines moved")

    @app.cli.command("holiday-year")
    @click.argument("year", type=int)
    @click.option(
        "--official/--provisional",
        default=True,
        help="the holiday table now holds YEAR's official holidays and make-up days (default), or not",
    )
    def holiday_year_cmd(year: int, official: bool) -> None:
        """Mark YEAR's working days official once its holidays are in the table."""
        rt = _rt()
        try:
            source, moved = calendar.set_official_year(rt.db, year, official, rt.clock())
        except ServiceError as err:
            _fail(err.message)
        click.echo(f"{year}: {source}; {moved} open deadlines moved")

    @app.cli.command("demo")
    @click.option("--if-empty", is_flag=True, help="do nothing when the database already has units")
    @click.option("--as-issued", is_flag=True, help="the plans as issued in 2022, nothing done yet")
    def demo_cmd(if_empty: bool, as_issued: bool) -> None:
        """Load the demo organisation, users and the two seed plans, as a campaign under
        way today (played forward through the services), or --as-issued."""
        from app.demo import DEMO_PASSWORD, load_demo
        from app.demo_campaign import load_campaign

        rt = _rt()
        if rt.db.session().scalar(select(func.count()).select_from(Unit)):
            if if_empty:
                click.echo("database already has data; demo not loaded")
                return
            _fail("数据库已有数据，演示数据只能载入空库 (database is not empty)")
        summary = load_demo(rt.db, rt.clock()) if as_issued else load_campaign(rt, rt.clock())
        click.echo(summary)
        users = rt.db.session().scalars(select(User).order_by(User.id)).all()
        click.echo(f"{len(users)} demo users; password for all: {DEMO_PASSWORD}")
