"""Multi-turn pt-BR conversations that the load generator's virtual users hold with the squad.

Written by hand, the way owners of padarias, salões, lojas and clínicas write on WhatsApp: short,
often without accents, with follow-ups that only make sense with the history ("e no mes
passado?", "pode mandar", "faz mais curto"). Each conversation names the agent its opening is
for (`leo` finanças, `max` marketing, `lia` RH); some switch topic midway, as real owners do.

`pick_conversation` gives a virtual user one at random (seeded) and varies its amounts and
people's names deterministically, so a run is reproducible but the squad does not see the same
thousand strings over and over (its embedding cache would turn the benchmark into cache hits).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Conversation:
    """One scripted conversation: the agent its opening message is for, and its user turns."""

    agent: str
    turns: tuple[str, ...]


def _c(agent: str, *turns: str) -> Conversation:
    return Conversation(agent, turns)


CONVERSATIONS: tuple[Conversation, ...] = (
    # ------------------------------------------------------------------ Leo: finanças
    _c(
        "leo",
        "Registre receita de R$ 1.500 da venda de hoje",
        "e mais 320 no pix agora a tarde",
        "quanto deu a semana toda?",
        "e no mes passado?",
    ),
    _c(
        "leo",
        "paguei 2.300 de aluguel hoje, lança como despesa",
        "e a conta de luz veio 480, lança tb",
        "como ta meu caixa esse mes?",
        "da pra pagar o fornecedor de farinha dia 10?",
        "blz, obrigado",
    ),
    _c(
        "leo",
        "quanto vou pagar de simples esse mes? faturei uns 38.000",
        "to no anexo I, comercio",
        "e se eu passar de 360 mil no ano muda a faixa?",
        "faz mais curto",
    ),
    _c(
        "leo",
        "como eu separo o dinheiro da loja do meu dinheiro pessoal? ta tudo misturado",
        "tenho uma conta so no meu cpf",
        "quanto eu devo tirar de pro-labore?",
        "pode mandar um passo a passo",
    ),
    _c(
        "leo",
        "recebi 12 pix hoje que somam 1.870, registra ai",
        "tinha esquecido, teve uma devolução de 95",
        "qual o saldo do dia entao?",
    ),
    _c(
        "leo",
        "vale a pena antecipar as vendas do cartao? a maquininha cobra 3,9%",
        "são uns 9.500 por mes no credito",
        "e se eu negociar pra 2,5?",
        "entendi. e no debito compensa?",
    ),
    _c(
        "leo",
        "me ajuda a montar um fluxo de caixa simples pra padaria",
        "entra uns 45.000 por mes e sai uns 39.000",
        "o que eu faço com a sobra?",
        "e reserva de emergencia, quanto guardar?",
        "faz uma tabelinha",
    ),
    _c(
        "leo",
        "o contador disse que tenho que pagar o DAS ate dia 20, o que acontece se atrasar?",
        "atrasei o de março, era 1.240",
        "como eu emito a guia atualizada?",
    ),
    _c(
        "leo",
        "to pensando em comprar um forno novo de 18.000, parcelo ou pago a vista?",
        "a vista tem 8% de desconto",
        "tenho 25.000 no caixa",
        "e se eu parcelar em 10x sem juros?",
    ),
    _c(
        "leo",
        "preciso de um preço de venda pro bolo de pote, custo 6,50 cada",
        "quero margem de uns 40%",
        "e no ifood, que cobra 27%?",
        "arredonda pra mim",
    ),
    _c(
        "leo",
        "minhas despesas fixas tao em 14.200, quanto preciso vender pra empatar?",
        "a margem media dos produtos é 35%",
        "e se eu cortar 1.000 de despesa?",
    ),
    _c(
        "leo",
        "o cliente me deve 2.750 ha dois meses, como cobro sem perder ele?",
        "ele é cliente antigo",
        "escreve a mensagem pra mim",
        "mais educada",
        "pode mandar",
    ),
    _c(
        "leo",
        "lança saida de 640 de embalagem",
        "e 1.100 do fornecedor de carne",
        "quanto gastei com fornecedor esse mes?",
        "e comparado com o mes passado?",
    ),
    _c(
        "leo",
        "mei pode faturar quanto por ano?",
        "esse ano ja to em 71.000 e ainda é setembro",
        "o que acontece se estourar?",
        "e vale mais a pena virar ME?",
    ),
    _c(
        "leo",
        "qual a diferença entre lucro e caixa? vendi bem e to sem dinheiro",
        "vendo muito no cartao parcelado",
        "ok, e como eu resolvo isso?",
    ),
    # ------------------------------------------------------------------ Max: marketing e vendas
    _c(
        "max",
        "me ajuda a fazer um post pro instagram da promoção de pão de queijo",
        "é leve 10 pague 8",
        "faz mais curto",
        "agora uma versão pro status do whatsapp",
    ),
    _c(
        "max",
        "como eu consigo mais clientes pra barbearia no bairro?",
        "ja tenho instagram mas posto pouco",
        "quantas vezes por semana devo postar?",
        "me da ideias de posts pra semana",
        "pode mandar",
    ),
    _c(
        "max",
        "quero fazer uma campanha pro dia das mães na loja de roupas",
        "o publico é mulher de 30 a 50 anos",
        "tenho uns 800 reais pra investir",
        "vale impulsionar no instagram?",
    ),
    _c(
        "max",
        "escreve mensagem pros clientes no whatsapp avisando que chegou coleção nova",
        "tem que ter um desconto de 15% pra quem vier essa semana",
        "mais informal",
        "coloca emoji",
    ),
    _c(
        "max",
        "como responder avaliação negativa no google? o cliente disse que demorou muito",
        "ele esperou uns 40 minutos mesmo, foi dia de movimento",
        "escreve a resposta pra mim",
        "faz mais curto",
    ),
    _c(
        "max",
        "preciso de um nome pra nova linha de bolos caseiros",
        "gostei da 2",
        "e um slogan pra ela?",
    ),
    _c(
        "max",
        "vale a pena entrar no ifood com a marmitaria?",
        "vendo umas 120 marmitas por dia no balcão",
        "e como eu faço o cardapio ficar atrativo la?",
        "fotos com celular ficam boas?",
    ),
    _c(
        "max",
        "me da ideia de promoção pra segunda feira que o movimento é fraco",
        "é uma pizzaria",
        "e pra terça?",
        "qual dessas da mais resultado?",
        "blz, faz o texto da primeira",
    ),
    _c(
        "max",
        "como faço um programa de fidelidade simples? tipo cartão carimbo",
        "pro salão de beleza",
        "a cada quantos atendimentos eu dou um gratis?",
        "e digital, tem jeito?",
    ),
    _c(
        "max",
        "quanto cobrar de frete pra entregas no bairro?",
        "concorrente cobra 7 reais",
        "e se eu fizer frete gratis acima de 80?",
    ),
    _c(
        "max",
        "escreve uma bio pro instagram da clinica de estetica",
        "o nome é Bella Pele",
        "faz mais curto",
        "pode mandar outra opção",
    ),
    _c(
        "max",
        "como eu faço pra vender mais no natal? loja de presentes",
        "meu ticket medio é 65 reais",
        "e kit presente funciona?",
        "monta 3 kits pra mim",
        "e como divulgo?",
        "valeu",
    ),
    _c(
        "max",
        "o que eu posto quando não tem novidade nenhuma na loja?",
        "é loja de material de construção",
        "da mais exemplos",
    ),
    _c(
        "max",
        "preciso de um texto pra panfleto da inauguração do açaí",
        "inauguração dia 14, sabado",
        "primeiros 50 clientes ganham cobertura extra",
        "mais chamativo",
    ),
    _c(
        "max",
        "vale a pena fazer parceria com influencer local? ela tem 12 mil seguidores",
        "ela pediu 600 reais por 3 stories",
        "como eu sei se deu resultado?",
        "e cupom de desconto ajuda a medir?",
    ),
    # ------------------------------------------------------------------ Lia: RH e pessoas
    _c(
        "lia",
        "quanto custa contratar uma funcionaria CLT com salario de 1.800?",
        "é pro caixa da padaria",
        "e os encargos todos, da quanto por mes?",
        "e no simples muda?",
    ),
    _c(
        "lia",
        "a Joana quer tirar ferias em dezembro, como calculo?",
        "ela ganha 2.100",
        "ela pode vender 10 dias?",
        "e quando eu tenho que pagar?",
    ),
    _c(
        "lia",
        "como calculo o 13º do Carlos? ele entrou em abril",
        "salario de 1.950",
        "e a primeira parcela vence quando?",
        "faz mais curto",
    ),
    _c(
        "lia",
        "posso contratar um estagiario pra loja?",
        "ele faz administração, 3º semestre",
        "quantas horas por dia ele pode trabalhar?",
        "e a bolsa, tem valor minimo?",
    ),
    _c(
        "lia",
        "a Bruna faltou 3 dias sem avisar, o que eu faço?",
        "ela trouxe atestado depois",
        "e se ela faltar de novo sem atestado?",
        "pode mandar um modelo de advertencia",
    ),
    _c(
        "lia",
        "vou ter que demitir o Rafael, ele tem 2 anos de casa",
        "sem justa causa",
        "quanto vai dar a rescisão? ele ganha 2.400",
        "e o aviso previo, ele trabalha ou eu indenizo?",
        "ok, e o fgts?",
    ),
    _c(
        "lia",
        "funcionario pode fazer hora extra todo dia?",
        "a Patricia ta ficando 2 horas a mais quase todo dia",
        "como eu pago isso?",
        "e banco de horas, posso fazer?",
    ),
    _c(
        "lia",
        "quero contratar freelancer pro fim de semana, precisa registrar?",
        "é garçom pra sabado e domingo",
        "e intermitente, como funciona?",
    ),
    _c(
        "lia",
        "a Dona Cida vai se aposentar, muda alguma coisa pra mim?",
        "ela quer continuar trabalhando",
        "tenho que pagar multa do fgts?",
    ),
    _c(
        "lia",
        "como faço uma entrevista de emprego boa pra vaga de atendente?",
        "quais perguntas eu faço?",
        "e como eu sei se a pessoa é honesta?",
        "faz uma lista curta",
    ),
    _c(
        "lia",
        "minha funcionaria ta gravida, quais os direitos dela?",
        "ela ta no contrato de experiencia ainda",
        "e a licença, quem paga?",
        "entendi, obrigado",
    ),
    _c(
        "lia",
        "o Thiago pediu aumento, ganha 1.700, quanto é justo dar?",
        "ele ta comigo faz 3 anos e é muito bom",
        "e se eu der uma comissão em vez de aumento?",
        "pode mandar como eu falo com ele",
    ),
    _c(
        "lia",
        "vale transporte é obrigatorio?",
        "o funcionario mora perto e vem de bicicleta",
        "e vale alimentação?",
    ),
    # ------------------------------------------------------------------ switching topic midway
    _c(
        "leo",
        "registra receita de 2.200 do fim de semana",
        "agora me ajuda com um post agradecendo os clientes pelo movimento",
        "faz mais curto",
        "e a Joana trabalhou no domingo, tenho que pagar dobrado?",
    ),
    _c(
        "max",
        "quero fazer um sorteio no instagram pra ganhar seguidores",
        "o premio é um kit de 150 reais",
        "e isso entra como despesa no caixa?",
        "lança entao como despesa de marketing",
    ),
    _c(
        "lia",
        "preciso contratar mais uma pessoa pro delivery",
        "salario de uns 1.600",
        "da pra pagar isso com o caixa que eu tenho? entrou 31.000 e saiu 27.500",
        "e como eu anuncio a vaga?",
        "pode mandar o texto",
    ),
    _c(
        "max",
        "o movimento caiu muito esse mes, o que eu faço?",
        "faturei 18.000, normalmente é 26.000",
        "quanto eu posso gastar com anuncio sem apertar o caixa?",
        "e uma promoção de aniversario da loja?",
        "faz o texto",
    ),
)

# Names that appear in the conversations, and the pool each user's copy draws replacements from.
_NAMES_IN_TEXT = ("Joana", "Carlos", "Bruna", "Rafael", "Patricia", "Dona Cida", "Thiago")
_NAME_POOL = (
    "Joana", "Carlos", "Bruna", "Rafael", "Patricia", "Thiago", "Aline", "Marcos", "Fernanda",
    "Diego", "Luana", "Edson", "Camila", "Wesley", "Renata", "Jorge", "Simone", "Igor", "Tatiane",
    "Anderson", "Dona Lurdes", "Seu Zé", "Kelly", "Vinicius", "Priscila", "Gabriel", "Rosana",
)  # fmt: skip
_NAME_RE = re.compile("|".join(re.escape(n) for n in _NAMES_IN_TEXT))
# Amounts as owners write them: "1.500", "38.000", "6,50", "480". Years are left alone.
_NUMBER_RE = re.compile(r"(?<![\d.,])(\d{1,3}(?:\.\d{3})+|\d+)(,\d{2})?(?![\d.,]*\d)")


def _format_brl(value: float, cents: bool) -> str:
    whole = int(value)
    text = f"{whole:,}".replace(",", ".")
    if cents:
        text += f",{round((value - whole) * 100):02d}"
    return text


def _vary_number(match: re.Match[str], rng: random.Random) -> str:
    raw, cents = match.group(1), match.group(2)
    value = int(raw.replace(".", "")) + (int(cents[1:]) / 100 if cents else 0.0)
    preceded_by_currency = match.string[max(0, match.start() - 3) : match.start()] == "R$ "
    # Small numbers are counts, days, percentages and hours: changing them could make a
    # sentence wrong ("dia 31"), so only amounts and prices move.
    if (value < 50 and not (cents or preceded_by_currency)) or 1990 <= value <= 2035:
        return match.group(0)
    varied = value * rng.uniform(0.6, 1.6)
    if not cents:
        # Keep amounts looking like amounts people type: 1.530, not 1.527.
        step = 10 if varied < 1000 else 50 if varied < 10_000 else 500
        varied = max(step, round(varied / step) * step)
    return _format_brl(varied, bool(cents))


def personalize(conversation: Conversation, rng: random.Random) -> list[str]:
    """The conversation's turns with this user's amounts and names (consistent across turns)."""
    names = dict(zip(_NAMES_IN_TEXT, rng.sample(_NAME_POOL, len(_NAMES_IN_TEXT)), strict=True))
    turns = []
    for text in conversation.turns:
        text = _NAME_RE.sub(lambda m: names[m.group(0)], text)
        turns.append(_NUMBER_RE.sub(lambda m: _vary_number(m, rng), text))
    return turns


def pick_conversation(rng: random.Random) -> tuple[Conversation, list[str]]:
    """A random conversation and this instance's personalized turns."""
    conversation = rng.choice(CONVERSATIONS)
    return conversation, personalize(conversation, rng)
