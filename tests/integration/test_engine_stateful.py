"""The reminder engine under random sequences of everything that can happen to it.

A Hypothesis state machine declares problems, moves tasks through their states, asks for
and approves extensions, lets time pass, sweeps (tick + delivery against a real mail
server and webhook receiver) and crashes sweeps midway. After every step it checks:

- no outbox key reached the mail server twice for the same recipient (counted by the
  X-Rectify-Key header it sees, not by the unique constraint, which holds by construction);
- after a clean sweep and delivery at T no row is left pending with next_attempt_at <= T,
  and every open task's next action is later than T;
- a task's escalation level never goes down, except in the step that approved its extension;
- rectified, verified and closed tasks have no next action and no unsent notifications.

Each example starts from the "silent" demo copy (every demo task already fixed), on SQLite
(20 examples) and PostgreSQL (a few).
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from app import jobs
from app.demo import SMX_COUNTIES
from app.domain.deadlines import CHINA
from app.models import Notification, Task
from app.services import sweep as sweep_service
from tests.conftest import DEMO_TIME, Clock
from tests.integration.reminder_fixtures import (
    COUNTIES,
    PNG,
    Harness,
    HookSink,
    MailSink,
    MintedApi,
    build_app,
    china,
    copy_database,
    is_event,
    is_notice,
    quiet_template,
)

DEADLINES = ["6月20日", "7月底", "立行立改", "6月12日前"]
OPEN = ("identified", "in_progress")
STEPS = [
    timedelta(minutes=20),
    timedelta(hours=2),
    timedelta(hours=9),
    timedelta(days=1),
    timedelta(days=2),
    timedelta(days=3),
    timedelta(days=6),
]


@dataclass
class Env:
    """What every example of one run shares: the quiet template, the servers, a folder."""

    backend: str
    template: str
    root: Path
    mail: MailSink
    hooks_clock: Clock
    hooks: HookSink
    county_units: dict[str, int] = field(default_factory=dict)


@dataclass
class TaskModel:
    county: str
    state: str = "identified"
    level: int = 0  # the highest escalation level seen since the last approved extension


def make_machine(env: Env) -> type[RuleBasedStateMachine]:
    class ReminderEngine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.url, self.drop = copy_database(env.backend, env.template, env.root)
            self.clock = env.hooks_clock  # the webhook receiver checks signatures against this clock
            self.clock.now = china(2022, 6, 8, 10, 0)
            env.mail.received.clear()
            env.hooks.received.clear()
            self.app = build_app(self.url, env.root / "instance", self.clock, env.mail, env.hooks)
            self.h = Harness(self.app, self.clock, env.mail, env.hooks)
            self.api = MintedApi(self.app)
            self.tasks: dict[int, TaskModel] = {}
            self.problems = 0
            self.extended: set[int] = set()  # tasks whose extension was approved in this step
            self.swept_at: datetime | None = None  # set by a clean sweep, cleared by any other step
            if not env.county_units:
                names = {r.name: r.id for r in self.h.sql("SELECT name, id FROM units")}
                env.county_units.update({key: names[name] for key, name in SMX_COUNTIES.items()})

        def teardown(self) -> None:
            self.app.extensions["rectify"].db.dispose()
            self.drop()

        def _schedule(self) -> list:
            """(id, state, next_action_at, escalation_level) of the machine's tasks, typed by the ORM."""
            with self.app.app_context():
                q = select(Task.id, Task.state, Task.next_action_at, Task.escalation_level).where(
                    Task.id.in_(list(self.tasks))
                )
                return list(self.h.rt.db.session().execute(q).all())

        def _step(self) -> None:
            self.extended = set()
            self.swept_at = None

        # ---- rules ------------------------------------------------------------------------------------

        @initialize(
            counties=st.lists(st.sampled_from(COUNTIES), min_size=1, max_size=3, unique=True),
            deadline=st.sampled_from(DEADLINES),
        )
        def declare_a_first_problem(self, counties, deadline):
            self.declare_a_problem(counties, deadline)

        @rule(
            counties=st.lists(st.sampled_from(COUNTIES), min_size=1, max_size=3, unique=True),
            deadline=st.sampled_from(DEADLINES),
        )
        def declare_a_problem(self, counties, deadline):
            self._step()
            self.problems += 1
            before = {r.id for r in self.h.sql("SELECT id FROM tasks")}
            r = self.api.post(
                "/plans/1/problems",
                "smx_deputy",
                json={
                    "category": "工作落实方面",
                    "nature": "common" if len(counties) > 1 else "individual",
                    "title": f"督查发现问题{self.problems}（{deadline}）",
                    "measures": "立即整改",
                    "deadline": deadline,
                    "unit_ids": [env.county_units[c] for c in counties],
                },
            )
            assert r.status_code == 201, r.get_json()
            for row in self.h.sql("SELECT t.id, t.unit_id FROM tasks t"):
                if row.id not in before:
                    county = next(k for k, v in env.county_units.items() if v == row.unit_id)
                    self.tasks[row.id] = TaskModel(county)

        def _pick(self, data, states: tuple[str, ...]) -> int | None:
            ids = sorted(t for t, m in self.tasks.items() if m.state in states)
            return data.draw(st.sampled_from(ids)) if ids else None

        def _move(self, task_id: int, user: str, to: str, comment: str = "") -> None:
            version = self.api.get(f"/tasks/{task_id}", user).get_json()["version"]
            r = self.api.post(
                f"/tasks/{task_id}/transitions", user, json={"to": to, "comment": comment, "version": version}
            )
            assert r.status_code == 200, r.get_json()
            self.tasks[task_id].state = to

        @precondition(lambda self: any(m.state == "identified" for m in self.tasks.values()))
        @rule(data=st.data())
        def start_a_task(self, data):
            self._step()
            task_id = self._pick(data, ("identified",))
            self._move(task_id, f"{self.tasks[task_id].county}_handler", "in_progress")

        def _rectify(self, task_id: int) -> None:
            handler = f"{self.tasks[task_id].county}_handler"
            if self.tasks[task_id].state == "identified":
                self._move(task_id, handler, "in_progress")
            up = self.api.post(f"/tasks/{task_id}/evidence", handler, data={"file": (io.BytesIO(PNG), "照片.png")})
            assert up.status_code == 201, up.get_json()
            self._move(task_id, handler, "rectified", "已整改")

        @precondition(lambda self: any(m.state in OPEN for m in self.tasks.values()))
        @rule(data=st.data())
        def rectify_a_task_with_evidence(self, data):
            self._step()
            self._rectify(self._pick(data, OPEN))

        @precondition(lambda self: any(m.state in OPEN for m in self.tasks.values()))
        @rule(data=st.data())
        def rectify_a_task_between_the_sweep_and_its_delivery(self, data):
            """The unit fixes an item after the beat wrote its reminder and before the deliverer sent it."""
            self._step()
            at = self.clock.now
            self.h.tick(at)
            written = {
                r.item_id for r in self.h.rows(Notification.status == "pending", Notification.item_type == "task")
            }
            candidates = sorted(t for t, m in self.tasks.items() if m.state in OPEN and t in written)
            task_id = data.draw(st.sampled_from(candidates)) if candidates else self._pick(data, OPEN)
            mark = env.mail.mark()
            self._rectify(task_id)
            self.h.deliver(at)
            heard = [m for m in env.mail.since(mark) if not is_event(m.key) and not is_notice(m.key)]
            reminders = [m.key for m in heard if m.item == ("task", task_id)]
            assert reminders == []  # what it hears now is news (assigned, rectified), not a stale reminder
            self.swept_at = at

        @precondition(lambda self: any(m.state == "rectified" for m in self.tasks.values()))
        @rule(data=st.data(), verify=st.booleans())
        def verify_or_reject_a_rectified_task(self, data, verify):
            self._step()
            task_id = self._pick(data, ("rectified",))
            if verify:
                self._move(task_id, "smx_deputy", "verified")
            else:
                self._move(task_id, "smx_deputy", "in_progress", "照片与台账不符，退回重改")

        @precondition(lambda self: any(m.state in OPEN for m in self.tasks.values()))
        @rule(data=st.data(), days=st.integers(1, 40))
        def extend_a_task(self, data, days):
            self._step()
            task_id = self._pick(data, OPEN)
            handler = f"{self.tasks[task_id].county}_handler"
            task = self.api.get(f"/tasks/{task_id}", handler).get_json()
            today = self.clock.now.astimezone(CHINA).date()
            due = datetime.fromisoformat(task["due_at"]).astimezone(CHINA).date() if task["due_at"] else today
            new_day: date = max(today, due) + timedelta(days=days)
            if new_day.year != 2022:
                return
            r = self.api.post(
                f"/tasks/{task_id}/extensions",
                handler,
                json={"deadline": f"{new_day.month}月{new_day.day}日", "reason": "需协调资金"},
            )
            assert r.status_code == 201, r.get_json()
            r = self.api.post(f"/extensions/{r.get_json()['id']}/decision", "smx_deputy", json={"approve": True})
            assert r.status_code == 200, r.get_json()
            self.extended = {task_id}
            self.tasks[task_id].level = 0

        @rule(by=st.sampled_from(STEPS))
        def let_time_pass(self, by):
            self._step()
            self.clock.now += by

        @rule()
        def sweep(self):
            self._step()
            at = self.clock.now
            self.h.tick(at)
            self.h.deliver(at)
            self.swept_at = at

        @rule(by=st.sampled_from(STEPS))
        def let_time_pass_and_sweep(self, by):
            self.let_time_pass(by)
            self.sweep()

        @rule(days=st.integers(1, 4))
        def sweep_at_nine_in_the_morning_days_later(self, days):
            """The beat that matters most: 09:00 China time, when every step of a working day falls due."""
            local = self.clock.now.astimezone(CHINA) + timedelta(days=days)
            self._step()
            self.clock.now = china(local.year, local.month, local.day)
            self.sweep()

        @rule()
        def sweep_while_the_deliverer_lags_behind(self):
            """The beat wrote its rows; delivery has not run yet (another step may come first)."""
            self._step()
            self.h.tick(self.clock.now)

        @rule()
        def sweep_while_the_mail_server_is_down(self):
            self._step()
            env.mail.stop()
            try:
                self.h.tick(self.clock.now)
                report = self.h.deliver(self.clock.now)
            finally:
                env.mail.start()
            # the webhook still got through; of the mail, the first try counts, the rest wait untried
            assert report.sent == report.claimed - report.retry - report.waiting

        @rule()
        def crash_a_sweep_midway_then_recover(self):
            self._step()
            before = len(self.h.rows())
            real = sweep_service.insert_ignoring_duplicates

            def insert_then_crash(s, rows):
                real(s, rows)
                raise RuntimeError("crashed")

            sweep_service.insert_ignoring_duplicates = insert_then_crash
            try:
                with self.app.app_context():
                    jobs.tick(self.h.rt, self.clock.now)
            except RuntimeError as err:
                assert "crashed" in str(err)
            finally:
                sweep_service.insert_ignoring_duplicates = real
            assert len(self.h.rows()) == before  # the crashed transaction left nothing
            self.sweep()  # and the next beat does the work

        # ---- invariants -------------------------------------------------------------------------------

        @invariant()
        def no_message_reached_the_mail_server_twice(self):
            counts = Counter((m.key, m.rcpt) for m in env.mail.received)
            assert [k for k, n in counts.items() if n > 1] == []
            hooks = Counter(h.key for h in env.hooks.received)
            assert [k for k, n in hooks.items() if n > 1] == []

        @invariant()
        def after_a_clean_sweep_nothing_due_is_left_behind(self):
            if self.swept_at is None:
                return
            at = self.swept_at
            left = self.h.rows(Notification.status == "pending", Notification.next_attempt_at <= at)
            assert left == []
            for row in self._schedule():
                if row.state in OPEN:
                    assert row.next_action_at is not None and row.next_action_at > at, row

        @invariant()
        def escalation_levels_only_climb_except_after_an_extension(self):
            for row in self._schedule():
                model = self.tasks[row.id]
                if row.escalation_level < model.level:
                    assert row.id in self.extended, f"task {row.id} fell from {model.level} to {row.escalation_level}"
                model.level = row.escalation_level

        @invariant()
        def finished_tasks_have_no_next_action_and_nothing_unsent(self):
            done = [t for t, m in self.tasks.items() if m.state not in OPEN]
            if not done:
                return
            for row in self._schedule():
                if row.id in done:
                    assert row.state == self.tasks[row.id].state
                    assert row.next_action_at is None
            unsent = self.h.rows(
                Notification.item_type == "task",
                Notification.item_id.in_(done),
                Notification.status.in_(("pending", "held", "sending")),
            )
            assert unsent == []

    return ReminderEngine


@pytest.mark.parametrize(("backend", "examples"), [("sqlite", 20), ("postgres", 4)])
def test_the_engine_never_sends_twice_never_leaves_due_work_and_never_lowers_a_level(
    backend, examples, templates, tmp_path_factory
):
    root = tmp_path_factory.mktemp("engine")
    mail = MailSink()
    mail.start()
    clock = Clock(DEMO_TIME)
    hooks = HookSink(clock)
    try:
        env = Env(backend, quiet_template(backend, "silent", templates, tmp_path_factory), root, mail, clock, hooks)
        run_state_machine_as_test(
            make_machine(env),
            settings=settings(
                max_examples=examples,
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                database=None,
            ),
        )
    finally:
        mail.stop()
        hooks.close()
