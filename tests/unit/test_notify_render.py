"""Rendering every kind of notification, in Chinese and English, from plain dicts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from jinja2 import UndefinedError

from app.domain.events import EVENT_KINDS
from app.notify.render import KINDS, china_date, render

DUE = datetime(2022, 6, 20, 15, 59, 59, tzinfo=UTC)  # 23:59:59 on 20 June in China: "by 6月20日"
TITLE = "农村危房改造档案资料不规范"

CONTEXTS = {
    "ack": {
        "title": TITLE,
        "unit": "湖滨区住建局",
        "due_at": DUE,
        "days": -2,
        "level": 2,
        "url": "https://rectify.example.cn/t/1",
    },
    "reminder": {
        "title": TITLE,
        "unit": "湖滨区住建局",
        "due_at": DUE,
        "days": 3,
        "url": "https://rectify.example.cn/t/1",
    },
    "escalation": {
        "title": TITLE,
        "unit": "湖滨区住建局",
        "due_at": DUE,
        "days": 5,
        "level": 2,
        "url": "https://rectify.example.cn/t/1",
    },
    "daily": {"title": TITLE, "unit": "湖滨区住建局", "days": 2, "url": "https://rectify.example.cn/t/2"},
    "digest": {
        "name": "王某",
        "url": "https://rectify.example.cn/me",
        "items": [
            {"title": TITLE, "unit": "湖滨区住建局", "due_at": DUE, "state": "in_progress", "overdue_days": 4},
            {"title": "违规收取费用", "unit": "陕州区住建局", "due_at": None, "state": "identified", "overdue_days": 0},
        ],
    },
    "notice_list": {
        "issuer": "三门峡市住房和城乡建设局",
        "url": "https://rectify.example.cn/tasks?colour=red",
        "items": [
            {"title": TITLE, "unit": "湖滨区住建局", "due_at": DUE, "overdue_days": 14},
            {"title": "违规收取费用", "unit": "陕州区住建局", "due_at": DUE, "overdue_days": 1},
        ],
    },
    "summary": {
        "url": "https://rectify.example.cn/tasks",
        "items": [
            {"title": TITLE, "unit": "湖滨区住建局", "due_at": DUE, "overdue_days": 4, "level": 1},
            {"title": "违规收取费用", "unit": "陕州区住建局", "due_at": None, "overdue_days": 0, "level": 0},
        ],
    },
    "escalation_notice": {
        "name": "王某",
        "url": "https://rectify.example.cn/tasks?overdue=true",
        "items": [
            {"title": TITLE, "unit": "湖滨区住建局", "due_at": DUE, "overdue_days": 4, "level": 1},
            {"title": "违规收取费用", "unit": "陕州区住建局", "due_at": DUE, "overdue_days": 9, "level": 2},
        ],
    },
    "obligation": {
        "title": "整改情况报告",
        "unit": "湖滨区住建局",
        "due_at": DUE,
        "days": 1,
        "url": "https://rectify.example.cn/r/1",
        "supervisor": "三门峡市住建局",
    },
    "lookback": {
        "title": TITLE,
        "unit": "湖滨区住建局",
        "due_at": DUE,
        "days": -2,
        "url": "https://rectify.example.cn/tasks/1#lookback",
    },
    "event": {
        "event": "rejected",
        "title": TITLE,
        "unit": "湖滨区住建局",
        "doc_number": "三建〔2022〕187号",
        "due_at": DUE,
        "actor": "张某",
        "actor_unit": "三门峡市住建局",
        "comment": "照片看不出改造后的房屋",
        "deadline": "",
        "old_deadline": "",
        "old_due_at": None,
        "approved": None,
        "count": 1,
        "titles": [],
        "url": "https://rectify.example.cn/tasks/1",
    },
}


def _title_of(context: dict) -> str:
    return context["items"][0]["title"] if "items" in context else context["title"]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_a_one_line_subject_a_text_and_an_html_page(kind, lang):
    context = CONTEXTS[kind]

    subject, text, html = render(kind, context, lang)

    assert subject and "\n" not in subject
    assert _title_of(context) in text
    assert _title_of(context) in html
    assert context["url"] in text and context["url"] in html
    assert html.startswith("<!DOCTYPE html>")
    assert f'lang="{"zh-CN" if lang == "zh" else "en"}"' in html


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "daily"])
def test_dates_are_shown_as_the_china_calendar_day(kind):
    _, zh_text, zh_html = render(kind, CONTEXTS[kind])
    _, en_text, _ = render(kind, CONTEXTS[kind], "en")

    assert "2022年6月20日" in zh_text and "2022年6月20日" in zh_html
    assert "20 June 2022" in en_text


def test_an_instant_after_four_in_the_afternoon_utc_is_already_the_next_day_in_china():
    assert china_date(datetime(2022, 6, 20, 15, 59, 59, tzinfo=UTC)) == "2022年6月20日"
    assert china_date(datetime(2022, 6, 20, 16, 0, tzinfo=UTC)) == "2022年6月21日"
    assert china_date(datetime(2022, 12, 31, 16, 0, tzinfo=UTC), "en") == "1 January 2023"


def test_a_naive_datetime_is_refused_rather_than_guessed():
    with pytest.raises(ValueError, match="naive"):
        render("reminder", CONTEXTS["reminder"] | {"due_at": datetime(2022, 6, 20)})


def test_html_escapes_a_title_with_a_script_tag_and_text_keeps_it_verbatim():
    title = '<script>alert("x")</script>整改'

    subject, text, html = render("reminder", CONTEXTS["reminder"] | {"title": title})

    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;整改" in html
    assert title in text and title in subject


def test_digest_items_are_escaped_too():
    items = [CONTEXTS["digest"]["items"][0] | {"title": "<b>x</b>"}]

    _, _, html = render("digest", CONTEXTS["digest"] | {"items": items})

    assert "&lt;b&gt;x&lt;/b&gt;" in html


def test_a_reminder_on_the_day_says_due_today():
    context = CONTEXTS["reminder"] | {"days": 0}

    assert "今日到期" in render("reminder", context)[0]
    assert "due today" in render("reminder", context, "en")[0]


def test_a_reminder_shows_the_deadline_as_the_notice_wrote_it():
    _, text, _ = render("reminder", CONTEXTS["reminder"] | {"deadline_text": "6月20日前"})

    assert "2022年6月20日（6月20日前）" in text
    assert "（）" not in render("reminder", CONTEXTS["reminder"] | {"deadline_text": ""})[1]


@pytest.mark.parametrize(
    ("level", "zh", "en"), [(1, "分管领导", "deputy"), (2, "主要负责人", "head"), (3, "上级主管单位", "supervising")]
)
def test_escalation_names_its_level_and_who_is_told(level, zh, en):
    context = CONTEXTS["escalation"] | {"level": level}

    zh_subject, zh_text, _ = render("escalation", context)
    en_subject, en_text, _ = render("escalation", context, "en")

    assert "已逾期5天" in zh_subject and zh in zh_text
    assert f"level {level}" in en_subject and en in en_text


def test_an_unknown_escalation_level_fails_loudly():
    with pytest.raises(UndefinedError):
        render("escalation", CONTEXTS["escalation"] | {"level": 4})


def test_digest_counts_overdue_items_and_names_states_in_the_readers_language():
    subject, text, _ = render("digest", CONTEXTS["digest"])
    en_subject, en_text, _ = render("digest", CONTEXTS["digest"], "en")

    assert "2项" in subject and "1项已逾期" in subject
    assert "整改中" in text and "挂账" in text and "已逾期4天" in text and "立行立改" in text
    assert "2 open" in en_subject and "1 overdue" in en_subject
    assert "in progress" in en_text and "4 days overdue" in en_text


def test_the_notice_list_names_the_issuer_and_how_long_each_item_is_overdue():
    subject, text, html = render("notice_list", CONTEXTS["notice_list"])
    en_subject, en_text, _ = render("notice_list", CONTEXTS["notice_list"], "en")

    assert subject == "【通报名单】三门峡市住房和城乡建设局督办事项中2项已升级至三级督办"
    assert "已逾期14天" in text and "已逾期1天" in text and "14 天" in html
    assert en_subject.startswith("[Public-notice list] 2 items")
    assert "14 days overdue" in en_text and "1 day overdue" in en_text


def test_a_late_report_says_how_late():
    context = CONTEXTS["obligation"] | {"days": -3}

    assert "已逾期3天" in render("obligation", context)[0]
    assert "3 days late" in render("obligation", context, "en")[0]


def test_the_recipients_name_opens_the_message_when_given():
    _, text, html = render("reminder", CONTEXTS["reminder"] | {"name": "张某"})

    assert text.startswith("张某：")
    assert "<p>张某：</p>" in html


def test_a_missing_key_is_an_error_not_a_blank():
    context = dict(CONTEXTS["reminder"])
    del context["unit"]

    with pytest.raises(UndefinedError):
        render("reminder", context)


@pytest.mark.parametrize(("kind", "lang"), [("memo", "zh"), ("reminder", "fr")])
def test_unknown_kinds_and_languages_are_refused(kind, lang):
    with pytest.raises(ValueError):
        render(kind, CONTEXTS["reminder"], lang)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("event", EVENT_KINDS)
def test_every_workflow_event_has_its_own_subject_and_names_the_page_to_act_on(event, lang):
    context = CONTEXTS["event"] | {"event": event, "approved": event == "extension_decided", "deadline": "8月31日"}

    subject, text, html = render("event", context, lang)

    others = {render("event", context | {"event": k}, lang)[0] for k in EVENT_KINDS if k != event}
    assert subject not in others
    assert TITLE in subject and context["url"] in text and context["url"] in html


def test_a_reason_is_shown_with_its_label_and_escaped_in_html():
    context = CONTEXTS["event"] | {"comment": "<img src=x>照片不清楚"}

    _, text, html = render("event", context)
    _, en_text, _ = render("event", context, "en")

    assert "退回理由：<img src=x>照片不清楚" in text
    assert "&lt;img src=x&gt;照片不清楚" in html and "<img" not in html
    assert "Reason: <img src=x>" in en_text


def test_an_extension_decision_says_whether_it_was_granted_and_the_new_deadline():
    context = CONTEXTS["event"] | {"event": "extension_decided", "deadline": "8月31日"}

    granted = render("event", context | {"approved": True})
    refused = render("event", context | {"approved": False}, "en")

    assert "【延期已批准】" in granted[0] and "新的整改时限为8月31日" in granted[1]
    assert "[Extension refused]" in refused[0] and "stays as it was" in refused[1]


def test_an_unknown_event_fails_loudly():
    with pytest.raises(UndefinedError):
        render("event", CONTEXTS["event"] | {"event": "teleported"})


def test_a_digest_lists_the_days_workflow_events_after_the_open_items():
    events = [{"subject": "【退回整改】危房改造", "url": "https://rectify.example.cn/tasks/1"}]

    subject, text, html = render("digest", CONTEXTS["digest"] | {"events": events})
    only_events = render("digest", CONTEXTS["digest"] | {"items": [], "events": events}, "en")

    assert "另有1条动态" in subject and "【退回整改】危房改造" in text and "tasks/1" in html
    assert only_events[0] == "[Updates] 王某, you have 1 new update"


def test_an_import_tells_a_unit_once_how_many_tasks_it_got_and_names_the_first_ones():
    context = CONTEXTS["event"] | {"event": "assigned", "title": "回头看专项整治", "count": 12, "titles": ["甲", "乙"]}

    subject, text, html = render("event", context)
    en_subject, en_text, _ = render("event", context, "en")

    assert subject == "【整改交办】三门峡市住建局交办12项整改任务（湖滨区住建局）"
    assert "1. 甲\n2. 乙\n……共12项" in text and "<li>乙</li>" in html
    assert en_subject.startswith("[New tasks] 12 tasks") and "… 12 in all" in en_text


def test_an_in_app_message_can_skip_the_html_it_never_shows():
    subject, text, html = render("event", CONTEXTS["event"], "zh", html=False)

    assert (subject, text) == render("event", CONTEXTS["event"])[:2] and html == ""


def test_a_group_summary_counts_its_items_and_says_which_are_overdue_and_at_which_level():
    subject, text, _ = render("summary", CONTEXTS["summary"])
    _, en_text, _ = render("summary", CONTEXTS["summary"], "en")

    assert subject == "【整改提醒汇总】2项整改事项需要关注，其中1项已逾期"
    assert "1. 农村危房改造档案资料不规范（湖滨区住建局；整改时限2022年6月20日；已逾期4天，一级督办）" in text
    assert "2. 违规收取费用（陕州区住建局；立行立改）" in text
    assert "4 days overdue, level 1 supervision" in en_text


def test_an_escalation_notice_lists_each_of_the_persons_escalated_items_with_its_level():
    subject, text, html = render("escalation_notice", CONTEXTS["escalation_notice"])
    en_subject, en_text, _ = render("escalation_notice", CONTEXTS["escalation_notice"], "en")

    assert subject == "【逾期督办】2项整改事项已逾期，现按程序督办"
    assert "王某：" in text
    assert "1. 农村危房改造档案资料不规范\n   责任单位：湖滨区住建局；整改时限：2022年6月20日；已逾期4天；一级" in text
    assert "2. 违规收取费用\n   责任单位：陕州区住建局；整改时限：2022年6月20日；已逾期9天；二级督办" in text
    assert "违规收取费用" in html and "二级" in html
    assert en_subject == "[Overdue] 2 rectification items past the deadline, now escalated"
    assert "9 days overdue; level 2 supervision" in en_text


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_the_ack_ladder_names_whom_it_reached_and_asks_for_the_acknowledgement(level):
    context = CONTEXTS["ack"] | {"level": level, "days": 0 if level == 0 else -level}
    subject, text, _ = render("ack", context)
    en_subject, en_text, _ = render("ack", context, "en")
    if level == 0:
        assert subject.startswith("【请签收】") and "今日须签收" in subject
        assert en_subject.startswith("[Please acknowledge]")
    else:
        assert subject.startswith(f"【签收督办·{level}级】") and f"逾期{level}天未签收" in subject
        assert {1: "经办人", 2: "单位主要负责人", 3: "下发方案单位"}[level] in text
        assert f"level {level}" in en_text
    assert "签收时限：2022年6月20日" in text and "拒收" in text
