"""Every refusal a person can meet has its English words: each place that raises a service
error or a state table's refusal words it as a template with its values (never an
f-string), and the pages' catalogue (app.web.i18n.EN) gives the template in English with
the same ``{name}`` places. A page switched to English, or an API request preferring
English, then says why in English, with the values (a unit's name, a number) filled in."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

from app.domain.deadlines import _REASONS
from app.domain.recurrence import RecurrenceError
from app.services.errors import Conflict, Invalid, NotFound, Words
from app.web.i18n import EN, refusal

ROOT = Path(__file__).resolve().parents[2] / "app"
ERRORS = {"Invalid", "Conflict", "NotFound", "Forbidden", "TooLarge", "Unauthorized", "TooManyAttempts", "ServiceError"}
# callee → index of the argument holding the wording
WORDING = {name: 0 for name in ERRORS} | {"require": 1, "TransitionError": 1, "after": 0}
CJK = ("\u3400", "\u9fff")


def chinese(text: str) -> bool:
    return any(CJK[0] <= ch <= CJK[1] for ch in text)


def places(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level NAME = "text" constants (a refusal may name one)."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value.value
    return found


def _text(node: ast.AST, constants: dict[str, str], local: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return local.get(node.id, constants.get(node.id))
    return None


def raise_sites() -> list[tuple[str, str | None, set[str] | None, str]]:
    """(where, template or None when it is not a fixed text, the values given or None
    when passed on wholesale, what the wording argument is) for every refusal in app/."""
    sites = []
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(ROOT.rglob("*.py"))}
    constants = {name: text for tree in trees.values() for name, text in _constants(tree).items()}
    for path, tree in trees.items():
        for func in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]:
            local = {
                t.id: n.value.value
                for n in ast.walk(func)
                if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                for t in n.targets
                if isinstance(t, ast.Name)
            }
            for call in [n for n in ast.walk(func) if isinstance(n, ast.Call)]:
                f = call.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
                if name not in WORDING or (name == "after" and not isinstance(f, ast.Attribute)):
                    continue
                index = WORDING[name]
                if len(call.args) <= index:
                    continue  # e.g. werkzeug's NotFound(): a plain 404
                arg = call.args[index]
                given = None if any(k.arg is None for k in call.keywords) else {k.arg for k in call.keywords}
                where = f"{path.relative_to(ROOT.parent)}:{call.lineno}"
                sites.append((where, _text(arg, constants, local), given, ast.unparse(arg)))
    return sites


SITES = raise_sites()
# wording handed on from a refusal already checked at its own raise site
PASSED_ON = {"err.template", "lead", "message"}


def test_the_deadline_and_schedule_refusals_have_english_words_too():
    for template in [problem + "。可接受的写法：{forms}" for problem, _gloss in _REASONS.values()] + [
        RecurrenceError("x").template
    ]:
        assert template in EN and places(EN[template]) == places(template), template


def test_the_walk_finds_the_refusals():
    assert len(SITES) > 100, len(SITES)


@pytest.mark.parametrize(("where", "template", "given", "arg"), SITES, ids=[s[0] for s in SITES])
def test_each_refusal_is_a_template_with_english_words_and_the_same_places(where, template, given, arg):
    if template is None:
        assert arg in PASSED_ON, f"{where}: word the refusal as a fixed template with values, not {arg}"
        return
    if not chinese(template):
        return  # worded in English already (the CLI's own checks)
    assert template in EN, f"{where}: no English for {template!r} in app.web.i18n.EN"
    assert places(EN[template]) == places(template), f"{where}: the English has other places than {template!r}"
    if given is not None:
        assert places(template) <= given, f"{where}: {template!r} needs the values {places(template) - given}"


def test_a_refusal_reads_in_english_with_its_values_and_its_lead_and_stays_chinese_in_chinese():
    err = NotFound("单位 {id} 不存在或不在您的权限范围内。", id=7).after("第 {row} 行：", row=3)
    assert err.message == "第 3 行：单位 7 不存在或不在您的权限范围内。"
    assert refusal(err, "zh") == err.message
    assert refusal(err, "en") == "Row 3: Unit 7 does not exist or is outside what you may see."
    named = Invalid("「{name}」下没有下级单位，无法分解任务。", name="卢氏县住房和城乡建设局")
    assert refusal(named, "en").startswith("卢氏县住房和城乡建设局 has no units under it")
    both = Invalid("提醒设置{reason}", reason=Words("应为键值对象", "must be a mapping"))
    assert refusal(both, "en").endswith("must be a mapping") and "应为键值对象" in refusal(both, "zh")
    listed = Conflict("所选任务都不能催办：").then(
        ("任务 {id}：", {"id": 4}), *Conflict("该任务已整改完毕或已销号，无需催办。").parts
    )
    assert "Task 4: " in refusal(listed, "en") and not chinese(refusal(listed, "en"))
