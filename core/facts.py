"""Facts an owner tells about the business, read from everyday pt-BR messages by rules.

Pure and deterministic: the same message always gives the same facts, with no model call, so the
memory pipeline can re-run it on redelivery. Rules run on folded text (no accents, lower case)
after a small typo fix-up, and each fact is rewritten as a short pt-BR sentence the agents can
quote. Questions and hypotheticals ("quanto paga uma padaria?", "se eu tiver 5 funcionários")
are not facts.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

from core.text import fold

__all__ = ["KINDS", "Fact", "extract_facts"]

# One live fact per kind and user: a newer one supersedes the older (now 6 employees, not 5).
KINDS = ("business", "name", "city", "employees", "tax_regime", "hours", "products")


@dataclass(frozen=True)
class Fact:
    kind: str
    text: str


def extract_facts(message: str) -> list[Fact]:
    """The facts stated in `message`, at most one per kind (the last one said wins)."""
    found: dict[str, Fact] = {}
    for clause in _clauses(message):
        if _is_question(clause.text):
            continue
        for rule in _RULES:
            fact = rule(clause)
            if fact is not None:
                found.pop(fact.kind, None)  # re-insert: the order facts were said in
                found[fact.kind] = fact
    return list(found.values())


# --------------------------------------------------------------------------------------------
# Clauses: folded words with a way back to the owner's spelling (names, cities keep their casing).


@dataclass(frozen=True)
class _Clause:
    text: str  # folded, typo-fixed words joined by single spaces
    words: tuple[str, ...]  # the same words as the owner wrote them

    def source(self, match: re.Match[str], group: int | str) -> str:
        """The owner's own words for a group of a match on `text` (words line up one to one)."""
        start, end = match.span(group)
        first = len(self.text[:start].split())
        count = len(self.text[start:end].split())
        return " ".join(self.words[first : first + count])


# Numbers keep their separators ("1.500", "7:30"), so a decimal point does not end a sentence.
_TOKEN = re.compile(r"\w+(?:[.,:]\d+)*|[^\w\s]")
_SENTENCE_END = {".", "!", "?", ";", "…"}
# A question often follows a statement with no punctuation: "sou mei posso ter funcionario?".
_QUESTION_WORDS = set(
    "quanto quanta quantos quantas qto qnto qual quais como oq porque pq sera posso pode podem "
    "devo quando qdo onde quem".split()
)


def _clauses(message: str) -> list[_Clause]:
    clauses = []
    for line in message.splitlines():
        words = _TOKEN.findall(line)
        folded = [_fix_typo(fold(word)) or "_" for word in words]
        start = 0
        for i, word in enumerate(folded):
            if word in _SENTENCE_END:
                clauses.append(
                    _Clause(" ".join(folded[start : i + 1]), tuple(words[start : i + 1]))
                )
                start = i + 1
            elif i > start and (
                word in _QUESTION_WORDS
                or (word == "o" and folded[i + 1 : i + 2] == ["que"])
                or (word in {"mas", "porem"})
            ):
                clauses.append(_Clause(" ".join(folded[start:i]), tuple(words[start:i])))
                start = i
        if start < len(words):
            clauses.append(_Clause(" ".join(folded[start:]), tuple(words[start:])))
    return [clause for clause in clauses if clause.text]


# Words the rules key on, so "funcinarios", "padarya" or "barbeiraria" still match.
_VOCABULARY = (
    "funcionario funcionarios funcionaria funcionarias colaboradores empregados padaria "
    "funciona funcionam funcionamos funcionamento funcionando "
    "barbearia confeitaria lanchonete restaurante pizzaria hamburgueria sorveteria papelaria "
    "floricultura academia mercadinho farmacia oficina cafeteria consultorio clinica "
    "simples nacional regime tributario anexo presumido horario segunda terca quarta quinta "
    "sexta sabado domingo produtos principais"
).split()


@lru_cache(maxsize=4096)
def _fix_typo(word: str) -> str:
    if len(word) < 6 or word in _VOCABULARY or not word.isalpha():
        return word
    close = difflib.get_close_matches(word, _VOCABULARY, n=1, cutoff=0.84)
    if close and abs(len(close[0]) - len(word)) <= 2:
        return close[0]
    return word


_INTERROGATIVE = re.compile(
    r"^(?:e )?(?:quanto|quanta|quantos|quantas|qto|qnto|qual|quais|como|oq|o que(?! mais vend)|"
    r"porque|por que|pq|sera|posso|pode|podem|devo|quando|qdo|onde|quem|se|caso|tem como|"
    r"existe|alguem)\b"
)


