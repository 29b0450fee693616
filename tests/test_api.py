"Tests of the public API as a user outside the notebooks calls it."
import importlib, pkgutil, re
from pathlib import Path
import torch
import bif_nbdev
ROOT = Path(__file__).resolve().parent.parent


def test_all_is_the_users_api():
    "`bif_nbdev.all` lists the user's API once (every name resolves) and leaves the site builder and the command line out."
    import subprocess, sys
    probe = ("import sys, bif_nbdev.all as a; print(len(a.__all__), len(set(a.__all__)), all(hasattr(a, n) for n in a.__all__), "
             "'bif_nbdev.site' in sys.modules, 'bif_nbdev.cli' in sys.modules, 'fcntl' in sys.modules)")
    n, distinct, *flags = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True, check=True).stdout.split()
    assert n == distinct and int(n) > 40
    assert flags[:3] == ['True', 'False', 'False'], flags


def test_examples_accepts_the_three_data_conventions():
    from bif_nbdev.all import as_examples, per_example_losses, cross_entropy_loss
    from torch.utils.data import TensorDataset, DataLoader
    X, y = torch.randn(7, 2), torch.randint(0, 3, (7,))
    model = torch.nn.Linear(2, 3)
    ref = per_example_losses(model, (X, y), cross_entropy_loss)
    for data in (TensorDataset(X, y), DataLoader(TensorDataset(X, y), batch_size=3, shuffle=True)):
        assert torch.allclose(per_example_losses(model, data, cross_entropy_loss), ref)


def test_sidebar_lists_every_chapter():
    "The site's sidebar (nbs/sidebar.yml, kept by hand in reading order) lists every notebook once: none is left off the site."
    import yaml
    from pathlib import Path
    nbs = Path(__file__).resolve().parents[1]/'nbs'
    listed = []
    def walk(items):
        for it in items:
            if isinstance(it, str): listed.append(it)
            elif isinstance(it, dict): walk(it.get('contents', []))
    walk(yaml.safe_load((nbs/'sidebar.yml').read_text())['website']['sidebar']['contents'])
    assert len(listed) == len(set(listed)), 'a page is listed twice'
    assert set(listed) == {p.name for p in nbs.glob('*.ipynb')}, set(listed) ^ {p.name for p in nbs.glob('*.ipynb')}


def test_example_cells_do_not_import():
    """nbdev's docs processing executes every non-exported cell that contains an import statement, without the cells
    before it; an example, check or solution cell that imports and then uses the chapter's variables breaks the docs
    build (it did, twice). Imports go to a notebook's `#| hide` imports cell; optional imports (try/except) and the
    cells listed here run on their own."""
    import ast, json
    allowed = {('index.ipynb', 'suite_all.json'), ('98_all.ipynb', '_probe')}
    bad = []
    for p in sorted((ROOT / 'nbs').glob('*.ipynb')):
        for c in json.loads(p.read_text())['cells']:
            s = ''.join(c['source'])
            if c['cell_type'] != 'code' or s.startswith('#| hide') or re.search(r'^#\| *(export|exec_doc|eval: *false)', s, re.M): continue
            try: tree = ast.parse('\n'.join(l for l in s.splitlines() if not l.lstrip().startswith(('%', '!'))))
            except SyntaxError: continue
            top = [n for n in tree.body]
            if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in top) and any(not isinstance(n, (ast.Import, ast.ImportFrom)) for n in top):
                if not any(p.name == f and key in s for f, key in allowed): bad.append(f"{p.name}: {s.splitlines()[0][:60]}")
    assert not bad, bad
