"""Demo data: the two organisations and plans of the seed notices.

Household names from the notices are masked (武朋昌 → 武某某); officials and units
are not personal data. Everything goes through the same service functions a user's
requests use, so the demo is also a smoke test of them.

:func:`load_demo` loads the plans as issued (2022 dates, nothing done yet): what the
test suite starts from and ``flask demo --as-issued`` loads. ``flask demo`` itself
loads the same plans shifted to the present and played forward (app/demo_campaign.py),
built from the same pieces here: :class:`Shift` moves the seeds' dates, the
``*_problems`` functions give the seeds' problems.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from app.db import Database
from app.domain.deadlines import parse_deadline
from app.domain.workcalendar import WorkCalendar
from app.models import Unit, User
from app.schemas import PhaseIn, PlanIn, ProblemIn, UnitIn, UnitNoticeIn, UserIn
from app.services import org, plans

DEMO_PASSWORD = "rectify-demo"

SMX = "三门峡市住房和城乡建设局"
SMX_COUNTIES = {
    "hubin": "湖滨区住房和城乡建设局",
    "shanzhou": "陕州区住房和城乡建设局",
    "mianchi": "渑池县住房和城乡建设局",
    "lushi": "卢氏县住房和城乡建设局",
    "yima": "义马市住房和城乡建设局",
    "lingbao": "灵宝市住房和城乡建设局",
    "sfq": "城乡一体化示范区住房和城乡建设局",
}
YZ = "禹州市住房和城乡建设局"
YZ_TOWNS = {
    "gucheng": "古城镇人民政府",
    "shundian": "顺店镇人民政府",
    "huolong": "火龙镇人民政府",
    "shenhou": "神垕镇人民政府",
    "fangshan": "方山镇人民政府",
    "mojie": "磨街乡人民政府",
}
POSITION_NAMES = {"head": "主要领导", "deputy": "分管领导", "handler": "经办人"}

# (category, nature, title, description, measures, deadline, individual-unit keys or None)
SMX_PROBLEMS = [
    (
        "政策落实方面",
        "common",
        "农村危房改造建新未拆旧问题仍然存在",
        "省第三方评估组发现，陕州区张湾乡西罐村监测户武某某，房屋经鉴定为D级危房，正在进行危房改造，"
        "但仍在危房居住，存在安全隐患；省暗访组发现，城乡一体化示范区阳店镇庙头村脱贫户王某某，"
        "2020年实施危房拆除重建，当年7月竣工验收后入住，但其D级危房未拆除，存在安全隐患。",
        "各县（市、区）住房和城乡建设部门要对享受过农村危房改造政策的所有农户开展为期两个月的"
        "“建新未拆旧”问题集中排查整治，建立工作台账，实行销号管理，7月底前对排查发现问题全部整治完成。",
        "7月底前",
        None,
    ),
    (
        "政策落实方面",
        "common",
        "农村危房改造不及时",
        "省第三方评估组发现，济源示范区承留镇玉皇庙村边缘易致贫户李某某，2021年11月鉴定为C级，截止评估时点，还未改造。",
        "建立农房定期体检制度，每月将排查发现的住房安全问题上报乡镇政府；接到新增重点对象名单后"
        "5个工作日内组织逐户开展住房安全鉴定。",
        "6月20日",
        None,
    ),
    (
        "政策落实方面",
        "common",
        "农村危房改造建设面积不达标",
        "省第三方评估组发现，息县曹黄林镇谢老寨村农户高某某家7口人，D级危房新建后人均面积仅为8平方米。",
        "严格按照面积标准进行建设；兜底保障最低面积要求；严格核实建设面积。",
        "立行立改",
        None,
    ),
    (
        "工作落实方面",
        "common",
        "防返贫动态监测工作存在不足",
        "国家考核评估反馈，监测信息更新不及时、不准确。",
        "加强与同级乡村振兴、民政等部门协调联动和数据互通共享，健全住房安全动态监测机制。",
        "立行立改",
        None,
    ),
    (
        "工作落实方面",
        "common",
        "乡村建设存在短板",
        "人居环境整治仍需加大力度，村容村貌脏乱问题仍在一定范围内存在。",
        "开展农村人居环境整治，加强农房建筑风貌管控，提升村容村貌。",
        "6月20日前",
        None,
    ),
    (
        "工作落实方面",
        "common",
        "政策宣传不深入，农户对政策知晓率低",
        "国家考核评估反馈，一些脱贫户对动态监测不了解、不知晓。",
        "强化干部培训；做好日常宣传，提高农户政策知晓率。",
        "立行立改",
        None,
    ),
    (
        "工作落实方面",
        "common",
        "村民住房灾后重建进度较慢",
        "国家考核评估反馈，洪涝灾害对巩固脱贫成果产生明显影响。",
        "安排农户立即撤离危险房屋，尽快纳入危房改造；建立回访和动态监测制度；推动灾后重建。",
        "立行立改",
        None,
    ),
    (
        "工作落实方面",
        "common",
        "档案资料填写不规范",
        "省后评估专业组查阅资料发现，危房改造户栗某验收前已拨付补助资金；贾某某承诺书没有签订时间；"
        "田某某等人竣工验收表开工、竣工时间与实际不符；陈某某审批表调查员没有签名。",
        "严格按照批准一户、建档一户的要求规范纸质档案，及时更新信息系统；加强档案管理培训。",
        "立行立改",
        None,
    ),
    (
        "工作落实方面",
        "individual",
        "帮扶工作管理不规范",
        "省后评估专业组发现，卢氏县住建局个别帮扶责任人帮扶期间存在签到表代签现象。",
        "卢氏县住房和城乡建设局要认真整改，加强责任帮扶人的责任意识，加强帮扶工作的管理。",
        "立行立改",
        ["lushi"],
    ),
]

# Problems townships found themselves in the Yuzhou look-back (回头看): (town, nature, title, measures, deadline)
YZ_SELF_REPORTED = [
    ("gucheng", "individual", "3户脱贫户房屋未挂住房安全性认定牌", "逐户补挂认定牌并拍照存档", "6月10日"),
    ("gucheng", "individual", "1户监测对象C级危房未纳入改造计划", "纳入当年改造计划，先行安置", "6月15日"),
    ("shundian", "individual", "危房改造补助资金发放台账不完整", "补齐发放凭证，完善资金台账", "6月12日"),
    ("huolong", "individual", "2户加固维修质量未达标", "组织技术人员复核并返工", "6月15日"),
]


@dataclass(frozen=True)
class Shift:
    """A seed plan moved in time: every date it writes moves by the same number of days.

    The texts keep their form (「6月20日前」 stays a 「…日前」); a month end or 旬 that no
    longer falls on one is written as the day it moved to. No shift: the texts as issued.
    """

    issued_as: date  # the seed's issue date
    issued_on: date  # the issue date after the shift

    @property
    def days(self) -> timedelta:
        return self.issued_on - self.issued_as

    def on(self, seed_day: date) -> date:
        return seed_day + self.days

    def text(self, deadline: str) -> str:
        if not self.days:
            return deadline
        parsed = parse_deadline(deadline, self.issued_as, WorkCalendar())
        if parsed.kind != "date":
            return deadline
        moved = self.on(parsed.due_on)
        return f"{moved.month}月{moved.day}日" + ("前" if deadline.endswith("前") else "")


SMX_ISSUED = date(2022, 6, 7)
YZ_ISSUED = date(2022, 5, 20)
# 各县（市、区）于6月10日前将整改方案及台账、6月20日前将整改情况报告书面报市住房城乡建设局
SMX_REPORTS = (("整改方案及台账", "6月10日前"), ("整改情况报告", "6月20日前"))
YZ_WEEKLY = ("“回头看”整改台账周报", "每周五")  # 周报告制度: 从第一周起，每周…报送一次
YZ_FINAL = ("整改台账及整改报告", "6月25日前")


@dataclass
class Organisation:
    smx: Unit
    counties: dict[str, Unit]
    yz: Unit
    towns: dict[str, Unit]
    smx_staff: dict[str, User]
    yz_staff: dict[str, User]
    town_staff: dict[str, dict[str, User]]


def _unit(db: Database, name: str, parent: Unit | None, kind: str) -> Unit:
    return org.create_unit(db, None, UnitIn(name=name, kind=kind, parent_id=parent.id if parent else None))


def _users(db: Database, unit: Unit, key: str, role: str) -> dict[str, User]:
    made = {}
    for position in ("head", "deputy", "handler"):
        made[position] = org.create_user(
            db,
            None,
            UserIn(
                username=f"{key}_{position}",
                password=DEMO_PASSWORD,
                full_name=f"{unit.name}{POSITION_NAMES[position]}",
                unit_id=unit.id,
                role=role,
                position=position,
                email=f"{key}.{position}@example.gov.cn",
            ),
        )
    return made


def build_organisation(db: Database) -> Organisation:
    smx = _unit(db, SMX, None, "市级")
    counties = {k: _unit(db, n, smx, "县级") for k, n in SMX_COUNTIES.items()}
    yz = _unit(db, YZ, None, "县级市")
    # the 督办单's prefix and contact (names masked like the households', numbers made up)
    org.set_notice_details(
        db, None, smx.id, UnitNoticeIn(notice_prefix="三建督", contact_person="王某某", contact_phone="0398-2822101")
    )
    org.set_notice_details(
        db, None, yz.id, UnitNoticeIn(notice_prefix="禹建督", contact_person="李某某", contact_phone="0374-8822102")
    )
    towns = {k: _unit(db, n, yz, "乡镇") for k, n in YZ_TOWNS.items()}

    org.create_user(
        db,
        None,
        UserIn(username="admin", password=DEMO_PASSWORD, full_name="系统管理员", unit_id=smx.id, role="admin"),
    )
    smx_staff = _users(db, smx, "smx", "supervisor")
    org.create_user(
        db,
        None,
        UserIn(username="smx_viewer", password=DEMO_PASSWORD, full_name="市局查看人员", unit_id=smx.id, role="viewer"),
    )
    for key, unit in counties.items():
        _users(db, unit, key, "official")
    yz_staff = _users(db, yz, "yz", "supervisor")
    town_staff = {key: _users(db, unit, key, "official") for key, unit in towns.items()}
    return Organisation(smx, counties, yz, towns, smx_staff, yz_staff, town_staff)


def smx_plan(shift: Shift) -> PlanIn:
    return PlanIn(
        title="关于2021年度国家和省巩固拓展脱贫攻坚成果同乡村振兴有效衔接考核评估反馈问题整改方案",
        doc_number="三建〔2022〕187号",
        issued_on=shift.issued_on,
        phases=[PhaseIn(name="整改落实", deadline=shift.text("6月底"))],
    )


def smx_problems(o: Organisation, shift: Shift) -> list[ProblemIn]:
    return [
        ProblemIn(
            category=category,
            nature=nature,
            title=title,
            description=desc,
            source="2021年度国家和省考核评估反馈",
            measures=measures,
            deadline=shift.text(deadline),
            unit_ids=[o.counties[k].id for k in only] if only else None,
            all_units_under=None if only else o.smx.id,
        )
        for category, nature, title, desc, measures, deadline, only in SMX_PROBLEMS
    ]


def yz_plan(shift: Shift) -> PlanIn:
    return PlanIn(
        title="禹州市2022年度第一轮巩固拓展脱贫攻坚成果农村危房改造“回头看”实施方案",
        doc_number="禹建〔2022〕39号",
        issued_on=shift.issued_on,
        phases=[
            PhaseIn(name="动员部署阶段", deadline=shift.text("5月底前")),
            PhaseIn(name="排查整改阶段", deadline=shift.text("6月中旬前")),
            PhaseIn(name="总结验收阶段", deadline=shift.text("6月25日前")),
        ],
    )


def yz_lookback(o: Organisation, shift: Shift) -> ProblemIn:
    return ProblemIn(
        category="农村危房改造",
        nature="common",
        title="开展脱贫户、监测对象住房安全“回头看”系统排查",
        measures="以乡镇为单位集中全面自查，列出问题清单，建立整改台账，每周报送一次。",
        deadline=shift.text("6月中旬前"),
        all_units_under=o.yz.id,
    )


def yz_self_reported(o: Organisation, shift: Shift) -> list[tuple[str, ProblemIn]]:
    """(town key, problem) for each problem a township reported itself."""
    return [
        (
            town,
            ProblemIn(
                category="农村危房改造",
                nature=nature,
                title=title,
                measures=measures,
                deadline=shift.text(deadline),
                source="乡镇自查",
                unit_ids=[o.towns[town].id],
            ),
        )
        for town, nature, title, measures, deadline in YZ_SELF_REPORTED
    ]


def summary(db: Database, o: Organisation, *plan_list) -> str:
    n_users = len(list(db.session().scalars(select(User.id))))
    return (
        f"demo loaded: {2 + len(o.counties) + len(o.towns)} units, {n_users} users, "
        f"plans {' and '.join(p.doc_number for p in plan_list)}"
    )


def load_demo(db: Database, now: datetime) -> str:
    """The organisation and both plans as issued in 2022, every task still 挂账."""
    o = build_organisation(db)
    as_smx, as_yz = Shift(SMX_ISSUED, SMX_ISSUED), Shift(YZ_ISSUED, YZ_ISSUED)
    smx = plans.create_plan(db, o.smx_staff["deputy"], smx_plan(as_smx))
    for problem in smx_problems(o, as_smx):
        plans.create_problem(db, o.smx_staff["deputy"], smx.id, problem, now)
    yz = plans.create_plan(db, o.yz_staff["deputy"], yz_plan(as_yz))
    plans.create_problem(db, o.yz_staff["deputy"], yz.id, yz_lookback(o, as_yz), now)
    for town, problem in yz_self_reported(o, as_yz):
        plans.create_problem(db, o.town_staff[town]["handler"], yz.id, problem, now)
    return summary(db, o, smx, yz)
