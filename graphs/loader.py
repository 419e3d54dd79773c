"""Load `agents.yaml` into a `SquadSpec`, reporting every problem with its file, line and YAML path.

Two passes, like Rasa's `data validate`:

1. structure: the file can be read, is YAML, has no duplicate keys and fits `graphs.schema`;
2. meaning: referenced files exist, tools and model profiles are known, ids are unique and the
   fallback agent can take traffic.

Pass 2 only runs when pass 1 found nothing: on a half-parsed file it would mostly repeat pass 1.
"""

from __future__ import annotations

import difflib
import os
import re
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticUndefined

from graphs.errors import ConfigError, ConfigIssue
from graphs.schema import AGENT_ID_PATTERN, MOVED_KEYS, SquadSpec

Segment = str | int
Loc = tuple[Segment, ...]
Problem = tuple[Loc, str, str | None]  # where (schema path), what, how to fix

# The line breaks YAML itself counts; str.splitlines() knows more, which would shift line numbers.
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_SHOWN = 60


@dataclass(frozen=True)
class LoadedSpec:
    """A validated squad and where it came from, so relative paths in it can be resolved."""

    spec: SquadSpec
    path: Path
    base_dir: Path

    def resolve(self, relative: str) -> Path:
        """Paths in the YAML are relative to the YAML file's directory, not to the cwd."""
        return self.base_dir / relative

    def read_text(self, relative: str) -> str:
        return self.resolve(relative).read_text(encoding="utf-8")


def load_spec(path: str | Path) -> LoadedSpec:
    """The validated squad at `path`; ConfigError listing every issue when it is not usable."""
    loaded, issues = _check(path)
    if loaded is None:
        raise ConfigError(issues)
    return loaded


def check_file(path: str | Path) -> list[ConfigIssue]:
    """Every issue in the squad file at `path`; [] when it is usable. Bad config never raises."""
    return _check(path)[1]


def _check(path: str | Path) -> tuple[LoadedSpec | None, list[ConfigIssue]]:
    display = str(path)
    file_path = Path(os.path.abspath(path))
    text, issues = _read(file_path, display)
    if text is None:
        return None, issues
    source = _Source(display, _LINE_BREAK.split(text))
    doc, data, issues = _parse(text, source)
    if doc is None:
        return None, issues
    spec, schema_issues = _validate(data, doc)
    issues = _by_line(issues + schema_issues)
    if spec is None or issues:
        return None, issues
    issues = _by_line(_check_meaning(spec, doc, file_path.parent))
    if issues:
        return None, issues
    return LoadedSpec(spec=spec, path=file_path, base_dir=file_path.parent), []


# --- reading and parsing -------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """The file as the user named it plus its lines, to quote the offending one in each issue."""

    display: str
    lines: Sequence[str]

    def issue(
        self, line: int | None, path: str, message: str, hint: str | None = None
    ) -> ConfigIssue:
        return ConfigIssue(self.display, line, path, message, hint, self._quote(line))

    def _quote(self, line: int | None) -> str | None:
        if line is None or not 0 < line <= len(self.lines):
            return None
        text = self.lines[line - 1].rstrip()
        # Control characters from a binary file would garble the terminal; show them escaped.
        text = "".join(c if c.isprintable() or c == "\t" else repr(c)[1:-1] for c in text)
        return text if len(text) <= 200 else text[:200] + "…"


def _read(file_path: Path, display: str) -> tuple[str | None, list[ConfigIssue]]:
    nowhere = _Source(display, ())
    try:
        raw = file_path.read_bytes()
    except FileNotFoundError:
        return None, [nowhere.issue(None, "", "file not found", f"looked for {file_path}")]
    except IsADirectoryError:
        hint = None
        if (file_path / "agents.yaml").is_file():
            hint = f"did you mean {Path(display) / 'agents.yaml'}?"
        return None, [nowhere.issue(None, "", "is a directory, not a YAML file", hint)]
    except PermissionError:
        return None, [nowhere.issue(None, "", "cannot read the file: permission denied")]
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return None, [nowhere.issue(None, "", f"cannot read the file: {reason}")]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        text = raw.decode("utf-8", errors="replace")
        source = _Source(display, _LINE_BREAK.split(text))
        line = len(_LINE_BREAK.findall(raw[: exc.start].decode("utf-8", errors="replace"))) + 1
        message = f"not UTF-8 text: byte 0x{raw[exc.start]:02x} cannot be decoded"
        return None, [source.issue(line, "", message, "save the file as UTF-8")]