def _is_question(clause: str) -> bool:
    """A question or a hypothetical: what it mentions is not something the owner told."""
    return clause.endswith("?") or bool(_INTERROGATIVE.match(clause))


# --------------------------------------------------------------------------------------------
# Numbers, places and business types.

_NUMBER_WORDS = {
    "um": 1,
    "uma": 1,
    "dois": 2,
    "duas": 2,
    "tres": 3,
    "quatro": 4,
    "cinco": 5,
    "seis": 6,
    "sete": 7,
    "oito": 8,
    "nove": 9,
    "dez": 10,
    "onze": 11,
    "doze": 12,
    "quinze": 15,
    "vinte": 20,
    "trinta": 30,
}
_NUMBER = r"(?:\d{1,4}|" + "|".join(_NUMBER_WORDS) + r")"


def _number(token: str) -> int:
    return int(token) if token.isdigit() else _NUMBER_WORDS[token]


_STATES = "ac al ap am ba ce df es go ma mt ms mg pa pb pr pe pi rj rn rs ro rr sc sp se to".split()
# Accents owners leave out, in the city names they write most.
_ACCENTED = {
    "sao": "São",
    "jose": "José",
    "joao": "João",
    "ribeirao": "Ribeirão",
    "goiania": "Goiânia",
    "brasilia": "Brasília",
    "belem": "Belém",
    "florianopolis": "Florianópolis",
    "maceio": "Maceió",
    "vitoria": "Vitória",
    "niteroi": "Niterói",
    "jundiai": "Jundiaí",
    "uberlandia": "Uberlândia",
    "maringa": "Maringá",
    "petropolis": "Petrópolis",
    "cuiaba": "Cuiabá",
    "taubate": "Taubaté",
    "pao": "Pão",
    "acucar": "Açúcar",
}
_CONNECTORS = {"de", "do", "da", "dos", "das", "e"}
# What follows "em" but is not a place: "em casa", "em frente", "fica em nome de".
_NOT_PLACES = (
    "casa frente sociedade familia parceria dia crise obra reforma cima baixo breve geral media "
    "ordem andamento nome aberto antes depois dinheiro especie cartao pix dobro duvida ferias folga"
).split()
# Words that end a place name: "em Campinas faz 10 anos", "em Sorocaba e região".
_PLACE_STOP = (
    "e com ha faz desde perto mas que onde aqui tambem ja agora hoje ate para pra por sem nao "
    "sim so tem tenho sou somos mesmo muito ainda regiao centro bairro zona"
).split()
_PLACE_WORD = r"(?!(?:" + "|".join(_PLACE_STOP) + r")\b)(?![a-z]+(?:ando|endo|indo)\b)[a-z]{3,}"
_PLACE = (
    r"(?P<place>(?!(?:"
    + "|".join(_NOT_PLACES)
    + r")\b)"
    + _PLACE_WORD
    + r"(?: (?:(?:de|do|da|dos|das) )?"
    + _PLACE_WORD
    + r"){0,3})"
    r"(?: ?(?:-|/|,|\() ?(?P<uf>" + "|".join(_STATES) + r")\b)?"
)


def _place(clause: _Clause, match: re.Match[str]) -> str:
    words = clause.source(match, "place").split()
    pretty = [
        word.lower()
        if i and fold(word) in _CONNECTORS
        else _ACCENTED.get(fold(word), word[:1].upper() + word[1:] if word.islower() else word)
        for i, word in enumerate(words)
    ]
    place = " ".join(pretty)
    if match.group("uf"):
        place += f"/{match.group('uf').upper()}"
    return place


_BUSINESS_TYPES = {
    "padaria": "padaria",
    "barbearia": "barbearia",
    "confeitaria": "confeitaria",
    "doceria": "doceria",
    "lanchonete": "lanchonete",
    "restaurante": "restaurante",
    "pizzaria": "pizzaria",
    "hamburgueria": "hamburgueria",
    "sorveteria": "sorveteria",
    "papelaria": "papelaria",
    "floricultura": "floricultura",
    "academia": "academia",
    "mercadinho": "mercadinho",
    "mercado": "mercado",
    "farmacia": "farmácia",
    "oficina": "oficina",
    "cafeteria": "cafeteria",
    "consultorio": "consultório",
    "clinica": "clínica",
    "bar": "bar",
    "salao": "salão",
    "loja": "loja",
    "pet shop": "pet shop",
    "petshop": "pet shop",
    "acougue": "açougue",
    "brecho": "brechó",
    "estudio": "estúdio",
}
_MASCULINE = {"restaurante", "mercadinho", "mercado", "consultorio", "bar", "salao", "pet shop"}
_MASCULINE |= {"petshop", "acougue", "brecho", "estudio"}
_TYPES = "|".join(sorted(_BUSINESS_TYPES, key=len, reverse=True))
_TYPE = r"(?P<type>" + _TYPES + r")"
# "loja de roupas", "salão de beleza", "clínica de estética", "oficina mecânica".
_QUALIFIER = (
    r"(?P<qual> (?:de|do|da|dos|das) "
    + _PLACE_WORD
    + r"(?: (?:(?:de|do|da|e) )?"
    + _PLACE_WORD
    + r"){0,2}"
    r"| mecanica| veterinaria| virtual| online)?"
)


