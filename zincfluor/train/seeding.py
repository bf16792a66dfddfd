"""One call to make a run repeatable."""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["seed_everything", "resolve_device", "DeviceUnavailableError"]


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); returns a seeded generator for loaders."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


class DeviceUnavailableError(RuntimeError):
    """A ``--device`` this machine cannot give (``cuda`` without a GPU, an unknown name)."""


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cuda`` without a GPU is a clear error.

    Raises
    ------
    DeviceUnavailableError
        For a device string PyTorch does not know, or a CUDA device on a machine without one
        (or with fewer GPUs than the index asks for).
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise DeviceUnavailableError(
            f"--device {device}: not a device name; use auto, cpu or cuda (cuda:N for GPU N)"
        ) from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                f"--device {device} was asked for, but PyTorch sees no CUDA GPU here; "
                "use --device cpu (or auto)"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"--device {device}: PyTorch sees {torch.cuda.device_count()} CUDA GPU(s), "
                f"numbered from 0; use --device cuda:0 .. cuda:{torch.cuda.device_count() - 1}"
            )
    elif resolved.type != "cpu":
        raise DeviceUnavailableError(f"--device {device}: zincfluor runs on auto, cpu or cuda")
    return resolved