@dataclass
class _Doc:
    """The composed YAML node tree: it keeps the line of every key and item, data does not."""

    root: yaml.MappingNode
    source: _Source

    def __post_init__(self) -> None:
        # A separate constructor: turning key nodes into values must not disturb the loader's.
        self._constructor = yaml.constructor.SafeConstructor()

    def key_of(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return None
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.YAMLError:
            return node.value

    def locate(self, loc: Loc) -> tuple[str, int | None]:
        """The YAML path text for `loc` and the line of the deepest node that exists along it."""
        node: yaml.Node | None = self.root
        line = self.root.start_mark.line + 1
        path = ""
        for segment in loc:
            if segment == "[key]":  # pydantic's marker for "the key itself": same place
                continue
            in_list = isinstance(segment, int) and not isinstance(node, yaml.MappingNode)
            path += f"[{segment}]" if in_list else f".{segment}" if path else str(segment)
            node, found_line = self.step(node, segment)
            line = found_line or line
        return path, line

    def node_at(self, loc: Loc) -> yaml.Node | None:
        node: yaml.Node | None = self.root
        for segment in loc:
            node, _ = self.step(node, segment)
        return node

    def step(self, node: yaml.Node | None, segment: Segment) -> tuple[yaml.Node | None, int | None]:
        """The child at `segment` and the line that names it (the key's line for mappings)."""
        if isinstance(node, yaml.SequenceNode) and isinstance(segment, int):
            if 0 <= segment < len(node.value):
                item = node.value[segment]
                return item, item.start_mark.line + 1
        elif isinstance(node, yaml.MappingNode):
            # Last match wins, as in PyYAML's construction (and after `<<` merges are flattened).
            for key_node, value_node in reversed(node.value):
                if self.key_of(key_node) == segment:
                    return value_node, key_node.start_mark.line + 1
        return None, None

    def issue(self, loc: Loc, message: str, hint: str | None = None) -> ConfigIssue:
        path, line = self.locate(loc)
        return self.source.issue(line, path, message, hint)


def _parse(text: str, source: _Source) -> tuple[_Doc | None, Any, list[ConfigIssue]]:
    try:
        loader = yaml.SafeLoader(text)  # the reader rejects control characters right here
    except yaml.YAMLError as exc:
        return None, None, [_yaml_issue(exc, text, source)]
    try:
        node = loader.get_single_node()
        if node is None:
            message = "the file is empty: a squad needs at least 'models' and 'agents'"
            return None, None, [source.issue(None, "", message)]
        if not isinstance(node, yaml.MappingNode):
            kind = _node_kind(node)
            message = f"the top level must be a mapping with 'models' and 'agents', got {kind}"
            return None, None, [source.issue(node.start_mark.line + 1, "", message)]
        doc = _Doc(node, source)
        # Before construction: it flattens `<<` merges into the node, which would look like dups.
        issues = _duplicate_keys(doc)
        data = loader.construct_document(node)
        return doc, data, issues
    except yaml.YAMLError as exc:
        return None, None, [_yaml_issue(exc, text, source)]
    except RecursionError:
        message = "nested too deeply to be a squad file"
        return None, None, [source.issue(None, "", message)]
    finally:
        loader.dispose()


def _node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return _show(node.value) if isinstance(node, yaml.ScalarNode) else "a mapping"


def _duplicate_keys(doc: _Doc) -> list[ConfigIssue]:
    """PyYAML silently keeps the last of two equal keys; a squad file almost never means that."""
    issues: list[ConfigIssue] = []
    seen: set[int] = set()  # aliases share nodes; visit each once (and survive recursive ones)
    stack: list[tuple[yaml.Node, Loc]] = [(doc.root, ())]
    while stack:
        node, loc = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*loc, i)) for i, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = doc.key_of(key_node)
                line = key_node.start_mark.line + 1
                if key_node.tag != _MERGE_TAG and _hashable(key):
                    if key in first_line:
                        issues.append(_duplicate_issue(doc, (*loc, key), line, first_line[key]))
                    else:
                        first_line[key] = line
                stack.append((value_node, (*loc, key)))
    return issues


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return value is not None


