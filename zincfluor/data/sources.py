"""Find the Deep4Chem data file on disk, or download the original from figshare.

Deep4Chem is "Experimental database of optical properties of organic compounds", Joung, Han,
Jeong and Park, Scientific Data 7:295 (2020), doi 10.1038/s41597-020-00634-8, published under
CC BY 4.0: cite it wherever the data or a model trained on it is used. The original file,
``DB for chromophore_Sci_Data_rev02.csv``, is on figshare, doi 10.6084/m9.figshare.12045567
(article 12045567); it is stored here as ``DB_for_chromophore_deep4chem.csv``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DataFetchError",
    "DataNotFoundError",
    "RemoteDataset",
    "DATASETS",
    "DATA_DIR_ENV",
    "FIGSHARE_API",
    "resolve_data_path",
    "fetch_dataset",
    "sha256_of",
]

DATA_DIR_ENV = "ZINCFLUOR_DATA_DIR"
FIGSHARE_API = "https://api.figshare.com/v2"
SHARED_DATA_RELATIVE = Path("..") / "shared" / "data"
REPO_ROOT = Path(__file__).resolve().parents[2]
"""Root of the checkout (the parent of the ``zincfluor`` package directory)."""

_CHUNK = 1 << 20
_USER_AGENT = "zincfluor-data-fetch (+https://doi.org/10.6084/m9.figshare.12045567)"


class DataNotFoundError(FileNotFoundError):
    """The data file is in none of the places searched."""


class DataFetchError(RuntimeError):
    """A data set could not be downloaded or did not verify."""


@dataclass(frozen=True)
class RemoteDataset:
    """Where a data set is published and how to recognise a good copy."""

    article_id: int
    doi: str
    remote_name: str
    filename: str
    subdir: str
    sha256: str

    @property
    def doi_url(self) -> str:
        return f"https://doi.org/{self.doi}"


DATASETS: dict[str, RemoteDataset] = {
    "deep4chem": RemoteDataset(
        article_id=12045567,
        doi="10.6084/m9.figshare.12045567",
        remote_name="DB for chromophore_Sci_Data_rev02.csv",
        filename="DB_for_chromophore_deep4chem.csv",
        subdir="deep4chem",
        sha256="931948b68bc090afc8c067fe294ed6d62352c6df1a72ddfdca24edf323fb2726",
    )
}


def _find_in_dir(directory: Path, dataset: RemoteDataset) -> Path | None:
    """``directory/deep4chem/<file>`` or ``directory/<file>``, whichever exists first."""
    for candidate in (directory / dataset.subdir / dataset.filename, directory / dataset.filename):
        if candidate.is_file():
            return candidate
    return None


def _from_explicit(data: Path, dataset: RemoteDataset) -> Path:
    if data.is_file():
        return data
    if not data.is_dir():
        raise DataNotFoundError(f"--data {data} does not exist")
    found = _find_in_dir(data, dataset)
    if found is not None:
        return found
    csv_files = sorted(data.glob("*.csv"))
    if len(csv_files) == 1:
        return csv_files[0]
    listed = ", ".join(path.name for path in csv_files) or "none"
    raise DataNotFoundError(
        f"--data {data} is a directory without {dataset.subdir}/{dataset.filename} or a single "
        f"CSV file (CSV files there: {listed}); pass the file itself"
    )


def resolve_data_path(data: str | Path | None = None, dataset: str = "deep4chem") -> Path:
    """Path of the data file to read.

    Looks at, in order: ``data`` (a file, or a directory holding ``deep4chem/<file>``,
    ``<file>`` or a single CSV file); the directory in ``$ZINCFLUOR_DATA_DIR``;
    ``../shared/data`` from the current directory; ``../shared/data`` from the repository root.
    A place without the file is skipped, so a ``$ZINCFLUOR_DATA_DIR`` that lacks it falls
    through to the next place.

    Raises
    ------
    DataNotFoundError
        Naming every place searched and how to download the file.
    """
    remote = DATASETS[dataset]
    if data is not None:
        return _from_explicit(Path(data).expanduser(), remote)
    places: list[tuple[str, Path]] = []
    env_dir = os.environ.get(DATA_DIR_ENV)
    if env_dir:
        places.append((f"${DATA_DIR_ENV}", Path(env_dir).expanduser()))
    places.append(("next to the current directory", (Path.cwd() / SHARED_DATA_RELATIVE).resolve()))
    places.append(("next to the repository", (REPO_ROOT / SHARED_DATA_RELATIVE).resolve()))
    for _, directory in places:
        found = _find_in_dir(directory, remote)
        if found is not None:
            return found
    if not env_dir:
        places.insert(0, (f"${DATA_DIR_ENV}", Path("(not set)")))
    searched = "; ".join(f"{where}: {directory}" for where, directory in places)
    raise DataNotFoundError(
        f"cannot find {remote.filename}. Searched {searched}. Pass --data PATH, set "
        f"{DATA_DIR_ENV}, or download it with `zincfluor data fetch {dataset}`"
    )


def sha256_of(path: str | Path) -> str:
    """Hex sha256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _open(url: str, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    return urllib.request.urlopen(request, timeout=timeout)


def _download_url(remote: RemoteDataset, api_base: str, timeout: float) -> str:
    """Ask the figshare API for the download address of the dataset's file."""
    with _open(f"{api_base.rstrip('/')}/articles/{remote.article_id}", timeout) as response:
        article = json.load(response)
    files = article.get("files", []) if isinstance(article, dict) else []
    for entry in files:
        if entry.get("name") == remote.remote_name and entry.get("download_url"):
            return str(entry["download_url"])
    names = ", ".join(repr(entry.get("name")) for entry in files) or "none"
    raise DataFetchError(
        f"figshare article {remote.article_id} has no file {remote.remote_name!r} "
        f"(files: {names}); download it by hand from {remote.doi_url} and pass --data"
    )


def _download(url: str, target: Path, timeout: float) -> str:
    """Stream ``url`` into ``target`` and return the sha256 of what was written."""
    digest = hashlib.sha256()
    with _open(url, timeout) as response, open(target, "wb") as handle:
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            digest.update(chunk)
            handle.write(chunk)
    return digest.hexdigest()


def fetch_dataset(
    name: str = "deep4chem",
    dest_dir: str | Path = "data",
    *,
    timeout: float = 60,
    api_base: str = FIGSHARE_API,
) -> Path:
    """Download a data set from figshare into ``dest_dir`` and verify its sha256.

    A file already there with the right checksum is kept as is. The download goes
    to a temporary file that replaces the target only once its checksum matches.

    Parameters
    ----------
    name : data set name (``"deep4chem"``)
    dest_dir : data directory; the file goes into its ``deep4chem/`` folder (created if
        needed), the layout :func:`resolve_data_path` and ``$ZINCFLUOR_DATA_DIR`` expect
    timeout : seconds to wait for each network operation
    api_base : figshare API base URL (tests point it at a local server)

    Returns
    -------
    Path of the verified file, ``dest_dir/deep4chem/DB_for_chromophore_deep4chem.csv``.

    Raises
    ------
    DataFetchError
        When figshare cannot be reached, the file is missing from the article, or the download
        does not match the expected checksum.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    remote = DATASETS[name]
    dest = Path(dest_dir).expanduser() / remote.subdir
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / remote.filename
    if target.is_file() and sha256_of(target) == remote.sha256:
        return target
    handle, temp_name = tempfile.mkstemp(dir=dest, prefix=f".{remote.filename}.", suffix=".part")
    os.close(handle)
    temp = Path(temp_name)
    try:
        try:
            digest = _download(_download_url(remote, api_base, timeout), temp, timeout)
        except urllib.error.HTTPError as error:
            raise DataFetchError(
                f"figshare answered HTTP {error.code} ({error.reason}) for {error.url}; "
                f"download it by hand from {remote.doi_url} and pass --data"
            ) from error
        except (
            urllib.error.URLError,
            ConnectionError,
            TimeoutError,
            http.client.HTTPException,
            json.JSONDecodeError,
        ) as error:
            raise DataFetchError(
                f"could not reach figshare ({error}); download it by hand from "
                f"{remote.doi_url} and pass --data"
            ) from error
        if digest != remote.sha256:
            raise DataFetchError(
                f"downloaded {remote.remote_name!r} has sha256 {digest}, expected "
                f"{remote.sha256}; the file was deleted. Download it by hand from "
                f"{remote.doi_url} and pass --data"
            )
        os.replace(temp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    return target
