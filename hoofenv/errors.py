"""One error type whose rendering follows uv/rustc: what failed, the causal chain, a hint with the command."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class HoofenvError(Exception):
    message: str
    causes: list[str] = field(default_factory=list)
    hint: str | None = None
    code: str = "error"
    exit_code: int = 1

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        lines = [f"error: {self.message}"]
        lines += [f"  Caused by: {c}" for c in self.causes]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "causes": list(self.causes), "hint": self.hint}


class UsageError(HoofenvError):
    def __init__(self, message: str, causes: list[str] | None = None, hint: str | None = None):
        super().__init__(message, causes or [], hint, code="usage", exit_code=2)
