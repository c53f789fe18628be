"""The demo as a campaign under way on the day it is loaded (``flask demo``).

Both seed plans keep their texts and 文号, but their dates are shifted so that the
Sanmenxia plan was issued about five weeks of working days ago and the Yuzhou look-back
a little earlier. Then a clock moves from the first issue date to now, day by day, and
everything that happens is done by calling the same service functions a user's
requests call, as the person who would do it: counties start tasks, upload photos and
mark them rectified; the city sends one back, verifies and strikes off; reports are
handed in, accepted and returned; extensions are asked for and decided; a spot check is
drawn and re-checked. The real sweep and delivery run at each working day's window
and evening, so every reminder, escalation and inbox message is the one the system
itself wrote at that moment. Nothing is written to a table directly.

The story is told in working days: ``i(k)`` counts from a plan's issue date,
``w(k)`` back from the last working day whose send window has opened by now. The few
items that must sit at escalation level 1 or 2 today get their dates from the calendar
(an extension granted to ``w(1)``; the look-back's issue date chosen so that its
6月15日 items are exactly level-2 overdue), so the picture holds on any day it is
loaded. Messages go to the inbox only: loading the demo e-mails nobody.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from app import demo, jobs
from app.demo import Organisation, Shift
from app.domain.deadlines import CHINA
from app.domain.reminders import Policy
from app.domain.workflow import State
from app.models import (
    ExtensionRequest,
    Lookback,
    Obligation,
    Plan,
    Problem,
    SpotCheckItem,
    Submission,
    Task,
    Unit,
    User,
)
from app.schemas import (
    AnswerIn,
    CarryIn,
    ExtensionDecisionIn,
    ExtensionIn,
    LookbackIn,
    ObligationIn,
    PolicyIn,
    ProblemIn,
    ReviewIn,
    TransitionIn,
    UnitIn,
    UserIn,
)
from app.services import (
    answers,
    evidence,
    extensions,
    inbox,
    lookbacks,
    obligations,
    org,
    plans,
    policy,
    receipt,
    spotchecks,
    tasks,
    urges,
)
from app.services.calendar import load_calendar
from app.services.delivery import Channels

SPOT_CHECK_SEED = 20220607
_LEVEL2_SEED_DAY = date(2022, 6, 15)  # the look-back's 6月15日 items: level 2 today

# 整改情况说明 a unit writes when it marks a task rectified, by problem
SMX_ACCOUNTS = {
    1: "已完成辖区享受过危房改造政策农户“建新未拆旧”逐户排查，建立台账，发现问题已全部拆除旧房，附现场照片。",
    2: "已建立农房定期体检制度，新增重点对象在5个工作日内完成住房安全鉴定，C级危房已纳入改造计划。",
    3: "已逐户核实改造面积，面积不达标的农户已按兜底标准完成扩建，附验收照片。",
    4: "已与乡村振兴、民政部门建立数据共享机制，监测信息每月比对更新。",
    5: "已开展村容村貌集中整治，清理乱堆乱放，附整治前后照片。",
    6: "已组织乡镇干部专题培训，入户宣传政策并发放明白卡。",
    7: "受灾农户已全部搬离危房并妥善安置，灾后重建房屋已竣工入住。",
    8: "已对危房改造档案逐户核查，补填承诺书签订时间，更正验收表开竣工时间，补齐调查员签名。",
    9: "已对相关帮扶责任人开展约谈，规范签到管理，附整改说明及签到表。",
}
YZ_ACCOUNT = "已完成本乡镇脱贫户、监测对象住房安全“回头看”排查，问题清单及整改台账已建立。"
# 卢氏县 answers the city's plan with its own, for two of its townships (问题 1 and 5 carried)
LUSHI_ANSWER = "卢建〔2022〕45号"
LUSHI_TOWNS = {"guandaokou": "官道口镇人民政府", "duguan": "杜关镇人民政府"}
LUSHI_CARRIED = (1, 5)
LUSHI_LOOKBACK_DAYS = 5


# ---- evidence: small real PNGs, drawn by hand ------------------------------------------
def photo_png(width: int = 64, height: int = 48, tint: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    """A real PNG (RGB, 8 bits): a tinted gradient with a white house in the middle,
    built with zlib and struct alone, so the demo needs no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    r, g, b = tint
    reds = bytes((r + x * 96 // width) % 256 for x in range(width))
    cx, top, eaves, ground = width // 2, height // 5, height // 2, height * 4 // 5
    rows = []
    for y in range(height):
        row = bytearray(3 * width)
        row[0::3], row[1::3], row[2::3] = reds, bytes([(g + y * 96 // height) % 256]) * width, bytes([b]) * width
        if top <= y < eaves:  # the roof widens downwards
            half = (y - top) * width // (3 * max(eaves - top, 1))
        elif eaves <= y < ground:  # the walls
            half = width // 4
        else:
            half = -1
        if half >= 0:
            lo, hi = max(cx - half, 0), min(cx + half + 1, width)
            row[3 * lo : 3 * hi] = b"\xf0" * (3 * (hi - lo))
        rows.append(b"\x00" + bytes(row))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"".join(rows))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _tint(name: str) -> tuple[int, int, int]:
    d = hashlib.sha256(name.encode()).digest()
    return d[0], d[1], d[2]


# ---- the moving clock ------------------------------------------------------------------
@dataclass(order=True)
class _Action:
    at: datetime
    seq: int
    run: Callable[[], None] = field(compare=False)


class Campaign:
    """One load of the demo at ``now``: the calendar it is told in, and what happens when."""

    def __init__(self, rt, now: datetime) -> None:
        self.rt = rt
        self.db = rt.db
        self.now = now
        self.t = now
        # the real runtime with a clock that moves, and the inbox as its only channel
        self.sim = replace(rt, clock=lambda: self.t, channels=Channels())
        self.policy = Policy.from_dict(rt.config.REMINDER_DEFAULTS)
        self.cal = load_calendar(self.db.session())
        self.last = self._last_window_day(now)
        self.by_day: dict[date, list[_Action]] = {}
        self.scheduled = 0
        self.smx_shift = Shift(demo.SMX_ISSUED, self.w(24))
        self.yz_shift = Shift(demo.YZ_ISSUED, self._lookback_issue_day())
        self.o: Organisation | None = None
        self.plan_ids: dict[str, int] = {}

    # -- the calendar of the story
    def _last_window_day(self, now: datetime) -> date:
        local = now.astimezone(CHINA)
        day = local.date()
        if self.cal.is_workday(day) and local.time() >= self.policy.window_start:
            return day
        return self._back(day, 1)

    def _back(self, day: date, n: int) -> date:
        while n:
            day -= timedelta(days=1)
            n -= self.cal.is_workday(day)
        return day

    def w(self, k: int) -> date:
        """The k-th working day before the last one whose send window has opened."""
        return self._back(self.last, k)

    def plus(self, day: date, k: int) -> date:
        return self.cal.add_workdays(day, k)

    def i(self, k: int) -> date:
        return self.plus(self.smx_shift.issued_on, k)

    def yi(self, k: int) -> date:
        return self.plus(self.yz_shift.issued_on, k)

    def level_today(self, due_on: date) -> int:
        """The escalation level an item due on ``due_on`` has reached by now."""
        after = (1, self.policy.level2_after_workdays, self.policy.level3_after_workdays)
        return sum(self.plus(due_on, n) <= self.last for n in after)

    def _lookback_issue_day(self) -> date:
        """About 22 working days ago, on a day that makes the 6月15日 items level 2 now."""
        offset = _LEVEL2_SEED_DAY - demo.YZ_ISSUED
        working = [self.w(k) for k in sorted(range(16, 29), key=lambda k: (abs(k - 22), k))]
        # near a long holiday no working day may fit; then a day off (plans do go out on one)
        any_day = sorted(
            (self.w(28) + timedelta(days=n) for n in range((self.w(16) - self.w(28)).days)),
            key=lambda d: abs((d - self.w(22)).days),
        )
        for day in working + any_day:
            if self.level_today(day + offset) == 2:
                return day
        return self.w(22)

    # -- scheduling
    def at(self, day: date, hhmm: str, run: Callable[[], None]) -> None:
        hour, minute = map(int, hhmm.split(":"))
        instant = datetime.combine(day, time(hour, minute), tzinfo=CHINA)
        if day >= self.last:
            raise ValueError(f"the demo story puts {run.__qualname__} on {instant}, not before {self.last}")
        self.scheduled += 1
        self.by_day.setdefault(day, []).append(_Action(instant, self.scheduled, run))

    def tick(self, instant: datetime) -> None:
        if instant > self.now:
            return
        self.t = instant
        jobs.tick(self.sim, instant)
        jobs.deliver_due(self.sim)

    def play(self) -> None:
        """Run the story day by day with the sweep at each working day's window and
        evening. Workflow messages written inside the services follow the database's
        outbox settings, so for the length of the play those say: inbox only."""
        outbox = self.db.outbox
        saved = dict(outbox)
        outbox["channels"] = self.sim.enabled_channels
        try:
            self._play()
        finally:
            outbox.clear()
            outbox.update(saved)

    def _play(self) -> None:
        day = min(self.smx_shift.issued_on, self.yz_shift.issued_on)
        while day <= self.now.astimezone(CHINA).date():
            if self.cal.is_workday(day):
                self.tick(datetime.combine(day, self.policy.window_start, tzinfo=CHINA))
            while self.by_day.get(day):  # an action may tell more of the story for later today
                for action in sorted(self.by_day.pop(day)):
                    self.t = action.at
                    action.run()
            if self.cal.is_workday(day):
                self.tick(datetime.combine(day, time(17, 0), tzinfo=CHINA))
            day += timedelta(days=1)
        self.tick(self.now)

    # -- who does what
    def user(self, username: str) -> User:
        return self.db.session().scalar(select(User).where(User.username == username))

    def task_id(self, plan: str, seq: int, unit: str) -> int:
        if plan == "lushi":
            unit_id = self.db.session().scalar(select(Unit.id).where(Unit.name == LUSHI_TOWNS[unit]))
        else:
            unit_id = (self.o.counties if plan == "smx" else self.o.towns)[unit].id
        return self.db.session().scalar(
            select(Task.id)
            .join(Problem, Task.problem_id == Problem.id)
            .where(Problem.plan_id == self.plan_ids[plan], Problem.seq == seq, Task.unit_id == unit_id)
        )

    def _move(self, username: str, task_id: int, to: State, comment: str = "") -> None:
        version = self.db.session().scalar(select(Task.version).where(Task.id == task_id))
        data = TransitionIn(to=to, comment=comment, version=version)
        tasks.transition_task(self.db, self.user(username), task_id, data, self.t)

    def _photo(self, username: str, task_id: int, n: int) -> None:
        name = f"整改现场照片{n}.png"
        data = photo_png(160, 120, _tint(f"{task_id}:{n}"))
        cfg = self.rt.config
        evidence.store_evidence(
            self.db, cfg.UPLOAD_DIR, cfg.MAX_UPLOAD_BYTES, self.user(username), task_id, io.BytesIO(data), name, self.t
        )

    def track(self, plan: str, seq: int, unit: str, *steps: tuple[date, str], account: str = "", reason: str = ""):
        """One task's story: ``(day, move)`` with move in start, rectify, verify, close,
        reject. The unit's handler works it; the plan's handler verifies and sends back,
        its deputy strikes off (卢氏县's answering plan: its supervisor does both)."""
        official, checker, closer = f"{unit}_handler", f"{plan}_handler", f"{plan}_deputy"
        if plan == "lushi":
            checker = closer = "lushi_sup"
        times = {"start": "09:40", "rectify": "15:20", "verify": "10:20", "close": "16:10", "reject": "11:00"}

        def step(move: str) -> Callable[[], None]:
            def run() -> None:
                tid = self.task_id(plan, seq, unit)
                if move == "start":
                    self._move(official, tid, State.IN_PROGRESS)
                elif move == "rectify":
                    for n in range(1, 2 + tid % 2):
                        self._photo(official, tid, n)
                    self._move(official, tid, State.RECTIFIED, account)
                elif move == "verify":
                    self._move(checker, tid, State.VERIFIED, "经现场核查，整改到位。")
                elif move == "close":
                    self._move(closer, tid, State.CLOSED, "同意销号。")
                elif move == "reject":
                    self._move(checker, tid, State.IN_PROGRESS, reason)

            return run

        last = None
        for day, move in steps:
            when = (day, times[move])
            if last is not None and when <= last:
                raise ValueError(f"the demo story moves {plan} {seq} {unit} to {move} on {day}, before its last move")
            last = when
            self.at(day, times[move], step(move))

    def extension(self, plan: str, seq: int, unit: str, asked: date, to: date, reason: str, decided=None) -> None:
        """Ask on ``asked`` for a deadline of ``to``; ``decided`` = (day, approve, comment)."""

        def ask() -> None:
            text = f"{to.month}月{to.day}日"
            extensions.request_extension(
                self.db,
                self.user(f"{unit}_handler"),
                self.task_id(plan, seq, unit),
                ExtensionIn(deadline=text, reason=reason),
                self.t,
            )

        self.at(asked, "11:30", ask)
        if decided is None:
            return
        day, approve, comment = decided

        def decide() -> None:
            req = self.db.session().scalar(
                select(ExtensionRequest.id).where(
                    ExtensionRequest.task_id == self.task_id(plan, seq, unit), ExtensionRequest.state == "pending"
                )
            )
            data = ExtensionDecisionIn(approve=approve, comment=comment)
            extensions.decide_extension(self.db, self.user(f"{plan}_deputy"), req, data, self.t)

        self.at(day, "10:40", decide)

    def report(
        self, plan: str, title: str, unit: str, due_on: date, *steps: tuple[date, str, str], drafted: bool = False
    ) -> None:
        """A unit's report due on ``due_on``: ``(day, submit|accept|return, words)``. A
        report owed from the ledger, or one ``drafted``, is handed in as the document the
        ledger drafted (no file of the unit's own); any other with a stamped scan."""

        def find() -> tuple[int, int]:
            units = self.o.counties if plan == "smx" else self.o.towns
            return (
                self.db.session()
                .execute(
                    select(Submission.id, Submission.version)
                    .join(Obligation, Submission.obligation_id == Obligation.id)
                    .where(
                        Obligation.plan_id == self.plan_ids[plan],
                        Obligation.title == title,
                        Submission.unit_id == units[unit].id,
                        Submission.due_on == due_on,
                    )
                )
                .one()
            )

        def step(kind: str, words: str) -> Callable[[], None]:
            def run() -> None:
                sid, version = find()
                cfg = self.rt.config
                if kind in ("answer", "submit"):
                    # a stamped scan, or the answering plan itself (nothing typed again)
                    scan = (io.BytesIO(photo_png(120, 160, _tint(f"report:{sid}"))), f"{title}（盖章扫描件）.png")
                    from_ledger = drafted or title == demo.YZ_WEEKLY[0]
                    obligations.submit(
                        self.db,
                        cfg.UPLOAD_DIR,
                        cfg.MAX_UPLOAD_BYTES,
                        self.user(f"{unit}_handler"),
                        sid,
                        words,
                        version,
                        scan if kind == "submit" and not from_ledger else None,
                        self.t,
                        self.plan_ids["lushi"] if kind == "answer" else None,
                        draft=drafted,
                    )
                else:
                    data = ReviewIn(accept=kind == "accept", comment=words, version=version)
                    obligations.review(self.db, self.user(f"{plan}_handler"), sid, data, self.t)

            return run

        hours = {"submit": "15:40", "answer": "15:40", "accept": "10:50", "return": "10:50"}
        for day, kind, words in steps:
            if day < self.last:  # what falls today or later has not happened yet
                self.at(day, hours[kind], step(kind, words))

    # -- the story
    def tell(self) -> None:
        """Schedule the whole story (nothing runs until :meth:`play`)."""
        self.issue()
        self.sanmenxia()
        self.answering()
        self.yuzhou()

    def issue(self) -> None:
        """Both plans, their problems and their reports owed, on their issue days."""

        def smx() -> None:
            deputy = self.user("smx_deputy")
            plan = plans.create_plan(self.db, deputy, demo.smx_plan(self.smx_shift))
            self.plan_ids["smx"] = plan.id
            for problem in demo.smx_problems(self.o, self.smx_shift):
                plans.create_problem(self.db, deputy, plan.id, problem, self.t)
            for title, schedule in demo.SMX_REPORTS:
                data = ObligationIn(title=title, schedule=self.smx_shift.text(schedule), all_units_under=self.o.smx.id)
                obligations.create_obligation(self.db, deputy, plan.id, data, self.t)

        def yz() -> None:
            deputy = self.user("yz_deputy")
            plan = plans.create_plan(self.db, deputy, demo.yz_plan(self.yz_shift))
            self.plan_ids["yz"] = plan.id
            plans.create_problem(self.db, deputy, plan.id, demo.yz_lookback(self.o, self.yz_shift), self.t)
            for title, schedule in (demo.YZ_WEEKLY, (demo.YZ_FINAL[0], self.yz_shift.text(demo.YZ_FINAL[1]))):
                layout = "yuzhou" if title == demo.YZ_WEEKLY[0] else None  # the weekly ledger: from the ledger
                data = ObligationIn(title=title, schedule=schedule, all_units_under=self.o.yz.id, from_ledger=layout)
                obligations.create_obligation(self.db, deputy, plan.id, data, self.t)

        self.at(self.smx_shift.issued_on, "09:30", smx)
        self.at(self.yz_shift.issued_on, "09:30", yz)

    def sanmenxia(self) -> None:
        i, w = self.i, self.w
        counties = list(demo.SMX_COUNTIES)
        # 立行立改 problems: fixed within days by most counties, checked and struck off
        for seq in (3, 4, 6, 7, 8):
            for n, unit in enumerate(counties):
                if (seq, unit) in _SMX_NOT_AT_ONCE:
                    continue
                done = i(3 + (n + seq) % 5)
                self.track(
                    "smx", seq, unit,
                    (i(1 + n % 2), "start"), (done, "rectify"), (self.plus(done, 2), "verify"),
                    (self.plus(done, 3), "close"),
                    account=SMX_ACCOUNTS[seq],
                )  # fmt: skip
        acct = SMX_ACCOUNTS
        self.track("smx", 8, "hubin", (i(1), "start"), (w(5), "rectify"), (w(3), "verify"), account=acct[8])
        self.track("smx", 8, "lingbao", (i(2), "start"), (w(6), "rectify"), (w(2), "verify"), account=acct[8])
        self.track("smx", 7, "shanzhou", (i(1), "start"), (w(2), "rectify"), account=acct[7])
        self.track("smx", 4, "sfq", (i(3), "start"), (w(1), "rectify"), account=acct[4])
        for unit in ("lushi", "yima", "sfq"):  # 灾后重建 takes longer than a few days
            self.track("smx", 7, unit, (i(2), "start"))
        self.track(  # the one the city sends back
            "smx",
            9,
            "lushi",
            (i(1), "start"),
            (w(4), "rectify"),
            (w(2), "reject"),
            account=acct[9],
            reason="整改说明不充分，未附帮扶责任人约谈记录和整改后的签到表，请补充后重新提交。",
        )
        # 6月20日 problems (2 and 5): some done in time, some late, some not at all
        for seq in (2, 5):
            closed_early = ("hubin", "shanzhou") if seq == 2 else ("shanzhou", "lingbao")
            for n, unit in enumerate(closed_early):
                done = i(6 + n + seq % 2)
                self.track(
                    "smx",
                    seq,
                    unit,
                    (i(1 + n), "start"),
                    (done, "rectify"),
                    (self.plus(done, 2), "verify"),
                    (self.plus(done, 4), "close"),
                    account=acct[seq],
                )
        self.track("smx", 2, "lushi", (i(1), "start"), (i(9), "rectify"), (w(4), "verify"), account=acct[2])
        self.track("smx", 2, "lingbao", (i(4), "start"), (w(3), "rectify"), account=acct[2])
        self.track("smx", 2, "yima", (i(3), "start"))
        self.track("smx", 2, "mianchi", (i(2), "start"))
        self.track(
            "smx", 5, "hubin", (i(2), "start"), (w(8), "rectify"), (w(6), "verify"), (w(5), "close"), account=acct[5]
        )
        for unit in ("mianchi", "lushi", "yima"):
            self.track("smx", 5, unit, (i(3), "start"))
        # 7月底: most under way, one already done
        for unit in ("hubin", "shanzhou", "mianchi", "lushi"):
            self.track("smx", 1, unit, (i(2), "start"))
        self.track("smx", 1, "lingbao", (i(2), "start"), (w(2), "rectify"), account=acct[1])

        # 延期: granted (the deadline now falls in two days), refused, and one waiting
        today = self.now.astimezone(CHINA).date()
        self.extension(
            "smx",
            2,
            "mianchi",
            i(8),
            today + timedelta(days=2),
            "部分鉴定对象外出务工，需待其返乡后入户鉴定。",
            decided=(i(9), True, "同意延期，请按新时限完成。"),
        )
        self.extension(
            "smx",
            5,
            "hubin",
            i(7),
            self.smx_shift.on(date(2022, 7, 10)),
            "村容村貌整治涉及多个部门，申请延期。",
            decided=(i(8), False, "整改时限为省定时限，不予延期，请加快推进。"),
        )
        self.extension(
            "smx", 5, "yima", w(1), today + timedelta(days=10), "需协调乡镇统一开展村容村貌整治，申请延期至月底。"
        )

        # 催办: the deputy urges the two counties that have not moved on 农村危房改造不及时
        def urge() -> None:
            ids = [self.task_id("smx", 2, unit) for unit in ("yima", "sfq")]
            urges.urge_tasks(self.db, self.user("smx_deputy"), ids, "请于本周内完成整改并上传佐证材料。", self.t)

        self.at(w(2), "09:50", urge)

        # 抽查: drawn among what was struck off; one fails the re-check and is reopened
        def draw() -> None:
            spotchecks.draw(self.db, self.user("smx_handler"), self.plan_ids["smx"], 3, SPOT_CHECK_SEED, self.t)

        def recheck() -> None:
            rows = (
                self.db.session()
                .execute(
                    select(SpotCheckItem.id, Task.state)
                    .join(Task, SpotCheckItem.task_id == Task.id)
                    .where(Task.plan_id == self.plan_ids["smx"])
                    .order_by(SpotCheckItem.id)
                )
                .all()
            )
            failed = next((item for item, state in rows if state == State.CLOSED), None)
            for item, _state in rows:
                ok = item != failed
                comment = "复核属实。" if ok else "抽查发现整改不到位，问题反弹。"
                spotchecks.record_result(self.db, self.user("smx_handler"), item, ok, comment, self.t)

        self.at(w(3), "14:30", draw)
        self.at(w(2), "15:00", recheck)

        # 报送: the plan and ledger within three days, the report by the 6月20日 deadline
        plan_due = self.smx_shift.on(date(2022, 6, 10))
        for n, unit in enumerate(counties):
            if unit == "sfq":
                continue
            handed = (i(2), "answer", f"以本局整改方案（{LUSHI_ANSWER}）及台账报送。") if unit == "lushi" else None
            self.report(
                "smx",
                "整改方案及台账",
                unit,
                plan_due,
                handed or (i(1 + n % 2), "submit", "整改方案及问题台账，请审核。"),
                (i(3), "accept", "已收到，符合要求。"),
            )
        self.report(
            "smx",
            "整改方案及台账",
            "sfq",
            plan_due,
            (i(3), "submit", "补报整改方案及台账。"),
            (i(4), "return", "整改方案未加盖公章，请补正后重新报送。"),
            (i(6), "submit", "已加盖公章重新报送。"),
            (i(7), "accept", "已收到。"),
        )
        report_due = self.smx_shift.on(date(2022, 6, 20))
        for n, unit in enumerate(("hubin", "shanzhou", "lingbao")):
            self.report(
                "smx",
                "整改情况报告",
                unit,
                report_due,
                (i(8 + n % 2), "submit", "整改情况报告（盖章扫描件）。"),
                (i(10 + n % 2), "accept", "已收到。"),
            )
        self.report(
            "smx",
            "整改情况报告",
            "lushi",
            report_due,
            (w(5), "submit", "整改情况报告（由台账起草）。"),
            (w(3), "return", "报告未附佐证材料清单，请补充后重新报送。"),
            drafted=True,
        )
        self.report("smx", "整改情况报告", "mianchi", report_due, (w(2), "submit", "整改情况报告，延期事项另行说明。"))

        self.receipts()

        # people read their inbox now and then
        self.at(w(4), "16:50", lambda: inbox.mark_read(self.db, self.user("smx_head"), None, self.t))
        self.at(w(8), "16:50", lambda: inbox.mark_read(self.db, self.user("lushi_handler"), None, self.t))

    def answering(self) -> None:
        """卢氏县 answers the city's plan with its own (its 文号, its dates) for two of its
        townships: the administrator adds them and the county's supervisor; the supervisor
        carries two received problems and adds one the county found itself; the townships
        work them, and a look-back (回头看) 5 days after each 销号 finds one fix gone (问题反弹)
        and waits on the other."""
        i, w = self.i, self.w

        def organise() -> None:
            admin, lushi = self.user("admin"), self.o.counties["lushi"]
            person = {"password": demo.DEMO_PASSWORD, "role": "supervisor", "position": "deputy", "unit_id": lushi.id}
            sup = UserIn(username="lushi_sup", full_name="卢氏县住房和城乡建设局督办人员", **person)
            org.create_user(self.db, admin, sup.model_copy(update={"email": "lushi.sup@example.gov.cn"}))
            for key, name in LUSHI_TOWNS.items():
                town = org.create_unit(self.db, admin, UnitIn(name=name, kind="乡镇", parent_id=lushi.id))
                person = {"password": demo.DEMO_PASSWORD, "role": "official", "position": "handler", "unit_id": town.id}
                org.create_user(self.db, admin, UserIn(username=f"{key}_handler", full_name=f"{name}经办人", **person))

        def answer() -> None:
            sup, smx = self.user("lushi_sup"), self.plan_ids["smx"]
            towns = list(self.db.session().scalars(select(Unit.id).where(Unit.name.in_(LUSHI_TOWNS.values()))))
            received = answers.received_tasks(self.db, sup, smx)
            carry = [CarryIn(task_id=t.id, unit_ids=towns) for t, p in received if p.seq in LUSHI_CARRIED]
            data = AnswerIn(
                title="卢氏县住房和城乡建设局关于巩固拓展脱贫攻坚成果考核评估反馈问题的整改方案",
                doc_number=LUSHI_ANSWER,
                issued_on=self.t.astimezone(CHINA).date(),
                carry=carry,
            )
            plan = answers.answer_plan(self.db, sup, smx, data, self.t)
            self.plan_ids["lushi"] = plan.id
            defaults = self.rt.config.REMINDER_DEFAULTS
            policy.set_policy(self.db, sup, plan.id, PolicyIn(lookback_days=LUSHI_LOOKBACK_DAYS), defaults, self.t)
            duguan = self.db.session().scalar(select(Unit.id).where(Unit.name == LUSHI_TOWNS["duguan"]))
            own = ProblemIn(
                category="工作落实方面",
                nature="individual",
                title="乡镇危房改造档案资料不全",
                measures="逐户补齐危房改造档案，补签承诺书。",
                deadline=self.smx_shift.text("6月18日前"),
                source="县局自查",
                unit_ids=[duguan],
            )
            plans.create_problem(self.db, sup, plan.id, own, self.t)

        self.at(i(1), "09:40", organise)
        self.at(i(1), "10:00", answer)
        account = "已逐户排查，发现问题已整改，附现场照片。"
        self.track(
            "lushi", 1, "guandaokou",
            (i(2), "start"), (i(4), "rectify"), (i(5), "verify"), (i(6), "close"), account=account,
        )  # fmt: skip
        self.track(
            "lushi", 1, "duguan",
            (i(3), "start"), (w(6), "rectify"), (w(5), "verify"), (w(3), "close"), account=account,
        )  # fmt: skip
        self.track("lushi", 2, "guandaokou", (i(3), "start"))
        self.track("lushi", 2, "duguan", (i(4), "start"), (w(2), "rectify"), account=account)
        self.track("lushi", 3, "duguan", (i(5), "start"))

        def rebound() -> None:
            tid = self.task_id("lushi", 1, "guandaokou")
            lb = self.db.session().scalar(select(Lookback).where(Lookback.task_id == tid))
            data = LookbackIn(confirmed=False, comment="回访发现该户旧房又有人居住，问题反弹。", version=lb.version)
            lookbacks.record(self.db, self.user("lushi_sup"), lb.id, data, self.t)

        self.at(w(4), "14:40", rebound)

    def receipts(self) -> None:
        """签收: the counties acknowledge the plan's tasks on day 1 or 2 (those that start a
        task on day 1 acknowledge it by starting it). A problem the city adds for 卢氏县 is
        declined (the household lives in 灵宝市) and reassigned; a later one, for every
        county, is acknowledged by all but 示范区, whose ack ladder has climbed to the city."""
        i, w = self.i, self.w
        for n, unit in enumerate(demo.SMX_COUNTIES):
            self.at(i(1 + n % 2), "09:05", self._acknowledge_all("smx", unit))
        for n, town in enumerate(demo.YZ_TOWNS):
            self.at(self.yi(1 + n % 2), "09:05", self._acknowledge_all("yz", town))
        for town in LUSHI_TOWNS:  # 卢氏县's own plan, issued on day 1
            self.at(i(2), "09:05", self._acknowledge_all("lushi", town))

        def add(title: str, deadline: str, units: list[str]) -> Callable[[], None]:
            def run() -> None:
                ids = [self.o.counties[u].id for u in units]
                data = ProblemIn(
                    category="政策落实方面", nature="individual" if len(ids) == 1 else "common", title=title,
                    description=_ADDED[title], measures="逐户核实，按政策兑现，附佐证材料。", deadline=deadline,
                    unit_ids=ids,
                )  # fmt: skip
                plans.create_problem(self.db, self.user("smx_deputy"), self.plan_ids["smx"], data, self.t)

            return run

        late_fund, sweep_up = list(_ADDED)
        self.at(i(4), "10:00", add(late_fund, "10个工作日内", ["lushi"]))

        def decline() -> None:
            tid = self._added_task(late_fund)
            receipt.decline(self.db, self.user("lushi_handler"), tid, _DECLINE_REASON, self._version(tid), self.t)

        def reassign() -> None:
            tid = self._added_task(late_fund)
            lingbao = self.o.counties["lingbao"].id
            data = (lingbao, "经核实，该户户籍及房屋均在灵宝市，转灵宝市办理。", self._version(tid))
            receipt.reassign(self.db, self.user("smx_deputy"), tid, *data, self.t)

        self.at(i(5), "10:15", decline)
        self.at(i(6), "09:45", reassign)
        self.at(i(7), "09:20", self._acknowledge_all("smx", "lingbao"))
        account = "补助资金已于核实后拨付到户，附银行转账凭证。"
        steps = ((i(7), "start"), (i(9), "rectify"), (i(11), "verify"), (i(12), "close"))
        self.track("smx", 10, "lingbao", *steps, account=account)
        # a later sweep-up, acknowledged by every county but 示范区 (its ladder: level 3 by now)
        counties = list(demo.SMX_COUNTIES)
        self.at(w(7), "10:00", add(sweep_up, "15个工作日内", counties))
        for n, unit in enumerate(c for c in counties if c != "sfq"):
            self.at(w(7 - n % 2), "11:00", self._acknowledge_all("smx", unit))

    def _acknowledge_all(self, plan: str, unit: str) -> Callable[[], None]:
        def run() -> None:
            user = self.user(f"{unit}_handler")
            if receipt.awaiting_count(self.db, user, self.plan_ids[plan]):
                receipt.acknowledge_all(self.db, user, self.plan_ids[plan], self.t)

        return run

    def _added_task(self, title: str) -> int:
        return self.db.session().scalar(
            select(Task.id)
            .join(Problem, Task.problem_id == Problem.id)
            .where(Problem.plan_id == self.plan_ids["smx"], Problem.title == title)
        )

    def _version(self, task_id: int) -> int:
        return self.db.session().scalar(select(Task.version).where(Task.id == task_id))

    def yuzhou(self) -> None:
        yi, w = self.yi, self.w
        shift = self.yz_shift
        # the look-back itself, one task per township
        for n, town in enumerate(demo.YZ_TOWNS):
            if town != "fangshan":
                self.track("yz", 1, town, (yi(1 + n % 2), "start"))
        self.track("yz", 1, "gucheng", (w(3), "rectify"), account=YZ_ACCOUNT)
        self.track("yz", 1, "huolong", (w(6), "rectify"), (w(4), "verify"), account=YZ_ACCOUNT)

        # what the townships found themselves, entered during the 排查 phase
        for n in range(len(demo.YZ_SELF_REPORTED)):

            def add(n=n) -> None:
                town, problem = demo.yz_self_reported(self.o, shift)[n]
                plans.create_problem(self.db, self.user(f"{town}_handler"), self.plan_ids["yz"], problem, self.t)

            self.at(yi(5 + n // 2), "09:10", add)
        first_due = shift.on(date(2022, 6, 10))
        self.track(
            "yz",
            2,
            "gucheng",
            (yi(5), "start"),
            (self._back(first_due, 2), "rectify"),
            (self.plus(first_due, 1), "verify"),
            (self.plus(first_due, 3), "close"),
            account="已逐户补挂住房安全性认定牌并拍照存档。",
        )
        self.track("yz", 3, "gucheng", (yi(6), "start"))  # level 2 today
        self.track("yz", 4, "shundian", (yi(6), "start"))
        self.track("yz", 5, "huolong", (yi(7), "start"))  # level 2 today
        shundian_due = shift.on(date(2022, 6, 12))
        asked = self._back(shundian_due, 1)
        self.extension(
            "yz",
            4,
            "shundian",
            asked,
            w(1),
            "部分补助资金发放凭证需向银行调取，申请延期。",
            decided=(self.plus(asked, 1), True, "同意延期。"),
        )

        self.at(shift.issued_on, "09:35", self._weekly_reports)
        self.at(w(6), "16:50", lambda: inbox.mark_read(self.db, self.user("yz_head"), None, self.t))

    def _weekly_reports(self) -> None:
        """周报 every Friday from week one, told once the plan has said which Fridays:
        方山 stops reporting after the first, 磨街's last one is sent back."""
        fridays = sorted(
            set(
                self.db.session().scalars(
                    select(Submission.due_on)
                    .join(Obligation, Submission.obligation_id == Obligation.id)
                    .where(Obligation.plan_id == self.plan_ids["yz"], Obligation.title == demo.YZ_WEEKLY[0])
                )
            )
        )
        past = [d for d in fridays if d < self.last]
        for week, friday in enumerate(past):
            for n, town in enumerate(demo.YZ_TOWNS):
                if town == "fangshan" and week > 0:
                    continue
                early = self._back(friday, 1)  # some hand it in on Thursday, if the plan was out by then
                handed = early if n % 2 == 0 and early > self.yz_shift.issued_on else friday
                reviewed = self.plus(friday, 1)
                verdict = (
                    ("return", "台账缺少“问题性质”一栏，请补充后重新报送。")
                    if (town == "mojie" and week == len(past) - 1)
                    else ("accept", "已收到。")
                )
                self.report(
                    "yz",
                    demo.YZ_WEEKLY[0],
                    town,
                    friday,
                    (handed, "submit", f"第{week + 1}周排查整改台账。"),
                    (reviewed, *verdict),
                )


# problems the city adds to the Sanmenxia plan while it runs (签收 in Campaign.receipts)
_ADDED = {
    "危房改造补助资金未及时拨付到户": "群众反映，1户危房改造户的补助资金在竣工验收后仍未拨付到户。",
    "举一反三排查危房改造补助资金拨付情况": "对照督导发现的问题，排查本辖区已验收危房改造户补助资金是否全部拨付到户。",
}
_DECLINE_REASON = "经核查，该户户籍及房屋均在灵宝市，不属我县危房改造对象，请核实后转办。"

# 立行立改 tasks not fixed at once: told one by one in Campaign.sanmenxia (示范区's 6 never started)
_SMX_NOT_AT_ONCE = {
    (8, "hubin"),
    (8, "lingbao"),
    (7, "shanzhou"),
    (4, "sfq"),
    (7, "lushi"),
    (7, "yima"),
    (7, "sfq"),
    (6, "sfq"),
}


def load_campaign(rt, now: datetime) -> str:
    """Load the demo into an empty database as a campaign under way at ``now``."""
    c = Campaign(rt, now)
    c.tell()
    c.o = demo.build_organisation(c.db)
    c.play()
    issued = [c.db.session().get(Plan, c.plan_ids[k]) for k in ("smx", "yz")]
    return (
        demo.summary(c.db, c.o, *issued)
        + f", issued {' and '.join(str(p.issued_on) for p in issued)} and played forward to "
        + f"{now.astimezone(CHINA):%Y-%m-%d %H:%M} China time"
    )
