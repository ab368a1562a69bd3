"""The message-push endpoint: `GET|POST /wechat` and `/wechat/mp`.

A WeChat webhook never answers 500 or JSON: a forged or replayed request gets 403 and everything
else that cannot be handled gets `success`, logged. While a person owns the conversation (`bot.handoff`,
asked in the claim, before any language work) the bot stays silent. A reply ready inside the time budget goes back
in the response (encrypted if the push was); otherwise the answer is `success` and the reply goes
out through the customer-service API when it is ready, with a typing indicator meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from werobot.replies import Article as WeRoBotArticle
from werobot.replies import ArticlesReply, TextReply, TransferCustomerServiceReply

from bot import metrics
from bot.config import WebhookConfig
from bot.conversation import AlreadySeen, Claimed, Conversations
from bot.dialogue import Responder
from bot.handoff.desk import HandoffDesk
from bot.inbound import Inbound, inbound_from_push
from bot.messenger import Messenger
from bot.models import Channel
from bot.outgoing import PASSIVE_KINDS, News, Outgoing, Text, TransferToKf
from bot.outreach.inbound import OutreachInbound
from foundation.workers import ThreadWorkers
from web.bodies import BodyOverLimit, read_limited_asgi
from web.raw_routes import send_response
from wechat.errors import PushRefusal, PushRefused
from wechat.push import PushVerifier

log = logging.getLogger(__name__)

SUCCESS = "success"
TEXT_PLAIN = b"text/plain; charset=utf-8"
XML = b"application/xml"


@dataclass(frozen=True)
class WebhookReply:
    """What a push is answered: status and body, and the messages to send through the API once it has left."""

    status: int
    body: bytes
    content_type: bytes = TEXT_PLAIN
    deliver: list[int] = field(default_factory=list)


SUCCESS_REPLY = WebhookReply(200, SUCCESS.encode())
FORBIDDEN_REPLY = WebhookReply(403, b"forbidden")


@dataclass(frozen=True)
class TurnResult:
    reply_xml: str  # empty: nothing passive
    queued_ids: list[int]
    passive_kind: str | None


class _ReplyDecision:
    """Decides, exactly once, whether a reply goes back passively or later through the API.

    Both sides decide on the event loop's thread, so the first to ask wins without a lock.
    """

    def __init__(self) -> None:
        self._decided: str | None = None
        self.typing: asyncio.Future[bool] | None = None  # the indicator shown while the customer waits

    def _decide(self, how: str) -> bool:
        if self._decided is None:
            self._decided = how
        return self._decided == how

    def take_passive(self) -> bool:
        return self._decide("passive")

    def defer(self) -> bool:
        return self._decide("deferred")


class WebhookEndpoint:
    def __init__(
        self,
        *,
        channel: Channel,
        verifier: PushVerifier,
        conversations: Conversations,
        dialogue: Responder,
        messenger: Messenger,
        config: WebhookConfig,
        workers: ThreadWorkers,
        handoff: HandoffDesk | None = None,
        outreach: OutreachInbound | None = None,
    ) -> None:
        """`handoff`: who answers while a person owns a conversation (without it, the bot always does);
        `outreach`: subscription events and 退订, answered before anyone else."""
        self._channel = channel
        self._handoff = handoff
        self._outreach = outreach
        self._verifier = verifier
        self._conversations = conversations
        self._dialogue = dialogue
        self._messenger = messenger
        self._config = config
        self._workers = workers
        self._turns: set[asyncio.Task[TurnResult]] = set()  # turns that outlive their request
        # Labelled metrics resolved once per label value: `labels()` per push showed up in profiles.
        self._latency = metrics.WEBHOOK_LATENCY.labels(channel=channel)
        self._replies: dict[str, Counter] = {}
        self._messages_in: dict[str, Counter] = {}

    async def verify_url(self, request: Request) -> Response:
        """WeChat's URL check: echo `echostr` byte for byte when the signature is right."""
        try:
            self._verifier.check_url_signature(request.query_params)
        except PushRefused as refused:
            refusal = self._refuse(refused, request.client.host if request.client else "?")
            return PlainTextResponse(refusal.body.decode(), status_code=refusal.status)
        return PlainTextResponse(request.query_params.get("echostr", ""))

    async def receive(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A push (POST), as a plain ASGI handler in front of the framework (`web.raw_routes`): it is
        the hottest route and never raises, so it needs none of the framework's layers."""
        started = time.perf_counter()
        query = _query_params(scope)
        try:
            self._verifier.check_url_signature(query)
            body = await _read_push(scope, receive, self._config.max_body_bytes)
            reply = await self._answer(body, query)
        except PushRefused as refused:
            reply = self._refuse(refused, _client_host(scope))
        except Exception:
            log.exception("%s webhook: the bot failed; answering success", self._channel)
            metrics.WEBHOOK_ERRORS.labels(channel=self._channel, reason="bot_error").inc()
            reply = SUCCESS_REPLY
        await send_response(send, reply.status, reply.content_type, reply.body)
        self._latency.observe(time.perf_counter() - started)
        if reply.deliver:
            await self._deliver_after_reply(reply.deliver)

    async def _deliver_after_reply(self, ids: list[int]) -> None:
        """Messages that did not fit the passive reply, sent through the API once the reply has left."""
        try:
            await self._workers.submit(self._messenger.deliver, ids)
        except Exception:  # recorded as pending: the outbox sweep sends them
            log.exception("%s webhook: sending %d message(s) after the reply failed", self._channel, len(ids))

    def _refuse(self, refused: PushRefused, client: str) -> WebhookReply:
        metrics.WEBHOOK_ERRORS.labels(channel=self._channel, reason=refused.reason).inc()
        log.warning("%s webhook refused a push from %s: %s (%s)", self._channel, client, refused.reason,
                    refused.message)
        return FORBIDDEN_REPLY if refused.forbidden else SUCCESS_REPLY

    def _count(self, counters: dict[str, Counter], metric: Counter, kind: str) -> None:
        counter = counters.get(kind)
        if counter is None:
            counter = counters[kind] = metric.labels(channel=self._channel, kind=kind)
        counter.inc()

    async def _answer(self, body: bytes, query: Mapping[str, str]) -> WebhookReply:
        inbound = inbound_from_push(self._verifier.open(body, query), self._channel)
        seen = await self._conversations.receive(inbound)
        if isinstance(seen, AlreadySeen):
            self._count(self._replies, metrics.REPLIES, "duplicate")
            return self._reply(seen.reply_xml or "", inbound)
        if seen.taken_over:
            self._note_takeover(seen)
        else:  # a taken-over message was counted when it first came in
            self._count(self._messages_in, metrics.MESSAGES_IN, inbound.kind)
        turn = _ReplyDecision()
        task = asyncio.ensure_future(self._run_turn(seen, turn))
        done, _ = await asyncio.wait({task}, timeout=self._config.reply_budget_ms / 1000)
        if not done and turn.defer():
            self._count(self._replies, metrics.REPLIES, "deferred")
            turn.typing = self._workers.submit(self._messenger.start_typing, seen.customer_id)
            self._keep_running(task)
            return SUCCESS_REPLY
        result = await task
        self._count(self._replies, metrics.REPLIES, result.passive_kind or "none")
        return self._reply(result.reply_xml, inbound, deliver=result.queued_ids)

    async def _run_turn(self, claimed: Claimed, turn: _ReplyDecision) -> TurnResult:
        """The bot's answer, stored; it may outlive the HTTP request when the bot is slow."""
        try:
            # The bot runs off the event loop: a slow one must not hold up other customers.
            replies = await self._workers.submit(self._respond, claimed)
        except Exception:
            await self._conversations.answer(claimed, passive=None, passive_xml="", queued=[])
            raise
        in_time = turn.take_passive()
        passive = _passive_candidate(replies, claimed.inbound.channel) if in_time else None
        queued = [message for message in replies if message is not passive]
        reply_xml = render_passive(passive, claimed.inbound) if passive else ""
        ids = await self._conversations.answer(claimed, passive=passive, passive_xml=reply_xml, queued=queued)
        if ids is None:
            log.warning("%s webhook: dropped the answer to %s: a retry took the claim over and answers it",
                        self._channel, claimed.inbound.dedupe_key)
            return TurnResult("", [], None)
        if not in_time:  # the webhook already answered `success`: send through the API now
            if turn.typing is not None:
                # "Typing" must reach WeChat before the answer, or it would linger after it.
                await asyncio.gather(turn.typing, return_exceptions=True)
            await self._workers.submit(self._messenger.deliver, ids)
        return TurnResult(reply_xml, ids, passive.kind if passive else None)

    def _respond(self, claimed: Claimed) -> list[Outgoing]:
        """The bot's answer, or, while a person owns the conversation, the handoff's (silence, mostly)."""
        inbound = claimed.inbound
        if self._outreach is not None:
            answered = self._outreach.answer(claimed.customer_id, inbound.channel, inbound.kind, inbound.content,
                                             inbound.fields)
            if answered is not None:
                return answered
        if self._handoff is None:
            return self._dialogue.respond(inbound, state=claimed.state)
        if claimed.handoff_id is not None:
            return self._handoff.on_customer_message(claimed.handoff_id, inbound.kind, inbound.content)
        rated = self._handoff.rating_reply(claimed.customer_id, inbound.channel, inbound.kind, inbound.content,
                                           inbound.menu_id)
        return rated if rated is not None else self._dialogue.respond(inbound, state=claimed.state)

    def _note_takeover(self, claimed: Claimed) -> None:
        log.warning("%s webhook: %s was still unanswered past its claim's lease (the delivery that claimed it "
                    "died or stalled); this retry takes the claim over and answers", self._channel,
                    claimed.inbound.dedupe_key)
        metrics.WEBHOOK_ERRORS.labels(channel=self._channel, reason="stale_claim").inc()

    async def finish_turns(self, timeout_s: float) -> int:
        """On shutdown: let the turns that outlived their request store and send their replies, for up to
        `timeout_s`; the rest are cancelled (their claims are then released). Returns how many were."""
        if not self._turns:
            return 0
        _, late = await asyncio.wait(set(self._turns), timeout=timeout_s)
        for task in late:
            task.cancel()
        if late:
            log.warning("%s webhook: %d deferred repl(ies) unfinished at shutdown; a retry answers them",
                        self._channel, len(late))
        return len(late)

    def _keep_running(self, task: asyncio.Task[TurnResult]) -> None:
        """Hold a reference to a turn that outlives its request, and log it if it fails."""
        self._turns.add(task)

        def finished(done: asyncio.Task[TurnResult]) -> None:
            self._turns.discard(done)
            if not done.cancelled() and done.exception() is not None:
                log.error("%s webhook: a deferred reply failed", self._channel, exc_info=done.exception())

        task.add_done_callback(finished)

    def _reply(self, reply_xml: str, inbound: Inbound, deliver: list[int] | None = None) -> WebhookReply:
        if not reply_xml:
            return WebhookReply(200, SUCCESS.encode(), deliver=deliver or [])
        sealed = self._verifier.seal(reply_xml, encrypt=inbound.encrypted)
        return WebhookReply(200, sealed.encode(), XML, deliver=deliver or [])


def _passive_candidate(replies: list[Outgoing], channel: Channel) -> Outgoing | None:
    # Mini-program customer service takes no passive replies but a transfer; it answers via the API.
    if not replies or replies[0].kind not in PASSIVE_KINDS:
        return None
    if channel is Channel.MP and not isinstance(replies[0], TransferToKf):
        return None
    first = replies[0]
    if isinstance(first, News) and len(first.articles) != 1:
        return None
    return first


def render_passive(message: Outgoing, inbound: Inbound) -> str:
    """The passive reply XML (werobot's templates), addressed back to the customer."""
    own_id = str(inbound.fields.get("ToUserName", ""))
    now = int(time.time())
    if isinstance(message, Text):
        return str(TextReply(target=inbound.openid, source=own_id, time=now,
                             content=_cdata_safe(message.content)).render())
    if isinstance(message, News):
        reply = ArticlesReply(target=inbound.openid, source=own_id, time=now)
        for article in message.articles:
            reply.add_article(WeRoBotArticle(title=_cdata_safe(article.title),
                                             description=_cdata_safe(article.description),
                                             img=article.picurl, url=article.url))
        return str(reply.render())
    if isinstance(message, TransferToKf):
        # werobot adds <TransInfo><KfAccount> only when an account is named at all.
        account = {"account": message.kf_account} if message.kf_account else {}
        return str(TransferCustomerServiceReply(target=inbound.openid, source=own_id, time=now, **account).render())
    raise ValueError(f"{message.kind} cannot be a passive reply")


def _cdata_safe(text: str) -> str:
    # werobot wraps values in CDATA; a literal "]]>" would end it early and break the XML.
    return text.replace("]]>", "]]]]><![CDATA[>")


async def _read_push(scope: Scope, receive: Receive, limit: int) -> bytes:
    try:
        return await read_limited_asgi(scope, receive, limit)
    except BodyOverLimit as exc:
        raise PushRefused(PushRefusal.OVERSIZED, str(exc)) from None


def _query_params(scope: Scope) -> dict[str, str]:
    # As Starlette reads a query string: latin-1 bytes, %-decoded as UTF-8; a repeated name keeps its last value.
    return dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))


def _client_host(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "?"
