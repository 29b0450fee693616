"""The stability probe's localization (`CalibrationArguments.probe_localize`, chapter *Calibration*, step 7) on a small
tanh network whose probe halves the step: localizing is kept only where it allows a larger step, and never leaves the
sampler a smaller step than halving alone would."""
import pytest, torch
from torch import nn
from bif_nbdev.core import cross_entropy_loss
from bif_nbdev.calibrate import calibrate

N = 64


@pytest.fixture(scope='module')
def net():
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(N, 4, generator=g); Y = (X[:, 0] + 0.5 * X[:, 1] > 0).long()
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))
    opt = torch.optim.Adam(m.parameters(), 3e-2)
    for _ in range(1500): opt.zero_grad(); cross_entropy_loss(m, (X, Y)).mean().backward(); opt.step()
    m.zero_grad(set_to_none=True)
    return m, (X, Y)


def _cal(net, **kw):
    m, data = net
    return calibrate(m, data, cross_entropy_loss, calib_examples=N, **kw)


def test_localizing_is_kept_where_it_allows_a_larger_step(net):
    halved, local = _cal(net, probe_localize=1.), _cal(net)
    h = halved.estimates['eps_halvings']; assert h >= 1
    test = local.estimates
    assert test['halvings_before_localizing'] == h and test['nbeta_localized_by'] == 4. ** h
    assert local.eps > halved.eps and local.damping == pytest.approx(halved.damping, rel=1e-12)
    assert local.nbeta == pytest.approx(halved.nbeta * 4 ** h, rel=1e-12)


def test_a_fixed_minibatch_keeps_the_first_choice(net):
    # with batch_size given, the minibatch's noise caps the step as nβ grows: localizing would leave a smaller step.
    # 'lm': with 'baoab' (the default) the cap binds before the probe does (ε 4.7e-5 against 'lm''s 3.5e-3; its velocity
    # weighs the minibatch's noise 1/√ε times more), so its probe never halves and there is nothing to localize
    halved, kept = _cal(net, batch_size=8, probe_localize=1., scheme='lm'), _cal(net, batch_size=8, scheme='lm')
    assert kept.estimates['localizing_did_not_help'] > 1
    assert (kept.nbeta, kept.gamma, kept.eps, kept.batch_size) == (halved.nbeta, halved.gamma, halved.eps, halved.batch_size)


def test_given_nbeta_is_never_changed(net):
    # the first choice's nβ, given explicitly: its probe halves as before, and nothing is localized
    halved = _cal(net, probe_localize=1.)
    c = _cal(net, nbeta=halved.nbeta)
    assert c.nbeta == halved.nbeta and c.estimates['eps_halvings'] >= 1 and 'nbeta_localized_by' not in c.estimates


def test_a_short_probe_that_missed_the_instability_is_run_again_in_full(net):
    # chains=4, draws=50: the sampling budget shortens the probe below 5 steps (skipped), the chains leave the posterior,
    # and `bif` calibrates again with the full probe (which localizes) instead of halving the step three times and failing
    import warnings
    from bif_nbdev.bif import bif
    from bif_nbdev.calibrate import FULL_PROBE
    m, (X, Y) = net
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        r = bif(m, (X, Y), (X[:8], Y[:8]), cross_entropy_loss, chains=4, draws=50, progress=False)
    said = [str(w.message) for w in caught]
    est = r.config['calibration']
    assert est['probe_rerun_after_divergence'] < 5 and est['probe_steps'] == FULL_PROBE
    assert sum('calibrating again with the full probe' in s for s in said) == 1
    assert not any('half the step size' in s for s in said)
    assert est['nbeta_localized_by'] > 1 and len(r.config['chains_kept']) == 4 and torch.isfinite(r.scores).all()
    # the probe that ran in full is not run again: a later divergence halves the step as before
    from bif_nbdev.bif import _after_divergence
    from bif_nbdev.calibrate import CalibrationArguments
    from bif_nbdev.sgld import SGLDDivergence
    cal = _cal(net, probe_steps=FULL_PROBE)
    with pytest.warns(UserWarning, match='half the step size'):
        again = _after_divergence(SGLDDivergence('x'), cal, CalibrationArguments(), lambda a: pytest.fail('calibrated again'))
    assert again.eps == pytest.approx(cal.eps / 2)
