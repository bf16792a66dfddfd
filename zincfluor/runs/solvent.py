"""Train one solvent-aware model: (molecule, solvent, emission) rows -> run folder.

``solvent_run`` follows :func:`zincfluor.runs.train.train_run` on measurement rows::

    read_solvent_measurements (solutions) -> split_measurements (by molecule or seeded
    scaffold; every row of a molecule in one part) -> featurize the distinct molecules once
    -> one graph per row, with the row's solvent (sol_x, or sol_id + the solvent graphs)
    -> build_classifier with a solvent readout -> Trainer.fit -> one test look -> run folder

The solvent encoders (``solvent_encoder``):

- ``"descriptors"``: the 16 solvent descriptors (:mod:`zincfluor.data.solvent_features`)
  through a small MLP (:mod:`zincfluor.nn.solvent_readout`);
- ``"graph"``: the solvent's graph through a separate small backbone (chemprop's
  multicomponent style);
- ``"none"``: the median-over-solvents model (the existing one): trained on one example per
  training molecule, the median of its training rows' emission maxima, and evaluated on the
  same validation and test *rows* as the solvent-aware models (one answer for every solvent).

The run folder has :mod:`zincfluor.runs.train`'s layout: ``config.json``, ``split.json``
(molecule-grouped: the molecules of each part), ``checkpoint.pt``, ``metrics.json``,
``per_level.md``/``.csv`` and the plots. ``metrics.json``'s ``valid`` and ``test`` are
row-level and add ``per_solvent_class`` (:data:`SOLVENT_CLASS_ORDER`, each the full metrics of
:func:`~zincfluor.train.metrics.evaluate_predictions` on that class's rows, or ``None``).

The checkpoint's metadata carries ``"solvent"`` (:func:`solvent_metadata`): the encoder, the
descriptor names or the solvent-graph featurizer, the solvent kinds trained on and the training
rows per solvent (the model card's list; a solvent outside it is "not seen in training").
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

from zincfluor.chem import FeaturizerConfig, featurize_cached
from zincfluor.chem.molecule_features import (
    MoleculeFeatureConfig,
    attach_molecule_features,
    fit_feature_scaling,
)
from zincfluor.chem.standardize import StandardizerConfig, elements_in_smiles
from zincfluor.data import Split, class_counts
from zincfluor.data.grouped_splits import GROUPED_SPLIT_KINDS, split_measurements, split_rows
from zincfluor.data.measurements import SolventMeasurementTable, read_solvent_measurements
from zincfluor.data.solvent_features import SOLVENT_FEATURE_NAMES
from zincfluor.data.solvent_inputs import (
    SolventGraphBatches,
    attach_solvent_descriptors,
    attach_solvent_ids,
    solvent_graph_batch,
)
from zincfluor.data.solvents import SOLVENT_CLASSES, solvent_name
from zincfluor.methods import MethodContext, build_method
from zincfluor.nn import (
    MoleculeFeatureReadoutConfig,
    backbone_setting_names,
    backbone_spec,
    build_classifier,
    model_spec,
)
from zincfluor.nn.graph_augment import GraphAugment
from zincfluor.nn.heads import head_spec
from zincfluor.nn.solvent_readout import SolventReadoutConfig
from zincfluor.runs.common import (
    graph_loader,
    headline_metrics,
    log,
    resolve_cache_dir,
    usable_mask,
)
from zincfluor.runs.train import check_split, check_target_and_head
from zincfluor.runs.wavelength import evaluate_with_wavelength, predict_emission_nm
from zincfluor.train.checkpoint import CHECKPOINT_NAME, save_checkpoint
from zincfluor.train.metrics import GROUP_RULES, GroupThresholds, evaluate_per_subset
from zincfluor.train.report import epoch_logger, write_run_reports
from zincfluor.train.seeding import resolve_device, seed_everything
from zincfluor.train.trainer import FitResult, Trainer, TrainerConfig, predict_proba

__all__ = [
    "GRAD_CLIP",
    "SOLVENT_RUN_ENCODERS",
    "SOLVENT_CLASS_ORDER",
    "SolventRunConfig",
    "SolventRunResult",
    "solvent_run",
    "SolventRows",
    "prepare_rows",
    "solvent_metadata",
    "molecule_medians",
]

SOLVENT_RUN_ENCODERS = ("descriptors", "graph", "none")
SOLVENT_CLASS_ORDER = tuple(SOLVENT_CLASSES)
"""The classes of ``per_solvent_class``: polar protic, polar aprotic, non-polar, unknown."""
SOLUTION_KINDS = ("smiles",)  # rows in a named solvent; gas and solid rows have no solvent
GRAD_CLIP = 1.0
"""Default gradient-norm clip of solvent runs: without it the Gaussian NLL under SGD (lr 0.01,
momentum 0.9) went to NaN within the first epoch on Deep4Chem's 13k training rows."""