def _business_label(clause: _Clause, match: re.Match[str]) -> str:
    kind = match.group("type")
    label = _BUSINESS_TYPES[kind]
    if match.group("qual"):
        label += " " + clause.source(match, "qual").lower()
    article = "um" if kind in _MASCULINE else "uma"
    return f"{article} {label}"


# --------------------------------------------------------------------------------------------
# The rules: each reads one clause (folded) and returns a fact or None.

# First person only: "minha amiga tem uma padaria" is not the owner's business.
_HAVE = (
    r"(?<!nao )\b(?:tenho|tenhu|tnh|temos|possuo|abri|montei|(?:a gente|aqui) tem|"
    r"sou (?:o |a )?don[oa] d[eoa]s?|cuido d[eoa]s?)"
)
_BUSINESS = re.compile(
    _HAVE
    + r"(?: (?:um|uma|o|a|1))?(?: pequen[oa]| nov[oa])? "
    + _TYPE
    + _QUALIFIER
    + r"(?: aqui)?(?: em "
    + _PLACE
    + r")?"
)
_BUSINESS_IS = re.compile(
    r"\b(?:(?:meu|nosso) negocio|(?:minha|nossa) empresa) e (?:um|uma) "
    + _TYPE
    + _QUALIFIER
    + r"(?: (?:aqui )?em "
    + _PLACE
    + r")?"
)
_BUSINESS_WHERE = re.compile(
    r"\b(?:minha|meu|nossa|nosso) "
    + _TYPE
    + _QUALIFIER
    + r" (?:fica|e|esta|ta) (?:aqui )?em "
    + _PLACE
)


def _business_match(clause: _Clause) -> re.Match[str] | None:
    for pattern in (_BUSINESS, _BUSINESS_IS, _BUSINESS_WHERE):
        match = pattern.search(clause.text)
        if match:
            return match
    return None


def _business(clause: _Clause) -> Fact | None:
    match = _business_match(clause)
    if match is None:
        return None
    where = f" em {_place(clause, match)}" if match.group("place") else ""
    return Fact("business", f"Tem {_business_label(clause, match)}{where}")


_CITY = re.compile(
    r"(?<!nao )\b(?:(?:fica|ficamos|moro|moramos|atendo|atendemos|estamos|estou|to|trabalho|"
    r"trabalhamos)(?: aqui)? em|(?:sou|somos) de) " + _PLACE
)


def _city(clause: _Clause) -> Fact | None:
    business = _business_match(clause)
    if business and business.group("place"):
        return None  # the place is already in the business fact
    match = _CITY.search(clause.text)
    if match is None or match.group("place").split()[0] in _NOT_CITY_AFTER_VERB:
        return None
    return Fact("city", f"Fica em {_place(clause, match)}")


# "sou do simples", "estou de licença", "sou de confiança": after these verbs, not cities.
_NOT_CITY_AFTER_VERB = set(
    "simples mei regime lucro anexo atraso acordo volta manha tarde noite licenca confianca "
    "boa bom olho fora".split()
)

_STAFF = (
    r"(?P<noun>funcionari[oa]s?|colaborador(?:es|as?)?|empregad[oa]s?"
    r"|pessoas? (?:trabalhando|na equipe|comigo))"
)
_ABOUT = r"(?P<about> uns| umas| mais ou menos| cerca de| hoje| agora| atualmente| so| apenas)?"
_EMPLOYEES = re.compile(
    r"(?<!nao )\b(?:tenho|temos|sao|somos|trabalham|emprego|empregamos|(?:a gente|aqui) tem|"
    r"(?:minha|meu|nossa|nosso) (?:"
    + _TYPES
    + r"|empresa|negocio) tem)"
    + _ABOUT
    + r" (?P<n>"
    + _NUMBER
    + r") "
    + _STAFF
)
# "tenho uma padaria com 5 funcionários": "com N" only after the owner said what they have.
_EMPLOYEES_WITH = re.compile(
    r"(?<!nao )\b(?:tenho|temos|possuo|abri|montei)\b.* (?:com|e)"
    + _ABOUT
    + r" (?P<n>"
    + _NUMBER
    + r") "
    + _STAFF
)
_EQUIPE = re.compile(
    r"\b(?:minha|nossa) equipe (?:tem|e de|sao)"
    + _ABOUT
    + r" (?P<n>"
    + _NUMBER
    + r") (?P<noun>pessoas|funcionari[oa]s)"
)
_NO_EMPLOYEES = re.compile(
    r"\b(?:nao tenho|nao temos|sem) (?:nenhum |nenhuma )?(?:funcionari|empregad|colaborador)"
    r"|\b(?:trabalho|toco tudo|faco tudo) sozinh[oa]\b"
)


