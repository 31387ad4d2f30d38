"""Spoken answers: short sentences, essential fact first, the official item name said so the caller can confirm.

Plain text only (no markdown, no brackets); digits stay digits because the speech layer's normaliser reads them.
Long lists are summarised with a way to hear everything ("全部材料") or reach an agent (0).
"""

from __future__ import annotations

import re

from kb.schema import Bundle, Item, KnowledgeBase, Material

CENTRE = "区行政服务中心"
LIST_LIMIT = 3  # list at most this many materials or steps before summarising
ABSTAIN = "抱歉，这个问题我暂时回答不了。您可以换个说法再问，或者按0转人工。"
FULL_LIST_HINT = "要听全部请说“全部材料”，或按0转人工。"
_RANGE = re.compile(r"(?<![\d-])(\d{1,3})\s*[-~～]\s*(\d{1,3})(?![\d-])")  # windows 27-29, not phone numbers
_BRACKETED = re.compile(r"[（(]([^）)]*)[）)]")
_DROP = re.compile(r"[【】《》\[\]*#`]")
_SPACE_NEAR_HAN = re.compile(r"(?<=[\u4e00-\u9fff])\s+|\s+(?=[\u4e00-\u9fff\d])")


def spoken(text: str) -> str:
    """Data text as it should be heard: "27-29号" as 27到29号, "市民卡（社保卡）" as 市民卡，社保卡, no brackets,
    no stray spaces between words."""
    text = _RANGE.sub(r"\1到\2", text)
    text = _BRACKETED.sub(r"，\1，", text)
    text = _DROP.sub("", text)
    text = _SPACE_NEAR_HAN.sub("", text)
    return re.sub(r"，([，。；？！])", r"\1", text)


_FORM = {"原件": "原件", "复印件": "复印件", "原件和复印件": "原件和复印件", "电子证照": "电子版"}


def material_phrase(m: Material, detailed: bool = False) -> str:
    text = m.name + _FORM.get(m.form, "")
    if detailed and m.copies > 1:
        text += f"{m.copies}份"
    if detailed and m.note:
        text += f"，{m.note}"
    return text


def materials_sentence(name: str, materials: list[Material], full: bool = False) -> str:
    required = [m for m in materials if m.required] or materials
    optional = [m for m in materials if not m.required]
    if not materials:
        return f"办理{name}不需要额外材料，带上身份证就行。"
    if full:
        parts = [f"办理{name}一共{len(materials)}样材料。"]
        parts += [f"第{i}样，{material_phrase(m, detailed=True)}{'' if m.required else '，视情况提供'}。"
                  for i, m in enumerate(materials, 1)]
        return "".join(parts)
    if len(materials) <= LIST_LIMIT:
        text = f"办理{name}需要带{'、'.join(material_phrase(m) for m in required)}。"
        if optional:
            text += f"有的情况还要{'、'.join(m.name for m in optional)}。"
        return text
    head = "、".join(m.name for m in required[:2])
    return f"办理{name}，主要带{head}等{len(materials)}样材料。{FULL_LIST_HINT}"


def _steps(steps: list[str]) -> str:
    shown = steps[:LIST_LIMIT + 1] if len(steps) <= LIST_LIMIT + 1 else steps[:LIST_LIMIT]
    # One step per sentence: a listener holds one step at a time.
    text = "".join(f"第{i}步，{s.rstrip('。')}。" for i, s in enumerate(shown, 1))
    if len(shown) < len(steps):
        text += f"后面还有{len(steps) - len(shown)}步，窗口会告诉您。"
    return text


def _days(item: Item) -> str:
    if item.promised_days == 0:
        return f"{item.name}材料齐全的话当场就能办好。"
    text = f"{item.name}承诺{item.promised_days}个工作日办结"
    if item.legal_days and item.legal_days != item.promised_days:
        text += f"，法定时限是{item.legal_days}个工作日"
    return text + "。"


def _fact(kb: KnowledgeBase, key: str) -> str:
    value = kb.centre.get(key, "")
    return value if isinstance(value, str) else "".join(value)


def _weekend(kb: KnowledgeBase, item: Item) -> str:
    if not item.weekend:
        return f"{item.name}周末不办理，请在工作日来办。{_fact(kb, 'hours_weekday')}"
    text = f"{item.name}周末也能办，{_fact(kb, 'weekend_hours')}"
    if item.citywide:
        text += "这项是全城通办，全市任何一个行政服务中心都能办。"
    return text


def item_answer(kb: KnowledgeBase, item: Item, aspect: str, full: bool = False) -> str:
    """The spoken answer about ``aspect`` of ``item``."""
    return spoken(_item_answer(kb, item, aspect, full))


