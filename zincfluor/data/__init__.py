"""zincfluor.data: labelled molecule tables, label schemes, splits and the long-tail subset.

Typical use::

    from zincfluor.data import make_split, read_measurements, resolve_data_path

    table = read_measurements(resolve_data_path(None))  # Deep4Chem, emission8 levels
    split = make_split(table, kind="stratified", seed=0, imbalance_ratio=1100)
"""

from zincfluor.data.labels import (
    EMISSION8,
    REGISTERED_SCHEMES,
    LabelScheme,
    categorical_scheme,
    resolve_scheme,
)
from zincfluor.data.options import DataOptions
from zincfluor.data.sources import (
    DATA_DIR_ENV,
    DATASETS,
    DataFetchError,
    DataNotFoundError,
    fetch_dataset,
    resolve_data_path,
    sha256_of,
)
from zincfluor.data.splits import (
    SPLIT_KINDS,
    Split,
    long_tail_sizes,
    long_tail_subsample,
    make_split,
    murcko_scaffold,
    scaffold_split,
    stratified_split,
)
from zincfluor.data.stats import (
    ImbalanceSummary,
    class_counts,
    imbalance_summary,
    split_count_rows,
)
from zincfluor.data.tables import BadRow, MoleculeTable, read_measurements

__all__ = [
    "DataOptions",
    "EMISSION8",
    "REGISTERED_SCHEMES",
    "LabelScheme",
    "categorical_scheme",
    "resolve_scheme",
    "DATA_DIR_ENV",
    "DATASETS",
    "DataFetchError",
    "DataNotFoundError",
    "fetch_dataset",
    "resolve_data_path",
    "sha256_of",
    "SPLIT_KINDS",
    "Split",
    "long_tail_sizes",
    "long_tail_subsample",
    "make_split",
    "murcko_scaffold",
    "scaffold_split",
    "stratified_split",
    "ImbalanceSummary",
    "class_counts",
    "imbalance_summary",
    "split_count_rows",
    "BadRow",
    "MoleculeTable",
    "read_measurements",
]
