"""Writing a matplotlib figure as the project's PNGs are written (one size, one resolution).

Every chart module (churn evaluation, the experiment's and the uplift memo's plots) ends a
figure the same way; here once, so a PNG's resolution or the folder rule changes in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DPI = 110


def save_figure(figure: Any, path: Path) -> Path:
    """Lay out, write (creating the folder) and close `figure`, so a long run of charts keeps
    no figure in memory; returns `path`."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path
