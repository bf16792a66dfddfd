"""Train one molecular model: measurements -> run folder.

``train_run`` wires the pieces in the house plan's order::

    read_measurements -> make_split -> featurize_cached -> loaders
        -> build_classifier + method -> Trainer.fit (model choice on validation)
        -> one test evaluation -> run folder

A run folder holds ``config.json`` (everything the run was started with), ``split.json``,
``bad_rows.csv`` (when the input had any), ``checkpoint.pt``, ``metrics.json`` (validation at the
chosen epoch, test, per-epoch history), ``per_level.md``/``per_level.csv``,
``confusion_matrix.png`` and ``training_curves.png``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zincfluor.chem import FeaturizerConfig, featurize_cached
from zincfluor.chem.molecule_features import (
    MoleculeFeatureConfig,
    attach_molecule_features,
    fit_feature_scaling,
)
from zincfluor.chem.standardize import StandardizerConfig, elements_in_smiles
from zincfluor.data import DataOptions, MoleculeTable, Split, class_counts, make_split
from zincfluor.methods import METHODS, MethodContext, build_method
from zincfluor.nn import (
    MoleculeFeatureReadoutConfig,
    backbone_setting_names,
    backbone_spec,
    build_classifier,
    model_spec,
)
from zincfluor.nn.graph_augment import GraphAugment
from zincfluor.nn.heads import HEADS, head_spec
from zincfluor.runs.common import (
    attach_labels,
    graph_loader,
    headline_metrics,
    log,
    resolve_cache_dir,
    usable_mask,
)
from zincfluor.runs.wavelength import evaluate_with_wavelength, predict_emission_nm
from zincfluor.train.checkpoint import CHECKPOINT_NAME, save_checkpoint
from zincfluor.train.metrics import GROUP_RULES, GroupThresholds
from zincfluor.train.report import epoch_logger, write_run_reports
from zincfluor.train.seeding import resolve_device, seed_everything
from zincfluor.train.trainer import FitResult, Trainer, TrainerConfig, predict_proba

__all__ = ["DataOptions", "TrainRunConfig", "TrainRunResult", "train_run", "check_split"]


@dataclass
class TrainRunConfig:
    """Everything a training run is started with; written to ``config.json``.

    ``target`` is what the loss sees: "level" (the class of each molecule) or "emission_nm"
    (its emission maximum as well, ``y_nm`` on every graph, for the wavelength-regression
    methods: gaussian-nll, lds, fds, balanced-mse). ``head`` is the classifier head: "linear",
    "cosine", "gaussian" (a distribution over the emission maximum; needs a binned scheme and
    the value column) or "ordinal" (CORN); methods that choose their own head (LDAM, KPS)
    need the default "linear".

    ``backbone`` is a name of the backbone registry: "gcn" (the paper's, no bond features),
    "dmpnn", "gine" or "attentivefp"; ``hidden_dim``, ``num_layers``, ``dropout`` and
    ``pooling`` go to the backbones that have them (attentivefp has its own readout).
    ``molecule_features`` ("none", "morgan", "rdkit2d", "both"; ``morgan_bits`` columns of
    Morgan counts) are joined to the pooled graph vector, scaled with training-split statistics.

    ``seed`` seeds initialisation and batch order, and the split unless ``split_seed`` is set:
    members of an ensemble train with their own ``seed`` on one shared ``split_seed``.

    ``group_rule`` forms the reports' head/medium/tail groups: "thirds" (levels by training
    count, cut into three near-equal parts) or "thresholds" (more than ``head_threshold``
    training molecules, ``tail_threshold`` to ``head_threshold``, fewer than
    ``tail_threshold``); see :mod:`zincfluor.train.metrics`.
    """

    data: DataOptions
    out: str
    method: str = "ce"
    method_hparams: dict[str, Any] = field(default_factory=dict)
    target: str = "level"
    head: str = "linear"
    split: str = "stratified"
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    split_seed: int | None = None  # None: the split (and subsampling) follow ``seed``
    imbalance_ratio: float | None = None
    featurizer: str = "zincfluor"
    backbone: str = "gcn"
    molecule_features: str = "none"
    morgan_bits: int = 2048
    hidden_dim: int = 128
    num_layers: int = 6
    dropout: float = 0.1
    pooling: str = "mean"
    projection_dim: int | None = 128
    edge_drop: float = 0.2  # contrastive methods' graph views: bond drop probability
    feature_mask: float = 0.2  # ... and atom-feature column mask probability (per molecule)
    batch_size: int = 64
    loader: str = "resident"  # "pyg": PyG's DataLoader (same batches, collated on the host)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    device: str = "auto"
    cache_dir: str | None = None
    n_jobs: int | None = None
    head_threshold: int = 100
    tail_threshold: int = 20
    group_rule: str = "thirds"

    def __post_init__(self) -> None:
        if self.group_rule not in GROUP_RULES:
            raise ValueError(
                f"group rule must be one of {', '.join(GROUP_RULES)}, got {self.group_rule!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def resolved_split_seed(self) -> int:
        """The seed of the split and of its long-tail subsampling."""
        return self.seed if self.split_seed is None else self.split_seed


@dataclass
class TrainRunResult:
    out: Path
    fit: FitResult
    valid_metrics: dict[str, Any]
    test_metrics: dict[str, Any]
    table: MoleculeTable
    split: Split
    device: str


def train_run(config: TrainRunConfig, *, console=None, progress: bool = True) -> TrainRunResult:
    """Train one model as ``config`` says and write its run folder; returns the metrics."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    generator = seed_everything(config.seed)
    device = resolve_device(config.device)

    check_target_and_head(config)
    molecule_config = MoleculeFeatureConfig(config.molecule_features, config.morgan_bits)
    accepted = backbone_setting_names(config.backbone)  # an unknown name fails here
    table = config.data.read()
    log(console, table.summary())
    if table.bad_rows:
        table.write_bad_rows(out / "bad_rows.csv")
        log(console, f"rows that were left out are listed in {out / 'bad_rows.csv'}")

    # The model's scope: elements of the data it learnt from (a prediction for a molecule with
    # any other element is reported out_of_scope instead of guessed).
    standardizer = StandardizerConfig(allowed_elements=elements_in_smiles(table.smiles))
    featurizer = FeaturizerConfig(backend=config.featurizer, standardizer=standardizer)
    featurized = featurize_cached(
        table.smiles, featurizer, resolve_cache_dir(config.cache_dir), n_jobs=config.n_jobs,
        progress=progress,
    )
    for error in featurized.errors:
        log(console, f"[yellow]left out[/yellow] {error}")
    split = make_split(
        table,
        kind=config.split,
        fractions=config.fractions,
        seed=config.resolved_split_seed,
        imbalance_ratio=config.imbalance_ratio,
        usable=usable_mask(len(table.smiles), featurized.valid_indices),
    )
    check_split(split)
    split.save(out / "split.json", smiles=table.smiles)
    num_classes = table.scheme.num_classes
    train_counts = class_counts(table.labels[split.train], num_classes)

    graphs = featurized.graphs
    readout = None
    if molecule_config.dim:
        features = attach_molecule_features(graphs, table.smiles, molecule_config, featurizer)
        mean, scale = fit_feature_scaling(features[split.train], molecule_config)
        readout = MoleculeFeatureReadoutConfig.fitted(mean.tolist(), scale.tolist()).to_dict()
    train_set = attach_labels(graphs, table.labels, split.train)
    valid_set = attach_labels(graphs, table.labels, split.valid)
    test_set = attach_labels(graphs, table.labels, split.test)
    train_values = None
    if config.target == "emission_nm":
        if table.values is None:
            raise ValueError(
                "--target emission_nm needs the emission value of each molecule: use a value "
                "column (--value-column), not a label column"
            )
        for indices in (split.train, split.valid, split.test):
            attach_emission_nm(graphs, table.values, indices)
        train_values = torch.as_tensor(table.values[split.train], dtype=torch.float32)
    kind = config.loader
    train_loader = graph_loader(
        train_set, config.batch_size, device, shuffle=True, generator=generator, kind=kind
    )
    valid_loader = graph_loader(valid_set, 512, device, shuffle=False, kind=kind)
    test_loader = graph_loader(test_set, 512, device, shuffle=False, kind=kind)

    context = MethodContext(
        class_counts=torch.as_tensor(train_counts, dtype=torch.float32),
        num_epochs=config.trainer.epochs,
        steps_per_epoch=len(train_loader),
        augment=GraphAugment(config.edge_drop, config.feature_mask),
        target_values=train_values,
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
        head=head_spec(
            config.head, num_classes, edges=table.scheme.edges,
            train_nm=None if table.values is None else table.values[split.train],
        ),
        molecule_features=readout,
    )
    spec = method.adjust_model_spec(spec)
    if config.head != "linear" and spec["head"]["name"] != config.head:
        raise ValueError(
            f"method {config.method!r} sets its own head ({spec['head']['name']!r}); "
            f"leave --head at linear (got --head {config.head})"
        )
    model = build_classifier(spec)

    run_config = config.to_dict()
    run_config["resolved"] = {
        "device": str(device),
        "split_seed": config.resolved_split_seed,
        "featurizer": featurizer.to_dict(),
        "molecule_features": molecule_config.to_dict(),
        "label_scheme": table.scheme.to_dict(),
        "train_class_counts": train_counts.tolist(),
        "method_hparams": method.hparams,
        "model_spec": spec,
    }
    (out / "config.json").write_text(json.dumps(run_config, indent=2))
    log(
        console,
        f"training {config.method} on {len(train_set)} molecules "
        f"({len(valid_set)} validation, {len(test_set)} test) on {device}",
    )

    live = progress and (console is None or console.is_terminal)
    trainer = Trainer(
        model, method, config.trainer, device=device, progress=live,
        on_epoch_end=epoch_logger(console, config.trainer.epochs),
    )
    fit = trainer.fit(train_loader, valid_loader)
    model = trainer.model

    thresholds = GroupThresholds(config.head_threshold, config.tail_threshold)
    names = list(table.scheme.names)
    values = table.values
    valid_probs, valid_targets = predict_proba(model, valid_loader, device)
    valid_metrics = evaluate_with_wavelength(
        valid_probs, valid_targets, train_counts, names, thresholds=thresholds,
        group_rule=config.group_rule,
        emission_nm=predict_emission_nm(model, valid_loader, device),
        true_nm=None if values is None else values[split.valid],
    )
    test_probs, test_targets = predict_proba(model, test_loader, device)  # the one test look
    test_metrics = evaluate_with_wavelength(
        test_probs, test_targets, train_counts, names, thresholds=thresholds,
        group_rule=config.group_rule,
        emission_nm=predict_emission_nm(model, test_loader, device),
        true_nm=None if values is None else values[split.test],
    )

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
            "label_scheme": table.scheme.to_dict(),
            "group_thresholds": [config.head_threshold, config.tail_threshold],
            "group_rule": config.group_rule,
            "data_source": str(config.data.path),
            "split": {"kind": config.split, "seed": config.resolved_split_seed,
                      "sizes": split.sizes()},
            "imbalance_ratio": config.imbalance_ratio,
            "trainer": config.trainer.to_dict(),
            "best_epoch": fit.best_epoch,
            "valid_balanced_accuracy": fit.best_score,
            "test_metrics": headline_metrics(test_metrics),
        },
    )
    write_run_reports(out, fit, valid_metrics, test_metrics, device, method=config.method)
    return TrainRunResult(out, fit, valid_metrics, test_metrics, table, split, str(device))


