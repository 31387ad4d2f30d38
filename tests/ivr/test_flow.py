"""Call flow, text in / commands out: every transition of ivr.flow.TRANSITIONS, over the real knowledge base."""

from __future__ import annotations

from datetime import datetime

import pytest

from booking.slots import SlotPolicy
from booking.store import BookingStore
from hotline.outcomes import Outcome
from ivr import flow as F
from ivr import prompts as P
from ivr.booking.bridge import BookingBridge
from ivr.booking.dialog import BookingDialog
from ivr.harness import TextCall
from ivr.replies import spoken_choices, yes_or_no

STAFFED_FREE = F.AgentStatus(staffed=True, free=True)
AMI_DOWN = F.AgentStatus(staffed=True, free=None)
BUSY = F.AgentStatus(staffed=True, free=False)
NIGHT = F.AgentStatus(staffed=False, free=False)


def started(qa, agents=STAFFED_FREE, staffed=True, booking=None) -> TextCall:
    call = TextCall(qa, agents, booking)
    call.start(staffed)
    return call


# ---- the declared graph ----


def test_every_transition_names_an_existing_handler_and_known_states():
    for row in F.TRANSITIONS:
        assert callable(getattr(F.CallFlow, "_on_" + row.handler)), row.handler
        assert row.targets <= set(F.State)


def test_every_state_is_reachable_from_greeting():
    reach, todo = {F.State.GREETING}, [F.State.GREETING]
    while todo:
        s = todo.pop()
        for row in F.TRANSITIONS:
            if s in row.sources:
                for t in row.targets - reach:
                    reach.add(t)
                    todo.append(t)
    assert reach == set(F.State)


def test_undeclared_target_is_a_flow_error(qa, monkeypatch):
    call = started(qa)
    monkeypatch.setattr(F.CallFlow, "_on_silence", lambda self, e: ([], F.State.GREETING))
    with pytest.raises(F.FlowError):
        call.silence()


def test_events_without_a_transition_are_ignored(qa):
    flow = F.CallFlow()
    assert flow.handle(F.Silence()) == []  # before the greeting
    assert flow.state is F.State.GREETING


# ---- greeting ----


def test_greeting_in_staffed_hours_mentions_agent_key(qa):
    call = TextCall(qa)
    said = call.start(staffed=True)
    assert said == [P.GREETING_STAFFED]
    assert isinstance(call.commands[-1], F.Listen)
    assert call.flow.state is F.State.LISTENING


def test_greeting_outside_staffed_hours_says_machine_answers(qa):
    said = TextCall(qa).start(staffed=False)
    assert said == [P.GREETING_UNSTAFFED]
    assert "非人工服务时间" in said[0]


# ---- question, answer, follow-up ----


def test_question_gets_answer_then_follow_up_prompt(qa):
    call = started(qa)
    said = call.say("犬证怎么办理")
    assert "养犬登记证" in said[0]
    assert said[1] == P.FOLLOW_UP
    ask = next(c for c in call.commands if isinstance(c, F.Ask))
    assert ask == F.Ask("犬证怎么办理", None)
    assert call.flow.context_item == "GA-001"
    assert call.flow.outcome is Outcome.ANSWERED_BY_IVR


def test_follow_up_uses_previous_item_as_context(qa):
    call = started(qa)
    call.say("犬证怎么办理")
    said = call.say("那要多少钱")
    asks = [c for c in call.commands if isinstance(c, F.Ask)]
    assert asks[-1].context_item == "GA-001"
    assert "养犬" in said[0]
    assert said[1] == P.FOLLOW_UP_SHORT


def test_bye_after_answer_ends_call_answered(qa):
    call = started(qa)
    call.say("犬证怎么办理")
    said = call.say("没有了，谢谢")
    assert said == [P.GOODBYE]
    assert call.last(F.Hangup) == F.Hangup(Outcome.ANSWERED_BY_IVR)
    assert call.flow.state is F.State.ENDED


# ---- clarification ----


def test_close_items_ask_to_choose_and_spoken_choice_answers(qa):
    call = started(qa)
    said = call.say("身份证")
    assert call.flow.state is F.State.CLARIFYING
    assert "还是" in said[0]
    said = call.say("补身份证")
    ask = call.last(F.Ask)
    assert ask.context_item == "GA-004" or "补" in ask.question
    assert call.flow.state is F.State.LISTENING
    assert "身份证" in said[0]


