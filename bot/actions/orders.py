"""Order requests in the chat, answered from the commerce core: status, tracking, cancelling (after a
yes/no question), returns, and a new address before shipping.

The customer is the one writing: their orders are those of every mini-program openid that is the same
person (`bot.customers.identity`); another customer's order number is answered as not found, never
with its data. Each answer is what the commerce core did or would do, never a promise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from bot.actions.store import Store
from bot.customers.identity import buyer_openids
from bot.models import Channel
from commerce.errors import CommerceError, NotFound
from commerce.models import Order
from commerce.orders import change_address, get_order, recent_orders, request_refund
from commerce.payments import cancel_unpaid_order
from commerce.states import OrderStatus
from intents.actions.conversation import first_entity, latest_intent
from intents.actions.domain import (
    ACTION_HANDLE_REQUEST,
    HANDOFF_MENU_ID,
    PENDING_CONFIRMATION,
    PENDING_REQUEST,
    REQUEST_INTENTS,
)
from intents.nlu.address import parse_address
from storage.db import transaction

# Menu items the dialogue hands back to this action when tapped.
ORDER_ITEM_PREFIX = "order:"  # order:<request>:<order_no>, one of the customer's recent orders
CONFIRM_ITEM_PREFIX = "confirm:"  # confirm:yes|no:<request>:<order_no>
RECENT_ORDERS = 3
BEIJING = timezone(timedelta(hours=8))

STATE_NAMES = {
    OrderStatus.PENDING_PAYMENT: "待付款",
    OrderStatus.PAID: "已付款，待发货",
    OrderStatus.SHIPPED: "已发货",
    OrderStatus.DELIVERED: "已签收",
    OrderStatus.COMPLETED: "已完成",
    OrderStatus.CANCELLED: "已取消",
    OrderStatus.REFUNDING: "退款处理中",
    OrderStatus.REFUNDED: "已退款",
}


@dataclass(frozen=True)
class OrderTexts:
    """What the order actions say; a store may word them its own way."""

    ask_order_no: str = "请发一下您的订单号（在小程序「我的订单」里可以看到，20 位数字），我帮您处理。"
    not_found: str = "没有找到订单 {order_no}，请核对一下订单号（在小程序「我的订单」里可以看到）。"
    unavailable: str = "抱歉，订单系统暂时查不到，请稍后再试，或回复「人工」联系客服。"
    pick_order: str = "您最近的订单有这些，请选择要{verb}的订单："
    verbs: dict[str, str] = field(default_factory=lambda: {
        "order_status": "查询", "track_package": "查物流", "return_request": "退货", "cancel_order": "取消",
        "change_address": "改地址",
    })
    next_steps: dict[OrderStatus, str] = field(default_factory=lambda: {
        OrderStatus.PENDING_PAYMENT: "请在 {expires} 前在小程序完成付款，超时订单会自动取消。",
        OrderStatus.PAID: "我们会尽快为您发货，发货后会通知您。",
        OrderStatus.SHIPPED: "包裹正在路上，收到后可以在小程序确认收货。",
        OrderStatus.DELIVERED: "如有问题，回复「退货」即可申请售后。",
        OrderStatus.COMPLETED: "如有问题，回复「退货」即可申请售后。",
        OrderStatus.CANCELLED: "如仍需要，可以在小程序重新下单。",
        OrderStatus.REFUNDING: "退款正在处理，到账后会通知您。",
        OrderStatus.REFUNDED: "款项已原路退回，一般 1-3 个工作日到账。",
    })
    not_shipped: str = "订单 {order_no} 还没有发货（{state}），发货后就能查到物流了。"
    confirm_cancel: str = "确定要取消订单 {order_no}（{items}，¥{amount}）吗？"
    confirm_yes: str = "确定取消"
    confirm_no: str = "先不取消"
    cancelled: str = "订单 {order_no} 已取消，商品已退回库存。"
    cancel_not_confirmed: str = "微信支付暂时没有确认关闭订单 {order_no}，订单还未取消，请稍后再试。"
    cancel_refund_requested: str = "订单 {order_no} 已付款还未发货，已为您提交退款申请，审核通过后款项原路退回。"
    cannot_cancel: dict[OrderStatus, str] = field(default_factory=lambda: {
        OrderStatus.SHIPPED: "订单 {order_no} 已经发货，不能直接取消了；收到后可以回复「退货」申请退货退款。",
        OrderStatus.DELIVERED: "订单 {order_no} 已签收，不能取消；如需退货，回复「退货」即可申请。",
        OrderStatus.COMPLETED: "订单 {order_no} 已完成，不能取消；如需售后，回复「退货」即可申请。",
        OrderStatus.CANCELLED: "订单 {order_no} 已经取消了，无需再操作。",
        OrderStatus.REFUNDING: "订单 {order_no} 正在退款中，无需取消。",
        OrderStatus.REFUNDED: "订单 {order_no} 已经退款了。",
    })
    kept: str = "好的，订单 {order_no} 保留，有需要随时找我。"
    return_requested: str = "已为订单 {order_no} 提交退货退款申请（原因：{reason}），客服审核后会联系您寄回商品。"
    cannot_return: dict[OrderStatus, str] = field(default_factory=lambda: {
        OrderStatus.PENDING_PAYMENT: "订单 {order_no} 还没有付款，不需要退货；不想要了可以回复「取消订单」。",
        OrderStatus.PAID: "订单 {order_no} 还没有发货，不需要退货；回复「取消订单」即可申请退款。",
        OrderStatus.SHIPPED: "订单 {order_no} 还在路上，签收后 7 天内可以申请退货。",
        OrderStatus.CANCELLED: "订单 {order_no} 已取消，没有需要退的款项。",
        OrderStatus.REFUNDING: "订单 {order_no} 的退款已在处理中，请耐心等待。",
        OrderStatus.REFUNDED: "订单 {order_no} 已经退款了。",
    })
    ask_address: str = "请把新的收件人、手机号和详细地址发给我（例如：张三 13812345678 广州市天河区体育西路1号）。"
    address_changed: str = "订单 {order_no} 的收货信息已改为：{name} {phone} {detail}。"
    address_refused: str = "这个地址没能保存（{reason}），请检查后再发一次。"
    cannot_change_address: str = "订单 {order_no} 已经{state}，不能再修改地址了。需要的话可以转人工客服帮您联系快递。"
    transfer_to_human: str = "转人工客服"


class ActionHandleRequest(Action):
    """Serves order_status, track_package, cancel_order, return_request and change_address."""

    def __init__(self, store: Store | None, texts: OrderTexts | None = None) -> None:
        self._store = store
        self._texts = texts or OrderTexts()

    def name(self) -> str:
        return ACTION_HANDLE_REQUEST

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if self._store is None:
            dispatcher.utter_message(text=self._texts.unavailable)
            return []
        confirmation = tracker.get_slot(PENDING_CONFIRMATION)
        if confirmation and latest_intent(tracker) in ("affirm", "deny"):
            return self._settle(dispatcher, tracker, str(confirmation))
        request = _request_of(tracker)
        if request is None:
            dispatcher.utter_message(text=self._texts.ask_order_no)
            return []
        openids = self._openids(tracker)
        with transaction(self._store.factory) as session:
            return _OrderRequest(self._store, self._texts, session, dispatcher, tracker, request, openids).serve()

    def _openids(self, tracker: Tracker) -> list[str]:
        assert self._store is not None
        channel, _, openid = tracker.sender_id.partition(":")
        if channel not in (Channel.OA, Channel.MP):
            return []
        oa = self._store.wechat.get(Channel.OA)
        users = oa.users if channel == Channel.OA and oa is not None else None
        return buyer_openids(self._store.factory, channel=Channel(channel), openid=openid, users=users)

    def _settle(self, dispatcher: CollectingDispatcher, tracker: Tracker, confirmation: str) -> list[EventType]:
        """The customer's yes or no to cancelling an order."""
        assert self._store is not None
        request, _, order_no = confirmation.partition(":")
        done: list[EventType] = [SlotSet(PENDING_CONFIRMATION, None)]
        if latest_intent(tracker) == "deny" or request != "cancel_order":
            dispatcher.utter_message(text=self._texts.kept.format(order_no=order_no))
            return done
        openids = self._openids(tracker)
        with transaction(self._store.factory) as session:
            asked = _OrderRequest(self._store, self._texts, session, dispatcher, tracker, request, openids)
            order = asked.find(order_no)
            unpaid = order is not None and order.state is OrderStatus.PENDING_PAYMENT
            buyer = order.openid if order is not None else ""
            if order is not None and not unpaid:
                asked.cancel_paid(order)
        if unpaid:
            # WeChat Pay's order is closed first, outside any transaction of ours (it may be slow).
            cancelled = cancel_unpaid_order(self._store.factory, pay=self._store.pay, order_no=order_no,
                                            openid=buyer,
                                            reason="顾客在聊天中取消", actor="customer", now=self._store.clock())
            text = self._texts.cancelled if cancelled else self._texts.cancel_not_confirmed
            dispatcher.utter_message(text=text.format(order_no=order_no))
        return done


