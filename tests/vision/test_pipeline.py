"""Device-dependent settings of the image pipeline (no GPU needed: only the device type)."""

import pytest
import torch

from zincfluor.vision.pipeline import VisionRunConfig, resolve_config, resolve_device_settings


def _config(**kwargs):
    return resolve_config(VisionRunConfig(dataset="cifar10-lt", data_root=".", out=".", **kwargs))


def test_auto_is_bf16_and_channels_last_on_cuda_only():
    cuda = resolve_device_settings(_config(), torch.device("cuda"))
    assert cuda.precision == cuda.trainer.precision == "bf16" and cuda.channels_last is True
    cpu = resolve_device_settings(_config(), torch.device("cpu"))
    assert cpu.precision == cpu.trainer.precision == "fp32" and cpu.channels_last is False


def test_explicit_settings_win_and_bad_ones_fail():
    forced = resolve_device_settings(_config(precision="fp32", channels_last=False),
                                     torch.device("cuda"))
    assert forced.trainer.precision == "fp32" and forced.channels_last is False
    with pytest.raises(ValueError, match="precision"):
        resolve_device_settings(_config(precision="fp16"), torch.device("cpu"))
