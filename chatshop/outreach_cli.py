"""Campaign, outreach and reminder-report commands.

    chatshop campaign create --name N --audience EXPR --template ID --data thing1=..,thing2=..
                             [--data-json '{"thing1": ..}'] [--at ISO] [--throttle N] [--holdout PCT]
    chatshop campaign list
    chatshop campaign schedule ID [--at ISO] [--wait]
    chatshop campaign pause|resume|cancel ID
    chatshop campaign report ID [--json]
    chatshop campaign send ID        sends in this process, in the foreground, with a progress bar
    chatshop report reminders [--since 30d]
    chatshop outreach templates [--check FILE]

A time without an offset (`--at 2026-12-05T10:00`) is the store's time (outreach.timezone). State
changes are recorded as made by `cli:<os user>`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from bot.outreach.campaigns import (
    CampaignDraft,
    CampaignSender,
    campaign_report,
    cancel_campaign,
    count_audience,
    create_campaign,
    get_campaign,
    list_campaigns,
    move_campaign,
    pause_campaign,
    plan_recipients,
    resume_campaign,
    schedule_campaign,
)
from bot.outreach.errors import CampaignStateError, TemplatesError
from bot.outreach.models import Campaign, CampaignState, SendState, SubscribeMessage
from bot.outreach.notices import yuan
from bot.outreach.reminders import reminders_report
from bot.outreach.sender import SenderConfig, SubscribeSender, claim_lease_s
from bot.outreach.templates import TemplateRegistry, load_templates
from chatshop.accounts import token_store, wechat_clients
from chatshop.cli_guard import guarded
from chatshop.database import migrated_database
from chatshop.settings import Settings, parse_duration
from foundation.errors import ChatshopError
from storage.clock import utcnow
from storage.db import transaction

PROGRESS_INTERVAL_S = 1.0  # how often the progress bar reads the campaign's rows
SEND_SLICE_S = 1.0  # a Ctrl-C is honoured between slices: the batch in flight is recorded first
SEND_LANES = 2  # batches in flight at once when the campaign is not throttled
FINISHED = (CampaignState.DONE, CampaignState.PAUSED, CampaignState.CANCELLED)
# `--data thing1=a,thing2=b`: a comma starts a new field only before another `key=`, so values keep theirs.
_FIELD_SEPARATOR = re.compile(r",(?=\s*[a-z_]+\d+\s*=)")


class InvalidArgument(ChatshopError):
    """A command-line value that cannot be used."""

    code = "INVALID_INPUT"


def add_outreach_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register `chatshop campaign ...`, `chatshop report reminders` and `chatshop outreach templates`."""
    campaign = commands.add_parser("campaign", parents=[common], help="marketing campaigns (subscribe messages)")
    sub = campaign.add_subparsers(dest="campaign_command", required=True)

    create = sub.add_parser("create", parents=[common], help="write a draft; prints its id and the audience")
    create.add_argument("--name", required=True)
    create.add_argument("--audience", required=True, help="a tag expression, e.g. '新客 AND NOT 已购'")
    create.add_argument("--template", required=True, help="a marketing template's id (see `outreach templates`)")
    data = create.add_mutually_exclusive_group(required=True)
    data.add_argument("--data", action="append", help="field values: thing1=春季上新,thing2=全场包邮 (repeatable)")
    data.add_argument("--data-json", help='field values as a JSON object: {"thing1": "春季上新"}')
    create.add_argument("--at", help="when to send (ISO 8601; no offset: the store's time)")
    create.add_argument("--throttle", type=int, default=0,
                        help="messages a second at most (0: as fast as WeChat takes them)")
    create.add_argument("--holdout", type=int, default=0, help="percent of the audience kept back to measure the lift")
    create.set_defaults(run=guarded(_create))

    sub.add_parser("list", parents=[common], help="the latest campaigns").set_defaults(run=guarded(_list))

    schedule = sub.add_parser("schedule", parents=[common], help="schedule a draft (default: its own time, or now)")
    schedule.add_argument("campaign_id", type=int)
    schedule.add_argument("--at", help="when to send (ISO 8601; no offset: the store's time)")
    schedule.add_argument("--wait", action="store_true",
                          help="follow the sending with a progress bar until it is done, paused or cancelled")
    schedule.set_defaults(run=guarded(_schedule))

    for name, what in (("pause", "stop sending where it is"), ("resume", "carry on where it stopped"),
                       ("cancel", "stop for good: recipients not yet sent are skipped")):
        moved = sub.add_parser(name, parents=[common], help=what)
        moved.add_argument("campaign_id", type=int)
        moved.set_defaults(run=guarded(_move), move=name)

    report = sub.add_parser("report", parents=[common], help="sent, skipped, failed, opens, orders and GMV")
    report.add_argument("campaign_id", type=int)
    report.add_argument("--json", action="store_true", help="the report as JSON")
    report.set_defaults(run=guarded(_report))

    send = sub.add_parser("send", parents=[common],
                          help="send it from this process now (starts it if scheduled and due); Ctrl-C stops "
                               "after the batch in flight, and running it again carries on")
    send.add_argument("campaign_id", type=int)
    send.set_defaults(run=guarded(_send))

    reports = commands.add_parser("report", parents=[common], help="outreach reports")
    report_commands = reports.add_subparsers(dest="report_command", required=True)
    reminders = report_commands.add_parser("reminders", parents=[common],
                                           help="abandoned-cart reminders against the holdout: conversion and lift")
    reminders.add_argument("--since", default="30d", help="carts reminded this long ago or less (30d, 12h ...)")
    reminders.set_defaults(run=guarded(_reminders))

    outreach = commands.add_parser("outreach", parents=[common], help="subscribe templates")
    outreach_commands = outreach.add_subparsers(dest="outreach_command", required=True)
    templates = outreach_commands.add_parser("templates", parents=[common],
                                             help="list the template registry, or check a file without applying it")
    templates.add_argument("--check", type=Path, metavar="FILE", help="validate this file; nothing is applied")
    templates.set_defaults(run=guarded(_templates))