def _duplicate_issue(doc: _Doc, loc: Loc, line: int, first: int) -> ConfigIssue:
    path, _ = doc.locate(loc)
    message = f"duplicate key '{loc[-1]}': already set on line {first}"
    hint = "YAML would silently keep only the last value; remove one of them"
    return doc.source.issue(line, path, message, hint)


def _yaml_issue(exc: yaml.YAMLError, text: str, source: _Source) -> ConfigIssue:
    if isinstance(exc, yaml.reader.ReaderError):
        line = len(_LINE_BREAK.findall(text, 0, exc.position)) + 1
        message = f"invalid character U+{exc.character:04X}: YAML does not allow control characters"
        return source.issue(line, "", message, "the file looks binary or has a wrong encoding")
    if not isinstance(exc, yaml.MarkedYAMLError):
        return source.issue(None, "", f"invalid YAML: {exc}")
    mark = exc.problem_mark or exc.context_mark
    # An unclosed quote or bracket is reported at the end of the file; where it opens is useful.
    if exc.context_mark is not None and "end of stream" in (exc.problem or ""):
        mark = exc.context_mark
    line = mark.line + 1 if mark is not None else None
    what = "; ".join(part for part in (exc.context, exc.problem) if part)
    if isinstance(exc, yaml.constructor.ConstructorError) and "constructor for the tag" in what:
        tag = what.rsplit("tag", 1)[-1].strip()
        return source.issue(line, "", f"unsupported YAML tag {tag}", "remove the tag")
    column = f" at column {mark.column + 1}" if mark is not None else ""
    hint = _syntax_hint(what, source, line)
    return source.issue(line, "", f"invalid YAML{column}: {what}", hint)


_SYNTAX_HINTS = {
    "mapping values are not allowed": "check this line's indentation, or quote a value that "
    "contains ': '",
    "'\\t' that cannot start any token": "indent with spaces; YAML does not allow tabs",
    "quoted scalar": "close the quote opened on this line",
    "expected <block end>": "check the indentation: keys of one mapping must line up",
    "could not find expected ':'": "each key needs ': ' before its value",
    "undefined alias": "define the anchor (&name) before using it (*name)",
}


def _syntax_hint(what: str, source: _Source, line: int | None) -> str | None:
    if "quoted scalar" not in what and line is not None:
        # A quote left open swallows the following lines; the parser only trips later on.
        opened = _unclosed_quote_before(source.lines, line)
        if opened is not None:
            return f"line {opened} opens a quote that is not closed on that line"
    return next((hint for key, hint in _SYNTAX_HINTS.items() if key in what), None)


_QUOTED_VALUE = re.compile(r"""^\s*(?:-\s+)?(?:[^\s#"'{\[][^#:]*:\s+)?(["'])(.*)$""")


def _unclosed_quote_before(lines: Sequence[str], line: int) -> int | None:
    for number in range(min(line, len(lines)), 0, -1):
        match = _QUOTED_VALUE.match(lines[number - 1])
        if match is None:
            continue
        quote, rest = match.groups()
        closed = re.search(r'(?<!\\)"', rest) if quote == '"' else "'" in rest.replace("''", "")
        if not closed:
            return number
    return None


# --- pass 1: structure -----------------------------------------------------------------------


