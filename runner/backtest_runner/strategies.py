"""The strategies the runner can run: freqtrade strategy classes in the strategy folder.

Found by reading the files (no import), so an unknown name is reported before freqtrade starts,
with the list of names that would work.
"""

from __future__ import annotations

import ast
from pathlib import Path

BUNDLED_STRATEGY_DIR = Path(__file__).resolve().parent.parent / "strategies"


def available_strategies(strategy_dir: Path) -> list[str]:
    """Top-level classes deriving (directly or through another class here) from IStrategy."""
    bases_by_class: dict[str, set[str]] = {}
    for source in sorted(strategy_dir.glob("*.py")):
        try:
            module = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
        except SyntaxError:
            continue  # freqtrade would skip it too; it cannot offer a strategy
        for node in module.body:
            if isinstance(node, ast.ClassDef):
                bases_by_class[node.name] = {_base_name(base) for base in node.bases}
    strategies = {"IStrategy"}
    grew = True
    while grew:
        found = {name for name, bases in bases_by_class.items() if bases & strategies}
        grew = not found <= strategies
        strategies |= found
    return sorted(strategies - {"IStrategy"})


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""
