import sys, time, json, torch, numpy as np, warnings
warnings.filterwarnings('ignore'); torch.set_num_threads(1)
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[2]))
from suite import hessian_eig, lds_scored
from bif_nbdev.lds import suite_ground_truth
from bif_nbdev.bif import bif
from bif_nbdev.core import trainable_params
D = json.load(open(str(__import__('pathlib').Path(__file__).resolve().parents[1] / 'suite_all.json')))['settings']
name = sys.argv[1]; ks = [int(k) for k in sys.argv[2].split(',')]; rel = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
st, gt = suite_ground_truth(name); model = st.trained_model(seed=0)
e, V, _ = hessian_eig(st, model)
base = D[name]['methods']['BIF (defaults)']; g0 = base['gamma']; d0 = base['implied_damping']
names = list(trainable_params(model)); center = {k: v.detach().clone() for k, v in trainable_params(model).items()}
mods = dict(model.named_modules())
def getp(k):
    mod, _, attr = k.rpartition('.'); return mods[mod]._parameters[attr]
print(f"{name}: base LDS {base['lds']:.3f} damping {d0:.3g} γ {g0:.4g}; λmin {e[0]:.3g}; #neg {(e<0).sum().item()} of {len(e)}; e[k] " + str({k: round(e[k].item(), 5) for k in ks}), flush=True)
for k in ks:
    k = min(k, int((e < 0).sum()))
    U = V[:, :k].float().T.contiguous(); c = (2 * e[:k].abs()).float()
    def lf(m, batch, U=U, c=c):
        l = st.loss_fn(m, batch)
        dw = torch.cat([(getp(n) - center[n]).reshape(-1) for n in names])
        z = U @ dw
        return l + 0.5 * (c * z * z).sum()
    damping = max(2 * max(-e[k].item(), 0), rel * d0)
    t = time.time()
    r = bif(model, st.train, st.query, lf, query_loss_fn=st.loss_fn, progress=False, nbeta=g0 / damping, gamma=g0)
    res, _ = lds_scored(r.scores, gt)
    c_ = r.config
    print(f"  k={k} rel {rel}: LDS {res.mean:.3f} ± {res.std/len(res.per_query)**.5:.3f} damping {damping:.3g} nβ {c_['nbeta']:.4g} eps {c_['eps']:.3g} draws {c_['draws']} {time.time()-t:.1f}s", flush=True)
