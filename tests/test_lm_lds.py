"Tests of bif_nbdev.lm_lds (the language-model retraining benchmark), called from outside the notebook."
import dataclasses, os
import numpy as np, pytest, torch
from bif_nbdev.lm_lds import lm_corpus, lm_setting, pretrained_lm, retrain_noise_ceiling, TokenWindows
from bif_nbdev.lds import lds_ground_truth, lds
from bif_nbdev.baselines import attribute
from bif_nbdev.core import per_example_losses
from bif_nbdev.hf import causal_lm_sequence_loss


def test_query_windows_come_from_held_out_documents():
    c = lm_corpus()
    names = lambda pool, w: {c.docs[pool][j][0] for j in w.docs.unique().tolist()}
    train, query = names('target', c.target), names('held_out', c.held_out)
    assert train and query and not (train & query)
    assert not set(map(tuple, c.held_out.input_ids.tolist())) & set(map(tuple, c.target.input_ids.tolist()))


def test_token_windows_are_examples_with_dict_batches():
    w = TokenWindows(torch.arange(40).reshape(5, 8))
    assert len(w) == 5 and len(w[0]) == 5
    assert torch.equal(w.batch([3, 1])['input_ids'], torch.tensor([[24, 25, 26, 27, 28, 29, 30, 31], [8, 9, 10, 11, 12, 13, 14, 15]]))
    with pytest.raises(ValueError, match='LongTensor'): TokenWindows(torch.zeros(5, 8))


def test_a_small_setting_runs_through_lds_and_retrains_bit_for_bit(tmp_path):
    st = lm_setting('lm_scratch', n_train=16, n_query=4, epochs=2)
    gt = lds_ground_truth(st, m=4, seeds=2, cache_dir=tmp_path)
    again = lds_ground_truth(st, m=4, seeds=2, cache_dir=False)
    assert gt.losses.shape == (4, 2, 4) and np.array_equal(gt.losses, again.losses)
    r = lds(attribute('grad_dot', st.trained_model(), st.train, st.query, st.loss_fn), gt)
    assert len(r.per_query) + len(r.excluded) == 4
    assert st.query_losses(st.trained_model()).shape == (4,)


def test_pretraining_is_deterministic_and_the_cache_is_checked(tmp_path):
    c = lm_corpus()
    tiny = dataclasses.replace(c, pretrain=c.pretrain.subset(range(64)))
    a = pretrained_lm(tiny, cache_dir=tmp_path, epochs=1)
    b = pretrained_lm(tiny, cache_dir=False, epochs=1)
    assert sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)
    f = next(tmp_path.glob('*.safetensors'))
    raw = bytearray(f.read_bytes()); raw[-5] ^= 0xFF; f.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match='corrupt'): pretrained_lm(tiny, cache_dir=tmp_path, epochs=1)


@pytest.mark.skipif(os.environ.get('BIF_NBDEV_TEST_SLOW') != '1', reason='slow (about 30 s of pre-training): set BIF_NBDEV_TEST_SLOW=1')
def test_cached_pretrained_weights_reproduce():
    cached = pretrained_lm()                  # from $BIF_NBDEV_CACHE (computed and stored if absent)
    fresh = pretrained_lm(cache_dir=False)    # trained again
    assert all(torch.equal(cached[k], fresh[k]) for k in cached)


def test_noise_ceiling_known_values():
    from bif_nbdev.lds import LDSGroundTruth
    rng = np.random.default_rng(1)
    sig = rng.normal(size=(300, 1, 5))
    gt = lambda L: LDSGroundTruth(np.zeros((300, 4), bool), L, {})
    assert retrain_noise_ceiling(gt(np.repeat(sig, 3, 1)))['ceiling'] == pytest.approx(1.0)
    nc = retrain_noise_ceiling(gt(sig + rng.normal(size=(300, 2, 5))))
    assert nc['r'] == pytest.approx(0.48, abs=0.06) and nc['ceiling'] == pytest.approx(2 * nc['r'] / (1 + nc['r']))
