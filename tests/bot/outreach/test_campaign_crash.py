"""A campaign sender killed outright mid-send and started again sends no customer the campaign twice.

One `chatshop serve` process stands in for WeChat (its sandbox; its scheduler is off, so it sends
nothing itself). `chatshop campaign send` runs as another process against that sandbox, on the same
database, and is SIGKILLed while a batch is claimed and its WeChat calls are in flight, then run again
until the campaign is done. What each customer received is read from the sandbox, which is WeChat's side
of the story: nobody got it twice; everybody with one consent got it exactly once (their doubtful rows
are probed, and WeChat's own consent check makes the probe safe); customers with two consents whose row
was in flight may be left in doubt rather than risk a second copy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

from bot.customers.tag_models import TagSource
from bot.customers.tags import tag_customer
from bot.models import Channel, Customer
from bot.outreach.campaigns import CampaignDraft, create_campaign, schedule_campaign
from bot.outreach.consent import record_consents
from bot.outreach.models import Campaign, ConsentResult, SendState, SubscribeMessage
from bot.outreach.templates import load_templates
from storage.clock import utcnow
from storage.db import make_session_factory, open_engine, transaction
from tests.support import DEMO_KB, DEMO_TAG_RULES, LOCAL_TLS, free_port
from tests.support.sandbox_client import wait_until

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "chatshop" / "demo" / "subscribe_templates.yaml"
ARRIVAL = "sbx_mp_new_arrival"
CUSTOMERS = 400
TWO_CREDITS_EVERY = 10  # every 10th customer consented twice
TAG = "冬季老客"
REQUEST_TIMEOUT_S = 1.0  # the sender's lease is 3 × this + 5 s (claim_lease_s): how long a killed claim waits


@pytest.fixture
def engine(empty_database: str) -> Iterator[Engine]:
    engine = open_engine(empty_database)
    yield engine
    engine.dispose()


@pytest.fixture
def environ(empty_database: str, tmp_path: Path) -> dict[str, str]:
    """The settings both processes read: one database, one sandbox credentials file, the demo registry."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHATSHOP__")},
        "CHATSHOP__DATABASE__URL": empty_database,
        "CHATSHOP__KB__PATH": str(DEMO_KB),
        "CHATSHOP__TAGS__RULES_PATH": str(DEMO_TAG_RULES),
        "CHATSHOP__OUTREACH__TEMPLATES_PATH": str(TEMPLATES),
        "CHATSHOP__SANDBOX__CREDENTIALS_PATH": str(tmp_path / "sandbox-credentials.json"),
        "CHATSHOP__SCHEDULER__ENABLED": "false",  # outreach jobs are gated on it: this process never sends
        "CHATSHOP__WECHAT__REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S),
        "CHATSHOP__OUTREACH__CAMPAIGN_BATCH": "40",  # several batches: the kill lands after some are sent
        "CHATSHOP__LOGGING__LEVEL": "WARNING",
    }


