"The preconditioned sampler and the default calibration, called as a user would (outside the notebooks)."
import torch
from torch import nn
from bif_nbdev.all import (bif, squared_loss, cross_entropy_loss, exact_bif_linreg, LocalPosterior, kronecker_factors,
                           KroneckerPreconditioner, fit_preconditioner, default_hyperparameters)
from test_bif import _linreg  # the same small regression problem (tests/ is on sys.path under pytest)


def test_kronecker_preconditioner_is_the_damped_inverse_of_the_kronecker_product():
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(40, 3, generator=g, dtype=torch.float64), torch.randn(40, 2, generator=g, dtype=torch.float64)
    lin = nn.Linear(3, 2, bias=False).double()
    post = LocalPosterior(lin, (X, Y), squared_loss, nbeta=40., gamma=2.)
    A, G, _ = kronecker_factors(post)['']
    pre = KroneckerPreconditioner(post, {'': (A, G, False)})
    M = pre.apply({'weight': torch.eye(6, dtype=torch.float64).reshape(6, 2, 3)})['weight'].reshape(6, 6)
    torch.testing.assert_close(M, torch.linalg.inv(40. * torch.kron(G, A) + 2. * torch.eye(6, dtype=torch.float64)))


def test_preconditioned_bif_matches_the_closed_form():
    model, train, query = _linreg()
    exact = exact_bif_linreg(*train, *query, model.weight[0].detach(), 60., 6.)
    r = bif(model, train, query, squared_loss, chains=64, draws=600, burnin=100, nbeta=60., gamma=6., batch_size=60,
            precond='kfac', seed=0, progress=False)
    assert r.config['precond'] == 'kfac' and r.config['scheme'] == 'lm'
    err = ((r.scores.double() - exact).norm() / exact.norm()).item()
    assert err < 0.1, err


def test_explicit_eps_means_plain_sgld_unless_asked():
    model, train, query = _linreg()
    r = bif(model, train, query, squared_loss, chains=2, draws=10, eps=1e-3, gamma=6., progress=False)
    assert r.config['precond'] is None
    r = bif(model, train, query, squared_loss, chains=2, draws=10, eps=1e-3, gamma=6., precond='kfac', progress=False)
    assert r.config['precond'] == 'kfac'


def test_auto_skips_models_without_enough_linear_parameters():
    model = nn.Sequential(nn.Embedding(50, 16), nn.Linear(16, 5))  # 800 embedding vs 85 linear parameters
    x = torch.randint(0, 50, (64,)); y = x % 5
    hp = default_hyperparameters(model, (x, y), cross_entropy_loss)
    assert hp['precond'] is None and hp['eps'] > 0


def test_stability_trial_halves_a_step_that_blows_up():
    # a separable problem, fitted to near-zero loss: the posterior is wide along flat directions, where the curvature
    # met by the chains exceeds the curvature at w*; the trial must shrink eps until the chains stay put
    torch.manual_seed(0)
    X = torch.randn(200, 4); y = (X[:, 0] + X[:, 1] > 0).long()
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(300):
        opt.zero_grad(); cross_entropy_loss(model, (X, y)).mean().backward(); opt.step()
    r = bif(model, (X, y), (X[:10], y[:10]), cross_entropy_loss, chains=4, draws=100, progress=False)
    cal = r.config['calibration']
    assert cal['eps_halvings'] >= 1
    assert abs(r.config['eps'] - 0.5 / cal['precond_lambda_max'] / 2 ** cal['eps_halvings']) < 1e-9
    assert torch.isfinite(r.scores).all()
