"""Faults end to end through the real CLI, with counts: rows expected / present / duplicated.

    python benchmarks/reliability.py [--out /tmp/reliability]

1. adversarial SAE ids (leading dots, ids that slug alike, `$`, HTML, quotes, 300 characters): run,
   rerun (all cached), leaderboard, export;
2. two concurrent runs into one folder (started together);
3. kill -9 at several points of a run, then resume: rows match an uninterrupted run bit for bit;
4. corrupt parts: one metrics and one details part cut short; readers, leaderboard, gate, export, then
   `saebench results check --repair` and a rerun that recomputes exactly those units.
Prints one table; every row also asserts what it claims.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from saebench.paths import asset
from saebench.results import read_metrics

CORE = ["suite=demo", "~task.sparse_probing", "task.core.n_tokens=16384", "task.core.n_tokens_loss=4096"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
N_CORE = 16          # metric rows per core unit (checked against the first run)


def cli(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "saebench.cli", *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=900)
    if check and proc.returncode != 0:
        raise RuntimeError(f"saebench {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def counts(root: Path, n_units: int) -> dict:
    plain = pd.read_parquet(root / "metrics")
    keyed = plain.duplicated(["sae_id", "task", "metric", "subset", "k", "seed"]).sum()
    return {"units expected": n_units, "units present": plain.groupby(["sae_id", "task"]).ngroups,
            "rows": len(plain), "duplicated rows": int(keyed)}


def adversarial_ids(out: Path) -> dict:
    ids = ["./runs/sae1", "../x", "x/y", "x__y", "x_y", "a$b/c", "<b>bold</b>", "é/ü", "x" * 300]
    specs = ",".join(f"{{id:'{i}',path:'{asset('demo_saes/relu')}'}}" for i in ids)
    cli(out, "run", *CORE, f"saes=[{specs}]", "output_dir=res", f"cache_dir={out / 'cache'}")
    again = cli(out, "run", *CORE, f"saes=[{specs}]", "output_dir=res", f"cache_dir={out / 'cache'}")
    assert f"0 unit(s) computed, {len(ids)} already present" in again.stdout, again.stdout
    cli(out, "leaderboard", "build", "res", "-o", "site")
    cli(out, "export", "saebench-json", "res", "-o", "json")
    c = counts(out / "res", len(ids))
    assert c["units present"] == len(ids) and c["duplicated rows"] == 0
    assert sorted(read_metrics(out / "res").sae_id.unique()) == sorted(ids)
    return {**c, "note": f"{len(ids)} ids; rerun: all cached; leaderboard + export ok"}


def concurrent(out: Path) -> dict:
    args = [sys.executable, "-m", "saebench.cli", "run", *CORE, "output_dir=res", f"cache_dir={out / 'cache'}"]
    procs = [subprocess.Popen(args, cwd=out, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    texts = [p.communicate(timeout=900)[0] for p in procs]
    computed = sum(int(t.split(" unit(s) computed")[0].rsplit(" ", 1)[-1]) for t in texts if "unit(s) computed" in t)
    c = counts(out / "res", 2)
    assert computed == 2 and c["duplicated rows"] == 0, texts
    return {**c, "note": f"2 runs started together: {computed} unit computations in total (each unit once)"}


def kills(out: Path, n: int) -> dict:
    ref = out / "ref"
    args = [*CORE, "max_saes_per_group=1", "sae=[demo,demo_baselines]", f"cache_dir={out / 'cache'}"]
    cli(out, "run", *args, f"output_dir={ref}")
    n_units = read_metrics(ref).groupby(["sae_id", "task"]).ngroups
    killed = out / "killed"
    delays = [3.0 + 0.6 * i for i in range(n)]      # from the first unit written to the last
    progress = []
    for delay in delays:
        proc = subprocess.Popen([sys.executable, "-m", "saebench.cli", "run", *args, f"output_dir={killed}"], cwd=out,
                                env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        present = read_metrics(killed) if (killed / "metrics").exists() else pd.DataFrame(columns=["sae_id", "task"])
        progress.append(present.groupby(["sae_id", "task"]).ngroups)
    cli(out, "run", *args, f"output_dir={killed}")
    a = read_metrics(ref).sort_values(["sae_id", "metric", "subset", "k"]).reset_index(drop=True)
    b = read_metrics(killed).sort_values(["sae_id", "metric", "subset", "k"]).reset_index(drop=True)
    pd.testing.assert_series_equal(a.value, b.value)          # bit-identical values
    c = counts(killed, n_units)
    assert c["units present"] == n_units and c["duplicated rows"] == 0
    return {**c, "note": f"kill -9 after {', '.join(f'{d:.1f}' for d in delays)} s (units done after each: "
                         f"{progress}), then resume: values equal to an uninterrupted run"}


def corrupt_parts(out: Path) -> dict:
    root = out / "res"
    cli(out, "run", *CORE, "sae=[demo,demo_baselines]", "output_dir=res", f"cache_dir={out / 'cache'}")
    n_units = read_metrics(root).groupby(["sae_id", "task"]).ngroups
    metrics_parts = sorted((root / "metrics").rglob("*.parquet"))
    details_parts = sorted((root / "details").rglob("*.parquet"))
    for f in (metrics_parts[0], details_parts[-1]):
        f.write_bytes(f.read_bytes()[:200])
    rows = read_metrics(root)
    assert len(rows.attrs["bad_parts"]) == 1
    cli(out, "leaderboard", "build", "res", "-o", "site")
    cli(out, "export", "saebench-json", "res", "-o", "json")
    cli(out, "gate", "--baseline", "res", "--candidate", "res", "--config",
        str(Path(__file__).resolve().parents[1] / "results" / "baselines" / "gate.yaml"), check=False)
    check = cli(out, "results", "check", "res", check=False)
    assert check.returncode == 1 and "2 unreadable" in check.stdout
    cli(out, "results", "check", "--repair", "res")
    rerun = cli(out, "run", *CORE, "sae=[demo,demo_baselines]", "output_dir=res", f"cache_dir={out / 'cache'}")
    recomputed = int(rerun.stdout.split(" unit(s) computed")[0].rsplit(" ", 1)[-1])
    c = counts(root, n_units)
    assert recomputed == 2 and c["units present"] == n_units and c["duplicated rows"] == 0
    return {**c, "note": "1 metrics + 1 details part cut short: readers, leaderboard, export, gate read around "
                         "them; check exit 1; --repair; rerun recomputed exactly 2 units"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/saebench-reliability")
    parser.add_argument("--kills", type=int, default=6)
    ns = parser.parse_args()
    base = Path(ns.out)
    shutil.rmtree(base, ignore_errors=True)
    table = {}
    for name, fn in (("adversarial ids", adversarial_ids), ("concurrent runs", concurrent),
                     ("kill -9 + resume", lambda d: kills(d, ns.kills)), ("corrupt parts", corrupt_parts)):
        folder = base / name.replace(" ", "_").replace("+", "").replace("-", "")
        folder.mkdir(parents=True)
        start = time.perf_counter()
        table[name] = {**fn(folder), "seconds": round(time.perf_counter() - start, 1)}
        print(f"{name}: {table[name]}", flush=True)
    with pd.option_context("display.width", 250, "display.max_colwidth", 120):
        print(pd.DataFrame(table).T.to_string())


if __name__ == "__main__":
    main()