TARGETS = ("level", "emission_nm")


def check_target_and_head(config: TrainRunConfig) -> None:
    """The target, head and method must fit together: one clear line when they do not."""
    if config.target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {config.target!r}")
    if config.head not in HEADS:
        raise ValueError(f"head must be one of {', '.join(HEADS)}, got {config.head!r}")
    method_target = getattr(METHODS.get(config.method), "target", "level")
    if method_target != config.target:
        if method_target == "emission_nm":
            raise ValueError(
                f"method {config.method!r} trains on the emission maximum: use --target "
                "emission_nm (and --head gaussian)"
            )
        raise ValueError(
            f"method {config.method!r} trains on levels: use --target level, or a wavelength "
            "method (gaussian-nll, lds, fds, balanced-mse) with --target emission_nm"
        )


def attach_emission_nm(graphs, values: np.ndarray, indices: np.ndarray) -> None:
    """Set ``y_nm``, the emission maximum in nm (float32, one per graph), on the graphs at
    ``indices`` (beside the ``y`` that :func:`~zincfluor.runs.common.attach_labels` sets)."""
    for i in indices:
        graphs[i].y_nm = torch.tensor([float(values[i])], dtype=torch.float32)


def check_split(split: Split) -> None:
    """Every part must hold molecules: training needs train, model choice valid, the report test."""
    empty = [name for name, size in split.sizes().items() if size == 0]
    if not empty:
        return
    hint = (
        "a scaffold split puts whole scaffold sets into one part, so a small or "
        "scaffold-poor table can leave a part empty; use more data or --split stratified"
        if split.kind == "scaffold"
        else "use more data"
    )
    raise ValueError(f"the {split.kind} split left the {' and '.join(empty)} part empty ({hint})")


