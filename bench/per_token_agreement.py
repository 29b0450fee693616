"""Seed-to-seed agreement of the per-token BIF matrix against time, on chapter 15's tutorial model (issue 14, item 7).

    PYTHONPATH=$PWD python bench/per_token_agreement.py [--recipes hand,defaults,...]

Two runs with seeds 0 and 1 per recipe; agreement = Pearson (and Spearman) of the two [n, S, q, S'] matrices of
normalized scores (−corr) over the (training token, query token) pairs that carry a loss in both texts (padding and
position 0 are exact zeros and are left out). Time = one run's wall time, calibration included. One thread.

Agreement between seeds is not accuracy: a biased sampler can agree with itself. With --reference the seed-0 run is also
correlated with the mean of two long runs of the 'lm' defaults (REFERENCE, seeds 100 and 101; computed once and kept in
$BIF_NBDEV_CACHE/per_token_reference.pt, about 11 minutes), beside what an unbiased run of that seed agreement would reach,
√(ρ · ρ_ref), ρ_ref = 2r/(1 + r) the reliability of the two references' mean (r: their own agreement).
"""
import argparse, json, math, os, time, warnings
import torch
warnings.filterwarnings('ignore')
from bif_nbdev.all import (bif, causal_lm_loss, make_structured_corpus, make_word_tokenizer, text_loader, make_tiny_gptneox,
                           train_causal_lm, token_table)

RECIPES = {  # name: bif() keyword arguments
    'hand 4x150': dict(chains=4, draws=150, burnin=200, nbeta=3., gamma=100., eps=1e-3),       # the tutorial's hand-set run
    'hand 4x600': dict(chains=4, draws=600, burnin=200, nbeta=3., gamma=100., eps=1e-3),
    'defaults': dict(),   # 'baoab' since this release ('baoab defaults' below is the same run); 'lm defaults' the former
    'defaults 8x100': dict(draws=100),
    'defaults 8x50': dict(draws=50),
    # the 'calibrated' recipes keep the 'lm' scheme, the default before 'baoab', so that their rows in bench/README.md stand
    'calibrated 4x150': dict(chains=4, draws=150, burnin=200, thin=1, scheme='lm'),   # the hand run's chains, draws and burn-in; calibrated rest
    'calibrated 4x150 thin 2': dict(chains=4, draws=150, burnin=100, thin=2, scheme='lm'),
    # the same budget at 2, 4 and 8 times the calibrated step (eps_factor scales it; on this model neither the probe nor the
    # minibatch-noise cap binds): the two seeds agree more, the reference less: a larger step samples another distribution
    'calibrated 4x150 step x2': dict(chains=4, draws=150, burnin=100, thin=1, eps_factor=1.0, scheme='lm'),
    'calibrated 4x150 step x4': dict(chains=4, draws=150, burnin=100, thin=1, eps_factor=2.0, scheme='lm'),
    'calibrated 4x150 step x8': dict(chains=4, draws=150, burnin=100, thin=1, eps_factor=4.0, scheme='lm'),
    # underdamped Langevin (chapter "The localized SGLD sampler"), the same calibration otherwise
    'baoab 4x150': dict(chains=4, draws=150, burnin=200, thin=1, scheme='baoab'),
    'baoab 4x150 burn-in auto': dict(chains=4, draws=150, thin=1, scheme='baoab'),   # its own burn-in rule, 8/√ε steps
    'baoab 4x150 step x2': dict(chains=4, draws=150, burnin=100, thin=1, scheme='baoab', eps_factor=1.0),
    'baoab defaults': dict(scheme='baoab'),
    'lm defaults': dict(scheme='lm'),
    # the defaults with less thinning than 'auto' (about 1/ε, at most 8): 'baoab''s bulk decorrelates in about 1/√ε steps
    'defaults thin 4': dict(thin=4),
    'defaults thin 2': dict(thin=2),
}
REFERENCE = dict(max_draws=1000, scheme='lm')   # the defaults (of the 'lm' release) with up to 1000 draws per chain; two runs (seeds 100, 101)

def setup():
    texts, rel = make_structured_corpus(seed=0)
    train_texts, query_texts = texts[:-24], texts[-24:]
    tok = make_word_tokenizer(texts)
    train_dl, query_dl = text_loader(train_texts, tok, batch_size=32), text_loader(query_texts, tok, batch_size=32)
    model = make_tiny_gptneox(len(tok), hidden_size=32, num_layers=2, num_heads=4, tokenizer=tok)
    train_causal_lm(model, train_dl, steps=300, lr=3e-3)
    return model, train_dl, query_dl

