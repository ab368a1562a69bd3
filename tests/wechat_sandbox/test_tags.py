"""User tags: ids, names, reserved tags, the 100-tag and 20-per-user limits, batches of 50."""

from __future__ import annotations

import httpx
from wechatpy import WeChatClient

from tests.support.sandbox import chat, errcode


def make_users(http: httpx.Client, count: int, prefix: str = "o_tag") -> list[str]:
    openids = [f"{prefix}{n}" for n in range(count)]
    for openid in openids:
        http.post("/control/payment", json={"account": "oa", "openid": openid})  # makes the openid known
    return openids


def test_create_get_update_delete(http: httpx.Client, oa: WeChatClient) -> None:
    first = oa.tag.create("老客户")
    second = oa.tag.create("VIP")
    assert (first["id"], second["id"]) == (100, 101)
    assert errcode(lambda: oa.tag.create("VIP")) == 45157
    assert errcode(lambda: oa.tag.create("长" * 11)) == 45158  # 33 bytes of UTF-8
    assert oa.tag.create("长" * 10)["id"] == 102  # exactly 30 bytes
    oa.tag.update(first["id"], "回头客")
    assert errcode(lambda: oa.tag.update(first["id"], "VIP")) == 45157
    assert errcode(lambda: oa.tag.update(2, "星标")) == 45058
    assert errcode(lambda: oa.tag.delete(1)) == 45058
    assert errcode(lambda: oa.tag.delete(999)) == 45159
    oa.tag.delete(second["id"])
    names = {t["id"]: t["name"] for t in oa.tag.get()}
    assert names == {100: "回头客", 102: "长" * 10}
    assert oa.tag.create("新标签")["id"] == 103  # ids are never reused


def test_at_most_100_tags(oa: WeChatClient) -> None:
    for n in range(100):
        oa.tag.create(f"t{n}")
    assert errcode(lambda: oa.tag.create("one too many")) == 45056


def test_batch_tagging_limits(http: httpx.Client, oa: WeChatClient) -> None:
    users = make_users(http, 51)
    tag = oa.tag.create("活动")["id"]
    assert errcode(lambda: oa.tag.tag_user(tag, users)) == 40032
    assert errcode(lambda: oa.tag.tag_user(tag, [])) == 40032
    assert errcode(lambda: oa.tag.tag_user(999, users[:50])) == 45159
    assert errcode(lambda: oa.tag.tag_user(tag, ["o_unknown"])) == 40003
    oa.tag.tag_user(tag, users[:50])
    assert {t["id"]: t["count"] for t in oa.tag.get()} == {tag: 50}
    oa.tag.untag_user(tag, users[:10])
    assert {t["id"]: t["count"] for t in oa.tag.get()} == {tag: 40}


def test_twenty_tags_per_user_all_or_nothing(http: httpx.Client, oa: WeChatClient) -> None:
    full, fresh = make_users(http, 2)
    tags = [oa.tag.create(f"标签{n}")["id"] for n in range(21)]
    for tag in tags[:20]:
        oa.tag.tag_user(tag, full)
    assert errcode(lambda: oa.tag.tag_user(tags[20], [fresh, full])) == 45059
    assert oa.tag.get_user_tag(fresh) == []  # the batch was refused whole
    oa.tag.tag_user(tags[0], full)  # already tagged: no new tag, no error
    assert sorted(oa.tag.get_user_tag(full)) == tags[:20]


def test_members_listing_and_user_tags(http: httpx.Client, oa: WeChatClient) -> None:
    users = make_users(http, 3)
    tag = oa.tag.create("复购")["id"]
    oa.tag.tag_user(tag, users)
    page = oa.tag.get_tag_users(tag)
    assert page["count"] == 3 and page["data"]["openid"] == users and page["next_openid"] == users[-1]
    after = oa.tag.get_tag_users(tag, users[0])
    assert after["data"]["openid"] == users[1:]
    assert list(oa.tag.iter_tag_users(tag)) == users
    assert oa.tag.get_user_tag(users[0]) == [tag]
    assert errcode(lambda: oa.tag.get_user_tag("o_unknown")) == 40003
    assert errcode(lambda: oa.tag.get_tag_users(999)) == 45159
    oa.tag.delete(tag)
    assert oa.tag.get_user_tag(users[0]) == []


def test_tags_are_oa_only(http: httpx.Client, mp: WeChatClient) -> None:
    chat(http, "mp", "o_mp")
    assert errcode(lambda: mp.tag.create("x")) == 48001