def test_clarification_by_key(qa):
    call = started(qa)
    call.say("市民卡")
    said = call.press("2")
    first_alt = call.flow.alternatives[1]
    assert call.last(F.Ask).context_item == first_alt.item_code
    assert first_alt.item_name in said[0]


def test_clarification_answered_with_new_question_moves_on(qa):
    call = started(qa)
    call.say("结婚")
    said = call.say("犬证怎么办理")
    assert "养犬登记证" in said[0]


# ---- failed recognitions: confirmation and menu ----


def test_two_low_confidence_questions_lead_to_confirmation(qa):
    call = started(qa)
    assert call.say("犬证怎么办理", confidence=0.1) == [P.NOT_HEARD]
    said = call.say("犬证怎么办理", confidence=0.1)
    assert said == [P.CONFIRM.format(item="养犬登记证核发")]
    assert call.flow.state is F.State.CONFIRMING
    said = call.say("是的")
    assert call.last(F.Ask) == F.Ask("犬证怎么办理", "GA-001", confirmed=True)
    assert "养犬登记证" in said[0]


def test_confirmation_by_key_1_and_denial_leads_to_menu(qa):
    call = started(qa)
    call.say("犬证怎么办理", confidence=0.1)
    call.say("犬证怎么办理", confidence=0.1)
    said = call.press("2")
    assert said == [P.MENU]
    assert call.flow.state is F.State.MENU
    call2 = started(qa)
    call2.say("犬证怎么办理", confidence=0.1)
    call2.say("犬证怎么办理", confidence=0.1)
    assert "养犬" in call2.press("1")[0]


def test_confirmation_no_word(qa):
    call = started(qa)
    call.say("犬证怎么办理", confidence=0.1)
    call.say("犬证怎么办理", confidence=0.1)
    assert call.say("不是") == [P.MENU]


def test_two_unrecognised_utterances_without_candidate_offer_menu(qa):
    call = started(qa)
    assert call._run(F.RecognitionFailed("empty")) == [P.NOT_HEARD]
    assert call._run(F.RecognitionFailed("noise")) == [P.MENU]
    assert call.flow.state is F.State.MENU


def test_abstained_answers_count_as_failures(qa):
    call = started(qa)
    assert call.say("今天天气怎么样") == [P.NOT_HEARD]
    assert call.say("明天会下雨吗") == [P.MENU]


def test_menu_keys_repeat_back_and_new_question(qa):
    call = started(qa)
    call.say("犬证怎么办理")
    answer = call.flow.last_answer
    call._run(F.RecognitionFailed())
    call._run(F.RecognitionFailed())
    assert call.flow.state is F.State.MENU
    assert call.press("1")[0] == answer
    call._run(F.RecognitionFailed())
    call._run(F.RecognitionFailed())
    assert call.press("*") == [P.ASK_AGAIN]
    assert call.flow.state is F.State.LISTENING
    call._run(F.RecognitionFailed())
    call._run(F.RecognitionFailed())
    assert "市民卡" in call.say("市民卡丢了怎么补办")[0]


def test_key_1_without_answer_asks_for_question(qa):
    call = started(qa)
    assert call.press("1") == [P.NOTHING_TO_REPEAT]


def test_unknown_key_shows_menu(qa):
    call = started(qa)
    assert call.press("5") == [P.MENU]


def test_star_in_listening_clears_context(qa):
    call = started(qa)
    call.say("犬证怎么办理")
    call.press("*")
    assert call.flow.context_item is None


# ---- silence ----


def test_silence_reprompts_twice_with_examples_then_goodbye(qa):
    call = started(qa)
    assert call.silence() == [P.REPROMPT_1]
    assert call.silence() == [P.REPROMPT_2]
    assert "比如" in P.REPROMPT_1 and "身份证" in P.REPROMPT_2
    assert call.silence() == [P.GOODBYE_SILENCE]
    assert call.last(F.Hangup) == F.Hangup(Outcome.ABANDONED)


def test_speaking_resets_silence_count(qa):
    call = started(qa)
    call.silence()
    call.silence()
    call.say("犬证怎么办理")
    assert call.silence() == [P.REPROMPT_1]


# ---- escalation ----


@pytest.mark.parametrize("words", ["转人工", "我要人工服务", "帮我转接人工"])
def test_spoken_agent_request_transfers(qa, words):
    call = started(qa)
    said = call.say(words)
    assert said == [P.TRANSFERRING]
    transfer = call.last(F.Transfer)
    assert transfer.reason == "caller_request"
    assert call.flow.outcome is Outcome.ESCALATED
    assert call.flow.state is F.State.ENDED


