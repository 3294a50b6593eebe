"""SAEs: the protocol, architectures, file formats and loading."""

from saebench.saes.architectures import ARCHITECTURES, JumpReLUSAE, LinearSAE, ReLUSAE, TopKSAE
from saebench.saes.formats import FORMATS
from saebench.saes.loading import check_compatible, load_sae
from saebench.saes.protocol import SAE, SAEMetadata
from saebench.saes.spec import SAESpec

__all__ = ["ARCHITECTURES", "FORMATS", "JumpReLUSAE", "LinearSAE", "ReLUSAE", "SAE", "SAEMetadata", "SAESpec",
           "TopKSAE", "check_compatible", "load_sae"]
