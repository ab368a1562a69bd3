"""What the actions say, and how rich messages travel through rasa_sdk's dispatcher.

Text goes out as `utter_message(text=...)`. A menu or a mini-program card goes out as a custom
JSON message in WeChat's own customer-service shape (`{"msgmenu": {...}}`,
`{"miniprogrampage": {...}}`), so a Rasa channel connector for WeChat can send it as it is, and
the bot turns it into its typed messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rasa_sdk import Action
from rasa_sdk.executor import CollectingDispatcher


@dataclass(frozen=True)
class ActionTexts:
    """Every sentence the actions say; the composition root may override any of them."""

    rephrase: str = "抱歉，这个问题我还不太会回答，您可以换个说法，或回复「人工」联系客服。"
    offer_human: str = "还是没能理解您的问题，需要为您转接人工客服吗？"
    offer_human_item: str = "转人工客服"
    offer_human_tail: str = "也可以直接回复「人工」"
    handoff: str = "好的，已为您转接人工客服，请稍候，客服会尽快回复您。"
    handoff_complaint: str = "非常抱歉给您带来不好的体验！已为您转接人工客服，客服会尽快联系您处理。"
    clarify_head: str = "您是想问以下哪个问题呢？"
    clarify_tail: str = "点击问题即可查看回答"
    small_talk: dict[str, str] = field(default_factory=lambda: {
        "greet": "您好！我是店铺小助手，请问有什么可以帮您？发货、退换、尺码、订单都可以问我哦～",
        "thanks": "不客气～还有其他问题随时找我哦！",
        "goodbye": "好的，祝您购物愉快，再见～",
    })
    ask_height: str = "好的，帮您推荐尺码～请问您的身高是多少？（例如 165cm 或 一米六五）"
    ask_weight: str = "请问您的体重是多少？（例如 50kg 或 100斤）"
    bad_height: str = "身高好像不太对哦，请告诉我 100–230 厘米之间的身高，例如 165cm。"
    bad_weight: str = "体重好像不太对哦，请告诉我 25–200 公斤之间的体重，例如 50kg 或 100斤。"
    # A figure no adult shopper has: put back to the customer before any size is given.
    confirm_weight_unit: str = "您说的体重是 {said}，是{proposed}吗？"
    confirm_measure: str = "您说的{measure}是 {said}，对吗？对的话请回复「是」，不对请直接告诉我正确的{measure}。"
    recommend: str = "身高 {height}cm、体重 {weight}kg，推荐您选 {size} 码。{note}"
    recommend_between: str = "（如果喜欢宽松一点，可以选大一码）"
    recommend_outside: str = "您的身材在尺码表之外，建议回复「人工」让客服帮您确认。"
    product_found: str = "您在找「{product}」{detail}对吗？可以在小程序商城搜索「{product}」查看详情和库存哦～"
    product_unknown: str = "想找什么商品呢？告诉我商品名称、颜色或尺码，我帮您看看～"


class TalkingAction(Action):
    """An action that speaks with the store's texts."""

    def __init__(self, texts: ActionTexts) -> None:
        self._texts = texts


def utter_menu(dispatcher: CollectingDispatcher, head: str, items: Sequence[tuple[str, str]], tail: str) -> None:
    """A "猜你想问" menu of (id, text) items; a tap comes back as a text with `bizmsgmenuid`."""
    menu = {"head_content": head, "list": [{"id": item_id, "content": text} for item_id, text in items],
            "tail_content": tail}
    dispatcher.utter_message(json_message={"msgmenu": menu})


def utter_card(dispatcher: CollectingDispatcher, *, title: str, appid: str, pagepath: str, image: str = "",
               thumb_media_id: str = "") -> None:
    """A mini-program card naming its image (a URL or an /images/ path) rather than a media id, which
    belongs to one WeChat account: whoever sends it uploads the thumbnail (the bot does, per account)
    and fills in the store's appid when it is empty."""
    card = {"title": title, "appid": appid, "pagepath": pagepath, "image": image, "thumb_media_id": thumb_media_id}
    dispatcher.utter_message(json_message={"miniprogrampage": card})