@pytest.mark.parametrize("setup", [[], ["say:犬证怎么办理"], ["say:身份证"], ["low", "low"], ["fail", "fail"]])
def test_dtmf_0_always_escalates(qa, setup):
    call = started(qa, agents=AMI_DOWN)
    for step in setup:
        if step.startswith("say:"):
            call.say(step[4:])
        elif step == "low":
            call.say("犬证怎么办理", confidence=0.1)
        else:
            call._run(F.RecognitionFailed())
    state_before = call.flow.state
    call.press("0")
    assert call.last(F.Transfer) is not None, state_before
    assert call.flow.outcome is Outcome.ESCALATED


def test_dtmf_0_escalates_from_booking(qa, tmp_path):
    call = started(qa, booking=_bridge(tmp_path))
    call.press("9")
    assert call.flow.state is F.State.BOOKING
    call.press("0")
    assert call.last(F.Transfer).reason == "dtmf_0"


def test_transfer_context_carries_first_question_and_item(qa):
    call = started(qa)
    call.say("犬证怎么办理")
    call.press("0")
    ctx = call.last(F.Transfer).context
    assert ctx["first_question"] == "犬证怎么办理"
    assert ctx["item_code"] == "GA-001"
    assert ctx["item_name"] == "养犬登记证核发"
    assert ctx["reason"] == "dtmf_0"


def test_outside_hours_escalation_offers_callback_and_yes_books_it(qa):
    call = started(qa, agents=NIGHT, staffed=False)
    call.say("犬证怎么办理")
    said = call.say("转人工")
    assert said == [P.OFFER_CALLBACK_UNSTAFFED]
    assert call.flow.state is F.State.CALLBACK_OFFER
    said = call.say("好的")
    cb = call.last(F.RequestCallback)
    assert cb == F.RequestCallback("犬证怎么办理", "GA-001")
    assert said == [P.CALLBACK_BOOKED]
    assert call.last(F.Hangup) == F.Hangup(Outcome.CALLBACK_REQUESTED)


def test_callback_offer_declined(qa):
    call = started(qa, agents=NIGHT, staffed=False)
    call.press("0")
    assert call.say("不用") == [P.CALLBACK_DECLINED]
    assert call.last(F.Hangup) == F.Hangup(Outcome.ABANDONED)


def test_callback_offer_keys(qa):
    call = started(qa, agents=NIGHT, staffed=False)
    call.press("0")
    call.press("1")
    assert call.flow.outcome is Outcome.CALLBACK_REQUESTED
    call = started(qa, agents=NIGHT, staffed=False)
    call.press("0")
    call.press("2")
    assert call.last(F.Hangup) is not None and call.flow.outcome is Outcome.ABANDONED


def test_all_agents_busy_offers_callback_and_0_keeps_waiting(qa):
    call = started(qa, agents=BUSY)
    assert call.press("0") == [P.OFFER_CALLBACK_BUSY]
    assert call.press("0") == [P.TRANSFERRING]
    assert call.flow.outcome is Outcome.ESCALATED


def test_all_agents_busy_and_the_caller_says_nothing_keeps_waiting_in_the_queue(qa):
    call = started(qa, agents=BUSY)
    assert call.press("0") == [P.OFFER_CALLBACK_BUSY]
    assert call.silence() == [P.KEEP_WAITING]  # once, not the offer again and again
    assert call.last(F.Transfer) is not None and call.flow.state is F.State.ENDED
    assert call.flow.outcome is Outcome.ESCALATED


def test_ami_down_still_queues(qa):
    call = started(qa, agents=AMI_DOWN)
    assert call.say("人工服务") == [P.TRANSFERRING]


def test_caller_asks_for_callback(qa):
    call = started(qa, staffed=False)
    call.say("市民卡丢了怎么补办")
    said = call.say("请给我回电话")
    assert said == [P.CALLBACK_BOOKED]
    assert call.last(F.RequestCallback).item_code == "SMK-001"


def test_callback_offer_silence_repeats_offer_then_goodbye(qa):
    call = started(qa, agents=NIGHT, staffed=False)
    call.press("0")
    assert call.silence() == [P.OFFER_CALLBACK_UNSTAFFED]
    call.silence()
    assert call.silence() == [P.GOODBYE_SILENCE]


def test_callback_offer_new_question_is_answered(qa):
    call = started(qa, agents=NIGHT, staffed=False)
    call.press("0")
    assert "养犬" in call.say("犬证怎么办理")[0]


# ---- failures of other stages ----


