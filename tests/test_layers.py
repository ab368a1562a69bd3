"""The layering of ../shared/DESIGN.md, checked on the source: imports point downward only, no module
imports another package's private names, and no two modules import each other (even deferred)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What each package may import of the project besides itself.
ALLOWED: dict[str, set[str]] = {
    "foundation": set(),
    "storage": set(),
    "wechat_sandbox": set(),  # a double must not share the product's code
    "intents": {"foundation"},
    "wechat": {"foundation", "storage"},
    "commerce": {"foundation", "storage", "wechat"},
    "web": {"foundation", "storage", "wechat", "commerce"},
    "bot": {"foundation", "storage", "wechat", "commerce", "intents", "web"},
    "miniprogram": {"foundation", "storage", "wechat", "commerce", "intents", "web", "bot"},
    "staff": {"foundation", "storage", "wechat", "commerce", "intents", "web", "bot"},
    "scheduler": {"foundation", "storage", "wechat", "commerce", "intents", "web", "bot"},
    "chatshop": {"foundation", "storage", "wechat", "commerce", "intents", "web", "bot", "miniprogram", "staff",
                 "scheduler", "wechat_sandbox"},
}


def modules() -> Iterator[tuple[str, Path]]:
    for package in ALLOWED:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def imports_of(name: str, path: Path) -> Iterator[tuple[str, list[str]]]:
    """(module, names imported from it) for every import in the file, deferred ones included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            yield module, [alias.name for alias in node.names]


def test_every_import_points_downward() -> None:
    wrong = []
    for name, path in modules():
        own = name.split(".")[0]
        for module, _ in imports_of(name, path):
            top = module.split(".")[0]
            if top in ALLOWED and top != own and top not in ALLOWED[own]:
                wrong.append(f"{name} imports {module}")
    assert wrong == []


def test_no_module_imports_a_private_name_of_another_package() -> None:
    wrong = []
    for name, path in modules():
        for module, names in imports_of(name, path):
            if module.split(".")[0] in ALLOWED and module.split(".")[0] != name.split(".")[0]:
                wrong += [f"{name} imports {module}.{n}" for n in names if n.startswith("_")]
    assert wrong == []


def test_no_two_modules_import_each_other() -> None:
    known = dict(modules())
    graph = {name: {m for m, names in imports_of(name, path) for m in [m, *(f"{m}.{n}" for n in names)]
                    if m in known and m != name}
             for name, path in known.items()}
    cycles = sorted({tuple(sorted((a, b))) for a, targets in graph.items() for b in targets if a in graph[b]})
    assert cycles == []