def _validate(data: Any, doc: _Doc) -> tuple[SquadSpec | None, list[ConfigIssue]]:
    try:
        return SquadSpec.model_validate(data), []
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    return None, [_schema_issue(error, data, doc) for error in errors]


@dataclass(frozen=True)
class _Target:
    """What the schema says about the place an error points at."""

    loc: Loc  # pydantic's loc without discriminator tags: the YAML path
    model: type[BaseModel] | None  # the model owning the last key
    field: FieldInfo | None
    annotation: Any  # the type expected at that place


def _schema_target(loc: Loc) -> _Target:
    """Walk the schema along `loc`, dropping the tag segments pydantic adds for unions."""
    annotation: Any = SquadSpec
    kept: list[Segment] = []
    model: type[BaseModel] | None = None
    field: FieldInfo | None = None
    for segment in loc:
        annotation = _unwrap(annotation)
        members = _union_members(annotation)
        if members and isinstance(segment, str) and segment in members:
            annotation = members[segment]
            continue
        kept.append(segment)
        model, field = None, None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
            field = annotation.model_fields.get(segment) if isinstance(segment, str) else None
            annotation = field.annotation if field is not None else Any
        elif get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) is dict:
            key_type, value_type = get_args(annotation)
            annotation = key_type if segment == "[key]" else value_type
        else:
            annotation = Any
    return _Target(tuple(kept), model, field, _unwrap(annotation))


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _union_members(annotation: Any) -> dict[str, type[BaseModel]]:
    """Tag value -> model, for a union of models told apart by a Literal `type` field."""
    if get_origin(annotation) not in (Union, types.UnionType):
        return {}
    members: dict[str, type[BaseModel]] = {}
    for member in get_args(annotation):
        tag_field = getattr(member, "model_fields", {}).get("type")
        if tag_field is not None and get_origin(tag_field.annotation) is Literal:
            members.update(dict.fromkeys(get_args(tag_field.annotation), member))
    return members


def _schema_issue(error: ErrorDetails, data: Any, doc: _Doc) -> ConfigIssue:
    return doc.issue(*describe_schema_error(error, data))


def describe_schema_error(error: ErrorDetails, data: Any) -> Problem:
    """A pydantic error on the squad's data (`SquadSpec` shape) as (schema path, message, fix),
    worded as `esquadra check` words it; used without a YAML file by the registry's patches."""
    target = _schema_target(tuple(error["loc"]))
    kind = error["type"]
    value = error.get("input")
    loc = target.loc
    if kind == "union_tag_invalid":
        loc = (*loc, "type")  # point at the bad `type:` line rather than the layer
    elif kind == "value_error" and isinstance(value, list):
        loc = _failing_item(loc, value, error["msg"])
    message, hint = _describe(error, target, data)
    return loc, message, hint


def _failing_item(loc: Loc, items: list[Any], msg: str) -> Loc:
    """A list validator names the bad item in its message; point at that item's line."""
    for index, item in enumerate(items):
        if isinstance(item, str) and repr(item) in msg:
            return (*loc, index)
    return loc


