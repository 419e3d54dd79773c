"""Text normalisation shared by the router and knowledge retrieval.

Owners write without accents, in capitals, with abbreviations; comparing folded tokens makes
"Estágio", "estagio" and "ESTAGIO" the same word.
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[a-z0-9]+")

# Words that carry no topic; keeping them would make every message look like every example.
STOPWORDS = frozenset(
    """
    a o as os um uma uns umas de do da dos das em no na nos nas por pra pro pras pros para
    com sem e ou que se me te lhe nos vc voce voces eu ele ela eles elas meu minha meus minhas
    seu sua seus suas isso isto esse essa este esta aquele aquela ai la aqui ja tb tambem
    mais menos muito pouco bem so ate como qual quais quando qdo onde porque pq quanto quanta
    e eh ta to tou estou esta sao ser ter tem tenho foi vai vou pode posso quero queria
    gostaria preciso ajuda ajudar ajuda oi ola bom boa dia tarde noite obrigado obrigada
    favor por hoje ne entao agora
    """.split()
)


def fold(text: str) -> str:
    """Lower-case and strip accents: 'Estágio' -> 'estagio'."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokens(text: str) -> list[str]:
    """Folded words of a text, stopwords included."""
    return _WORD.findall(fold(text))


def content_tokens(text: str) -> list[str]:
    """Folded words that carry topic, with a crude plural strip so 'vendas' meets 'venda'."""
    return [_singular(word) for word in tokens(text) if word not in STOPWORDS]


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("s"):
        return word[:-1]
    return word
