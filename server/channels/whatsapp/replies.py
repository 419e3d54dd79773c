"""What the WhatsApp adapter says by itself (pt-BR), and how it spots a link code."""

from __future__ import annotations

import re

UNSUPPORTED = (
    "Por enquanto eu só consigo ler mensagens de texto. 🙏 "
    "Pode me escrever sua dúvida? Assim eu passo para o especialista certo."
)
APOLOGY = (
    "Desculpe, tive um problema para responder agora. "
    "Sua mensagem ficou guardada; pode mandar de novo daqui a pouco?"
)
LINKED = (
    "Pronto! Este WhatsApp agora está ligado à sua conta. "
    "Pode continuar a conversa por aqui, de onde parou."
)
BAD_CODE = (
    "Esse código não funcionou: ele está errado ou já expirou. "
    "Peça um código novo no chat da web e mande aqui de novo."
)
TOO_MANY_CODES = (
    "Foram muitas tentativas com código errado. "
    "Espere 10 minutos, peça um código novo no chat da web e mande aqui."
)

# "123456" alone, or six digits in a message that says it is a code ("meu código é 123456").
# A number in an ordinary message ("vendi 123456 reais") is not a code.
_CODE_ALONE = re.compile(r"^\s*(\d{6})\s*[.!]?\s*$")
_CODE_WORD = re.compile(r"c[oó]d(?:igo)?", re.IGNORECASE)
_SIX_DIGITS = re.compile(r"(?<!\d)(\d{6})(?!\d)")


def link_code_in(text: str) -> str | None:
    """The link code the user typed, or None when the message is not one."""
    alone = _CODE_ALONE.match(text)
    if alone:
        return alone.group(1)
    if _CODE_WORD.search(text):
        codes = _SIX_DIGITS.findall(text)
        if len(codes) == 1 and len(text) <= 80:
            return str(codes[0])
    return None
