import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DEEP4CHEM = Path(
    os.environ.get("ZINCFLUOR_DATA_DIR", REPO_ROOT.parent / "shared" / "data")
) / "deep4chem" / "DB_for_chromophore_deep4chem.csv"


@pytest.fixture
def deep4chem_fixture(tmp_path: Path) -> Path:
    from molecule_fixtures import write_deep4chem_csv

    return write_deep4chem_csv(tmp_path / "fixture.csv")


@pytest.fixture
def shared_deep4chem() -> Path:
    if not SHARED_DEEP4CHEM.is_file():
        pytest.skip(f"shared data not found at {SHARED_DEEP4CHEM}")
    return SHARED_DEEP4CHEM
