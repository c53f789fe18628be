"""Resolving 责任单位 text against the unit tree of the plan's issuer."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.ledger_layouts import (
    abbreviates,
    is_scope,
    normal_name,
    scope_fits,
    split_units,
)
from app.models import Unit


@dataclass
class Resolved:
    units: list[Unit]
    scope: bool  # a 「各…」 phrase was among the names
    errors: list[str]


class UnitResolver:
    """责任单位 text → units in the subtree of the plan's issuing unit.

    The unit tree is loaded once per file and each distinct cell text resolved once, so
    a ten-thousand-row ledger costs a handful of lookups, not one per row.
    """

    def __init__(self, s: Session, issuer: Unit) -> None:
        self.issuer = issuer
        self.units = list(s.scalars(select(Unit).where(Unit.path.startswith(issuer.path)).order_by(Unit.id)))
        self.children = [u for u in self.units if u.parent_id == issuer.id]
        self.by_name: dict[str, list[Unit]] = defaultdict(list)
        for u in self.units:
            self.by_name[normal_name(u.name)].append(u)
        self._memo: dict[str, Unit | str] = {}
        self._resolved: dict[str, Resolved] = {}

    def resolve(self, text: str) -> Resolved:
        found = self._resolved.get(text)
        if found is None:
            found = self._resolved[text] = self._resolve(text)
        return found

    def _resolve(self, text: str) -> Resolved:
        names = split_units(text)
        if not names:
            return Resolved([], False, ["责任单位为空"])
        units: dict[int, Unit] = {}
        scope, errors = False, []
        for name in names:
            if is_scope(name):
                scope = True
                if not self.children:
                    errors.append(f"责任单位「{name}」指下级单位，但「{self.issuer.name}」没有下级单位")
                elif not scope_fits(name, [u.name for u in self.children]):
                    errors.append(
                        f"责任单位「{name}」与本方案的下级单位不符（「{self.issuer.name}」的下级单位是"
                        f"{'、'.join(u.name for u in self.children[:3])}{'等' if len(self.children) > 3 else ''}）"
                    )
                    continue
                units.update((u.id, u) for u in self.children)
                continue
            found = self._memo.get(name) or self._memo.setdefault(name, self._one(name))
            if isinstance(found, str):
                errors.append(found)
            else:
                units[found.id] = found
        return Resolved(list(units.values()), scope, errors)

    def _one(self, name: str) -> Unit | str:
        """The unit a name means: the exact name, else a short form (卢氏县住建局, 古城镇);
        among several, the one nearest the issuer if that is unambiguous."""
        norm = normal_name(name)
        found = self.by_name.get(norm) or [u for u in self.units if abbreviates(norm, normal_name(u.name))]
        if not found:
            return f"责任单位「{name}」不是「{self.issuer.name}」或其下级单位"
        nearest = [u for u in found if u.depth == min(x.depth for x in found)]
        if len(nearest) > 1:
            return f"责任单位「{name}」可能指：{'、'.join(u.name for u in nearest[:5])}，请写全称"
        return nearest[0]