def _item_answer(kb: KnowledgeBase, item: Item, aspect: str, full: bool) -> str:
    name = item.name
    dept = kb.department(item.department)
    phone = item.phone or (dept.phone if dept else "")
    if aspect == "materials":
        text = materials_sentence(name, item.materials, full=full)
        if item.tolerance.allowed and item.tolerance.later_materials:
            text += f"材料不全的话，{'、'.join(item.tolerance.later_materials)}可以后补。"
        return text
    if aspect == "location":
        return f"{name}在{CENTRE}{item.location}办理。{_fact(kb, 'address')}"
    if aspect == "hours":
        hours = item.hours or _fact(kb, "hours_weekday")
        text = f"{name}的办理时间是{hours.rstrip('。')}。"
        text += "周末也能办。" if item.weekend else "周末不办理这项业务。"
        return text
    if aspect == "time_limit":
        return _days(item)
    if aspect == "fee":
        if item.fee.charged:
            return f"{name}要收费，{item.fee.standard.rstrip('。')}。"
        return f"{name}不收费。"
    if aspect == "process":
        return f"{name}的办理流程如下。{_steps(item.process)}" if item.process else f"{name}直接到{item.location}窗口办理。"
    if aspect == "conditions":
        if not item.conditions:
            return f"{name}没有特别的办理条件。"
        text = f"办理{name}的条件是：" + "".join(f"{c.rstrip('。；')}。" for c in item.conditions[:2])
        return text + ("还有其他条件，可以按0转人工详细了解。" if len(item.conditions) > 2 else "")
    if aspect == "online":
        if item.online.web or item.online.mobile:
            ways = "、".join(w for w, ok in (("网上", item.online.web), ("手机浙里办", item.online.mobile)) if ok)
            text = f"{name}可以在{ways}办理。"
            return text + (f"{item.online.note.rstrip('。')}。" if item.online.note else "")
        return f"{name}暂时不能网上办，需要到{CENTRE}{item.location}办理。"
    if aspect == "express":
        if "express_two_way" in item.delivery:
            return f"{name}支持双向寄递，材料可以寄过来，办好的结果也能寄到家。"
        if "express_one_way" in item.delivery:
            return f"{name}办好后可以免费寄到家，在窗口办理时说要邮寄就行。"
        return f"{name}的结果需要到{item.location}领取，暂时不能邮寄。"
    if aspect == "weekend":
        return _weekend(kb, item)
    if aspect == "tolerance":
        if item.tolerance.allowed and item.tolerance.later_materials:
            later = "、".join(item.tolerance.later_materials)
            return f"{name}可以容缺受理，主要材料齐全的话，{later}可以先不带，受理后再补交。"
        return f"{name}不能容缺受理，材料要带齐才能受理。{_fact(kb, 'tolerance_rule')}"
    if aspect == "sample_form":
        if item.sample_form:
            return f"{name}有填好的样表，{_fact(kb, 'sample_form')}"
        return f"{name}没有单独的样表，申请表在窗口现场填写，工作人员会指导您。"
    if aspect == "door_to_door":
        if item.door_to_door:
            return f"{name}可以上门办理，{_fact(kb, 'door_to_door')}"
        return f"{name}暂时不能上门办理。{_fact(kb, 'help_desk')}"
    if aspect == "booking":
        if item.bookable:
            return f"{name}可以预约，打本热线86909000或者在浙里办都能约，可以约未来5个工作日。"
        return f"{name}不用预约，直接到一楼取号机取号就行。"
    # general: what it is, where, what to bring, how long
    text = f"{name}在{CENTRE}{item.location}办理。"
    text += materials_sentence(name, item.materials).replace(f"办理{name}", "", 1).lstrip("，")
    text += _days(item).replace(item.name, "", 1)
    if phone:
        text += f"详细情况可以打{phone}咨询。"
    return text


def bundle_answer(kb: KnowledgeBase, bundle: Bundle, aspect: str, full: bool = False) -> str:
    """A "一件事" bundle: one window, the member items in order, their materials merged without repeats."""
    return spoken(_bundle_answer(kb, bundle, aspect, full))


def _bundle_answer(kb: KnowledgeBase, bundle: Bundle, aspect: str, full: bool) -> str:
    items = [i for i in (kb.item(c) for c in bundle.items) if i is not None]
    seen: dict[str, Material] = {}
    for item in items:
        for m in item.materials:
            seen.setdefault(m.name, m)
    materials = list(seen.values())
    if aspect == "materials":
        return materials_sentence(bundle.name, materials, full=full)
    if aspect == "location":
        return f"{bundle.name}在{CENTRE}{bundle.window}一个窗口就能办。"
    if aspect == "process":
        return f"{bundle.name}一次提交，按下面的顺序办。{_steps([i.name for i in items])}"
    if aspect == "time_limit" and bundle.note:
        return f"{bundle.name}{bundle.note}"
    names = [i.name for i in items]
    listed = "、".join(names) if len(names) <= LIST_LIMIT else f"{'、'.join(names[:2])}等{len(names)}项"
    text = f"{bundle.name}在{bundle.window}一个窗口办理。包括{listed}。"
    if bundle.note:
        text += bundle.note
    text += materials_sentence(bundle.name, materials).replace(f"办理{bundle.name}", "", 1).lstrip("，")
    return text


def clarify_question(names: list[str]) -> str:
    if len(names) == 2:
        return f"您问的是{names[0]}还是{names[1]}？"
    return f"您问的是{'、'.join(names[:-1])}还是{names[-1]}？"
