"""Random people try random moves on real tasks, through the HTTP API, on both databases.

A Hypothesis state machine keeps its own model of each task (state, version, who
rectified it, evidence waiting to be attached, the history it should have) and predicts
the exact answer of every request from the rules in DOMAIN.md. After every step the
database is read back and the append-only history must replay to the task's state.
"""

from __future__ import annotations

import io
import shutil
import struct
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import exc, text

import config
from app import create_app
from app.db import make_engine
from tests.conftest import DEMO_TIME, Clock, _template, pg_admin, pg_url


def _png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


PNG = _png_1x1()
SMX_PLAN = "三建〔2022〕187号"
UNIT_NAMES = {"smx": "三门峡市住房和城乡建设局", "lushi": "卢氏县住房和城乡建设局", "hubin": "湖滨区住房和城乡建设局"}

# The people, as the demo creates them: username -> (unit key, role). "smx" issued the plan.
USERS = {
    "lushi_handler": ("lushi", "official"),
    "lushi_head": ("lushi", "official"),
    "lushi_deputy": ("lushi", "official"),
    "hubin_handler": ("hubin", "official"),
    "smx_deputy": ("smx", "supervisor"),
    "smx_head": ("smx", "supervisor"),
    "smx_handler": ("smx", "supervisor"),
    "smx_viewer": ("smx", "viewer"),
    "admin": ("smx", "admin"),
    "yz_deputy": ("yz", "supervisor"),
}
# The tasks under test: (unit key, problem seq in the Sanmenxia plan). Problem 9 is individual.
TASKS = [("lushi", 1), ("lushi", 9), ("hubin", 1)]

# (source, target) -> (side, needs a comment, needs evidence, refused to whoever rectified)
RULES = {
    ("identified", "in_progress"): ("responsible", False, False, False),
    ("in_progress", "rectified"): ("responsible", True, True, False),
    ("rectified", "in_progress"): ("supervising", True, False, True),
    ("rectified", "verified"): ("supervising", False, False, True),
    ("verified", "closed"): ("supervising", False, False, True),
    ("closed", "in_progress"): ("supervising", True, False, False),
    ("verified", "in_progress"): ("supervising", True, False, False),
}
STATES = ["identified", "in_progress", "rectified", "verified", "closed"]
ALLOWED_CODES = {200, 403, 404, 409, 422}


def visible(user: str, unit: str) -> bool:
    """Own unit, or the issuing unit (and admins) see the task; anyone else gets 404."""
    user_unit, role = USERS[user]
    return role == "admin" or user_unit in ("smx", unit)


def on_side(user: str, unit: str, side: str) -> bool:
    user_unit, role = USERS[user]
    if side == "responsible":
        return user_unit == unit and role in ("official", "supervisor")
    return user_unit == "smx" and user_unit != unit and role == "supervisor"


@dataclass
class Event:
    from_state: str | None
    to_state: str
    actor: str
    at: datetime
    evidence: int = 0


@dataclass
class TaskModel:
    unit: str
    state: str = "identified"
    version: int = 1
    rectified_by: str | None = None
    pending_evidence: int = 0  # uploaded by the task's own unit: what a rectification counts
    events: list[Event] = field(default_factory=list)


@dataclass
class Env:
    """What every machine of one test run shares: the template, one instance folder (so
    one secret key, so tokens minted once stay valid for every copy) and the ids."""

    backend: str
    template: object
    root: Path
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    task_ids: list[int] = field(default_factory=list)

    def new_database(self) -> tuple[str, object]:
        if self.backend == "sqlite":
            path = self.root / f"{uuid.uuid4().hex[:12]}.db"
            shutil.copy(self.template.url, path)
            return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
        name = f"rectify_sm_{uuid.uuid4().hex[:12]}"
        pg_admin(f"CREATE DATABASE {name} TEMPLATE {self.template.url}")
        return pg_url(name), lambda: pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def learn(self, client, engine) -> None:
        """Once per run: ids of the people and tasks, checked against what the model assumes."""
        if self.task_ids:
            return
        with engine.connect() as c:
            rows = c.execute(
                text("SELECT u.username, u.id, u.role, n.name FROM users u JOIN units n ON n.id = u.unit_id")
            ).all()
            by_name = {r.username: r for r in rows}
            for username, (unit, role) in USERS.items():
                row = by_name[username]
                assert row.role == role, username
                if unit in UNIT_NAMES:
                    assert row.name == UNIT_NAMES[unit], username
                self.user_ids[username] = row.id
            plan = c.execute(
                text("SELECT id, evidence_required FROM plans WHERE doc_number = :d"), {"d": SMX_PLAN}
            ).one()
            assert plan.evidence_required  # the model demands evidence for `rectified`
            for unit, seq in TASKS:
                tid = c.execute(
                    text(
                        "SELECT t.id FROM tasks t JOIN problems p ON p.id = t.problem_id "
                        "JOIN units n ON n.id = t.unit_id WHERE t.plan_id = :plan AND p.seq = :seq AND n.name = :unit"
                    ),
                    {"plan": plan.id, "seq": seq, "unit": UNIT_NAMES[unit]},
                ).scalar_one()
                self.task_ids.append(tid)
        for username in USERS:
            r = client.post("/api/v1/auth/token", json={"username": username, "password": "rectify-demo"})
            assert r.status_code == 200, r.get_json()
            self.tokens[username] = r.get_json()["token"]


