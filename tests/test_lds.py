"Known-answer tests of bif_nbdev.lds, called from outside the notebooks."
import math
import numpy as np, pytest, torch
from bif_nbdev.lds import spearman, lds_from_truth, lds_setting, lds_ground_truth, lds, subset_masks


def test_spearman_known_values():
    assert spearman([1., 2, 3], [5., 6, 7]) == pytest.approx(1.0)
    assert spearman([1., 2, 3], [1., 2, 2]) == pytest.approx(0.8660254, abs=1e-7)
    assert spearman([3., 1, 4, 1, 5], [9., 2, 6, 5, 3]) == pytest.approx(2 / math.sqrt(95), abs=1e-12)


def test_lds_tiny_case_and_direction():
    scores = torch.tensor([[0.1, 1.], [0.2, 2.], [0.3, 3.]])
    truth = np.array([[1.0, 5.], [2.0, 6.], [3.0, 6.]])
    assert np.allclose(lds_from_truth(scores, np.eye(3), truth).per_query, [1.0, 0.8660254], atol=1e-7)
    assert np.allclose(lds_from_truth(-scores, np.eye(3), truth).per_query, [-1.0, -0.8660254], atol=1e-7)


def test_perfect_linear_predictor_has_lds_one():
    rng = np.random.default_rng(3)
    tau = rng.normal(size=(30, 5)); masks = subset_masks(30, 25, 0.5, seed=1)
    truth = -2.0 + 0.5 * masks @ tau          # constant + positive scale: LDS is invariant to both
    r = lds_from_truth(tau, masks, truth[:, None, :].repeat(2, 1))
    assert np.allclose(r.per_query, 1.0) and r.mean == pytest.approx(1.0)


def test_ground_truth_is_cached_by_setting_key(tmp_path):
    st = lds_setting('cancer_logreg', n_train=60, n_query=10, steps=100)
    gt = lds_ground_truth(st, m=8, seeds=1, cache_dir=tmp_path)
    assert len(list(tmp_path.glob('*.npz'))) == 1 and gt.masks.shape == (8, 60) and gt.losses.shape == (8, 1, 10)
    again = lds_ground_truth(st, m=8, seeds=1, cache_dir=tmp_path)
    assert again.seconds == 0 and np.array_equal(again.losses, gt.losses)
    other = lds_ground_truth(st, m=8, seeds=1, seed=1, cache_dir=tmp_path)   # another key, another file
    assert len(list(tmp_path.glob('*.npz'))) == 2 and not np.array_equal(other.masks, gt.masks)
    with pytest.raises(ValueError, match='at least 3'): lds_ground_truth(st, m=2, cache_dir=False)


def test_noise_ceiling_known_values():
    from bif_nbdev.lds import noise_ceiling
    base = np.random.default_rng(0).normal(size=(20, 1, 6))
    assert noise_ceiling(np.concatenate([base, base], 1)).r == pytest.approx(1.0)
    nc = noise_ceiling(np.concatenate([base, -base], 1))
    assert np.allclose(nc.per_query, -1.0)
    # a hand case: seed 0 ranks (1, 2, 3, 4), seed 1 ranks (1, 2, 4, 3): Spearman 1 - 6*2/(4*15) = 0.8
    l = np.array([[1., 1.], [2., 2.], [3., 4.], [4., 3.]])[:, :, None]
    nc = noise_ceiling(l)
    assert nc.r == pytest.approx(0.8) and nc.spearman_brown == pytest.approx(1.6 / 1.8)
    with pytest.raises(ValueError, match='at least 2 seeds'): noise_ceiling(l[:, :1])


def test_minibatch_sgd_recipe_is_deterministic_and_keyed():
    st = lds_setting('moons_mlp_sgd', steps=40)
    flat = lambda m: torch.cat([p.detach().flatten() for p in m.parameters()])
    idx = np.arange(0, st.n_train, 2)
    assert torch.equal(flat(st.fit(subset_idx=idx, seed=3)), flat(st.fit(subset_idx=idx, seed=3)))
    assert not torch.equal(flat(st.fit(subset_idx=idx, seed=3)), flat(st.fit(subset_idx=idx, seed=4)))
    assert st.key()['optimizer'] == 'sgd' and st.key()['batch_size'] == 32
    assert set(lds_setting('cancer_mlp').key()) == {'name', 'data', 'arch', 'loss', 'steps', 'lr', 'weight_decay'}
