"""A Calibration reused on another model or data (new-user hunt 2): another parameter set is refused naming the parameters,
other weights or another n warn; `bif` is unchanged; a Calibration without the record (by hand, or saved before it) is not checked."""
import dataclasses, pickle, warnings
import pytest, torch
from torch import nn
from bif_nbdev.all import bif, calibrate, sample, Calibration, cross_entropy_loss

_g = torch.Generator().manual_seed(0)
X = torch.randn(60, 5, generator=_g); Y = torch.randint(0, 3, (60,), generator=_g)
TRAIN, QUERY = (X[:40], Y[:40]), (X[40:48], Y[40:48])
RUN = dict(chains=2, draws=4, burnin=2, progress=False)


def _net(seed=0, width=8, extra=False):
    torch.manual_seed(seed)
    layers = [nn.Linear(5, width), nn.Tanh(), nn.Linear(width, 3)] + ([nn.Tanh(), nn.Linear(3, 3)] if extra else [])
    return nn.Sequential(*layers)


@pytest.fixture(scope='module')
def cal():
    return calibrate(_net(), TRAIN, cross_entropy_loss, calib_examples=40, lanczos_steps=12, probe_steps=0)


def _sample(model, cal, train=TRAIN):
    return sample(model, train, QUERY, cross_entropy_loss, cal, **RUN)


def test_the_record(cal):
    assert cal.fitted_on['n'] == 40 and cal.fitted_on['params'] == {'0.weight': [8, 5], '0.bias': [8], '2.weight': [3, 8], '2.bias': [3]}


def test_the_same_model_and_data_are_silent(cal):
    with warnings.catch_warnings(): warnings.simplefilter('error', UserWarning); _sample(_net(), cal)


def _frozen():
    m = _net(); m[0].requires_grad_(False); return m


@pytest.mark.parametrize('make, names', [(lambda: _net(width=16), '0.weight [8, 5] then, [16, 5] now'),
                                         (lambda: _net(extra=True), '4.weight [3, 3] is trainable now, was not calibrated'),
                                         (_frozen, '0.weight [8, 5] was calibrated, is not trainable now')])
def test_another_parameter_set_is_refused_naming_them(cal, make, names):
    with pytest.raises(ValueError, match='call calibrate\\(model, train, loss_fn\\) again') as e: _sample(make(), cal)
    assert names in str(e.value) and 'as calibration' in str(e.value)


def test_other_weights_or_another_n_warn(cal):
    with pytest.warns(UserWarning, match='at other weights w\\*'): _sample(_net(seed=1), cal)
    with pytest.warns(UserWarning, match='on 40 examples, the posterior.s data here has 30'): _sample(_net(), cal, (X[:30], Y[:30]))


def test_a_calibration_without_the_record_is_not_checked(cal):
    old = pickle.loads(pickle.dumps(cal)); old.__dict__.pop('fitted_on')  # as saved before the record existed
    by_hand = Calibration(cal.nbeta, cal.gamma, 1e-3, cal.batch_size, cal.scheme)
    with warnings.catch_warnings():
        warnings.simplefilter('error', UserWarning)
        _sample(_net(), old, (X[:30], Y[:30])); _sample(_net(seed=1), by_hand)  # another n, other weights: nothing said
    ref = _sample(_net(), cal)
    assert torch.equal(_sample(_net(), old).scores, ref.scores)


def test_bif_is_unchanged_by_the_record():
    "bif calibrates and samples without the check: the same scores as calibrate, then the sampler on a record-less copy."
    kw = dict(calib_examples=40, lanczos_steps=12, probe_steps=0)
    res = bif(_net(), TRAIN, QUERY, cross_entropy_loss, **RUN, **kw)
    c = dataclasses.replace(calibrate(_net(), TRAIN, cross_entropy_loss, **kw), fitted_on=None)
    assert torch.equal(res.scores, _sample(_net(), c).scores)
