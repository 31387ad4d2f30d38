"""The booking sub-dialog: book, look up or cancel an appointment by voice or keypad.

Pure logic over a `BookingStore`: text or a key in, a `Reply` out. The IVR call flow delegates to it and speaks
`reply.say`; a text harness drives it the same way. Slots (item, day, part of day / time, phone) fill in any
order, from one sentence or several; the caller hears everything in one sentence before anything is booked.

Keypad at every step: 1-5 pick an offered option, # confirms, * goes back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum

from booking.errors import AlreadyBooked, BookingError, NotBookable, SlotFull, TooManyBookings
from booking.slots import local_now, part_of_day
from booking.store import BookingRequest, BookingStore, BookingView
from ivr.booking.dateparse import AFTERNOON, MORNING, When, parse_when
from ivr.booking.phrases import (
    code_in,
    digits_in,
    join_or,
    name_in,
    ordinal_in,
    phone_in,
    say_date,
    say_day,
    say_slot,
    say_time,
    spell_digits,
    tail,
    yes_no,
)
from speech.vocab import DATE, DIGITS, YES_NO

KEYS_HINT = "也可以按键选择"
SORRY = "抱歉没听清。"


class Step(StrEnum):
    ITEM = "item"
    DAY = "day"
    PART = "part"
    SLOT = "slot"  # choosing among offered slots
    PHONE_OK = "phone_ok"  # "尾号是…的号码可以吗"
    PHONE_KEYS = "phone_keys"
    CONFIRM = "confirm"
    CHANGE = "change"  # what to change
    REPEAT = "repeat"  # offer to repeat the code
    PICK = "pick"  # which of several bookings
    CANCEL_OK = "cancel_ok"
    LOOKUP_KEYS = "lookup_keys"  # another number for look-up
    END = "end"


@dataclass(frozen=True)
class StepSpec:
    on_text: str  # the handler method for the caller's words at this step
    hints: tuple[str, ...] = ()  # what the caller is expected to say: recogniser hints (speech.vocab)


# The whole dialog graph at a glance, like ivr.flow.TRANSITIONS: what the caller's words mean at each step and
# what the recogniser should expect there (the call flow puts the hints on its Listen; open questions — the
# item, which change, which booking — have none). Keys work the same way at every step (handle_dtmf).
STEPS: dict[Step, StepSpec] = {
    Step.ITEM: StepSpec("_text_item"),  # an item name, or "第二个"
    Step.DAY: StepSpec("_text_day", DATE.phrases),  # "周四上午", or "第一个"
    Step.PART: StepSpec("_text_day", DATE.phrases),  # 上午 / 下午
    Step.SLOT: StepSpec("_text_slot", DATE.phrases),  # one of the offered times, yes, or another time
    Step.PHONE_OK: StepSpec("_text_phone_ok", YES_NO.phrases),  # yes / no / another number
    Step.PHONE_KEYS: StepSpec("_text_phone_keys", DIGITS.phrases),  # a number said instead of keyed
    Step.CONFIRM: StepSpec("_text_confirm", YES_NO.phrases),  # yes, no, or the change itself ("改成下午")
    Step.CHANGE: StepSpec("_text_change"),  # what to change
    Step.REPEAT: StepSpec("_text_repeat", YES_NO.phrases),  # hear the code again?
    Step.PICK: StepSpec("_text_pick"),  # which booking (ordinal or code)
    Step.CANCEL_OK: StepSpec("_text_cancel_ok", YES_NO.phrases),  # yes / no
    Step.LOOKUP_KEYS: StepSpec("_text_lookup_keys", DIGITS.phrases),  # a number for the look-up
    Step.END: StepSpec("_text_end"),
}


@dataclass(frozen=True)
class Reply:
    say: str
    done: bool = False
    booking: BookingView | None = None
    expect: str = "text"  # text: speech or one key | digits: keypad number ending with # | none
    options: tuple[str, ...] = ()  # what keys 1..n mean, for logs and the admin transcript
    hints: tuple[str, ...] = ()  # recogniser hints for the caller's next words: the step's vocabulary


@dataclass
class _Menu:
    values: list = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


ItemFinder = Callable[[str], str | None]
MaterialsFor = Callable[[str], list[str]]


class BookingDialog:
    def __init__(self, store: BookingStore, caller_number: str | None = None, *, item_code: str | None = None,
                 clock: Callable[[], datetime] = local_now, find_item: ItemFinder | None = None,
                 materials_for: MaterialsFor | None = None, call_uuid: str | None = None) -> None:
        self.store = store
        self.caller = caller_number if caller_number and len(digits_in(caller_number)) >= 7 else None
        self.clock = clock
        self.find_item = find_item or self._find_item_by_name
        self.materials_for = materials_for or (lambda _code: [])
        self.call_uuid = call_uuid
        self.intent = "book"
        self.item_code = item_code if item_code and store.rule(item_code) else None
        self.when = When()
        self.slot: datetime | None = None
        self.phone: str | None = None
        self.name: str | None = None
        self.step = Step.ITEM
        self.menu = _Menu()
        self.digits = ""
        self.booking: BookingView | None = None
        self.found: list[BookingView] = []
        self.chosen: BookingView | None = None
        self._last: Reply | None = None

    # -- entry points ---------------------------------------------------------------------------------------

    def start(self, intent: str = "book", text: str = "") -> Reply:
        """``intent``: book / query / cancel. ``text`` is the sentence that led here (may already hold slots)."""
        self.intent = intent
        if intent in ("query", "cancel"):
            return self._remember(self._lookup(self.caller))
        self._absorb(text)
        return self._remember(self._next())

    def handle_text(self, text: str) -> Reply:
        text = text.strip()
        if not text:
            return self._reprompt()
        if any(w in text for w in ("重复", "再说一遍", "没听清")) and self._last and self.step != Step.REPEAT:
            return self._last
        return self._remember(getattr(self, STEPS[self.step].on_text)(text))

    def handle_dtmf(self, digit: str) -> Reply:
        if self.step == Step.PHONE_OK and digit.isdigit():  # keying a number instead of answering yes/no
            self.step, self.digits = Step.PHONE_KEYS, ""
        if self.step in (Step.PHONE_KEYS, Step.LOOKUP_KEYS):
            return self._remember(self._keys(digit))
        if digit == "#":
            return self._remember(self.handle_text("确认") if self.step in (
                Step.CONFIRM, Step.PHONE_OK, Step.CANCEL_OK, Step.REPEAT) else self._reprompt())
        if digit == "*":
            return self._remember(self._back())
        if digit.isdigit() and 1 <= int(digit) <= len(self.menu.values):
            return self._remember(self._choose(self.menu.values[int(digit) - 1]))
        return self._reprompt()

    # -- slot filling -----------------------------------------------------------------------------------------

    def _absorb(self, text: str) -> bool:
        """Take every slot the sentence mentions; True when something changed."""
        if not text:
            return False
        changed = False
        code = self.find_item(text)
        if code and code != self.item_code:
            self.item_code, self.slot, changed = code, None, True
        when = parse_when(text, self.clock(), self.store.calendar())
        merged = when.merged_over(self.when)
        if not when.empty and merged != self.when:  # repeating what was already said changes nothing
            self.when, self.slot, changed = merged, None, True
        number = phone_in(text)
        if number and number != self.phone:
            self.phone, changed = number, True
        name = name_in(text)
        if name and name != self.name:
            self.name, changed = name, True
        return changed

    def _find_item_by_name(self, text: str) -> str | None:
        for rule in self.store.rules():
            if rule.item_name in text or rule.item_code.lower() in text.lower():
                return rule.item_code
        return None

    def _next(self) -> Reply:
        """Ask for the first missing slot, or confirm when everything is known."""
        if self.item_code is None:
            return self._ask_item()
        if self.slot is None:
            reply = self._resolve_slot()
            if reply is not None:
                return reply
        if self.phone is None:
            if self.caller:
                self.step = Step.PHONE_OK
                return self._reply(f"预约登记用您来电的尾号是{tail(self.caller)}的号码可以吗？可以请按井号键。")
            return self._ask_phone_keys()
        return self._confirm()

    def _ask_item(self) -> Reply:
        rules = self.store.rules()[:5]
        self.step = Step.ITEM
        self._set_menu([r.item_code for r in rules], [r.item_name for r in rules])
        listed = "，".join(f"按{i + 1}{r.item_name}" for i, r in enumerate(rules))
        return self._reply(f"请问您要预约办理什么事项？请直接说事项名称，{KEYS_HINT}：{listed}。")

    def _resolve_slot(self) -> Reply | None:
        """Turn what was said about the time into one free slot, or ask / offer; None when a slot was set."""
        now, when = self.clock(), self.when
        infos = self.store.slots(self.item_code, now)
        free = [s.start for s in infos if s.free > 0]
        if not free:
            self.step = Step.END
            return self._reply("很抱歉，近期可预约的时段都已约满，建议您直接到大厅取号办理。", done=True)
        if when.earliest and when.date is None:
            self.slot = free[0]
            return None
        if when.date is None:
            return self._ask_day(free)
        open_days = sorted({s.start.date() for s in infos})
        if when.date not in open_days:
            why = "已经过去了" if when.date < now.date() else "不在可预约的日期内" if when.date > open_days[-1] \
                else "不办公或已过可预约时间"
            self.when = When()
            return self._offer(free[:3], f"{say_date(when.date)}{why}，")
        day_free = [t for t in free if t.date() == when.date]
        if when.time is not None:
            wanted = datetime.combine(when.date, when.time)
            exact = [t for t in free if t <= wanted < t + timedelta(minutes=self.store.policy.slot_minutes)]
            if exact:
                self.slot = exact[0]
                return None
            alts = self.store.nearest_free(self.item_code, wanted, now)
            return self._offer(alts, f"{say_slot(wanted, now.date())}已约满或不能预约，")
        if when.part is None:
            parts = sorted({part_of_day(t) for t in day_free}, key=(MORNING, AFTERNOON).index)
            if len(parts) == 2:
                self.step = Step.PART
                self._set_menu([MORNING, AFTERNOON], [MORNING, AFTERNOON])
                return self._reply(f"{say_day(when.date, now.date())}上午还是下午？按1上午，按2下午。")
            if not parts:
                alts = self.store.nearest_free(self.item_code, datetime.combine(when.date, time(9)), now)
                return self._offer(alts, f"{say_day(when.date, now.date())}已经约满，")
            self.when = When(when.date, parts[0], None, when.earliest)
            when = self.when
        in_part = [t for t in day_free if part_of_day(t) == when.part]
        if in_part:
            self.slot = in_part[0]  # earliest free time in that half-day; the caller can still change it
            return None
        around = datetime.combine(when.date, time(9) if when.part == MORNING else time(13, 30))
        alts = self.store.nearest_free(self.item_code, around, now)
        return self._offer(alts, f"{say_day(when.date, now.date())}{when.part}已满，")

    def _ask_day(self, free: list[datetime]) -> Reply:
        today = self.clock().date()
        days = sorted({t.date() for t in free})[:5]
        self.step = Step.DAY
        labels = [say_day(d, today) if (d - today).days < 3 else f"{say_day(d, today)}（{d.month}月{d.day}日）"
                  for d in days]
        self._set_menu(days, labels)
        listed = "，".join(f"按{i + 1}{label}" for i, label in enumerate(labels))
        return self._reply(f"您想约哪一天、上午还是下午？可以直接说，比如“明天上午”，{KEYS_HINT}：{listed}。")

    def _offer(self, alts: list[datetime], prefix: str) -> Reply:
        if not alts:
            self.when, self.slot = When(), None
            return self._ask_day([s.start for s in self.store.slots(self.item_code, self.clock()) if s.free > 0])
        today = self.clock().date()
        self.step = Step.SLOT
        labels = [say_slot(t, today) for t in alts]
        self._set_menu(alts, labels)
        keys = "，".join(f"按{i + 1}选{label}" for i, label in enumerate(labels)) if len(labels) > 1 else "按1确认"
        return self._reply(f"{prefix}{join_or(labels)}还有空，您选哪个？{keys}。")

    def _ask_phone_keys(self) -> Reply:
        self.step, self.digits = Step.PHONE_KEYS, ""
        return self._reply("请在拨号盘上输入您的手机号码，以井号键结束。", expect="digits")

    def _confirm(self) -> Reply:
        self.step = Step.CONFIRM
        rule = self.store.rule(self.item_code)
        who = f"{self.name}，" if self.name else ""
        self._set_menu([], [])
        return self._reply(
            f"{who}为您预约{say_date(self.slot.date())}{say_time(self.slot)}办理{rule.item_name}，"
            f"地点{rule.window}，登记手机尾号{tail(self.phone)}，确认请说“对”或按井号键，要修改请直接说或按星号键。")

    # -- step handlers ------------------------------------------------------------------------------------------

    def _free_text(self, text: str) -> Reply:
        self._absorb(text)
        return self._next()

    def _text_item(self, text: str) -> Reply:
        n = ordinal_in(text)
        if n and n <= len(self.menu.values) and self.find_item(text) is None:
            return self._choose(self.menu.values[n - 1])
        if self._absorb(text) and self.item_code:
            return self._next()
        return self._reply("抱歉，这个事项暂时不能电话预约，或者我没听清。请再说一次事项名称，或按键选择。")

    def _text_day(self, text: str) -> Reply:
        n = ordinal_in(text)
        if n and n <= len(self.menu.values) and parse_when(text, self.clock()).empty:
            return self._choose(self.menu.values[n - 1])
        return self._free_text(text) if self._absorb(text) else self._reprompt()

    def _text_slot(self, text: str) -> Reply:
        n = ordinal_in(text)
        if n and n <= len(self.menu.values):
            return self._choose(self.menu.values[n - 1])
        when = parse_when(text, self.clock())
        picked = [t for t in self.menu.values if _matches(t, when)]
        if len(picked) == 1:
            return self._choose(picked[0])
        answer = yes_no(text)
        if answer is True and len(self.menu.values) == 1:
            return self._choose(self.menu.values[0])
        if self._absorb(text):
            return self._next()
        if answer is False:  # none of these: ask for another day
            self.when, self.slot = When(), None
            return self._next()
        return self._reprompt()

    def _text_phone_ok(self, text: str) -> Reply:
        number = phone_in(text)
        if number:
            self.phone = number
            return self._next()
        answer = yes_no(text)
        if answer is True:
            self.phone = self.caller
            return self._next()
        if answer is False:
            return self._ask_phone_keys()
        return self._free_text(text) if self._absorb(text) else self._reprompt()

    def _text_phone_keys(self, text: str) -> Reply:
        number = phone_in(text)
        if number:
            self.phone = number
            return self._next()
        return self._reprompt()

    def _text_confirm(self, text: str) -> Reply:
        answer = yes_no(text)
        if self._absorb(text):  # "不对，改成下午": the change rides on the no
            return self._next()
        if answer is True:
            return self._book()
        if answer is False:
            return self._ask_change()
        return self._reprompt()

    def _text_change(self, text: str) -> Reply:
        n = ordinal_in(text)
        if n and n <= len(self.menu.values) and not self._absorb(text):
            return self._choose(self.menu.values[n - 1])
        return self._next() if self._absorb(text) or self.slot else self._reprompt()

    def _text_repeat(self, text: str) -> Reply:
        if yes_no(text) is True or "重复" in text or "再说" in text:
            return self._done_message(again=True)
        self.step = Step.END
        return self._reply("好的，感谢您的来电。", done=True, expect="none")

    def _text_pick(self, text: str) -> Reply:
        code = code_in(text)
        match = [b for b in self.found if b.code == code]
        n = ordinal_in(text)
        if not match and n and n <= len(self.found):
            match = [self.found[n - 1]]
        if not match:
            return self._reprompt()
        return self._choose(match[0])

    def _text_cancel_ok(self, text: str) -> Reply:
        answer = yes_no(text)
        if answer is None:
            return self._reprompt()
        self.step = Step.END
        if not answer:
            return self._reply("好的，预约保留不变。", done=True, expect="none")
        try:
            cancelled = self.store.cancel(self.chosen.code, phone=self.chosen.phone, by="ivr")
        except BookingError:
            return self._reply("这个预约已经取消或不能取消了。", done=True, expect="none")
        return self._reply(f"已为您取消{say_date(cancelled.slot_start.date())}{say_time(cancelled.slot_start)}"
                           f"{cancelled.item_name}的预约。", done=True, booking=cancelled, expect="none")

    def _text_lookup_keys(self, text: str) -> Reply:
        number = phone_in(text)
        return self._lookup(number) if number else self._reprompt()

    def _text_end(self, _text: str) -> Reply:
        return self._reply("本次预约服务已结束。", done=True, expect="none")

    # -- keypad -----------------------------------------------------------------------------------------------

    def _keys(self, digit: str) -> Reply:
        if digit == "*":
            if self.digits:
                self.digits = ""
                return self._reply("已清除，请重新输入，以井号键结束。", expect="digits")
            return self._back()
        if digit != "#":
            self.digits += digit
            return Reply("", expect="digits")  # keep collecting silently
        number, self.digits = self.digits, ""
        if not phone_in(number):
            return self._reply("号码位数不对，请重新输入，以井号键结束。", expect="digits")
        if self.step == Step.LOOKUP_KEYS:
            return self._lookup(number)
        self.phone = number
        return self._next()

    def _choose(self, value) -> Reply:
        step = self.step
        if step == Step.ITEM:
            self.item_code, self.slot = value, None
        elif step == Step.DAY:
            self.when, self.slot = When(value, self.when.part, None), None
        elif step == Step.PART:
            self.when, self.slot = When(self.when.date, value, None), None
        elif step == Step.SLOT:
            self.slot = value
            self.when = When(value.date(), part_of_day(value), value.time())
        elif step == Step.CHANGE:
            return self._apply_change(value)
        elif step == Step.PICK:
            self.chosen = value
            if self.intent == "cancel":
                self.step = Step.CANCEL_OK
                return self._reply(f"要取消{self._describe(value)}，确定吗？确定请按井号键。")
            self.step = Step.END
            return self._reply(self._describe(value, code=True) + "。", done=True, booking=value, expect="none")
        return self._next()

    def _back(self) -> Reply:
        if self.step == Step.REPEAT:
            return self._text_repeat("不用")
        if self.step in (Step.CONFIRM, Step.SLOT, Step.PHONE_OK, Step.PHONE_KEYS):
            return self._ask_change()
        if self.step in (Step.DAY, Step.PART, Step.CHANGE) and self.item_code:
            self.when, self.slot = When(), None
            return self._next()
        self.step = Step.END
        return self._reply("好的，已退出预约。", done=True, expect="none")

    def _ask_change(self) -> Reply:
        self.step = Step.CHANGE
        self._set_menu(["day", "time", "phone", "item"], ["日期", "时间", "电话", "事项"])
        return self._reply("请问要改哪里？可以直接说，比如“改成周四下午”；或按1改日期，按2改时间，按3改电话，按4改事项。")

    def _apply_change(self, what: str) -> Reply:
        if what == "day":
            self.when, self.slot = When(), None
        elif what == "time":
            self.when, self.slot = When(self.when.date or (self.slot.date() if self.slot else None)), None
        elif what == "phone":
            self.phone = None
            return self._ask_phone_keys()
        else:
            self.item_code, self.slot = None, None
        return self._next()

    # -- booking, look-up ---------------------------------------------------------------------------------------

    def _book(self) -> Reply:
        request = BookingRequest(self.item_code, self.slot, self.phone, self.name, self.call_uuid)
        now = self.clock()
        try:
            self.booking = self.store.book(request, now)
        except SlotFull as exc:
            self.slot = None
            return self._offer(exc.alternatives, f"刚刚{say_slot(request.slot_start, now.date())}已被约满，")
        except NotBookable:
            self.slot = None
            return self._offer(self.store.nearest_free(self.item_code, request.slot_start, now),
                               "这个时间已经不能预约了，")
        except AlreadyBooked as exc:
            self.step = Step.END
            return self._reply(f"这个号码已经预约过这个事项，预约码是{spell_digits(exc.code)}。"
                               "如需改时间，请先取消原来的预约。", done=True, expect="none")
        except TooManyBookings:
            self.step = Step.END
            return self._reply(f"这个号码已有{self.store.policy.max_active}个未办理的预约，达到上限了，"
                               "请办理或取消后再预约。", done=True, expect="none")
        return self._done_message()

    def _done_message(self, again: bool = False) -> Reply:
        b = self.booking
        materials = self.materials_for(b.item_code)
        bring = f"请带好{'、'.join(materials)}。" if materials else ""
        head = "" if again else "预约成功。"
        self.step = Step.REPEAT
        return self._reply(f"{head}您的预约码是 {spell_digits(b.code)} 。{say_date(b.slot_start.date())}"
                           f"{say_time(b.slot_start)}到{b.window}办理，{bring}需要再听一遍吗？",
                           booking=b)

    def _lookup(self, phone: str | None) -> Reply:
        if not phone:
            self.step, self.digits = Step.LOOKUP_KEYS, ""
            return self._reply("请在拨号盘上输入预约时登记的手机号码，以井号键结束。", expect="digits")
        self.found = self.store.active_for_phone(phone, self.clock())
        if not self.found:
            if self.step == Step.LOOKUP_KEYS or not self.caller:
                self.step = Step.END
                return self._reply(f"尾号{tail(phone)}的号码没有查到有效的预约。", done=True, expect="none")
            self.step, self.digits = Step.LOOKUP_KEYS, ""
            return self._reply(f"尾号{tail(phone)}的号码没有查到预约。如果用的是其他号码，请在拨号盘上输入，"
                               "以井号键结束；直接挂机也可以。", expect="digits")
        if len(self.found) == 1:
            self.step = Step.PICK
            return self._choose(self.found[0])
        if self.intent != "cancel":  # a look-up reads them all
            self.step = Step.END
            listed = "；".join(f"{i + 1}，{self._describe(b, code=True)}" for i, b in enumerate(self.found))
            return self._reply(f"查到{len(self.found)}个预约：{listed}。", done=True, expect="none")
        self.step = Step.PICK
        self._set_menu(self.found, [self._describe(b) for b in self.found])
        listed = "；".join(f"{i + 1}，{self._describe(b, code=True)}" for i, b in enumerate(self.found))
        return self._reply(f"查到{len(self.found)}个预约：{listed}。要取消哪一个？请说序号或预约码，也可以按序号。")

    def _describe(self, b: BookingView, code: bool = False) -> str:
        text = f"{say_date(b.slot_start.date())}{say_time(b.slot_start)}的{b.item_name}，地点{b.window}"
        return text + (f"，预约码 {spell_digits(b.code)} " if code else "")

    # -- helpers ------------------------------------------------------------------------------------------------

    def _set_menu(self, values: list, labels: list[str]) -> None:
        self.menu = _Menu(list(values), list(labels))

    def _reply(self, say: str, done: bool = False, booking: BookingView | None = None,
               expect: str = "text") -> Reply:
        return Reply(say, done, booking or self.booking, expect, tuple(self.menu.labels),
                     () if done else STEPS[self.step].hints)

    def _remember(self, reply: Reply) -> Reply:
        if reply.say and not reply.say.startswith(SORRY):  # a re-prompt repeats the question, not itself
            self._last = reply
        return reply

    def _reprompt(self) -> Reply:
        if self._last is None:
            return self._next()
        return Reply(SORRY + self._last.say, self._last.done, self._last.booking, self._last.expect,
                     self._last.options, self._last.hints)


def _matches(slot: datetime, when: When) -> bool:
    """Does an offered slot fit what the caller just said ("周四那个", "两点的")?"""
    if when.empty:
        return False
    if when.date and slot.date() != when.date:
        return False
    if when.time and slot.time() != when.time:
        return False
    return not (when.part and part_of_day(slot) != when.part)
