"The preconditioned sampler and the default calibration, called as a user would (outside the notebooks)."
import pytest, torch
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


@pytest.mark.parametrize('scheme', ['auto', 'lm'])
def test_preconditioned_bif_matches_the_closed_form(scheme):
    "'auto' is 'baoab' with the fitted preconditioner; both schemes within 10% of the closed form (Frobenius)."
    model, train, query = _linreg()
    exact = exact_bif_linreg(*train, *query, model.weight[0].detach(), 60., 6.)
    r = bif(model, train, query, squared_loss, chains=64, draws=600, burnin=100, nbeta=60., gamma=6., batch_size=60,
            precond='kfac', seed=0, progress=False, scheme=scheme)
    assert r.config['precond'] == 'kfac' and r.config['scheme'] == {'auto': 'baoab', 'lm': 'lm'}[scheme]
    err = ((r.scores.double() - exact).norm() / exact.norm()).item()
    assert err < 0.1, err


def test_explicit_eps_means_plain_sgld_unless_asked():
    model, train, query = _linreg()
    r = bif(model, train, query, squared_loss, chains=2, draws=10, eps=1e-3, gamma=6., progress=False)
    assert r.config['precond'] is None
    r = bif(model, train, query, squared_loss, chains=2, draws=10, eps=1e-3, gamma=6., precond='kfac', progress=False)
    assert r.config['precond'] == 'kfac'
    # a preconditioner passed in as an object is recorded by its class (it was recorded as None, as if there were none)
    post = LocalPosterior(model, train, squared_loss, nbeta=60., gamma=6.)
    pre = KroneckerPreconditioner(post, kronecker_factors(post))
    r = bif(model, train, query, squared_loss, chains=2, draws=10, eps=1e-3, nbeta=60., gamma=6., precond=pre, progress=False)
    assert r.config['precond'] == 'KroneckerPreconditioner'


def test_default_damping_and_locality():
    "damping = max(2|λ_min|, 10⁻⁴ λ_max) against the exact Hessian; the locality floor γ ≥ d/‖w*‖² raises nβ, keeping the damping."
    # labels almost unrelated to the inputs give a logistic regression whose optimum has small weights (LBFGS finds it),
    # so that d/‖w*‖² is large and the locality floor binds
    from bif_nbdev.influence import hessian
    torch.manual_seed(1)
    X = torch.randn(200, 3); y = (0.2 * X[:, 0] + torch.randn(200) > 0).long()
    model = nn.Linear(3, 2)
    opt = torch.optim.LBFGS(model.parameters(), max_iter=200, tolerance_grad=1e-10, tolerance_change=1e-12)
    def closure():
        opt.zero_grad(); l = cross_entropy_loss(model, (X, y)).mean(); l.backward(); return l
    opt.step(closure)
    ev = torch.linalg.eigvalsh(hessian(model, (X, y), cross_entropy_loss).double())
    cal = calibrate(model, (X, y), cross_entropy_loss)
    est = cal.estimates
    assert abs(est['lambda_max'] - ev[-1].item()) < 1e-4 * ev[-1].item() and abs(est['lambda_min'] - ev[0].item()) < 1e-4 * ev[-1].item()
    want = max(2 * max(0., -ev[0].item()), 1e-4 * ev[-1].item())
    assert abs(cal.damping - want) < 1e-3 * want
    w2 = sum((p.double() ** 2).sum().item() for p in model.parameters())
    assert cal.nbeta > 200 and abs(cal.gamma - 8 / w2) < 1e-6 * cal.gamma  # d = 8 parameters
    r = bif(model, (X, y), (X[:5], y[:5]), cross_entropy_loss, chains=4, draws=50, progress=False)
    assert torch.isfinite(r.scores).all() and r.config['nbeta'] == cal.nbeta


class _RawParameter(nn.Module):
    "A model whose weights are one bare nn.Parameter (no layer K-FAC knows), with a small linear head."
    def __init__(self): super().__init__(); self.w = nn.Parameter(0.1 * torch.randn(50, 16)); self.head = nn.Linear(16, 5)
    def forward(self, x): return self.head(self.w[x])


