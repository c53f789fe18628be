"""The history as a record anyone can check: every event a link of its task's hash chain
(SM3 here), `flask verify-history` passing on an honest database and naming the first
altered event after someone with the database's keys changed a row behind the
application's back (on PostgreSQL a superuser with the triggers switched off), and the
chain head printed on a ledger export and a 督办单 matching the chain recomputed, then
differing once the record behind them is altered. Both databases."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import shlex
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, text

from app.domain import chain as chain_format
from app.domain.deadlines import CHINA
from app.migrate import downgrade, upgrade
from app.models import Evidence, Task, TaskEvent
from app.services import history
from app.services.chain import head_as_of
from tests.integration.test_history_guards import rectify_with_evidence
from tests.integration.test_notice import JUNE_21, notice, overdue_tasks, signed_in

pytestmark = pytest.mark.presigned


def verify(app, *args: str):
    return app.test_cli_runner().invoke(args=["verify-history", *args])


def behind_the_back(engine, backend: str, sql: str, params: dict, how: str = "disable") -> None:
    """Run ``sql`` as whoever holds the database's keys, past its append-only guards: on
    PostgreSQL a superuser who disables the tables' triggers (or turns them off for the
    session), on SQLite whoever can write the file (drops the triggers, puts them back)."""
    with engine.begin() as conn:
        if backend == "postgres":
            assert conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar_one()
            if how == "replica":
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                conn.execute(text(sql), params)
                return
            for table in ("task_events", "evidence"):
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            conn.execute(text(sql), params)
            for table in ("task_events", "evidence"):
                conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
            return
        triggers = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
        for name, _ in triggers:
            conn.execute(text(f"DROP TRIGGER {name}"))
        conn.execute(text(sql), params)
        for _, create in triggers:
            conn.execute(text(create))


def test_every_event_is_a_link_in_sm3_and_an_honest_database_verifies(api, app, rt):
    tid = rectify_with_evidence(api)
    assert chain_format.ALGORITHM == "sm3", "this Python has OpenSSL 3's SM3"
    s = rt.db.session()
    events = s.scalars(select(TaskEvent).where(TaskEvent.task_id == tid).order_by(TaskEvent.seq)).all()
    assert [e.chain_alg for e in events] == ["sm3"] * 3
    assert events[0].chain_prev is None
    assert [e.chain_prev for e in events[1:]] == [e.chain_hash for e in events[:-1]]
    photo = s.scalar(select(Evidence).where(Evidence.task_id == tid))
    # the rectification's link covers its fields, the photo's digest and the previous link
    fields = {k: getattr(events[2], k) for k in chain_format.EVENT_FIELDS}
    files = [{"id": photo.id, "name": "现场.png", "size": photo.size, "sha256": photo.sha256}]
    assert chain_format.link_hash("sm3", fields, files, events[1].chain_hash) == events[2].chain_hash
    assert chain_format.link_hash("sm3", fields, [], events[1].chain_hash) != events[2].chain_hash
    s.rollback()

    result = verify(app)
    assert result.exit_code == 0, result.output
    assert re.search(r"history chain intact: \d+ events of \d+ tasks \(sm3\), 1 evidence files checked", result.output)


# session_replication_role is PostgreSQL's: SQLite's superuser way is dropping the trigger
@pytest.mark.parametrize(("backend", "how"), [("sqlite", "disable"), ("postgres", "disable"), ("postgres", "replica")])
def test_a_history_row_changed_behind_the_applications_back_is_named(api, app, backend, how):
    tid = rectify_with_evidence(api)
    engine = app.extensions["rectify"].db.engine
    with engine.connect() as conn:
        event_id = conn.execute(text("SELECT id FROM task_events WHERE task_id = :t AND seq = 2"), {"t": tid}).scalar()
    behind_the_back(engine, backend, "UPDATE task_events SET comment = 'backdated' WHERE id = :e", {"e": event_id}, how)
    result = verify(app)
    assert result.exit_code == 1, result.output
    assert "history chain BROKEN: 1 of" in result.output
    first = re.search(r"first broken link: (.*)", result.output).group(1)
    assert f"task {tid}, event {event_id} (seq 2, at " in first
    assert "its fields or evidence digests were changed" in first
    assert "kind transition, identified→in_progress" in first
    assert "also:" not in result.output, "the events after it are not blamed"


def test_an_evidence_digest_changed_behind_the_back_is_named_with_the_file_it_no_longer_matches(api, app, backend):
    tid = rectify_with_evidence(api)
    engine = app.extensions["rectify"].db.engine
    with engine.connect() as conn:
        ev_id, event_id, real = conn.execute(
            text("SELECT id, event_id, sha256 FROM evidence WHERE task_id = :t"), {"t": tid}
        ).one()
    forged = hashlib.sha256(b"another photo").hexdigest()
    behind_the_back(engine, backend, "UPDATE evidence SET sha256 = :f WHERE id = :e", {"f": forged, "e": ev_id})
    result = verify(app)
    assert result.exit_code == 1, result.output
    first = re.search(r"first broken link: (.*)", result.output).group(1)
    assert f"task {tid}, event {event_id} (seq 3" in first
    assert f"evidence {ev_id} «现场.png»: recorded sha256 {forged}, but its file has {real}" in first
    assert "its fields or evidence digests were changed" in first

    without_files = verify(app, "--no-files")
    assert without_files.exit_code == 1 and "0 evidence files checked" in without_files.output
    assert f"evidence: {ev_id} «现场.png» sha256 {forged}" in without_files.output


def test_an_event_deleted_from_the_middle_is_named_at_the_link_after_it(api, app, backend):
    tid = rectify_with_evidence(api)
    engine = app.extensions["rectify"].db.engine
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM task_events WHERE task_id = :t ORDER BY seq"), {"t": tid}).scalars()
        _, second, third = list(ids)
    behind_the_back(engine, backend, "DELETE FROM task_events WHERE id = :e", {"e": second})
    result = verify(app, "--no-files")
    assert result.exit_code == 1, result.output
    line = re.search(rf"first broken link: (task {tid}, event {third} .*)", result.output).group(1)
    assert "events seq 2…2 of this task are missing" in line
    assert "its link is broken" in line


def export_head(content: bytes, fmt: str) -> str:
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
        return rows[-1][0]
    ws = load_workbook(io.BytesIO(content)).active
    return ws.cell(ws.max_row, 1).value


def check_printed(app, line: str):
    """Run the check a printed line tells its reader to run."""
    command = shlex.split(line.split("核验：", 1)[1])
    assert command[:4] == ["flask", "--app", "app", "verify-history"]
    return verify(app, "--no-files", *command[4:])


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
@pytest.mark.parametrize("layout", ["sanmenxia", "yuzhou"])
def test_the_head_printed_on_an_export_matches_the_chain_and_differs_once_the_record_changes(
    api, app, rt, backend, clock, fmt, layout
):
    tid = rectify_with_evidence(api)
    pid = api.get(f"/tasks/{tid}", "lushi_handler").get_json()["plan_id"]
    clock.advance(hours=1)
    city = api.get(f"/plans/{pid}/ledger.{fmt}", "smx_deputy", query_string={"layout": layout})
    county = api.get(f"/plans/{pid}/ledger.{fmt}", "lushi_handler", query_string={"layout": layout})
    city_line, county_line = export_head(city.data, fmt), export_head(county.data, fmt)
    assert city_line.startswith("记录链校验值（SM3）：sm3:") and county_line.startswith("记录链校验值（SM3）：sm3:")

    s = rt.db.session()
    as_of = clock.now.replace(microsecond=0)
    whole = head_as_of(s, as_of=as_of, plan_id=pid)
    lushi = head_as_of(s, as_of=as_of, plan_id=pid, unit_id=me_unit(api, "lushi_handler"))
    s.rollback()
    assert whole.value in city_line and f"{whole.tasks} 项任务 {whole.events} 条记录" in city_line
    assert lushi.value in county_line and lushi.tasks == 9 and lushi.value != whole.value
    assert f"--plan {pid} --unit {lushi.unit_id}" in county_line and "--unit" not in city_line
    for line in (city_line, county_line):
        ok = check_printed(app, line)
        assert ok.exit_code == 0 and "matches" in ok.output, ok.output

    # a step after the export does not touch it: the head is of the record as of then
    clock.advance(hours=1)
    r = api.post(f"/tasks/{tid}/transitions", "smx_deputy", json={"to": "verified", "version": 3})
    assert r.status_code == 200, r.get_json()
    assert check_printed(app, county_line).exit_code == 0

    engine = app.extensions["rectify"].db.engine
    behind_the_back(
        engine, backend, "UPDATE task_events SET comment = '未整改' WHERE task_id = :t AND seq = 3", {"t": tid}
    )
    broken = check_printed(app, county_line)
    assert broken.exit_code == 1
    assert "chain head differs: printed sm3:" in broken.output and "first broken link: task" in broken.output


def me_unit(api, username: str) -> int:
    return api.get("/me", username).get_json()["unit_id"]


def test_a_consistently_rewritten_chain_passes_its_own_check_but_not_the_printed_head(api, app, rt, backend, clock):
    """Someone who recomputes every hash after their change fools the chain itself; the
    head printed before it is what gives them away."""
    tid = rectify_with_evidence(api)
    pid = api.get(f"/tasks/{tid}", "lushi_handler").get_json()["plan_id"]
    line = export_head(api.get(f"/plans/{pid}/ledger.csv", "smx_deputy").data, "csv")
    engine = app.extensions["rectify"].db.engine
    with engine.connect() as conn:
        event_id = conn.execute(text("SELECT id FROM task_events WHERE task_id = :t AND seq = 1"), {"t": tid}).scalar()
    behind_the_back(engine, backend, "UPDATE task_events SET comment = 'forged' WHERE id = :e", {"e": event_id})
    s = rt.db.session()
    s.rollback()  # nothing cached from before the change
    relinked, prev = [], None
    for e in s.scalars(select(TaskEvent).where(TaskEvent.task_id == tid).order_by(TaskEvent.seq)).all():
        files = [
            {"id": f.id, "name": f.original_name, "size": f.size, "sha256": f.sha256}
            for f in s.scalars(select(Evidence).where(Evidence.event_id == e.id))
        ]
        prev_hash, prev = (
            prev,
            chain_format.link_hash("sm3", {k: getattr(e, k) for k in chain_format.EVENT_FIELDS}, files, prev),
        )
        relinked.append({"p": prev_hash, "h": prev, "e": e.id})
    s.rollback()
    for params in relinked:
        sql = "UPDATE task_events SET chain_prev = :p, chain_hash = :h WHERE id = :e"
        behind_the_back(engine, backend, sql, params)
    alone = verify(app, "--no-files")
    assert alone.exit_code == 0, alone.output
    result = check_printed(app, line)
    assert result.exit_code == 1 and "chain head differs" in result.output


def test_the_head_on_a_notice_is_the_tasks_as_of_its_issue_and_stays_on_reprints(app, api, rt, clock):
    clock.now = JUNE_21
    task = overdue_tasks(api, "lushi_handler")[0]
    page = notice(signed_in(app, "smx_deputy"), task)  # the supervising side issues it
    head = re.search(r'id="chain-head">([^<]+)</code>', page).group(1)
    as_of = re.search(r'id="chain-as-of">([^<]+)</span>', page).group(1)
    assert as_of == JUNE_21.astimezone(CHINA).isoformat()
    s = rt.db.session()
    assert head_as_of(s, as_of=JUNE_21, task_ids=[task]).value == head
    s.rollback()
    command = re.sub(r"<[^>]+>", "", re.search(r"核验：(.*?)</small>", page).group(1))
    assert f"--head {head} --as-of {as_of} --task {task}" in command
    ok = verify(app, "--no-files", *shlex.split(command)[4:])
    assert ok.exit_code == 0 and "matches: 1 tasks" in ok.output, ok.output

    clock.advance(days=2)
    r = api.post(f"/tasks/{task}/transitions", "lushi_handler", json={"to": "in_progress", "version": 1})
    assert r.status_code == 200, r.get_json()
    reprint = notice(signed_in(app, "smx_head"), task)
    assert f'id="chain-head">{head}</code>' in reprint, "a reprint names the record as it was when issued"
    s = rt.db.session()
    assert head_as_of(s, as_of=clock.now, task_ids=[task]).value != head, "the task's record has grown since"
    s.rollback()


def test_the_migration_chains_the_history_already_there_exactly_as_the_application_does(backend, db_url, app):
    """Down to the schema before the chain and up again: the backfill gives every event
    the hash the application wrote (same serialisation, same order), and the guards hold."""
    engine = app.extensions["rectify"].db.engine
    with engine.connect() as conn:
        before = conn.execute(text("SELECT id, chain_alg, chain_prev, chain_hash FROM task_events ORDER BY id")).all()
    assert before and all(row.chain_hash for row in before)
    engine.dispose()
    downgrade(db_url, "0014")
    upgrade(db_url)
    with engine.connect() as conn:
        after = conn.execute(text("SELECT id, chain_alg, chain_prev, chain_hash FROM task_events ORDER BY id")).all()
    assert after == before
    assert verify(app).exit_code == 0
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE task_events SET comment = 'x' WHERE id = :e"), {"e": before[0].id})


def test_a_printed_head_for_another_scope_or_instant_is_told_apart(app, rt, clock):
    s = rt.db.session()
    now = datetime(2022, 6, 9, 1, 0, tzinfo=UTC)
    whole = head_as_of(s, as_of=now)
    before = head_as_of(s, as_of=datetime(2022, 6, 1, tzinfo=UTC))
    s.rollback()
    assert before.events == 0 and before.tasks == 0 and whole.events > 0
    ok = verify(app, "--no-files", "--head", whole.value, "--as-of", whole.as_of_text)
    assert ok.exit_code == 0, ok.output
    wrong = verify(app, "--no-files", "--head", whole.value, "--as-of", before.as_of_text)
    assert wrong.exit_code == 1 and f"now gives {before.value} (0 tasks, 0 events)" in wrong.output
    bad = verify(app, "--head", "sm3", "--as-of", "yesterday")
    assert bad.exit_code != 0 and "--head takes the printed value" in bad.output


def test_every_writer_chains_an_import_its_progress_notes_a_calendar_move_and_the_sweep(api, app, clock):
    """The writers that go round the workflow: a ledger imported set-based, its export
    imported again with 进展 typed in (a note in each task's history), a holiday that
    moves the counted deadlines, the sweep's escalations; then the whole chain holds."""
    from app import jobs
    from tests.integration.test_ledger_io import SMX_PLAN_NO, demo_plan, edited, export, imported, preview

    pid = demo_plan(api, SMX_PLAN_NO)
    lushi = me_unit(api, "lushi_head")
    counted = {"nature": "individual", "title": "档案补正", "deadline": "5个工作日内", "unit_ids": [lushi]}
    assert api.post(f"/plans/{pid}/problems", "smx_deputy", json=counted).status_code == 201
    data = export(api, pid, "smx_deputy", "sanmenxia").data
    body = preview(api, pid, "smx_deputy", edited(data, lambda ws: ws.cell(3, 10, "已完成排查"))).get_json()
    assert imported(api, pid, "smx_deputy", body["token"])["progress_notes"] > 0
    for day in ("2022-06-09", "2022-06-10", "2022-06-13"):
        assert app.test_cli_runner().invoke(args=["holiday", day]).exit_code == 0
    clock.now = datetime(2022, 7, 1, 1, 1, tzinfo=UTC)
    rt = app.extensions["rectify"]
    with app.app_context():
        jobs.tick(rt, clock.now)
        s = rt.db.session()
        kinds = set(s.scalars(select(TaskEvent.kind).distinct()))
        unchained = s.scalar(select(TaskEvent.id).where(TaskEvent.chain_hash.is_(None)).limit(1))
        s.rollback()
    assert {"created", "progress_note", "deadline_moved", "escalation"} <= kinds, kinds
    assert unchained is None
    result = verify(app, "--no-files")
    assert result.exit_code == 0, result.output


def test_a_batch_of_events_large_enough_for_copy_is_numbered_chained_and_stored_as_given(app, rt):
    """A sweep's escalations go into the history as one large batch (by COPY on
    PostgreSQL): each is numbered after its task's latest, chained to it, and reads back
    with its words and data as given; the whole chain then verifies."""
    at = datetime(2022, 6, 21, 1, 1, tzinfo=UTC)
    s = rt.db.session()
    tasks = s.scalars(select(Task).order_by(Task.id).limit(3)).all()
    before = {t.id: s.scalar(select(func.max(TaskEvent.seq)).where(TaskEvent.task_id == t.id)) or 0 for t in tasks}
    s.rollback()
    n = history.COPY_FROM + 1
    events = [
        history.Event(t.id, "escalation", t.state, t.state, None, f"升级（{i}）", {"level": i, "单位": "卢氏县"})
        for i, t in ((i, tasks[i % 3]) for i in range(n))
    ]
    with rt.db.transaction() as s:
        seqs = history.append(s, events, at)
    assert seqs == [before[e.task_id] + 1 + i // 3 for i, e in enumerate(events)]
    s = rt.db.session()
    stored = s.scalars(
        select(TaskEvent).where(TaskEvent.kind == "escalation", TaskEvent.at == at).order_by(TaskEvent.id)
    ).all()
    s.rollback()
    assert [(e.task_id, e.seq, e.comment, e.data, e.at) for e in stored] == [
        (e.task_id, seq, e.comment, e.data, at) for e, seq in zip(events, seqs, strict=True)
    ]
    result = verify(app, "--no-files")
    assert result.exit_code == 0, result.output


def test_the_campaign_demo_played_through_the_services_verifies(campaign_sqlite):
    """Weeks of steps, uploads, urges, extensions, sweeps and spot checks as `make run` loads them."""
    from app import create_app
    from config import TestConfig

    url, instance = campaign_sqlite
    application = create_app(TestConfig(url, instance))
    try:
        result = verify(application)
        assert result.exit_code == 0, result.output
        assert re.search(r"intact: \d{3,} events of \d+ tasks \(sm3\), [1-9]\d* evidence files checked", result.output)
    finally:
        application.extensions["rectify"].db.dispose()


def test_a_signed_in_reader_recomputes_a_printed_head_over_the_api_for_a_scope_they_see(api, app, backend, clock):
    tid = rectify_with_evidence(api)
    pid = api.get(f"/tasks/{tid}", "lushi_handler").get_json()["plan_id"]
    lushi = me_unit(api, "lushi_handler")
    line = export_head(api.get(f"/plans/{pid}/ledger.csv", "lushi_handler").data, "csv")
    head = re.search(r"--head (\S+)", line).group(1)
    as_of = re.search(r"--as-of (\S+)", line).group(1)
    query = {"as_of": as_of, "plan_id": pid, "unit_id": lushi, "head": head}
    r = api.get("/chain/head", "lushi_head", query_string=query)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["head"], body["matches"], body["tasks"]) == (head, True, 9)
    assert api.get("/chain/head", "smx_deputy", query_string=query).get_json()["matches"] is True, "the city too"
    r = api.get("/chain/head", "hubin_handler", query_string=query)
    assert r.status_code == 404, "another county's part is out of its sight"
    r = api.get("/chain/head", "lushi_head", query_string={"as_of": as_of, "plan_id": pid})
    assert r.status_code == 403 and "unit_id" in r.get_json()["message"], "the whole plan is the issuing side's"
    r = api.get("/chain/head", "lushi_head", query_string=query | {"as_of": "2022-06-08T09:00:00"})
    assert r.status_code == 422

    engine = app.extensions["rectify"].db.engine
    behind_the_back(
        engine, backend, "UPDATE task_events SET actor_id = NULL WHERE task_id = :t AND seq = 2", {"t": tid}
    )
    body = api.get("/chain/head", "lushi_head", query_string=query).get_json()
    assert body["matches"] is False and body["head"] != head
