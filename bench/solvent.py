"""Solvent-aware emission benchmark (issue 17, item 4): does the solvent as an input help?

Models, each trained on Deep4Chem's solution rows (molecule, solvent, emission maximum) and
scored on the same test *rows* of a scaffold-grouped split (seeded Bemis-Murcko scaffold groups,
80/10/10 of molecules; every row of a molecule in one part):

- ``descriptors``: zincfluor's GCN + Gaussian wavelength head, the solvent's 16 descriptors
  through an MLP joined by FiLM (:mod:`zincfluor.nn.solvent_readout`);
- ``graph``: the same with the solvent's graph through its own small GCN;
- ``none``: the median-over-solvents model (one answer per molecule, whatever the solvent);
- ``chemprop-2smiles``: chemprop v2 with two SMILES columns (solute, solvent): a
  ``MulticomponentMPNN`` with a separate bond message-passing block per component (chemprop's
  ``--mpn-shared`` off, its default), norm aggregation, an FFN regressor of the standardised nm
  (:func:`fit_chemprop_on_rows`, chemprop's ``train`` defaults otherwise, as in
  ``bench/peer_chemprop.py``);
- ``chemprop-1smiles``: the same chemprop model given the solute only (one component, the
  solvent dropped) on the same rows: how much of ``chemprop-2smiles``'s result is the solvent
  and how much the model. An ablation, outside the ship rule.

Seeds 0, 1, 2 each give the split (split seed = seed) and the initialisation. Every cell writes
``OUT/<model>/seed-<s>/cell.json``: validation and test metrics (``valid``, ``test``; choose a
model on ``valid``) over all rows and per solvent class (polar
protic, polar aprotic, non-polar): nm MAE, top-1, balanced accuracy, macro-F1, tail top-2, and
the average precision and ROC-AUC of the red+ and far-red+ targets (zincfluor models rank by
P(levels), chemprop by predicted nm, as in ``bench/peer_scoring.py``); and the split's digest
(the report refuses cells of one seed on different splits). zincfluor cells keep their run
folder beside ``cell.json``. Finished cells are skipped, so the grid resumes.

The report (``--report-only``, also printed at the end) is a Markdown table of mean ± std over
the seeds per model and solvent class.

Ship rule (written on 2026-11-30, before any cell of the grid ran; it reads validation only):

1. Encoder choice: between ``descriptors`` and ``graph``, the one with the lower mean (over the
   3 seeds) validation nm MAE on all validation rows.
2. It ships in the model folder's ``solvent/`` (``zincfluor model ship|ensemble
   --solvent-model``) only if it beats ``none`` (the median-over-solvents model scored on the
   same rows) on validation: its mean validation MAE is lower by more than the larger of the two
   models' seed standard deviations, and its mean validation AP red+ is at most 2 points below
   ``none``'s (the rare-level ranking must not pay for the wavelength).
3. Its seed-0 run ships; rows without a solvent keep the folder's median model (issue 17).
   Otherwise nothing ships and docs/results.md says by how much the solvent input fell short.

``--report-only`` (and the grid, at its end) prints the verdict (:func:`ship_decision`).

``--backbone dmpnn`` (or gine, attentivefp) trains the zincfluor models with that dye backbone
instead of the GCN; their cells go to ``OUT/<model>-<backbone>/`` (e.g. ``descriptors-dmpnn``)
and the report shows them beside chemprop. The rule above reads only the GCN cells.

Backbone rule (written on 2026-11-30, after the GCN grid and before any cell of a backbone grid
ran; validation only): the GCN grid chose ``descriptors``, so a backbone grid trains
``descriptors`` and ``none`` with that backbone (no ``graph``), seeds 0-2. ``descriptors-<b>``
ships under rule 2 read with ``none-<b>`` as the model to beat (same margin, same AP red+
guard), and rule 3 as written. It answers why chemprop's two-SMILES model (a D-MPNN) leads.

Usage::

    python bench/solvent.py --out docs/results/solvent            # the grid (long)
    python bench/solvent.py --out docs/results/solvent --backbone dmpnn --models descriptors,none
    python bench/solvent.py --out docs/results/solvent --report-only
    python bench/solvent.py --data tests_rows.csv --out /tmp/s --epochs 1 --chemprop-epochs 1 \\
        --seeds 0                                                 # a smoke run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_chemprop import ChempropSettings  # noqa: E402  (bench/: no package)
from peer_scoring import regressor_metrics  # noqa: E402

from zincfluor.data import resolve_data_path  # noqa: E402
from zincfluor.data.measurements import SolventMeasurementTable  # noqa: E402
from zincfluor.runs.solvent import (  # noqa: E402
    GRAD_CLIP,
    SolventRunConfig,
    prepare_rows,
    solvent_run,
)
from zincfluor.train.trainer import TrainerConfig  # noqa: E402

ZINCFLUOR_MODELS = ("descriptors", "graph", "none")
BACKBONES = ("gcn", "dmpnn", "gine", "attentivefp")
CHEMPROP_COMPONENTS = {"chemprop-2smiles": 2, "chemprop-1smiles": 1}
"""chemprop cells: the number of SMILES columns (solute, then solvent) each model reads."""
MODELS = (*ZINCFLUOR_MODELS, *CHEMPROP_COMPONENTS)
CLASSES = ("all", "polar protic", "polar aprotic", "non-polar")
TARGETS = ("red+", "far-red+")
SUMMARY = (
    ("nm MAE", ("mae_nm",)),
    ("top-1", ("top1",)),
    ("bal. acc.", ("balanced_accuracy",)),
    ("macro-F1", ("macro_f1",)),
    ("tail top-2", ("tail_top_2",)),
    ("red+ AP", ("retrieval", "red+", "average_precision")),
    ("far-red+ AP", ("retrieval", "far-red+", "average_precision")),
    ("red+ ROC-AUC", ("retrieval", "red+", "roc_auc")),
)
"""Report columns: label and the path to the value in a cell's summary block."""