# ----- campaigns ----------------------------------------------------------------------------


def _create(settings: Settings, args: argparse.Namespace) -> int:
    registry = _registry(settings)
    draft = CampaignDraft(name=args.name, audience=args.audience, template_id=args.template,
                          data=_data(args.data, args.data_json), scheduled_at=_when(args.at, settings),
                          throttle_per_s=args.throttle, holdout_pct=args.holdout)
    now = utcnow()
    with migrated_database(settings.database.url) as factory, transaction(factory) as session:
        campaign = create_campaign(session, draft=draft, by=operator(), registry=registry, now=now)
        counted = count_audience(session, audience=campaign.audience, template_id=campaign.template_id,
                                 registry=registry, now=now)
        campaign_id = campaign.id
    print(f"campaign {campaign_id} created (draft)")
    print(f"audience {counted.total}: {counted.with_credit} with credit, {counted.without_credit} without, "
          f"{counted.opted_out} opted out")
    if draft.holdout_pct:
        print(f"holdout {draft.holdout_pct} %: about {counted.with_credit * draft.holdout_pct // 100} of those with "
              "credit are kept back")
    print(f"schedule it with: chatshop campaign schedule {campaign_id}")
    return 0


def _list(settings: Settings, _args: argparse.Namespace) -> int:
    zone = ZoneInfo(settings.outreach.timezone)
    with migrated_database(settings.database.url) as factory, factory() as session:
        campaigns = list_campaigns(session)
        sent = dict(session.execute(
            select(SubscribeMessage.campaign_id, func.count())
            .where(SubscribeMessage.campaign_id.in_([c.id for c in campaigns]),
                   SubscribeMessage.state == SendState.SENT)
            .group_by(SubscribeMessage.campaign_id)).tuples().all())
    print(f"{'id':>5}  {'state':<10} {'scheduled (store time)':<22} {'audience':>9} {'sent':>9}  "
          f"{'template':<24} name")
    for c in campaigns:
        when = c.scheduled_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if c.scheduled_at else "-"
        audience = str(c.audience_size) if c.planned and c.audience_size is not None else "-"
        print(f"{c.id:>5}  {c.state:<10} {when:<22} {audience:>9} {sent.get(c.id, 0):>9}  {c.template_id:<24} "
              f"{c.name}")
    return 0


def _schedule(settings: Settings, args: argparse.Namespace) -> int:
    registry = _registry(settings)
    at = _when(args.at, settings)
    with migrated_database(settings.database.url) as factory:
        with transaction(factory) as session:
            campaign = schedule_campaign(session, args.campaign_id, by=operator(), registry=registry, now=utcnow(),
                                         at=at)
            when = campaign.scheduled_at
        zone = ZoneInfo(settings.outreach.timezone)
        print(f"campaign {args.campaign_id} scheduled for {_shown(when, zone)}")
        if args.wait:
            return _follow(factory, args.campaign_id)
    return 0


