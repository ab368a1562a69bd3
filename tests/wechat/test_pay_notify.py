"""The notification verifier with notifications signed and encrypted in the test, with the test's keys."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from wechatpayv3.utils import aes_decrypt, load_public_key, rsa_verify

from tests.support.pay import Merchant, new_rsa_key, random_text, resource_json, seal_notification, sign_body
from wechat.errors import NotificationRefusal, NotificationRefused
from wechat.pay_notify import NotificationVerifier, decrypt_resource

OUT_TRADE_NO = "20261123103005123456"
TRANSACTION_ID = "4200001234202611231234567890"



@contextmanager
def refused_as(refusal: NotificationRefusal, match: str | None = None) -> Iterator[None]:
    """The block must raise NotificationRefused for this reason (and with this message, if given)."""
    with pytest.raises(NotificationRefused, match=match) as refused:
        yield
    assert refused.value.refusal is refusal and refused.value.code == f"NOTIFICATION_{refusal.name}"

def payment_plaintext(merchant: Merchant, total: int = 19900) -> str:
    return resource_json(
        "transaction_success", mchid=merchant.mchid, appid=merchant.appid, out_trade_no=OUT_TRADE_NO,
        transaction_id=TRANSACTION_ID, openid="o_buyer", total=total,
    )


def refund_plaintext(merchant: Merchant, status: str = "SUCCESS") -> str:
    return resource_json(
        "refund_success", mchid=merchant.mchid, out_trade_no=OUT_TRADE_NO, transaction_id=TRANSACTION_ID,
        out_refund_no="R20261123103005123456", refund_id="50000000382019052709732678859", refund_status=status,
        total=19900, refund=3000,
    )


def test_a_valid_payment_notification_opens_into_a_payment_notice(merchant: Merchant) -> None:
    # given a TRANSACTION.SUCCESS notification signed with the platform key
    sent = seal_notification(merchant, "TRANSACTION.SUCCESS", payment_plaintext(merchant), notification_id="n-1")
    # when it is verified
    notice = merchant.verifier().payment(sent.headers, sent.body)
    # then every field of the decrypted resource is in the notice
    assert notice.appid == merchant.appid and notice.mchid == merchant.mchid
    assert (notice.out_trade_no, notice.transaction_id) == (OUT_TRADE_NO, TRANSACTION_ID)
    assert (notice.trade_state, notice.amount_total, notice.payer_openid) == ("SUCCESS", 19900, "o_buyer")
    assert notice.success_time == datetime(2026, 11, 23, 10, 30, 5, tzinfo=UTC)  # 18:30:05 +08:00
    assert notice.notification_id == "n-1"


def test_a_valid_refund_notification_opens_into_a_refund_notice(merchant: Merchant) -> None:
    sent = seal_notification(merchant, "REFUND.ABNORMAL", refund_plaintext(merchant, "ABNORMAL"))
    notice = merchant.verifier().refund(sent.headers, sent.body)
    assert (notice.refund_status, notice.amount_refund, notice.amount_total) == ("ABNORMAL", 3000, 19900)
    assert (notice.out_trade_no, notice.out_refund_no) == (OUT_TRADE_NO, "R20261123103005123456")
    assert notice.refund_id == "50000000382019052709732678859" and notice.mchid == merchant.mchid


def test_header_names_are_matched_whatever_their_case(merchant: Merchant) -> None:
    sent = seal_notification(merchant, "TRANSACTION.SUCCESS", payment_plaintext(merchant))
    lowered = {name.lower(): value for name, value in sent.headers.items()}
    shouted = {name.upper(): value for name, value in sent.headers.items()}
    assert merchant.verifier().payment(lowered, sent.body).out_trade_no == OUT_TRADE_NO
    assert merchant.verifier().payment(shouted, sent.body).out_trade_no == OUT_TRADE_NO


def test_a_signature_by_another_key_is_forged(merchant: Merchant) -> None:
    sent = seal_notification(merchant, "TRANSACTION.SUCCESS", payment_plaintext(merchant), signing_key=new_rsa_key())
    with refused_as(NotificationRefusal.FORGED, "does not verify"):
        merchant.verifier().payment(sent.headers, sent.body)


def test_a_body_changed_after_signing_is_forged(merchant: Merchant) -> None:
    sent = seal_notification(merchant, "TRANSACTION.SUCCESS", payment_plaintext(merchant))
    with refused_as(NotificationRefusal.FORGED):
        merchant.verifier().payment(sent.headers, sent.body.replace(b"TRANSACTION", b"TRANSACTIOn", 1))


def test_an_unknown_platform_key_serial_is_forged(merchant: Merchant) -> None:
    sent = seal_notification(merchant, "TRANSACTION.SUCCESS", payment_plaintext(merchant),
                             serial="PUB_KEY_ID_0114232000000000000000000001")
    with refused_as(NotificationRefusal.FORGED, "serial"):
        merchant.verifier().payment(sent.headers, sent.body)


@pytest.mark.parametrize("missing", ["Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce",
                                     "Wechatpay-Serial"])
def test_a_missing_signature_header_is_forged(merchant: Merchant, missing: str) -> None:
    sent = seal_notification(merchant, "TRANSACTION.SUCCESS", payment_plaintext(merchant))
    headers = {k: v for k, v in sent.headers.items() if k != missing}
    with refused_as(NotificationRefusal.FORGED):
        merchant.verifier().payment(headers, sent.body)


@pytest.mark.parametrize("offset_s", [-301, 301, -86400])
def test_timestamps_outside_the_allowed_skew_are_stale(merchant: Merchant, offset_s: int) -> None:
    # given a correctly signed notification whose timestamp is too old (a replay) or in the future
    sent = seal_notification(merchant, "TRANSACTION.SUCCESS", payment_plaintext(merchant),
                             timestamp=int(time.time()) + offset_s)
    # then it is refused as stale
    with refused_as(NotificationRefusal.STALE):
        merchant.verifier(max_clock_skew_s=300).payment(sent.headers, sent.body)


def test_timestamps_inside_the_skew_pass_and_a_zero_skew_turns_the_check_off(merchant: Merchant) -> None:
    fixed_now = 1_795_000_000.0
    near = seal_notification(merchant, "TRANSACTION.SUCCESS", payment_plaintext(merchant),
                             timestamp=int(fixed_now) - 299)
    verifier = NotificationVerifier(
        apiv3_key=merchant.apiv3_key, platform_public_key=merchant.platform_public_pem,
        platform_public_key_id=merchant.platform_key_id, max_clock_skew_s=300, clock=lambda: fixed_now,
    )
    assert verifier.payment(near.headers, near.body).amount_total == 19900
    old = seal_notification(merchant, "TRANSACTION.SUCCESS", payment_plaintext(merchant), timestamp=1_600_000_000)
    assert merchant.verifier(max_clock_skew_s=0).payment(old.headers, old.body).amount_total == 19900


def test_tampered_ciphertext_is_refused_even_when_re_signed(merchant: Merchant) -> None:
    sent = seal_notification(merchant, "TRANSACTION.SUCCESS", payment_plaintext(merchant), tamper_ciphertext=True)
    with refused_as(NotificationRefusal.FORGED, "decrypt"):
        merchant.verifier().payment(sent.headers, sent.body)


def test_a_resource_sealed_with_another_apiv3_key_is_refused(merchant: Merchant) -> None:
    sent = seal_notification(merchant, "TRANSACTION.SUCCESS", payment_plaintext(merchant), apiv3_key=random_text(32))
    with refused_as(NotificationRefusal.FORGED, "APIv3"):
        merchant.verifier().payment(sent.headers, sent.body)


def test_signed_bytes_that_are_not_a_notification_are_malformed(merchant: Merchant) -> None:
    for body in (b"not json", b"[]", b'{"id": "x", "event_type": "TRANSACTION.SUCCESS"}'):
        with refused_as(NotificationRefusal.MALFORMED):
            merchant.verifier().payment(sign_body(merchant, body), body)


def test_a_refund_notification_is_not_taken_for_a_payment_and_back(merchant: Merchant) -> None:
    refund = seal_notification(merchant, "REFUND.SUCCESS", refund_plaintext(merchant))
    payment = seal_notification(merchant, "TRANSACTION.SUCCESS", payment_plaintext(merchant))
    with refused_as(NotificationRefusal.MALFORMED):
        merchant.verifier().payment(refund.headers, refund.body)
    with refused_as(NotificationRefusal.MALFORMED):
        merchant.verifier().refund(payment.headers, payment.body)


def test_a_resource_missing_the_amount_is_malformed(merchant: Merchant) -> None:
    resource = json.loads(payment_plaintext(merchant))
    del resource["amount"]
    sent = seal_notification(merchant, "TRANSACTION.SUCCESS", json.dumps(resource))
    with refused_as(NotificationRefusal.MALFORMED, "amount"):
        merchant.verifier().payment(sent.headers, sent.body)


def test_wechatpayv3_reads_the_test_notifications_the_same_way(merchant: Merchant) -> None:
    # An independent implementation (the library's) agrees on signature and decryption.
    sent = seal_notification(merchant, "TRANSACTION.SUCCESS", payment_plaintext(merchant))
    headers = sent.headers
    assert rsa_verify(headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"], sent.body.decode(),
                      headers["Wechatpay-Signature"], load_public_key(merchant.platform_public_pem))
    resource = json.loads(sent.body)["resource"]
    library = aes_decrypt(resource["nonce"], resource["ciphertext"], resource["associated_data"], merchant.apiv3_key)
    ours = decrypt_resource(merchant.apiv3_key, nonce=resource["nonce"], ciphertext=resource["ciphertext"],
                            associated_data=resource["associated_data"])
    assert library == ours == payment_plaintext(merchant)