def cell_name(model: str, backbone: str = "gcn") -> str:
    """The folder of ``model``'s cells: the model's name, with ``-<backbone>`` for a zincfluor
    model whose dye backbone is not the GCN (chemprop has its own)."""
    return model if backbone == "gcn" or model not in ZINCFLUOR_MODELS else f"{model}-{backbone}"


def cell_path(out: Path, model: str, seed: int, backbone: str = "gcn") -> Path:
    return out / cell_name(model, backbone) / f"seed-{seed}" / "cell.json"


def split_digest(table: SolventMeasurementTable, rows: dict[str, np.ndarray]) -> str:
    """SHA-256 (first 16 hex digits) of the molecules of each part's rows: equal for equal
    splits of the same data."""
    molecules = table.frame["molecule"].to_numpy(object)
    text = json.dumps({part: sorted(set(molecules[r].tolist())) for part, r in rows.items()})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The report's numbers of one evaluation block (a zincfluor metrics dict, or
    :func:`bench.peer_scoring.regressor_metrics`'s)."""
    groups = (metrics.get("retrieval") or {}).get("groups") or {}
    mae = metrics.get("mae_nm", (metrics.get("wavelength") or {}).get("mae_nm"))
    return {
        "n": metrics["n"],
        "mae_nm": mae,
        **{key: metrics.get(key) for key in ("top1", "balanced_accuracy", "macro_f1",
                                             "tail_top_2")},
        "retrieval": {
            target: {key: (groups.get(target) or {}).get(key)
                     for key in ("average_precision", "roc_auc", "n_positive")}
            for target in TARGETS
        },
    }


def _config(args: argparse.Namespace, model: str, seed: int, out: Path) -> SolventRunConfig:
    return SolventRunConfig(
        data=str(args.data), out=str(out), solvent_encoder=model, seed=seed,
        split="scaffold-seeded", backbone=args.backbone, hidden_dim=args.hidden_dim,
        num_layers=args.num_layers, batch_size=args.batch_size,
        trainer=TrainerConfig(epochs=args.epochs, grad_clip=args.grad_clip or None),
        device=args.device, cache_dir=args.cache_dir, n_jobs=args.workers,
    )


