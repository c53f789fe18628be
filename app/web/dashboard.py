"""The supervisor's dashboard. Charts are drawn by ECharts, served from the app; the
data travels as a JSON block (CSP forbids inline scripts)."""

from __future__ import annotations

from flask import g, render_template, request

from app.schemas import db_int
from app.services import dashboard, plans
from app.web import bp, login_required, rt


@bp.get("/dashboard")
@login_required
def dashboard_page():
    plan_id = request.args.get("plan_id", type=db_int)
    now = rt().clock()
    board = dashboard.build(rt().db, g.user, now, plan_id)
    charts = {
        "states": [[k, v] for k, v in board.figures.by_state.items()],
        "units": [[u, o, n] for u, o, n in board.overdue_by_unit[:20]],
        "categories": [[c, n] for c, n in board.overdue_by_category],
        "burndown": board.burndown,
    }
    return render_template(
        "dashboard.html",
        board=board,
        charts=charts,
        plan_id=plan_id,
        plans=plans.plan_choices(rt().db, g.user),
    )
