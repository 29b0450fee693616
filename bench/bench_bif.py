"""Benchmarks of the BIF engine; each section prints a table (medians of --repeats runs, ratios measured in the same run).

    PYTHONPATH=. python bench/bench_bif.py draw    # (a) one kept draw of bif() vs a bare forward pass; where the time goes
    PYTHONPATH=. python bench/bench_bif.py cov     # (b) StreamingCov.update vs a plain matmul of the same shape
    PYTHONPATH=. python bench/bench_bif.py vmap    # (c) vectorized chains (vmap) vs a loop over chains
    add --device cuda on a GPU (see bench/gpu_check.sh)
"""
import argparse, os, platform, statistics, sys, time
import torch
sys.path.insert(0, os.path.dirname(__file__))
from previous_flush import previous_flush, previous_update
from common import median_time, cuda_sync, mlp_problem, gptneox_problem
from bif_nbdev.core import as_examples
from bif_nbdev.sgld import LocalPosterior, init_chains, sgld_step, example_loss
from bif_nbdev.stats import StreamingCov
from bif_nbdev.bif import bif, chain_losses
from bif_nbdev.calibrate import calibrate


def _hp(cal):
    "A Calibration as the dict this bench reads."
    return dict(eps=cal.eps, gamma=cal.gamma, nbeta=cal.nbeta, batch_size=cal.batch_size, precond=cal.precond, calibration=cal.estimates)


def _problems(device, which):
    out = {}
    if 'mlp' in which:
        p = mlp_problem(device=device)
        out['MLP 64-128-10, 1000 train + 100 query'] = (*p, _hp(calibrate(*p[:2], p[3])))
    if 'gpt' in which:
        # the default calibration (Hessian power iteration by double backward) takes minutes on this model on 2 CPU
        # cores, so the values it gave once (eps 5.9e-7, gamma 9.8e3, nbeta 64, batch 32) are fixed here
        out['GPTNeoX h64 L2, 64 + 16 seqs x 64 tok (per-token)'] = (*gptneox_problem(device=device),
                                                                    dict(eps=6e-7, gamma=1e4, nbeta=64., batch_size=32))
    return out