@dataclass
class SolventRunConfig:
    """Everything a solvent-aware run is started with; written to ``config.json``.

    ``data`` is the measurements CSV (Deep4Chem's columns by default, or ``smiles_column``,
    ``solvent_column``, ``value_column``). ``split`` is a grouped split kind ("molecule" or
    "scaffold-seeded"; fractions of molecules). ``solvent_encoder`` is one of
    :data:`SOLVENT_RUN_ENCODERS`; ``solvent_hidden_dim``/``solvent_out_dim``/
    ``solvent_dropout`` size its MLP, and the graph encoder's backbone is
    ``solvent_backbone`` with ``solvent_graph_layers`` layers of width ``solvent_graph_dim``.
    The other fields mean what they mean in :class:`~zincfluor.runs.train.TrainRunConfig`;
    the defaults train the Gaussian wavelength head with the Gaussian NLL, gradients clipped
    to norm :data:`GRAD_CLIP`.
    """

    data: str
    out: str
    solvent_encoder: str = "descriptors"
    smiles_column: str = "Chromophore"
    solvent_column: str = "Solvent"
    value_column: str = "Emission max (nm)"
    method: str = "gaussian-nll"
    method_hparams: dict[str, Any] = field(default_factory=dict)
    target: str = "emission_nm"
    head: str = "gaussian"
    split: str = "scaffold-seeded"
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    split_seed: int | None = None
    featurizer: str = "zincfluor"
    backbone: str = "gcn"
    molecule_features: str = "none"
    morgan_bits: int = 2048
    hidden_dim: int = 128
    num_layers: int = 6
    dropout: float = 0.1
    pooling: str = "mean"
    projection_dim: int | None = None
    solvent_hidden_dim: int = 64
    solvent_out_dim: int = 32
    solvent_dropout: float = 0.1
    solvent_backbone: str = "gcn"
    solvent_graph_dim: int = 64
    solvent_graph_layers: int = 2
    batch_size: int = 64
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(grad_clip=GRAD_CLIP))
    device: str = "auto"
    cache_dir: str | None = None
    n_jobs: int | None = None
    head_threshold: int = 100
    tail_threshold: int = 20
    group_rule: str = "thirds"

    def __post_init__(self) -> None:
        if self.solvent_encoder not in SOLVENT_RUN_ENCODERS:
            raise ValueError(
                f"solvent encoder must be one of {', '.join(SOLVENT_RUN_ENCODERS)}, "
                f"got {self.solvent_encoder!r}"
            )
        if self.split not in GROUPED_SPLIT_KINDS:
            raise ValueError(
                f"a solvent-aware run needs a grouped split: one of "
                f"{', '.join(GROUPED_SPLIT_KINDS)}, got {self.split!r}"
            )
        if self.group_rule not in GROUP_RULES:
            raise ValueError(
                f"group rule must be one of {', '.join(GROUP_RULES)}, got {self.group_rule!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def resolved_split_seed(self) -> int:
        return self.seed if self.split_seed is None else self.split_seed


@dataclass
class SolventRunResult:
    out: Path
    fit: FitResult
    valid_metrics: dict[str, Any]
    test_metrics: dict[str, Any]
    table: SolventMeasurementTable
    rows: dict[str, np.ndarray]
    device: str


def molecule_medians(
    table: SolventMeasurementTable, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(molecule index, median emission nm) of each distinct molecule among ``rows``: the
    median-over-solvents target of the model without a solvent input."""
    frame = pd.DataFrame({
        "molecule": table.molecule_codes()[rows],
        "nm": table.frame["emission_nm"].to_numpy(float)[rows],
    })
    medians = frame.groupby("molecule", sort=True)["nm"].median()
    return medians.index.to_numpy(np.int64), np.array(medians.to_numpy(float))


def solvent_metadata(
    encoder: str, table: SolventMeasurementTable, train_rows: np.ndarray,
    solvent_featurizer: FeaturizerConfig | None = None,
) -> dict[str, Any]:
    """The checkpoint's ``"solvent"`` block: ``encoder``; ``inputs`` (what the model reads:
    ``"sol_x"``, ``"sol_id+solvent_graphs"`` or ``"none"``); ``feature_names`` (descriptors);
    ``featurizer`` (the graph encoder's solvent-graph featurizer settings); ``kinds`` (solvent
    kinds of the training rows); ``train_solvents``: one entry per solvent of the training
    rows, most rows first, ``{"smiles", "name" (None when not in the table), "class",
    "rows"}``."""
    frame = table.frame.iloc[train_rows]
    counts = frame.groupby("solvent", sort=False).agg(
        rows=("solvent", "size"), solvent_class=("solvent_class", "first")
    ).sort_values("rows", ascending=False, kind="stable")
    inputs = {"descriptors": "sol_x", "graph": "sol_id+solvent_graphs", "none": "none"}[encoder]
    return {
        "encoder": encoder,
        "inputs": inputs,
        "feature_names": list(SOLVENT_FEATURE_NAMES) if encoder == "descriptors" else [],
        "featurizer": solvent_featurizer.to_dict() if solvent_featurizer is not None else None,
        "kinds": list(SOLUTION_KINDS),
        "train_solvents": [
            {"smiles": str(smiles), "name": solvent_name(str(smiles)),
             "class": str(row.solvent_class), "rows": int(row.rows)}
            for smiles, row in counts.iterrows()
        ],
    }


def _row_graph(graph: Data, level: int, nm: float) -> Data:
    """A graph of one row: the molecule's tensors (shared, not copied), its label and nm."""
    row = Data(x=graph.x, edge_index=graph.edge_index, edge_attr=graph.edge_attr,
               y=torch.tensor([int(level)], dtype=torch.long),
               y_nm=torch.tensor([float(nm)], dtype=torch.float32))
    if getattr(graph, "mol_x", None) is not None:
        row.mol_x = graph.mol_x
    return row


def _descriptor_scaling(rows: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-column mean and standard deviation over training rows (1 for a constant column)."""
    rows = np.asarray(rows, dtype=np.float64)
    mean = np.nanmean(rows, axis=0)
    std = np.nanstd(rows, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 1e-8), std, 1.0)
    return mean.tolist(), std.tolist()


def _evaluate(
    model, loader, device, train_counts, names, table, rows, config,
) -> dict[str, Any]:
    """Row-level metrics of ``rows`` plus ``per_solvent_class``."""
    thresholds = GroupThresholds(config.head_threshold, config.tail_threshold)
    probs, targets = predict_proba(model, loader, device)
    emission = predict_emission_nm(model, loader, device)
    true_nm = table.frame["emission_nm"].to_numpy(float)[rows]
    metrics = evaluate_with_wavelength(
        probs, targets, train_counts, names, thresholds=thresholds,
        group_rule=config.group_rule, emission_nm=emission, true_nm=true_nm,
    )
    metrics["per_solvent_class"] = evaluate_per_subset(
        probs, targets, train_counts, names,
        table.frame["solvent_class"].to_numpy(object)[rows], order=SOLVENT_CLASS_ORDER,
        predicted_nm=None if emission is None else emission[:, 0],
        true_nm=None if emission is None else true_nm,
        thresholds=thresholds, group_rule=config.group_rule,
    )
    return metrics


@dataclass
class SolventRows:
    """The rows of a solvent-aware run and their molecule-grouped split.

    Attributes
    ----------
    table : the solution rows (kind "smiles")
    featurizer : the dye featurizer (allowed elements: those of the table's molecules)
    graphs : one graph per distinct molecule (``table.molecules``), None where it failed
    split : the molecule split (indices into ``table.molecules``)
    rows : row indices of ``table.frame`` in each part
    """

    table: SolventMeasurementTable
    featurizer: FeaturizerConfig
    graphs: list
    split: Split
    rows: dict[str, np.ndarray]


def prepare_rows(
    config: SolventRunConfig, *, console=None, progress: bool = False
) -> SolventRows:
    """Read ``config.data``'s solution rows, featurise the distinct molecules and split them
    as :func:`solvent_run` does (a peer that must use the same split calls this too)."""
    table = read_solvent_measurements(
        config.data, smiles_column=config.smiles_column, solvent_column=config.solvent_column,
        value_column=config.value_column, kinds=SOLUTION_KINDS,
    )
    log(console, table.summary())
    molecules = table.molecules
    standardizer = StandardizerConfig(allowed_elements=elements_in_smiles(molecules))
    featurizer = FeaturizerConfig(backend=config.featurizer, standardizer=standardizer)
    featurized = featurize_cached(
        molecules, featurizer, resolve_cache_dir(config.cache_dir), n_jobs=config.n_jobs,
        progress=progress,
    )
    for error in featurized.errors:
        log(console, f"[yellow]left out[/yellow] {error}")
    split = split_measurements(
        table, config.split, config.fractions, seed=config.resolved_split_seed,
        usable=usable_mask(len(molecules), featurized.valid_indices),
    )
    check_split(split)
    return SolventRows(table, featurizer, featurized.graphs, split, split_rows(table, split))


def solvent_run(
    config: SolventRunConfig, *, console=None, progress: bool = True
) -> SolventRunResult:
    """Train one solvent-aware (or median-over-solvents) model as ``config`` says and write
    its run folder (module docstring); returns the metrics."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    generator = seed_everything(config.seed)
    device = resolve_device(config.device)
    check_target_and_head(config)
    molecule_config = MoleculeFeatureConfig(config.molecule_features, config.morgan_bits)
    accepted = backbone_setting_names(config.backbone)

    prepared = prepare_rows(config, console=console, progress=progress)
    table, featurizer, split, rows = (
        prepared.table, prepared.featurizer, prepared.split, prepared.rows
    )
    molecules = table.molecules
    split.save(out / "split.json", smiles=molecules)
    graphs = prepared.graphs
    if molecule_config.dim:
        features = attach_molecule_features(graphs, molecules, molecule_config, featurizer)
        mean, scale = fit_feature_scaling(features[split.train], molecule_config)
        readout = MoleculeFeatureReadoutConfig.fitted(mean.tolist(), scale.tolist()).to_dict()
    else:
        readout = None

    frame = table.frame
    codes = table.molecule_codes()
    levels = frame["level"].to_numpy(np.int64)
    values = frame["emission_nm"].to_numpy(float)
    solvents = frame["solvent"].to_numpy(object)
    parts = {
        part: [_row_graph(graphs[codes[r]], levels[r], values[r]) for r in rows[part]]
        for part in ("train", "valid", "test")
    }
    scheme = table.scheme
    if config.solvent_encoder == "none":  # one example per training molecule: its median
        train_molecules, medians = molecule_medians(table, rows["train"])
        train_levels = scheme.assign(medians)
        parts["train"] = [
            _row_graph(graphs[m], level, nm)
            for m, level, nm in zip(train_molecules, train_levels, medians, strict=True)
        ]
        train_nm = medians
    else:
        train_levels = levels[rows["train"]]
        train_nm = values[rows["train"]]

    solvent_spec, solvent_graphs, solvent_featurizer = None, None, None
    mlp = {"hidden_dim": config.solvent_hidden_dim, "out_dim": config.solvent_out_dim,
           "dropout": config.solvent_dropout}
    if config.solvent_encoder == "descriptors":
        fitted = {}
        for part in ("train", "valid", "test"):
            fitted[part] = attach_solvent_descriptors(parts[part], solvents[rows[part]].tolist())
        mean_s, scale_s = _descriptor_scaling(fitted["train"])
        solvent_spec = SolventReadoutConfig(
            "descriptors", dim=len(SOLVENT_FEATURE_NAMES), mean=mean_s, scale=scale_s, **mlp
        ).to_dict()
    elif config.solvent_encoder == "graph":
        vocabulary = sorted(set(solvents.tolist()))
        for part in ("train", "valid", "test"):
            attach_solvent_ids(parts[part], solvents[rows[part]].tolist(), vocabulary)
        solvent_featurizer = FeaturizerConfig(backend="zincfluor")
        solvent_graphs = solvent_graph_batch(vocabulary, solvent_featurizer, device)
        graph_accepts = backbone_setting_names(config.solvent_backbone)
        graph_settings = {"hidden_dim": config.solvent_graph_dim,
                          "num_layers": config.solvent_graph_layers, "pooling": "mean"}
        solvent_spec = SolventReadoutConfig(
            "graph",
            backbone=backbone_spec(
                config.solvent_backbone, solvent_featurizer.atom_dim, solvent_featurizer.bond_dim,
                **{k: v for k, v in graph_settings.items() if k in graph_accepts},
            ),
            **mlp,
        ).to_dict()

    def loader(part: str, batch_size: int, shuffle: bool):
        made = graph_loader(parts[part], batch_size, device, shuffle=shuffle,
                            generator=generator if shuffle else None)
        return made if solvent_graphs is None else SolventGraphBatches(made, solvent_graphs)

    train_loader = loader("train", config.batch_size, True)
    valid_loader = loader("valid", 512, False)
    test_loader = loader("test", 512, False)

    num_classes = scheme.num_classes
    train_counts = class_counts(np.asarray(train_levels), num_classes)
    context = MethodContext(
        class_counts=torch.as_tensor(train_counts, dtype=torch.float32),
        num_epochs=config.trainer.epochs,
        steps_per_epoch=len(train_loader),
        augment=GraphAugment(0.2, 0.2),
        target_values=torch.tensor(np.asarray(train_nm, dtype=np.float32)),
    )
    method = build_method(config.method, context, **config.method_hparams)
    shared = {"hidden_dim": config.hidden_dim, "num_layers": config.num_layers,
              "dropout": config.dropout, "pooling": config.pooling}
    spec = model_spec(
        backbone_spec(
            config.backbone, featurizer.atom_dim, featurizer.bond_dim,
            **{key: value for key, value in shared.items() if key in accepted},
        ),
        num_classes,
        projection_dim=config.projection_dim,
        head=head_spec(config.head, num_classes, edges=scheme.edges, train_nm=train_nm),
        molecule_features=readout,
        solvent=solvent_spec,
    )
    spec = method.adjust_model_spec(spec)
    model = build_classifier(spec)
    solvent = solvent_metadata(config.solvent_encoder, table, rows["train"], solvent_featurizer)
    sizes = {part: int(len(indices)) for part, indices in rows.items()}

    run_config = config.to_dict()
    run_config["resolved"] = {
        "device": str(device),
        "split_seed": config.resolved_split_seed,
        "featurizer": featurizer.to_dict(),
        "molecule_features": molecule_config.to_dict(),
        "label_scheme": scheme.to_dict(),
        "train_class_counts": train_counts.tolist(),
        "method_hparams": method.hparams,
        "model_spec": spec,
        "rows": sizes,
        "solvent": solvent,
    }
    (out / "config.json").write_text(json.dumps(run_config, indent=2))
    log(console, f"training {config.method} with solvent encoder {config.solvent_encoder} on "
                 f"{len(parts['train'])} examples ({sizes['valid']} validation rows, "
                 f"{sizes['test']} test rows) on {device}")

    live = progress and (console is None or console.is_terminal)
    trainer = Trainer(
        model, method, config.trainer, device=device, progress=live,
        on_epoch_end=epoch_logger(console, config.trainer.epochs),
    )
    fit = trainer.fit(train_loader, valid_loader)
    model = trainer.model
    names = list(scheme.names)
    valid_metrics = _evaluate(model, valid_loader, device, train_counts, names, table,
                              rows["valid"], config)
    test_metrics = _evaluate(model, test_loader, device, train_counts, names, table,
                             rows["test"], config)  # the one test look

    save_checkpoint(
        out / CHECKPOINT_NAME,
        model=model,
        model_spec=spec,
        class_counts=train_counts.tolist(),
        method={"name": config.method, "hparams": method.hparams},
        metadata={
            "kind": "molecules",
            "target": config.target,
            "featurizer": featurizer.to_dict(),
            "molecule_features": molecule_config.to_dict(),
            "label_scheme": scheme.to_dict(),
            "group_thresholds": [config.head_threshold, config.tail_threshold],
            "group_rule": config.group_rule,
            "data_source": str(config.data),
            "split": {"kind": config.split, "seed": config.resolved_split_seed,
                      "sizes": split.sizes(), "rows": sizes},
            "solvent": solvent,
            "best_epoch": fit.best_epoch,
            "valid_balanced_accuracy": fit.best_score,
            "test_metrics": headline_metrics(test_metrics),
        },
    )
    write_run_reports(
        out, fit, valid_metrics, test_metrics, device, method=config.method,
        extra={"solvent_encoder": config.solvent_encoder, "rows": sizes},
    )
    return SolventRunResult(out, fit, valid_metrics, test_metrics, table, rows, str(device))