def test_auto_keeps_the_preconditioner_where_few_parameters_are_factorable():
    # 'auto' used to fall back to plain SGLD below half coverage; on an LSTM (the rule's source), weight_norm and
    # EmbeddingBag models (design notes, "A new user's hunt") and this one, the scaled, deflated preconditioner mixes far better
    torch.manual_seed(0)
    model = _RawParameter()  # 800 bare parameters vs 85 in the linear head
    x = torch.randint(0, 50, (256,)); y = x % 5
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(300): opt.zero_grad(); cross_entropy_loss(model, (x, y)).mean().backward(); opt.step()
    cal = calibrate(model, (x, y), cross_entropy_loss)
    assert cal.precond_kind == 'kfac' and cal.estimates['kfac_coverage'] < 0.5
    run = lambda **kw: bif(model, (x, y), (x[:5], y[:5]), cross_entropy_loss, progress=False, max_draws=100, **kw)
    plain, pre = run(precond=None), run()
    assert pre.config['precond'] == 'kfac' and plain.config['precond'] is None
    assert pre.rhat < plain.rhat and pre.ess > 2 * plain.ess, (pre.rhat, plain.rhat, pre.ess, plain.ess)
    assert calibrate(nn.Sequential(nn.Embedding(50, 16), nn.Linear(16, 5)), (x, y), cross_entropy_loss).precond_kind == 'kfac'  # embeddings are blocks


def test_stability_probe_halves_a_step_that_blows_up():
    # a separable problem fitted to near-zero loss: the curvature the chains meet away from w* exceeds the curvature at w*;
    # the probe must shrink a step sixteen times the default until 8 chains stay within ten times the prior's scale
    model, X, y = _separable_mlp()
    r = bif(model, (X, y), (X[:10], y[:10]), cross_entropy_loss, chains=4, draws=100, nbeta=200., gamma=1.05, eps_factor=8.,
            batch_size=200, progress=False)
    cal = r.config['calibration']
    assert cal['eps_halvings'] >= 1
    assert abs(r.config['eps'] - 8. / cal['precond_curvature'] / 2 ** cal['eps_halvings']) < 1e-9 * r.config['eps']
    assert torch.isfinite(r.scores).all()


def test_conv_nets_get_conv_blocks():
    "'auto' (the default) gives every Conv2d layer of one group and numeric padding a Kronecker block, like 'kfac'."
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(64, 1, 6, 6, generator=g), torch.randint(0, 3, (64,), generator=g)
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3))
    for p in ('auto', 'kfac'):
        cal = calibrate(cnn, (X, y), cross_entropy_loss, precond=p)
        assert cal.precond_kind == 'kfac' and cal.precond.conv_blocks == ['0', '2'] and not cal.precond.scalar

def test_lanczos_in_float32_beyond_2_to_the_22():
    # a large model's Lanczos keeps its basis and its arithmetic in float32 (a float64 copy of every vector would double the
    # calibration's peak memory); on a known spectrum it still finds both ends
    import torch
    from bif_nbdev.precond import lanczos, lanczos_dtype
    d = 2 ** 22 + 1
    assert lanczos_dtype(d) == torch.float32 and lanczos_dtype(2 ** 22) == torch.float64
    diag = torch.linspace(-1.0, 3.0, d)
    seen = []
    def op(x): seen.append(x.dtype); return diag * x
    theta, U, res = lanczos(op, d, 30, seed=0)
    assert set(seen) == {torch.float32} and U.dtype == torch.float32
    assert abs(theta[-1].item() - 3.0) < 1e-2 and abs(theta[0].item() + 1.0) < 1e-2
    u = U[-1]  # the top Ritz vector: unit norm, and its Rayleigh quotient is its Ritz value
    assert abs(u.norm().item() - 1) < 1e-3 and abs((u * diag * u).sum().item() - theta[-1].item()) < 1e-3


def test_a_layer_whose_input_is_shared_by_the_batch_gets_no_kronecker_factors():
    # HF BERT/GPT-2 without position_ids call their position embedding on arange(S)[None], broadcast over the batch: its
    # output gradient sums the examples, so it has no per-example rows (the EK-FAC correction used to fail on a reshape)
    import torch
    from torch import nn
    from bif_nbdev.sgld import LocalPosterior
    from bif_nbdev.precond import kronecker_factors
    from bif_nbdev.bif import bif
    torch.manual_seed(0)
    class PosModel(nn.Module):
        def __init__(s): super().__init__(); s.tok = nn.Embedding(50, 16); s.pos = nn.Embedding(8, 16); s.out = nn.Linear(16, 2)
        def forward(s, x): return s.out((s.tok(x) + s.pos(torch.arange(x.shape[1])[None])).mean(1))
    loss = lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1], reduction='none')
    x = torch.randint(0, 50, (100, 8)); y = torch.randint(0, 2, (100,))
    m = PosModel()
    f = kronecker_factors(LocalPosterior(m, (x, y), loss, 100., 1.), examples=64)
    assert set(f) == {'tok', 'out'}
    r = bif(m, (x, y), (x[:4], y[:4]), loss, progress=False, chains=4, draws=20)
    assert r.scores.shape == (100, 4) and torch.isfinite(r.scores).all()