def _describe(error: ErrorDetails, target: _Target, data: Any) -> tuple[str, str | None]:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    name = target.loc[-1] if target.loc else ""
    got = f"got {_show(value)}"
    if kind == "invalid_key" or error["loc"][-1:] == ("[key]",):
        return f"keys must be text, {got}", "put the key in quotes"
    if kind == "extra_forbidden" and target.loc in MOVED_KEYS:
        return _moved(MOVED_KEYS[target.loc], value)
    if kind == "extra_forbidden":
        allowed = list(target.model.model_fields) if target.model else []
        return f"unknown key '{name}'", _did_you_mean(name, allowed, "allowed keys")
    if kind == "missing":
        description = target.field.description if target.field else None
        hint = f"add '{name}:'"
        if description:
            hint += f" ({description[0].lower()}{description[1:].rstrip('.')})"
        return f"required key '{name}' is missing", hint
    if kind in _RANGE_ERRORS:
        return f"must be {_range_text(target.field, ctx)}, {got}", _range_hint(target, data)
    if kind in _TYPE_NAMES:
        return f"must be {_TYPE_NAMES[kind]}, {got}", _type_hint(kind, value, target.field)
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == AGENT_ID_PATTERN:
        example = _agent_id_like(str(value))
        message = (
            f"agent id {_show(value)} must be lower-case letters, digits or _ (e.g. '{example}')"
        )
        return message, "start with a letter, at most 32 characters; 'name' can keep capitals"
    if kind == "string_too_short":
        return "must not be empty", None
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length', 1)} item(s), got none", None
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}, {got}", None
    if kind == "union_tag_invalid":
        tags = list(_union_members(target.annotation))
        tag = str(ctx.get("tag"))
        message = f"unknown {_item_noun(target.loc)}type '{tag}'; allowed types: {_quoted(tags)}"
        close = difflib.get_close_matches(tag, tags, n=1, cutoff=0.6)
        return message, f"did you mean '{close[0]}'?" if close else None
    if kind == "union_tag_not_found":
        tags = list(_union_members(target.annotation))
        return f"required key 'type' is missing; allowed types: {_quoted(tags)}", None
    if kind == "recursion_loop":
        return "refers to itself through a YAML alias", "replace the alias with a copy"
    if kind in ("value_error", "assertion_error"):
        return error["msg"].split(", ", 1)[-1], None
    msg = error["msg"]
    return f"{msg[:1].lower()}{msg[1:]}, {got}", None


def _moved(new: tuple[str, ...], value: Any) -> tuple[str, str]:
    """A key from an older layout: where it lives now, and how to write it there."""
    parent, section, key = ".".join(new[:-2]), new[-2], new[-1]
    if isinstance(value, dict | list):
        hint = f"under '{parent}:', move '{key}:' and its lines into a '{section}:' section"
    else:
        hint = f"under '{parent}:', write '{section}: {{{key}: {_show(value)}}}'"
    return f"moved to {'.'.join(new)}", hint


_RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})
_TYPE_NAMES = {
    "float_type": "a number",
    "float_parsing": "a number",
    "decimal_type": "a number",
    "decimal_parsing": "a number",
    "finite_number": "a finite number",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
}


def _range_text(field: FieldInfo | None, ctx: dict[str, Any]) -> str:
    # pydantic names only the bound that failed; "between 0 and 2" needs both from the field.
    bounds = dict(ctx)
    for constraint in field.metadata if field is not None else ():
        for bound in ("ge", "gt", "le", "lt"):
            if getattr(constraint, bound, None) is not None:
                bounds[bound] = getattr(constraint, bound)
    low_incl, low_excl = bounds.get("ge"), bounds.get("gt")
    high_incl, high_excl = bounds.get("le"), bounds.get("lt")
    if low_incl is not None and high_incl is not None:
        return f"between {_number(low_incl)} and {_number(high_incl)}"
    parts = []
    if low_incl is not None:
        parts.append(f"at least {_number(low_incl)}")
    if low_excl is not None:
        parts.append(f"greater than {_number(low_excl)}")
    if high_incl is not None:
        parts.append(f"at most {_number(high_incl)}")
    if high_excl is not None:
        parts.append(f"less than {_number(high_excl)}")
    return " and ".join(parts)


def _range_hint(target: _Target, data: Any) -> str | None:
    name = target.loc[-1] if target.loc else ""
    if name == "temperature":
        hint = "use a value from 0 (precise) to 2 (creative)"
        example = _other_agent_temperature(data, target.loc)
        return f"{hint}; {example}" if example else hint
    if name == "threshold":
        return "a layer decides when its confidence (0 to 1) is above this; try 0.5"
    default = target.field.default if target.field is not None else PydanticUndefined
    if _is_number(default):
        return f"the default is {_number(default)}"
    return None


