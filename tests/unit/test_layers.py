"""The layers speak their own language: what each package may import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"


def imports_of(package: str) -> list[tuple[str, str]]:
    """(module file, imported module) for every absolute import under app/<package>."""
    found = []
    for path in sorted((APP / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [(path.name, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found += [(path.name, node.module)]
    return found


def reaching(package: str, forbidden: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(f, m) for f, m in imports_of(package) if any(m == p or m.startswith(p + ".") for p in forbidden)]


def test_the_domain_rules_import_no_framework_database_or_use_case():
    assert imports_of("domain"), "no domain modules found"
    forbidden = ("flask", "werkzeug", "sqlalchemy", "app.db", "app.models", "app.services", "app.web", "app.api")
    assert reaching("domain", forbidden) == []


def test_the_use_cases_import_neither_the_pages_nor_the_api_nor_flask():
    assert reaching("services", ("flask", "app.web", "app.api", "app.http")) == []


@pytest.mark.parametrize("name", ["NotFound", "Forbidden", "Conflict", "Invalid", "TooLarge", "Unauthorized"])
def test_a_service_error_knows_no_http_status_and_the_http_layer_maps_it(name):
    from app.http import http_status
    from app.services import errors

    cls = getattr(errors, name)
    assert not hasattr(cls, "status")
    assert 400 < http_status(cls("x"))[0] < 500
