"""``zincfluor explain``: one molecule's prediction record, measured neighbours and atom
attributions, with the attributions drawn on the structure as SVG files."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from zincfluor.commands.common import (
    DEVICE_HELP,
    DeviceChoice,
    console,
    friendly_errors,
    out_console,
)
from zincfluor.commands.screen import MODEL_HELP, TARGET_LEVELS_HELP, model_targets

__all__ = ["register", "explain"]

FILES = ("depiction", "rare", "level")
"""The SVG files written per molecule: ``<stem>-depiction.svg``, ``<stem>-rare.svg`` (the rare
score's attributions), ``<stem>-level.svg`` (the predicted level's)."""


@friendly_errors
def explain(
    smiles: list[str] = typer.Argument(..., help="One or more SMILES to explain."),
    out: Path = typer.Option(
        Path("explain"), "--out",
        help="Folder for the SVGs and JSON (created): molecule-<k>-depiction.svg, "
        "-rare.svg, -level.svg and molecule-<k>.json per input.",
    ),
    model: Path = typer.Option(None, "--model", help=MODEL_HELP),
    target_levels: str = typer.Option(None, "--target-levels", help=TARGET_LEVELS_HELP),
    neighbours: int = typer.Option(3, "--neighbours", min=1, max=50,
                                   help="Measured training neighbours to list."),
    steps: int = typer.Option(64, "--steps", min=4, max=512,
                              help="Integration points of the integrated gradients."),
    device: DeviceChoice = typer.Option(DeviceChoice.auto, "--device", help=DEVICE_HELP),
) -> None:
    """Explain predictions: the record (level, probabilities, trust fields), the most similar
    measured training molecules and which atoms drive the rare score and the predicted level.

    Attributions are integrated gradients over the atoms' features (green: the atom raises the
    probability, pink: it lowers it). Neighbours need the model folder's trust files
    (`zincfluor model trust`).
    """
    from zincfluor.chem.smiles import InvalidMoleculeError
    from zincfluor.screening.card import resolve_model_path
    from zincfluor.screening.explain import explain_molecule
    from zincfluor.screening.predictor import Predictor
    from zincfluor.screening.record import prediction_rows, typed_row
    from zincfluor.screening.writer import prediction_layout

    model_path = resolve_model_path(model)
    predictor = Predictor.load(model_path, device=device.value)
    targets = model_targets(predictor, model_path, target_levels)
    layout = prediction_layout(predictor, ["smiles"])
    batch = predictor.predict(list(smiles))
    records = [_Input(k, text) for k, text in enumerate(smiles, start=1)]
    rows = prediction_rows(layout, records, batch, targets)
    out.mkdir(parents=True, exist_ok=True)
    for record, row in zip(records, rows, strict=True):
        result = typed_row(layout, row)
        stem = f"molecule-{record.row}"
        try:
            insight = explain_molecule(predictor, record.smiles, targets, k=neighbours,
                                       n_steps=steps)
        except (InvalidMoleculeError, ValueError) as error:
            console.print(f"{record.smiles}: {result['status']}: "
                          f"{result['reason'] or error}; nothing to explain")
            (out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
            continue
        details = insight.to_dict()
        for name, key in zip(FILES, ("depiction_svg", "attribution_svg",
                                     "level_attribution_svg"), strict=True):
            (out / f"{stem}-{name}.svg").write_text(details.pop(key))
        (out / f"{stem}.json").write_text(json.dumps({**result, **details}, indent=1) + "\n")
        _print(result, details, out / stem)


class _Input:
    """A command-line SMILES as the record writer reads an input record."""

    def __init__(self, row: int, smiles: str):
        self.row, self.smiles, self.values, self.problem = row, smiles, (smiles,), None


def _print(result: dict, details: dict, stem: Path) -> None:
    line = (f"{result['smiles']}: {result['level']} (rare score {result['rare_score']:.3f})")
    if "prediction_set" in result:
        line += (f"; 90 % set {{{', '.join(result['prediction_set'])}}}; nearest training "
                 f"molecule similarity {result['nearest_similarity']:.3f} ("
                 f"{'in' if result['in_domain'] else 'OUT OF'} domain)")
    out_console.print(line)
    for n in details["neighbours"] or []:
        nm = "n/a" if n["emission_nm"] is None else f"{n['emission_nm']:.0f} nm"
        refs = ", ".join(n["references"][:2])
        out_console.print(f"  {n['similarity']:.3f}  {n['smiles']}  {nm} ({n['level']})"
                          + (f"  {refs}" if refs else ""))
    out_console.print(f"  wrote {stem}-depiction.svg, {stem.name}-rare.svg, "
                      f"{stem.name}-level.svg, {stem.name}.json")


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)
