"""The console's 知识库 and 规则 pages in headless Chromium against a live server whose bot runs on a copy of
the demo KB: an admin finds an FAQ, tries a sentence the bot does not understand (没听懂), adds it as a
phrasing, tries again with the unsaved edit (直接回答), saves (已生效) — and a customer writing that sentence
through the WeChat sandbox gets the FAQ's answer. On the unanswered-questions page the questions customers
really asked are grouped, and one click adds one as a phrasing of the FAQ the matcher suggests, or of the FAQ
customers picked from the 猜你想问 menu the question got, which comes first. The rules page
shows the tag rules, the skill groups and the KB file. The strict CSP holds throughout.

Needs Python Playwright and Debian's Chromium (see test_sandbox_page.py). With CHATSHOP_UPDATE_SCREENSHOTS=1
the README's screenshots docs/screenshots/console-kb*.png and console-rules.png are taken again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.gaps import choices_since, unanswered_since
from intents.kb import load_knowledge_base
from staff.roles import Role
from tests.browser.test_console import LAPTOP, PASSWORD, SCREENSHOTS, add_person, open_page
from tests.browser.test_sandbox_page import HAVE_PLAYWRIGHT
from tests.support import DEMO_KB, DEMO_TAG_RULES, LiveServer
from tests.support.sandbox_client import SandboxCustomer, wait_until

if HAVE_PLAYWRIGHT:
    from playwright.sync_api import Browser, Page, expect

from tests.browser.test_console import browser, problems  # noqa: F401  (fixtures)

TALL = {"width": 1366, "height": 1000}
EDITOR = {"width": 1366, "height": 1320}  # the whole editor, 保存 included
NOT_UNDERSTOOD = "有没有线下的铺面"  # nearest FAQ: store_address, too far to answer or offer
TRY_ON = "能不能先试穿"  # a 猜你想问 menu: store_address and model_info
STORE_ANSWER = "我们的门店在广州市越秀区北京路168号2楼"
RELOAD_MS = 15_000  # a save waits for the bot to index the KB again; a busy machine takes seconds
GROUPS = [
    {"name": "售前", "intents": ["product_search", "size_advice"]},
    {"name": "售后", "intents": ["complaint", "return_request"], "tags": ["售后", "投诉"],
     "hours": {"mon-fri": "09:00-21:00", "sat-sun": "10:00-18:00"}, "closed_dates": ["2027-02-17"]},
]


@pytest.fixture
def kb_path(tmp_path: Path) -> Path:
    path = tmp_path / "kb" / "kb.yaml"
    path.parent.mkdir()
    shutil.copy(DEMO_KB, path)
    return path


@pytest.fixture
def shop(server_factory: Callable[..., LiveServer], kb_path: Path, tmp_path: Path) -> LiveServer:
    rules = tmp_path / "tag_rules.yaml"
    shutil.copy(DEMO_TAG_RULES, rules)
    server = server_factory({"CHATSHOP__KB__PATH": str(kb_path), "CHATSHOP__TAGS__RULES_PATH": str(rules),
                             "CHATSHOP__ROUTING__GROUPS": json.dumps(GROUPS, ensure_ascii=False)})
    add_person(server, "boss", "店长", role=Role.ADMIN, groups=())
    return server


def sign_in(chromium: Browser, server: LiveServer, found: list[str], hash_: str) -> Page:
    page = open_page(chromium, found, LAPTOP)
    page.goto(server.base_url + "/console" + hash_)
    page.fill("#username", "boss")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    expect(page).to_have_url(re.compile(re.escape(server.base_url) + "/console" + re.escape(hash_) + "$"))
    return page


def bot_said(customer: SandboxCustomer) -> str:
    """Everything the bot sent the customer (passive replies and customer-service messages), as text."""
    return "\n".join(json.dumps(entry["payload"], ensure_ascii=False) for entry in customer.transcript()
                     if entry["direction"] == "out")


def unanswered(server: LiveServer) -> list[str]:
    with server.services.factory() as session:
        return unanswered_since(session, None)


def screenshot(page: Page, name: str, tmp_path: Path) -> None:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("CHATSHOP_UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, SCREENSHOTS / name)


def test_an_admin_teaches_the_bot_a_phrasing_and_the_customer_gets_the_answer(
    browser: Browser, shop: LiveServer, kb_path: Path, problems: list[str], tmp_path: Path,  # noqa: F811
) -> None:
    # A customer asks something the bot does not understand
    customer = SandboxCustomer(shop, "o_kb_visitor")
    customer.says(NOT_UNDERSTOOD)
    assert STORE_ANSWER not in bot_said(wait_until(lambda: customer, lambda c: bot_said(c) != ""))

    page = sign_in(browser, shop, problems, "#kb")
    expect(page.locator("#kb-view h2")).to_have_text("知识库")
    faqs = len(load_knowledge_base(kb_path).faqs)
    expect(page.locator("#kb-status")).to_contain_text(f"机器人正在使用 {faqs} 条问答")
    expect(page.locator("tr[data-faq]")).to_have_count(faqs)
    page.fill("#kb-search", "实体店")
    expect(page.locator("tr[data-faq='store_address']")).to_be_visible()
    page.select_option("#kb-category", "门店")
    expect(page.locator("tr[data-faq]").first).to_have_attribute("data-faq", "store_address")
    screenshot(page, "console-kb.png", tmp_path)
    page.click("tr[data-faq='store_address'] .kb-question")
    expect(page).to_have_url(re.compile(r"#kb/faq/store_address$"))
    expect(page.locator("#faq-question")).to_have_value("实体店在哪里？")

    # 试一试 with the FAQ as saved: the bot would not understand
    page.fill("#try-text", NOT_UNDERSTOOD)
    page.click("#try-run")
    expect(page.locator("#try-result")).to_have_attribute("data-outcome", "fallback")
    expect(page.locator("#try-result .outcome")).to_have_text("没听懂")
    # The sentence added as a phrasing, tried again before saving: the answer, with its score
    page.fill("#new-phrasing", NOT_UNDERSTOOD)
    page.press("#new-phrasing", "Enter")
    expect(page.locator("#faq-phrasings input").last).to_have_value(NOT_UNDERSTOOD)
    expect(page.locator("#try-with-edit")).to_be_checked()
    page.click("#try-run")
    expect(page.locator("#try-result")).to_have_attribute("data-outcome", "answer", timeout=RELOAD_MS)
    expect(page.locator("#try-result")).to_contain_text("含未保存的修改")
    expect(page.locator("#try-result .try-answer")).to_contain_text(STORE_ANSWER)
    expect(page.locator("#try-result tr[data-candidate='store_address']")).to_have_class("mine")
    assert NOT_UNDERSTOOD not in kb_path.read_text(encoding="utf-8")  # nothing saved by trying
    page.set_viewport_size(EDITOR)
    screenshot(page, "console-kb-editor.png", tmp_path)

    # Saved: in force in the running bot
    page.click("#faq-save")
    expect(page.locator("#save-status")).to_contain_text("已生效", timeout=RELOAD_MS)
    saved = next(faq for faq in load_knowledge_base(kb_path).faqs if faq.id == "store_address")
    assert saved.similar[-1] == NOT_UNDERSTOOD

    # ... and the customer asking the same gets the FAQ's answer through WeChat
    customer.says(NOT_UNDERSTOOD)
    assert STORE_ANSWER in wait_until(lambda: bot_said(customer), lambda said: STORE_ANSWER in said)

    # A broken edit is refused with the parser's reason, in Chinese, and the file is left as it was
    before = kb_path.read_bytes()
    page.fill("#faq-answer", "")
    page.click("#faq-save")
    expect(page.locator("#save-status")).to_contain_text("请填写答案")
    expect(page.locator("#faq-answer")).to_have_class(re.compile("invalid"))
    assert kb_path.read_bytes() == before


def test_a_question_customers_asked_becomes_a_phrasing_in_one_click(
    browser: Browser, shop: LiveServer, kb_path: Path, problems: list[str], tmp_path: Path,  # noqa: F811
) -> None:
    # Customers asked things the bot could not answer
    asked = [NOT_UNDERSTOOD, NOT_UNDERSTOOD, "线下能逛吗", "你们招聘吗"]
    for number, text in enumerate(asked):
        SandboxCustomer(shop, f"o_kb_gap_{number}").says(text)
    wait_until(lambda: unanswered(shop), lambda texts: len(texts) == len(asked))  # recorded after the reply

    page = sign_in(browser, shop, problems, "#kb/gaps")
    expect(page.locator("#gaps-summary")).to_contain_text("4 个问题", timeout=RELOAD_MS)
    group = page.locator(".gap").first
    expect(group.locator(".gap-count")).to_have_text("3 次")
    expect(group).to_contain_text(NOT_UNDERSTOOD)
    suggested = group.locator(".add-phrasing[data-faq='store_address']")
    expect(suggested).to_contain_text("实体店在哪里？")
    screenshot(page, "console-kb-gaps.png", tmp_path)

    suggested.click()

    expect(group.locator(".gap-note")).to_contain_text(f"已把“{NOT_UNDERSTOOD}”添加为「实体店在哪里？」的相似问法，已生效",
                                                       timeout=RELOAD_MS)
    expect(group.locator(".answered")).to_contain_text("现在已能回答：实体店在哪里？")
    assert NOT_UNDERSTOOD in next(f for f in load_knowledge_base(kb_path).faqs if f.id == "store_address").similar
    # 新建问答 opens the editor with the question filled in
    page.locator(".gap").nth(1).locator(".new-faq").click()
    expect(page.locator("#faq-question")).to_have_value("你们招聘吗")
    expect(page.locator("#faq-id")).to_be_visible()


def test_the_faq_customers_picked_from_the_guess_menu_is_offered_first(
    browser: Browser, shop: LiveServer, kb_path: Path, problems: list[str], tmp_path: Path,  # noqa: F811
) -> None:
    # Two customers asked something the bot was unsure of, and both tapped 实体店在哪里？ in its menu
    for number in range(2):
        customer = SandboxCustomer(shop, f"o_kb_pick_{number}")
        customer.says(TRY_ON)
        [menu] = customer.wait_for_api_messages(1)
        item = next(entry for entry in menu["payload"]["list"] if entry["id"] == "store_address")
        customer.taps(item["id"], item["content"])
    wait_until(lambda: picked(shop), lambda choices: len(choices) == 2)

    page = sign_in(browser, shop, problems, "#kb/gaps")
    group = page.locator(".gap").first
    expect(group.locator(".gap-count")).to_have_text("2 次", timeout=RELOAD_MS)
    chosen = group.locator(".add-phrasing.picked[data-faq='store_address']")
    expect(chosen).to_contain_text("实体店在哪里？")
    expect(chosen).to_contain_text("2 次")
    # (offered once: not again among the matcher's nearest FAQs)
    expect(group.locator(".add-phrasing:not(.picked)[data-faq='store_address']")).to_have_count(0)
    screenshot(page, "console-kb-gaps-picked.png", tmp_path)

    chosen.click()

    expect(group.locator(".gap-note")).to_contain_text(f"已把“{TRY_ON}”添加为「实体店在哪里？」的相似问法",
                                                       timeout=RELOAD_MS)
    assert TRY_ON in next(f for f in load_knowledge_base(kb_path).faqs if f.id == "store_address").similar


def picked(server: LiveServer) -> list[tuple[str, str]]:
    with server.services.factory() as session:
        return choices_since(session, None)


def test_the_rules_page_shows_tag_rules_skill_groups_and_the_kb_file(
    browser: Browser, shop: LiveServer, kb_path: Path, problems: list[str], tmp_path: Path,  # noqa: F811
) -> None:
    page = sign_in(browser, shop, problems, "#rules")
    page.set_viewport_size(TALL)
    expect(page.locator("#rules-view h2")).to_have_text("规则与分组")
    expect(page.locator("#tag-rules tr[data-rule]").first).to_contain_text("客户意图")
    expect(page.locator("#tag-rules tr[data-rule]").first).to_contain_text("意向客户-{category}")
    expect(page.locator("#tag-rules .rules-file")).to_contain_text("正常")
    aftersales = page.locator("#skill-groups tr[data-group='售后']")
    expect(aftersales).to_contain_text("周一至周五 09:00-21:00")
    expect(aftersales).to_contain_text("周六至周日 10:00-18:00")
    expect(aftersales).to_contain_text("2027-02-17")
    expect(page.locator("#skill-groups tr[data-group='售前']")).to_contain_text("全天")
    expect(page.locator("#kb-faq-count")).to_have_text(str(len(load_knowledge_base(kb_path).faqs)))
    screenshot(page, "console-rules.png", tmp_path)


def test_a_stores_day_one_kb_shows_which_faqs_the_bank_backs_and_which_need_phrasings(
    browser: Browser, server_factory: Callable[..., LiveServer], tmp_path: Path, problems: list[str],  # noqa: F811
) -> None:
    # Given a tea shop's own KB, a question and two phrasings per FAQ
    kb = tmp_path / "kb" / "kb.yaml"
    kb.parent.mkdir()
    shutil.copy(DEMO_KB.parents[2] / "tests" / "fixtures" / "kb" / "store_tea.yaml", kb)
    server = server_factory({"CHATSHOP__KB__PATH": str(kb)})
    add_person(server, "boss", "店长", role=Role.ADMIN, groups=())
    page = sign_in(browser, server, problems, "#kb")
    # Then the shipping-fee FAQ shows the bank's topic it borrows words from
    fee = page.locator("table.kb-list tr[data-faq='shipping_fee']")
    expect(fee.locator(".kb-bank")).to_have_text("题库：运费")
    expect(fee.locator(".kb-hint")).to_have_count(0)
    # and the FAQ about reading a tea cake's year, which no bank topic covers, asks for more phrasings
    vintage = page.locator("table.kb-list tr[data-faq='vintage']")
    expect(vintage.locator(".kb-hint")).to_have_text("建议多加几种问法")
    expect(vintage.locator(".kb-bank")).to_have_count(0)
