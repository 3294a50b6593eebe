"""SAE architectures: an affine encoder/decoder with different activation functions."""

from saebench.saes.architectures.base import (
    ARCHITECTURES,
    LATENT_DIM,
    IdentityActivationSAE,
    LinearSAE,
    ReLUSAE,
    register_architecture,
)
from saebench.saes.architectures.gated import GatedSAE
from saebench.saes.architectures.jumprelu import BatchTopKSAE, JumpReLUSAE, MatryoshkaBatchTopKSAE
from saebench.saes.architectures.topk import TopKSAE

__all__ = ["ARCHITECTURES", "LATENT_DIM", "BatchTopKSAE", "GatedSAE", "IdentityActivationSAE", "JumpReLUSAE",
           "LinearSAE", "MatryoshkaBatchTopKSAE", "ReLUSAE", "TopKSAE", "register_architecture"]
