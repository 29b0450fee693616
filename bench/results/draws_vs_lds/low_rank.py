# Denoising the score matrix by truncating the draws to their top principal components (tried, dropped).
# BIF_NBDEV_CACHE=/work/cache PYTHONPATH=. python bench/results/draws_vs_lds/low_rank.py digits_mlp 500
import sys, time, json, torch, numpy as np
from bif_nbdev.lds import lds_setting, suite_ground_truth, lds
from bif_nbdev.bif import calibrate, sample
torch.set_num_threads(1)
name = sys.argv[1]; T = int(sys.argv[2]) if len(sys.argv) > 2 else 500
st, gt = suite_ground_truth(name)
model = st.trained_model(seed=0)
torch.manual_seed(0)
cal = calibrate(model, st.train, st.loss_fn)
t = time.time()
res = sample(model, st.train, st.query, st.loss_fn, cal, draws=T, keep_trajectories=True, progress=False)
print(name, cal, 'sample s', round(time.time() - t, 1), 'ESS', res.ess, flush=True)
Xa, Ya = res.trajectories['train'].double(), res.trajectories['query'].double()   # [C, T, n], [C, T, q]
n, q = Xa.shape[-1], Ya.shape[-1]
L = lambda s: lds(s.float(), gt).mean
print('engine scores LDS', L(res.scores))
def raw(X, Y):
    Xc, Yc = X - X.mean(1, keepdim=True), Y - Y.mean(1, keepdim=True)
    return -torch.einsum('ctn,ctq->nq', Xc, Yc) / (X.shape[0] * (X.shape[1] - 1))
def trunc(X, Y, k, std=True):
    Xc, Yc = X - X.mean(1, keepdim=True), Y - Y.mean(1, keepdim=True)
    Z = torch.cat([Xc, Yc], 2).reshape(-1, n + q).T      # [n+q, D]
    s = Z.std(1, keepdim=True).clamp_min(1e-12) if std else torch.ones(n + q, 1, dtype=Z.dtype)
    U, S, V = torch.linalg.svd(Z / s, full_matrices=False)
    Zk = (U[:, :k] * S[:k]) @ V[:k] * s
    return -(Zk[:n] @ Zk[n:].T) / Z.shape[1]
def mp(X, Y, mult=1.0):
    Xc, Yc = X - X.mean(1, keepdim=True), Y - Y.mean(1, keepdim=True)
    Z = torch.cat([Xc, Yc], 2).reshape(-1, n + q).T; D = Z.shape[1]
    s = Z.std(1, keepdim=True).clamp_min(1e-12)
    U, S, V = torch.linalg.svd(Z / s, full_matrices=False)
    ev = S ** 2 / D; edge = (1 + ((n + q) / D) ** 0.5) ** 2 * mult
    k = int((ev > edge).sum())
    Zk = (U[:, :k] * S[:k]) @ V[:k] * s
    return -(Zk[:n] @ Zk[n:].T) / D, k
for t in [50, 100, 200, T]:
    if t > T: continue
    X, Y = Xa[:, :t], Ya[:, :t]
    row = {'draws': t, 'raw': round(L(raw(X, Y)), 3)}
    for k in [5, 10, 20, 50, 100, 200]: row[f'k{k}'] = round(L(trunc(X, Y, k)), 3)
    for m in [0.5, 1.0, 2.0]:
        s, k = mp(X, Y, m); row[f'mp{m}'] = (round(L(s), 3), k)
    print(json.dumps(row), flush=True)
