"""The model card's domain plot: validation error against similarity to the training set."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from zincfluor.trust.domain import DomainCalibration

__all__ = ["plot_error_by_similarity"]


def plot_error_by_similarity(domain: DomainCalibration, path: str | Path) -> Path:
    """A PNG of the binned validation error against max-similarity (each bin drawn over its
    similarity range, its count written on it), the mean error, the limit and the threshold."""
    figure = Figure(figsize=(6.0, 3.6), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for row in domain.bins:
        middle = (row["low"] + row["high"]) / 2
        axes.plot([row["low"], row["high"]], [row["error"]] * 2, color="tab:blue", lw=3)
        axes.annotate(f"n={row['n']}", (middle, row["error"]), textcoords="offset points",
                      xytext=(0, 5), ha="center", fontsize=7)
    axes.plot([(r["low"] + r["high"]) / 2 for r in domain.bins],
              [r["error"] for r in domain.bins], color="tab:blue", lw=1, alpha=0.5)
    axes.axhline(domain.mean_error, color="grey", ls=":", label="mean validation error")
    axes.axhline(domain.factor * domain.mean_error, color="tab:red", ls="--",
                 label=f"limit ({domain.factor:g} x mean)")
    axes.axvline(domain.threshold, color="black", ls="-.",
                 label=f"domain threshold {domain.threshold:.2f}")
    axes.set_xlabel("Tanimoto similarity to the nearest training molecule "
                    f"(Morgan r{domain.fingerprint.radius}, {domain.fingerprint.n_bits} bits)")
    axes.set_ylabel(domain.error_name)
    axes.set_xlim(0, 1)
    axes.set_ylim(bottom=0)
    axes.legend(fontsize=7, loc="upper right")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
