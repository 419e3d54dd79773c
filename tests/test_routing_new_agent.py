"""A fourth agent added in YAML alone (no training lines, no `fit-routing`) gets its traffic.

The agent's 25 examples are what a person writes for a new agent; the ten messages below are
phrasings none of them uses. The squad's fit stays the one committed for three agents.
"""

from __future__ import annotations

import asyncio

import pytest
from conftest import REPO_ROOT, copy_squad

from graphs.loader import load_spec
from graphs.routing import build_router, read_routing_data
from graphs.routing_eval import evaluate
from nodes.routing import Router

DATA = REPO_ROOT / "tests" / "data"
CACHE = REPO_ROOT / ".esquadra" / "cache"

LEGAL_EXAMPLES = [
    "o dono do ponto quer aumentar o aluguel no meio do contrato, pode?",
    "cliente ameaçou me processar no procon",
    "como registro a marca da minha loja no inpi",
    "preciso de um contrato social pra abrir sociedade com meu cunhado",
    "meu socio quer sair da empresa, como fica a parte dele",
    "recebi uma notificação extrajudicial, o que faço",
    "cliente quer devolver produto usado, sou obrigado a aceitar?",
    "o codigo de defesa do consumidor me obriga a trocar roupa sem defeito?",
    "lgpd: posso guardar o cpf dos clientes na planilha?",
    "como faço os termos de uso do meu site",
    "o vizinho reclamou do barulho do bar e falou em processo",
    "fui intimado pro juizado de pequenas causas",
    "contrato de prestação de serviço com cliente, tem modelo com cláusula de multa?",
    "alguem copiou o nome da minha marca, posso impedir?",
    "o alvará de funcionamento venceu, que risco eu corro",
    "vigilancia sanitaria me multou, como recorro",
    "posso colocar foto de cliente no insta sem autorização? risco juridico",
    "despejo do ponto comercial, quanto tempo tenho",
    "contrato de locação comercial, o que não pode faltar",
    "fornecedor não entregou e não devolve o dinheiro, como entro na justiça",
    "golpe no pix, dá pra processar o banco?",
    "preciso de advogado pra abrir a empresa?",
    "o que é uma cláusula de não concorrência",
    "garantia legal de produto eletronico é quantos dias",
    "meu contrato de franquia tem multa pra sair, é legal isso?",
]

UNSEEN_LEGAL = [
    "o proprietario da sala mandou carta dizendo que vai retomar o imovel, tenho direito?",
    "uma cliente disse que vai me denunciar no reclame aqui e entrar com ação, o que a lei diz",
    "quero patentear a receita do meu molho, é possivel?",
    "meu ex socio abriu uma loja igual do lado, ele assinou um acordo, posso acionar ele",
    "tenho que ter politica de privacidade no site da loja virtual?",
    "o cliente comprou pela internet e quer se arrepender depois de 10 dias, tenho que aceitar",
    "chegou um oficial de justiça aqui com uma citação, e agora",
    "posso usar o nome de uma marca famosa no nome da minha lanchonete?",
    "o contrato com a franqueadora foi quebrado por eles, consigo rescindir sem pagar multa?",
    "a prefeitura interditou a loja por falta de licença, como reabro legalmente",
]

JURI = (
    """  # ---------------------------------------------------------------- Juri -----
  - id: juri
    name: Juri
    display_name: "Juri · Jurídico"
    description: "Questões jurídicas do negócio: contratos, consumidor, marcas, sociedade."
    prompt: prompts/max.md
    routing:
      keywords: [contrato, processo, advogado, justiça, procon, marca, clausula]
      examples:
"""
    + "".join(f"        - {text!r}\n" for text in LEGAL_EXAMPLES)
    + "\n"
)

LIA_BLOCK = "  # ---------------------------------------------------------------- Lia ------"


@pytest.fixture(scope="module")
def four_agents(tmp_path_factory: pytest.TempPathFactory) -> Router:
    config = copy_squad(tmp_path_factory.mktemp("juri"), {LIA_BLOCK: JURI + LIA_BLOCK})
    return build_router(load_spec(config), cache_dir=CACHE, include_llm=False)


@pytest.fixture(scope="module")
def three_agents() -> Router:
    return build_router(load_spec(REPO_ROOT / "agents.yaml"), cache_dir=CACHE, include_llm=False)


def test_unseen_legal_phrasings_reach_the_new_agent(four_agents: Router) -> None:
    decisions = [asyncio.run(four_agents.route(text)) for text in UNSEEN_LEGAL]
    routed = [d["agent"] for d in decisions]
    assert sum(agent == "juri" for agent in routed) >= 8, list(
        zip(UNSEEN_LEGAL, routed, strict=True)
    )


@pytest.mark.parametrize("dev", ["routing_dev.jsonl", "routing_dev_wide.jsonl"])
def test_the_other_agents_lose_at_most_a_point(
    four_agents: Router, three_agents: Router, dev: str
) -> None:
    rows = read_routing_data(DATA / dev)
    before = asyncio.run(evaluate(three_agents, rows))["accuracy"]
    after = asyncio.run(evaluate(four_agents, rows))["accuracy"]
    assert after >= before - 0.01, f"{dev}: {before:.1%} with three agents, {after:.1%} with four"