def test_recogniser_failure_apologises_and_escalates(qa):
    call = started(qa)
    said = call._run(F.SpeechFailed("asr", "model missing"))
    assert said == [P.SPEECH_FAILED, P.TRANSFERRING]
    assert call.last(F.Transfer).reason == "asr_error"


def test_knowledge_base_failure_while_answering_escalates(qa):
    call = started(qa)
    call.flow.state = F.State.ANSWERING  # an Ask is outstanding
    call._run(F.SpeechFailed("qa"))
    assert call.last(F.Transfer).reason == "qa_error"


def test_booking_unavailable_returns_to_questions(qa):
    call = started(qa)  # no booking dialog configured
    said = call.press("9")
    assert said == [P.BOOKING_UNAVAILABLE]
    assert call.flow.state is F.State.LISTENING


def test_recognition_failure_in_callback_offer_asks_again(qa):
    call = started(qa, agents=NIGHT, staffed=False)
    call.press("0")
    assert call._run(F.RecognitionFailed()) == [P.NOT_HEARD]
    assert call.flow.state is F.State.CALLBACK_OFFER


# ---- hang-up and time limit ----


def test_hang_up_mid_answer_is_abandoned(qa):
    call = started(qa)
    call.say("犬证怎么办理")
    call._run(F.HungUp(interrupted="answer"))
    assert call.flow.outcome is Outcome.ABANDONED
    assert call.flow.state is F.State.ENDED


def test_hang_up_after_answer_is_answered(qa):
    call = started(qa)
    call.say("犬证怎么办理")
    call._run(F.HungUp(interrupted="prompt"))
    assert call.flow.outcome is Outcome.ANSWERED_BY_IVR


def test_events_after_end_are_ignored(qa):
    call = started(qa)
    call.hang_up()
    assert call.say("犬证怎么办理") == []
    assert call.press("0") == []


def test_max_call_length_says_goodbye(qa):
    call = started(qa)
    call.say("犬证怎么办理")
    said = call._run(F.Timer("max_call"))
    assert said == [P.MAX_CALL]
    assert call.last(F.Hangup) == F.Hangup(Outcome.ANSWERED_BY_IVR)
    assert call._run(F.Timer("other")) == []


# ---- booking delegation ----


def _bridge(tmp_path) -> BookingBridge:
    from hotline.db import upgrade

    url = f"sqlite:///{tmp_path / 'book.db'}"
    upgrade(url)
    store = BookingStore.from_url(url, SlotPolicy())
    store.upsert_rule("GA-001", "养犬登记证核发", "A区 12-15号窗口", capacity=3, weekend=True)
    clock = lambda: datetime(2026, 11, 30, 10, 7)  # noqa: E731 - a Monday morning
    return BookingBridge(lambda item: BookingDialog(store, "13800138000", item_code=item, clock=clock))


def test_booking_words_delegate_to_booking_dialog(qa, tmp_path):
    call = started(qa, booking=_bridge(tmp_path))
    said = call.say("我要预约办狗证")
    assert call.flow.state is F.State.BOOKING
    book = call.last(F.Book)
    assert book.start and book.text == "我要预约办狗证"
    assert said and said[0]


def test_booking_after_answer_keeps_item_and_star_leaves(qa, tmp_path):
    call = started(qa, booking=_bridge(tmp_path))
    call.say("犬证怎么办理")
    call.press("9")
    assert call.last(F.Book) == F.Book(text=None, item_code="GA-001", start=True)
    # The booking step's vocabulary (which day) reaches the recogniser through the bridge and the flow's Listen.
    from speech.vocab import DATE

    assert call.last(F.Listen).hints == DATE.phrases
    said = call.say("明天上午")
    assert call.last(F.Book) == F.Book(text="明天上午")
    assert said
    assert call.press("*") == [P.ASK_AGAIN]
    assert call.flow.state is F.State.LISTENING


def test_booking_completed_marks_call_booked(qa, tmp_path):
    call = started(qa, booking=_bridge(tmp_path))
    call.say("犬证怎么办理")
    call.press("9")
    replies = []
    for text in ("明天上午", "第一个", "可以", "确认", "不用了"):
        replies += call.say(text)
        if call.flow.booked:
            break
    assert call.flow.booked, replies
    assert call.flow.outcome is Outcome.BOOKED


def test_booking_reply_done_returns_to_questions(qa):
    call = started(qa)
    call.flow.state = F.State.BOOKING
    said = call._run(F.BookingReplied("好的，已取消。", done=True))
    assert said == ["好的，已取消。", P.FOLLOW_UP_SHORT]
    assert call.flow.state is F.State.LISTENING


