"""Question sets ready for many interventions: tokenized, batched, and with the activation at the hook of
every batch computed once (SAE-independent). Each intervention then runs only the layers after a residual
hook (`LanguageModel.logits_from`), so 16 grid configurations x N SAEs cost 16 x N suffix passes, not full
forwards (SAEBench's [PERF] note: it recomputes the prefix for every configuration)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from saebench.metrics.unlearning.questions import (
    Question,
    ScoringRows,
    assemble,
    batches_of,
    kept_positions,
    read_rows,
    scatter,
    scoring_rows,
)
from saebench.torch_utils import pad_id, padded

Transform = Callable[[torch.Tensor], torch.Tensor]


class PreparedQuestions:
    """One question set in one format, options in their given order (SAEBench scores the known questions in
    that one order), with the activation at `hook` of each batch cached on the CPU."""

    def __init__(self, lm, hook: str, questions: list[Question], fmt: str, batch_size: int) -> None:
        self.lm, self.hook, self.questions = lm, hook, questions
        self.rows: ScoringRows = scoring_rows(lm.tokenizer, questions, fmt)
        self.answers = torch.tensor([q.answer for q in questions], dtype=torch.long)
        self.order = batches_of(self.rows, batch_size)
        self.batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for rows in self.order:
            ids, mask, _ = padded([self.rows.rows[r] for r in rows], pad_id(lm.tokenizer))
            act = lm.activations(ids, hook, attention_mask=mask.to(lm.device))
            self.batches.append((ids, mask, kept_positions(self.rows, rows), act.cpu()))

    def __len__(self) -> int:
        return len(self.questions)

    @torch.no_grad()
    def correct(self, transform: Transform | None = None) -> torch.Tensor:
        """[n] bool: answered correctly when the activation at the hook is `transform(activation)` (None:
        unchanged). The transform sees [B, L, d] model-space activations on the model's device."""
        scores = []
        for rows, (ids, mask, keep, act) in zip(self.order, self.batches, strict=True):
            act = act.to(self.lm.device)
            new = act if transform is None else transform(act)
            logits = self.lm.logits_from(ids, self.hook, new, attention_mask=mask.to(self.lm.device), keep=keep)
            scores.append(read_rows(self.rows, logits, ids, rows, keep))
        return assemble(self.rows, scatter(self.rows, self.order, scores)).argmax(1) == self.answers
