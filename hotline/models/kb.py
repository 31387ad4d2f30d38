"""Knowledge-base tables: departments, service items with their materials, FAQ and aliases, bundles, centre facts.

Short ordered lists that are only ever read whole (conditions, process steps, legal basis, delivery modes) are
JSON columns; things the admin panel edits one by one (materials, FAQ, aliases) are rows of their own.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.models.base import Base, utcnow


class KBDepartment(Base):
    __tablename__ = "kb_departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    short_name: Mapped[str] = mapped_column(String(40))
    phone: Mapped[str] = mapped_column(String(32), default="")

    items: Mapped[list[KBItem]] = relationship(back_populates="department", order_by="KBItem.position")


class KBItem(Base):
    __tablename__ = "kb_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("kb_departments.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)  # order within the department file (round-trip export)
    name: Mapped[str] = mapped_column(String(120))
    target: Mapped[str] = mapped_column(String(16))
    conditions: Mapped[list] = mapped_column(JSON, default=list)
    process: Mapped[list] = mapped_column(JSON, default=list)
    legal_days: Mapped[int] = mapped_column(default=0)
    promised_days: Mapped[int] = mapped_column(default=0)
    fee_charged: Mapped[bool] = mapped_column(default=False)
    fee_standard: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(120), default="")
    hours: Mapped[str] = mapped_column(String(120), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    basis: Mapped[list] = mapped_column(JSON, default=list)
    online_web: Mapped[bool] = mapped_column(default=False)
    online_mobile: Mapped[bool] = mapped_column(default=False)
    online_note: Mapped[str] = mapped_column(Text, default="")
    online_full: Mapped[bool] = mapped_column(default=False, server_default=false())  # 全程网办
    delivery: Mapped[list] = mapped_column(JSON, default=list)
    tolerance_allowed: Mapped[bool] = mapped_column(default=False)
    tolerance_later: Mapped[list] = mapped_column(JSON, default=list)
    weekend: Mapped[bool] = mapped_column(default=False)
    bookable: Mapped[bool] = mapped_column(default=False)
    self_service: Mapped[bool] = mapped_column(default=False)
    # The 四全 flags of issue 11; server defaults so rows imported before migration 0008 read as "no".
    citywide: Mapped[bool] = mapped_column(default=False, server_default=false())  # 全城通办
    door_to_door: Mapped[bool] = mapped_column(default=False, server_default=false())  # 上门服务
    sample_form: Mapped[bool] = mapped_column(default=False, server_default=false())  # 样表下载
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(64))

    department: Mapped[KBDepartment] = relationship(back_populates="items")
    materials: Mapped[list[KBMaterial]] = relationship(
        back_populates="item", cascade="all, delete-orphan", order_by="KBMaterial.position"
    )
    faqs: Mapped[list[KBFaq]] = relationship(back_populates="item", cascade="all, delete-orphan", order_by="KBFaq.position")
    aliases: Mapped[list[KBAlias]] = relationship(
        back_populates="item", cascade="all, delete-orphan", order_by="KBAlias.position"
    )


class KBMaterial(Base):
    __tablename__ = "kb_materials"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("kb_items.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(120))
    form: Mapped[str] = mapped_column(String(16))
    copies: Mapped[int] = mapped_column(default=1)
    required: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str] = mapped_column(Text, default="")

    item: Mapped[KBItem] = relationship(back_populates="materials")


class KBFaq(Base):
    __tablename__ = "kb_faqs"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("kb_items.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)

    item: Mapped[KBItem] = relationship(back_populates="faqs")


class KBAlias(Base):
    """A colloquial name callers use; unique across items and bundles (checked by the loader and `add_alias`)."""

    __tablename__ = "kb_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("kb_items.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    text: Mapped[str] = mapped_column(String(80))

    item: Mapped[KBItem] = relationship(back_populates="aliases")

    __table_args__ = (UniqueConstraint("item_id", "text", name="uq_kb_aliases_item_text"),)


class KBBundle(Base):
    """A "一件事" bundle: one life event served by several items at one window, in step order."""

    __tablename__ = "kb_bundles"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(120))
    aliases: Mapped[list] = mapped_column(JSON, default=list)
    window: Mapped[str] = mapped_column(String(120), default="")
    item_codes: Mapped[list] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16), default="", server_default="")  # 商事 | 不动产 | 民生 | ""


class KBCentreFact(Base):
    """One key of centre.yaml (address, hours, parking...); value is a sentence or a list of sentences."""

    __tablename__ = "kb_centre_facts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(48), unique=True)
    position: Mapped[int] = mapped_column(default=0)
    value: Mapped[str | list] = mapped_column(JSON)


class KBRevision(Base):
    """A single row whose counter goes up on every KB change; running IVRs poll it to rebuild their index."""

    __tablename__ = "kb_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(default=0)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_by: Mapped[str | None] = mapped_column(String(64))
