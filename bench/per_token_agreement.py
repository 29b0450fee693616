"""Seed-to-seed agreement of the per-token BIF matrix against time, on chapter 15's tutorial model (issue 14, item 7).

    PYTHONPATH=$PWD python bench/per_token_agreement.py [--recipes hand,defaults,...]

Two runs with seeds 0 and 1 per recipe; agreement = Pearson (and Spearman) of the two [n, S, q, S'] matrices of
normalized scores (−corr) over the (training token, query token) pairs that carry a loss in both texts (padding and
position 0 are exact zeros and are left out). Time = one run's wall time, calibration included. One thread.
"""
import argparse, json, time, warnings
import torch
warnings.filterwarnings('ignore')
from bif_nbdev.all import (bif, causal_lm_loss, make_structured_corpus, make_word_tokenizer, text_loader, make_tiny_gptneox,
                           train_causal_lm, token_table)

RECIPES = {  # name: bif() keyword arguments
    'hand 4x150': dict(chains=4, draws=150, burnin=200, nbeta=3., gamma=100., eps=1e-3),       # the tutorial's hand-set run
    'hand 4x600': dict(chains=4, draws=600, burnin=200, nbeta=3., gamma=100., eps=1e-3),
    'defaults': dict(),
    'defaults 8x100': dict(draws=100),
    'defaults 8x50': dict(draws=50),
    'calibrated 4x150': dict(chains=4, draws=150, burnin=200, thin=1),   # the hand run's chains, draws and burn-in; calibrated rest
    'calibrated 4x150 thin 2': dict(chains=4, draws=150, burnin=100, thin=2),
}

def setup():
    texts, rel = make_structured_corpus(seed=0)
    train_texts, query_texts = texts[:-24], texts[-24:]
    tok = make_word_tokenizer(texts)
    train_dl, query_dl = text_loader(train_texts, tok, batch_size=32), text_loader(query_texts, tok, batch_size=32)
    model = make_tiny_gptneox(len(tok), hidden_size=32, num_layers=2, num_heads=4, tokenizer=tok)
    train_causal_lm(model, train_dl, steps=300, lr=3e-3)
    return model, train_dl, query_dl

def agreement(a, b, mask):
    a, b = a[mask].double(), b[mask].double()
    p = torch.corrcoef(torch.stack([a, b]))[0, 1].item()
    ra, rb = a.argsort().argsort().double(), b.argsort().argsort().double()
    return p, torch.corrcoef(torch.stack([ra, rb]))[0, 1].item()

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--recipes', default=','.join(RECIPES)); ap.add_argument('--json')
    a = ap.parse_args()
    torch.set_num_threads(1)
    model, train_dl, query_dl = setup()
    _, tmask = token_table(train_dl); _, qmask = token_table(query_dl)
    mask = tmask[:, :, None, None] & qmask[None, None]
    rows = []
    print('| recipe | Pearson | Spearman | seconds (one run) | nβ | γ | ε | chains × draws × thin | R̂ | ESS |\n|---|---|---|---|---|---|---|---|---|---|', flush=True)
    for name in a.recipes.split(','):
        kw = RECIPES[name]; out = []
        for seed in (0, 1):
            t = time.perf_counter(); r = bif(model, train_dl, query_dl, causal_lm_loss, seed=seed, progress=False, **kw); secs = time.perf_counter() - t
            out.append((r, secs))
        (r0, s0), (r1, s1) = out
        p, s = agreement(r0.corr, r1.corr, mask)
        c = r0.config
        rows.append(dict(recipe=name, pearson=p, spearman=s, seconds=s0, chains=len(c['chains_kept']), draws=c['draws'], thin=c['thin'],
                         burnin=c['burnin'], eps=c['eps'], gamma=c['gamma'], nbeta=c['nbeta'], rhat=r0.rhat, ess=r0.ess))
        print(f"| {name} | {p:.3f} | {s:.3f} | {s0:.1f} | {c['nbeta']:.3g} | {c['gamma']:.3g} | {c['eps']:.2g} | {len(c['chains_kept'])}×{c['draws']}×{c['thin']} (burn-in {c['burnin']}) | {r0.rhat:.3f} | {r0.ess:.0f} |", flush=True)
    if a.json: json.dump(rows, open(a.json, 'w'), indent=1)