def reference(model, train_dl, query_dl, mask):
    "The mean of two long runs of the defaults (REFERENCE), cached; and its reliability from their agreement."
    path = os.path.join(os.environ.get('BIF_NBDEV_CACHE', os.path.expanduser('~/.cache/bif_nbdev')), 'per_token_reference.pt')
    if os.path.exists(path): runs = torch.load(path)
    else:
        runs = []
        for seed in (100, 101):
            t = time.perf_counter(); r = bif(model, train_dl, query_dl, causal_lm_loss, seed=seed, progress=False, **REFERENCE)
            runs.append(dict(corr=r.corr, seconds=time.perf_counter() - t, draws=r.config['draws'], thin=r.config['thin'], ess=r.ess, rhat=r.rhat))
        os.makedirs(os.path.dirname(path), exist_ok=True); torch.save(runs, path)
    r, _ = agreement(runs[0]['corr'], runs[1]['corr'], mask)
    print(f"reference: two runs of {REFERENCE} (seeds 100, 101; {runs[0]['draws']} draws × thin {runs[0]['thin']}, "
          f"{runs[0]['seconds']:.0f} s each), agreement {r:.3f}, reliability of their mean {2 * r / (1 + r):.3f}", flush=True)
    return dict(mean=(runs[0]['corr'] + runs[1]['corr']) / 2, reliability=2 * r / (1 + r))

def agreement(a, b, mask):
    a, b = a[mask].double(), b[mask].double()
    p = torch.corrcoef(torch.stack([a, b]))[0, 1].item()
    ra, rb = a.argsort().argsort().double(), b.argsort().argsort().double()
    return p, torch.corrcoef(torch.stack([ra, rb]))[0, 1].item()

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--recipes', default=','.join(RECIPES)); ap.add_argument('--json')
    ap.add_argument('--reference', action='store_true', help='also compare each recipe with two long runs of the defaults')
    a = ap.parse_args()
    torch.set_num_threads(1)
    model, train_dl, query_dl = setup()
    _, tmask = token_table(train_dl); _, qmask = token_table(query_dl)
    mask = tmask[:, :, None, None] & qmask[None, None]
    ref = reference(model, train_dl, query_dl, mask) if a.reference else None
    rows = []
    print('| recipe | Pearson | Spearman | seconds (one run) | nβ | γ | ε | chains × draws × thin | R̂ | ESS |'
          + (' with the reference | unbiased would give |' if ref else '') + '\n|---|---|---|---|---|---|---|---|---|---|' + ('---|---|' if ref else ''), flush=True)
    for name in a.recipes.split(','):
        kw = RECIPES[name]; out = []
        for seed in (0, 1):
            t = time.perf_counter(); r = bif(model, train_dl, query_dl, causal_lm_loss, seed=seed, progress=False, **kw); secs = time.perf_counter() - t
            out.append((r, secs))
        (r0, s0), (r1, s1) = out
        p, s = agreement(r0.corr, r1.corr, mask)
        c = r0.config
        extra = ''
        if ref:
            vs, _ = agreement(r0.corr, ref['mean'], mask); ideal = math.sqrt(max(p, 0) * ref['reliability'])
            extra = f" {vs:.3f} | {ideal:.3f} |"
        rows.append(dict(recipe=name, pearson=p, spearman=s, seconds=s0, chains=len(c['chains_kept']), draws=c['draws'], thin=c['thin'],
                         burnin=c['burnin'], eps=c['eps'], gamma=c['gamma'], nbeta=c['nbeta'], rhat=r0.rhat, ess=r0.ess,
                         **(dict(vs_reference=vs, unbiased_would_give=ideal) if ref else {})))
        print(f"| {name} | {p:.3f} | {s:.3f} | {s0:.1f} | {c['nbeta']:.3g} | {c['gamma']:.3g} | {c['eps']:.2g} | {len(c['chains_kept'])}×{c['draws']}×{c['thin']} (burn-in {c['burnin']}) | {r0.rhat:.3f} | {r0.ess:.0f} |{extra}", flush=True)
    if a.json: json.dump(rows, open(a.json, 'w'), indent=1)
