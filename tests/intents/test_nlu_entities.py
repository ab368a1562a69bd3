"""Entity extraction on customers' own writing: spans index the original text, values are normalised."""

from __future__ import annotations

import pytest

from intents.nlu.entities import EntityExtractor, ProductGazetteer


@pytest.fixture(scope="module")
def extractor() -> EntityExtractor:
    return EntityExtractor(ProductGazetteer(["法式碎花连衣裙", "哑光丝绒口红", "连衣裙"]))


def found(extractor: EntityExtractor, text: str) -> list[tuple[str, str, object]]:
    entities = extractor.extract(text)
    for entity in entities:
        assert text[entity.start : entity.end] == entity.text  # spans are the customer's own characters
    return [(e.entity, e.text, e.value) for e in entities]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # order numbers: 12-24 digits, spaces or dashes allowed, value without them
        ("订单20261123104501000123到哪了", [("order_no", "20261123104501000123", "20261123104501000123")]),
        ("单号 2026 1123 1045 0100 0123", [("order_no", "2026 1123 1045 0100 0123", "20261123104501000123")]),
        ("１２３４５６７８９０１２３", [("order_no", "１２３４５６７８９０１２３", "1234567890123")]),  # full-width
        ("数字12345678901太短", []),
        # mainland mobiles, with or without +86 and separators
        ("电话13800138000", [("phone", "13800138000", "13800138000")]),
        ("+86 138-0013-8000", [("phone", "+86 138-0013-8000", "13800138000")]),
        # heights in cm
        ("我165cm", [("height", "165cm", 165)]),
        ("1米65的个子", [("height", "1米65", 165)]),
        ("一米六五", [("height", "一米六五", 165)]),
        ("一米七", [("height", "一米七", 170)]),
        ("身高158", [("height", "158", 158)]),
        ("1.72m", [("height", "1.72m", 172)]),
        ("155的身高", [("height", "155", 155)]),
        # weights in kg (斤 halved)
        ("50kg", [("weight", "50kg", 50)]),
        ("100斤", [("weight", "100斤", 50)]),
        ("一百斤", [("weight", "一百斤", 50)]),
        ("一百二十五斤", [("weight", "一百二十五斤", 62.5)]),
        ("50公斤", [("weight", "50公斤", 50)]),
        ("体重110", [("weight", "110", 55)]),
        ("体重48", [("weight", "48", 48)]),
        ("999斤", []),  # not a person's weight
        # sizes, colours (traditional folded to simplified), products longest first
        ("要XL码的", [("size", "XL", "XL")]),
        ("2xl有吗", [("size", "2xl", "XXL")]),
        ("36码 均码", [("size", "36码", "36"), ("size", "均码", "均码")]),
        ("酒紅色", [("colour", "酒紅色", "酒红")]),
        ("藏青的法式碎花连衣裙", [("colour", "藏青", "藏青"), ("product", "法式碎花连衣裙", "法式碎花连衣裙")]),
        ("法式碎花連衣裙", [("product", "法式碎花連衣裙", "法式碎花连衣裙")]),
        ("那条连衣裙", [("product", "连衣裙", "连衣裙")]),
    ],
)
def test_entities(extractor: EntityExtractor, text: str, expected: list[tuple[str, str, object]]) -> None:
    assert found(extractor, text) == expected


def test_a_message_with_everything(extractor: EntityExtractor) -> None:
    text = "我身高一米六，体重九十五斤，想要黑色M码的哑光丝绒口红，订单20261120113000000999，电话13612345678"
    assert found(extractor, text) == [
        ("height", "一米六", 160), ("weight", "九十五斤", 47.5), ("colour", "黑色", "黑色"), ("size", "M", "M"),
        ("product", "哑光丝绒口红", "哑光丝绒口红"), ("order_no", "20261120113000000999", "20261120113000000999"),
        ("phone", "13612345678", "13612345678"),
    ]


def test_product_names_are_reread_from_their_source() -> None:
    names = ["法式碎花连衣裙"]
    now = [0.0]
    gazetteer = ProductGazetteer(lambda: list(names), refresh_s=60, clock=lambda: now[0])
    extractor = EntityExtractor(gazetteer)
    assert found(extractor, "针织开衫有吗") == []
    names.append("针织开衫")
    now[0] = 61.0
    assert found(extractor, "针织开衫有吗") == [("product", "针织开衫", "针织开衫")]
