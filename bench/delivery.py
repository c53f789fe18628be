"""Delivery benchmark: outbox e-mail through Celery to a local SMTP server.

What it measures
  * delivery     ``--messages`` pending e-mail rows (default 5,000) handed to a real
                 ``celery -A workers.celery_app worker --pool=prefork --concurrency=2`` as
                 rectify.deliver tasks of ``--chunk`` ids (default 100, as rectify.tick does);
                 messages/second from the first enqueue until the SMTP server has recorded
                 them all (aim: >= 500/s), and duplicates by X-Rectify-Key (must be 0).
  * smtp_floor   the same SMTP server fed by ``--floor-procs`` plain smtplib clients (one
                 connection each, no database) with the same number of mails, each the very
                 bytes delivery writes for such a row (composed beforehand by the service's
                 own code, untimed: same_mails), timed from the moment every client is
                 connected: what the transport alone allows on this host for these mails.
                 Measured right beside each delivery (--repeat pairs, the floor after the
                 delivery, then before it, in turn: the host's load drifts), each pair's
                 ratio printed and their median. Per pair, where the delivery's CPU went
                 (milliseconds per mail: the server, this process; the worker, its process
                 tree; PostgreSQL, every postgres process; read from /proc) and the ceiling
                 that leaves on this host: cores / their sum, beside the floor. The floor's
                 server needs a core of its own; what the worker and PostgreSQL take besides
                 comes out of the same cores. Beside it smtp_floor_send_message, the
                 earlier baseline: smtplib flattening small plain-text EmailMessages of its
                 own as it sends them (its clients' own Python work made it the lower one).
  * warm-up      before the timed pairs, ``--warm-up`` rows (default 400: two tasks per pool
                 process) go through the same worker untimed, and the line says so. A
                 production worker runs for days: what it costs per mail is its steady
                 state, not its first tasks (each child's first SMTP session, the first
                 claims' SQLAlchemy statement cache, PostgreSQL's first plans). The worker
                 warms itself up at process start too (workers/celery_app.py); this covers
                 the rest. ``--warm-up 0`` times a cold worker; the floor has no warm-up of
                 its own to match, as smtplib has nothing to warm.
  * in_process   ``app.jobs.deliver_due`` called in this process, chunk by chunk, on rows of
                 its own (no Celery, no Redis): the per-process ceiling of the service code.

How
  A fresh PostgreSQL database ``rectify_bench_delivery_<pid>`` (migrated; one unit with
  --users users that have e-mail addresses) and Redis database --redis-db (default 12,
  FLUSHDB before and after) are used; both are cleaned up at exit, also on error or
  Ctrl-C. The SMTP server is aiosmtpd in this process (the recorder of
  tests/integration/celery_fixtures.py), the worker a child process group that is killed
  at the end.

Run (from the project root; PostgreSQL at RECTIFY_TEST_PG or 127.0.0.1:5432, Redis at 127.0.0.1:6379)
  .venv/bin/python bench/delivery.py
  .venv/bin/python bench/delivery.py --messages 20000 --chunk 200
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import smtplib
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cpu  # noqa: E402  (bench/ is on sys.path when run as a script)
from pgadmin import admin_sql  # noqa: E402
from sqlalchemy import delete, func, insert, select  # noqa: E402

from app.db import Database  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.models import Notification, Unit, User  # noqa: E402
from tests.integration.celery_fixtures import (  # noqa: E402
    SENDER,
    Worker,
    celery_client,
    email_status,
    insert_pending_emails,
    redis_client,
    start_mail_server,
    wait_for,
    worker_env,
)


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def setup_db(url: str, n_users: int) -> None:
    upgrade(url)
    db = Database(url)
    try:
        with db.transaction() as s:
            unit = s.scalar(
                insert(Unit).returning(Unit.id), [{"name": "基准县住房和城乡建设局", "kind": "县级", "path": "/1/"}]
            )
            s.execute(
                insert(User),
                [
                    {
                        "username": f"user{i}",
                        "password_hash": "x",
                        "full_name": f"经办人{i}",
                        "unit_id": unit,
                        "role": "official",
                        "position": "handler",
                        "email": f"user{i}@bench.example.cn",
                    }
                    for i in range(n_users)
                ],
            )
    finally:
        db.dispose()


# ---- floor: smtplib alone -------------------------------------------------------------
def _smtp_client(port: int, n: int, tag: str, ready, mails: list[tuple[str, bytes]] | None = None) -> None:
    """One smtplib client: ``mails`` (recipient, wire bytes) as given, else ``n`` small
    plain-text messages built here."""
    if mails is None:
        mails = []
        for i in range(n):
            m = EmailMessage()
            m["From"] = SENDER
            m["To"] = f"user{i}@bench.example.cn"
            m["Subject"] = f"【整改提醒】测试事项{i}"
            m["X-Rectify-Key"] = f"floor:{tag}:{i}"
            m.set_content(f"测试事项{i}须于明日前完成。\n" * 10, cte="base64")
            mails.append((m["To"], m.as_bytes()))
    smtp = smtplib.SMTP("127.0.0.1", port)
    smtp.ehlo()
    ready.wait()  # every client connected, its messages built: the clock starts
    for to, data in mails:
        smtp.sendmail(SENDER, [to], data)
    smtp.quit()


def smtp_floor(
    port: int, recorder, n: int, procs: int, mails: list[tuple[str, bytes]] | None = None
) -> tuple[float, float]:
    """Mails per second the server takes from ``procs`` smtplib clients: ``mails`` split
    between them (the very bytes a delivery sends, see :func:`same_mails`), or ``n``
    small plain-text messages of their own; and the server's CPU milliseconds per mail
    (this process: the server's thread, and the main thread waiting on the clients)."""
    before = recorder.total
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Barrier(procs + 1)
    share = [None] * procs if mails is None else [mails[p::procs] for p in range(procs)]
    workers = [ctx.Process(target=_smtp_client, args=(port, n // procs, str(p), ready, share[p])) for p in range(procs)]
    for w in workers:
        w.start()
    ready.wait()  # not counting the clients' start-up (seconds on a loaded host: it made the floor look low)
    t0, server0 = time.perf_counter(), cpu.own()
    for w in workers:
        w.join()
    wall, server = time.perf_counter() - t0, cpu.own() - server0
    got = recorder.total - before
    return got / wall, server / max(got, 1) * 1000


# ---- main -----------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark outbox e-mail delivery through a Celery worker to a local SMTP server.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--messages", type=int, default=5000, help="pending e-mail rows to deliver through Celery")
    p.add_argument("--chunk", type=int, default=100, help="ids per rectify.deliver task")
    p.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    p.add_argument("--users", type=int, default=50, help="recipients the rows are spread over")
    p.add_argument("--floor-procs", type=int, default=2, help="smtplib client processes for the smtp_floor")
    p.add_argument("--repeat", type=int, default=3, help="delivery + floor pairs (the median ratio is reported)")
    p.add_argument(
        "--warm-up", type=int, default=400, help="rows sent through the worker, untimed, before the pairs (0: none)"
    )
    p.add_argument("--in-process", type=int, default=1000, help="rows for the in-process figure (0: skip)")
    p.add_argument("--timeout", type=float, default=600, help="seconds to wait for every message")
    p.add_argument("--redis-db", type=int, default=12, help="Redis database number (flushed before and after)")
    p.add_argument("--redis-host", default="127.0.0.1:6379")
    p.add_argument(
        "--pg-admin-url",
        default=os.environ.get("RECTIFY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        help="a database on the server to connect to for CREATE/DROP DATABASE",
    )
    return p.parse_args(argv)


def same_mails(url: str, port: int, n: int, prefix: str) -> list[tuple[str, bytes]]:
    """The wire bytes of ``n`` mails exactly as delivery writes them (recipient, bytes):
    fresh rows of the bench's kind, claimed, worded and composed by the service's own
    code, then taken out of the outbox again, so that the floor sends what a delivery
    run sends (a delivery mail, text and HTML, is several times a small plain one, and
    the server's work grows with it)."""
    os.environ.update(RECTIFY_SMTP_HOST="127.0.0.1", RECTIFY_SMTP_PORT=str(port), RECTIFY_SMTP_SENDER=SENDER)
    from app import create_app
    from app.services import delivery
    from config import TestConfig

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(TestConfig(url, Path(tmp)))
        rt = app.extensions["rectify"]
        try:
            ids = insert_pending_emails(rt.db, n, prefix)
            now = rt.clock()
            taken = delivery.claim(rt.db, now, "floor", len(ids), ids=ids)
            mails = []
            for row in taken.rows:
                out = delivery._outgoing([row], taken.users, rt.config.BASE_URL)
                mails.append((out.to_email, rt.channels.email._compose(out, now)))
            with rt.db.transaction() as s:
                s.execute(delete(Notification).where(Notification.id.in_(ids)))
        finally:
            rt.db.dispose()
    return mails


def in_process(url: str, port: int, recorder, n: int, chunk: int) -> float:
    """deliver_due in this process on ``n`` fresh rows, ``chunk`` ids at a time: messages/second."""
    os.environ.update(RECTIFY_SMTP_HOST="127.0.0.1", RECTIFY_SMTP_PORT=str(port), RECTIFY_SMTP_SENDER=SENDER)
    from app import create_app, jobs
    from config import TestConfig

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(TestConfig(url, Path(tmp)))
        rt = app.extensions["rectify"]
        try:
            with app.app_context():
                ids = insert_pending_emails(rt.db, n, "inproc")
                before = recorder.total
                t0 = time.perf_counter()
                for start in range(0, n, chunk):
                    jobs.deliver_due(rt, ids=ids[start : start + chunk], limit=chunk)
                wall = time.perf_counter() - t0
                assert recorder.total - before == n, (recorder.total - before, n)
        finally:
            rt.db.dispose()
    return n / wall


def through_celery(db: Database, client, worker, rec, args, prefix: str) -> tuple[float, str, dict, dict]:
    """--messages fresh pending rows sent as rectify.deliver tasks of --chunk ids to the worker:
    (messages/second from the first enqueue until the server has them all, the figure's line,
    keys that arrived more than once, CPU milliseconds per mail of the server (this
    process), the worker (its process tree) and PostgreSQL (every postgres process))."""
    ids = insert_pending_emails(db, args.messages, prefix)
    before, seen, connected = rec.total, dict(rec.keys), rec.connections
    cpu0 = (cpu.own(), cpu.tree(worker.proc.pid), cpu.named("postgres"))
    t0 = time.perf_counter()
    for start in range(0, len(ids), args.chunk):
        client.send_task("rectify.deliver", args=[ids[start : start + args.chunk]])
    t_enqueued = time.perf_counter() - t0
    wait_for(lambda: rec.total - before >= len(ids), args.timeout, f"{len(ids)} messages", interval=0.01)
    wall = time.perf_counter() - t0
    cpu1 = (cpu.own(), cpu.tree(worker.proc.pid), cpu.named("postgres"))
    wait_for(worker.idle, 30, "the worker to finish its tasks")
    time.sleep(0.5)  # any duplicate would arrive now
    with db.transaction() as s:
        attempts = s.scalar(select(func.max(Notification.attempts)).where(Notification.id.in_(ids)))
    dups = {k: n for k, n in rec.duplicates().items() if k not in seen or n > seen[k]}
    rate = len(ids) / wall
    line = (
        f"delivery messages={len(ids)} chunk={args.chunk} concurrency={args.concurrency} wall_s={wall:.2f} "
        f"messages_per_s={rate:.0f} recorded={rec.total - before} duplicates={len(dups)} "
        f"smtp_connections_opened={rec.connections - connected} enqueue_s={t_enqueued:.2f} status={email_status(db)} "
        f"max_attempts={attempts}"
    )
    spent = {
        part: (b - a) / len(ids) * 1000
        for part, a, b in zip(("server", "worker", "postgres"), cpu0, cpu1, strict=True)
        if a is not None and b is not None
    }
    return rate, line, dups, spent


def cpu_line(run: str, spent: dict[str, float], floor_server: float, floor: float) -> str:
    """Where a delivery's CPU went, per mail, and what that allows on this host's cores:
    the server, the worker and PostgreSQL share them, so however well the three overlap,
    delivery cannot pass cores / (their CPU per mail together). That ceiling beside the
    floor says how much of the gap to it is CPU and how much is waiting."""
    cores = os.cpu_count() or 1
    ceiling = cores * 1000 / sum(spent.values())
    parts = " ".join(f"{part}={ms:.2f}" for part, ms in spent.items())
    return (
        f"{run} cpu_ms_per_mail {parts} (server in the floor: {floor_server:.2f}); cpu_ceiling_messages_per_s="
        f"{ceiling:.0f} ({cores} cores / their sum: no delivery on this host passes it) = {ceiling / floor:.2f} "
        f"of the floor"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    redis_url = f"redis://{args.redis_host}/{args.redis_db}"
    redis, why = redis_client(redis_url)
    if redis is None:
        print(f"Redis is not reachable: {why}", file=sys.stderr)
        return 2
    name = f"rectify_bench_delivery_{os.getpid()}"
    url = args.pg_admin_url.rsplit("/", 1)[0] + "/" + name
    admin_sql(args.pg_admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin_sql(args.pg_admin_url, f"CREATE DATABASE {name}")
    mail = start_mail_server()
    worker = None
    load1, _, _ = os.getloadavg()
    print(f"host cpus={os.cpu_count()} loadavg_1m={load1:.2f}")
    try:
        redis.flushdb()
        setup_db(url, args.users)
        db = Database(url)
        dups: dict = {}
        with tempfile.TemporaryDirectory(prefix="rectify_bench_delivery_") as tmp:
            env = worker_env(url, mail.port, Path(tmp) / "instance", redis_url)
            worker = Worker(env, Path(tmp) / "worker.log", "bench", concurrency=args.concurrency).wait_ready()
            client = celery_client(redis_url)
            rec = mail.recorder
            if args.warm_up:
                warm = argparse.Namespace(**{**vars(args), "messages": args.warm_up})
                _, line, dups, _ = through_celery(db, client, worker, rec, warm, "warmup")
                print(f"warm-up (untimed, not in the figures): {line}")
            ratios = []
            for rep in range(args.repeat):  # delivery and floor side by side, in turn first, so drift evens out
                floor_first = rep % 2 == 1
                mails = same_mails(url, mail.port, args.messages, f"floor{rep}")  # untimed
                if floor_first:
                    floor, floor_server = smtp_floor(mail.port, rec, args.messages, args.floor_procs, mails)
                rate, line, new_dups, spent = through_celery(db, client, worker, rec, args, f"bench{rep}")
                dups |= new_dups
                if not floor_first:
                    floor, floor_server = smtp_floor(mail.port, rec, args.messages, args.floor_procs, mails)
                small, _ = smtp_floor(mail.port, rec, args.messages, args.floor_procs)  # the earlier baseline
                ratios.append(rate / floor)
                load1, _, _ = os.getloadavg()
                print(f"run {rep + 1}/{args.repeat} loadavg_1m={load1:.2f} {line}")
                print(
                    f"run {rep + 1}/{args.repeat} smtp_floor procs={args.floor_procs} messages={args.messages} "
                    f"messages_per_s={floor:.0f} (smtplib + aiosmtpd alone, the same mails' bytes, no database, "
                    f"measured "
                    f"{'before' if floor_first else 'after'} the delivery); delivery/smtp_floor={rate / floor:.2f}"
                )
                if len(spent) == 3:
                    print(cpu_line(f"run {rep + 1}/{args.repeat}", spent, floor_server, floor))
                print(
                    f"run {rep + 1}/{args.repeat} smtp_floor_send_message messages_per_s={small:.0f} (smtplib "
                    f"flattening small plain-text EmailMessages of its own as it sends them: the baseline before "
                    f"the same bytes were sent; the client's own work is in it); delivery/it={rate / small:.2f}"
                )
            runs = "/".join(f"{r:.2f}" for r in ratios)
            print(f"delivery/smtp_floor median={sorted(ratios)[len(ratios) // 2]:.2f} (runs {runs}) (aim: >= 0.9)")
            worker.kill()
            client.close()
            worker = None
            if args.in_process:
                ip = in_process(url, mail.port, rec, args.in_process, args.chunk)
                print(
                    f"in_process messages={args.in_process} messages_per_s={ip:.0f} "
                    f"(jobs.deliver_due in one process, chunks of {args.chunk}; aiosmtpd shares this process)"
                )
        db.dispose()
        if dups:
            print(f"DUPLICATES: {sorted(dups.items())[:10]}")
            return 1
    finally:
        if worker is not None:
            worker.kill()
        mail.stop()
        redis.flushdb()
        admin_sql(args.pg_admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        log(f"dropped database {name}; flushed {redis_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
