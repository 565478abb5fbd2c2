"""A run never rewrites tracked files: `make demo` on a fresh clone must leave `git status`
clean. Runs write under reports/ (ignored); only `make docs` rewrites the committed examples in
docs/. And the Makefile's environment draws no deprecation warning from uv."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ecom.config import Settings

ROOT = Path(__file__).resolve().parents[2]
RUN_OUTPUTS = ("ECOM_REPORTS_DIR", "ECOM_MODEL_CARD", "ECOM_DOCS_DIR")


def _ignored_by_git(path: Path) -> bool:
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", str(path.relative_to(ROOT))], cwd=ROOT
    )
    return done.returncode == 0


def test_every_run_output_defaults_to_an_ignored_folder(monkeypatch):
    for name in RUN_OUTPUTS:
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    outputs = {
        "drift report": settings.reports_dir / "drift_report.html",
        "experiment analysis": settings.reports_dir / "experiment_x.json",
        "model card": settings.model_card_path,
        "design doc": settings.docs_dir / "ab_test_design.md",
        "decision memo": settings.docs_dir / "decision_memo.md",
    }
    tracked = {name: path for name, path in outputs.items() if not _ignored_by_git(path)}
    assert not tracked, f"a run would rewrite tracked files: {tracked}"


def _make_recipe(target: str) -> str:
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", target],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def test_only_make_docs_writes_the_committed_examples():
    demo = _make_recipe("demo")
    assert "ecom pipeline" in demo and "docs" not in demo, demo
    docs = _make_recipe("docs")
    assert "model-card --out docs/model_card.md" in docs
    assert "experiment memo --docs docs" in docs


def test_the_makefile_environment_draws_no_uv_deprecation_warning():
    """uv warns on every call while UV_NATIVE_TLS is set (renamed UV_SYSTEM_CERTS in 0.13)."""
    done = subprocess.run(
        ["make", "--no-print-directory", "--eval",
         "uv-probe: | $(UV)\n\t@$(UV) sync --frozen --dry-run --python $(PYTHON)", "uv-probe"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "deprecated" not in done.stderr, done.stderr
