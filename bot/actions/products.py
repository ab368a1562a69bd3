"""Product questions in the chat, answered from the catalog.

A search answers with up to three mini-program cards (title with the price range, the product's page,
its first image as the thumbnail), or, when the store has no mini-program to open, a text list with
prices. Nothing found: the categories closest to the customer's words, as a menu whose taps search
that category. A product card the customer shares from the mini-program is answered with its prices
and what is in stock. Cards leave here naming an image; the bot uploads the thumbnail per account
(`bot.cards`) before the card is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.actions.store import Store
from commerce.catalog import catalog_outline, get_product, search_products
from commerce.errors import NotFound
from commerce.models import Product, Sku
from intents.actions.conversation import first_entity
from intents.actions.domain import ACTION_SEARCH_PRODUCT, CATEGORY_ENTITY, PRODUCT_ID_ENTITY
from intents.actions.replies import ActionTexts, TalkingAction, utter_menu

log = logging.getLogger(__name__)

CARDS_SHOWN = 3  # one turn's cards: each is a customer-service message of the customer's quota
CATEGORIES_SHOWN = 3
SEARCH_ITEM_PREFIX = "search:"  # menu item id: search:<category>
PRODUCT_PAGE = "pages/product/index?id={id}&src=card"
_CANDIDATES = 20  # searched before preferring products with the colour or size asked for


@dataclass(frozen=True)
class ProductTexts:
    """What the product answers say; a store may word them its own way."""

    found: str = "为您找到这些商品："
    found_more: str = "为您找到 {total} 款商品，先看看这 {shown} 款（更多可以在小程序里搜索「{query}」）："
    listed: str = "为您找到这些商品："
    listed_tail: str = "回复商品名称可以查看有货的颜色和尺码。"
    nothing: str = "暂时没有找到「{query}」，看看这些分类？"
    nothing_tail: str = "点击分类查看商品"
    nothing_at_all: str = "暂时没有找到「{query}」相关的商品，您可以换个说法，或回复「人工」联系客服。"
    unavailable: str = "抱歉，商品信息暂时查不到，请稍后再试，或回复「人工」联系客服。"
    not_on_sale: str = "这件商品「{title}」已经下架了，看看别的款式吧～"
    in_stock: str = "有货："
    sold_out: str = "目前全部售罄，可以回复「补货」了解到货时间。"


class ActionSearchProduct(TalkingAction):
    """A product question: search the catalog by the customer's words (or the category tapped, or
    the product shared), and answer with cards, a text list, or the closest categories."""

    def __init__(self, store: Store | None, texts: ActionTexts, products: ProductTexts | None = None) -> None:
        super().__init__(texts)
        self._store = store
        self._products = products or ProductTexts()

    def name(self) -> str:
        return ACTION_SEARCH_PRODUCT

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        store = self._store
        if store is None:  # no catalog to search (an action server without a database)
            return self._echo(dispatcher, tracker)
        try:
            with store.factory() as session:
                return self._answer(store, session, dispatcher, tracker)
        except SQLAlchemyError:
            log.exception("product search failed")
            dispatcher.utter_message(text=self._products.unavailable)
            return []

    def _answer(self, store: Store, session: Session, dispatcher: CollectingDispatcher,
                tracker: Tracker) -> list[EventType]:
        text = str(tracker.latest_message.get("text") or "")
        shared = first_entity(tracker, PRODUCT_ID_ENTITY)
        if shared is not None:
            return self._describe(session, dispatcher, shared, text)
        category = first_entity(tracker, CATEGORY_ENTITY)
        terms = [(category,)] if category else store.terms.terms(text)
        matches = search_products(session, terms, limit=_CANDIDATES)
        query = category or "".join(group[0] for group in terms) or text.strip()
        if not matches.products:
            self._offer_categories(session, dispatcher, terms, query)
            return []
        colour, size = first_entity(tracker, "colour"), first_entity(tracker, "size")
        shown = _prefer_in_stock(matches.products, colour, size)[:CARDS_SHOWN]
        self._show(dispatcher, shown, matches.total, query, store.mp_app_id)
        return [SlotSet("product", shown[0].title), SlotSet("colour", colour), SlotSet("size", size)]

    def _show(self, dispatcher: CollectingDispatcher, products: list[Product], total: int, query: str,
              mp_app_id: str) -> None:
        lines = [f"{index}. {product.title} {price_range(product)}" for index, product in enumerate(products, 1)]
        if not mp_app_id:  # no mini-program to open: the list, with prices, is the answer
            text = "\n".join([self._products.listed, *lines, self._products.listed_tail])
            dispatcher.utter_message(text=text)
            return
        intro = self._products.found if total <= len(products) else self._products.found_more.format(
            total=total, shown=len(products), query=query)
        dispatcher.utter_message(text=intro)
        for product, line in zip(products, lines, strict=True):
            card = product_card(product, mp_app_id, fallback=line)
            dispatcher.utter_message(json_message={"miniprogrampage": card})

    def _offer_categories(self, session: Session, dispatcher: CollectingDispatcher,
                          terms: Sequence[Sequence[str]], query: str) -> None:
        closest = closest_categories(catalog_outline(session), terms, CATEGORIES_SHOWN)
        if not closest:
            dispatcher.utter_message(text=self._products.nothing_at_all.format(query=query))
            return
        utter_menu(dispatcher, self._products.nothing.format(query=query),
                   [(f"{SEARCH_ITEM_PREFIX}{category}", category) for category in closest],
                   self._products.nothing_tail)

    def _describe(self, session: Session, dispatcher: CollectingDispatcher, product_id: str,
                  title: str) -> list[EventType]:
        try:
            product = get_product(session, product_id)
        except NotFound:
            dispatcher.utter_message(text=self._products.not_on_sale.format(title=title or product_id))
            return []
        dispatcher.utter_message(text=self._details(product))
        return [SlotSet("product", product.title)]

    def _details(self, product: Product) -> str:
        lines = [f"{product.title} {price_range(product)}"]
        specs = specs_in_stock(product)
        if not specs:
            return "\n".join([*lines, self._products.sold_out])
        lines.append(self._products.in_stock)
        lines += [f"{name}：{'、'.join(values)}" for name, values in specs.items()]
        return "\n".join(lines)

    def _echo(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        product = first_entity(tracker, "product")
        colour, size = first_entity(tracker, "colour"), first_entity(tracker, "size")
        if product is None:
            dispatcher.utter_message(text=self._texts.product_unknown)
            return []
        detail = "".join(f"（{part}）" for part in (colour, f"{size}码" if size else None) if part)
        dispatcher.utter_message(text=self._texts.product_found.format(product=product, detail=detail))
        return [SlotSet("product", product), SlotSet("colour", colour), SlotSet("size", size)]


def product_card(product: Product, appid: str, *, fallback: str) -> dict[str, str]:
    """A product's card as the actions compose it (the bot turns `image` into a thumbnail's media id)."""
    return {
        "title": f"{product.title} {price_range(product)}",
        "appid": appid,
        "pagepath": PRODUCT_PAGE.format(id=quote(product.id, safe="")),
        "image": product.images[0] if product.images else "",
        "fallback": fallback,
    }


def shared_product_id(pagepath: str) -> str | None:
    """The product a shared card opens (`pages/product/index?id=...`), if it opens one."""
    ids = parse_qs(urlsplit(pagepath).query).get("id")
    return ids[0] if ids and ids[0] else None


def price_range(product: Product) -> str:
    """"¥259–¥299" over the SKUs on sale (those in stock when any is), "¥259" when all cost the same."""
    skus = _on_sale(product)
    in_stock = [sku for sku in skus if sku.stock > 0] or skus
    if not in_stock:
        return ""
    low, high = min(s.price_fen for s in in_stock), max(s.price_fen for s in in_stock)
    return yuan(low) if low == high else f"{yuan(low)}–{yuan(high)}"


def yuan(fen: int) -> str:
    return f"¥{fen // 100}" if fen % 100 == 0 else f"¥{fen // 100}.{fen % 100:02d}"


def specs_in_stock(product: Product) -> dict[str, list[str]]:
    """Each spec (颜色, 尺码, 色号) with the values some SKU in stock has, in catalog order."""
    specs: dict[str, list[str]] = {}
    for sku in _on_sale(product):
        if sku.stock <= 0:
            continue
        for name, value in sku.specs.items():
            values = specs.setdefault(name, [])
            if value not in values:
                values.append(value)
    return specs


def closest_categories(outline: dict[str, list[str]], terms: Sequence[Sequence[str]], limit: int) -> list[str]:
    """The categories whose name and products share the most characters with the customer's words;
    with nothing in common, the largest categories."""
    wanted = {char for group in terms for word in group for char in word}

    def closeness(item: tuple[str, list[str]]) -> tuple[int, int]:
        category, titles = item
        seen = set(category) | {char for title in titles for char in title}
        return -len(wanted & seen), -len(titles)

    return [category for category, _ in sorted(outline.items(), key=closeness)[:limit]]


def _on_sale(product: Product) -> list[Sku]:
    return [sku for sku in product.skus if sku.active]


def _prefer_in_stock(products: list[Product], colour: str | None, size: str | None) -> list[Product]:
    """Products with a SKU in stock in the colour and size asked for first, then the rest, each in
    the search's order (a sort is stable)."""
    def has(product: Product) -> bool:
        return any(sku.stock > 0 and _fits(sku, colour, size) for sku in _on_sale(product))

    return sorted(products, key=lambda product: not has(product))


def _fits(sku: Sku, colour: str | None, size: str | None) -> bool:
    values = [str(value).upper() for value in sku.specs.values()]
    # A colour may be said shorter than the catalog writes it (黑 for 黑色); a size must be the size (L is not XL).
    colour_fits = colour is None or any(colour.upper() in value for value in values)
    return colour_fits and (size is None or size.upper() in values)
