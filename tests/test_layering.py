"""Package layering holds: kdata never imports ktrain, no package imports another's private module,
and the crawl builds on the public download API (kdata.download) rather than on ingest's modules.

Every import statement is read from source (ast), including imports inside functions and under
``TYPE_CHECKING``, so a lazy import breaks the layering as much as a top-level one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.cli import REPO

PACKAGES = ("kdata", "ktrain", "kcli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line, dotted module)`` for every import in ``path``, relative imports resolved.

    ``from a.b import c`` yields ``a.b`` and ``a.b.c`` (a module or a name: a private name such as
    ``_helper`` is as much another package's internals as a private module).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def all_imports() -> Iterator[tuple[str, str, str]]:
    """Yield ``(file:line, importing module, imported module)`` across the packages."""
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            where = path.relative_to(REPO).as_posix()
            for line, imported in imported_modules(path):
                yield f"{where}:{line}", module_name(path), imported


def is_private(dotted: str) -> bool:
    """A component starting with ``_`` makes a module private; dunder modules (``__main__``) are not."""
    return any(p.startswith("_") and not (p.startswith("__") and p.endswith("__")) for p in dotted.split("."))


def report(offenders: list[str]) -> str:
    return "\n".join(offenders)


def test_kdata_never_imports_ktrain() -> None:
    offenders = [
        f"{where}: imports {imported}"
        for where, importer, imported in all_imports()
        if importer.split(".")[0] == "kdata" and imported.split(".")[0] == "ktrain"
    ]
    assert not offenders, "kdata must not depend on ktrain:\n" + report(offenders)


def test_no_private_module_or_name_imported_from_another_package() -> None:
    offenders = [
        f"{where}: imports {imported}"
        for where, importer, imported in all_imports()
        if imported.split(".")[0] in PACKAGES and is_private(imported)
        and importer.split(".")[0] != imported.split(".")[0]
    ]
    assert not offenders, "a private module or name is imported from outside its package:\n" + report(offenders)


def test_crawl_builds_on_the_download_api() -> None:
    offenders = [
        f"{where}: imports {imported}"
        for where, importer, imported in all_imports()
        if importer.startswith("kdata.crawl") and (imported == "kdata.ingest" or imported.startswith("kdata.ingest."))
    ]
    assert not offenders, "kdata.crawl imports ingest directly; use kdata.download:\n" + report(offenders)


def test_the_checks_see_imports() -> None:
    """Guard against a walker that silently finds nothing (every check would then pass)."""
    imports = list(all_imports())
    assert len(imports) > 500
    assert any(imported == "kdata.manifest" for _, _, imported in imports)
    assert any(importer == "kcli.main" for _, importer, _ in imports)
