"""What `ecom` prints to a pipe or a file: no ANSI colour codes (Feast prints them whatever the
output), no other packages' deprecation warnings, no MLflow download bars. Each check runs in
a fresh interpreter with its output piped, as `make demo > log` runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _piped(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_colour_codes_are_stripped_from_piped_output():
    done = _piped(
        """
        from colorama import Fore, Style
        from ecom.cli.common import plain_output_when_piped
        plain_output_when_piped()
        print(f"Materializing {Style.BRIGHT + Fore.GREEN}4{Style.RESET_ALL} feature views")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Materializing 4 feature views\n"


def test_library_deprecations_are_quiet_and_the_projects_own_still_show():
    done = _piped(
        """
        import os, warnings
        warnings.simplefilter("default")  # as Prefect's and pytest's runs show them
        from ecom.cli.common import quiet_libraries
        quiet_libraries()
        for module in ("evidently.legacy.tests.utils", "litestar.params"):
            warnings.warn_explicit("numpy.core is deprecated", DeprecationWarning, "x.py", 1,
                                   module=module)
        warnings.warn_explicit("invalid escape sequence '\\\\d'", DeprecationWarning,
                               "/venv/site-packages/evidently/descriptors/text_match.py", 118)
        warnings.warn_explicit("ours is deprecated", DeprecationWarning, "ecom/x.py", 1,
                               module="ecom.x")
        print(os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"])
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "false\n"
    assert "ours is deprecated" in done.stderr
    assert "numpy.core" not in done.stderr and "escape sequence" not in done.stderr


def test_evidently_imports_quietly_after_feast_reset_the_filters():
    """`ecom pipeline` imports Feast (features stage) before Evidently (monitor stage), and
    importing `feast.feature_view` runs `simplefilter("once", DeprecationWarning)`, in front of
    the filters set at start-up: the drift code imports Evidently under the filters again."""
    done = _piped(
        """
        import warnings
        import pandas as pd
        from ecom.cli.common import quiet_libraries
        quiet_libraries()
        warnings.simplefilter("once", DeprecationWarning)  # what importing Feast does
        from ecom.monitoring.column_drift import column_scores
        frame = pd.DataFrame({"x": [float(i) for i in range(50)], "c": ["a", "b"] * 25})
        scores = column_scores(frame, frame, ["x"], ["c"])
        print(sorted(scores))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "['c', 'x']\n"
    assert "DeprecationWarning" not in done.stderr, done.stderr
