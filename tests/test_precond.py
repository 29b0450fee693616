"The preconditioned sampler and the default calibration, called as a user would (outside the notebooks)."
import torch
from torch import nn
from bif_nbdev.all import (bif, squared_loss, cross_entropy_loss, exact_bif_linreg, LocalPosterior, kronecker_factors,
                           KroneckerPreconditioner, fit_preconditioner, calibrate)
from test_bif import _linreg, _separable_mlp  # the same small problems (tests/ is on sys.path under pytest)


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


def test_default_damping_and_locality():
    # weights near zero make the locality floor d/‖w*‖² bind; a damping below |λ_min| is raised to 2|λ_min|
    # (labels almost unrelated to the inputs give a logistic regression whose optimum has small weights; LBFGS finds it)
    torch.manual_seed(1)
    X = torch.randn(200, 3); y = (0.2 * X[:, 0] + torch.randn(200) > 0).long()
    model = nn.Linear(3, 2)
    opt = torch.optim.LBFGS(model.parameters(), max_iter=200, tolerance_grad=1e-10, tolerance_change=1e-12)
    def closure():
        opt.zero_grad(); l = cross_entropy_loss(model, (X, y)).mean(); l.backward(); return l
    opt.step(closure)
    hp = calibrate(model, (X, y), cross_entropy_loss)
    cal = hp.estimates
    lam = max(0.01 * cal['lambda_max'], 2 * max(0., -cal['lambda_min']))
    assert abs(hp.gamma / hp.nbeta - lam) < 1e-9 * lam
    w2 = sum((p.double() ** 2).sum().item() for p in model.parameters())
    assert hp.nbeta > 200 and abs(hp.gamma - 8 / w2) < 1e-6 * hp.gamma  # d = 8 parameters
    r = bif(model, (X, y), (X[:5], y[:5]), cross_entropy_loss, chains=4, draws=50, progress=False)
    assert torch.isfinite(r.scores).all() and r.config['nbeta'] == hp.nbeta


def test_auto_skips_models_without_enough_linear_parameters():
    model = nn.Sequential(nn.Embedding(50, 16), nn.Linear(16, 5))  # 800 embedding vs 85 linear parameters
    x = torch.randint(0, 50, (64,)); y = x % 5
    hp = calibrate(model, (x, y), cross_entropy_loss)
    assert hp.precond is None and hp.eps > 0


def test_stability_trial_halves_a_step_that_blows_up():
    # a separable problem, fitted to near-zero loss: the posterior is wide along flat directions, where the curvature
    # met by the chains exceeds the curvature at w*; the trial must shrink eps until the chains stay put
    model, X, y = _separable_mlp()
    # nβ = n and γ as the damping rule alone gives (1% of λ_max): a prior too wide to be local (the default raises nβ)
    r = bif(model, (X, y), (X[:10], y[:10]), cross_entropy_loss, chains=4, draws=100, nbeta=200., gamma=1.05, progress=False)
    cal = r.config['calibration']
    assert cal['eps_halvings'] >= 1
    assert abs(r.config['eps'] - 0.5 / cal['precond_lambda_max'] / 2 ** cal['eps_halvings']) < 1e-9
    assert torch.isfinite(r.scores).all()


def test_conv_kronecker_blocks_sample_the_gaussian_posterior():
    "A linear conv model with the squared loss has the Gaussian posterior N(w*, (nβH + γI)⁻¹) (H exact, constant):"
    "the conv-preconditioned chains (precond='kfac' blocks on Conv2d, full batch, LM) must reproduce its covariance."
    from bif_nbdev.all import run_chains
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(30, 1, 3, 3, generator=g, dtype=torch.float64), torch.randn(30, 2, 2, 2, generator=g, dtype=torch.float64)
    conv = nn.Conv2d(1, 2, 2).double()
    post = LocalPosterior(conv, (X, Y), squared_loss, nbeta=30., gamma=3.)
    pre = fit_preconditioner(post, rank=0)
    assert pre.conv_blocks == [''] and not pre.scalar
    w0 = torch.cat([p.detach().reshape(-1) for p in conv.parameters()])
    def U(w):  # the mean loss as a function of the flat parameters (weight 8, bias 2)
        out = torch.nn.functional.conv2d(X, w[:8].reshape(2, 1, 2, 2), w[8:])
        return (0.5 * (out - Y).pow(2).reshape(30, -1).sum(1)).mean()
    K = 30. * torch.autograd.functional.hessian(U, w0) + 3. * torch.eye(10, dtype=torch.float64)
    Kinv = torch.linalg.inv(K)
    lam = torch.linalg.eigvalsh(K).max().item()
    # w* (an untrained conv) is not the minimum of L, so the posterior's mean is w* − K⁻¹ nβ ∇L(w*)
    mean = w0 - Kinv @ (30. * torch.autograd.functional.jacobian(U, w0))
    ws, _ = run_chains(post, 64, 1500, 0.5 / lam * 10, seed=1, precond=pre, scheme='lm')  # ten times the plain step
    W = ws[300:].reshape(-1, 10).double()  # [draws·chains, d]
    torch.testing.assert_close(W.mean(0), mean, rtol=0., atol=0.1 * Kinv.diagonal().max().sqrt().item())
    W = W - W.mean(0)
    C = W.T @ W / len(W)
    # ~77k correlated draws: a diagonal variance has a few % Monte Carlo error; 15% fails for a wrong covariance
    torch.testing.assert_close(C.diagonal(), Kinv.diagonal(), rtol=0.15, atol=0.)
    assert ((C - Kinv).norm() / Kinv.norm()).item() < 0.15


def test_auto_leaves_conv_nets_alone_and_kfac_adds_conv_blocks():
    "'auto' preconditions only when nn.Linear layers hold half the parameters; 'kfac' (opt-in) gives Conv2d layers blocks too."
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(64, 1, 6, 6, generator=g), torch.randint(0, 3, (64,), generator=g)
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3))
    auto = calibrate(cnn, (X, y), cross_entropy_loss)
    assert auto.precond_kind is None and auto.precond is None
    kfac = calibrate(cnn, (X, y), cross_entropy_loss, precond='kfac')
    assert kfac.precond_kind == 'kfac' and kfac.precond.conv_blocks == ['0', '2'] and not kfac.precond.scalar
    # conv blocks halve the step factor: eps ≤ 0.25/λ_max of the preconditioned curvature (halvings only lower it)
    assert kfac.eps <= 0.25 / kfac.estimates['precond_lambda_max'] * (1 + 1e-9)
