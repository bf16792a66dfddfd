"""Long-tailed image classification: CIFAR-LT data, ResNet backbones, batched augmentation.

Importing :mod:`zincfluor.vision` registers the ResNet backbones (``resnet32``, ``resnet18``,
``resnet34``, ``resnet50``) with :func:`zincfluor.nn.model.register_backbone`. The training loop
and the long-tail methods are the shared ones (:mod:`zincfluor.train`, :mod:`zincfluor.methods`);
images reach them as ``(x, y)`` batches and contrastive methods get
:class:`~zincfluor.vision.augment.ContrastiveView` as their view maker.
"""

from zincfluor.vision import resnet  # noqa: F401  (registers the ResNet backbones)
from zincfluor.vision.augment import ContrastiveView, DeviceImageLoader
from zincfluor.vision.datasets import (
    ImageSet,
    VisionSplits,
    load_dataset,
    load_long_tailed,
    long_tail_counts,
)

__all__ = [
    "ContrastiveView",
    "DeviceImageLoader",
    "ImageSet",
    "VisionSplits",
    "load_dataset",
    "load_long_tailed",
    "long_tail_counts",
]