def test_booking_silence_repeats_last_booking_question(qa):
    call = started(qa)
    call.flow.state = F.State.BOOKING
    call._run(F.BookingReplied("请问哪天来？", done=False))
    assert call.silence() == ["请问哪天来？"]


# ---- helpers ----


@pytest.mark.parametrize(("text", "expected"), [("是的", True), ("对", True), ("不是", False), ("不对", False),
                                                ("嗯", True), ("犬证怎么办理要带什么", None), ("", None)])
def test_yes_or_no(text, expected):
    assert yes_or_no(text) is expected


def test_spoken_choices_parses_clarifying_question():
    assert spoken_choices("您问的是补身份证还是换身份证？", 2) == ["补身份证", "换身份证"]
    assert spoken_choices("请说出事项名称", 2) == []


# ---- unsure recognitions are confirmed, not guessed (FlowOptions.confirm_below / confirm_abstained_above) ----


def _answered(flow: F.CallFlow, answer, confidence: float) -> list:
    flow.handle(F.CallStarted(True))
    flow.state = F.State.ANSWERING
    return flow.handle(F.Answered("狗证怎么办", answer, confidence))


def _answer(item="GA-001", abstained=False, confidence=0.9, alternatives=()):
    from kb.api import Alternative, Answer

    alts = [Alternative(code, name, 0.5) for code, name in alternatives]
    return Answer(item if not abstained else None, "养犬登记证核发" if not abstained else None, "公安", "process",
                  "养犬登记证核发需要……", confidence, abstained, alts)


def test_an_unsure_recognition_of_a_found_item_is_confirmed_before_it_is_answered():
    from speech.vocab import YES_NO

    flow = F.CallFlow()
    commands = _answered(flow, _answer(), confidence=0.5)
    assert [c.text for c in commands if isinstance(c, F.Say)] == [P.CONFIRM.format(item="养犬登记证核发")]
    assert flow.state is F.State.CONFIRMING and commands[-1].hints == YES_NO.phrases
    assert flow.handle(F.Utterance("是的")) == [F.Ask("狗证怎么办", "GA-001", confirmed=True)]


def test_a_sure_recognition_is_answered_and_a_denied_guess_asks_again_not_the_menu():
    flow = F.CallFlow()
    assert any(isinstance(c, F.Say) and c.kind == "answer" for c in _answered(flow, _answer(), confidence=0.8))
    flow = F.CallFlow()
    _answered(flow, _answer(), confidence=0.5)
    said = flow.handle(F.Utterance("不是"))
    assert [c.text for c in said if isinstance(c, F.Say)] == [P.ASK_AGAIN] and flow.state is F.State.LISTENING


def test_an_abstained_answer_with_a_good_candidate_is_confirmed_at_once():
    candidate = (("GA-001", "养犬登记证核发"), ("GA-002", "养犬登记证年检"))
    flow = F.CallFlow()
    said = _answered(flow, _answer(abstained=True, confidence=0.45, alternatives=candidate), confidence=0.9)
    assert flow.state is F.State.CONFIRMING and flow.candidate == candidate[0]
    assert said[0] == F.Say(P.CONFIRM.format(item="养犬登记证核发"))
    weak = F.CallFlow()
    said = _answered(weak, _answer(abstained=True, confidence=0.2, alternatives=candidate), confidence=0.9)
    assert weak.state is F.State.LISTENING and said[0] == F.Say(P.NOT_HEARD)  # too weak: ask to rephrase


def test_the_flow_before_issue_16_is_one_option_away():
    old = F.FlowOptions(confirm_below=0.0, confirm_abstained_above=2.0)
    flow = F.CallFlow(old)
    assert any(isinstance(c, F.Say) and c.kind == "answer" for c in _answered(flow, _answer(), confidence=0.5))


def test_callback_offer_and_booking_listen_with_their_vocabularies():
    from speech.vocab import DATE, YES_NO

    flow = F.CallFlow()
    flow.handle(F.CallStarted(False))
    flow.handle(F.Utterance("转人工"))
    commands = flow.handle(F.AgentStatus(staffed=False, free=False))
    assert commands[-1] == F.Listen(flow.options.listen_timeout_s, YES_NO.phrases)
    flow = F.CallFlow()
    flow.handle(F.CallStarted(True))
    flow.handle(F.Utterance("我要预约"))
    commands = flow.handle(F.BookingReplied("您想约哪天？", done=False, hints=DATE.phrases))
    assert commands[-1].hints == DATE.phrases