def _request_of(tracker: Tracker) -> str | None:
    """What is asked: the latest message's request, else one waiting for its order number or address;
    a bare order number asks for that order's status."""
    intent = latest_intent(tracker)
    pending = tracker.get_slot(PENDING_REQUEST)
    if pending == "change_address" and parse_address(str(tracker.latest_message.get("text") or "")):
        return "change_address"  # the address asked for, whatever else the words resemble
    if intent in REQUEST_INTENTS:
        return intent
    if pending in REQUEST_INTENTS:
        return str(pending)
    return "order_status" if first_entity(tracker, "order_no") else None


class _OrderRequest:
    """One request of one customer, inside one transaction."""

    def __init__(self, store: Store, texts: OrderTexts, session: Session, dispatcher: CollectingDispatcher,
                 tracker: Tracker, request: str, openids: list[str]) -> None:
        self.store, self.texts, self.session, self.say, self.tracker = store, texts, session, dispatcher, tracker
        self.request, self.openids = request, openids

    def serve(self) -> list[EventType]:
        order_no = first_entity(self.tracker, "order_no")
        if order_no is None and self.request == "change_address":
            order_no = self.tracker.get_slot("order_no") if self.tracker.get_slot(PENDING_REQUEST) else None
        if order_no is None:
            return self.pick_order()
        order = self.find(order_no)
        if order is None:
            return [SlotSet(PENDING_REQUEST, None)]
        return [*self.act(order), SlotSet("order_no", order.order_no)]

    def pick_order(self) -> list[EventType]:
        """Without a number: the only recent order, a menu of the last few, or ask for the number."""
        recent = recent_orders(self.session, openids=self.openids, limit=RECENT_ORDERS)
        if len(recent) == 1:
            return [*self.act(recent[0]), SlotSet("order_no", recent[0].order_no)]
        if not recent:
            self.say.utter_message(text=self.texts.ask_order_no)
            return [SlotSet(PENDING_REQUEST, self.request)]
        items = [{"id": f"{ORDER_ITEM_PREFIX}{self.request}:{o.order_no}", "content": _menu_line(o)} for o in recent]
        head = self.texts.pick_order.format(verb=self.texts.verbs[self.request])
        self.say.utter_message(json_message={"msgmenu": {"head_content": head, "list": items, "tail_content": ""}})
        return [SlotSet(PENDING_REQUEST, self.request)]

    def find(self, order_no: str) -> Order | None:
        try:
            order = get_order(self.session, order_no=order_no)
        except (NotFound, CommerceError):
            order = None
        if order is None or order.openid not in self.openids:  # another customer's: not found, nothing shown
            self.say.utter_message(text=self.texts.not_found.format(order_no=order_no))
            return None
        return order

    def act(self, order: Order) -> list[EventType]:
        handlers: dict[str, Callable[[Order], list[EventType]]] = {
            "order_status": self.status, "track_package": self.track, "cancel_order": self.ask_to_cancel,
            "return_request": self.return_order, "change_address": self.change_address,
        }
        return handlers[self.request](order)

    def status(self, order: Order) -> list[EventType]:
        self.say.utter_message(text=_summary(order, self.texts))
        return [SlotSet(PENDING_REQUEST, None)]

    def track(self, order: Order) -> list[EventType]:
        if order.carrier and order.tracking_no:
            return self.status(order)
        self.say.utter_message(text=self.texts.not_shipped.format(order_no=order.order_no,
                                                                  state=STATE_NAMES[order.state]))
        return [SlotSet(PENDING_REQUEST, None)]

    def ask_to_cancel(self, order: Order) -> list[EventType]:
        if order.state not in (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID):
            self.say.utter_message(text=self.texts.cannot_cancel[order.state].format(order_no=order.order_no))
            return [SlotSet(PENDING_REQUEST, None)]
        head = self.texts.confirm_cancel.format(order_no=order.order_no, items=_items(order),
                                                amount=_yuan(order.amount_fen))
        key = f"cancel_order:{order.order_no}"
        items = [{"id": f"{CONFIRM_ITEM_PREFIX}yes:{key}", "content": self.texts.confirm_yes},
                 {"id": f"{CONFIRM_ITEM_PREFIX}no:{key}", "content": self.texts.confirm_no}]
        self.say.utter_message(json_message={"msgmenu": {"head_content": head, "list": items, "tail_content": ""}})
        return [SlotSet(PENDING_REQUEST, None), SlotSet(PENDING_CONFIRMATION, key)]

    def cancel_paid(self, order: Order) -> None:
        """The customer said yes to cancelling an order already paid: not shipped, a refund request."""
        order_no = order.order_no
        if order.state is OrderStatus.PAID:
            request_refund(self.session, order_no=order_no, reason="顾客在聊天中取消（未发货）", now=self.store.clock())
            self.say.utter_message(text=self.texts.cancel_refund_requested.format(order_no=order_no))
        else:  # it moved on (shipped, refunded ...) since the question was asked
            self.say.utter_message(text=self.texts.cannot_cancel[order.state].format(order_no=order_no))

    def return_order(self, order: Order) -> list[EventType]:
        if order.state not in (OrderStatus.DELIVERED, OrderStatus.COMPLETED):
            self.say.utter_message(text=self.texts.cannot_return[order.state].format(order_no=order.order_no))
            return [SlotSet(PENDING_REQUEST, None)]
        reason = _reason(self.tracker)
        request_refund(self.session, order_no=order.order_no, reason=reason, now=self.store.clock())
        self.say.utter_message(text=self.texts.return_requested.format(order_no=order.order_no, reason=reason))
        return [SlotSet(PENDING_REQUEST, None)]

    def change_address(self, order: Order) -> list[EventType]:
        if order.state not in (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID):
            text = self.texts.cannot_change_address.format(order_no=order.order_no, state=STATE_NAMES[order.state])
            items = [{"id": HANDOFF_MENU_ID, "content": self.texts.transfer_to_human}]
            self.say.utter_message(json_message={"msgmenu": {"head_content": text, "list": items, "tail_content": ""}})
            return [SlotSet(PENDING_REQUEST, None)]
        address = parse_address(str(self.tracker.latest_message.get("text") or ""))
        if address is None:
            self.say.utter_message(text=self.texts.ask_address)
            return [SlotSet(PENDING_REQUEST, "change_address")]
        try:
            change_address(self.session, order_no=order.order_no, address=address, now=self.store.clock())
        except CommerceError as exc:
            self.say.utter_message(text=self.texts.address_refused.format(reason=exc.message))
            return [SlotSet(PENDING_REQUEST, "change_address")]
        self.say.utter_message(text=self.texts.address_changed.format(order_no=order.order_no, **address))
        return [SlotSet(PENDING_REQUEST, None)]


