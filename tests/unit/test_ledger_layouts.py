"""The pure rules of the ledger layouts: headers, rows, unit names, export tables."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from app.demo import SMX_COUNTIES, YZ_TOWNS
from app.domain.ledger_layouts import (
    LINE_POINTS,
    SANMENXIA,
    YUZHOU,
    Column,
    ExportProblem,
    Header,
    abbreviates,
    all_closed,
    cell_text,
    chinese_number,
    export_groups,
    export_table,
    is_scope,
    lines_needed,
    match_header,
    nature_of,
    neutralise,
    normal_name,
    parse_key,
    progress_text,
    read_rows,
    restore,
    row_height,
    row_key,
    scope_fits,
    scope_phrase,
    short_title,
    split_units,
    text_width,
    unmerge,
)

SMX_HEADER = ["序号", "类型", "数量", "具体问题", "问题简述", "整改措施简述", "整改时限", "责任单位", "备注"]
YZ_HEADER = ["序号", "问题类型", "问题性质", "问题表述", "整改措施", "完成时限", "责任单位"]


def smx_header() -> Header:
    layout, columns = match_header(SMX_HEADER)
    return Header(layout, 1, columns)


def test_the_sanmenxia_header_is_recognised_by_its_column_names():
    layout, columns = match_header(SMX_HEADER)
    assert layout is SANMENXIA
    assert columns == {
        "seq": 0,
        "category": 1,
        "count": 2,
        "title": 3,
        "description": 4,
        "measures": 5,
        "deadline": 6,
        "units": 7,
        "remarks": 8,
    }


def test_the_yuzhou_header_is_recognised_by_its_nature_column():
    layout, columns = match_header(YZ_HEADER)
    assert layout is YUZHOU
    assert columns["nature"] == 2 and columns["deadline"] == 5


def test_headers_match_despite_spaces_line_breaks_full_width_forms_and_bracketed_notes():
    row = [
        None,
        "序　号",
        "问题\n类型",
        "问题性质",
        " 问题表述 ",
        "整改措施",
        "完成时限（精确到“日”）",
        "责任单位(盖章)",
    ]
    layout, columns = match_header(row)
    assert layout is YUZHOU
    assert columns["seq"] == 1 and columns["deadline"] == 6 and columns["units"] == 7


@pytest.mark.parametrize(
    "row",
    [
        ["禹州市脱贫攻坚农村危房改造情况排查整改台账"],
        ["单位（盖章）：", None, None, None, None, "2022年  月  日"],
        ["序号", "问题类型", "问题表述", "完成时限"],  # neither layout: no 问题性质, no 具体问题
        [],
    ],
)
def test_title_lines_and_partial_headers_are_not_taken_for_a_header(row):
    assert match_header(row) is None


def test_unmerging_gives_every_cell_of_a_range_its_top_left_value():
    grid = [["1", "政策落实方面", "a"], [None, None, "b"], ["二", "工作落实方面", "c"]]
    out = unmerge(grid, [(1, 1, 2, 1), (1, 2, 2, 2)])
    assert out == [["1", "政策落实方面", "a"], ["1", "政策落实方面", "b"], ["二", "工作落实方面", "c"]]
    assert grid[1][0] is None, "the input grid is left as it was"


def test_unmerging_ignores_the_parts_of_a_range_beyond_the_sheet():
    assert unmerge([["x", None]], [(1, 1, 1_000_000, 50), (5, 1, 6, 1)]) == [["x", "x"]]


def test_continuation_rows_carry_the_category_of_the_row_above():
    grid = [
        SMX_HEADER,
        [
            "1",
            "政策落实方面",
            3,
            "农村危房改造不及时。",
            "济源示范区……还未改造。",
            "举一反三",
            "6月20日",
            "各县（市、区）",
            None,
        ],
        [
            None,
            None,
            None,
            None,
            "省第三方评估组发现，武某某仍在危房居住；另有一户",
            "整治",
            "立行立改",
            "各县（市、区）",
            None,
        ],
        ["二", "工作\n落实\n方面", 6, "档案资料填写不规范", "描述", "措施", "立行立改", "卢氏县住建局", "备注一"],
    ]
    rows = read_rows(smx_header(), grid)
    assert [(r.row, r.category) for r in rows] == [(2, "政策落实方面"), (3, "政策落实方面"), (4, "工作落实方面")]
    assert rows[0].title == "农村危房改造不及时", "a trailing full stop is not part of a title"
    assert rows[1].title == "省第三方评估组发现，武某某仍在危房居住", "no 具体问题: the first sentence of 问题简述"
    assert rows[2].remarks == "备注一" and rows[2].units == "卢氏县住建局"


def test_empty_template_lines_footnotes_merged_notes_and_repeated_headers_are_not_problems():
    note = "备注：“问题类型”指农村危房改造；完成时限精准到“日”。"
    grid = [
        YZ_HEADER,
        [1, "农村危房改造", "个性问题", "未挂牌", "补挂", "6月10日", "古城镇"],
        [2, None, None, None, None, None, None],
        [3, "...", "...", "...", "…", "...", "..."],
        YZ_HEADER,
        [4, None, "个性问题", "资金台账不完整", "补齐", "6月12日", "顺店镇"],
        [note] * 7,
        ["注：本表一式两份"],
    ]
    rows = read_rows(Header(YUZHOU, 1, match_header(YZ_HEADER)[1]), grid)
    assert [(r.row, r.category) for r in rows] == [(2, "农村危房改造"), (6, "农村危房改造")]


def test_a_long_description_gives_a_title_cut_to_forty_characters():
    title = short_title(
        "省第三方评估组发现，三门峡市陕州区张湾乡西罐村监测户武某某，房屋经鉴定为D级危房，正在进行危房改造；其余"
    )
    assert len(title) == 40 and title.endswith("…")


def test_cells_read_as_the_official_sees_them():
    assert cell_text(3.0) == "3"
    assert cell_text(2.5) == "2.5"
    assert cell_text(datetime(2022, 6, 15)) == "2022-06-15"
    assert cell_text(date(2022, 6, 15)) == "2022-06-15"
    assert cell_text("  6月15日 \r\n") == "6月15日"
    assert cell_text("……") == "" and cell_text(None) == ""


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("各县（市、区）住房和城乡建设部门", ["各县（市、区）住房和城乡建设部门"]),
        ("古城镇、顺店镇", ["古城镇", "顺店镇"]),
        ("古城镇，顺店镇,火龙镇；神垕镇;方山镇\n磨街乡", ["古城镇", "顺店镇", "火龙镇", "神垕镇", "方山镇", "磨街乡"]),
        ("卢氏县 住建局、卢氏县住建局、", ["卢氏县住建局"]),
        ("各县(市、区)、卢氏县", ["各县(市、区)", "卢氏县"]),
        ("", []),
    ],
)
def test_responsible_units_split_on_separators_but_not_inside_brackets(text, names):
    assert split_units(text) == names


@pytest.mark.parametrize(
    "name",
    [
        "各县（市、区）住房和城乡建设部门",
        "各县（市、区）住房城乡建设局",
        "各乡镇人民政府",
        "各乡镇",
        "各县（市、区）",
        "全市各乡镇",
    ],
)
def test_a_phrase_starting_with_each_is_a_scope(name):
    assert is_scope(name)


def test_a_unit_name_is_not_a_scope():
    assert not is_scope("卢氏县住房和城乡建设局") and not is_scope("其他县（市、区）")


@pytest.mark.parametrize(
    ("short", "full"),
    [
        ("卢氏县住建局", "卢氏县住房和城乡建设局"),
        ("卢氏县住房城乡建设局", "卢氏县住房和城乡建设局"),
        ("卢氏县", "卢氏县住房和城乡建设局"),
        ("城乡一体化示范区住建局", "城乡一体化示范区住房和城乡建设局"),
        ("古城镇", "古城镇人民政府"),
        ("古城镇政府", "古城镇人民政府"),
        ("磨街乡", "磨街乡人民政府"),
    ],
)
def test_a_short_form_matches_by_its_place_name_and_the_rest_in_order(short, full):
    assert abbreviates(normal_name(short), normal_name(full))


@pytest.mark.parametrize(
    ("short", "full"),
    [
        ("陕州区住建局", "湖滨区住房和城乡建设局"),  # another place
        ("卢氏县财政局", "卢氏县住房和城乡建设局"),  # another body of the same place
        ("城乡建设局", "城乡一体化示范区住房和城乡建设局"),  # 城乡 is not the place here
        ("住建局", "卢氏县住房和城乡建设局"),  # no place at all
        ("古城", "古城镇人民政府"),  # not a whole place name
    ],
)
def test_a_short_form_does_not_match_another_place_or_body(short, full):
    assert not abbreviates(normal_name(short), normal_name(full))


def test_nature_comes_from_the_column_or_else_from_whether_the_units_are_a_scope():
    assert nature_of("共性问题", scope=False) == "common"
    assert nature_of("个性问题", scope=True) == "individual"
    assert nature_of(" 共性 ", scope=False) == "common"
    assert nature_of("", scope=True) == "common"
    assert nature_of("", scope=False) == "individual"
    with pytest.raises(ValueError, match="一般问题"):
        nature_of("一般问题", scope=False)


def test_the_scope_phrase_is_built_from_the_names_of_the_units_under_the_issuer():
    assert scope_phrase(list(SMX_COUNTIES.values())) == "各县（市、区）住房和城乡建设部门"
    assert scope_phrase(list(YZ_TOWNS.values())) == "各乡（镇）人民政府"
    assert scope_phrase(["城关街道办事处", "东城街道办事处"]) == "各街道办事处"
    assert scope_phrase(["A县乡村振兴局", "B区乡村振兴局"]) == "各县（区）乡村振兴部门"
    assert scope_phrase(["办公室", "财务科"]) == "各下属单位"
    assert all(is_scope(scope_phrase(names)) for names in (["办公室", "财务科"], list(YZ_TOWNS.values())))


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x","点我")', "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_text_a_spreadsheet_would_run_is_prefixed_with_a_quote_and_read_back_as_written(text):
    assert neutralise(text) == "'" + text
    assert restore(neutralise(text)) == text


def test_harmless_text_and_numbers_are_not_touched_and_control_characters_go_first():
    assert neutralise("农村危房改造") == "农村危房改造" and neutralise(3) == 3
    assert neutralise("\x01=cmd") == "'=cmd"
    assert restore("'不是公式") == "'不是公式"


def test_progress_counts_closed_tasks_of_all_then_the_other_states():
    assert progress_text({"closed": 3, "in_progress": 2, "identified": 2}) == "3/7 已销号，2 整改中，2 挂账"
    assert progress_text({"identified": 1}) == "0/1 已销号，1 挂账"
    assert all_closed({"closed": 2}) and not all_closed({"closed": 1, "verified": 1}) and not all_closed({})


def test_categories_are_numbered_in_chinese_as_the_annex_does():
    assert [chinese_number(n) for n in (1, 2, 9, 10, 11, 20, 35)] == ["一", "二", "九", "十", "十一", "二十", "三十五"]


def problem(seq: int, category: str, title: str, description: str = "", nature: str = "common") -> ExportProblem:
    return ExportProblem(
        seq, seq, category, nature, title, description, "措施", "立行立改", "各乡镇", "", "0/1 已销号", False
    )


def test_the_sanmenxia_export_numbers_and_merges_each_run_of_a_category():
    table = export_table(
        SANMENXIA,
        [
            problem(1, "政策落实方面", "农村危房改造不及时"),
            problem(2, "政策落实方面", "武某某仍在危房居住", "武某某仍在危房居住；另有一户"),
            problem(3, "工作落实方面", "=HYPERLINK(1)"),
        ],
    )
    assert table.header[-3:] == ["进展", "是否销号", "签收情况"] and table.header[0] == "序号"
    assert [r[:4] for r in table.rows] == [
        ["一", "政策落实方面", "2", "农村危房改造不及时"],
        ["一", "政策落实方面", "2", ""],  # the title is the head of the description, as in the annex
        ["二", "工作落实方面", "1", "'=HYPERLINK(1)"],
    ]
    assert table.merges == [(0, 1, 0), (0, 1, 1), (0, 1, 2)]
    assert table.rows[0][-2] == "否"


def test_the_yuzhou_export_has_one_numbered_row_per_problem_and_no_merges():
    table = export_table(
        YUZHOU, [problem(5, "农村危房改造", "未挂牌", nature="individual"), problem(6, "农村危房改造", "x")]
    )
    assert table.header == [*YZ_HEADER, "进展", "是否销号", "签收情况"]
    assert [r[:4] for r in table.rows] == [
        ["5", "农村危房改造", "个性问题", "未挂牌"],
        ["6", "农村危房改造", "共性问题", "x"],
    ]
    assert table.merges == []


# ---- re-import keys, scope phrases, printing ------------------------------------------
def test_a_row_key_names_its_plan_and_problem_and_nothing_else_reads_as_one():
    assert row_key(12, 7) == "P12-7" and parse_key("P12-7") == (12, 7) and parse_key(" P12-7 ") == (12, 7)
    assert [parse_key(t) for t in ("", "12-7", "P12", "P-1-2", "P12-7x")] == [None] * 5


def test_a_scope_phrase_fits_only_units_of_the_levels_it_names():
    counties = ["卢氏县住房和城乡建设局", "义马市住房和城乡建设局", "湖滨区住房和城乡建设局"]
    towns = ["古城镇人民政府", "磨街乡人民政府"]
    assert scope_fits("各县（市、区）住房和城乡建设部门", counties)
    assert not scope_fits("各县（市、区）住房和城乡建设部门", towns)
    assert scope_fits("各乡镇人民政府", towns) and scope_fits("各乡（镇）人民政府", towns)
    assert not scope_fits("各乡镇人民政府", counties)
    assert scope_fits("各下属单位", towns) and scope_fits("各有关单位", counties), "no level named: any units"


def test_a_wrapped_cell_needs_a_line_per_column_width_of_text_and_per_paragraph():
    assert text_width("abc") == 3 and text_width("整改") == 4
    assert lines_needed("", 10) == 1 and lines_needed("整改" * 4, 10) == 2  # 16 units in 9 a line
    assert lines_needed("第一段\n第二段", 40) == 2
    columns = [Column("a", "A", 10), Column("b", "B", 40)]
    assert row_height(["整改" * 4, "短"], columns) == 2 * LINE_POINTS + 3


def test_the_export_streams_one_category_group_at_a_time():
    groups = list(export_groups(SANMENXIA, [problem(1, "甲", "一"), problem(2, "甲", "二"), problem(3, "乙", "三")]))
    assert [len(g) for g in groups] == [2, 1]
    assert groups[0][0][-1] == "" and len(groups[0][0]) == len(SANMENXIA.columns) + 4, "progress, closed, 签收, key"
    assert [len(g) for g in export_groups(YUZHOU, [problem(1, "甲", "一"), problem(2, "甲", "二")])] == [1, 1]


def test_the_ledger_says_who_acknowledged_each_task_and_on_which_day():
    from datetime import date

    from app.domain.ledger_layouts import Receipt, receipt_text

    one = [Receipt("卢氏县住房和城乡建设局", "acknowledged", "张某", date(2022, 6, 8))]
    assert receipt_text(one) == "张某 2022年6月8日签收"
    many = [*one, Receipt("湖滨区住房和城乡建设局", "declined"), Receipt("义马市住房和城乡建设局", "pending")]
    assert receipt_text(many).split("\n") == [
        "卢氏县住房和城乡建设局：张某 2022年6月8日签收",
        "湖滨区住房和城乡建设局：已拒收",
        "义马市住房和城乡建设局：待签收",
    ]
    assert receipt_text([Receipt("卢氏县", "acknowledged")]) == "已签收"  # before 签收 was recorded