def _employees(clause: _Clause) -> Fact | None:
    match = (
        _EMPLOYEES.search(clause.text)
        or _EMPLOYEES_WITH.search(clause.text)
        or _EQUIPE.search(clause.text)
    )
    # "tenho uma funcionária que…" says nothing about how many; "tenho só uma" does.
    if match and (
        match.group("n") not in {"um", "uma"} or match.group("about") in {" so", " apenas"}
    ):
        count = _number(match.group("n"))
        if count == 0:
            return Fact("employees", "Não tem funcionários")
        feminine = match.group("noun").startswith("funcionaria")
        noun = "funcionária" if feminine else "funcionário"
        return Fact("employees", f"Tem {count} {noun}" + ("s" if count > 1 else ""))
    if _NO_EMPLOYEES.search(clause.text):
        return Fact("employees", "Não tem funcionários")
    return None


_ANEXO_NAMES = {"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V"}
_ANEXO_NAMES |= {"um": "I", "dois": "II", "tres": "III", "quatro": "IV", "cinco": "V"}
_ANEXO_NAMES |= {name: name.upper() for name in ("i", "ii", "iii", "iv", "v")}
_ANEXO = (
    r"(?:(?: ,| e| no| do| -)* anexo (?P<anexo>iii|ii|iv|i|v|[1-5]|um|dois|tres|quatro|cinco)\b)?"
)
_REGIME_CONTEXT = (
    r"(?<!nao )\b(?:regime(?: tributario)?(?: e| :)?|sou(?: do| optante pelo| optante do)?|"
    r"somos(?: do)?|estou no|to no|tou no|estamos no|empresa (?:e|ta|esta) no|empresa e do|"
    r"optante (?:pelo|do)|enquadrad[oa] no|pago pelo|tributad[oa] pelo)"
)
_SIMPLES = re.compile(_REGIME_CONTEXT + r" (?:o )?simples(?: nacional)?\b" + _ANEXO)
_LUCRO = re.compile(_REGIME_CONTEXT + r" (?:o )?lucro (?P<lucro>presumido|real)\b")
_MEI = re.compile(
    r"(?<!nao )\b(?:sou|somos|virei|me formalizei como|empresa e|abri um|agora sou|"
    r"regime(?: tributario)?(?: e| :)?)(?: um| uma| o)? mei\b"
)


def _tax_regime(clause: _Clause) -> Fact | None:
    match = _SIMPLES.search(clause.text)
    if match:
        anexo = match.group("anexo")
        tail = f", anexo {_ANEXO_NAMES[anexo]}" if anexo else ""
        return Fact("tax_regime", f"Regime tributário: Simples Nacional{tail}")
    match = _LUCRO.search(clause.text)
    if match:
        return Fact("tax_regime", f"Regime tributário: Lucro {match.group('lucro').capitalize()}")
    if _MEI.search(clause.text):
        return Fact("tax_regime", "Regime tributário: MEI")
    return None


_DAYS = {
    "segunda": "segunda",
    "seg": "segunda",
    "terca": "terça",
    "ter": "terça",
    "quarta": "quarta",
    "qua": "quarta",
    "quinta": "quinta",
    "qui": "quinta",
    "sexta": "sexta",
    "sex": "sexta",
    "sabado": "sábado",
    "sab": "sábado",
    "domingo": "domingo",
    "dom": "domingo",
}
_DAY = r"(?:" + "|".join(sorted(_DAYS, key=len, reverse=True)) + r")\b(?: feira)?"


def _time(name: str) -> str:
    """A clock time like 7, 7h, 7h30, 7:30, 19hs; groups `<name>h` and `<name>m`."""
    return (
        rf"(?P<{name}h>\d{{1,2}})"
        rf"(?::(?P<{name}m>\d{{2}})|h(?P<{name}m2>\d{{2}})|h(?:s|rs|oras)?\b| horas\b)?"
    )


