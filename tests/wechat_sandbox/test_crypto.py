"""The sandbox's own crypto against the documented vectors and against werobot and wechatpy."""

from __future__ import annotations

import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto
from werobot.crypto import MessageCrypt

from wechat_sandbox.crypto import CryptoError, MessageCipher, sign

TOKEN = "123456"
KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
APP_ID = "wx49f0ab532d5d035a"
TIMESTAMP = "1411525903"
NONCE = "461056294"
# From wechatpy's test suite: signed with msg_signature 74d92d..., a text "test" from "messense".
VECTOR_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymz"
    "xh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOA"
    "QqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe"
    "7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
VECTOR_SIGNATURE = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
# wechatpy's encrypt vector: this reply, with the random prefix fixed to "1234567890123456".
REPLY = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
REPLY_ENCRYPT_PREFIX = "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGs"
REPLY_SIGNATURE = "407518b7649e86ef23978113f92d27afa9296533"


def test_signature_matches_documented_examples() -> None:
    assert sign("AAAAA", "1714036504", "1514711492") == "f464b24fc39322e44b38aa78f5edd27bd1441696"
    assert sign("AAAAA", "1714037059", "486452656") == "899cf89e464efb63f54ddac96b0a0a235f53aa78"
    assert sign(TOKEN, TIMESTAMP, NONCE, VECTOR_ENCRYPT) == VECTOR_SIGNATURE


def test_decrypts_the_documented_vector() -> None:
    message = xmltodict.parse(MessageCipher(KEY, APP_ID).decrypt(VECTOR_ENCRYPT))["xml"]
    assert message["Content"] == "test"
    assert message["FromUserName"] == "messense"


def test_encrypt_reproduces_the_documented_ciphertext() -> None:
    encrypted = MessageCipher(KEY, APP_ID).encrypt(REPLY, random_prefix=b"1234567890123456")
    assert encrypted.startswith(REPLY_ENCRYPT_PREFIX)
    assert sign(TOKEN, TIMESTAMP, NONCE, encrypted) == REPLY_SIGNATURE


def test_round_trip_with_unicode() -> None:
    cipher = MessageCipher(KEY, APP_ID)
    text = "<xml><Content><![CDATA[你好，世界 🛒]]></Content></xml>"
    assert cipher.decrypt(cipher.encrypt(text)) == text


def test_werobot_decrypts_what_the_sandbox_encrypts() -> None:
    text = "<xml><Content><![CDATA[下单 3 件]]></Content></xml>"
    encrypted = MessageCipher(KEY, APP_ID).encrypt(text)
    signature = sign(TOKEN, TIMESTAMP, NONCE, encrypted)
    plain = MessageCrypt(TOKEN, KEY, APP_ID).decrypt_message(TIMESTAMP, NONCE, signature, encrypted)
    assert plain.decode("utf-8") == text


def test_sandbox_decrypts_what_werobot_and_wechatpy_encrypt() -> None:
    text = "<xml><Content><![CDATA[收到]]></Content></xml>"
    for envelope in (
        MessageCrypt(TOKEN, KEY, APP_ID).encrypt_message(text, TIMESTAMP, NONCE),
        WeChatCrypto(TOKEN, KEY, APP_ID).encrypt_message(text, NONCE, TIMESTAMP),
    ):
        fields = xmltodict.parse(envelope)["xml"]
        assert sign(TOKEN, TIMESTAMP, NONCE, fields["Encrypt"]) == fields["MsgSignature"]
        assert MessageCipher(KEY, APP_ID).decrypt(fields["Encrypt"]) == text


def test_rejects_another_appid_and_garbage() -> None:
    encrypted = MessageCipher(KEY, APP_ID).encrypt("<xml/>")
    with pytest.raises(CryptoError, match="appid"):
        MessageCipher(KEY, "wx_someone_else").decrypt(encrypted)
    with pytest.raises(CryptoError):
        MessageCipher(KEY, APP_ID).decrypt("not base64!")
    with pytest.raises(CryptoError):
        MessageCipher(KEY, APP_ID).decrypt("AAAA")