def run_zincfluor_cell(args: argparse.Namespace, model: str, seed: int) -> dict[str, Any]:
    """Train one zincfluor model (``solvent_run``) and summarise its test rows."""
    folder = cell_path(args.out, model, seed, args.backbone).parent / "run"
    config = _config(args, model, seed, folder)
    start = time.perf_counter()
    result = solvent_run(config, progress=False)
    test = result.test_metrics
    return {
        "model": model, "backbone": args.backbone, "seed": seed,
        "split_digest": split_digest(result.table, result.rows),
        "rows": {part: int(len(r)) for part, r in result.rows.items()},
        "best_epoch": result.fit.best_epoch, "epochs": args.epochs,
        "seconds": time.perf_counter() - start,
        "seconds_per_epoch": result.fit.seconds_per_epoch,
        **{part: {"all": summary(metrics), **{
            name: None if block is None else summary(block)
            for name, block in metrics["per_solvent_class"].items() if name in CLASSES
        }} for part, metrics in (("valid", result.valid_metrics), ("test", test))},
    }


def _component_dataset(solutes, solvents, nm, featurizer, components: int = 2):
    """chemprop's MulticomponentDataset of (solute, solvent) rows (``components`` 2) or of the
    solutes alone (1); the target rides on the first component, as chemprop's CLI does."""
    from chemprop import data

    sets = [data.MoleculeDataset(
        [data.MoleculeDatapoint.from_smi(s, np.array([float(y)]))
         for s, y in zip(solutes, nm, strict=True)],
        featurizer,
    )]
    if components == 2:
        sets.append(data.MoleculeDataset(
            [data.MoleculeDatapoint.from_smi(s) for s in solvents], featurizer))
    for component in sets:
        component.cache = True  # featurise once, not every epoch
    return data.MulticomponentDataset(sets)


