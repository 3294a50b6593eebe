"""Run SAEBench 0.6.0's RAVEL, unmodified, on the model organism (its tokenizer made to add BOS:
parity/ravel_inputs.py) with the organism's TopK SAE on blocks.0; write SAEBench's knowledge filter and its
scores over several seeds as a fixture. Run in the parity environment (parity/setup_env.sh):

    HF_HUB_OFFLINE=1 .venv-parity/bin/python parity/ravel_saebench.py [--seeds 0 1 2 3 4] [--pairs 256]

Only loaders are wrapped:
- SAEBench finds a model's layers by its class name (Gemma-2 or GPT-NeoX only); the organism is a Llama,
  whose layers sit where Gemma-2's do, so its config is named `Gemma2ForCausalLM` for that lookup;
- SAEBench's hooks read a decoder layer's output as a tuple (transformers < 5); transformers 5 returns a
  tensor, so the hooks are handed a 1-tuple and their result is unwrapped (values untouched);
- the RAVEL files are placed where SAEBench would download them, the SAE Lens files become SAEBench's own
  `custom_saes` TopK SAE.
SAEBench draws pairs from the global `random` and torch generators: each seed seeds both, starting from the
shared filtered dataset. Settings: SAEBench's defaults except the pair count and `llm_batch_size`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from core_saebench import load_sae, write_fixture  # the sibling scripts in parity/
from ravel_inputs import ATTRIBUTES, CLASS, HOOK_LAYER, REPO, SAE, bos_organism, ravel_files

FIXTURE = REPO / "tests" / "parity" / "fixtures" / "ravel" / "saebench_ravel.json"
KNOWN = FIXTURE.with_name("saebench_known.json.gz")


class _TupleOutputs:
    """A decoder layer whose forward hooks see its output as the tuple SAEBench's hooks expect."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module

    def register_forward_hook(self, hook):
        def wrapped(mod, inputs, output):
            if isinstance(output, torch.Tensor):
                out = hook(mod, inputs, (output,))
                return out[0] if isinstance(out, tuple) else out
            return hook(mod, inputs, output)
        return self.module.register_forward_hook(wrapped)


def patch_saebench() -> None:
    import sae_bench.sae_bench_utils.activation_collection as ac

    original = ac.get_module
    ac.get_module = lambda model, layer: _TupleOutputs(original(model, layer))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    from sae_bench.evals.ravel.eval_config import RAVELEvalConfig
    from sae_bench.evals.ravel.main import get_instance_name, run_eval_single_dataset
    from transformers import AutoModelForCausalLM

    patch_saebench()
    work = Path(tempfile.mkdtemp(prefix="ravel_parity_"))
    model_dir = bos_organism(work / "model")
    ravel_files(work / "artifacts")
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    model.config.architectures = ["Gemma2ForCausalLM"]          # SAEBench's layer lookup (module docstring)
    sae = load_sae(SAE, model_name=str(model_dir))
    assert sae.cfg.hook_layer == HOOK_LAYER
    config = RAVELEvalConfig(model_name=str(model_dir), entity_attribute_selection={CLASS: ATTRIBUTES},
                             num_pairs_per_attribute=args.pairs, llm_batch_size=args.batch,
                             artifact_dir=str(work / "artifacts"), llm_dtype="float32")
    out: dict = {"settings": {"pairs": args.pairs, "batch_size": args.batch, "seeds": args.seeds,
                              "n_generated_tokens": config.n_generated_tokens, "lr": config.learning_rate,
                              "epochs": config.num_epochs, "top_n_entities": config.top_n_entities,
                              "train_test_split": config.train_test_split},
                 "versions": {"sae_bench": version("sae_bench"), "sae_lens": version("sae_lens"),
                              "transformers": version("transformers"), "torch": torch.__version__},
                 "seeds": {}}
    for seed in args.seeds:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        start = time.perf_counter()
        overall, per_attribute = run_eval_single_dataset(CLASS, config, sae, model)
        out["seeds"][str(seed)] = {"overall": overall, "per_attribute": per_attribute,
                                   "seconds": time.perf_counter() - start}
        print(seed, overall, flush=True)
    name = get_instance_name(CLASS, config.model_name, config.full_dataset_downsample, config.top_n_entities)
    filtered = json.loads((work / "artifacts" / name).read_text())
    known = sorted([p["text"], p["first_generated_token_id"], p["final_entity_token_pos"], p["attribute_type"]]
                   for p in filtered["prompts"])
    with gzip.open(KNOWN, "wt") as f:                  # 30k prompts: compact and compressed (0.2 MB, not 3 MB)
        json.dump(known, f, separators=(",", ":"))
    write_fixture(FIXTURE, out)


if __name__ == "__main__":
    main()
