"""Does an absorption definition recover the absorption planted by surgery? Per letter, both definitions'
values next to the truth read from the planted latents on exactly the rows each definition scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from saebench.metrics import EvalContext, discover
from saebench.metrics.absorption.plugin import evaluate_definitions
from saebench.metrics.absorption.prompts import LETTERS
from saebench.metrics.absorption.task import SeedTask, build_seed_task
from saebench.organisms.surgery import absorption_truth
from saebench.services import Services


def absorption_context(lm, hook: str) -> EvalContext:
    """An evaluation context for the absorption task on `lm` at `hook` (no SAEs: the task is SAE-independent)."""
    info = discover().get("absorption")
    return EvalContext(lm=lm, hook=hook, saes=[], space=lm.activation_space(False), device=lm.device,
                       services=Services.for_model(lm), task="absorption", needs=info.needs)


def absorption_task(ctx: EvalContext, seed: int, **params) -> tuple[SeedTask, object]:
    """The absorption task of `seed` with the plugin's parameters (defaults unless given)."""
    p = discover().get("absorption").make_params(params)
    return build_seed_task(ctx, p, seed), p


@torch.no_grad()
def recovery_table(ctx: EvalContext, task: SeedTask, params, sae, planted: dict) -> pd.DataFrame:
    """One row per planted letter: the construction's rate, and for each definition the truth on the rows
    it scores and its measured absorption fraction and full-absorption rate."""
    ev = evaluate_definitions(ctx, sae, task, params)
    (_, sb_letters, _), (_, v1_letters, v1_words) = ev.saebench, ev.v1
    f, f_fresh = ev.f, ev.f_fresh
    rows = []
    for letter, rate in planted["planted_rate"].items():
        i = LETTERS.index(letter)
        cand, fresh = task.fresh.candidates.rows[i], task.fresh.candidates.fresh[i]
        sb_truth = absorption_truth(planted, f_fresh[fresh], [task.data.words[j] for j in cand.tolist()])
        v1_rows = sorted(j for j in v1_words if int(task.data.letters[j]) == i)
        v1_truth = absorption_truth(planted, f[v1_rows], [task.data.words[j] for j in v1_rows])
        sb, v1 = sb_letters[i], v1_letters[i]
        latent = planted["letter_latent"][letter]
        rows.append({"seed": task.seed, "letter": letter, "planted_rate": rate,
                     "truth_saebench_rows": _mean(sb_truth["absorbed"]), "n_saebench_rows": len(cand),
                     "absorption_saebench": sb.mean_absorption_fraction,
                     "full_absorption_saebench": sb.full_absorption_rate,
                     "letter_latent_is_main_saebench": latent in sb.main_latents,
                     "n_main_saebench": len(sb.main_latents),
                     "truth_v1_rows": _mean(v1_truth["absorbed"]), "n_v1_rows": len(v1_rows),
                     "absorption_v1": v1.absorption_fraction, "full_absorption_v1": v1.full_absorption_rate,
                     "letter_latent_is_main_v1": latent in v1.main_latents, "n_main_v1": len(v1.main_latents),
                     "missed_saebench_rows": _mean(sb_truth["missed"])})
    return pd.DataFrame(rows)


def _mean(mask: torch.Tensor) -> float:
    return float(mask.float().mean()) if len(mask) else float(np.nan)