def _days(name: str) -> str:
    return rf"(?: (?:de|da) (?P<{name}1>{_DAY}) (?:a|ate|as) (?P<{name}2>{_DAY}))?"


_HOURS = re.compile(
    r"\b(?:abro|abre|abrimos|abrem|funciono|funciona|funcionamos|funcionamento|atendo|atende|"
    r"atendemos|atendimento|horario|aberto|aberta)\b(?: :)?"
    + _days("a")
    + r"(?: das| de| as| a partir das)? "
    + _time("o")
    + r" (?:as|a|ate(?: as)?|e fech\w* (?:as|a|la pelas))(?: \w+)?? "
    + _time("c")
    + _days("b")
)


def _clock(match: re.Match[str], name: str) -> tuple[int, str]:
    hour = int(match.group(f"{name}h"))
    minute = match.group(f"{name}m") or match.group(f"{name}m2")
    return hour, f"{hour}h{minute}" if minute and minute != "00" else f"{hour}h"


def _hours(clause: _Clause) -> Fact | None:
    match = _HOURS.search(clause.text)
    if match is None:
        return None
    (open_hour, opens), (close_hour, closes) = _clock(match, "o"), _clock(match, "c")
    if open_hour > 23 or close_hour > 24:
        return None
    days = ""
    for first, last in (("a1", "a2"), ("b1", "b2")):
        if match.group(first):
            start, end = (_DAYS[match.group(day).split()[0]] for day in (first, last))
            days = f", de {start} a {end}"
    return Fact("hours", f"Horário: das {opens} às {closes}{days}")


_WHAT = (
    r"(?P<what>.+?)(?=$| [.;!?]| (?:, )?(?:e )?(?:tenho|temos|sou|somos|abro|abrimos|fecho|fica|"
    r"meu|minha|mas|porque|pq|ha|faz|desde|gasto|pago)\b| (?:a|por|r \$) ?\d"
    r"| (?:na|no|nas|nos|em|pela|pelo|pra|para|com) )"
)
_PRODUCTS = re.compile(
    r"(?:^|\b(?:eu|a gente|nos|aqui) )(?<!to )(?<!estou )(?<!tou )"
    r"(?:vendo|vendemos|trabalho com|trabalhamos com|fabrico|fabricamos|produzo|produzimos)"
    r" (?!\d|mais\b|menos\b|pouco\b|bem\b|muito\b|no\b|na\b|pelo\b|pela\b|por\b|pra\b|para\b)"
    + _WHAT
)
_PRODUCTS_STATED = re.compile(
    r"\b(?:(?:meus|nossos) (?:principais )?produtos (?:sao|:)|(?:meu|nosso) carro chefe e|"
    r"o que mais vende(?: aqui)? e|o forte (?:aqui |da casa )?e) " + _WHAT.replace("+?", "+", 1)
)


def _products(clause: _Clause) -> Fact | None:
    match = _PRODUCTS_STATED.search(clause.text) or _PRODUCTS.search(clause.text)
    if match is None:
        return None
    what = clause.source(match, "what").strip(" .!;:,")
    what = re.sub(r"^(?:[oa]s?|um|uma) ", "", what, flags=re.IGNORECASE)
    what = re.sub(r" ([,.;:!])", r"\1", what).replace(" - ", "-")[:80].lower()
    if len(what) < 3:
        return None
    return Fact("products", f"Principais produtos: {what}")


_NAME = re.compile(
    r"\b(?:(?:minha|meu|nossa|nosso|a|o) (?:" + _TYPES + r"|empresa|negocio)(?: se)? chama"
    r"|(?:o )?nome (?:da|do) (?:minha |meu |nossa |nosso )?(?:" + _TYPES + r"|empresa|negocio)"
    r" e|nome fantasia(?: e| :)?)(?: a| o)? (?P<name>.+)"
)


def _name(clause: _Clause) -> Fact | None:
    match = _NAME.search(clause.text)
    if match is None:
        return None
    name = clause.source(match, "name")
    name = re.sub(r"\s*[\"'“”]\s*", " ", name).strip(" .!,")
    name = re.sub(r" ([,.;:!])", r"\1", name)
    if not name or len(name) > 60:
        return None
    if name.islower():
        name = " ".join(
            word if i and word in _CONNECTORS else _ACCENTED.get(fold(word), word.capitalize())
            for i, word in enumerate(name.split())
        )
    return Fact("name", f"Nome do negócio: {name}")


_RULES = (_business, _name, _city, _employees, _tax_regime, _hours, _products)
