import sys, torch, numpy as np, warnings
warnings.filterwarnings('ignore'); torch.set_num_threads(1)
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[2]))
from suite import hessian_eig, lds_scored, GRID
from bif_nbdev.lds import suite_ground_truth, SUITE
from bif_nbdev.influence import per_example_grads
names = sys.argv[1].split(',')
for name in names:
    st, gt = suite_ground_truth(name); model = st.trained_model(seed=0)
    e, V, _ = hessian_eig(st, model)
    A = per_example_grads(model, st.train, st.loss_fn).double() @ V
    B = per_example_grads(model, st.query, st.loss_fn).double() @ V
    lds = lambda spec: lds_scored(-((A / spec) @ B.T), gt)[0].mean
    out = []
    for k in (0, 4, 16, 64, 256):
        for mode in ('abs', 'clip'):
            f = e.clone()
            f[:k] = e[:k].abs() if mode == 'abs' else 0.0
            vals = {l: lds(f + l) for l in GRID if (f + l).min() > 0}
            b = max(vals, key=vals.get); out.append(f"k={k} {mode}: λ {b:g} {vals[b]:.3f} (next neg {e[k]:.3g})")
            if k == 0: break
    print(name, '\n  ' + '\n  '.join(out), flush=True)
