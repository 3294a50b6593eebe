"""Linear probes in torch, batched over many independent probes (GPU-capable).

- `fit_logistic`: L2-regularised logistic regression with an unpenalised intercept, the objective of
  scikit-learn's `LogisticRegression(penalty="l2", C=C)`:
  `0.5 * |w|^2 + C * sum_i s_i * log(1 + exp(-y_i (x_i . w + b)))`, solved by Newton's method with a
  backtracking line search (direct solves for small d, conjugate gradients for large d). Convex with a
  unique optimum, so it matches scikit-learn to the solvers' tolerance.
- `train_recipe_probes`: the SCR/TPP probe recipe of SAEBench (BCE + L1 penalty, AdamW, small batches,
  fixed epochs) with the epoch chosen on a validation split, never on the test set.

Problems are given as one shared row pool `X` [N, d] (or per-probe features [P, N, d]) plus per-probe
row indices `rows` [P, n] and labels `y` [P, n] in {0, 1}.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

DIRECT_SOLVE_MAX_DIM = 1024


@dataclass
class LinearProbes:
    """P linear probes: `W` [P, d], `b` [P]. Logit of probe p on x is x . W[p] + b[p]."""

    W: torch.Tensor
    b: torch.Tensor

    def logits(self, X: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Logits [P, n] of each probe on its own rows of X ([N, d] shared or [P, N, d])."""
        return _row_logits(X, rows, self.W, self.b)

    def accuracy(self, X: torch.Tensor, rows: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Accuracy [P] of each probe on its rows (logit > 0 predicts 1)."""
        return accuracy_from_logits(self.logits(X, rows), y)


def accuracy_from_logits(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((logits > 0).to(y.dtype) == y).float().mean(-1)


def _gather_rows(X: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """[P, n, d] features of each probe's rows."""
    if X.dim() == 2:
        return X[rows]
    return torch.gather(X, 1, rows[..., None].expand(-1, -1, X.shape[-1]))


def _row_logits(X: torch.Tensor, rows: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    Xr = _gather_rows(X, rows).to(W.dtype)
    return torch.einsum("pnd,pd->pn", Xr, W) + b[:, None]


def _mv(X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Per-probe logits without bias over the pool: [P, N] (X shared [N, d] or per probe [P, N, d])."""
    return (X @ W.T).T if X.dim() == 2 else torch.einsum("pnd,pd->pn", X, W)


def _rmv(X: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """Per-probe X^T r: [P, d] for R [P, N]."""
    return R @ X if X.dim() == 2 else torch.einsum("pnd,pn->pd", X, R)


def _pool_weights(rows: torch.Tensor, y: torch.Tensor, n_pool: int, sample_weight: torch.Tensor | None):
    """Each problem as weights over the whole pool: sw [P, N] (0 for rows it does not use) and labels
    [P, N]; a row listed twice in a problem counts twice. Working on the pool avoids materialising the
    [P, n, d] gathered features, so full-width probes on wide SAEs stay within memory."""
    P = rows.shape[0]
    w = torch.ones_like(y) if sample_weight is None else sample_weight.to(y.dtype)
    sw = torch.zeros(P, n_pool, dtype=y.dtype, device=y.device).scatter_add_(1, rows, w)
    ys = torch.zeros(P, n_pool, dtype=y.dtype, device=y.device).scatter_add_(1, rows, w * y)
    labels = torch.where(sw > 0, ys / sw.clamp_min(1e-30), torch.zeros_like(ys))
    if ((labels > 0) & (labels < 1)).any():
        raise ValueError("a row appears in one problem with both labels")
    return sw, labels


def _objective(X, y, sw, W, b, C):
    z = _mv(X, W) + b[:, None]
    # log(1 + exp(-t z)) with t = 2y - 1, numerically stable
    loss = torch.nn.functional.softplus(-(2 * y - 1) * z)
    return C * (sw * loss).sum(-1) + 0.5 * (W * W).sum(-1), z


@torch.no_grad()
def fit_logistic(X: torch.Tensor, rows: torch.Tensor, y: torch.Tensor, C: float | torch.Tensor = 1.0,
                 sample_weight: torch.Tensor | None = None, max_iter: int = 100, tol: float = 1e-6,
                 dtype: torch.dtype | None = None) -> LinearProbes:
    """Fit P L2-logistic-regression probes at once (see module docstring). `C` is a float or [P]."""
    P = rows.shape[0]
    d = X.shape[-1]
    device = X.device
    dtype = dtype or (torch.float64 if d <= DIRECT_SOLVE_MAX_DIM and device.type == "cpu" else torch.float32)
    X = X.to(dtype)
    sw, y = _pool_weights(rows.to(device), y.to(device=device, dtype=dtype), X.shape[-2],
                          None if sample_weight is None else sample_weight.to(device))
    C = torch.as_tensor(C, dtype=dtype, device=device).expand(P).clone()
    W = torch.zeros(P, d, dtype=dtype, device=device)
    b = torch.zeros(P, dtype=dtype, device=device)
    obj, z = _objective(X, y, sw, W, b, C)
    scale = (C * sw.sum(-1)).clamp_min(1.0)      # gradient tolerance relative to the data term's size
    row_space = _row_space(X, sw)
    for _ in range(max_iter):
        p = torch.sigmoid(z)
        r = C[:, None] * sw * (p - y)                                     # [P, N]
        gW = _rmv(X, r) + W
        gb = r.sum(-1)
        gnorm = torch.maximum(gW.abs().amax(-1), gb.abs()) / scale
        active = gnorm > tol
        if not active.any():
            break
        h = C[:, None] * sw * p * (1 - p)                                 # [P, N]
        if row_space is not None:
            sW, sb = _newton_row_space(X, h, gW, gb, row_space)
        elif d + 1 <= DIRECT_SOLVE_MAX_DIM:
            sW, sb = _newton_direct(X, h, gW, gb)
        else:
            sW, sb = _newton_cg(X, h, gW, gb)
        slope = (gW * sW).sum(-1) + gb * sb
        step = torch.ones(P, dtype=dtype, device=device)
        for _ in range(40):   # backtracking (Armijo) per probe
            new_obj, _z = _objective(X, y, sw, W + step[:, None] * sW, b + step * sb, C)
            ok = new_obj <= obj + 1e-4 * step * slope
            if ok.all():
                break
            step = torch.where(ok, step, step / 2)
        step = torch.where(active, step, torch.zeros_like(step))
        W = W + step[:, None] * sW
        b = b + step * sb
        obj, z = _objective(X, y, sw, W, b, C)
    return LinearProbes(W.float(), b.float())


def _newton_direct(X, h, gW, gb):
    """Solve ([X 1]^T diag(h) [X 1] + diag(1,..,1,0)) s = -g for the Newton step, batched over probes."""
    P = h.shape[0]
    d = X.shape[-1]
    if X.dim() == 2:
        Hxx = torch.einsum("nd,pn,ne->pde", X, h, X)
        Hxb = h @ X
    else:
        Hxx = torch.einsum("pnd,pn,pne->pde", X, h, X)
        Hxb = torch.einsum("pnd,pn->pd", X, h)
    H = torch.zeros(P, d + 1, d + 1, dtype=X.dtype, device=X.device)
    H[:, :d, :d] = Hxx + torch.eye(d, dtype=X.dtype, device=X.device)
    H[:, :d, d] = Hxb
    H[:, d, :d] = Hxb
    hb = h.sum(-1)
    H[:, d, d] = hb + 1e-10 * (1 + hb)
    g = torch.cat([gW, gb[:, None]], -1)
    step = -torch.linalg.solve(H, g[..., None])[..., 0]
    return step[:, :d], step[:, d]


ROW_SPACE_MAX_BYTES = 512 * 2**20   # the per-probe Gram blocks [P, m, m] in float64


@dataclass
class _RowSpace:
    """Each probe's rows (`idx` [P, m], padded with `valid` False) and their Gram block G[S, S] [P, m, m]."""

    idx: torch.Tensor
    valid: torch.Tensor
    gram: torch.Tensor


def _row_space(X: torch.Tensor, sw: torch.Tensor) -> _RowSpace | None:
    """When the features are shared (X [N, d]) and every probe uses few rows (m < d), the Newton system
    is solved in the m-dimensional row space (Woodbury) instead of by conjugate gradients in d (wide
    features) or a d x d solve (narrow ones, when m^3 < N d^2)."""
    if X.dim() != 2:
        return None
    used = sw > 0
    m = int(used.sum(-1).max())
    P, d = sw.shape[0], X.shape[-1]
    if m == 0 or m >= d or P * m * m * 8 > ROW_SPACE_MAX_BYTES:
        return None
    if d + 1 <= DIRECT_SOLVE_MAX_DIM and m ** 3 >= X.shape[0] * d * d:
        return None          # the direct d x d solve is cheaper (it costs N d^2 per probe, this m^3)
    order = torch.argsort((~used).to(torch.int8), dim=-1, stable=True)[:, :m]   # used rows first
    valid = torch.gather(used, 1, order)
    idx = torch.where(valid, order, torch.zeros_like(order))
    pool = torch.unique(idx[valid])
    Xp = X[pool].double()
    G = Xp @ Xp.T                                                        # Gram over the used rows, once
    where = torch.full((X.shape[0],), -1, dtype=torch.long, device=X.device)
    where[pool] = torch.arange(len(pool), device=X.device)
    local = where[idx]
    gram = G[local[:, :, None], local[:, None, :]] * (valid[:, :, None] & valid[:, None, :])
    return _RowSpace(idx, valid, gram)


def _newton_row_space(X, h, gW, gb, rs: _RowSpace):
    """The Newton step of `_newton_direct`, exactly, with (I + X^T D X)^-1 by Woodbury:
    I - X^T D^1/2 (I + D^1/2 X X^T D^1/2)^-1 D^1/2 X over each probe's m rows, and the unpenalised
    bias by the Schur complement. Costs P m^3 / 3 instead of a d-dimensional solve."""
    dtype = gW.dtype
    sq = torch.gather(h, 1, rs.idx).double().clamp_min(0).sqrt() * rs.valid       # [P, m]
    K = sq[:, :, None] * rs.gram * sq[:, None, :]
    K.diagonal(dim1=-2, dim2=-1).add_(1.0)
    chol = torch.linalg.cholesky(K)

    def inv_hxx(V: torch.Tensor) -> torch.Tensor:
        """(I + X^T D X)^-1 V for V [P, d]."""
        a = torch.gather(_mv(X, V.to(X.dtype)), 1, rs.idx).double() * sq           # D^1/2 X V on the rows
        y = torch.cholesky_solve(a[..., None], chol)[..., 0] * sq
        back = torch.zeros(h.shape, dtype=torch.float64, device=h.device).scatter_add_(1, rs.idx, y)
        return V.double() - _rmv(X, back.to(X.dtype)).double()

    Hxb = _rmv(X, h)                                                                # X^T h [P, d]
    hb = h.sum(-1).double()
    u, w = inv_hxx(gW), inv_hxx(Hxb)
    denom = hb + 1e-10 * (1 + hb) - (Hxb.double() * w).sum(-1)
    sb = (-gb.double() + (Hxb.double() * u).sum(-1)) / denom
    sW = -u - w * sb[:, None]
    return sW.to(dtype), sb.to(dtype)


def _newton_cg(X, h, gW, gb, max_cg: int = 200, rtol: float = 1e-4):
    """Newton step by conjugate gradients with Hessian-vector products (no d x d matrix)."""

    def hvp(vW, vb):
        u = h * (_mv(X, vW) + vb[:, None])
        return _rmv(X, u) + vW, u.sum(-1)

    xW, xb = torch.zeros_like(gW), torch.zeros_like(gb)
    rW, rb = -gW, -gb
    pW, pb = rW.clone(), rb.clone()
    rs = (rW * rW).sum(-1) + rb * rb
    stop = rtol * rs.sqrt()
    for _ in range(max_cg):
        if (rs.sqrt() <= stop).all():
            break
        AW, Ab = hvp(pW, pb)
        alpha = rs / ((pW * AW).sum(-1) + pb * Ab).clamp_min(1e-30)
        alpha = torch.where(rs.sqrt() <= stop, torch.zeros_like(alpha), alpha)
        xW, xb = xW + alpha[:, None] * pW, xb + alpha * pb
        rW, rb = rW - alpha[:, None] * AW, rb - alpha * Ab
        rs_new = (rW * rW).sum(-1) + rb * rb
        beta = rs_new / rs.clamp_min(1e-30)
        pW, pb = rW + beta[:, None] * pW, rb + beta * pb
        rs = rs_new
    return xW, xb


@dataclass(frozen=True, kw_only=True)
class RecipeParams:
    """SAEBench's SCR/TPP probe recipe (small batches limit how much spurious signal is learned)."""

    epochs: int = 20
    batch_size: int = 16
    lr: float = 1e-3
    l1_penalty: float = 1e-3
    weight_decay: float = 0.01     # torch AdamW default, as in SAEBench


def train_recipe_probes(X: torch.Tensor, rows: torch.Tensor, y: torch.Tensor, val_rows: torch.Tensor,
                        val_y: torch.Tensor, params: RecipeParams, generator: torch.Generator) -> LinearProbes:
    """Train P probes `Linear(d, 1)` with BCE + l1 * |w|_1 by AdamW; keep each probe's epoch with the best
    validation accuracy (ties broken by the lower validation loss). P probes train in one batched loop; since AdamW is
    element-wise and each probe's loss only touches its own parameters, this equals P separate runs."""
    P, n = rows.shape
    d = X.shape[-1]
    device = X.device
    bound = 1.0 / d ** 0.5   # nn.Linear's default initialisation
    W = ((torch.rand(P, d, generator=generator) * 2 - 1) * bound).to(device).requires_grad_(True)
    b = ((torch.rand(P, generator=generator) * 2 - 1) * bound).to(device).requires_grad_(True)
    opt = torch.optim.AdamW([W, b], lr=params.lr, weight_decay=params.weight_decay)
    best_acc = torch.full((P,), -1.0, device=device)
    best_W, best_b = W.detach().clone(), b.detach().clone()
    yf = y.float()
    with torch.enable_grad():
        _recipe_epochs(X, rows, yf, val_rows, val_y, params, generator, W, b, opt,
                       (best_acc, torch.full((P,), float("inf"), device=device), best_W, best_b))
    return LinearProbes(best_W.clone(), best_b.clone())


def _recipe_epochs(X, rows, yf, val_rows, val_y, params, generator, W, b, opt, best) -> None:
    best_acc, best_loss, best_W, best_b = best
    P, n = rows.shape
    device = X.device
    for _ in range(params.epochs):
        perm = torch.argsort(torch.rand(P, n, generator=generator), dim=1).to(device)
        for s in range(0, n, params.batch_size):
            idx = perm[:, s:s + params.batch_size]
            batch_rows = torch.gather(rows, 1, idx)
            logits = _row_logits(X, batch_rows, W, b)
            target = torch.gather(yf, 1, idx)
            bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(-1)
            loss = (bce + params.l1_penalty * W.abs().sum(-1)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            val_logits = _row_logits(X, val_rows, W, b)
            acc = accuracy_from_logits(val_logits, val_y.float())
            loss = torch.nn.functional.binary_cross_entropy_with_logits(val_logits, val_y.float(),
                                                                        reduction="none").mean(-1)
            better = (acc > best_acc) | ((acc == best_acc) & (loss < best_loss))
            best_acc.copy_(torch.where(better, acc, best_acc))
            best_loss.copy_(torch.where(better, loss, best_loss))
            best_W.copy_(torch.where(better[:, None], W.detach(), best_W))
            best_b.copy_(torch.where(better, b.detach(), best_b))