def draw_bench(a):
    dev, sync = a.device, cuda_sync(a.device)
    rows, prof = [], []
    for name, (model, train, query, lf, hp) in _problems(dev, a.models).items():
        tr, qu = as_examples(train), as_examples(query)
        def fwd():
            with torch.no_grad(): lf(model, tr.batch(range(len(tr)))); lf(model, qu.batch(range(len(qu))))
        t_fwd, _ = median_time(fwd, a.repeats, sync=sync)
        kinds = [k for k in a.precond.split(',') if k == 'none' or hp.get('precond') is not None]
        plain_eps = hp['eps'] if 'calibration' not in hp else 0.5 / (hp['nbeta'] * hp['calibration']['lambda_max'] + hp['gamma'])
        for C, thin, bs, kind in [(C, thin, bs, k) for k in kinds for bs in a.batch for C in a.chains for thin in (1, 4)]:
            # 'kfac': the default Kronecker preconditioner and its step; 'none': plain steps at 0.5/λ_max(nβH + γI)
            pre, eps = (hp['precond'], hp['eps']) if kind == 'kfac' else (None, plain_eps)
            draws, burnin = a.draws, 2
            per = {reuse: [] for reuse in a.reuse}
            for r in range(a.repeats):
                for reuse in a.reuse:  # interleaved, so that the machine's load moves both alike
                    stamps = {}
                    def cb(step, state, stamps=stamps):
                        if sync: sync()
                        stamps[step] = time.perf_counter()
                    res = bif(model, train, query, lf, chains=C, draws=draws, burnin=burnin, thin=thin, seed=r, progress=False,
                              callback=cb, eps=eps, gamma=hp['gamma'], nbeta=hp['nbeta'], device=dev, precond=pre,
                              batch_size=None if bs == 'default' else int(bs), reuse_step_losses=reuse == 'on')
                    # from the first kept draw's step to the last: (draws - 1) x (thin steps + one draw's losses), whether a
                    # draw is recorded right after its step or (reuse on) together with the next step's forward pass
                    last = burnin + draws * thin
                    per[reuse].append((stamps[last] - stamps[burnin + thin]) / (draws - 1))
            for reuse in a.reuse:
                t_draw = statistics.median(per[reuse])
                b, nq = res.config['batch_size'], len(tr) + len(qu)
                # the floor: a forward of all n+q examples plus thin SGLD steps (forward + backward ≈ 3 forwards of b rows),
                # of which, with reuse, one step's forward is the draw's own forward of its b rows
                floor = 1 + (3 * b * thin - (b if reuse == 'on' else 0)) / nq
                rows.append((name + (' [kfac]' if kind == 'kfac' else ''), reuse, C, thin, b, t_draw * 1e3, t_fwd * 1e3, t_draw / (C * t_fwd), floor))
        # where the time goes: the loop's pieces, timed one by one (C = 8)
        C = max(a.chains)
        post = LocalPosterior(model, train, lf, hp['nbeta'], hp['gamma'], hp['batch_size'])
        state = init_chains(post, C, 0)
        t_step, _ = median_time(lambda: sgld_step(post, state, plain_eps), a.repeats * 2, sync=sync)
        t_evx, _ = median_time(lambda: chain_losses(post, state.params, tr), a.repeats, sync=sync)
        t_evy, _ = median_time(lambda: chain_losses(post, state.params, qu), a.repeats, sync=sync)
        xt, yt = chain_losses(post, state.params, tr), chain_losses(post, state.params, qu)
        sc = StreamingCov(xt[0].numel(), yt[0].numel(), C, device=dev)
        def upd():
            for _ in range(sc.buffer): sc.update(xt.reshape(C, -1), yt.reshape(C, -1))
        t_cov, _ = median_time(upd, a.repeats, sync=sync); t_cov /= sc.buffer
        tot = t_step + t_evx + t_evy + t_cov
        prof.append((name, t_step, t_evx + t_evy, t_cov, tot, t_fwd))
    print(f"\n(a) one kept draw of bif() vs a bare forward pass of the same train+query examples  [{_env(a)}]")
    print("ratio = time per kept draw / (chains x time of one no-grad forward of all train+query examples at w*)")
    print("floor = 1 + 3·batch·thin/(n+q): the eval forward plus thin SGLD steps (forward + backward ≈ 3 forwards of a minibatch);")
    print("        reuse on (reuse_step_losses=True): 1 + (3·thin − 1)·batch/(n+q), the minibatch rows' losses come from the next step's forward")
    print(f"{'problem':50} {'reuse':>5} {'chains':>6} {'thin':>4} {'batch':>5} {'ms/draw':>9} {'fwd ms':>8} {'ratio':>6} {'floor':>6}")
    for r in rows: print(f"{r[0]:50} {r[1]:>5} {r[2]:6d} {r[3]:4d} {r[4]:5d} {r[5]:9.2f} {r[6]:8.2f} {r[7]:6.2f} {r[8]:6.2f}")
    print("\nwhere the time of one kept draw goes (thin=1, the largest chain count; pieces timed separately, ms and share)")
    print(f"{'problem':50} {'SGLD step':>14} {'eval fwd':>14} {'cov update':>14} {'sum':>8} {'1 fwd':>7}")
    for name, s, e, c, t, f in prof:
        print(f"{name:50} {s*1e3:8.2f} ({s/t:3.0%}) {e*1e3:8.2f} ({e/t:3.0%}) {c*1e3:8.2f} ({c/t:3.0%}) {t*1e3:8.2f} {f*1e3:7.2f}")


