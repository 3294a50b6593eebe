"""The evaluation suite at scale: per-SAE seconds per task, SAEs per hour and peak memory.

    python benchmarks/gpu_suite.py                       # CUDA: Pythia-70m-sized model, 16 SAEs of 16k latents
    python benchmarks/gpu_suite.py --device cpu --n-saes 2 --d-sae 1024 --core-tokens 65536 --dtypes float32

Model: a random-init GPT-NeoX with Pythia-70m's shape (6 layers, d_model 512, 8 heads, MLP 2048,
vocab 50304), saved in Hugging Face format with the bundled SentencePiece tokenizer (its ids are valid in
any vocabulary), so the run needs no network. SAEs: N random TopK (k 64) on blocks.3.hook_resid_post,
written as SAE Lens folders. Tasks: core at SAEBench's published budget (4,096,000 statistics tokens,
409,600 CE/KL tokens; `--core-tokens` scales both) and the probing family and absorption on the bundled
data (the smoke suite's datasets and sizes: the machine has no hub access). Every dtype is a fresh run
through `saebench.runner.run` into its own folder; per-SAE seconds per task come from the rows'
`duration_s` (the group's wall time / N), SAEs/hour from their sum, memory from
torch.cuda.max_memory_allocated (CUDA) or the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
from pathlib import Path
import torch
from saebench.config import ModelConfig, RunConfig
from saebench.data import CorpusSpec
from saebench.paths import asset
from saebench.results import read_metrics
from saebench.runner import run
from saebench.saes.spec import SAESpec

model_dir, sae_root, out, device, dtype, n, core_tokens = sys.argv[1:8]
n, core_tokens = int(n), int(core_tokens)
saes = [SAESpec.from_dict({"id": f"topk/{i}", "path": f"{sae_root}/{i}"}) for i in range(n)]
smoke = {"datasets": ["ag_news_slice"], "train_size": 1000, "test_size": 400, "seeds": [0]}
tasks = {"core": {"n_tokens": core_tokens, "n_tokens_loss": core_tokens // 10},
         "sparse_probing": {**smoke, "datasets": ["ag_news_slice", "bias_in_bios_gender_slice"]},
         "scr": {"datasets": ["ag_news_wire_scr"], "train_size": 240, "test_size": 80, "seeds": [0]},
         "tpp": {**smoke}, "absorption": {"seeds": [42]}}
rc = RunConfig(model=ModelConfig(name=model_dir, batch_size=32), corpus=CorpusSpec(path=out + "/tokens.npy"),
               saes=saes, tasks=tasks, output_dir=out + "/results", cache_dir=out + "/cache", device=device,
               dtype=dtype, max_saes_per_group=n)
if device.startswith("cuda"):
    torch.cuda.reset_peak_memory_stats()
start = time.perf_counter()
report = run(rc)
wall = time.perf_counter() - start
assert not report.failed, [(o.sae_id, o.task, o.reason) for o in report.failed]
rows = read_metrics(out + "/results")
per_task = rows.groupby("task").duration_s.first().to_dict()        # per-SAE seconds (group wall / N)
peak = (torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else
        next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 2**20)
print(json.dumps({"dtype": dtype, "wall_s": wall, "per_sae_s": per_task, "peak_gib": peak}))
"""


def build(root: Path, n_saes: int, d_sae: int, k: int, core_tokens: int) -> tuple[str, str]:
    """The model folder, the SAE folders and a pre-tokenized corpus (random ids) under root."""
    import numpy as np
    import torch
    from transformers import AutoTokenizer, GPTNeoXConfig, GPTNeoXForCausalLM

    from saebench.paths import asset
    from saebench.saes import SAEMetadata, TopKSAE
    from saebench.saes.formats.sae_lens import save_sae_lens

    torch.manual_seed(0)
    cfg = GPTNeoXConfig(num_hidden_layers=6, hidden_size=512, num_attention_heads=8, intermediate_size=2048,
                        vocab_size=50304, max_position_embeddings=2048, rotary_pct=0.25)
    model_dir = root / "pythia70m-shaped"
    GPTNeoXForCausalLM(cfg).eval().save_pretrained(model_dir)
    AutoTokenizer.from_pretrained(asset("stories260K")).save_pretrained(model_dir)
    for i in range(n_saes):
        g = torch.Generator().manual_seed(i)
        W_dec = torch.randn(d_sae, 512, generator=g)
        W_dec /= W_dec.norm(dim=1, keepdim=True)
        md = SAEMetadata(sae_id=f"topk/{i}", hook="blocks.3.hook_resid_post", architecture="topk", source="benchmark")
        save_sae_lens(TopKSAE(W_dec.T.clone(), W_dec, torch.zeros(d_sae), torch.zeros(512), k=k, metadata=md),
                      root / "saes" / str(i), model_name=str(model_dir))
    rows = np.random.default_rng(0).integers(3, 512, size=(max(1, core_tokens // 128), 128)).astype(np.int64)
    return str(model_dir), str(root / "saes"), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--n-saes", type=int, default=16)
    parser.add_argument("--d-sae", type=int, default=16384)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--core-tokens", type=int, default=4_096_000)
    parser.add_argument("--dtypes", nargs="+", default=["bfloat16", "float32"])
    ns = parser.parse_args()
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model_dir, sae_root, rows = build(root, ns.n_saes, ns.d_sae, ns.k, ns.core_tokens)
        results = []
        for dtype in ns.dtypes:
            out = root / dtype
            out.mkdir()
            np.save(out / "tokens.npy", rows)
            proc = subprocess.run([sys.executable, "-c", CHILD, model_dir, sae_root, str(out), ns.device, dtype,
                                   str(ns.n_saes), str(ns.core_tokens)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"{dtype} run failed:\n{proc.stderr[-4000:]}")
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"device={ns.device} N={ns.n_saes} d_sae={ns.d_sae} k={ns.k} core tokens={ns.core_tokens}")
    tasks = sorted({t for r in results for t in r["per_sae_s"]})
    print(f"{'dtype':<9} " + " ".join(f"{t:>15}" for t in tasks) + f" {'s/SAE':>8} {'SAEs/hour':>10} {'peak GiB':>9}")
    for r in results:
        total = sum(r["per_sae_s"].values())
        print(f"{r['dtype']:<9} " + " ".join(f"{r['per_sae_s'].get(t, float('nan')):>15.2f}" for t in tasks)
              + f" {total:>8.2f} {3600 / total:>10.1f} {r['peak_gib']:>9.2f}")


if __name__ == "__main__":
    main()
