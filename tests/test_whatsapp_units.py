"""The WhatsApp adapter's small parts: signature, payload parsing, splitting, link codes, the
send rate limit."""

from __future__ import annotations

import json

import pytest
import whatsapp_meta as meta

from server.channels.whatsapp.payload import PayloadError, parse_webhook
from server.channels.whatsapp.rate_limit import TokenBucket
from server.channels.whatsapp.replies import link_code_in
from server.channels.whatsapp.signature import sign, signature_valid
from server.channels.whatsapp.split import split_text

# ------------------------------------------------------------------------- signature


def test_signature_is_hmac_sha256_of_the_raw_bytes() -> None:
    # Reference: printf '%s' '{"a": 1}' | openssl dgst -sha256 -hmac segredo
    expected = "sha256=3ecd558f4631f0975dc3583e67c3cb51d87e9a3b37d2e5a06cded018c74f1dc8"
    assert sign("segredo", b'{"a": 1}') == expected
    assert signature_valid("segredo", b'{"a": 1}', expected)
    assert signature_valid("segredo", b'{"a": 1}', expected.upper().replace("SHA256=", "sha256="))


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha1=" + "0" * 40, sign("outro", b"{}"), sign("segredo", b"{} ")],
)
def test_anything_but_the_exact_signature_is_refused(header: str | None) -> None:
    assert not signature_valid("segredo", b"{}", header)


def test_the_same_json_re_encoded_does_not_verify() -> None:
    raw = b'{"a":1}'
    assert signature_valid("segredo", raw, sign("segredo", raw))
    assert not signature_valid(
        "segredo", json.dumps(json.loads(raw)).encode(), sign("segredo", raw)
    )


# ------------------------------------------------------------------------- payload


def test_every_entry_and_change_is_read() -> None:
    ana, bia = meta.new_wa_id(), meta.new_wa_id()
    hello, photo = meta.text(ana, "oi"), meta.media(bia, "image")
    body = meta.webhook(
        [meta.change([hello]), meta.change(statuses=[meta.status("wamid.out.1", "read", ana)])],
        [meta.change([photo], phone_number_id="999")],
    )
    events = parse_webhook(json.dumps(body).encode())
    assert [(m.wamid, m.wa_id, m.kind, m.text, m.phone_number_id) for m in events.messages] == [
        (hello["id"], ana, "text", "oi", meta.PHONE_NUMBER_ID),
        (photo["id"], bia, "image", None, "999"),
    ]
    assert [(s.wamid, s.status, s.wa_id) for s in events.statuses] == [("wamid.out.1", "read", ana)]


def test_interactive_replies_are_read_as_their_titles() -> None:
    wa_id = meta.new_wa_id()
    body = meta.webhook(
        [
            meta.change(
                [
                    meta.button_reply(wa_id, "sim", "Sim, pode lançar"),
                    meta.list_reply(wa_id, "ferias", "Férias", "Como calcular"),
                ]
            )
        ]
    )
    events = parse_webhook(json.dumps(body).encode())
    assert [m.text for m in events.messages] == ["Sim, pode lançar", "Férias"]


def test_changes_of_other_fields_are_skipped() -> None:
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {"event": "X"}}]}],
    }
    events = parse_webhook(json.dumps(body).encode())
    assert events.messages == [] and events.statuses == []


@pytest.mark.parametrize(
    "raw",
    [b"", b"[]", b'{"object": "whatsapp_business_account"}', b'{"object": 1, "entry": []}'],
)
def test_what_is_not_a_webhook_is_a_payload_error(raw: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_webhook(raw)


# ------------------------------------------------------------------------- splitting


def test_short_text_is_one_piece() -> None:
    assert split_text("  Oi! Tudo bem?  ") == ["Oi! Tudo bem?"]


def test_long_text_is_cut_after_a_sentence() -> None:
    text = "Primeira frase aqui. Segunda frase “citada.” Terceira frase."
    assert split_text(text, limit=45) == [
        "Primeira frase aqui. Segunda frase “citada.”",
        "Terceira frase.",
    ]


def test_a_paragraph_break_wins_over_a_later_sentence() -> None:
    text = "Um parágrafo.\n\nOutro. E mais uma frase."
    assert split_text(text, limit=30) == ["Um parágrafo.", "Outro. E mais uma frase."]


def test_without_sentences_it_cuts_between_words() -> None:
    assert split_text("palavra " * 5, limit=20) == ["palavra palavra", "palavra palavra", "palavra"]


def test_a_word_longer_than_the_limit_is_cut_at_the_limit() -> None:
    assert split_text("a" * 10, limit=4) == ["aaaa", "aaaa", "aa"]


def test_pieces_fit_whatsapp_and_lose_no_words() -> None:
    text = " ".join(f"Frase número {i} sobre o caixa da padaria." for i in range(400))
    pieces = split_text(text)
    assert len(pieces) > 1 and all(len(p) <= 4096 for p in pieces)
    assert all(p.endswith(".") for p in pieces)
    assert " ".join(pieces) == text


# ------------------------------------------------------------------------- link codes


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("123456", "123456"),
        ("meu código é 123456", "123456"),
        ("Meu codigo: 654321.", "654321"),
        ("cod 111222", "111222"),
        ("vendi 123456 reais hoje", None),
        ("meu código é 12345", None),
        ("código 123456 ou 654321?", None),
        ("1234567", None),
    ],
)
def test_link_code_in(text: str, code: str | None) -> None:
    assert link_code_in(text) == code


# ------------------------------------------------------------------------- rate limit


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_bucket_allows_a_burst_then_spaces_sends_at_the_rate() -> None:
    clock = _Clock()
    bucket = TokenBucket(rate_per_s=4, clock=clock)
    for _ in range(4):  # a burst of `rate` sends goes at once
        assert bucket.wait_s() == 0
        await bucket.take()
    assert bucket.wait_s() == pytest.approx(0.25)  # then one every 1/rate seconds
    clock.now += 0.25
    assert bucket.wait_s() == 0
