"""Model zoo, one file per family: ``cnet`` (CNet1-4 / CCNet1-4, the MLTP paper), ``resnet`` (ResNet-18/34 of the
standard suite), ``conv4`` (Conv-4, max-pooled or strided), ``resnet12`` (ResNet-12, with DropBlock as an option) and
``closer_look`` (CloserLook's few-shot ResNet-10/18). ``create_model(name, num_classes, in_channels, image_size)``;
classes and input size always follow the dataset. Few-shot backbones expose ``embed(x)``, ``head`` and
``feature_dim``.
"""
from . import closer_look, cnet, conv4, resnet, resnet12  # noqa: F401  (each registers its models)
from .cnet import CNET_SPECS, CNet  # noqa: F401
from .conv4 import Conv4  # noqa: F401
from .registry import Backbone, UnknownModelError, count_parameters, create_model, list_models, register_model, set_batchnorm  # noqa: F401
