"""Every fixed sentence the IVR says to callers, in one place (short, natural Simplified Chinese).

Templates use ``str.format`` fields. ``FIXED`` lists the ones without fields: the runtime pre-renders them into
the prompt cache at start-up so they play instantly even when the synthesiser is slow or down.
"""

from __future__ import annotations

GREETING_STAFFED = "您好，这里是86909000政务服务热线。请直接说出您要办的事，比如“狗证怎么办”。转人工请按0。"
GREETING_UNSTAFFED = (
    "您好，这里是86909000政务服务热线。现在是非人工服务时间，由智能助手为您解答。"
    "请直接说出您要办的事，需要回电也可以告诉我。"
)
REPROMPT_1 = "您请说，比如“市民卡丢了怎么补办”，或者“办营业执照要带什么材料”。"
REPROMPT_2 = "我还没有听到您的声音。您可以说“身份证在哪里办”，也可以按0转人工。"
GOODBYE_SILENCE = "没有听到您的声音，先挂断了，欢迎再次来电。再见。"
GOODBYE = "感谢您的来电，再见。"
NOT_HEARD = "抱歉，我没听清楚，请换个说法再说一遍。"
CONFIRM = "您问的是{item}吗？请说是或者不是，也可以按1确认。"
MENU = "抱歉，还是没听明白。重新提问请直接说，重听请按1，预约办事请按9，转人工请按0。"
FOLLOW_UP = "还有其他问题吗？可以继续问，比如要带什么材料、在哪里办。"
FOLLOW_UP_SHORT = "请问还有什么问题？"
ASK_AGAIN = "好的，请说出您要咨询的问题。"
NOTHING_TO_REPEAT = "请直接说出您要咨询的问题。"
CLARIFY_PICK = "请说出事项名称，或者按对应的数字键。"
TRANSFERRING = "好的，正在为您转接人工服务，请稍候。"
KEEP_WAITING = "请您稍候，正在为您转接人工服务。"
SPEECH_FAILED = "抱歉，系统出了点问题，正在为您转接人工服务，请稍候。"
SPEECH_FAILED_UNSTAFFED = "抱歉，系统出了点问题。"
LINES_BUSY = "您好，现在线路繁忙，正在为您转接人工服务，请稍候。"
LINES_BUSY_UNSTAFFED = "您好，现在线路繁忙，请留下您的问题，工作人员会给您回电。"
OFFER_CALLBACK_UNSTAFFED = "现在不是人工服务时间，需要工作人员上班后给您回电吗？需要请说“是”或按1，不需要请说“不用”。"
OFFER_CALLBACK_BUSY = "现在坐席都在忙，需要工作人员稍后给您回电吗？需要请说“是”或按1，继续等待请按0。"
CALLBACK_BOOKED = "好的，已为您登记回电，工作人员会尽快联系您。感谢来电，再见。"
CALLBACK_DECLINED = "好的。您也可以在工作时间再次来电。感谢来电，再见。"
MAX_CALL = "本次通话时间较长，先为您挂断。如还有问题，欢迎再次来电。再见。"
BOOKING_UNAVAILABLE = "抱歉，电话预约暂时不能用，您可以通过浙里办预约，或按0转人工。"
BOOKING_DONE = "预约的事办好了。还有其他问题吗？"

# Caller words the flow understands without the knowledge base.
AGENT_WORDS = ("转人工", "人工服务", "人工客服", "转接人工", "找人工", "真人", "接线员")
BOOKING_WORDS = ("预约",)
CALLBACK_WORDS = ("回电", "回个电话", "打回来", "给我回电话")
YES_WORDS = ("是的", "是啊", "对的", "对", "没错", "好的", "好", "嗯", "可以", "需要", "要", "是")
NO_WORDS = ("不是", "不对", "不用", "不要", "不需要", "错了", "不")
BYE_WORDS = ("没有了", "没有其他", "没有别的", "没了", "再见", "拜拜", "就这些", "不用了", "谢谢", "没问题了")

FIXED = (
    GREETING_STAFFED,
    GREETING_UNSTAFFED,
    REPROMPT_1,
    REPROMPT_2,
    GOODBYE_SILENCE,
    GOODBYE,
    NOT_HEARD,
    MENU,
    FOLLOW_UP,
    FOLLOW_UP_SHORT,
    ASK_AGAIN,
    NOTHING_TO_REPEAT,
    CLARIFY_PICK,
    TRANSFERRING,
    KEEP_WAITING,
    SPEECH_FAILED,
    SPEECH_FAILED_UNSTAFFED,
    LINES_BUSY,
    LINES_BUSY_UNSTAFFED,
    OFFER_CALLBACK_UNSTAFFED,
    OFFER_CALLBACK_BUSY,
    CALLBACK_BOOKED,
    CALLBACK_DECLINED,
    MAX_CALL,
    BOOKING_UNAVAILABLE,
    BOOKING_DONE,
)