def _move(settings: Settings, args: argparse.Namespace) -> int:
    moves: dict[str, Callable[..., Campaign]] = {"pause": pause_campaign, "resume": resume_campaign,
                                                 "cancel": cancel_campaign}
    with migrated_database(settings.database.url) as factory, transaction(factory) as session:
        campaign = moves[args.move](session, args.campaign_id, by=operator(), now=utcnow())
        state = campaign.state
    print(f"campaign {args.campaign_id} is {state}")
    return 0


def _report(settings: Settings, args: argparse.Namespace) -> int:
    with migrated_database(settings.database.url) as factory, factory() as session:
        report = campaign_report(session, args.campaign_id)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2, default=str))
        return 0
    print(f"campaign {report['campaign_id']} {report['name']!r}: {report['state']}")
    audience = report["audience"]
    print(f"  audience     {audience if audience is not None else '- (not planned yet)'}")
    for label, key in (("sent", "sent"), ("pending", "pending"), ("in doubt", "in_doubt"), ("opens", "opens")):
        print(f"  {label:<12} {report[key]}")
    skipped = report["skipped"]
    print(f"  skipped      {sum(skipped.values())}" + _breakdown(skipped))
    failed = report["failed"]
    print(f"  failed       {sum(failed.values())}" + _breakdown({f"errcode {k}": v for k, v in failed.items()}))
    print(f"  {'within 7 days':<14} {'customers':>10} {'buyers':>8} {'orders':>8} {'GMV':>14}")
    for label in ("recipients", "holdout"):
        group = report[label]
        print(f"  {label:<14} {group['customers']:>10} {group['buyers']:>8} {group['orders']:>8} "
              f"{yuan(group['gmv_fen']):>14}")
    return 0


def _breakdown(counts: dict[str, int]) -> str:
    return f" ({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))})" if counts else ""


def _send(settings: Settings, args: argparse.Namespace) -> int:
    registry = _registry(settings)
    settings = _with_wechat_accounts(settings)
    with migrated_database(settings.database.url) as factory:
        throttle = _start_if_due(factory, args.campaign_id, registry)
        sender = subscribe_sender(settings, factory, registry)
        campaigns = CampaignSender(factory=factory, sender=sender, registry=lambda: registry,
                                   batch=settings.outreach.campaign_batch, workers=settings.outreach.campaign_workers)
        print(f"sending campaign {args.campaign_id} through {settings.api_base_url}", file=sys.stderr)
        stopping = threading.Event()
        failures: list[BaseException] = []

        def lane() -> None:
            try:
                while not stopping.is_set():
                    # A sender killed earlier left `sending` rows: past their lease they are settled (in
                    # doubt, and probed where that is safe) before this run finishes the campaign.
                    sender.settle_stale_claims()
                    if campaigns.send(args.campaign_id, budget_s=SEND_SLICE_S).state != CampaignState.SENDING:
                        return
            except BaseException as exc:  # reported by the main thread, which stops the other lanes
                failures.append(exc)
                stopping.set()

        # Unthrottled, a second batch is claimed or recorded while the first one's WeChat calls are out;
        # claims skip each other's rows (SKIP LOCKED; SQLite serialises them), as two processes' would.
        lanes = [threading.Thread(target=lane, name=f"campaign-lane-{i}", daemon=True)
                 for i in range(1 if throttle else SEND_LANES)]
        try:
            with _first_interrupt_stops(stopping), _ProgressBar(factory, args.campaign_id) as bar:
                for thread in lanes:
                    thread.start()
                while any(thread.is_alive() for thread in lanes):
                    bar.update()
                    lanes[0].join(PROGRESS_INTERVAL_S)
                state = bar.update()
        finally:
            stopping.set()
            sender.close()
        if failures:
            raise failures[0]
        counts = bar.counts
    summary = (f"{counts.get(SendState.SENT, 0)} sent, {counts.get(SendState.REFUSED, 0)} refused, "
               f"{counts.get(SendState.FAILED, 0)} failed, {counts.get(SendState.IN_DOUBT, 0)} in doubt, "
               f"{counts.get(SendState.SKIPPED, 0)} skipped")
    if state is CampaignState.SENDING:
        print(f"campaign {args.campaign_id} stopped: {summary}; run `chatshop campaign send {args.campaign_id}` "
              "again to carry on")
        return 130
    print(f"campaign {args.campaign_id} is {state}: {summary}")
    return 0