def fit_chemprop_on_rows(
    parts: dict[str, tuple[list[str], list[str], np.ndarray]],
    seed: int,
    *,
    epochs: int | None = None,
    threads: int = 1,
    settings: ChempropSettings = ChempropSettings(),
    components: int = 2,
) -> dict[str, Any]:
    """chemprop v2 on (solute, solvent) rows -> emission nm (module docstring): two SMILES
    columns, or the solute's alone with ``components=1``.

    Parameters
    ----------
    parts : ``{"train" | "valid" | "test": (solutes, solvents, nm)}``
    epochs : overrides ``settings.max_epochs``
    components : 1 reads the solutes only (``chemprop-1smiles``; the solvents are ignored)

    Returns
    -------
    dict with ``valid`` and ``test`` predicted nm ([N] each), ``best_epoch``, ``epochs_run``,
    ``seconds`` and the ``settings``.
    """
    import lightning.pytorch as pl
    import torch
    from chemprop import data, featurizers, models, nn
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    max_epochs = settings.max_epochs if epochs is None else int(epochs)
    start = time.perf_counter()
    torch.set_num_threads(threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    pl.seed_everything(seed, workers=True, verbose=False)
    featurizer = featurizers.SimpleMoleculeMolGraphFeaturizer()
    sets = {part: _component_dataset(solutes, solvents, nm, featurizer, components)
            for part, (solutes, solvents, nm) in parts.items()}
    scaler = sets["train"].normalize_targets()
    sets["valid"].normalize_targets(scaler)
    blocks = [
        nn.BondMessagePassing(d_h=settings.message_hidden_dim, depth=settings.depth,
                              dropout=settings.dropout)
        for _ in range(components)
    ]
    message_passing = nn.MulticomponentMessagePassing(blocks, n_components=components,
                                                      shared=False)
    model = models.MulticomponentMPNN(
        message_passing,
        nn.NormAggregation(),
        nn.RegressionFFN(
            input_dim=message_passing.output_dim, hidden_dim=settings.ffn_hidden_dim,
            n_layers=settings.ffn_num_layers, dropout=settings.dropout,
            output_transform=nn.UnscaleTransform.from_standard_scaler(scaler),
        ),
        batch_norm=False, warmup_epochs=settings.warmup_epochs, init_lr=settings.init_lr,
        max_lr=settings.max_lr, final_lr=settings.final_lr,
    )
    loaders = {
        part: data.build_dataloader(dataset, batch_size=settings.batch_size, num_workers=0,
                                    seed=seed, shuffle=part == "train")
        for part, dataset in sets.items()
    }
    with tempfile.TemporaryDirectory(prefix="solvent-chemprop-") as folder, \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
        checkpoint = ModelCheckpoint(folder, "best-{epoch}", monitor="val_loss", mode="min")
        trainer = pl.Trainer(
            logger=False, enable_progress_bar=False, enable_model_summary=False,
            accelerator="auto", devices=1, max_epochs=max_epochs, num_sanity_val_steps=0,
            callbacks=[checkpoint, EarlyStopping("val_loss", patience=settings.patience,
                                                 mode="min")],
        )
        trainer.fit(model, loaders["train"], loaders["valid"])
        best = models.MulticomponentMPNN.load_from_checkpoint(checkpoint.best_model_path)
        predictions = {
            part: torch.cat(trainer.predict(best, loaders[part])).float().numpy()[:, 0]
            for part in ("valid", "test")
        }
        best_path = Path(checkpoint.best_model_path).stem
    return {
        **predictions,
        "best_epoch": int(best_path.split("=")[-1]) + 1 if "=" in best_path else None,
        "epochs_run": int(trainer.current_epoch),
        "seconds": time.perf_counter() - start,
        "settings": {**asdict(settings), "max_epochs": max_epochs},
    }


def run_chemprop_cell(args: argparse.Namespace, seed: int,
                      model: str = "chemprop-2smiles") -> dict[str, Any]:
    """chemprop (``model``: two SMILES columns, or the solute's only) on the zincfluor cells'
    split of ``seed``."""
    prepared = prepare_rows(_config(args, "none", seed, args.out))
    frame = prepared.table.frame
    parts = {
        part: (frame["molecule"].iloc[rows].tolist(), frame["solvent"].iloc[rows].tolist(),
               frame["emission_nm"].to_numpy(float)[rows])
        for part, rows in prepared.rows.items()
    }
    fitted = fit_chemprop_on_rows(parts, seed, epochs=args.chemprop_epochs,
                                     threads=args.threads,
                                     components=CHEMPROP_COMPONENTS[model])
    scheme = prepared.table.scheme
    levels = frame["level"].to_numpy(np.int64)
    train_counts = np.bincount(levels[prepared.rows["train"]], minlength=scheme.num_classes)

    def scored(part: str, mask: np.ndarray) -> dict[str, Any] | None:
        if not mask.any():
            return None
        rows = prepared.rows[part]
        return summary(regressor_metrics(
            fitted[part][mask], levels[rows][mask], parts[part][2][mask], train_counts, scheme,
        ))

    blocks = {}
    for part in ("valid", "test"):
        classes = frame["solvent_class"].to_numpy(object)[prepared.rows[part]]
        blocks[part] = {"all": scored(part, np.ones(len(classes), dtype=bool))}
        for name in CLASSES[1:]:
            blocks[part][name] = scored(part, classes == name)
    return {
        "model": model, "seed": seed,
        "split_digest": split_digest(prepared.table, prepared.rows),
        "rows": {part: int(len(r)) for part, r in prepared.rows.items()},
        "best_epoch": fitted["best_epoch"], "epochs": fitted["settings"]["max_epochs"],
        "epochs_run": fitted["epochs_run"], "seconds": fitted["seconds"],
        "settings": fitted["settings"], **blocks,
    }


def run_cell(args: argparse.Namespace, model: str, seed: int) -> Path:
    """Train and score one cell; write its ``cell.json``."""
    path = cell_path(args.out, model, seed, args.backbone)
    path.parent.mkdir(parents=True, exist_ok=True)
    if model in CHEMPROP_COMPONENTS:
        cell = run_chemprop_cell(args, seed, model)
    else:
        cell = run_zincfluor_cell(args, model, seed)
    path.write_text(json.dumps(cell, indent=2, allow_nan=False))
    return path


def _value(block: dict[str, Any] | None, path: Sequence[str]) -> float | None:
    value: Any = block
    for key in path:
        value = (value or {}).get(key)
    return value


def report(out: Path, models: Sequence[str] = MODELS, part: str = "test") -> str:
    """Markdown: per model and solvent class, mean ± std over the seeds of each column of the
    ``part`` ("test" or "valid") rows."""
    cells: dict[str, list[dict[str, Any]]] = {}
    digests: dict[int, set[str]] = {}
    for model in models:
        for path in sorted((out / model).glob("seed-*/cell.json")):
            cell = json.loads(path.read_text())
            cells.setdefault(model, []).append(cell)
            digests.setdefault(cell["seed"], set()).add(cell["split_digest"])
    mixed = sorted(seed for seed, found in digests.items() if len(found) > 1)
    if mixed:
        raise ValueError(f"cells of seeds {mixed} were trained on different splits; rerun them")
    header = ["model", "solvent class", "seeds", "rows", *(label for label, _ in SUMMARY)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model, found in cells.items():
        for name in CLASSES:
            blocks = [cell[part].get(name) for cell in found]
            blocks = [block for block in blocks if block is not None]
            if not blocks:
                continue
            row = [model, name, str(len(blocks)), str(int(np.mean([b["n"] for b in blocks])))]
            for label, path in SUMMARY:
                values = [v for v in (_value(b, path) for b in blocks) if v is not None]
                if not values:
                    row.append("n/a")
                    continue
                scale, digits = (1.0, 1) if label == "nm MAE" else (100.0, 1)
                mean, std = scale * np.mean(values), scale * np.std(values)
                row.append(f"{mean:.{digits}f} ± {std:.{digits}f}")
            lines.append("| " + " | ".join(row) + " |")
    note = ("nm MAE in nm; accuracies, AP and ROC-AUC in percent; mean ± std (population) over "
            f"seeds; {part} rows of a scaffold-seeded split (split seed = seed).")
    return "\n".join([*lines, "", note])


SHIP_SEEDS = (0, 1, 2)
AP_RED_GUARD = 0.02  # rule 2: at most 2 points of validation AP red+ below ``none``


def _valid_all(out: Path, model: str, seeds: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Seed -> the ``valid`` "all" block of each finished cell of ``model`` among ``seeds``."""
    found = {}
    for seed in seeds:
        path = cell_path(out, model, seed)
        if path.is_file():
            found[seed] = json.loads(path.read_text())["valid"]["all"]
    return found


def ship_decision(out: Path, seeds: Sequence[int] = SHIP_SEEDS,
                  backbone: str = "gcn") -> dict[str, Any]:
    """Apply the module docstring's ship rule (``backbone`` gcn) or backbone rule (another
    ``backbone``: ``descriptors-<b>`` against ``none-<b>``) to the cells in ``out``.

    Returns ``{"complete", "encoder", "baseline", "ships", "reasons", "models"}`` (``encoder``
    and ``baseline``, the model to beat, are set once the cells are complete): ``models`` holds each
    model's mean and population std over ``seeds`` of the validation nm MAE and AP red+;
    ``complete`` is False (and nothing ships) until every seed of ``descriptors``, ``graph``
    and ``none`` has a cell. Rule 1: the encoder is the one of lower mean MAE. Rule 2: it ships
    when ``mean MAE(none) - mean MAE(encoder) > max(std(encoder), std(none))`` and
    ``mean AP red+(encoder) >= mean AP red+(none) - 0.02``.
    """
    candidates = ("descriptors", "graph") if backbone == "gcn" else ("descriptors",)
    models: dict[str, dict[str, float]] = {}
    missing = []
    for model in (*candidates, "none"):
        model = cell_name(model, backbone)
        blocks = _valid_all(out, model, seeds)
        missing += [f"{model} seed {seed}" for seed in seeds if seed not in blocks]
        if blocks:
            mae = [b["mae_nm"] for b in blocks.values()]
            ap = [_value(b, ("retrieval", "red+", "average_precision")) for b in blocks.values()]
            models[model] = {"seeds": len(blocks), "mae_mean": float(np.mean(mae)),
                             "mae_std": float(np.std(mae)), "ap_red_mean": float(np.mean(ap)),
                             "ap_red_std": float(np.std(ap))}
    decision: dict[str, Any] = {"complete": not missing, "encoder": None, "baseline": None,
                                "ships": False, "reasons": [], "models": models}
    if missing:
        decision["reasons"].append("cells missing: " + ", ".join(missing))
        return decision
    encoder = min((cell_name(m, backbone) for m in candidates),
                  key=lambda m: models[m]["mae_mean"])
    baseline = cell_name("none", backbone)
    chosen, none = models[encoder], models[baseline]
    decision["encoder"], decision["baseline"] = encoder, baseline
    gain = none["mae_mean"] - chosen["mae_mean"]
    margin = max(chosen["mae_std"], none["mae_std"])
    ap_drop = none["ap_red_mean"] - chosen["ap_red_mean"]
    beats = gain > margin
    guarded = ap_drop <= AP_RED_GUARD
    decision["reasons"] += [
        f"rule 1: {encoder} has the lower mean validation MAE "
        f"({models['descriptors']['mae_mean']:.1f} descriptors, "
        f"{models['graph']['mae_mean']:.1f} graph)" if backbone == "gcn" else
        f"backbone rule: {encoder} against {baseline}",
        f"rule 2 (MAE): {encoder} is {abs(gain):.1f} nm {'better' if gain > 0 else 'worse'} "
        f"than {baseline} ({chosen['mae_mean']:.1f} vs {none['mae_mean']:.1f}); it must be "
        "better by "
        f"more than the larger seed std, {margin:.1f} nm: {'met' if beats else 'not met'}",
        f"rule 2 (AP red+ guard): {100 * chosen['ap_red_mean']:.1f} vs "
        f"{100 * none['ap_red_mean']:.1f} for {baseline}, {abs(100 * ap_drop):.1f} points "
        f"{'lower' if ap_drop > 0 else 'higher'} (at most {100 * AP_RED_GUARD:.0f} lower allowed): "
        f"{'met' if guarded else 'not met'}",
    ]
    decision["ships"] = beats and guarded
    return decision


def format_decision(decision: dict[str, Any]) -> str:
    """The ship rule's verdict as text (one line per rule)."""
    if not decision["complete"]:
        head = "Ship rule: not applied yet"
    elif decision["ships"]:
        head = f"Ship rule: {decision['encoder']} ships (its seed-0 run)"
    else:
        head = (f"Ship rule: nothing ships ({decision['encoder']} does not beat "
                f"{decision['baseline']})")
    return "\n".join([head, *(f"- {reason}" for reason in decision["reasons"])])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="measurement CSV (default: Deep4Chem)")
    parser.add_argument("--out", type=Path, required=True, help="folder of the cells")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated, among {', '.join(MODELS)}")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--epochs", type=int, default=100, help="zincfluor epochs")
    parser.add_argument("--chemprop-epochs", type=int, default=None,
                        help="chemprop's maximum epochs (default 50, early stopping)")
    parser.add_argument("--backbone", default="gcn", choices=BACKBONES,
                        help="dye backbone of the zincfluor models (not gcn: cells in "
                             "<model>-<backbone>/, read by the backbone rule, not the GCN "
                             "one)")
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--num-layers", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--grad-clip", type=float, default=GRAD_CLIP,
                        help="gradient-norm clip of the zincfluor models (0: none)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="chemprop's torch threads")
    parser.add_argument("--workers", type=int, default=None, help="featurisation processes")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; choose among {', '.join(MODELS)}")
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if not args.report_only:
        args.data = str(resolve_data_path(args.data))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.report_only:
        for seed in args.seeds:
            for model in args.models:
                if cell_path(args.out, model, seed, args.backbone).is_file():
                    print(f"{model} seed {seed}: done already")
                    continue
                start = time.perf_counter()
                path = run_cell(args, model, seed)
                print(f"{model} seed {seed}: {time.perf_counter() - start:.0f} s -> {path}",
                      flush=True)
    shown = [cell_name(model, args.backbone) for model in args.models]
    print("Validation (choose the model here):\n")
    print(report(args.out, shown, "valid"))
    print("\nTest:\n")
    print(report(args.out, shown))
    print()
    print(format_decision(ship_decision(args.out)))
    if args.backbone != "gcn":
        print()
        print(format_decision(ship_decision(args.out, backbone=args.backbone)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
