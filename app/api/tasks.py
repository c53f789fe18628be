"""Tasks, transitions, history and evidence."""

from __future__ import annotations

from flask import g, request

from app.api import bp, now, rt, spec
from app.http import stored_file
from app.schemas import (
    AckAllOut,
    AckIn,
    ChainHeadOut,
    ChainHeadQuery,
    EventOut,
    EvidenceOut,
    NarrowIn,
    ReasonIn,
    ReassignIn,
    SplitIn,
    SplitOut,
    TaskOut,
    TaskPage,
    TaskQuery,
    TransitionIn,
)
from app.services import chain, evidence, receipt, tasks
from app.services.errors import Invalid
from app.services.files import ALLOWED

EVIDENCE_TYPES = tuple(sorted(set(ALLOWED.values())))  # what an evidence file is served as


@spec.route(bp, "/tasks", "GET", summary="Tasks you can see, filtered and paged", query=TaskQuery, response=TaskPage)
def list_tasks(query: TaskQuery):
    found = tasks.list_tasks(rt().db, g.user, query, now())
    return TaskPage(
        items=[v.out() for v in found.items],
        total=found.total,
        more=found.more,
        has_next=found.has_next,
        next=found.next,
        prev=found.prev,
        page=query.page,
        per_page=query.per_page,
    )


@spec.route(bp, "/tasks/<int:task_id>", "GET", summary="One task", response=TaskOut)
def get_task(task_id: int):
    return tasks.get_task(rt().db, g.user, task_id, now()).out()


@spec.route(
    bp,
    "/tasks/<int:task_id>/transitions",
    "POST",
    summary="Move a task to another state",
    body=TransitionIn,
    response=TaskOut,
)
def transition(task_id: int, body: TransitionIn):
    return tasks.transition_task(rt().db, g.user, task_id, body, now()).out()


@spec.route(bp, "/tasks/<int:task_id>/history", "GET", summary="The append-only history", response=EventOut, many=True)
def history(task_id: int):
    return [
        EventOut(
            seq=e.seq,
            kind=e.kind,
            from_state=e.from_state,
            to_state=e.to_state,
            actor_id=e.actor_id,
            actor_name=e.actor.full_name or e.actor.username if e.actor else None,
            at=e.at,
            comment=e.comment,
            data=e.data or {},
            evidence_ids=ids,
        )
        for e, ids in tasks.history(rt().db, g.user, task_id)
    ]


@spec.route(
    bp, "/tasks/<int:task_id>/evidence", "GET", summary="Evidence files of a task", response=EvidenceOut, many=True
)
def list_evidence(task_id: int):
    return [EvidenceOut.model_validate(e) for e in evidence.list_evidence(rt().db, g.user, task_id)]


@spec.route(
    bp,
    "/tasks/<int:task_id>/evidence",
    "POST",
    summary="Upload one evidence file (multipart, field 'file')",
    response=EvidenceOut,
    status=201,
    form_file=True,
)
def upload_evidence(task_id: int):
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Invalid("请以 multipart/form-data 上传，字段名为 file。")
    runtime = rt()
    ev = evidence.store_evidence(
        runtime.db,
        runtime.config.UPLOAD_DIR,
        runtime.config.MAX_UPLOAD_BYTES,
        g.user,
        task_id,
        upload.stream,
        upload.filename,
        now(),
    )
    return EvidenceOut.model_validate(ev)


@spec.route(
    bp,
    "/evidence/<int:evidence_id>/content",
    "GET",
    summary="Download an evidence file",
    raw_response=EVIDENCE_TYPES,
)
def download_evidence(evidence_id: int):
    runtime = rt()
    ev, path = evidence.open_evidence(runtime.db, runtime.config.UPLOAD_DIR, g.user, evidence_id)
    return stored_file(path, ev.content_type, ev.original_name)


@spec.route(
    bp,
    "/chain/head",
    "GET",
    summary="Recompute the chain head a report, export or 督办单 printed, for its scope and instant",
    query=ChainHeadQuery,
    response=ChainHeadOut,
)
def chain_head(query: ChainHeadQuery):
    algorithm = query.head.partition(":")[0] if query.head else None
    head = chain.recompute_head(
        rt().db,
        g.user,
        as_of=query.as_of,
        plan_id=query.plan_id,
        unit_id=query.unit_id,
        task_ids=[int(t) for t in query.tasks.split(",")] if query.tasks else (),
        algorithm=algorithm,
    )
    return ChainHeadOut(
        head=head.value,
        algorithm=head.algorithm,
        digest=head.digest,
        tasks=head.tasks,
        events=head.events,
        as_of=head.as_of,
        matches=None if query.head is None else query.head == head.value,
    )


# ---- 签收 and 转办 (app.services.receipt) -------------------------------------------------------
@spec.route(
    bp, "/tasks/<int:task_id>/acknowledge", "POST", summary="签收: acknowledge a task", body=AckIn, response=TaskOut
)
def acknowledge(task_id: int, body: AckIn):
    return receipt.acknowledge(rt().db, g.user, task_id, body.version, now()).out()


@spec.route(
    bp,
    "/tasks/<int:task_id>/decline",
    "POST",
    summary="拒收: decline a task with a reason",
    body=ReasonIn,
    response=TaskOut,
)
def decline(task_id: int, body: ReasonIn):
    return receipt.decline(rt().db, g.user, task_id, body.reason, body.version, now()).out()


@spec.route(
    bp,
    "/tasks/<int:task_id>/insist",
    "POST",
    summary="维持交办: the declined task stands (the unit must acknowledge it)",
    body=ReasonIn,
    response=TaskOut,
)
def insist(task_id: int, body: ReasonIn):
    return receipt.insist(rt().db, g.user, task_id, body.reason, body.version, now()).out()


@spec.route(
    bp,
    "/tasks/<int:task_id>/narrow",
    "POST",
    summary="缩小范围: rewrite what a declined task asks of its unit",
    body=NarrowIn,
    response=TaskOut,
)
def narrow(task_id: int, body: NarrowIn):
    return receipt.narrow(rt().db, g.user, task_id, body.scope, body.reason, body.version, now()).out()


@spec.route(
    bp,
    "/tasks/<int:task_id>/reassign",
    "POST",
    summary="转办: move a task to another unit",
    body=ReassignIn,
    response=TaskOut,
)
def reassign(task_id: int, body: ReassignIn):
    return receipt.reassign(rt().db, g.user, task_id, body.unit_id, body.reason, body.version, now()).out()


@spec.route(
    bp,
    "/tasks/<int:task_id>/split",
    "POST",
    summary="分办: give other units a task of the same problem",
    body=SplitIn,
    response=SplitOut,
    status=201,
)
def split(task_id: int, body: SplitIn):
    created = receipt.split(rt().db, g.user, task_id, body.unit_ids, body.reason, body.version, now())
    return SplitOut(task_id=task_id, created=created)


@spec.route(
    bp,
    "/plans/<int:plan_id>/acknowledge",
    "POST",
    summary="签收全部: acknowledge all of a plan's tasks awaiting your unit's acknowledgement",
    response=AckAllOut,
)
def acknowledge_all(plan_id: int):
    return AckAllOut(acknowledged=receipt.acknowledge_all(rt().db, g.user, plan_id, now()))
