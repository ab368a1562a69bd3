"""The knowledge base through the staff API, over real HTTP against a live server whose bot runs on a copy of
the demo KB: admins only; FAQs listed, searched and read with the file's version; an edit written to the
file, refused whole when the bot's parser refuses it, refused with 409 when made on a stale version, and in
force in the running bot when the answer says so; 试一试's three outcomes, with the running KB and with an
unsaved edit; the unanswered-questions report and one question added as a phrasing."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.gaps import note_choice, record_unanswered
from bot.models import Channel
from intents.kb import load_knowledge_base
from staff.roles import Role
from storage.db import transaction
from tests.staff.test_staff_api import make_staff, token_for
from tests.support import DEMO_KB, LiveServer
from tests.support.mp_client import error_of

ANSWERED = "能开发票吗"  # the invoice FAQ, confidently
AMBIGUOUS = "发票快递"  # near the invoice FAQs and others: a 猜你想问 menu
UNKNOWN = "有没有线下的铺面"  # nothing close enough: the bot asks to rephrase (store_address is nearest)


@pytest.fixture
def kb_path(tmp_path: Path) -> Path:
    path = tmp_path / "kb" / "kb.yaml"
    path.parent.mkdir()
    shutil.copy(DEMO_KB, path)
    return path


@pytest.fixture
def shop(server_factory: Callable[..., LiveServer], kb_path: Path) -> LiveServer:
    return server_factory({"CHATSHOP__KB__PATH": str(kb_path)})


@pytest.fixture
def admin(shop: LiveServer) -> Iterator[httpx.Client]:
    make_staff(shop, "boss", Role.ADMIN, groups=())
    with shop.client() as http:
        http.headers["Authorization"] = f"Bearer {token_for(shop, 'boss')}"
        yield http


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def faq_body(faq: dict[str, Any], version: str, **changes: Any) -> dict[str, Any]:
    body = {key: faq[key] for key in ("question", "similar", "answer", "category", "enabled", "popular")}
    if faq["card"]:
        body["card"] = faq["card"]
    return {**body, "version": version, **changes}


def test_only_admins_see_or_edit_the_kb(shop: LiveServer) -> None:
    for username, role in (("wang", Role.AGENT), ("li", Role.SUPERVISOR), ("mei", Role.MARKETER)):
        make_staff(shop, username, role, groups=("售前",) if role is Role.AGENT else ())
        with shop.client() as http:
            http.headers["Authorization"] = f"Bearer {token_for(shop, username)}"
            for method, path, body in (
                ("GET", "/staff/api/kb/faqs", None), ("GET", "/staff/api/kb/faqs/invoice", None),
                ("PUT", "/staff/api/kb/faqs/invoice", {"question": "x", "answer": "y", "version": "v"}),
                ("POST", "/staff/api/kb/faqs", {"id": "x", "question": "x", "answer": "y", "version": "v"}),
                ("POST", "/staff/api/kb/faqs/invoice/phrasings", {"text": "开票"}),
                ("DELETE", "/staff/api/kb/faqs/invoice?version=v", None),
                ("POST", "/staff/api/kb/try", {"text": ANSWERED}), ("GET", "/staff/api/kb/gaps", None),
                ("GET", "/staff/api/kb/status", None), ("GET", "/staff/api/rules", None),
            ):
                refused = http.request(method, path, json=body)
                assert refused.status_code == 403, (username, method, path, refused.text)
                assert error_of(refused)["code"] == "FORBIDDEN"
    with shop.client() as anonymous:
        assert anonymous.get("/staff/api/kb/faqs").status_code == 401


def test_faqs_are_listed_searched_and_read_with_the_files_version(admin: httpx.Client, kb_path: Path) -> None:
    listed = ok(admin.get("/staff/api/kb/faqs"))
    assert listed["total"] == len(load_knowledge_base(kb_path).faqs) == len(listed["faqs"])
    assert listed["categories"][:3] == ["物流", "售后", "尺码"]
    assert listed["status"]["in_force"] is True and listed["status"]["last_error"] is None
    assert listed["status"]["path"] == str(kb_path)

    found = ok(admin.get("/staff/api/kb/faqs", params={"q": "发票"}))
    assert {faq["id"] for faq in found["faqs"]} >= {"invoice", "invoice_correction"}
    assert all("发票" in faq["question"] or "发票" in faq["answer"] or faq["phrasings"] for faq in found["faqs"])
    by_category = ok(admin.get("/staff/api/kb/faqs", params={"category": "发票"}))
    assert [faq["id"] for faq in by_category["faqs"]] == ["invoice", "invoice_correction"]
    assert ok(admin.get("/staff/api/kb/faqs", params={"q": "没有这种问题xyz"}))["total"] == 0

    page = ok(admin.get("/staff/api/kb/faqs/invoice"))
    assert page["version"] == listed["version"]
    assert page["faq"]["question"] == "可以开发票吗？" and "能开发票吗" in page["faq"]["similar"]
    missing = admin.get("/staff/api/kb/faqs/no_such_faq")
    assert missing.status_code == 404 and error_of(missing)["code"] == "FAQ_NOT_FOUND"
    # Paging is bounded rather than answered with a 500
    for params in ({"offset": 10**12}, {"limit": 10**9}, {"offset": -1}):
        assert admin.get("/staff/api/kb/faqs", params=params).status_code == 422
    assert ok(admin.get("/staff/api/kb/faqs", params={"offset": 1_000_000}))["faqs"] == []


def test_an_edit_reaches_the_running_bot_and_a_stale_one_is_refused(admin: httpx.Client, kb_path: Path) -> None:
    # The bot does not understand the question yet
    assert ok(admin.post("/staff/api/kb/try", json={"text": UNKNOWN}))["outcome"] == "fallback"
    page = ok(admin.get("/staff/api/kb/faqs/store_address"))
    body = faq_body(page["faq"], page["version"], similar=[*page["faq"]["similar"], UNKNOWN])

    saved = ok(admin.put("/staff/api/kb/faqs/store_address", json=body))

    # In the file, and in force in the running bot by the time the answer came
    assert saved["reloaded"] is True and saved["reload_error"] is None
    assert saved["faq"]["similar"][-1] == UNKNOWN
    assert UNKNOWN in next(f for f in load_knowledge_base(kb_path).faqs if f.id == "store_address").similar
    tried = ok(admin.post("/staff/api/kb/try", json={"text": UNKNOWN}))
    assert tried["outcome"] == "answer" and tried["answer"]["id"] == "store_address"
    assert ok(admin.get("/staff/api/kb/status"))["in_force"] is True

    # A second admin who opened the FAQ before that save is refused, and told the current version
    stale = admin.put("/staff/api/kb/faqs/store_address", json={**body, "answer": "旧版本上的修改"})
    assert stale.status_code == 409
    assert error_of(stale)["code"] == "KB_CHANGED" and error_of(stale)["version"] == saved["version"]
    assert "旧版本上的修改" not in kb_path.read_text(encoding="utf-8")


def test_a_broken_edit_is_refused_with_the_parsers_message_and_nothing_changes(
    admin: httpx.Client, kb_path: Path,
) -> None:
    before = kb_path.read_bytes()
    page = ok(admin.get("/staff/api/kb/faqs/invoice"))
    refused = admin.put("/staff/api/kb/faqs/invoice", json=faq_body(page["faq"], page["version"], answer=""))
    assert refused.status_code == 422
    detail = error_of(refused)
    assert detail["code"] == "INVALID_FAQ" and detail["field"] == "answer"
    assert "faqs[42] (id 'invoice'): missing or empty 'answer'" in detail["message"]
    bad_phrasing = admin.put("/staff/api/kb/faqs/invoice",
                             json=faq_body(page["faq"], page["version"], similar=["开票", "发票|收据"]))
    assert error_of(bad_phrasing)["field"] == "similar"
    unknown_member = admin.put("/staff/api/kb/faqs/invoice", json={**faq_body(page["faq"], page["version"]), "x": 1})
    assert unknown_member.status_code == 422 and error_of(unknown_member)["field"] == "x"
    assert kb_path.read_bytes() == before


def test_a_new_faq_is_added_answered_and_removed(admin: httpx.Client, kb_path: Path) -> None:
    version = ok(admin.get("/staff/api/kb/faqs"))["version"]
    new = {"id": "pets_in_store", "question": "可以带宠物进店吗？", "similar": ["能带狗狗进店吗", "猫咪能进店吗"],
           "answer": "欢迎牵绳的小型宠物进店。", "category": "门店", "version": version}

    created = ok(admin.post("/staff/api/kb/faqs", json=new), 201)
    assert created["reloaded"] is True
    assert ok(admin.post("/staff/api/kb/try", json={"text": "能带狗狗进店吗"}))["answer"]["id"] == "pets_in_store"
    again = admin.post("/staff/api/kb/faqs", json={**new, "version": created["version"]})
    assert again.status_code == 422 and error_of(again)["field"] == "id"

    removed = ok(admin.delete("/staff/api/kb/faqs/pets_in_store", params={"version": created["version"]}))
    assert removed["faq"] is None and removed["reloaded"] is True
    assert "pets_in_store" not in kb_path.read_text(encoding="utf-8")
    assert admin.get("/staff/api/kb/faqs/pets_in_store").status_code == 404


def test_try_tells_answer_menu_and_fallback_with_scores(admin: httpx.Client) -> None:
    answer = ok(admin.post("/staff/api/kb/try", json={"text": ANSWERED}))
    assert answer["outcome"] == "answer" and answer["answer"]["id"] == "invoice"
    assert answer["candidates"][0]["id"] == "invoice"
    assert answer["candidates"][0]["score"] >= answer["answer_threshold"] > answer["suggest_threshold"]
    assert answer["edited"] is False

    menu = ok(admin.post("/staff/api/kb/try", json={"text": AMBIGUOUS}))
    assert menu["outcome"] == "suggest" and menu["answer"] is None
    assert len(menu["candidates"]) >= 2 and "invoice" in [c["id"] for c in menu["candidates"]]
    assert all(c["score"] >= menu["suggest_threshold"] for c in menu["candidates"])

    fallback = ok(admin.post("/staff/api/kb/try", json={"text": UNKNOWN}))
    assert fallback["outcome"] == "fallback" and fallback["answer"] is None
    assert fallback["candidates"][0]["score"] < fallback["suggest_threshold"]


def test_try_with_an_unsaved_edit_changes_nothing(admin: httpx.Client, kb_path: Path) -> None:
    before = kb_path.read_bytes()
    page = ok(admin.get("/staff/api/kb/faqs/store_address"))
    edit = {key: page["faq"][key] for key in ("question", "answer", "category")}
    edit |= {"id": "store_address", "similar": [*page["faq"]["similar"], UNKNOWN]}

    tried = ok(admin.post("/staff/api/kb/try", json={"text": UNKNOWN, "faq": edit}))

    assert tried["edited"] is True and tried["outcome"] == "answer"
    assert tried["answer"]["id"] == "store_address" and tried["candidates"][0]["edited"] is True
    assert kb_path.read_bytes() == before
    assert ok(admin.post("/staff/api/kb/try", json={"text": UNKNOWN}))["outcome"] == "fallback"
    broken = admin.post("/staff/api/kb/try", json={"text": UNKNOWN, "faq": {**edit, "question": "？"}})
    assert broken.status_code == 422 and error_of(broken)["field"] == "question"


def test_unanswered_questions_are_grouped_and_one_click_adds_a_phrasing(
    admin: httpx.Client, shop: LiveServer,
) -> None:
    asked = [UNKNOWN] * 3 + ["有线下的铺面吗"] + ["你们招聘吗"] * 2
    with transaction(shop.services.factory) as session:
        for number, text in enumerate(asked):
            record_unanswered(session, channel="oa", openid=f"o_gap_{number}", text=text, outcome="fallback")

    report = ok(admin.get("/staff/api/kb/gaps", params={"days": 7}))

    assert report["questions"] == 6
    first = report["groups"][0]
    assert first["count"] == 4 and first["examples"][0] == UNKNOWN
    assert first["candidates"][0]["id"] == "store_address" and first["answered_by"] is None
    assert [group["count"] for group in report["groups"]] == [4, 2]

    added = ok(admin.post("/staff/api/kb/faqs/store_address/phrasings", json={"text": UNKNOWN}), 201)
    assert added["reloaded"] is True and added["faq"]["similar"][-1] == UNKNOWN
    again = admin.post("/staff/api/kb/faqs/store_address/phrasings", json={"text": UNKNOWN})
    assert again.status_code == 422 and error_of(again)["field"] == "text"
    # The report now says the bot answers it
    answered = ok(admin.get("/staff/api/kb/gaps", params={"days": 7}))["groups"][0]
    assert answered["answered_by"]["id"] == "store_address"
    for params in ({"days": 0}, {"days": 10**9}, {"limit": 10**6}):
        assert admin.get("/staff/api/kb/gaps", params=params).status_code == 422


def test_the_faqs_customers_picked_from_the_menu_come_with_their_group(
    admin: httpx.Client, shop: LiveServer,
) -> None:
    # Given three customers unsure answers were given to, two of whom tapped an FAQ in the menu
    with transaction(shop.services.factory) as session:
        for number in range(3):
            record_unanswered(session, channel="oa", openid=f"o_pick_{number}", text=UNKNOWN, outcome="suggest")
    for number, faq_id in ((0, "store_address"), (1, "store_address"), (2, "deleted_since")):
        with shop.services.engine.begin() as connection:
            note_choice(connection, channel=Channel.OA, openid=f"o_pick_{number}", faq_id=faq_id)

    [group] = ok(admin.get("/staff/api/kb/gaps", params={"days": 7}))["groups"]

    # Then the group names what they picked, most first, with the FAQ's question (one the KB no longer has
    # is left out)
    assert group["picked"] == [{"id": "store_address", "question": "实体店在哪里？", "times": 2}]


def test_the_list_tells_which_faqs_the_question_bank_reads_and_which_need_phrasings(
    admin: httpx.Client,
) -> None:
    # Given the demo KB (its FAQs hold dozens of phrasings: the bank is not needed) and two new FAQs
    # with three phrasings each, one about invoices and one about pets, which the bank has no topic for
    version = ok(admin.get("/staff/api/kb/faqs"))["version"]
    paper = {"id": "paper_invoice", "question": "可以开纸质发票吗？", "similar": ["要纸质的发票", "发票能寄给我吗"],
             "answer": "可以，纸质发票随下一单寄出。", "version": version}
    version = ok(admin.post("/staff/api/kb/faqs", json=paper), 201)["version"]
    pets = {"id": "pets_in_store", "question": "可以带宠物进店吗？", "similar": ["能带狗狗进店吗", "猫咪能进店吗"],
            "answer": "欢迎牵绳的小型宠物进店。", "version": version}
    ok(admin.post("/staff/api/kb/faqs", json=pets), 201)
    listed = {faq["id"]: faq for faq in ok(admin.get("/staff/api/kb/faqs"))["faqs"]}
    # Then the invoice one borrows the bank's invoice wordings, the pets one is flagged for more phrasings
    assert listed["paper_invoice"]["bank_topics"] == ["开发票"] and not listed["paper_invoice"]["own_words_only"]
    assert listed["pets_in_store"]["bank_topics"] == [] and listed["pets_in_store"]["own_words_only"]
    # and the demo's own FAQs are neither
    assert listed["invoice"]["bank_topics"] == [] and not listed["invoice"]["own_words_only"]
