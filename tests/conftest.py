import os
import random
import tempfile

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Activation stores and baseline fits of the test session never touch the user's ~/.cache.
os.environ["SAEBENCH_CACHE_DIR"] = tempfile.mkdtemp(prefix="saebench-test-cache-")


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def stories():
    from tests.builders import stories_model

    return stories_model()
