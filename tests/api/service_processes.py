"""The service's commands as real processes: ``zincfluor serve``, ``worker``, ``db``, ``apikey``.

Shared by the process-level tests (``tests/api/test_process_kill.py``) and the load benchmark
(``bench/api_load.py``, which puts this folder on ``sys.path``). Every process started through a
:class:`Processes` is killed when it closes, and its output goes to a log file (never a pipe
that could fill up and block it); failures quote the end of that log.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = [
    "ZINCFLUOR",
    "Processes",
    "ServiceProcess",
    "free_port",
    "service_env",
    "run_cli",
    "create_api_key",
    "wait_ready",
]

ZINCFLUOR = [sys.executable, "-m", "zincfluor"]
REPO_ROOT = Path(__file__).resolve().parents[2]
KEY_PATTERN = re.compile(r"^(zf_[A-Za-z0-9_\-]+)$", re.MULTILINE)


def free_port() -> int:
    """A TCP port free on loopback right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(database_url: str | None, model_dir: str | Path | None = None,
                torch_threads: int | None = 1, **settings) -> dict[str, str]:
    """``os.environ`` plus ``ZINCFLUOR_DATABASE_URL``, ``ZINCFLUOR_MODEL`` and any other
    setting given as ``name=value`` (``chunk_size=10`` -> ``ZINCFLUOR_CHUNK_SIZE=10``).

    ``database_url=None``: the embedded SQLite (``$ZINCFLUOR_HOME/zincfluor.db``: give the
    folder as ``home=...``, or the file as ``db_path=...``). ``ZINCFLUOR_HOME`` and
    ``ZINCFLUOR_DATA_DIR`` are kept from ``os.environ``, every other ``ZINCFLUOR_*`` dropped.
    ``torch_threads`` caps the intra-op threads of each process (``None``: torch's default).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZINCFLUOR_")
           or k in ("ZINCFLUOR_DATA_DIR", "ZINCFLUOR_HOME")}
    if database_url:
        env["ZINCFLUOR_DATABASE_URL"] = database_url
    if model_dir is not None:
        env["ZINCFLUOR_MODEL"] = str(model_dir)
    for name, value in settings.items():
        env[f"ZINCFLUOR_{name.upper()}"] = str(value)
    if torch_threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(torch_threads)
    # ``api`` is the repository's top-level package: importable whatever the working folder
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if part
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: str | Path,
            timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Run ``zincfluor ARGS`` to the end; raises with its output when it fails."""
    result = subprocess.run([*ZINCFLUOR, *args], env=env, cwd=cwd, capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"zincfluor {' '.join(args)} exited {result.returncode}:\n"
                           f"{result.stdout}{result.stderr}")
    return result


def create_api_key(env: dict[str, str], cwd: str | Path, name: str = "tester") -> str:
    """``zincfluor apikey create --name NAME``; returns the key it printed."""
    result = run_cli(["apikey", "create", "--name", name], env, cwd)
    found = KEY_PATTERN.findall(result.stdout)
    if len(found) != 1:
        raise RuntimeError(f"no API key in the output of apikey create:\n{result.stdout}"
                           f"{result.stderr}")
    return found[0]


class ServiceProcess:
    """One running ``zincfluor`` command, its output in ``log_path``."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], cwd: str | Path,
                 log_path: Path):
        self.name = name
        self.args = args
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            [*ZINCFLUOR, *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(f"{self.name} (zincfluor {' '.join(self.args)}) exited "
                               f"{self.popen.returncode}:\n{self.log_tail()}")

    def wait_for_output(self, text: str, timeout: float = 120.0) -> None:
        """Wait until ``text`` appears in the process's log (raises if it exits first or time
        runs out)."""
        deadline = time.monotonic() + timeout
        while text not in self.log_tail(chars=1_000_000):
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not print {text!r} within {timeout:g} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.1)

    def signal(self, signum: int) -> None:
        if self.alive():
            self.popen.send_signal(signum)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the process to end on its own (no signal: a
        second SIGTERM can reach a process already shutting down, when Python has put the
        default handler back, and kill it); True when it ended."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout)
        return not self.alive()

    def kill(self) -> int:
        """SIGKILL, and reap it; returns the exit status."""
        if self.alive():
            self.popen.kill()
        return self.popen.wait(30)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM (then SIGKILL after ``timeout``), and close the log."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        code = self.kill()
        self._log.close()
        return code


class Processes:
    """Starts ``zincfluor`` commands and stops every one of them on ``close()`` (or on leaving
    a ``with`` block), whatever happened."""

    def __init__(self, env: dict[str, str], workdir: str | Path):
        self.env = env
        self.workdir = Path(workdir)
        self.started: list[ServiceProcess] = []

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None
              ) -> ServiceProcess:
        process = ServiceProcess(name, args, env or self.env, self.workdir,
                                 self.workdir / f"{name}.log")
        self.started.append(process)
        return process

    def serve(self, port: int, *options: str, name: str = "serve") -> ServiceProcess:
        """``zincfluor serve --host 127.0.0.1 --port PORT OPTIONS``."""
        return self.start(name, ["serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--log-level", "warning", *options])

    def worker(self, name: str, *options: str) -> ServiceProcess:
        return self.start(name, ["worker", *options])

    def close(self) -> None:
        for process in reversed(self.started):
            try:
                process.stop(timeout=5.0)
            except Exception:  # noqa: BLE001 - keep stopping the others
                process.popen.kill()

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def wait_ready(base_url: str, process: ServiceProcess, timeout: float = 120.0) -> None:
    """Wait until ``GET /ready`` answers 200 (raises if the process exits or time runs out)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=5.0) as client:
        while time.monotonic() < deadline:
            process.check_alive()
            try:
                response = client.get(f"{base_url}/ready")
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text}"
            except httpx.TransportError as error:
                last = f"{type(error).__name__}: {error}"
            time.sleep(0.1)
    raise RuntimeError(f"{base_url}/ready not ready after {timeout:g} s ({last}):\n"
                       f"{process.log_tail()}")