def make_machine(env: Env) -> type[RuleBasedStateMachine]:
    task_index = st.integers(0, len(TASKS) - 1)
    usernames = st.sampled_from(sorted(USERS))
    comments = st.sampled_from([None, "", "   ", "已按整改措施完成，附现场照片", "核实：照片与台账不符"])
    stale_offsets = st.sampled_from([0, 0, 0, 0, 0, 0, 1, -1, 3])

    class WorkflowMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.url, self.drop = env.new_database()
            self.clock = Clock()
            try:
                self.app = create_app(config.TestConfig(self.url, env.root / "instance"), clock=self.clock)
                self.db = self.app.extensions["rectify"].db
                self.client = self.app.test_client()
                env.learn(self.client, self.db.engine)
            except BaseException:
                if hasattr(self, "db"):
                    self.db.dispose()
                self.drop()
                raise
            self.ids = list(env.task_ids)
            self.tasks = {
                tid: TaskModel(unit, events=[Event(None, "identified", "smx_deputy", DEMO_TIME)])
                for tid, (unit, _) in zip(self.ids, TASKS, strict=True)
            }

        def teardown(self) -> None:
            self.db.dispose()
            self.drop()

        # ---- requests --------------------------------------------------------------
        def _headers(self, user: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {env.tokens[user]}"}

        def _upload(self, user: str, tid: int) -> None:
            m = self.tasks[tid]
            r = self.client.post(
                f"/api/v1/tasks/{tid}/evidence",
                headers=self._headers(user),
                data={"file": (io.BytesIO(PNG), "现场照片.png")},
            )
            if not visible(user, m.unit):
                expected = 404
            elif not on_side(user, m.unit, "responsible"):
                expected = 403  # evidence is the responsible unit's proof
            elif m.state not in ("identified", "in_progress"):
                expected = 409  # no longer in the unit's hands
            else:
                expected = 201
            assert r.status_code == expected, (user, m.unit, m.state, r.get_json())
            if expected == 201:
                m.pending_evidence += 1

        def _predict(self, user: str, m: TaskModel, target: str, comment: str, version: int) -> int:
            if not visible(user, m.unit):
                return 404
            if version != m.version:
                return 409
            rule_ = RULES.get((m.state, target))
            if rule_ is None:
                return 409
            side, needs_comment, needs_evidence, not_by_rectifier = rule_
            if not on_side(user, m.unit, side):
                return 403
            if not_by_rectifier and m.rectified_by == user:
                return 403
            if needs_comment and not comment.strip():
                return 422
            if needs_evidence and m.pending_evidence == 0:
                return 422
            return 200

        def _attempt(
            self, i: int, user: str, target: str, comment: str | None, upload: bool, stale: int, minutes: int
        ) -> None:
            tid = self.ids[i]
            m = self.tasks[tid]
            self.clock.advance(minutes=minutes)
            if upload:
                self._upload(user, tid)
            version = m.version + stale
            if version < 1:
                version = m.version + 1
            body: dict = {"to": target, "version": version}
            if comment is not None:
                body["comment"] = comment
            r = self.client.post(f"/api/v1/tasks/{tid}/transitions", headers=self._headers(user), json=body)
            assert r.status_code in ALLOWED_CODES, (r.status_code, r.get_json())
            expected = self._predict(user, m, target, comment or "", version)
            assert r.status_code == expected, (user, m.unit, m.state, body, r.get_json())
            event(f"{m.state} -> {target}: {expected}")
            if expected != 200:
                assert r.get_json()["message"]
                return
            attached = m.pending_evidence if target == "rectified" else 0
            m.events.append(Event(m.state, target, user, self.clock.now, attached))
            m.state, m.version = target, m.version + 1
            if target == "rectified":
                m.rectified_by, m.pending_evidence = user, 0
            out = r.get_json()
            assert (out["state"], out["version"]) == (m.state, m.version)

        # ---- rules -----------------------------------------------------------------
        @rule(
            i=task_index,
            user=usernames,
            to=st.sampled_from(STATES),
            comment=comments,
            upload=st.booleans(),
            stale=stale_offsets,
            minutes=st.integers(0, 240),
        )
        def anyone_tries_any_state(self, i, user, to, comment, upload, stale, minutes):
            self._attempt(i, user, to, comment, upload, stale, minutes)

        @rule(i=task_index, data=st.data(), minutes=st.integers(0, 24 * 60))
        def someone_likely_entitled_tries_a_next_state(self, i, data, minutes):
            """Biased towards moves that exist, by people on the right side, so tasks
            actually travel to `closed` (and back) within a short run."""
            m = self.tasks[self.ids[i]]
            target = data.draw(st.sampled_from([dst for src, dst in RULES if src == m.state]), label="target")
            side = RULES[(m.state, target)][0]
            entitled = sorted(u for u in USERS if on_side(u, m.unit, side))
            user = data.draw(st.sampled_from(entitled) | usernames, label="user")
            comment = data.draw(comments, label="comment")
            upload = data.draw(st.booleans(), label="upload")
            stale = data.draw(stale_offsets, label="stale")
            self._attempt(i, user, target, comment, upload, stale, minutes)

        @rule(i=task_index, data=st.data(), minutes=st.integers(0, 24 * 60))
        def the_right_person_moves_a_task_on_properly(self, i, data, minutes):
            """A well-formed move by someone on the right side who did not rectify the task:
            the rules say it succeeds, and it keeps tasks moving for the other rules."""
            m = self.tasks[self.ids[i]]
            target = data.draw(st.sampled_from([dst for src, dst in RULES if src == m.state]), label="target")
            side, _, needs_evidence, not_by_rectifier = RULES[(m.state, target)]
            entitled = sorted(
                u for u in USERS if on_side(u, m.unit, side) and not (not_by_rectifier and u == m.rectified_by)
            )
            user = data.draw(st.sampled_from(entitled), label="user")
            upload = needs_evidence and (m.pending_evidence == 0 or data.draw(st.booleans(), label="upload"))
            self._attempt(i, user, target, "整改情况/理由", upload, 0, minutes)

        @rule(i=task_index, user=usernames)
        def someone_uploads_evidence(self, i, user):
            self._upload(user, self.ids[i])

        @rule(minutes=st.integers(1, 3 * 24 * 60))
        def time_passes(self, minutes):
            self.clock.advance(minutes=minutes)

        # ---- invariants ------------------------------------------------------------
        @invariant()
        def the_database_and_the_history_agree_with_the_rules_and_the_model(self):
            with self.db.engine.connect() as c:
                rows = {
                    r.id: r
                    for r in c.execute(
                        text(f"SELECT id, state, version, rectified_by_id FROM tasks WHERE id IN ({_ints(self.ids)})")
                    )
                }
                stored = c.execute(
                    text(
                        "SELECT task_id, seq, kind, from_state, to_state, actor_id FROM task_events "
                        f"WHERE task_id IN ({_ints(self.ids)}) ORDER BY task_id, seq"
                    )
                ).all()
                pending = dict(
                    c.execute(
                        text(
                            "SELECT task_id, count(*) FROM evidence WHERE event_id IS NULL "
                            f"AND task_id IN ({_ints(self.ids)}) GROUP BY task_id"
                        )
                    ).all()
                )
            for tid in self.ids:
                m, row = self.tasks[tid], rows[tid]
                r = self.client.get(f"/api/v1/tasks/{tid}/history", headers=self._headers("admin"))
                assert r.status_code == 200
                history = r.get_json()
                # what the API shows is what the database holds
                assert [(h["seq"], h["kind"], h["from_state"], h["to_state"], h["actor_id"]) for h in history] == [
                    tuple(e[1:]) for e in stored if e.task_id == tid
                ]
                check_history(history, row.state, row.version)
                # ... and what the model expects, to the second
                assert [(h["from_state"], h["to_state"], h["actor_id"], _at(h["at"])) for h in history] == [
                    (e.from_state, e.to_state, env.user_ids[e.actor], e.at) for e in m.events
                ]
                assert [len(h["evidence_ids"]) for h in history] == [e.evidence for e in m.events]
                assert (row.state, row.version) == (m.state, m.version)
                assert row.rectified_by_id == (env.user_ids[m.rectified_by] if m.rectified_by else None)
                assert pending.get(tid, 0) == m.pending_evidence

    return WorkflowMachine


def _ints(ids: list[int]) -> str:
    return ", ".join(str(int(i)) for i in ids)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def check_history(history: list[dict], state: str, version: int) -> None:
    """The invariants of an append-only history, whatever anyone did."""
    assert [h["seq"] for h in history] == list(range(1, len(history) + 1))
    ats = [_at(h["at"]) for h in history]
    assert ats == sorted(ats), "history timestamps go backwards"
    assert (history[0]["kind"], history[0]["from_state"], history[0]["to_state"]) == ("created", None, "identified")
    transitions = history[1:]
    assert all(h["kind"] == "transition" for h in transitions)
    replayed = "identified"
    last_move: tuple[str, str] | None = None
    rectifier: int | None = None
    for h in transitions:
        move = (h["from_state"], h["to_state"])
        assert h["from_state"] == replayed, f"history jumps: at {replayed}, next event is {move}"
        assert move in RULES, f"no such move {move}"
        if h["to_state"] == "closed":
            assert last_move == ("rectified", "verified"), f"closed after {last_move}"
        if h["to_state"] in ("verified", "closed"):
            assert h["actor_id"] != rectifier, "verified or closed by the person who rectified"
        if move == ("in_progress", "rectified"):
            rectifier = h["actor_id"]
            assert h["evidence_ids"], "rectified without evidence"
        replayed, last_move = h["to_state"], move
    assert replayed == state
    assert version == 1 + len(transitions)


SETTINGS = {"sqlite": 25, "postgres": 15}


def test_random_people_moving_tasks_through_the_api_never_break_the_rules_or_the_history(
    backend, templates, tmp_path_factory
):
    env = Env(backend, _template(backend, templates, tmp_path_factory), tmp_path_factory.mktemp("stateful"))
    run_state_machine_as_test(
        make_machine(env),
        settings=settings(
            max_examples=SETTINGS[backend],
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        ),
    )


def test_the_database_refuses_to_update_or_delete_history(db_url):
    engine = make_engine(db_url)
    try:
        with engine.connect() as c:
            before = c.execute(text("SELECT id, comment, to_state FROM task_events ORDER BY id LIMIT 1")).one()
            count = c.execute(text("SELECT count(*) FROM task_events")).scalar_one()
            c.rollback()
        statements = [
            ("UPDATE task_events SET comment = 'backdated' WHERE id = :id", {"id": before.id}),
            ("UPDATE task_events SET to_state = 'closed'", {}),
            ("DELETE FROM task_events WHERE id = :id", {"id": before.id}),
            ("DELETE FROM task_events", {}),
        ]
        for sql, params in statements:
            with pytest.raises(exc.DBAPIError, match="append-only"), engine.begin() as c:
                c.execute(text(sql), params)
        with engine.connect() as c:
            after = c.execute(text("SELECT id, comment, to_state FROM task_events WHERE id = :id"), {"id": before.id})
            assert tuple(after.one()) == tuple(before)
            assert c.execute(text("SELECT count(*) FROM task_events")).scalar_one() == count
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("user", "target", "expected"),
    [("smx_viewer", "in_progress", 403), ("lushi_handler", "closed", 409)],
    ids=["viewer-starts", "unit-jumps-to-closed"],
)
def test_naming_unknown_evidence_does_not_hide_that_the_move_is_forbidden_or_does_not_exist(
    api, user, target, expected
):
    tid = api.task_of("lushi_handler")["id"]
    body = {"to": target, "version": 1, "evidence_ids": [999_999]}
    r = api.post(f"/tasks/{tid}/transitions", user, json=body)
    assert r.status_code == expected, r.get_json()
