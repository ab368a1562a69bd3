"""Subscribe-message value limits, checked without HTTP (the HTTP path is in test_subscribe)."""

from __future__ import annotations

import pytest

from wechat_sandbox.errors import WeChatError
from wechat_sandbox.fields import validate_data

VALID = {
    "thing1": "蓝色帆布鞋 42 码",
    "number2": "3",
    "amount3": "¥199.00",
    "time4": "2024-05-01 15:01",
    "date5": "2024年5月1日",
    "character_string6": "CS-20240501-0001",
    "phone_number7": "+86 138-0000-0000",
    "letter8": "ABC",
    "symbol9": "%",
    "car_number10": "粤B12345",
    "name11": "张三",
    "phrase12": "已发货",
}

INVALID = [
    ("thing1", "一" * 21),
    ("thing1", ""),
    ("number2", "3件"),
    ("number2", "1" * 33),
    ("amount3", "199"),  # no currency symbol
    ("amount3", "¥12345678901"),  # 11 digits
    ("time4", "明天下午"),
    ("time4", "2024-02-30 10:00"),
    ("date5", "15:01"),  # a date needs the date
    ("character_string6", "订单123"),
    ("character_string6", "A" * 33),
    ("phone_number7", "1" * 18),
    ("letter8", "AB1"),
    ("symbol9", "%%%%%%"),
    ("car_number10", "粤B1234567"),
    ("name11", "张" * 11),
    ("name11", "a" * 21),
    ("phrase12", "已经发货了啊"),
    ("phrase12", "ok"),
    ("unknown13", "x"),
]


def test_valid_values_pass() -> None:
    validate_data({key: {"value": value} for key, value in VALID.items()})


@pytest.mark.parametrize(("key", "value"), INVALID)
def test_invalid_value_is_47003_naming_the_key(key: str, value: str) -> None:
    with pytest.raises(WeChatError) as info:
        validate_data({key: {"value": value}})
    assert info.value.errcode == 47003
    assert key in info.value.errmsg


def test_periods_and_variants_accepted() -> None:
    validate_data(
        {
            "time1": {"value": "15:01~16:30"},
            "date2": {"value": "2024-05-01 ~ 2024-05-03"},
            "amount3": {"value": "￥8元"},
            "name4": {"value": "Li Lei"},
        }
    )


def test_shape_errors() -> None:
    for data in ({}, None, {"thing1": "not an object"}, {"thing1": {"val": "x"}}):
        with pytest.raises(WeChatError) as info:
            validate_data(data)
        assert info.value.errcode == 47003
