"""SAEs: the protocol, architectures, file formats, baselines and loading."""

from saebench.saes import baselines as _baselines  # noqa: F401  (registers identity/pca/random/permuted_decoder)
from saebench.saes.architectures import (
    ARCHITECTURES,
    BatchTopKSAE,
    GatedSAE,
    JumpReLUSAE,
    LinearSAE,
    MatryoshkaBatchTopKSAE,
    ReLUSAE,
    TopKSAE,
)
from saebench.saes.custom import ModuleSAE
from saebench.saes.formats import FORMATS
from saebench.saes.loading import LoadEnv, check_compatible, expand_prefixes, load_sae
from saebench.saes.protocol import SAE, SAEMetadata
from saebench.saes.spec import SAESpec

__all__ = ["ARCHITECTURES", "FORMATS", "BatchTopKSAE", "GatedSAE", "JumpReLUSAE", "LinearSAE", "LoadEnv",
           "MatryoshkaBatchTopKSAE", "ModuleSAE", "ReLUSAE", "SAE", "SAEMetadata", "SAESpec", "TopKSAE",
           "check_compatible", "expand_prefixes", "load_sae"]
