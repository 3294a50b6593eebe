"""Two processes filling one cold cache at once (two sweep jobs on one hook): the corpus-row activations and
the text activations end identical in both, no entry is half-written or unreadable, and each entry is
computed at most once per process (so at most twice); a third process reads everything back without the LM."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

SCRIPT = textwrap.dedent("""
    import hashlib, json, sys, time
    import torch
    from saebench.cache import ActivationCache
    from saebench.models import load_language_model
    from saebench.paths import asset
    root, start_at = sys.argv[1], float(sys.argv[2])
    lm = load_language_model(asset("stories260K"))
    tokens = torch.randint(3, 500, (64, 32), generator=torch.Generator().manual_seed(0))
    texts = [f"Once upon a time there was a cat number {i} who liked fish." for i in range(200)]
    cache = ActivationCache(root, shard_texts=64)
    while time.time() < start_at:      # both processes start computing at the same moment
        time.sleep(0.001)
    rows = cache.rows.get(lm, "blocks.2.hook_resid_post", tokens, batch_size=8)
    seq = cache.get(lm, "blocks.2.hook_resid_post", texts, context_length=32, batch_size=16)
    digest = lambda t: hashlib.sha256(t.float().contiguous().numpy().tobytes()).hexdigest()
    print(json.dumps({"rows": digest(rows), "pooled": digest(seq.pooled), "rows_computed": cache.rows.rows_computed,
                      "texts_computed": cache.texts_computed, "texts_reused": cache.texts_reused,
                      "rows_reused": cache.rows.rows_reused}))
""")


def run(root, start_at: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(root), str(start_at)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def test_two_processes_fill_one_cold_cache_safely(tmp_path):
    start = time.time() + 6.0
    procs = [run(tmp_path, start), run(tmp_path, start)]
    results = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    a, b = results
    assert a["rows"] == b["rows"] and a["pooled"] == b["pooled"]
    assert max(a["rows_computed"], b["rows_computed"]) <= 64 and max(a["texts_computed"], b["texts_computed"]) <= 200
    assert a["rows_computed"] + b["rows_computed"] >= 64                      # it was cold
    again = run(tmp_path, 0)
    third = json.loads(again.communicate(timeout=300)[0].strip().splitlines()[-1])
    assert third["rows_computed"] == 0 and third["texts_computed"] == 0       # every entry readable
    assert third["rows"] == a["rows"] and third["pooled"] == a["pooled"]
    assert not list(tmp_path.rglob("*.tmp"))                                   # no temp file left behind
    print(f"computed: rows {a['rows_computed']} + {b['rows_computed']} of 64, texts {a['texts_computed']} + "
          f"{b['texts_computed']} of 200")
