"""The knowledge base as plain dataclasses: what the YAML source files hold and what the QA engine reads.

Field order and names follow kb/data/README.md, so the loader can check the source against these classes and the
exporter can write them back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TARGETS = ("个人", "法人", "个人和法人")
FORMS = ("原件", "复印件", "原件和复印件", "电子证照")
DELIVERY_MODES = ("window", "express_one_way", "express_two_way")


@dataclass
class Material:
    name: str
    form: str
    copies: int
    required: bool
    note: str = ""


@dataclass
class Fee:
    charged: bool
    standard: str = ""


@dataclass
class Online:
    web: bool
    mobile: bool
    note: str = ""
    full: bool = False  # 全程网办: done entirely online, the caller never needs to come in


@dataclass
class Tolerance:
    allowed: bool
    later_materials: list[str] = field(default_factory=list)


@dataclass
class Faq:
    q: str
    a: str


@dataclass
class Item:
    code: str
    name: str
    target: str
    conditions: list[str]
    materials: list[Material]
    process: list[str]
    legal_days: int
    promised_days: int
    fee: Fee
    location: str
    online: Online
    delivery: list[str]
    tolerance: Tolerance
    weekend: bool
    bookable: bool
    self_service: bool
    aliases: list[str] = field(default_factory=list)
    hours: str = ""
    phone: str = ""
    basis: list[str] = field(default_factory=list)
    faq: list[Faq] = field(default_factory=list)
    citywide: bool = False  # 全城通办: any centre in the city takes it (the "5+2" weekend list names these first)
    door_to_door: bool = False  # 上门服务 for people who cannot come (elderly, disabled): the social items
    sample_form: bool = False  # 样表下载: a filled-in sample form can be downloaded
    department: str = ""  # department code; set by the loader from the enclosing file


@dataclass
class Department:
    code: str
    name: str
    short_name: str
    phone: str
    items: list[Item] = field(default_factory=list)


@dataclass
class Bundle:
    code: str
    name: str
    window: str
    items: list[str]
    aliases: list[str] = field(default_factory=list)
    note: str = ""
    kind: str = ""  # 商事 | 不动产 | 民生: which family of "一件事" the bundle belongs to (empty: unclassified)


@dataclass
class KnowledgeBase:
    departments: list[Department] = field(default_factory=list)
    bundles: list[Bundle] = field(default_factory=list)
    centre: dict[str, str | list[str]] = field(default_factory=dict)
    revision: int = 0

    def items(self) -> list[Item]:
        return [item for dept in self.departments for item in dept.items]

    def item(self, code: str) -> Item | None:
        return next((i for i in self.items() if i.code == code), None)

    def department(self, code: str) -> Department | None:
        return next((d for d in self.departments if d.code == code), None)

    def bundle(self, code: str) -> Bundle | None:
        return next((b for b in self.bundles if b.code == code), None)
