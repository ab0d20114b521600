"""What pyproject.toml declares and what the packages import, read from the files (shared by the packaging tests)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

from tests.helpers.cli import REPO

PACKAGES = ("kcli", "kdata", "ktrain")
# Calls that import a module named by a string: kdata.deps.require and importlib.import_module.
IMPORT_CALLS = {"require", "import_module"}


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def requirement_name(requirement: str) -> str:
    """``'scrapy-playwright>=0.0.40'`` -> ``scrapy_playwright``-normalised name (PEP 503, underscores)."""
    return normalise(re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0])


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def base_requirements() -> list[str]:
    return list(pyproject()["project"]["dependencies"])


def extra_requirements(extra: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """The distributions an extra installs, with the project's own extras it names (``kcli-korean[models]``)
    expanded."""
    project = pyproject()["project"]
    own = normalise(project["name"])
    names: set[str] = set()
    for requirement in project["optional-dependencies"][extra]:
        name = requirement_name(requirement)
        if name != own:
            names.add(name)
            continue
        for inner in re.search(r"\[(.*)\]", requirement).group(1).split(","):
            if inner.strip() not in seen:
                names |= extra_requirements(inner.strip(), seen | {extra})
    return names


def third_party_imports() -> dict[str, set[str]]:
    """Every top-level module kcli, kdata and ktrain import (statements, lazy imports and ``require``
    calls) that is neither the standard library nor one of these packages, with the files importing it."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for module in _imports_of(path):
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in (*PACKAGES, "__future__"):
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def _imports_of(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append(node.module)
        elif isinstance(node, ast.Call) and _called_name(node) in IMPORT_CALLS and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            modules.append(node.args[0].value)
    return modules


def _called_name(node: ast.Call) -> str | None:
    return getattr(node.func, "id", None) or getattr(node.func, "attr", None)