def _start_if_due(factory: sessionmaker[Session], campaign_id: int, registry: TemplateRegistry) -> int:
    """A scheduled campaign whose time has come is started here (planned in the same transaction), as
    the scheduler would; any other state but sending is refused. Its throttle (0: none)."""
    now = utcnow()
    with transaction(factory) as session:
        campaign = get_campaign(session, campaign_id, lock=True)
        state, throttle = CampaignState(campaign.state), campaign.throttle_per_s
        if state is CampaignState.SENDING:
            return throttle
        if state is not CampaignState.SCHEDULED:
            raise CampaignStateError(f"campaign {campaign_id} is {state}; only a scheduled or sending campaign "
                                     "can be sent", state=state.value)
        if campaign.scheduled_at is not None and campaign.scheduled_at > now:
            raise CampaignStateError(f"campaign {campaign_id} is scheduled for {campaign.scheduled_at.isoformat()}; "
                                     "it is not due yet", state=state.value)
        size = None if campaign.planned else plan_recipients(session, campaign, registry=registry, now=now)
        campaign.started_at = campaign.started_at or now
        move_campaign(session, campaign, CampaignState.SENDING, by=operator(), now=now,
                      note=None if size is None else f"{size} recipients planned")
    print(f"campaign {campaign_id} started" + ("" if size is None else f": {size} recipients planned"),
          file=sys.stderr)
    return throttle


def subscribe_sender(settings: Settings, factory: sessionmaker[Session], registry: TemplateRegistry) -> SubscribeSender:
    """The subscribe sender as the server builds it (chatshop/outreach_wiring.py), on this process's clients:
    the same lease, so a claim outlives the longest WeChat call here too."""
    o = settings.outreach
    return SubscribeSender(
        factory=factory, apis=wechat_clients(settings, token_store(settings, factory)), templates=lambda: registry,
        config=SenderConfig(max_attempts=settings.messenger.max_attempts,
                            lease_s=claim_lease_s(settings.wechat.request_timeout_s),
                            miniprogram_state=o.miniprogram_state, mp_app_id=settings.miniprogram.app_id),
    )


def _with_wechat_accounts(settings: Settings) -> Settings:
    """With the sandbox on, its generated credentials, as `chatshop serve` uses them (the same file)."""
    if not settings.sandbox_enabled:
        return settings
    from chatshop.sandbox_wiring import with_sandbox_credentials

    return with_sandbox_credentials(settings)


def _follow(factory: sessionmaker[Session], campaign_id: int) -> int:
    """--wait: another process sends (the scheduler); this one watches the rows until it stops."""
    with _ProgressBar(factory, campaign_id) as bar:
        while (state := bar.update()) not in FINISHED:
            threading.Event().wait(PROGRESS_INTERVAL_S)
    print(f"campaign {campaign_id} is {state}: {bar.counts.get(SendState.SENT, 0)} sent")
    return 0


class _ProgressBar:
    """tqdm over the campaign's recipients to send (skipped ones left out): settled / total, with the rate
    and ETA, and what was sent, refused and left in doubt; read from the rows, so it is right whichever
    process sends."""

    def __init__(self, factory: sessionmaker[Session], campaign_id: int) -> None:
        self._factory, self._campaign_id = factory, campaign_id
        self._bar = tqdm(total=0, unit="msg", desc=f"campaign {campaign_id}", dynamic_ncols=True,
                         smoothing=0.1, file=sys.stderr)
        self.counts: dict[str, int] = {}

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *_: object) -> None:
        self._bar.close()

    def update(self) -> CampaignState:
        with self._factory() as session:
            state = CampaignState(get_campaign(session, self._campaign_id).state)
            self.counts = dict(session.execute(
                select(SubscribeMessage.state, func.count())
                .where(SubscribeMessage.campaign_id == self._campaign_id)
                .group_by(SubscribeMessage.state)).tuples().all())
        to_send = sum(v for k, v in self.counts.items() if k != SendState.SKIPPED)
        live = sum(self.counts.get(s, 0) for s in (SendState.PENDING, SendState.SENDING))
        if self._bar.total != to_send:
            self._bar.total = to_send
            self._bar.refresh()
        self._bar.update(to_send - live - self._bar.n)
        self._bar.set_postfix(sent=self.counts.get(SendState.SENT, 0), refused=self.counts.get(SendState.REFUSED, 0),
                              in_doubt=self.counts.get(SendState.IN_DOUBT, 0), state=state.value, refresh=False)
        return state


