import sys, time, torch, numpy as np, warnings
warnings.filterwarnings('ignore'); torch.set_num_threads(1)
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[2]))
from suite import hessian_eig, lds_scored
from bif_nbdev.lds import suite_ground_truth
from bif_nbdev.bif import bif
from bif_nbdev.core import trainable_params
name = sys.argv[1]; ks = [int(k) for k in sys.argv[2].split(',')]; mult = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
st, gt = suite_ground_truth(name); model = st.trained_model(seed=0)
e, V, _ = hessian_eig(st, model)
names = list(trainable_params(model)); center = {k: v.detach().clone() for k, v in trainable_params(model).items()}
mods = dict(model.named_modules())
def getp(k):
    mod, _, attr = k.rpartition('.'); return mods[mod]._parameters[attr]
for k in ks:
    U = V[:, :k].float().T.contiguous(); c = (mult * e[:k].abs()).float()
    def lf(m, batch, U=U, c=c):
        l = st.loss_fn(m, batch)
        if k == 0: return l
        dw = torch.cat([(getp(n) - center[n]).reshape(-1) for n in names])
        z = U @ dw
        return l + 0.5 * (c * z * z).sum()
    t = time.time()
    r = bif(model, st.train, st.query, lf, query_loss_fn=st.loss_fn, progress=False, **eval(sys.argv[4] if len(sys.argv) > 4 else "{}"))
    res, _ = lds_scored(r.scores, gt)
    c_ = r.config
    print(f"{name} k={k} x{mult}: LDS {res.mean:.3f} damping {c_['gamma']/c_['nbeta']:.3g} nβ {c_['nbeta']:.4g} eps {c_['eps']:.3g} draws {c_['draws']} {time.time()-t:.1f}s λmin est {c_['calibration'].get('lambda_min'):.3g}", flush=True)
