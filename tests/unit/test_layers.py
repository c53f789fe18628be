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


def test_the_tasks_import_neither_the_app_factory_nor_the_worker_entry_so_there_is_no_cycle():
    tasks = ast.parse((APP.parent / "workers" / "tasks.py").read_text(encoding="utf-8"))
    imported = {(n.module, a.name) for n in ast.walk(tasks) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert ("celery", "shared_task") in imported, "tasks are declared with celery's shared_task"
    assert ("app", "create_app") not in imported
    assert not {m for m, _ in imported if m and m.startswith("workers")}, "nothing of the worker entry"


def test_every_app_from_the_factory_carries_its_celery_with_the_named_tasks_bound_to_it(tmp_path):
    import workers.tasks  # noqa: F401  (the worker entry imports it the same way)
    from app import create_app
    from config import TestConfig

    app = create_app(TestConfig(f"sqlite:///{tmp_path / 'r.db'}", tmp_path))
    celery = app.extensions["celery"]
    assert {"rectify.tick", "rectify.deliver", "rectify.import_ledger"} <= set(celery.tasks)
    assert celery.conf.task_acks_late and celery.conf.beat_schedule["tick"]["task"] == "rectify.tick"