@contextmanager
def _first_interrupt_stops(stopping: threading.Event) -> Iterator[None]:
    """The first Ctrl-C asks the send loop to stop after the batch in flight (its outcomes recorded, no
    claim left behind); a second one interrupts at once (what is mid-call then is settled later)."""
    previous = signal.getsignal(signal.SIGINT)

    def interrupted(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt
        stopping.set()
        print("\nstopping after the batch in flight (Ctrl-C again to stop at once)", file=sys.stderr)

    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread (a test calling main() from another)
        return
    signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# ----- reports and templates ----------------------------------------------------------------


def _reminders(settings: Settings, args: argparse.Namespace) -> int:
    try:
        seconds = parse_duration(args.since)
    except ValueError as exc:
        raise InvalidArgument(f"--since: {exc}") from None
    since = utcnow() - timedelta(seconds=seconds)
    with migrated_database(settings.database.url) as factory, factory() as session:
        report = reminders_report(session, since=since)
    print(f"cart reminders since {_shown(since, ZoneInfo(settings.outreach.timezone))} (converted: paid within "
          "7 days of the reminder)")
    print(f"{'':<10} {'carts':>8} {'converted':>10} {'revenue':>14} {'conversion':>11}")
    for group in ("reminded", "holdout"):
        row = report[group]
        print(f"{group:<10} {int(row['carts']):>8} {int(row['converted']):>10} {yuan(int(row['revenue_fen'])):>14} "
              f"{float(row['conversion']):>10.1%}")
    print(_lift(float(report["reminded"]["conversion"]), float(report["holdout"]["conversion"]),
                int(report["holdout"]["carts"])))
    return 0


def _lift(reminded: float, holdout: float, holdout_carts: int) -> str:
    if not holdout_carts:
        return "lift: - (no holdout carts in the period)"
    points = (reminded - holdout) * 100
    relative = f", {reminded / holdout:.2f}× the holdout's rate" if holdout else ""
    return f"lift: {points:+.1f} percentage points{relative}"


def _templates(settings: Settings, args: argparse.Namespace) -> int:
    path: Path = args.check or settings.outreach.templates_path
    try:
        registry = load_templates(path)
    except TemplatesError as exc:
        for problem in exc.problems:
            print(f"chatshop: {problem}", file=sys.stderr)
        return 1
    if args.check:
        print(f"{path}: {len(registry.templates)} templates, no problems")
        return 0
    print(f"{path}: {len(registry.templates)} templates")
    print(f"{'id':<26} {'title':<12} {'kind':<9} {'purpose':<15} {'channel':<7} fields")
    for t in registry.templates:
        fields = ", ".join(f"{f.key} {f.label}" for f in t.fields)
        print(f"{t.id:<26} {t.title:<12} {t.kind:<9} {t.purpose:<15} {t.channel:<7} {fields}")
    return 0


# ----- helpers ------------------------------------------------------------------------------


def operator() -> str:
    """Who made a change from the command line: `cli:<os user>`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        user = "unknown"
    return f"cli:{user}"[:64]


def _registry(settings: Settings) -> TemplateRegistry:
    path = settings.outreach.templates_path
    if not path.exists():
        raise TemplatesError([f"{path}: no template registry (run `chatshop seed` for the demo store's)"])
    return load_templates(path)


def _data(pairs: list[str] | None, as_json: str | None) -> dict[str, str]:
    if as_json is not None:
        try:
            parsed = json.loads(as_json)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"--data-json: not JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(parsed, dict):
            raise InvalidArgument('--data-json: expected an object such as {"thing1": "春季上新"}')
        return {str(k): str(v) for k, v in parsed.items()}
    data: dict[str, str] = {}
    for chunk in pairs or []:
        for item in _FIELD_SEPARATOR.split(chunk):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise InvalidArgument(f"--data: {item!r} is not field=value (e.g. thing1=春季上新)")
            data[key.strip()] = value
    return data


def _when(text: str | None, settings: Settings) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"--at: {text!r} is not an ISO 8601 time such as 2026-12-05T10:00") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(settings.outreach.timezone))
    return parsed.astimezone(ZoneInfo("UTC"))


def _shown(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return "-"
    return f"{moment.astimezone(zone).strftime('%Y-%m-%d %H:%M')} store time ({moment.isoformat()})"