def cov_bench(a):
    import types
    dev, sync = a.device, cuda_sync(a.device)
    print(f"\n(b) StreamingCov.update vs a plain float32 matmul of the same shape  [{_env(a)}]")
    print("per block of K draws: K update() calls (one flush) vs torch.bmm([C, n, K] x [C, K, q]); ratio = matmul time / update time")
    print("'before' = the update/flush before the fused flush (bench/previous_flush.py); max|Δcov|/max|cov| = engine vs before, and engine vs float64")
    print(f"{'chains':>6} {'n':>6} {'q':>5} {'K':>4} {'matmul ms':>10} {'update ms':>10} {'ratio':>6} {'before ms':>10} {'ratio':>6} {'Δ before':>9} {'Δ f64':>9}")
    for C, n, q in ((8, 1000, 100), (8, 4000, 400), (1, 10000, 1000)):
        for K in (32, 128):
            g = torch.Generator().manual_seed(0)
            X, Y = torch.randn(K, C, n, generator=g).to(dev) + 3., torch.randn(K, C, q, generator=g).to(dev) - 2.
            sc, so = StreamingCov(n, q, C, buffer=K, device=dev), StreamingCov(n, q, C, buffer=K, device=dev)
            so.flush = types.MethodType(previous_flush, so); so.update = types.MethodType(previous_update, so)
            def upd(sc):
                for k in range(K): sc.update(X[k], Y[k])
            A, B = X.permute(1, 2, 0).contiguous(), Y.permute(1, 0, 2).contiguous()
            t_u, _ = median_time(lambda: upd(sc), a.repeats, sync=sync)
            t_o, _ = median_time(lambda: upd(so), a.repeats, sync=sync)
            t_m, _ = median_time(lambda: torch.bmm(A, B), a.repeats, sync=sync)
            # accuracy on a drifting stream (the timed stream repeats one block, so its merge corrections vanish)
            s1, s2 = StreamingCov(n, q, C, buffer=K, device=dev), StreamingCov(n, q, C, buffer=K, device=dev)
            s3 = StreamingCov(n, q, C, buffer=K, device=dev, compute_dtype=torch.float64)
            s2.flush = types.MethodType(previous_flush, s2)
            for r in range(3):
                for k in range(K):
                    for s in (s1, s2, s3): s.update(X[k] * (1 + r), Y[k] + r)
            ref = s3.cov().abs().max()
            d = ((s1.cov() - s2.cov()).abs().max() / ref).item(); d64 = ((s1.cov() - s3.cov()).abs().max() / ref).item()
            print(f"{C:6d} {n:6d} {q:5d} {K:4d} {t_m*1e3:10.2f} {t_u*1e3:10.2f} {t_m/t_u:6.2f} {t_o*1e3:10.2f} {t_m/t_o:6.2f} {d:9.1e} {d64:9.1e}")


def vmap_bench(a):
    dev, sync = a.device, cuda_sync(a.device)
    print(f"\n(c) vectorized chains (vmap) vs a loop over chains: one sgld_step of all chains  [{_env(a)}]")
    print("rows = parameters x minibatch rows, the quantity 'auto' compares with its threshold (steps at a tiny eps: timing only)")
    print(f"{'problem':50} {'batch':>5} {'rows':>9} {'C':>3} {'vmap ms':>9} {'loop ms':>9} {'loop/vmap':>9} {'vmap ms/chain':>13}")
    for name, (model, train, query, lf, hp) in _problems(dev, a.models).items():
        for bs in a.batch:
            post = LocalPosterior(model, train, lf, hp['nbeta'], hp['gamma'], hp['batch_size'] if bs == 'default' else int(bs))
            for C in a.vmap_chains:
                sv, sl = init_chains(post, C, 0), init_chains(post, C, 0)
                t_v, _ = median_time(lambda: sgld_step(post, sv, 1e-12, vectorize=True), a.repeats, sync=sync)
                t_l, _ = median_time(lambda: sgld_step(post, sl, 1e-12, vectorize=False), a.repeats, sync=sync)
                rows = post.dim * post.batch_size
                print(f"{name:50} {post.batch_size:5d} {rows / 2 ** 20:8.1f}M {C:3d} {t_v*1e3:9.2f} {t_l*1e3:9.2f} {t_l/t_v:9.2f} {t_v/C*1e3:13.2f}")


def _env(a):
    d = torch.cuda.get_device_name() if torch.device(a.device).type == 'cuda' else f"CPU, {torch.get_num_threads()} threads"
    load = f", load avg {os.getloadavg()[0]:.1f}" if hasattr(os, 'getloadavg') else ''
    return f"torch {torch.__version__}, {d}{load}, median of {a.repeats}"


if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('what', nargs='*', default=['draw', 'cov', 'vmap'])
    p.add_argument('--device', default='cpu'); p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--draws', type=int, default=20, help='kept draws per timed bif() run')
    p.add_argument('--models', default='mlp,gpt')
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads (1: on a shared, loaded machine more threads wait on each other)')
    p.add_argument('--batch', default='default', help="SGLD minibatch sizes for draw, e.g. 'default,16'")
    p.add_argument('--precond', default='none,kfac', help="samplers for draw: 'none' (plain steps) and/or 'kfac' (the default preconditioner, where the problem's calibration built one)")
    p.add_argument('--reuse', default='on,off', help="reuse_step_losses of bif() for draw: 'on' (the default of bif) and/or 'off'")
    p.add_argument('--chains', default='1,8', help='chain counts for draw'); p.add_argument('--vmap-chains', default='1,4,8,16')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    a.batch, a.reuse = a.batch.split(','), a.reuse.split(',')
    a.chains, a.vmap_chains = [int(c) for c in a.chains.split(',')], [int(c) for c in a.vmap_chains.split(',')]
    for w in a.what: dict(draw=draw_bench, cov=cov_bench, vmap=vmap_bench)[w](a)
