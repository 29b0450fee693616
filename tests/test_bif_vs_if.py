"BIF against the classical influence function, called as a user would (chapter 6: nbs/06_bif_vs_if.ipynb)."
import math
import pytest, torch
from torch import nn
from bif_nbdev.core import cross_entropy_loss
from bif_nbdev.bif import bif
from bif_nbdev.influence import influence, hessian
from bif_nbdev.compare import compare_scores


@pytest.fixture(autouse=True)
def one_thread():
    "Tiny models: one thread is as fast and does not oversubscribe a shared CPU; restored afterwards."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _bce(model, batch):
    x, y = batch
    return nn.functional.binary_cross_entropy_with_logits(model(x)[:, 0], y, reduction='none')


def _bce_wd(model, batch, wd=1e-2):
    return _bce(model, batch) + 0.5 * wd * sum((p ** 2).sum() for p in model.parameters())


def _logreg():
    from sklearn.datasets import load_breast_cancer
    Xa, ya = load_breast_cancer(return_X_y=True)
    X = torch.tensor(Xa[:, :8], dtype=torch.float32); y = torch.tensor(ya, dtype=torch.float32)
    X = (X - X.mean(0)) / X.std(0)
    p = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    train, query = (X[p[:200]], y[p[:200]]), (X[p[200:240]], y[p[200:240]])
    torch.manual_seed(0); model = nn.Linear(8, 1)
    opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=2000, tolerance_grad=1e-9, tolerance_change=1e-14,
                            history_size=50, line_search_fn='strong_wolfe')
    def closure():
        opt.zero_grad(); l = _bce_wd(model, train).mean(); l.backward(); return l
    for _ in range(3): opt.step(closure)
    closure()
    assert torch.cat([q.grad.flatten() for q in model.parameters()]).norm() < 1e-4   # a proper minimum
    return model, train, query


def test_compare_scores_exact():
    b = torch.tensor([[-3., 1.], [2., .5]])
    c = compare_scores(-0.5 * b, b)
    assert math.isclose(c['pearson'], -1, abs_tol=1e-12) and math.isclose(c['spearman'], -1, abs_tol=1e-12)
    assert math.isclose(c['slope'], -0.5, abs_tol=1e-12)


def test_bif_matches_if_on_l2_logistic_regression():
    "The documented setting: nβ = n = 200, γ/nβ = 0.01, 64 chains × 200 draws, full batch, LM scheme, seed 0."
    model, train, query = _logreg()
    nbeta, damping = 200., 1e-2
    IF = influence(model, train, query, _bce_wd, damping=damping, query_loss_fn=_bce)
    r = bif(model, train, query, _bce_wd, query_loss_fn=_bce, chains=64, draws=200, burnin=100, nbeta=nbeta,
            gamma=damping * nbeta, batch_size=200, seed=0, scheme='lm', progress=False)
    c = compare_scores(r.scores * nbeta, IF)
    assert c['pearson'] >= 0.97 and abs(c['slope'] - 1) < 0.2, c


def test_if_has_a_pole_where_bif_is_finite():
    "A tanh MLP stopped early (no weight decay): H is indefinite; IF explodes near |λ_min| and fails below; BIF does not."
    from sklearn.datasets import load_wine
    Xa, ya = load_wine(return_X_y=True)
    X = torch.tensor(Xa, dtype=torch.float32); y = torch.tensor(ya)
    X = (X - X.mean(0)) / X.std(0)
    p = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    train, query = (X[p[:128]], y[p[:128]]), (X[p[128:]], y[p[128:]])
    torch.manual_seed(0); m = nn.Sequential(nn.Linear(13, 8), nn.Tanh(), nn.Linear(8, 3))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad(); cross_entropy_loss(m, train).mean().backward(); opt.step()
    lam_min = torch.linalg.eigvalsh(hessian(m, train, cross_entropy_loss).double()).min().item()
    assert lam_min < -1e-3
    try: influence(m, train, query, cross_entropy_loss, damping=1e-3); raise AssertionError('influence accepted an indefinite H + λI')
    except ValueError as e: assert 'not positive definite' in str(e)
    far, near = (influence(m, train, query, cross_entropy_loss, damping=l).norm().item() for l in (1e-1, -lam_min * 1.001))
    assert near / far > 30
    norms = []
    for damping in (1e-3, 1e-5):
        r = bif(m, train, query, cross_entropy_loss, chains=64, draws=200, burnin=200, nbeta=128., gamma=damping * 128.,
                batch_size=128, seed=0, scheme='lm', progress=False)
        norms.append((r.scores * 128.).norm().item())
    # below |λ_min| the posterior is improper at second order, and only the loss's higher-order terms hold the chains:
    # the scores grow, but stay finite and within two orders of magnitude, where IF has already exploded at the pole
    assert all(math.isfinite(v) for v in norms) and max(norms) / min(norms) < 100, norms
