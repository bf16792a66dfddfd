"""Long-tailed image classification: CIFAR-LT and Places-LT data, ResNet backbones, loaders.

Importing :mod:`zincfluor.vision` registers the ResNet backbones (``resnet32``, ``resnet18``,
``resnet34``, ``resnet50``) with :func:`zincfluor.nn.model.register_backbone`. The training loop
and the long-tail methods are the shared ones (:mod:`zincfluor.train`, :mod:`zincfluor.methods`);
images reach them as ``(x, y)`` batches, from :class:`~zincfluor.vision.augment.DeviceImageLoader`
(CIFAR, resident on the device) or :class:`~zincfluor.vision.stream.StreamingImageLoader`
(Places-LT, decoded from disk), and contrastive methods get
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
from zincfluor.vision.places import (
    PLACES_VARIANTS,
    ImageList,
    PlacesSplits,
    load_places_lt,
    reduce_classes,
)
from zincfluor.vision.stream import ImageListDataset, StreamingImageLoader

__all__ = [
    "ContrastiveView",
    "DeviceImageLoader",
    "ImageList",
    "ImageListDataset",
    "ImageSet",
    "PLACES_VARIANTS",
    "PlacesSplits",
    "StreamingImageLoader",
    "VisionSplits",
    "load_dataset",
    "load_long_tailed",
    "load_places_lt",
    "long_tail_counts",
    "reduce_classes",
]
