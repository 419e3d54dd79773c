"""Cash categories: the defaults, per business segment, and descriptions without identifiers."""

from __future__ import annotations

import re

from core.text import fold

# Ordered: the first category whose keywords appear wins, so specific ones come first
# ("gasolina" is Transporte before "gas" makes it Energia e água).
INCOME: tuple[tuple[str, str], ...] = (
    ("Serviços", r"servic|atendiment|consulta|conserto|manutenc|corte|projeto|mao de obra"),
    ("Vendas", r"vend|fatur|pedido|encomenda|cliente"),
)
EXPENSE: tuple[tuple[str, str], ...] = (
    ("Aluguel", r"aluguel|condominio"),
    ("Transporte", r"transporte|gasolina|combustivel|uber|frete|onibus|estacionamento|pedagio"),
    ("Energia e água", r"\bluz\b|energia|eletric|\bagua\b|\bgas\b|internet|telefone"),
    ("Folha de pagamento", r"salario|folha|funcionari|ferias|decimo|\b13\s*[ºo]\b|pro.?labore"),
    ("Impostos", r"imposto|simples nacional|\bdas\b|inss|fgts|\biss\b|icms|tributo|darf"),
    ("Marketing", r"marketing|anuncio|propaganda|instagram|facebook|google|panfleto|impulsion"),
    ("Material", r"material|materiais|limpeza|escritorio|embalage"),
    ("Fornecedores", r"fornecedor|mercadoria|estoque|insumo|materia.prima|revenda"),
)
OTHER = {"income": "Outras receitas", "expense": "Outras despesas"}

# Segment-specific expense categories, checked before the defaults: a padaria's flour is
# "Insumos", a salon's shampoo "Produtos".
SEGMENT_EXPENSES: dict[str, tuple[tuple[str, str], ...]] = {
    "food": (("Insumos", r"farinha|trigo|ovos?|leite|acucar|carne|hortifruti|frios"),),
    "beauty": (("Produtos", r"shampoo|tintura|esmalte|produto|cosmetic|lamina"),),
    "health": (("Materiais clínicos", r"luva|seringa|gaze|descartav|medicament"),),
    "retail": (("Mercadorias", r"mercadoria|estoque|reposic|colecao|atacado"),),
}


def default_for(kind: str, text: str, segment: str | None = None) -> str:
    """The category a message's words point to (folded or not), else 'Outras …'."""
    folded = fold(text)
    tables = (SEGMENT_EXPENSES.get(segment or "", ()), EXPENSE) if kind == "expense" else (INCOME,)
    for table in tables:
        for name, pattern in table:
            if re.search(pattern, folded):
                return name
    return OTHER[kind]


def all_categories(segment: str | None = None) -> list[str]:
    """Every category a segment's cash book offers by default."""
    names = [n for n, _ in INCOME] + [OTHER["income"]]
    names += [n for n, _ in SEGMENT_EXPENSES.get(segment or "", ())]
    return names + [n for n, _ in EXPENSE] + [OTHER["expense"]]


# Identifiers never belong in a stored description (they would leak into exports and prompts).
_IDENTIFIERS = re.compile(
    r"\b\d{3}\.?\d{3}\.?\d{3}-?\d{2}\b"  # CPF
    r"|\b[0-9A-Z]{2}\.?[0-9A-Z]{3}\.?[0-9A-Z]{3}/?[0-9A-Z]{4}-?\d{2}\b"  # CNPJ, also alphanumeric
    r"|[\w.+-]+@[\w-]+\.[\w.]+"  # e-mail
    r"|(?:\+?55\s?)?\(?\b\d{2}\)?\s?9?\d{4}-?\d{4}\b"  # phone
    r"|\b(?:\d[ -]?){13,19}\b",  # card
    re.IGNORECASE,
)


def clean_description(text: str) -> str:
    """The description without CPF, CNPJ, e-mail, phone or card numbers."""
    return " ".join(_IDENTIFIERS.sub(" ", text).split())
