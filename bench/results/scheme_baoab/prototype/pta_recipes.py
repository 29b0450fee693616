"""The prototype's per-token runs: bench/per_token_agreement.py as of commit 85a6255 (the engine before 'baoab'), with
`import proto` (this folder) at its top and these recipes added before REFERENCE; run against that commit's engine:

    git archive 85a6255 bif_nbdev bench | tar -x -C /tmp/e && cd /tmp/e   # then add the two pieces below to the script
    PYTHONPATH=. BIF_NBDEV_CACHE=... python bench/per_token_agreement.py --reference --recipes 'baoab 4x150,calibrated 4x150'
"""
RECIPES_ADDED = {
    'baoab 4x150': dict(chains=4, draws=150, burnin=200, thin=1, scheme='baoab', eps_factor=0.5),
    'baoab 4x150 b100': dict(chains=4, draws=150, burnin=100, thin=1, scheme='baoab', eps_factor=0.5),
    'baoab 4x150 step x2': dict(chains=4, draws=150, burnin=100, thin=1, scheme='baoab', eps_factor=1.0),
    'baoab 4x150 step x4': dict(chains=4, draws=150, burnin=100, thin=1, scheme='baoab', eps_factor=2.0),
    'baoab 4x150 step x6': dict(chains=4, draws=150, burnin=100, thin=1, scheme='baoab', eps_factor=3.0),
}
