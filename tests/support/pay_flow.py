"""Payment steps against the sandbox's WeChat Pay: prepay, the customer paying, and the notices
the sandbox sent to the test's receiver, verified and decrypted as the service would."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from commerce.models import PaymentAlert
from commerce.payments import prepay_order
from tests.support.pay import PaySandbox
from wechat.pay import WeChatPay
from wechat.pay_notify import PaymentNotice, RefundNotice


def prepay(factory: sessionmaker[Session], sandbox: PaySandbox, order_no: str, openid: str) -> WeChatPay:
    client = sandbox.client()
    params = prepay_order(factory, pay=client, order_no=order_no, openid=openid)
    assert params["package"].startswith("prepay_id=")
    return client


def customer_pays(sandbox: PaySandbox, order_no: str) -> PaymentNotice:
    """The customer pays; returns the payment notice the sandbox sent (first try)."""
    response = sandbox.pay(order_no)
    assert response.status_code == 200, response.text
    return payment_notices(sandbox)[-1]


def payment_notices(sandbox: PaySandbox) -> list[PaymentNotice]:
    verifier = sandbox.merchant.verifier()
    return [verifier.payment(r.headers, r.body) for r in sandbox.receiver.received if r.path == "/pay/notify"]


def refund_notices(sandbox: PaySandbox) -> list[RefundNotice]:
    sandbox.deliver()
    verifier = sandbox.merchant.verifier()
    return [verifier.refund(r.headers, r.body) for r in sandbox.receiver.received if r.path == "/pay/refund-notify"]


def alerts(factory: sessionmaker[Session]) -> list[tuple[str, str | None]]:
    with factory() as session:
        return [(a.kind, a.order_no) for a in session.scalars(select(PaymentAlert).order_by(PaymentAlert.id))]
