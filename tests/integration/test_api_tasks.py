"""Listing, reading and moving tasks over the JSON API: filters, paging, scope,
the transition rules, optimistic locking and two users racing for one task."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta

import pytest

from app.demo import SMX_COUNTIES, YZ_TOWNS

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SMX_PLAN_NO = "三建〔2022〕187号"
YZ_PLAN_NO = "禹建〔2022〕39号"
# the morning after 20 June, China time: the 6月20日 and 6月中旬前 deadlines have passed
AFTER_JUNE_20 = datetime(2022, 6, 20, 16, 0, tzinfo=UTC)

pytestmark = pytest.mark.presigned  # not about signing in: tokens minted up front


def units(api) -> dict[str, int]:
    return {u["name"]: u["id"] for u in api.get("/units", "admin").get_json()}


def plan_id(api, doc_number: str) -> int:
    return next(p["id"] for p in api.get("/plans", "admin").get_json() if p["doc_number"] == doc_number)


def page(api, as_user: str, **query) -> dict:
    r = api.get("/tasks", as_user, query_string=query)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def task(api, tid: int, as_user: str = "admin") -> dict:
    r = api.get(f"/tasks/{tid}", as_user)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def history(api, tid: int, as_user: str = "admin") -> list[dict]:
    r = api.get(f"/tasks/{tid}/history", as_user)
    assert r.status_code == 200
    return r.get_json()


def transition(api, tid: int, as_user: str, to: str, comment: str = "", version: int | None = None):
    version = task(api, tid, as_user)["version"] if version is None else version
    return api.post(f"/tasks/{tid}/transitions", as_user, json={"to": to, "version": version, "comment": comment})


def move(api, tid: int, as_user: str, to: str, comment: str = "") -> dict:
    r = transition(api, tid, as_user, to, comment)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def upload(api, tid: int, as_user: str) -> int:
    r = api.post(f"/tasks/{tid}/evidence", as_user, data={"file": (io.BytesIO(PNG), "照片.png")})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def to_rectified(api, tid: int, handler: str = "lushi_handler") -> None:
    move(api, tid, handler, "in_progress")
    upload(api, tid, handler)
    move(api, tid, handler, "rectified", "已整改")


# ---- listing and filters ----------------------------------------------------------------


def test_each_listed_task_has_id_state_due_time_with_offset_unit_and_version(api):
    items = page(api, "admin", per_page=200)["items"]
    assert len(items) == 67
    for item in items:
        assert isinstance(item["id"], int) and isinstance(item["unit_id"], int)
        assert item["state"] == "identified" and item["version"] == 1
        if item["deadline_kind"] == "date":
            due = datetime.fromisoformat(item["due_at"])
            assert due.utcoffset() == timedelta(0), item["due_at"]  # an instant, not a local time
            assert (due.hour, due.minute, due.second) == (15, 59, 59)  # 23:59:59 in China
        else:
            assert item["due_at"] is None
    # earliest deadline first; 立行立改 (no date) at the end
    dues = [i["due_at"] for i in items]
    dated = [d for d in dues if d is not None]
    assert dated == sorted(dated, key=datetime.fromisoformat)
    assert dues[: len(dated)] == dated


def test_tasks_are_filtered_by_plan_unit_and_state(api):
    u = units(api)
    smx_plan, yz_plan = plan_id(api, SMX_PLAN_NO), plan_id(api, YZ_PLAN_NO)
    smx = page(api, "admin", plan_id=smx_plan, per_page=200)
    assert smx["total"] == 57 and {i["plan_id"] for i in smx["items"]} == {smx_plan}
    assert page(api, "admin", plan_id=yz_plan)["total"] == 10
    lushi = page(api, "admin", unit_id=u[SMX_COUNTIES["lushi"]], per_page=200)
    assert lushi["total"] == 9 and {i["unit_id"] for i in lushi["items"]} == {u[SMX_COUNTIES["lushi"]]}
    assert page(api, "admin", plan_id=yz_plan, unit_id=u[SMX_COUNTIES["lushi"]])["total"] == 0

    tid = lushi["items"][0]["id"]
    move(api, tid, "lushi_handler", "in_progress")
    started = page(api, "admin", state="in_progress")
    assert [i["id"] for i in started["items"]] == [tid] and started["total"] == 1
    assert page(api, "admin", state="identified")["total"] == 66
    assert page(api, "admin", state="closed")["total"] == 0


def test_the_overdue_filter_follows_the_clock(api, clock):
    smx_plan = plan_id(api, SMX_PLAN_NO)
    assert page(api, "admin", overdue="true")["total"] == 0
    assert page(api, "admin", overdue="false")["total"] == 67

    clock.now = AFTER_JUNE_20
    overdue = page(api, "smx_head", plan_id=smx_plan, overdue="true", per_page=200)
    # two problems of the city plan are due 6月20日: one task per county each
    assert overdue["total"] == 14
    assert all(i["overdue"] for i in overdue["items"])
    assert {i["problem_title"] for i in overdue["items"]} == {"农村危房改造不及时", "乡村建设存在短板"}
    not_overdue = page(api, "smx_head", plan_id=smx_plan, overdue="false", per_page=200)
    assert not_overdue["total"] == 57 - 14 and not any(i["overdue"] for i in not_overdue["items"])
    # every deadline of the Yuzhou campaign has passed by then
    assert page(api, "admin", overdue="true")["total"] == 14 + 10

    # a task that is handed in is no longer overdue, one that is only started still is
    rectified, started = overdue["items"][0]["id"], overdue["items"][1]["id"]
    u = units(api)
    unit_user = {u[name]: f"{key}_handler" for key, name in SMX_COUNTIES.items()}
    to_rectified(api, rectified, unit_user[overdue["items"][0]["unit_id"]])
    move(api, started, unit_user[overdue["items"][1]["unit_id"]], "in_progress")
    after = page(api, "smx_head", plan_id=smx_plan, overdue="true", per_page=200)
    assert after["total"] == 13
    assert rectified not in {i["id"] for i in after["items"]} and started in {i["id"] for i in after["items"]}
    assert task(api, rectified)["overdue"] is False and task(api, started)["overdue"] is True


def test_tasks_come_in_pages_with_the_total_for_the_filter(api):
    smx_plan = plan_id(api, SMX_PLAN_NO)
    seen = []
    for n in range(1, 7):
        p = page(api, "smx_head", plan_id=smx_plan, page=n, per_page=10)
        assert p["total"] == 57 and p["page"] == n and p["per_page"] == 10
        assert len(p["items"]) == (10 if n < 6 else 7)
        seen += [i["id"] for i in p["items"]]
    assert len(seen) == len(set(seen)) == 57
    beyond = page(api, "smx_head", plan_id=smx_plan, page=7, per_page=10)
    assert beyond["items"] == [] and beyond["total"] == 57
    assert page(api, "smx_head")["per_page"] == 50  # the default
    for bad in ({"per_page": 0}, {"per_page": 201}, {"page": 0}, {"state": "done"}, {"overdue": "maybe"}):
        r = api.get("/tasks", "smx_head", query_string=bad)
        assert r.status_code == 422, bad
        assert r.get_json()["details"][0]["field"] == next(iter(bad))


# ---- who sees what ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "user, unit, count",
    [
        ("lushi_handler", SMX_COUNTIES["lushi"], 9),
        ("hubin_head", SMX_COUNTIES["hubin"], 8),
        ("gucheng_handler", YZ_TOWNS["gucheng"], 3),
    ],
)
def test_a_county_or_township_user_sees_only_their_own_units_tasks(api, user, unit, count):
    mine = page(api, user, per_page=200)
    assert mine["total"] == count
    assert {i["unit_id"] for i in mine["items"]} == {units(api)[unit]}
    # asking for the whole plan does not widen the view
    plan = mine["items"][0]["plan_id"]
    assert page(api, user, plan_id=plan, per_page=200)["total"] == count


def test_supervisors_and_viewers_of_the_issuing_unit_see_every_task_of_their_plan(api):
    smx_plan, yz_plan = plan_id(api, SMX_PLAN_NO), plan_id(api, YZ_PLAN_NO)
    for user in ("smx_head", "smx_deputy", "smx_handler", "smx_viewer"):
        assert page(api, user)["total"] == 57, user
        assert page(api, user, plan_id=yz_plan)["total"] == 0, user
    assert page(api, "yz_deputy")["total"] == 10
    assert page(api, "yz_deputy", plan_id=smx_plan)["total"] == 0


@pytest.mark.parametrize("outsider", ["hubin_handler", "hubin_head", "gucheng_handler", "yz_deputy"])
def test_another_units_task_is_not_found_rather_than_forbidden(api, outsider):
    lushi_task = api.task_of("lushi_handler")["id"]
    upload(api, lushi_task, "lushi_handler")
    missing = api.get("/tasks/999999", outsider)
    assert missing.status_code == 404
    for path in (f"/tasks/{lushi_task}", f"/tasks/{lushi_task}/history", f"/tasks/{lushi_task}/evidence"):
        r = api.get(path, outsider)
        assert r.status_code == 404, path
        assert r.is_json and r.get_json()["error"] == "not_found"
    hidden = api.get(f"/tasks/{lushi_task}", outsider).get_json()["message"]
    assert hidden.replace(str(lushi_task), "N") == missing.get_json()["message"].replace("999999", "N")
    r = transition(api, lushi_task, outsider, "in_progress", version=1)
    assert r.status_code == 404
    assert task(api, lushi_task)["version"] == 1


def test_one_task_reads_the_same_as_in_the_list_and_offers_the_moves_of_the_reader(api):
    item = api.task_of("lushi_handler")
    assert task(api, item["id"], "lushi_handler") == item
    assert item["allowed"] == ["in_progress"]
    assert task(api, item["id"], "smx_deputy")["allowed"] == ["withdrawn"]  # the supervisor may withdraw it
    assert task(api, item["id"], "smx_viewer")["allowed"] == []


# ---- transitions ------------------------------------------------------------------------


def test_a_task_moves_forward_and_each_step_is_recorded_with_who_and_the_server_time(api, clock):
    tid = api.task_of("lushi_handler")["id"]
    clock.now = datetime(2022, 6, 9, 2, 30, tzinfo=UTC)
    started = move(api, tid, "lushi_handler", "in_progress")
    assert started["state"] == "in_progress" and started["version"] == 2
    assert started["owner_id"] == api.get("/me", "lushi_handler").get_json()["id"]
    assert started["allowed"] == ["rectified"]
    ev = upload(api, tid, "lushi_handler")
    clock.advance(days=2)
    done = move(api, tid, "lushi_handler", "rectified", "已拆除旧房，附照片")
    assert done["state"] == "rectified" and done["version"] == 3 and done["allowed"] == []
    assert task(api, tid, "smx_deputy")["allowed"] == ["in_progress", "verified", "withdrawn"]
    clock.advance(hours=3)
    assert move(api, tid, "smx_deputy", "verified")["state"] == "verified"
    assert move(api, tid, "smx_head", "closed")["state"] == "closed"
    events = history(api, tid, "lushi_handler")
    assert [(e["seq"], e["from_state"], e["to_state"]) for e in events] == [
        (1, None, "identified"),
        (2, "identified", "in_progress"),
        (3, "in_progress", "rectified"),
        (4, "rectified", "verified"),
        (5, "verified", "closed"),
    ]
    assert [datetime.fromisoformat(e["at"]) for e in events[1:]] == [
        datetime(2022, 6, 9, 2, 30, tzinfo=UTC),
        datetime(2022, 6, 11, 2, 30, tzinfo=UTC),
        datetime(2022, 6, 11, 5, 30, tzinfo=UTC),
        datetime(2022, 6, 11, 5, 30, tzinfo=UTC),
    ]
    names = [e["actor_name"] for e in events[1:]]
    assert names[0] == names[1] == "卢氏县住房和城乡建设局经办人"
    assert names[2:] == ["三门峡市住房和城乡建设局分管领导", "三门峡市住房和城乡建设局主要领导"]
    assert events[2]["comment"] == "已拆除旧房，附照片" and events[2]["evidence_ids"] == [ev]


def test_a_transition_cannot_carry_its_own_time_or_actor(api):
    tid = api.task_of("lushi_handler")["id"]
    for extra in ({"at": "2022-05-01T00:00:00+08:00"}, {"actor_id": 1}):
        r = api.post(f"/tasks/{tid}/transitions", "lushi_handler", json={"to": "in_progress", "version": 1} | extra)
        assert r.status_code == 422
    assert task(api, tid)["version"] == 1


def test_a_move_along_no_edge_of_the_workflow_is_a_409_conflict(api):
    tid = api.task_of("lushi_handler")["id"]
    for user, to in (
        ("smx_head", "closed"),
        ("smx_deputy", "verified"),
        ("lushi_handler", "rectified"),
        ("lushi_handler", "identified"),
    ):
        r = transition(api, tid, user, to, "说明")
        assert r.status_code == 409, (user, to)
        assert r.get_json()["error"] == "conflict"
    assert task(api, tid)["state"] == "identified" and task(api, tid)["version"] == 1
    assert len(history(api, tid)) == 1


def test_a_move_by_the_wrong_side_is_a_403(api):
    tid = api.task_of("lushi_handler")["id"]
    # the supervising side does not do the unit's work
    r = transition(api, tid, "smx_deputy", "in_progress")
    assert r.status_code == 403 and r.get_json()["error"] == "forbidden"
    to_rectified(api, tid)
    # the unit never verifies its own work, and a viewer moves nothing
    for user in ("lushi_handler", "lushi_head", "smx_viewer"):
        r = transition(api, tid, user, "verified")
        assert r.status_code == 403, user
    assert transition(api, tid, "smx_viewer", "in_progress", "不行").status_code == 403
    assert task(api, tid)["state"] == "rectified" and task(api, tid)["version"] == 3
    assert len(history(api, tid)) == 3


def test_rectifying_needs_an_account_and_evidence_and_rejecting_needs_a_reason(api):
    tid = api.task_of("lushi_handler")["id"]
    move(api, tid, "lushi_handler", "in_progress")
    # a written account but no evidence
    r = transition(api, tid, "lushi_handler", "rectified", "已整改")
    assert r.status_code == 422 and "佐证" in r.get_json()["message"]
    upload(api, tid, "lushi_handler")
    # evidence but no (or a blank) account
    for comment in ("", "   "):
        r = transition(api, tid, "lushi_handler", "rectified", comment)
        assert r.status_code == 422 and r.get_json()["error"] == "invalid"
    assert task(api, tid)["version"] == 2
    move(api, tid, "lushi_handler", "rectified", "已整改")
    # a rejection without a reason
    r = transition(api, tid, "smx_deputy", "in_progress")
    assert r.status_code == 422
    assert task(api, tid)["state"] == "rectified"
    rejected = move(api, tid, "smx_deputy", "in_progress", "照片看不清")
    assert rejected["state"] == "in_progress"
    assert history(api, tid)[-1]["comment"] == "照片看不清"


def test_a_rectification_may_only_attach_unused_evidence_of_its_own_task(api):
    u = units(api)
    mine, other = (i["id"] for i in page(api, "lushi_handler", per_page=2)["items"])
    hubin_task = page(api, "hubin_handler", unit_id=u[SMX_COUNTIES["hubin"]])["items"][0]["id"]
    move(api, mine, "lushi_handler", "in_progress")
    kept, chosen = upload(api, mine, "lushi_handler"), upload(api, mine, "lushi_handler")
    foreign = [upload(api, other, "lushi_handler"), upload(api, hubin_task, "hubin_handler")]
    for ids in ([foreign[0]], [foreign[1]], [chosen, 999999]):
        r = api.post(
            f"/tasks/{mine}/transitions",
            "lushi_handler",
            json={"to": "rectified", "comment": "已整改", "version": 2, "evidence_ids": ids},
        )
        assert r.status_code == 422, ids
    assert task(api, mine)["version"] == 2
    r = api.post(
        f"/tasks/{mine}/transitions",
        "lushi_handler",
        json={"to": "rectified", "comment": "已整改", "version": 2, "evidence_ids": [chosen]},
    )
    assert r.status_code == 200, r.get_json()
    assert history(api, mine)[-1]["evidence_ids"] == [chosen]
    unused = [e["id"] for e in api.get(f"/tasks/{mine}/evidence", "admin").get_json() if e["event_id"] is None]
    assert unused == [kept]


def test_a_plan_without_evidence_requirement_accepts_a_rectification_without_files(api):
    u = units(api)
    plan = api.post(
        "/plans", "smx_deputy", json={"title": "无需佐证的方案", "issued_on": "2022-06-07", "evidence_required": False}
    ).get_json()
    api.post(
        f"/plans/{plan['id']}/problems",
        "smx_deputy",
        json={"nature": "individual", "title": "x", "deadline": "6月30日", "unit_ids": [u[SMX_COUNTIES["lushi"]]]},
    )
    tid = page(api, "lushi_handler", plan_id=plan["id"])["items"][0]["id"]
    move(api, tid, "lushi_handler", "in_progress")
    assert transition(api, tid, "lushi_handler", "rectified", "已整改").status_code == 200


def test_a_closed_task_can_be_reopened_by_the_supervisor_with_a_reason_and_it_is_recorded(api):
    tid = api.task_of("lushi_handler")["id"]
    to_rectified(api, tid)
    move(api, tid, "smx_deputy", "verified")
    move(api, tid, "smx_head", "closed")
    assert transition(api, tid, "smx_deputy", "in_progress").status_code == 422
    assert transition(api, tid, "lushi_handler", "in_progress", "我们自己重开").status_code == 403
    reopened = move(api, tid, "smx_deputy", "in_progress", "抽查发现问题反弹")
    assert reopened["state"] == "in_progress"
    assert [(e["from_state"], e["to_state"]) for e in history(api, tid)][-2:] == [
        ("verified", "closed"),
        ("closed", "in_progress"),
    ]


def test_a_stale_version_is_a_409_and_changes_nothing(api):
    tid = api.task_of("lushi_handler")["id"]
    move(api, tid, "lushi_handler", "in_progress")
    upload(api, tid, "lushi_handler")
    before, events = task(api, tid), history(api, tid)
    for version in (1, 3, 99):
        r = transition(api, tid, "lushi_handler", "rectified", "已整改", version=version)
        assert r.status_code == 409, version
        assert r.get_json()["error"] == "conflict" and "版本" in r.get_json()["message"]
    assert task(api, tid) == before
    assert history(api, tid) == events
    # the evidence was not used up by the refused attempts
    assert transition(api, tid, "lushi_handler", "rectified", "已整改", version=2).status_code == 200
    assert history(api, tid)[-1]["evidence_ids"] != []


def _race(app, token: str, tid: int, body: dict, n: int = 2) -> list[int]:
    """Post the same request from ``n`` threads at once, each with its own client."""
    barrier = threading.Barrier(n)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=10)
            r = client.post(f"/api/v1/tasks/{tid}/transitions", json=body, headers={"Authorization": f"Bearer {token}"})
            statuses.append(r.status_code)
        except BaseException as err:  # surfaced in the main thread
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return statuses


def test_two_concurrent_identical_transitions_one_wins_and_the_other_gets_409(app, api):
    tid = api.task_of("lushi_handler")["id"]
    before = len(history(api, tid))
    statuses = _race(app, api.token("lushi_handler"), tid, {"to": "in_progress", "version": 1})
    assert sorted(statuses) == [200, 409]
    after = history(api, tid)
    assert len(after) == before + 1
    assert [(e["from_state"], e["to_state"]) for e in after[1:]] == [("identified", "in_progress")]
    assert task(api, tid)["version"] == 2


def test_a_verification_raced_against_a_rejection_leaves_exactly_one_of_them(app, api):
    tid = api.task_of("lushi_handler")["id"]
    to_rectified(api, tid)
    barrier = threading.Barrier(2)
    results: dict[str, int] = {}

    def worker(user: str, body: dict) -> None:
        client = app.test_client()
        barrier.wait(timeout=10)
        r = client.post(
            f"/api/v1/tasks/{tid}/transitions", json=body, headers={"Authorization": f"Bearer {api.token(user)}"}
        )
        results[user] = r.status_code

    threads = [
        threading.Thread(target=worker, args=("smx_deputy", {"to": "verified", "version": 3})),
        threading.Thread(target=worker, args=("smx_head", {"to": "in_progress", "version": 3, "comment": "不合格"})),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results.values()) == [200, 409]
    events = history(api, tid)
    assert len(events) == 4 and task(api, tid)["version"] == 4
    winner = "verified" if results["smx_deputy"] == 200 else "in_progress"
    assert events[-1]["to_state"] == winner == task(api, tid)["state"]
