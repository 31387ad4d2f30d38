"""The labelling view's data: speech.labels for the utterances, the knowledge base's item list for the picker."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.models.kb import KBBundle, KBItem


@dataclass(frozen=True)
class Choice:
    code: str
    name: str


def item_choices(session: Session) -> list[Choice]:
    """Every item and bundle, for the labeller's type-ahead list (code first: "GA-001 养犬登记证核发")."""
    items = session.execute(select(KBItem.code, KBItem.name).order_by(KBItem.code)).all()
    bundles = session.execute(select(KBBundle.code, KBBundle.name).order_by(KBBundle.code)).all()
    return [Choice(code, name) for code, name in [*items, *bundles]]


def known_code(session: Session, code: str) -> bool:
    return bool(session.scalar(select(KBItem.id).where(KBItem.code == code))
                or session.scalar(select(KBBundle.id).where(KBBundle.code == code)))
