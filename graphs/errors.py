"""Configuration problems, reported the way a compiler would: file, line, YAML path, fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a squad file, located precisely enough to fix it without guessing."""

    file: str
    line: int | None
    path: str
    message: str
    hint: str | None = None
    source_line: str | None = None

    def format(self) -> str:
        """Rasa-style text: a `file:line: path: message` header, the offending line, the fix."""
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        header = (
            f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        )
        lines = [header]
        if self.line is not None and self.source_line is not None:
            lines.append(f"    {self.line} | {self.source_line}")
        if self.hint:
            lines.append(f"    fix: {self.hint}")
        return "\n".join(lines)


class ConfigError(Exception):
    """The squad file cannot be used; `issues` lists every problem found, not just the first."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        # Passing `issues` as the only arg keeps the exception picklable (cls(*args) works).
        super().__init__(issues)
        self.issues = list(issues)

    def __str__(self) -> str:
        return "\n".join(issue.format() for issue in self.issues)
