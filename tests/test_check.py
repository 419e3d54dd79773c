"""`graphs.loader`: golden diagnostics for broken squad files, and robustness on garbage input.

Each `tests/data/invalid/X.yaml` is a realistic squad with one defect; `X.expected` holds lines the
formatted report must contain (`{dir}` stands for the fixtures' absolute folder). Every line of
`X.expected` that starts with `X.yaml` is one issue header, so the issue count is checked too.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import pytest

from graphs.errors import ConfigError, ConfigIssue
from graphs.loader import LoadedSpec, check_file, load_spec

DATA = Path(__file__).parent / "data"
INVALID = DATA / "invalid"
VALID = DATA / "valid" / "agents.yaml"
GOLDEN = sorted(INVALID.glob("*.yaml"))


def report(issues: list[ConfigIssue]) -> str:
    return "\n".join(issue.format() for issue in issues)


def test_there_are_enough_golden_cases() -> None:
    assert len(GOLDEN) >= 12
    assert all(case.with_suffix(".expected").is_file() for case in GOLDEN)


@pytest.mark.parametrize("case", GOLDEN, ids=lambda case: case.stem)
def test_golden(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Run from the fixtures' folder so issues name the file as `X.yaml`, as a user would type it.
    monkeypatch.chdir(INVALID)
    expected = case.with_suffix(".expected").read_text(encoding="utf-8")
    expected_lines = [
        line.rstrip().replace("{dir}", str(INVALID)) for line in expected.splitlines() if line
    ]

    issues = check_file(case.name)

    output_lines = report(issues).splitlines()
    for line in expected_lines:
        assert line in output_lines, f"missing line:\n{line}\nin output:\n{report(issues)}"
    headers = [line for line in expected_lines if line.startswith(f"{case.name}")]
    assert len(issues) == len(headers), report(issues)


def test_valid_squad_loads() -> None:
    assert check_file(VALID) == []
    loaded = load_spec(VALID)
    assert isinstance(loaded, LoadedSpec)
    assert [agent.id for agent in loaded.spec.agents] == ["leo", "max", "lia"]
    assert loaded.spec.models["default"].model == "gpt-4o-mini"
    assert loaded.path == VALID.resolve()
    assert loaded.base_dir == VALID.resolve().parent


def test_paths_resolve_next_to_the_yaml_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    loaded = load_spec(VALID)
    assert loaded.resolve("prompts/leo.md") == VALID.resolve().parent / "prompts" / "leo.md"
    assert "leo" in loaded.read_text("prompts/leo.md")


def test_load_spec_raises_config_error_with_every_issue() -> None:
    with pytest.raises(ConfigError) as raised:
        load_spec(INVALID / "three_defects.yaml")
    assert len(raised.value.issues) == 3
    assert str(raised.value) == report(raised.value.issues)
    # Survives pickling, e.g. when raised inside a worker process.
    assert pickle.loads(pickle.dumps(raised.value)).issues == raised.value.issues


def test_all_issues_are_reported_with_their_lines() -> None:
    issues = check_file(INVALID / "three_defects.yaml")
    assert [(issue.line, issue.path) for issue in issues] == [
        (16, "agents[0].temperature"),
        (24, "agents[1].id"),
        (45, "classifier.layers[1].threshold"),
    ]
    lines = (INVALID / "three_defects.yaml").read_text(encoding="utf-8").splitlines()
    for issue in issues:
        assert issue.line is not None
        assert issue.source_line == lines[issue.line - 1]


def test_typos_get_a_did_you_mean() -> None:
    [key] = check_file(INVALID / "unknown_agent_key.yaml")
    assert key.hint is not None and key.hint.startswith("did you mean 'temperature'? allowed keys:")
    [tool] = check_file(INVALID / "unknown_tool.yaml")
    assert tool.hint is not None and tool.hint.startswith("did you mean 'intern_hours'?")
    assert "cash_summary" in tool.hint


def test_issue_format() -> None:
    issue = ConfigIssue(
        "agents.yaml",
        23,
        "agents[2].temperature",
        "must be between 0 and 2, got 3.5",
        "use a value from 0 (precise) to 2 (creative)",
        "    temperature: 3.5",
    )
    assert issue.format() == (
        "agents.yaml:23: agents[2].temperature: must be between 0 and 2, got 3.5\n"
        "    23 |     temperature: 3.5\n"
        "    fix: use a value from 0 (precise) to 2 (creative)"
    )
    assert ConfigIssue("x.yaml", None, "", "file not found", None, None).format() == (
        "x.yaml: file not found"
    )


def write(tmp_path: Path, content: str | bytes, name: str = "agents.yaml") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_quote_left_open_until_the_end_points_at_the_quote(tmp_path: Path) -> None:
    text = VALID.read_text(encoding="utf-8").replace("fallback_agent: max", 'fallback_agent: "max')
    [issue] = check_file(write(tmp_path, text))
    assert issue.line == text.splitlines().index('  fallback_agent: "max') + 1
    assert "quoted scalar" in issue.message


def test_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    text = VALID.read_text(encoding="utf-8").replace(
        "models:\n  default:\n",
        "shared: &shared {model: gpt-4o}\nmodels:\n  default:\n    <<: *shared\n",
    )
    issues = check_file(write(tmp_path, text))
    # `shared` is an unknown top-level key; the merge itself, overriding `model`, is fine.
    assert [issue.message for issue in issues] == ["unknown key 'shared'"]


def test_missing_key_points_at_its_parent(tmp_path: Path) -> None:
    text = VALID.read_text(encoding="utf-8").replace("    prompt: prompts/lia.md\n", "")
    [issue] = check_file(write(tmp_path, text))
    assert issue.path == "agents[2].prompt"
    assert issue.source_line == "  - id: lia"


GARBAGE: dict[str, str | bytes] = {
    "empty": "",
    "comments only": "# nothing here\n",
    "binary": bytes(range(256)) * 4,
    "nul byte": "models: \x00\n",
    "not utf-8": b"models:\n  default: \xff\xfe\n",
    "list at top level": "- a\n- b\n",
    "scalar at top level": "42\n",
    "null at top level": "~\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "deep nesting": "[" * 5000,
    "recursive alias": "agents: &a [*a]\nmodels: {}\n",
    "unknown tag": "models: !secret x\n",
    "python tag": "!!python/object/apply:os.system ['true']\n",
    "unhashable key": "? [a]\n: 1\n",
    "integer keys": "1: 2\nmodels:\n  3: {model: x}\nagents: [x, 7, null]\n",
    "tabs": "agents:\n\t- id: x\n",
    "wrong types everywhere": "version: x\nmodels: []\nagents: {}\nclassifier: 3\ndefaults: no\n",
    "bad layers": "models: {}\nagents: [{}]\nclassifier: {layers: [7, {}, {type: 1}]}\n",
}


@pytest.mark.parametrize("content", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_gives_issues_not_tracebacks(tmp_path: Path, content: str | bytes) -> None:
    issues = check_file(write(tmp_path, content))
    assert issues
    assert all(isinstance(issue, ConfigIssue) for issue in issues)
    report(issues)


def test_unusable_paths_give_issues(tmp_path: Path) -> None:
    [directory] = check_file(tmp_path)
    assert "directory" in directory.message
    [missing] = check_file(tmp_path / "nope.yaml")
    assert missing.message == "file not found"
    assert missing.line is None


def test_mutated_squads_never_raise(tmp_path: Path) -> None:
    # Cheap fuzzing: random edits to a valid squad hit many half-broken shapes.
    rng = random.Random(20240601)
    original = VALID.read_text(encoding="utf-8")
    alphabet = " \n\t:-[]{}\"'#&*!|>?,0a\x00"
    for attempt in range(300):
        chars = list(original)
        for _ in range(rng.randint(1, 6)):
            position = rng.randrange(len(chars))
            if rng.random() < 0.5:
                del chars[position]
            else:
                chars.insert(position, rng.choice(alphabet))
        path = write(tmp_path, "".join(chars), f"mutant{attempt}.yaml")
        for issue in check_file(path):
            issue.format()