@pytest.fixture
def wechat(environ: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """A `chatshop serve` process serving the sandbox; its base URL."""
    port = free_port()
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen([*chatshop(), "serve", "--port", str(port)], cwd=ROOT, env=environ,
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: _answers(base), bool, 60), (tmp_path / "serve.log").read_text()
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def chatshop() -> list[str]:
    script = Path(sys.executable).parent / "chatshop"
    return [str(script)] if script.exists() else [sys.executable, "-m", "chatshop.cli"]


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", verify=LOCAL_TLS, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def openid_of(index: int) -> str:
    return f"o_crash_{index:04d}"


def credits_of(index: int) -> int:
    return 2 if index % TWO_CREDITS_EVERY == 0 else 1


def audience(engine: Engine, sandbox: httpx.Client) -> None:
    """Tagged mini-program customers, each with one consent (every tenth two) in WeChat and in our ledger."""
    registry = load_templates(TEMPLATES)
    now = utcnow()
    with transaction(make_session_factory(engine)) as session:
        for index in range(CUSTOMERS):
            row = Customer(channel=Channel.MP, openid=openid_of(index), created_at=now)
            session.add(row)
            session.flush()
            tag_customer(session, row.id, name=TAG, source=TagSource.STAFF, set_by="staff:test", now=now)
            for _ in range(credits_of(index)):
                record_consents(session, customer_id=row.id, results={ARRIVAL: ConsentResult.ACCEPT},
                                source="mp_request", registry=registry, now=now)
    for index in range(CUSTOMERS):  # a consent also makes the customer known to WeChat
        answer = sandbox.post("/control/consent", json={"account": "mp", "openid": openid_of(index),
                                                        "template_id": ARRIVAL, "count": credits_of(index)})
        assert answer.status_code == 200 and answer.json()["credits"] == credits_of(index), answer.text


def scheduled_campaign(engine: Engine) -> int:
    registry = load_templates(TEMPLATES)
    data = {"thing1": "冬季上新", "thing2": "羊毛大衣新款到店，会员九折", "time3": "2026-12-10 10:00"}
    draft = CampaignDraft(name="冬季上新", audience=TAG, template_id=ARRIVAL, data=data)
    with transaction(make_session_factory(engine)) as session:
        campaign = create_campaign(session, draft=draft, by="staff:test", registry=registry, now=utcnow())
        schedule_campaign(session, campaign.id, by="staff:test", registry=registry, now=utcnow())
        return campaign.id


def states(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(select(SubscribeMessage.state, func.count()).group_by(SubscribeMessage.state))
        return {state: count for state, count in rows.tuples()}


def run(command: list[str], environ: dict[str, str], log: Path) -> subprocess.CompletedProcess[bytes]:
    with log.open("ab") as out:
        return subprocess.run([*chatshop(), *command], cwd=ROOT, env=environ, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=out, timeout=120, check=False)


def test_a_sender_killed_mid_send_and_restarted_sends_nobody_the_campaign_twice(
    engine: Engine, environ: dict[str, str], wechat: str, tmp_path: Path,
) -> None:
    sender_env = environ | {"CHATSHOP__WECHAT__API_BASE_URL": f"{wechat}/sandbox/api/"}
    log = tmp_path / "send.log"
    with httpx.Client(base_url=f"{wechat}/sandbox", verify=LOCAL_TLS, timeout=20) as sandbox:
        # Given 400 customers who consented (40 of them twice) and a campaign scheduled for now
        audience(engine, sandbox)
        campaign_id = scheduled_campaign(engine)

        # When the sender is killed outright while a batch is claimed and its WeChat calls are in flight
        with log.open("ab") as out:
            sender = subprocess.Popen([*chatshop(), "campaign", "send", str(campaign_id)], cwd=ROOT,
                                      env=sender_env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        try:
            seen = wait_until(lambda: states(engine),
                              lambda s: (s.get(SendState.SENT, 0) >= 40 and s.get(SendState.SENDING, 0) > 0)
                              or sender.poll() is not None, 30)
            sender.send_signal(signal.SIGKILL)
        finally:
            if sender.poll() is None:
                sender.kill()
            sender.wait(timeout=10)
        at_kill = states(engine)
        assert sender.returncode == -signal.SIGKILL, f"it finished before it could be killed: {seen}"
        # Killed with recipients still to go; usually with a batch in flight too, though the batch seen in
        # flight may have been recorded in the moment before the signal landed (test_sender.py covers a
        # death mid-call deterministically).
        assert at_kill.get(SendState.PENDING, 0) > 0, at_kill

        # And it is started again until the campaign is done
        started = time.monotonic()
        for _ in range(3):
            result = run(["campaign", "send", str(campaign_id)], sender_env, log)
            assert result.returncode == 0, log.read_text()[-3000:]
            with engine.connect() as connection:
                if connection.scalar(select(Campaign.state).where(Campaign.id == campaign_id)) == "done":
                    break
        restart_s = time.monotonic() - started
        final = states(engine)

        # Then WeChat delivered it to nobody twice, and exactly once to everyone with a single consent
        received = {}
        for index in range(CUSTOMERS):
            transcript = sandbox.get("/chat/transcript", params={"account": "mp", "openid": openid_of(index)}).json()
            received[index] = sum(1 for e in transcript if e["via"] == "subscribe"
                                  and e["payload"]["template_id"] == ARRIVAL)
    twice = [openid_of(i) for i, count in received.items() if count > 1]
    assert not twice, f"received twice: {twice}"
    missed = [openid_of(i) for i, count in received.items() if credits_of(i) == 1 and count != 1]
    assert not missed, f"single-consent customers who did not get it exactly once: {missed}"

    # And only two-consent customers whose send was in flight are left in doubt
    with engine.connect() as connection:
        doubtful = {openid for (openid,) in connection.execute(
            select(Customer.openid).join(SubscribeMessage, SubscribeMessage.customer_id == Customer.id)
            .where(SubscribeMessage.state == SendState.IN_DOUBT))}
    two_credit = {openid_of(i) for i in range(CUSTOMERS) if credits_of(i) == 2}
    assert doubtful <= two_credit, doubtful - two_credit
    delivered_doubtful = sum(1 for i in range(CUSTOMERS) if openid_of(i) in doubtful and received[i] == 1)
    assert final.get(SendState.SENT, 0) + final.get(SendState.IN_DOUBT, 0) == CUSTOMERS, final
    assert final.get(SendState.SENT, 0) == sum(received.values()) - delivered_doubtful, final
    print(f"\nkilled with {at_kill.get(SendState.SENDING, 0)} in flight and {at_kill.get(SendState.SENT, 0)} sent; "
          f"finished {restart_s:.1f} s after the restart; {len(doubtful)} of {len(two_credit)} two-consent "
          f"customers left in doubt ({delivered_doubtful} of them had it delivered, none twice)")
