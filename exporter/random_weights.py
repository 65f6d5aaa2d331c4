"""Random-initialised backbone weights, for speed measurements only.

A model exported from them has the real graph and FLOPs but meaningless features: its metadata says
weights_source=random, so no bank, benchmark or operator can mistake it for a real model. Used by `make bench`
to time DINOv2-S on a machine that has no DINOv2 checkpoint."""

import hashlib

import timm
import torch

from exporter.backbones import BackboneSpec
from exporter.checkpoints import Weights
from patchcore.model import RANDOM_SOURCE


def random_weights(spec: BackboneSpec, seed: int = 0) -> Weights:
    """timm's own initialisation of `spec`'s model, seeded; sha256 is the digest of the tensors' bytes."""
    torch.manual_seed(seed)
    state_dict = timm.create_model(spec.timm_name, pretrained=False).state_dict()
    digest = hashlib.sha256()
    for name, tensor in state_dict.items():
        digest.update(name.encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return Weights(state_dict, RANDOM_SOURCE, digest.hexdigest())
