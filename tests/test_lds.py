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
