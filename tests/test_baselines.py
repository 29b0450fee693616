"Known-answer tests of bif_nbdev.baselines, called from outside the notebooks."
import pytest, torch
from torch import nn
from bif_nbdev.core import cross_entropy_loss, squared_loss
from bif_nbdev.baselines import (projected_grads, grad_similarity, tracin, trak, attribute, random_projection,
                                 kronfluence_available, kronfluence_influence)
from bif_nbdev.influence import influence


def _classifier():
    torch.manual_seed(0)
    X, y = torch.randn(15, 4), torch.randint(0, 3, (15,))
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)), (X, y)


def _linreg():
    torch.manual_seed(1)
    X = torch.randn(30, 5); y = X @ torch.randn(5) + 0.2 * torch.randn(30)
    lin = nn.Linear(5, 1)
    sol = torch.linalg.lstsq(torch.cat([X, torch.ones(30, 1)], 1), y[:, None]).solution[:, 0]
    with torch.no_grad(): lin.weight.copy_(sol[:5][None]); lin.bias.copy_(sol[5:])
    return lin, (X[:24], y[:24]), (X[24:], y[24:])


def test_grad_dot_equals_manual_autograd():
    model, (X, y) = _classifier()
    def g(i):
        model.zero_grad(); cross_entropy_loss(model, (X[i:i+1], y[i:i+1])).sum().backward()
        return torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    S = grad_similarity(model, (X, y), (X[:3], y[:3]), cross_entropy_loss, batch_size=4)
    assert S.shape == (15, 3)
    assert torch.allclose(S[7, 1], -(g(7) @ g(1)), atol=1e-5)
    C = attribute('grad_cos', model, (X, y), (X[:3], y[:3]), cross_entropy_loss)
    assert torch.allclose(C[7, 1], -(g(7) @ g(1)) / (g(7).norm() * g(1).norm()), atol=1e-5)


def test_tracin_single_checkpoint_is_lr_times_grad_dot():
    model, (X, y) = _classifier()
    ck = {k: v.detach().clone() for k, v in model.named_parameters()}
    T = tracin(model, (X, y), (X[:3], y[:3]), cross_entropy_loss, checkpoints=[ck], lrs=0.3)
    assert torch.allclose(T, 0.3 * grad_similarity(model, (X, y), (X[:3], y[:3]), cross_entropy_loss), atol=1e-6)


def test_trak_without_projection_is_exact_influence_on_linear_regression():
    lin, tr, q = _linreg()
    for lam in (0.0, 0.3):
        assert torch.allclose(trak(lin, tr, q, squared_loss, proj_dim=None, damping=lam),
                              influence(lin, tr, q, squared_loss, damping=lam).float(), atol=1e-4, rtol=1e-4)
    # an invertible square projection leaves the undamped kernel unchanged
    assert torch.allclose(trak(lin, tr, q, squared_loss, proj_dim=6, proj_kind='rademacher', seed=2),
                          influence(lin, tr, q, squared_loss).float(), atol=1e-3, rtol=1e-3)


def test_per_example_grads_projection_and_rows():
    model, (X, y) = _classifier()
    G = projected_grads(model, (X, y), cross_entropy_loss)
    P = random_projection(G.shape[1], 8, seed=0)
    assert torch.allclose(projected_grads(model, (X, y), cross_entropy_loss, project=P, batch_size=4), G @ P, atol=1e-6)


def test_bad_input_messages():
    model, (X, y) = _classifier()
    with pytest.raises(ValueError, match='choose one of'): attribute('influence', model, (X, y), (X, y), cross_entropy_loss)
    with pytest.raises(ValueError, match='at least one checkpoint'): tracin(model, (X, y), (X, y), cross_entropy_loss)


@pytest.mark.skipif(not kronfluence_available(), reason='kronfluence not installed (optional extra)')
def test_kfac_is_scaled_exact_influence_on_linear_regression():
    lin, tr, q = _linreg()
    K = kronfluence_influence(lin, tr, q, squared_loss, strategy='kfac', damping=1e-8, empirical_fisher=True)
    r2 = (lin(tr[0])[:, 0] - tr[1]).pow(2).mean().detach()
    IF = influence(lin, tr, q, squared_loss).float()
    assert torch.allclose(K * r2, IF, atol=1e-2 * IF.abs().max().item())


def _tiny_lm():
    from bif_nbdev.hf import make_tiny_gptneox
    lm = make_tiny_gptneox(50, hidden_size=16, num_layers=1, num_heads=2, max_length=8, seed=0)
    ids = torch.randint(0, 50, (12, 8), generator=torch.Generator().manual_seed(0))
    return lm, ids


@pytest.mark.skipif(not kronfluence_available(), reason='kronfluence not installed (optional extra)')
def test_kronfluence_on_a_causal_lm_with_dict_batches():
    "A Hugging Face model gets its keyword arguments; token and sequence losses give the same scores; padding ids do not matter."
    from bif_nbdev.hf import causal_lm_loss, causal_lm_sequence_loss
    lm, ids = _tiny_lm()
    data = [{'input_ids': r} for r in ids]
    K = kronfluence_influence(lm, data, data[:3], causal_lm_sequence_loss)
    assert K.shape == (12, 3) and torch.isfinite(K).all()
    assert torch.allclose(kronfluence_influence(lm, data, data[:3], causal_lm_loss), K, atol=1e-4 * K.abs().max().item())
    am = torch.ones_like(ids); am[::2, 5:] = 0
    padded = lambda fill: [{'input_ids': torch.where(a.bool(), r, fill), 'attention_mask': a} for r, a in zip(ids, am)]
    K0, K7 = (kronfluence_influence(lm, padded(v), padded(v)[:3], causal_lm_sequence_loss, empirical_fisher=True) for v in (0, 7))
    assert torch.allclose(K0, K7, atol=1e-5 * K0.abs().max().item())


def test_trak_sequence_margin_for_causal_lms():
    from bif_nbdev.hf import causal_lm_sequence_loss
    from bif_nbdev.baselines import sequence_margin
    lm, ids = _tiny_lm()
    with torch.no_grad():
        f, Q = sequence_margin(lm, {'input_ids': ids[:, :2]}); l = causal_lm_sequence_loss(lm, {'input_ids': ids[:, :2]})
    assert torch.allclose(nn.functional.softplus(-f), l, atol=1e-5) and torch.allclose(Q, 1 - torch.exp(-l), atol=1e-6)
    data = [{'input_ids': r} for r in ids]
    assert attribute('trak', lm, data, data[:3], causal_lm_sequence_loss, proj_dim=64, damping=1e-3).shape == (12, 3)
