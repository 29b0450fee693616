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
    # with batch_size given, the minibatch's noise caps the step as nβ grows: localizing would leave a smaller step
    halved, kept = _cal(net, batch_size=8, probe_localize=1.), _cal(net, batch_size=8)
    assert kept.estimates['localizing_did_not_help'] > 1
    assert (kept.nbeta, kept.gamma, kept.eps, kept.batch_size) == (halved.nbeta, halved.gamma, halved.eps, halved.batch_size)


def test_given_nbeta_is_never_changed(net):
    # the first choice's nβ, given explicitly: its probe halves as before, and nothing is localized
    halved = _cal(net, probe_localize=1.)
    c = _cal(net, nbeta=halved.nbeta)
    assert c.nbeta == halved.nbeta and c.estimates['eps_halvings'] >= 1 and 'nbeta_localized_by' not in c.estimates
