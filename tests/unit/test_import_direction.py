"""A stage imports the plumbing and the stages upstream of it, never one downstream.

The order is the data's: synth writes the files ingest loads, transform builds the marts the
quality gate checks, features serve them to churn, and so on. Imports are read from the source
(every `import`, at module level or inside a function), so a lazy import cannot hide an upward
dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ecom"

# Shared plumbing: may import only other plumbing.
PLUMBING = {
    "ecom.config",
    "ecom.db",
    "ecom.relations",
    "ecom.runtime",
    "ecom.services",
    "ecom.thelook",
}
# Contracts every stage reads (the TheLook tables, the churn features): plain data, no stage code.
CONTRACTS = {"ecom.thelook", "ecom.features.contract"}
# The stages in the order data flows through them.
STAGES = [
    "ecom.synth",
    "ecom.ingest",
    "ecom.transform",
    "ecom.quality",
    "ecom.features",
    "ecom.churn",
    "ecom.targeting",
    "ecom.serving",
    "ecom.monitoring",
    "ecom.experiments",
    "ecom.analytics",
    "ecom.reports",
]
# What assembles the stages: free to import any of them.
ASSEMBLY = {"ecom.stages", "ecom.stack", "ecom.alerts", "ecom.cli"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name == "ecom" or name.startswith("ecom.")}


def owner(module: str) -> str | None:
    """The plumbing module, stage or assembly a module belongs to (None for `ecom` itself)."""
    for unit in sorted(PLUMBING | set(STAGES) | ASSEMBLY, key=len, reverse=True):
        if module == unit or module.startswith(unit + "."):
            return unit
    return None


def allowed(importer: str, imported: str) -> bool:
    if imported in CONTRACTS or any(imported.startswith(c + ".") for c in CONTRACTS):
        return True
    source, target = owner(importer), owner(imported)
    if target is None or source == target or source in ASSEMBLY:
        return True
    if source in PLUMBING:
        return target in PLUMBING
    if target in PLUMBING:
        return True
    if target in ASSEMBLY:
        return False
    return STAGES.index(target) < STAGES.index(source)


def all_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_known_unit() -> None:
    orphans = [
        module_name(path)
        for path in all_modules()
        if module_name(path) != "ecom" and owner(module_name(path)) is None
    ]
    assert orphans == [], f"add these to PLUMBING, STAGES or ASSEMBLY: {orphans}"


@pytest.mark.parametrize("path", all_modules(), ids=module_name)
def test_no_stage_imports_one_downstream_of_it(path: Path) -> None:
    importer = module_name(path)
    upward = sorted(
        imported for imported in imported_modules(path) if not allowed(importer, imported)
    )
    assert upward == [], f"{importer} imports downstream or assembly code: {upward}"


@pytest.mark.parametrize(
    ("importer", "imported", "ok"),
    [
        ("ecom.ingest.load", "ecom.churn.training", False),
        ("ecom.quality.gate", "ecom.transform", True),
        ("ecom.db", "ecom.ingest.swap", False),
        ("ecom.churn.scoring", "ecom.features.store", True),
        ("ecom.synth.calibration", "ecom.features.contract", True),
        ("ecom.features.store", "ecom.stages", False),
        ("ecom.cli.churn", "ecom.churn.training", True),
    ],
)
def test_the_rule_itself(importer: str, imported: str, ok: bool) -> None:
    assert allowed(importer, imported) is ok