class _MixedNet(nn.Module):
    "An embedding, a convolution, a LayerNorm (parameters outside the Kronecker blocks), GPT-2's Conv1D and a linear head."
    def __init__(self):
        super().__init__()
        from transformers.pytorch_utils import Conv1D
        self.emb, self.conv, self.norm, self.mix, self.out = nn.Embedding(10, 4), nn.Conv2d(4, 3, 2), nn.LayerNorm(12), Conv1D(5, 12), nn.Linear(5, 3)
    def forward(self, ids):
        h = self.emb(ids).reshape(ids.shape[0], 3, 3, 4).permute(0, 3, 1, 2)
        return self.out(self.mix(self.norm(self.conv(h).tanh().flatten(1))).tanh())


def _dense(f, post):
    "The linear map f (on {parameter: [C, *shape]}) as a dense [d, d] matrix, column i = f(e_i)."
    E = torch.eye(post.dim, dtype=torch.float64)
    parts = dict(zip(post.center, torch.split(E, [v.numel() for v in post.center.values()], 1)))
    out = f({k: parts[k].reshape(post.dim, *post.center[k].shape) for k in post.center})
    return torch.cat([out[k].reshape(post.dim, -1) for k in post.center], 1).T


def test_the_eigenbasis_maps_match_their_definitions_with_deflation_and_kappa():
    """The sampler's preconditioner works in its Kronecker eigenbasis (chapter *The Kronecker preconditioner*). On a model
    with every kind of block and parameters outside them, deflated along 3 random orthonormal directions: R is the
    undeflated R₀ times P = I − V diag(1 − μ^(−1/2)) Vᵀ (V in parameter coordinates), `sqrt_t` is Rᵀ, `apply` is R Rᵀ, and
    `noise_from_eigen(z, κ)` is `sqrt` (with the same κ) of z rotated out of the eigenbasis. Float64: exact to rounding."""
    torch.manual_seed(0)
    net = _MixedNet().double()
    g = torch.Generator().manual_seed(1)
    ids, y = torch.randint(0, 10, (40, 9), generator=g), torch.randint(0, 3, (40,), generator=g)
    post = LocalPosterior(net, (ids, y), cross_entropy_loss, nbeta=40., gamma=2.)
    factors = kronecker_factors(post)
    pre0, pre = KroneckerPreconditioner(post, factors), KroneckerPreconditioner(post, factors)
    assert {b[0].kind for b in pre.blocks.values()} == {'embedding', 'conv2d', 'conv1d', 'linear'} and set(pre.scalar) == {'norm.weight', 'norm.bias'}
    V = torch.linalg.qr(torch.randn(post.dim, 3, generator=g, dtype=torch.float64)).Q.T          # [3, d], orthonormal rows
    mu = torch.tensor([4., 9., 2.], dtype=torch.float64)
    pre.deflate(dict(zip(post.center, (v.reshape(3, *post.center[k].shape) for k, v in
                                       zip(post.center, torch.split(V, [v.numel() for v in post.center.values()], 1))))), mu)
    R0, R, Rt = _dense(pre0.sqrt, post), _dense(pre.sqrt, post), _dense(pre.sqrt_t, post)
    P = torch.eye(post.dim, dtype=torch.float64) - V.T @ torch.diag(1 - mu.rsqrt()) @ V
    torch.testing.assert_close(R, R0 @ P)
    torch.testing.assert_close(Rt, R.T)
    torch.testing.assert_close(_dense(pre.apply, post), R @ R.T)
    z = torch.randn(5, post.dim, generator=g, dtype=torch.float64)
    rotated_out = pre._from_eigen(pre.eigen_coords(z))
    for kappa in (0., 0.3):
        a, b = pre.noise_from_eigen(z, kappa), pre.sqrt(rotated_out, kappa)
        for k in post.center: torch.testing.assert_close(a[k], b[k])
    # each weight's noise comes back in the weight's own row layout, not as a transposed view (the embedding's, stored
    # [in, out], too), with its factors full or (max_full=8: wider sides) diagonal, where no rotation reorders it
    pre_diag = KroneckerPreconditioner(post, kronecker_factors(post, max_full=8))
    assert pre_diag.blocks['emb'][1] is None and pre_diag.blocks['emb'][2] is None
    for p in (pre0, pre_diag):
        e = p._to_eigen({k: v.expand(2, *v.shape) for k, v in post.center.items()})  # and the coordinates keep each `Dh`'s layout
        assert all(e[name].stride()[1:] == b[3].stride() for name, b in p.blocks.items())
        noise = p.noise_from_eigen(z)
        assert noise['emb.weight'].is_contiguous() and all(v.stride(-1) == 1 for v in noise.values() if v.dim() > 2)
        for k, v in p.sqrt(p._from_eigen(p.eigen_coords(z))).items(): torch.testing.assert_close(noise[k], v)
    with pytest.raises(ValueError, match='coordinates'): pre.noise_from_eigen(z[:, 1:])
