"Prototype: an underdamped (BAOAB) scheme patched into the engine, compared on the per-token agreement benchmark."
import math, sys, time, os, torch
import bif_nbdev.sgld as S, bif_nbdev.calibrate as C, bif_nbdev.bif as B
FRICTION = float(os.environ.get('FRICTION', 2.0))
orig = S.sgld_update
def update(post, state, g, eps, precond=None, scheme='sgld', kappa=0.):
    if scheme != 'baoab': return orig(post, state, g, eps, precond, scheme, kappa)
    h = math.sqrt(eps); c = math.exp(-FRICTION * h)
    grads = g.grads
    first = getattr(state, 'velocity', None) is None
    def sq(noise):
        if precond is not None and hasattr(precond, 'apply'): return precond.sqrt(noise)
        if precond is None: return noise
        return {k: precond[k] ** 0.5 * noise[k] for k in noise}
    if precond is not None and hasattr(precond, 'apply'): G = precond.apply(grads)
    elif precond is None: G = grads
    else: G = {k: precond[k] * grads[k] for k in grads}
    if first: state.velocity = sq(S.chain_noise(state, state.params))
    v = state.velocity; kick = h / 2 if first else h
    xi = sq(S.chain_noise(state, state.params))
    with torch.no_grad():
        for k, p in state.params.items():
            v[k] = v[k] - kick * G[k]
            p.add_(0.5 * h * v[k])
            v[k] = c * v[k] + math.sqrt(1 - c * c) * xi[k]
            p.add_(0.5 * h * v[k])
    state.step += 1; state.vectorized = g.vectorized
    return g.loss
S.sgld_update = update; B.sgld_update = update
S.SCHEMES = C.SCHEMES = ('sgld', 'lm', 'baoab')
