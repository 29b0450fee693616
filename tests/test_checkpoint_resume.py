"""Resuming a checkpoint (new-user hunt 2): the error names the real cause, and a finished run resumes with keep_trajectories."""
import warnings
import pytest, torch
from torch import nn
from bif_nbdev.all import bif, cross_entropy_loss

N = 40
_g = torch.Generator().manual_seed(0)
X = torch.randn(N + 8, 5, generator=_g); Y = torch.randint(0, 3, (N + 8,), generator=_g)
TRAIN, QUERY = (X[:N], Y[:N]), (X[N:], Y[N:])
RUN = dict(chains=2, draws=6, burnin=4, calib_examples=N, lanczos_steps=12, probe_steps=0, progress=False, checkpoint_every=4)


def _net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))


class Stop(Exception): pass


def _stop_at(k):
    def cb(step, state):
        if step == k: raise Stop
    return cb


def test_another_model_is_named_before_the_settings_it_moved(tmp_path):
    "Same settings, another model: the calibrated eps/gamma/kappa differ, but the message must name the model first."
    ck = tmp_path/'ck.safetensors'
    with pytest.raises(Stop): bif(_net(0), TRAIN, QUERY, cross_entropy_loss, checkpoint=str(ck), callback=_stop_at(8), **RUN)
    with pytest.raises(ValueError) as e: bif(_net(1), TRAIN, QUERY, cross_entropy_loss, checkpoint=str(ck), **RUN)
    msg = str(e.value)
    assert "belongs to another run: the model's weights w* differ (model)" in msg, msg
    assert 'checkpoint=' in msg and 'other settings' not in msg


def test_a_finished_run_resumes_with_keep_trajectories(tmp_path):
    ck = tmp_path/'ck.safetensors'
    ref = bif(_net(0), TRAIN, QUERY, cross_entropy_loss, checkpoint=str(ck), **RUN)
    with pytest.warns(UserWarning, match='Trajectories before the checkpoint were not saved'):
        res = bif(_net(0), TRAIN, QUERY, cross_entropy_loss, checkpoint=str(ck), keep_trajectories=True, **RUN)
    assert torch.equal(res.scores, ref.scores) and res.trajectories is None


def test_an_interrupted_run_resumed_with_keep_trajectories_keeps_the_later_draws(tmp_path):
    "The control: draws after the checkpoint are kept (burn-in 4, 6 draws, stopped at step 6: draws 3 to 6 come after)."
    ck = tmp_path/'ck.safetensors'
    with pytest.raises(Stop): bif(_net(0), TRAIN, QUERY, cross_entropy_loss, checkpoint=str(ck), callback=_stop_at(4), **RUN)
    with warnings.catch_warnings(): warnings.simplefilter('ignore'); res = bif(_net(0), TRAIN, QUERY, cross_entropy_loss, checkpoint=str(ck), keep_trajectories=True, **RUN)
    assert res.trajectories is not None and res.trajectories['train'].shape[:2] == (2, 6)


def test_another_posterior_data_of_the_same_size_is_refused(tmp_path):
    "Misuse hunt 5: the fingerprint held only posterior_data's size, so another corpus of the same size resumed silently."
    ck = tmp_path/'ck.safetensors'
    corpus_a, corpus_b = (X[:30], Y[:30]), (X[10:40], Y[10:40])
    hp = dict(eps=1e-3, gamma=100., nbeta=50., precond=None, probe_steps=0, chains=2, draws=8, burnin=4, thin=1, checkpoint_every=3, progress=False)
    with pytest.raises(Stop): bif(_net(0), TRAIN, QUERY, cross_entropy_loss, posterior_data=corpus_a, checkpoint=str(ck), callback=_stop_at(6), **hp)
    with pytest.raises(ValueError, match='the posterior_data differ'):
        bif(_net(0), TRAIN, QUERY, cross_entropy_loss, posterior_data=corpus_b, checkpoint=str(ck), **hp)
    resumed = bif(_net(0), TRAIN, QUERY, cross_entropy_loss, posterior_data=corpus_a, checkpoint=str(ck), **hp)  # the same corpus resumes
    whole = bif(_net(0), TRAIN, QUERY, cross_entropy_loss, posterior_data=corpus_a, **hp)
    assert torch.equal(resumed.scores, whole.scores)


def test_posterior_data_dropped_or_added_on_resume_is_refused(tmp_path):
    "Review of hunt 5's fix: a corpus of the training rows' size, given in one run and not in the other, resumed silently (n_posterior equal)."
    corpus = (X[8:], Y[8:])   # as many rows as TRAIN, other rows
    hp = dict(eps=1e-3, gamma=100., nbeta=50., precond=None, probe_steps=0, chains=2, draws=8, burnin=4, thin=1, checkpoint_every=3, progress=False)
    for first, then in ((corpus, None), (None, corpus)):
        ck = tmp_path/f'ck{first is None}.safetensors'
        with pytest.raises(Stop): bif(_net(0), TRAIN, QUERY, cross_entropy_loss, posterior_data=first, checkpoint=str(ck), callback=_stop_at(6), **hp)
        with pytest.raises(ValueError, match='posterior_data'):
            bif(_net(0), TRAIN, QUERY, cross_entropy_loss, posterior_data=then, checkpoint=str(ck), **hp)


def test_one_row_changed_in_a_large_posterior_corpus_is_refused(tmp_path):
    "The fingerprint kept posterior_data's total loss and four rows: one other row of 3000 changed a little passed the sum's tolerance."
    g = torch.Generator().manual_seed(1)
    Xc = torch.randn(3000, 5, generator=g); Yc = torch.randint(0, 3, (3000,), generator=g)
    moved = Xc.clone(); moved[2201] += 0.05   # not a row the checks evaluate alone (0, 1, 1500, 2999)
    hp = dict(eps=1e-4, gamma=100., nbeta=3000., precond=None, probe_steps=0, chains=2, draws=4, burnin=2, thin=1, batch_size=64,
              checkpoint_every=2, progress=False)
    ck = tmp_path/'ck.safetensors'
    with pytest.raises(Stop): bif(_net(0), TRAIN, QUERY, cross_entropy_loss, posterior_data=(Xc, Yc), checkpoint=str(ck), callback=_stop_at(4), **hp)
    with pytest.raises(ValueError, match='the posterior_data differ'):
        bif(_net(0), TRAIN, QUERY, cross_entropy_loss, posterior_data=(moved, Yc), checkpoint=str(ck), **hp)
    bif(_net(0), TRAIN, QUERY, cross_entropy_loss, posterior_data=(Xc, Yc), checkpoint=str(ck), **hp)   # the same corpus resumes
