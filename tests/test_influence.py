"Classical influence (bif_nbdev.influence), called as a user would call it, checked against retraining and closed forms."
import warnings
import pytest, torch
from torch import nn
from bif_nbdev.all import (per_example_grads, hessian, influence, first_order_bif, squared_loss, cross_entropy_loss)


@pytest.fixture(autouse=True)
def one_thread():
    "Tiny problems: one thread is faster (far faster on a busy machine); restore afterwards."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_per_example_grads_match_autograd_on_single_examples():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    model[2].bias.requires_grad_(False)  # frozen: left out
    X, y = torch.randn(9, 3), torch.randint(0, 2, (9,))
    ps = [p for p in model.parameters() if p.requires_grad]
    ref = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(
        cross_entropy_loss(model, (X[i:i + 1], y[i:i + 1])).sum(), ps)]) for i in range(9)])
    for method in ('vmap', 'loop'):
        G = per_example_grads(model, (X, y), cross_entropy_loss, batch_size=4, method=method)
        assert G.shape == (9, 3 * 4 + 4 + 4 * 2)
        assert torch.allclose(G, ref, atol=1e-6), method


def test_hessian_of_linear_regression_is_xtx_over_n():
    X, y = torch.randn(17, 4, dtype=torch.float64), torch.randn(17, dtype=torch.float64)
    model = nn.Linear(4, 1, bias=False).double()
    assert torch.allclose(hessian(model, (X, y), squared_loss, batch_size=6), X.T @ X / 17, atol=1e-12)
    with pytest.raises(ValueError, match='max_params'):
        hessian(model, (X, y), squared_loss, max_params=3)


def test_singular_hessian_asks_for_damping():
    X, y = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, dtype=torch.float64)
    model = nn.Linear(4, 1, bias=False).double()
    with pytest.raises(ValueError, match='damping'):
        influence(model, (X, y), (X, y), squared_loss)
    assert influence(model, (X, y), (X, y), squared_loss, damping=0.1).shape == (2, 2)


def _logreg_problem(n=120, alpha=0.1):
    from sklearn.datasets import load_breast_cancer
    bc = load_breast_cancer()
    X = torch.tensor(bc.data[:, :4], dtype=torch.float64); y = torch.tensor(bc.target, dtype=torch.float64)
    X = (X - X.mean(0)) / X.std(0)
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(1))
    return X[perm[:n]], y[perm[:n]], X[perm[n:n + 10]], y[perm[n:n + 10]], alpha


def test_influence_equals_retraining_logistic_regression():
    "(φ(w*(ε)) − φ(w*(−ε)))/2ε with w*(ε) = argmin L_n + ε ℓ_i matches IF; central-difference error is O(ε²)."
    Xtr, ytr, Xq, yq, alpha = _logreg_problem()
    n, k = Xtr.shape
    def losses(w, X, y): return nn.functional.binary_cross_entropy_with_logits(X @ w[:k] + w[k], y, reduction='none')
    def objective(w, extra):
        l = losses(w, Xtr, ytr) + alpha / 2 * w.pow(2).sum()
        return l.mean() + (extra * l).sum()
    def fit(extra, w0):
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.LBFGS([w], lr=1, max_iter=100, tolerance_grad=1e-9, line_search_fn='strong_wolfe')
        def closure():
            opt.zero_grad(); l = objective(w, extra); l.backward(); return l
        opt.step(closure)
        w = w.detach()
        for _ in range(3):  # Newton polish to |∇| ~ 1e-16
            w = w - torch.linalg.solve(torch.autograd.functional.hessian(lambda v: objective(v, extra), w),
                                       torch.func.grad(objective)(w, extra))
        return w
    w_star = fit(torch.zeros(n, dtype=torch.float64), torch.zeros(k + 1, dtype=torch.float64))
    assert torch.func.grad(objective)(w_star, torch.zeros(n, dtype=torch.float64)).norm() < 1e-13
    model = nn.Linear(k, 1).double()
    with torch.no_grad(): model.weight.copy_(w_star[:k][None]); model.bias.copy_(w_star[k:])
    def bce(m, b): return nn.functional.binary_cross_entropy_with_logits(m(b[0]).reshape(-1), b[1], reduction='none')
    def reg_bce(m, b): return bce(m, b) + alpha / 2 * (m.weight.pow(2).sum() + m.bias.pow(2).sum())
    IF = influence(model, (Xtr, ytr), (Xq, yq), reg_bce, query_loss_fn=bce)
    eps = 1e-4  # truncation error ~ C ε² with C of order 10² here, i.e. ~1e-6; optimizer error < 1e-10
    for i in (0, 1, 2):
        e = torch.zeros(n, dtype=torch.float64); e[i] = eps
        fd = (losses(fit(e, w_star), Xq, yq) - losses(fit(-e, w_star), Xq, yq)) / (2 * eps)
        assert (fd - IF[i]).abs().max() < 1e-4, (i, (fd - IF[i]).abs().max())
    assert IF.abs().max() > 0.1  # the check is not vacuous


def test_first_order_bif_is_damped_influence_over_nbeta():
    X, y = torch.randn(30, 3, dtype=torch.float64), torch.randn(30, dtype=torch.float64)
    model = nn.Linear(3, 1, bias=False).double()
    nbeta, gamma = 50., 5.
    G = per_example_grads(model, (X, y), squared_loss).double()
    by_hand = -G @ torch.linalg.solve(nbeta * X.T @ X / 30 + gamma * torch.eye(3, dtype=torch.float64), G.T)
    assert torch.allclose(first_order_bif(model, (X, y), (X, y), squared_loss, nbeta, gamma), by_hand, atol=1e-12)
