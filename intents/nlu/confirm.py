"""Yes and no in a customer's own words, to a question the bot asked."""

from __future__ import annotations

import re

from intents.nlu.entities import fold

_PUNCTUATION = re.compile(r"[\s,.!?~，。！？～、…:：;；'\"“”‘’()（）\[\]【】]+")
_PARTICLES = "[的哦噢啦呢吧呀啊哈嘛滴哒]*"  # 是的呀, 不对哦: what the answer ends with, not what it says
_YES_WORDS = "是|对|嗯+|恩+|没错|没有错|确认|确定|yes|yep|ok|okay|好|系|啱"
_NO_WORDS = "不是|不对|(?:写|搞|打)?错了|不|没有|no|nope|唔系|唔啱"
_YES = re.compile(rf"(?:(?:{_YES_WORDS}){_PARTICLES})+")
_NO = re.compile(rf"(?:(?:{_NO_WORDS}){_PARTICLES})+")
# An answer that echoes the question opens with its yes or no: 确定取消, 先不取消, 算了不取消了.
_OPENS_NO = re.compile(rf"(?:先|暂时|还是)?(?:{_NO_WORDS}|否|别|算了|再想想)")
_OPENS_YES = re.compile(rf"(?:{_YES_WORDS}|可以|行|要)")


def is_yes(text: str) -> bool:
    """A bare yes (是, 对的, 嗯嗯, 没错...): a message carrying more (a figure) is read for that instead."""
    return bool(_YES.fullmatch(_bare(text)))


def is_no(text: str) -> bool:
    """A bare no (不是, 不对哦, 写错了...)."""
    return bool(_NO.fullmatch(_bare(text)))


def yes_or_no(text: str) -> bool | None:
    """The answer to a yes/no question, bare or echoing it; None when the message is about something else.
    A no is looked for first: 先不取消 holds 取消."""
    bare = _bare(text)
    if _OPENS_NO.match(bare):
        return False
    if _OPENS_YES.match(bare):
        return True
    return None


def _bare(text: str) -> str:
    return _PUNCTUATION.sub("", fold(text)).lower()
