import sys, torch, numpy as np, warnings
warnings.filterwarnings('ignore'); torch.set_num_threads(1)
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[2]))
from suite import hessian_eig, lds_scored, GRID
from bif_nbdev.lds import suite_ground_truth, SUITE
from bif_nbdev.influence import per_example_grads
names = sys.argv[1].split(',') if len(sys.argv) > 1 else list(SUITE)
for name in names:
    st, gt = suite_ground_truth(name); model = st.trained_model(seed=0)
    e, V, _ = hessian_eig(st, model)
    A = per_example_grads(model, st.train, st.loss_fn).double() @ V
    B = per_example_grads(model, st.query, st.loss_fn).double() @ V
    lds = lambda spec: lds_scored(-((A / spec) @ B.T), gt)[0].mean
    row = {}
    for lab, f in [('H+l', lambda l: e + l), ('|H|+l', lambda l: e.abs() + l), ('H+ +l', lambda l: e.clamp(min=0) + l)]:
        vals = {l: lds(f(l)) for l in GRID if not (lab == 'H+l' and e[0] + l <= 0)}
        b = max(vals, key=vals.get); row[lab] = (b, vals[b])
    print(f"{name:20s} {SUITE[name]} neg frac {(e<0).double().mean():.3f} λmin {e[0]:.3g} | " + ' | '.join(f"{k}: best λ {v[0]:g} LDS {v[1]:.3f}" for k, v in row.items()), flush=True)