def _other_agent_temperature(data: Any, loc: Loc) -> str | None:
    """A sibling's working value is the most convincing example of a valid one."""
    agents = data.get("agents") if isinstance(data, dict) else None
    if not isinstance(agents, list):
        return None
    for index, agent in enumerate(agents):
        if loc[:2] == ("agents", index) or not isinstance(agent, dict):
            continue
        temperature = agent.get("temperature")
        if _is_number(temperature) and 0 <= temperature <= 2:
            who = agent.get("name") or agent.get("id") or f"agents[{index}]"
            return f"{who} uses {_number(temperature)}"
    return None


def _item_noun(loc: Loc) -> str:
    """'layer ' for classifier.layers[1]: the list's name, singular."""
    names = [segment for segment in loc if isinstance(segment, str)]
    return f"{names[-1].removesuffix('s')} " if names else ""


def _type_hint(kind: str, value: Any, field: FieldInfo | None) -> str | None:
    if kind == "string_type" and isinstance(value, int | float | bool | Decimal):
        return "put it in quotes to make it text"
    if kind == "list_type" and isinstance(value, str):
        return f"write a list: [{value}]"
    default = field.default if field is not None else PydanticUndefined
    if _TYPE_NAMES[kind].endswith("number") and _is_number(default):
        return f"the default is {_number(default)}"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _agent_id_like(value: str) -> str:
    candidate = re.sub(r"[^a-z0-9_]+", "_", value.strip().lower()).strip("_")
    if not candidate or not candidate[0].isalpha():
        candidate = f"agent_{candidate}".rstrip("_")
    return candidate[:32]


# --- pass 2: meaning -------------------------------------------------------------------------


def _check_meaning(spec: SquadSpec, doc: _Doc, base_dir: Path) -> list[ConfigIssue]:
    problems = meaning_problems(spec, base_dir, is_set=lambda loc: _is_set(doc, loc))
    return [doc.issue(loc, message, hint) for loc, message, hint in problems]


def meaning_problems(
    spec: SquadSpec, base_dir: Path | None = None, is_set: Callable[[Loc], bool] | None = None
) -> list[Problem]:
    """Pass 2 on a spec that has no YAML behind it (the registry's live configs, an admin patch).

    `base_dir` None skips the checks that read the file system (prompt, knowledge and training
    files); `is_set` tells whether a key was written or is a default (wording only).
    """
    written = is_set or (lambda loc: True)
    return [
        *_duplicate_ids(spec),
        *(_missing_files(spec, base_dir) if base_dir is not None else ()),
        *_unknown_tools(spec),
        *_unknown_models(spec, written),
        *_traffic(spec, written),
        *_repeated_layers(spec),
        *(_classifier_references(spec, base_dir) if base_dir is not None else ()),
        *_classifier_models(spec),
        *_alert_problems(spec),
    ]


def _duplicate_ids(spec: SquadSpec) -> Iterable[Problem]:
    first: dict[str, int] = {}
    for index, agent in enumerate(spec.agents):
        if agent.id in first:
            message = f"duplicate agent id '{agent.id}': agents[{first[agent.id]}] already uses it"
            yield (("agents", index, "id"), message, "every agent needs its own id")
        else:
            first[agent.id] = index


def _missing_files(spec: SquadSpec, base_dir: Path) -> Iterable[Problem]:
    for index, agent in enumerate(spec.agents):
        places: list[tuple[Loc, str, str]] = [(("agents", index, "prompt"), "prompt", agent.prompt)]
        places += [
            (("agents", index, "knowledge", k), "knowledge", relative)
            for k, relative in enumerate(agent.knowledge)
        ]
        for loc, label, relative in places:
            problem = _file_problem(base_dir, relative, label)
            if problem is not None:
                yield (loc, *problem)


def _file_problem(base_dir: Path, relative: str, label: str) -> tuple[str, str | None] | None:
    path = base_dir / relative
    if path.is_file():
        return None
    if path.is_dir():
        return f"{label} file {relative} is a directory, not a file", None
    message = f"{label} file {relative} not found (looked in {base_dir})"
    return message, _nearby_files_hint(path, relative)