def _summary(order: Order, texts: OrderTexts) -> str:
    state = order.state
    lines = [f"订单 {order.order_no}", f"状态：{STATE_NAMES[state]}"]
    if order.carrier and order.tracking_no:
        lines.append(f"物流：{order.carrier} {order.tracking_no}")
    lines += [f"商品：{_items(order)}", f"金额：¥{_yuan(order.amount_fen)}"]
    if order.refunded_fen:
        lines.append(f"已退款：¥{_yuan(order.refunded_fen)}")
    expires = order.expires_at.astimezone(BEIJING).strftime("%m-%d %H:%M")
    lines.append(texts.next_steps[state].format(expires=expires))
    return "\n".join(lines)


def _items(order: Order) -> str:
    def one(item: Any) -> str:
        specs = "/".join(str(v) for v in item.specs.values())
        return f"{item.title}（{specs}）×{item.quantity}" if specs else f"{item.title}×{item.quantity}"

    return "、".join(one(item) for item in order.items)


def _menu_line(order: Order) -> str:
    # The whole number: in mini-program service the menu is text, and the customer types it back.
    first = order.items[0].title if order.items else ""
    more = f"等{len(order.items)}件" if len(order.items) > 1 else ""
    return f"{order.order_no} {first}{more} ¥{_yuan(order.amount_fen)} {STATE_NAMES[order.state]}"


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _reason(tracker: Tracker) -> str:
    """The customer's own words are the reason; the bare request is reason enough."""
    text = str(tracker.latest_message.get("text") or "").strip()
    return (text or "顾客申请退货")[:120]
