"The exact BIF of linear regression (bif_nbdev.exact) against Monte Carlo draws and the damped classical IF."
import pytest, torch
from bif_nbdev.all import (make_linreg_problem, linreg_posterior, exact_bif_linreg, first_order_bif_linreg,
                           influence, squared_loss)


def _mc(prob, nbeta, gamma, draws, seed):
    m, S = linreg_posterior(prob.X_train, prob.y_train, prob.w_star, nbeta, gamma)
    g = torch.Generator().manual_seed(seed)
    W = m + torch.randn(draws, m.numel(), generator=g, dtype=torch.float64) @ torch.linalg.cholesky(S).T
    Lt = 0.5 * (prob.y_train - W @ prob.X_train.T) ** 2
    Lq = 0.5 * (prob.y_query - W @ prob.X_query.T) ** 2
    z = (Lt - Lt.mean(0))[:, :, None] * (Lq - Lq.mean(0))[:, None, :]
    return z.sum(0) / (draws - 1), z.std(0) / draws ** 0.5  # sample covariance and its standard error


@pytest.mark.parametrize('nbeta,gamma,noise', [(30., 3., 0.5), (300., 1., 0.1)])
def test_exact_bif_matches_monte_carlo_within_5_standard_errors(nbeta, gamma, noise):
    prob = make_linreg_problem(n_train=25, n_query=8, d=3, noise=noise, seed=2)
    exact = exact_bif_linreg(*prob, nbeta, gamma)
    cov, se = _mc(prob, nbeta, gamma, draws=40_000, seed=0)
    z = (-cov - exact) / se
    assert z.abs().max() < 5, z.abs().max()
    # the first-order part alone is rejected by the same check (the ½k² term is resolved by these draws)
    z1 = (-cov - first_order_bif_linreg(*prob, nbeta, gamma)) / se
    assert z1.abs().max() > 5, z1.abs().max()


def test_first_order_part_is_damped_influence_at_the_posterior_mean():
    prob = make_linreg_problem(n_train=30, n_query=6, d=3, noise=0.5, seed=4)
    nbeta, gamma = 40., 4.
    train, query = (prob.X_train, prob.y_train), (prob.X_query, prob.y_query)
    b1 = first_order_bif_linreg(*prob, nbeta, gamma)
    IF = influence(prob.model(), train, query, squared_loss, damping=gamma / nbeta) / nbeta
    assert torch.allclose(b1, IF, rtol=0, atol=1e-12 * b1.abs().max())  # w* = least squares, so m = w*
    w_off = prob.w_star + 0.3
    b1_off = first_order_bif_linreg(*prob._replace(w_star=w_off), nbeta, gamma)
    m, _ = linreg_posterior(prob.X_train, prob.y_train, w_off, nbeta, gamma)
    IF_m = influence(prob.model(m), train, query, squared_loss, damping=gamma / nbeta) / nbeta
    assert torch.allclose(b1_off, IF_m, rtol=0, atol=1e-12 * b1_off.abs().max())
    IF_w = influence(prob.model(w_off), train, query, squared_loss, damping=gamma / nbeta) / nbeta
    assert not torch.allclose(b1_off, IF_w, atol=1e-3)


def test_bad_input_is_refused():
    prob = make_linreg_problem(n_train=10, n_query=3, d=2, seed=0)
    with pytest.raises(ValueError, match='gamma > 0'):
        linreg_posterior(torch.ones(5, 2, dtype=torch.float64), torch.zeros(5), torch.zeros(2), 10., 0.)
    with pytest.raises(ValueError, match='nbeta'):
        exact_bif_linreg(*prob, 0., 1.)
    with pytest.raises(ValueError, match='columns'):
        exact_bif_linreg(prob.X_train, prob.y_train, prob.X_query[:, :1], prob.y_query, prob.w_star, 10., 1.)