def _nearby_files_hint(path: Path, relative: str) -> str | None:
    folder = Path(relative).parent
    try:
        names = sorted(entry.name for entry in path.parent.iterdir() if entry.is_file())
    except OSError:
        return f"there is no folder {folder}/ there" if str(folder) != "." else None
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
    if close:
        return f"did you mean {folder / close[0]}?"
    if names:
        return f"files in {folder}/: {', '.join(names[:10])}"
    return None


def _unknown_tools(spec: SquadSpec) -> Iterable[Problem]:
    # Lazily: tools pull in their own dependencies.
    from nodes.tools import TOOLS as FACT_TOOLS
    from tools.registry import TOOLS

    known = sorted({*TOOLS, *FACT_TOOLS})
    guarded = {(w.agent, w.tool) for w in spec.workflows if "confirm" in w.steps}
    for index, agent in enumerate(spec.agents):
        for k, tool in enumerate(agent.tools):
            if tool not in TOOLS and tool not in FACT_TOOLS:
                hint = _did_you_mean(tool, known, "known tools")
                yield (("agents", index, "tools", k), f"unknown tool '{tool}'", hint)
            elif tool in TOOLS and TOOLS[tool].writes and (agent.id, tool) not in guarded:
                message = f"tool '{tool}' writes the owner's data and nothing confirms it first"
                hint = f"declare a workflow (agent: {agent.id}, tool: {tool}) with a confirm step"
                yield (("agents", index, "tools", k), message, hint)
    yield from _workflow_problems(spec)


def _workflow_problems(spec: SquadSpec) -> Iterable[Problem]:
    from tools.registry import TOOLS

    agents = {agent.id: agent for agent in spec.agents}
    seen: set[str] = set()
    for index, workflow in enumerate(spec.workflows):
        where: Loc = ("workflows", index)
        if workflow.id in seen or workflow.id in agents:
            yield ((*where, "id"), f"workflow id '{workflow.id}' is already used", None)
        seen.add(workflow.id)
        agent = agents.get(workflow.agent)
        if agent is None:
            hint = _did_you_mean(workflow.agent, list(agents), "agents")
            yield ((*where, "agent"), f"unknown agent '{workflow.agent}'", hint)
        spec_tool = TOOLS.get(workflow.tool)
        if spec_tool is None:
            hint = _did_you_mean(workflow.tool, sorted(TOOLS), "tools")
            yield ((*where, "tool"), f"unknown tool '{workflow.tool}'", hint)
            continue
        if agent is not None and workflow.tool not in agent.tools:
            message = f"agent '{agent.id}' does not list tool '{workflow.tool}'"
            yield ((*where, "tool"), message, f"add it to the agent's tools: [{workflow.tool}]")
        fields = {*spec_tool.args.model_fields, *spec_tool.result.model_fields}
        for key in ("confirm", "reply", "cancelled"):
            for name in _template_fields(getattr(workflow, key) or ""):
                if name not in fields:
                    hint = _did_you_mean(name, sorted(fields), f"fields of {workflow.tool}")
                    yield ((*where, key), f"unknown field '{{{name}}}' in the text", hint)


def _template_fields(text: str) -> list[str]:
    import string

    try:
        return [field for _, field, _, _ in string.Formatter().parse(text) if field]
    except ValueError:
        return ["{"]  # an unbalanced brace: reported as an unknown field


def _unknown_models(spec: SquadSpec, is_set: Callable[[Loc], bool]) -> Iterable[Problem]:
    profiles = list(spec.models)
    for index, agent in enumerate(spec.agents):
        if agent.model in spec.models:
            continue
        loc: Loc = ("agents", index, "model")
        implicit = "" if is_set(loc) else " (the default when 'model' is not set)"
        hint = _did_you_mean(agent.model, profiles, "profiles under 'models'")
        if not profiles:
            hint = "define a profile under 'models'"
        yield (loc, f"unknown model profile '{agent.model}'{implicit}", hint)


