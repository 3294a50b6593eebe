"""Run SAEBench 0.6.0's core eval, unmodified, on the bundled model, the demo SAEs and the committed token
rows; write its outputs as the parity fixture. Run in the parity environment (parity/setup_env.sh):

    HF_HUB_OFFLINE=1 .venv-parity/bin/python parity/core_saebench.py

Only loaders are wrapped: TransformerLens is allowed to load the local stories260K folder; the demo SAEs
(SAE Lens files) become SAEBench's own `custom_saes` ReLU / TopK SAEs with the files' weights (SAEBench
0.6.0's core eval reads `sae.cfg.hook_name`, which SAE Lens 6 SAEs no longer have); SAEBench's activation
store is replaced by one that serves the fixture's token rows in order (SAEBench calls only
`get_batch_tokens`, `reset_input_dataset` and `context_size` on it). Both of SAEBench's reconstruction
conventions are recorded: `exclude_special_tokens_from_reconstruction` true (its documented commands)
and false (the function default).
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "saebench" / "assets" / "stories260K"
SAES = {"demo/relu": REPO / "saebench" / "assets" / "demo_saes" / "relu",
        "demo/topk": REPO / "saebench" / "assets" / "demo_saes" / "topk"}
FIXTURES = REPO / "tests" / "parity" / "fixtures" / "core"
BATCH, N_BATCHES = 8, 4


class FixedTokens:
    """The fixture's rows in order, as SAEBench's evals read an ActivationsStore."""

    def __init__(self, rows: torch.Tensor) -> None:
        self.rows, self.next, self.context_size = rows, 0, rows.shape[1]
        self.store_batch_size_prompts = BATCH

    def get_batch_tokens(self, n: int) -> torch.Tensor:
        batch = self.rows[self.next:self.next + n]
        if len(batch) < n:
            raise RuntimeError("the fixture has fewer rows than SAEBench asked for")
        self.next += n
        return batch

    def reset_input_dataset(self) -> None:
        self.next = 0


def load_model(device: str = "cpu"):
    import transformer_lens.loading_from_pretrained as lp
    from transformer_lens import HookedTransformer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    official = lp.get_official_model_name
    lp.get_official_model_name = lambda name: name if name == str(MODEL) else official(name)
    hf = AutoModelForCausalLM.from_pretrained(MODEL)
    return HookedTransformer.from_pretrained_no_processing(str(MODEL), hf_model=hf, device=device,
                                                           tokenizer=AutoTokenizer.from_pretrained(MODEL))


def load_sae(path: Path, model_name: str = str(MODEL), device: str = "cpu"):
    """SAEBench's custom ReLU / TopK SAE holding the SAE Lens files' weights."""
    from sae_bench.custom_saes.relu_sae import ReluSAE
    from sae_bench.custom_saes.topk_sae import TopKSAE

    cfg = json.loads((path / "cfg.json").read_text())
    meta = cfg.get("metadata", cfg)
    common = dict(d_in=cfg["d_in"], d_sae=cfg["d_sae"], model_name=model_name, hook_layer=int(
        meta["hook_name"].split(".")[1]), device=torch.device(device), dtype=torch.float32, hook_name=meta["hook_name"])
    assert cfg["apply_b_dec_to_input"] and cfg.get("normalize_activations", "none") == "none"
    sae = TopKSAE(k=int(cfg["k"]), **common) if cfg["architecture"] == "topk" else ReluSAE(**common)
    weights = load_file(str(path / "sae_weights.safetensors"))
    with torch.no_grad():
        for name in ("W_enc", "W_dec", "b_enc", "b_dec"):
            getattr(sae, name).copy_(weights[name])
    return sae.to(device)


def write_fixture(path: Path, out: dict) -> None:
    """Write a parity fixture as the tests read it: sorted, indented JSON (anything else as str)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, sort_keys=True, default=str) + "\n")
    print(f"wrote {path}")


def _plain(values):
    return values.tolist() if hasattr(values, "tolist") else values


def main() -> None:
    import argparse

    from sae_bench.evals.core.eval_config import CoreEvalConfig
    from sae_bench.evals.core.main import run_evals

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=FIXTURES / "saebench_core.json")
    args = parser.parse_args()
    rows = load_file(str(FIXTURES / "tokens.safetensors"))["tokens"].to(args.device)
    model = load_model(args.device)
    tok = model.tokenizer
    ignore = {tok.pad_token_id, tok.eos_token_id, tok.bos_token_id}
    out = {"versions": {p: version(p) for p in ("sae-bench", "sae-lens", "transformer-lens", "torch")},
           "device": args.device, "batch_size_prompts": BATCH, "n_batches": N_BATCHES,
           "ignore_tokens": sorted(i for i in ignore if i is not None),
           "saes": {}}
    for sae_id, path in SAES.items():
        sae = load_sae(path, device=args.device)
        out["saes"][sae_id] = {}
        for exclude in (True, False):
            cfg = CoreEvalConfig(batch_size_prompts=BATCH, n_eval_reconstruction_batches=N_BATCHES,
                                 n_eval_sparsity_variance_batches=N_BATCHES, compute_kl=True, compute_ce_loss=True,
                                 compute_l2_norms=True, compute_sparsity_metrics=True, compute_variance_metrics=True,
                                 compute_featurewise_density_statistics=True,
                                 exclude_special_tokens_from_reconstruction=exclude)
            metrics, features = run_evals(sae, FixedTokens(rows), model, cfg, ignore_tokens=ignore)
            out["saes"][sae_id][f"exclude_special_{str(exclude).lower()}"] = {
                "metrics": metrics, "feature_density": _plain(features["feature_density"])}
            print(sae_id, exclude, json.dumps(metrics)[:300])
    write_fixture(args.out, out)


if __name__ == "__main__":
    main()
