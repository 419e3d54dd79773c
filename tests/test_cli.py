"""The `esquadra` command as a user runs it: check, graph, chat."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

ESQUADRA = str(Path(sys.executable).parent / "esquadra")
INVALID = REPO_ROOT / "tests" / "data" / "invalid"


def run(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [ESQUADRA, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def test_check_accepts_the_real_squad() -> None:
    result = run("check", "agents.yaml")
    assert result.returncode == 0, result.stderr
    assert "3 active agent(s): leo, max, lia" in result.stdout


@pytest.mark.parametrize("broken", sorted(p.name for p in INVALID.glob("*.yaml")))
def test_check_names_file_path_and_fix_for_each_broken_file(broken: str) -> None:
    result = run("check", broken, cwd=INVALID)
    expected = (INVALID / broken.replace(".yaml", ".expected")).read_text(encoding="utf-8")
    first_line = expected.replace("{dir}", str(INVALID)).splitlines()[0]
    assert result.returncode == 1
    assert first_line in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_check_of_a_missing_file_is_exit_1_without_traceback() -> None:
    result = run("check", "nao_existe.yaml")
    assert result.returncode == 1
    assert "nao_existe.yaml" in result.stderr and "Traceback" not in result.stderr


def test_graph_prints_mermaid_with_every_active_agent() -> None:
    result = run("graph")
    assert result.returncode == 0, result.stderr
    assert result.stdout.lstrip().startswith(("graph TD", "---"))
    for node in ("classify", "leo", "max", "lia"):
        assert node in result.stdout


def test_chat_streams_replies_with_the_agent_name(tmp_path: Path) -> None:
    result = run(
        "chat",
        stdin="Registre receita de R$ 1.500 da venda de hoje\nestagiária pode fazer 8h?\nsair\n",
        env={"ESQUADRA_DATA_DIR": str(tmp_path), "OPENAI_API_KEY": "", "DATABASE_URL": ""},
    )
    assert result.returncode == 0, result.stderr
    assert "Leo › " in result.stdout and "R$ 1.500,00" in result.stdout
    assert "Lia › " in result.stdout
    assert "modo offline" in result.stdout


def test_serve_refuses_a_broken_config_with_the_problem() -> None:
    result = run("serve", "--config", str(INVALID / "temperature.yaml"), "--port", "0")
    assert result.returncode == 1
    assert "agents[0].temperature" in result.stderr


def test_eval_routing_json_has_the_documented_fields() -> None:
    sample = REPO_ROOT / "tests" / "data" / "routing_dev.jsonl"
    result = run("eval-routing", str(sample), "--json", "--no-llm")
    assert result.returncode == 0, result.stderr
    import json

    report = json.loads(result.stdout)
    assert {
        "n",
        "accuracy",
        "per_agent",
        "confusion",
        "layers",
        "p50_ms",
        "p95_ms",
        "items",
    } <= set(report)
    assert report["n"] == len(report["items"]) == len(sample.read_text().splitlines())
    assert 0 <= report["accuracy"] <= 1
    assert set(report["items"][0]) == {"text", "expected", "predicted", "layer", "confidence", "ms"}
    assert abs(sum(layer["share"] for layer in report["layers"].values()) - 1) < 0.01


def test_eval_routing_table_for_people() -> None:
    result = run("eval-routing", "tests/data/routing_dev.jsonl", "--no-llm")
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout and "confusion" in result.stdout


def test_eval_routing_names_a_bad_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "oi", "agent": "max"}\n{"texto": "x"}\n', encoding="utf-8")
    result = run("eval-routing", str(bad))
    assert result.returncode == 1
    assert "bad.jsonl:2" in result.stderr and "Traceback" not in result.stderr


def test_fit_routing_writes_thresholds_next_to_the_yaml(tmp_path: Path) -> None:
    import json

    from conftest import copy_squad

    config = copy_squad(tmp_path)
    (tmp_path / "agents.routing.json").unlink()
    result = run("fit-routing", "--config", str(config))
    assert result.returncode == 0, result.stderr
    fitted = json.loads((tmp_path / "agents.routing.json").read_text(encoding="utf-8"))
    assert set(fitted["semantic"]["thresholds"]) == {"leo", "max", "lia"}
    assert fitted["followup"]["context_weights"]["previous_x_short"] != 0
    assert fitted["head"]["cv_accuracy"] > 0.8


def test_llm_only_baseline_asks_the_model_for_every_message(tmp_path: Path, llm: object) -> None:
    import json

    rows = [
        {"text": "quanto paguei de DAS?", "history": [], "agent": "leo"},
        {"text": "ideia de post", "history": [], "agent": "max"},
    ]
    data = tmp_path / "two.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    llm.configure(
        replies=['{"agent": "leo", "confidence": 0.9}', '{"agent": "lia", "confidence": 0.8}']
    )
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": llm.url, "ESQUADRA_MODEL": "stub-1"}
    result = run("eval-routing", str(data), "--llm-only", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [i["layer"] for i in report["items"]] == ["llm", "llm"]
    assert [i["predicted"] for i in report["items"]] == ["leo", "lia"]
    assert report["accuracy"] == 0.5
    assert len(llm.stub.requests) == 2


def test_llm_only_without_a_model_says_so() -> None:
    result = run(
        "eval-routing", "tests/data/routing_dev.jsonl", "--llm-only", env={"OPENAI_API_KEY": ""}
    )
    assert result.returncode == 1
    assert "needs a model" in result.stderr


def test_serve_refuses_two_workers_on_the_embedded_default(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "", "REDIS_URL": "", "ESQUADRA_DATA_DIR": str(tmp_path)}
    result = run("serve", "--workers", "2", "--port", "1", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--workers 2 needs DATABASE_URL" in lines[0], result.stderr


def test_serve_names_a_missing_database_and_how_to_create_it(postgres_url: str) -> None:
    missing = postgres_url.rpartition("/")[0] + "/esquadra_missing_db"
    result = run("serve", "--port", "1", env={"DATABASE_URL": missing, "REDIS_URL": ""})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "'esquadra_missing_db' does not exist" in lines[0] and "createdb" in lines[0]


def test_a_bad_setting_is_one_line_naming_the_variable() -> None:
    result = run("serve", "--port", "1", env={"ESQUADRA_OFFLINE": "talvez"})
    assert result.returncode == 2
    assert "ESQUADRA_OFFLINE='talvez'" in result.stderr and "Traceback" not in result.stderr


def test_serve_help_lists_every_variable() -> None:
    from core.settings import describe_variables

    result = run("serve", "--help")
    for name, _, _ in describe_variables():
        assert name in result.stdout


def test_migrate_reports_the_schema_version(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "", "ESQUADRA_DATA_DIR": str(tmp_path)}
    result = run("migrate", env=env)
    assert result.returncode == 0, result.stderr
    from checkpointing.migrations import MIGRATIONS

    assert f"sqlite: schema at version {MIGRATIONS[-1].version}" in result.stdout


def test_eval_routing_reads_history_without_agent_names(tmp_path: Path) -> None:
    """Sets written elsewhere give history as {role, content} and the answer as `expected`."""
    import json

    data = tmp_path / "conversations.jsonl"
    line = {
        "text": "gostei da 2, escreve a legenda",
        "history": [
            {"role": "user", "content": "me da 3 ideias de post pro dia dos pais"},
            {"role": "assistant", "content": "1) Kit churrasco 2) Sorteio 3) Foto com o pai"},
        ],
        "expected": "max",
    }
    data.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    result = run("eval-routing", str(data), "--json", "--no-llm")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["items"][0]["predicted"] == "max"
    assert set(report["items"][0]) == {"text", "expected", "predicted", "layer", "confidence", "ms"}
    assert report["categories"]["followup"] == {"n": 1, "accuracy": 1.0}