def _traffic(spec: SquadSpec, is_set: Callable[[Loc], bool]) -> Iterable[Problem]:
    active = [agent.id for agent in spec.active_agents()]
    if not active:
        message = "no active agent: every agent has 'active: false'"
        yield (("agents",), message, "set 'active: true' on at least one agent")
        return  # the fallback is necessarily inactive too; one fix covers both
    fallback = spec.defaults.fallback_agent
    loc: Loc = ("defaults", "fallback_agent")
    implicit = "" if is_set(loc) else " (the default)"
    index = next((i for i, agent in enumerate(spec.agents) if agent.id == fallback), None)
    if index is None:
        hint = _did_you_mean(fallback, active, "active agents")
        yield (loc, f"fallback agent '{fallback}'{implicit} is not an agent", hint)
    elif not spec.agents[index].active:
        message = (
            f"fallback agent '{fallback}'{implicit} is inactive (agents[{index}] has active: false)"
        )
        hint = f"activate it, or pick an active agent: {', '.join(active)}"
        yield (loc, message, hint)


def _repeated_layers(spec: SquadSpec) -> Iterable[Problem]:
    first: dict[str, int] = {}
    for index, layer in enumerate(spec.classifier.layers):
        if layer.type in first:
            message = (
                f"layer type '{layer.type}' is repeated: "
                f"classifier.layers[{first[layer.type]}] already uses it"
            )
            hint = "each layer type runs once; remove this layer"
            yield (("classifier", "layers", index, "type"), message, hint)
        else:
            first[layer.type] = index


def _classifier_references(spec: SquadSpec, base_dir: Path) -> Iterable[Problem]:
    classifier = spec.classifier
    for k, relative in enumerate(classifier.training_data):
        problem = _file_problem(base_dir, relative, "training data")
        if problem is not None:
            yield (("classifier", "training_data", k), *problem)


def _classifier_models(spec: SquadSpec) -> Iterable[Problem]:
    profiles = list(spec.models)
    for index, layer in enumerate(spec.classifier.layers):
        if layer.type == "llm" and layer.model not in spec.models:
            hint = _did_you_mean(layer.model, profiles, "profiles under 'models'")
            loc: Loc = ("classifier", "layers", index, "model")
            yield (loc, f"unknown model profile '{layer.model}'", hint)


def _alert_problems(spec: SquadSpec) -> Iterable[Problem]:
    """Alert rule ids are unique (they name the alert in notices and the API) and an `agent`
    filter names an agent of the squad."""
    agents = [agent.id for agent in spec.agents]
    first: dict[str, int] = {}
    for index, rule in enumerate(spec.alerts.rules):
        where: Loc = ("alerts", "rules", index)
        if rule.id in first:
            message = (
                f"duplicate alert id '{rule.id}': alerts.rules[{first[rule.id]}] already uses it"
            )
            yield ((*where, "id"), message, "every rule needs its own id")
        else:
            first[rule.id] = index
        if rule.agent is not None and rule.agent not in agents:
            hint = _did_you_mean(rule.agent, agents, "agents")
            yield ((*where, "agent"), f"unknown agent '{rule.agent}'", hint)


def _is_set(doc: _Doc, loc: Loc) -> bool:
    return doc.node_at(loc) is not None


# --- small helpers ---------------------------------------------------------------------------


def _by_line(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    # File order reads best; issues without a line (whole-file problems) come first.
    return sorted(issues, key=lambda issue: issue.line or 0)


def _did_you_mean(word: Segment, choices: Sequence[str], label: str) -> str:
    listing = f"{label}: {', '.join(choices)}" if choices else f"there are no {label}"
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? {listing}" if close else listing


def _quoted(words: Iterable[str]) -> str:
    return ", ".join(f"'{word}'" for word in words)


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _show(value: Any) -> str:
    """A short, YAML-flavoured rendering of a bad value (never a huge or recursive dump)."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return _number(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    text = str(value)
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN] + "…"
    if not isinstance(value, str):
        return text
    return f'"{text}"' if "'" in text else f"'{text}'"
