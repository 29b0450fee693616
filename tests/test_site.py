"""The offline docs site, checked in a real browser, and the generated README.

The browser tests need Debian's `chromium` and `pandoc` (.ci/run installs both); without them they are skipped, saying so.
The wheel test builds and installs the package in a fresh virtual environment (several minutes: torch is installed
there); it runs only when BIF_NBDEV_TEST_WHEEL=1.
"""
import base64, io, json, os, shutil, subprocess, sys, textwrap
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
from bif_nbdev.site import build_site, check_site, find_chromium, build_readme

needs_browser = pytest.mark.skipif(not (find_chromium() and shutil.which('pandoc')),
                                   reason='needs chromium and pandoc (apt-get install chromium pandoc)')


def _nb(cells):
    out = []
    for kind, src, *outs in cells:
        c = dict(cell_type=kind, id=f'c{len(out)}', metadata={}, source=src)
        if kind == 'code': c.update(execution_count=None, outputs=outs[0] if outs else [])
        out.append(c)
    return dict(cells=out, metadata=dict(kernelspec=dict(display_name='python3', language='python', name='python3')),
                nbformat=4, nbformat_minor=5)


def _png():
    import matplotlib
    matplotlib.use('agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(2, 1.5)); ax.plot([0, 1, 2], [2, 0, 1])
    buf = io.BytesIO(); fig.savefig(buf, format='png'); plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope='module')
def project_site(tmp_path_factory):
    "The project's own site, built offline into a temporary folder."
    out = tmp_path_factory.mktemp('site')/'site'
    cwd = os.getcwd(); os.chdir(ROOT)
    try: index = build_site(out)
    finally: os.chdir(cwd)
    return index


@pytest.fixture(scope='module')
def toy_site(tmp_path_factory):
    "A small nbdev project with a plot, maths, cross-links, a folded solution and a tutorials/ folder."
    d = tmp_path_factory.mktemp('toy')
    # the project's settings, but nbdev makes the toy's sidebar from its folders (the project keeps a hand-written one)
    (d/'settings.ini').write_text((ROOT/'settings.ini').read_text().replace('custom_sidebar = True', 'custom_sidebar = False'))
    nbs = d/'nbs'; (nbs/'tutorials').mkdir(parents=True)
    plot = [dict(output_type='display_data', metadata={}, data={'image/png': _png(), 'text/plain': '<Figure>'})]
    json.dump(_nb([('markdown', '# Toy\n\n> A toy site.'),
                   ('markdown', 'Inline $\\sigma^2$ and display\n\n$$\\mathrm{BIF}(z_i,\\phi) = -\\mathrm{Cov}(\\ell_i,\\phi)$$\n\n'
                                'See [the tutorial](tutorials/walk.ipynb#step-one).')]), open(nbs/'index.ipynb', 'w'))
    json.dump(_nb([('markdown', '# A chapter\n\n> With a plot.'),
                   ('markdown', '## A plot'), ('code', 'plot()', plot),
                   ('markdown', '### Exercise 1\n\nDo it.'), ('code', '#| code-fold: true\n#| code-summary: "Solution 1"\nx = 1')]),
              open(nbs/'01_chapter.ipynb', 'w'))
    json.dump(_nb([('markdown', '# Walk-through\n\n> A tutorial.'),
                   ('markdown', '## Step one\n\nBack to [the chapter](../01_chapter.ipynb#a-plot) and $\\frac{1}{n\\beta}$.')]),
              open(nbs/'tutorials'/'walk.ipynb', 'w'))
    cwd = os.getcwd(); os.chdir(d)
    try: index = build_site(d/'_site')
    finally: os.chdir(cwd)
    return index


@needs_browser
def test_project_site_renders_offline(project_site):
    r = check_site(project_site)
    assert not r['problems'], '\n'.join(r['problems'])
    pages = r['pages']
    assert {'index.html', 'core.html', 'course.html'} <= set(pages)
    assert pages['index.html']['math_sources'] >= 2 and pages['index.html']['math_rendered'] >= 2
    core = (project_site.parent/'core.html').read_text()
    assert 'as_examples' in pages['core.html']['ids']  # show_doc API entries are headings with anchors
    assert '<details class="code-fold"><summary>Solution 1</summary>' in core  # exercises: solutions folded
    assert 'show_doc(' not in core and '#| export' not in core  # nbdev's processing ran: no plumbing on the page


@needs_browser
def test_toy_site_images_tutorials_links(toy_site):
    r = check_site(toy_site)
    assert not r['problems'], '\n'.join(r['problems'])
    pages = r['pages']
    assert set(pages) == {'index.html', 'chapter.html', 'tutorials/walk.html'}
    (img,) = pages['chapter.html']['images']
    assert img['width'] > 100
    assert pages['tutorials/walk.html']['math_rendered'] == 1
    nav = (toy_site.parent/'index.html').read_text()
    assert nav.index('chapter.html') < nav.index('tutorials/walk.html') and '<span>tutorials</span>' in nav
    assert 'href="tutorials/walk.html#step-one"' in nav
    assert list((toy_site.parent/'katex'/'fonts').glob('*.woff2')) or '<math' in nav


@needs_browser
def test_checker_finds_broken_pages(toy_site, tmp_path):
    "The check can fail: a missing picture, a dead link, a dead anchor and raw TeX are all reported."
    site = tmp_path/'broken'; shutil.copytree(toy_site.parent, site)
    for f in (site/'chapter_files').iterdir(): f.unlink()
    walk = site/'tutorials'/'walk.html'
    walk.write_text(walk.read_text().replace('</main>', '<p>$$x^2$$ <a href="../nope.html">x</a> <a href="../index.html#nope">y</a></p></main>'))
    probs = '\n'.join(check_site(site/'index.html')['problems'])
    for expected in ('picture not loaded', 'broken link: nope.html', 'broken anchor: index.html#nope', 'raw TeX'):
        assert expected in probs, probs


def test_readme_is_generated_from_index(tmp_path):
    "README.md is what build_readme makes of nbs/index.ipynb, and CI's command is in it verbatim."
    cwd = os.getcwd(); os.chdir(ROOT)
    try: new = build_readme(tmp_path/'README.md').read_text()
    finally: os.chdir(cwd)
    assert new == (ROOT/'README.md').read_text(), 'README.md is stale: run `bif_nbdev readme`'
    assert any(l.startswith('pip install -e ".[dev]"') for l in new.splitlines())


def test_cli_lists_subcommands():
    r = subprocess.run([sys.executable, '-c', 'from bif_nbdev.cli import main; raise SystemExit(main(["--help"]))'],
                       capture_output=True, text=True, cwd=ROOT, env={**os.environ, 'PYTHONPATH': str(ROOT)})
    assert r.returncode == 0, r.stderr
    for c in ('docs', 'readme', 'demo', 'attribute'): assert f'\n  {c} ' in r.stdout


@pytest.mark.skipif(os.environ.get('BIF_NBDEV_TEST_WHEEL') != '1', reason='slow (several minutes): set BIF_NBDEV_TEST_WHEEL=1')
def test_wheel_installs_in_fresh_venv(tmp_path):
    "python -m build gives a wheel and an sdist; the wheel installs in a fresh venv, imports, and its command runs."
    subprocess.run([sys.executable, '-m', 'build', '--outdir', str(tmp_path/'dist'), str(ROOT)], check=True, capture_output=True)
    wheels, sdists = list((tmp_path/'dist').glob('*.whl')), list((tmp_path/'dist').glob('*.tar.gz'))
    assert len(wheels) == 1 and len(sdists) == 1
    venv = tmp_path/'venv'
    # Nothing from this checkout may leak in: with PYTHONPATH pointing here, pip would take the source tree's
    # bif_nbdev.egg-info for an installed copy and skip the wheel, and the import would find the source.
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True, env=env)
    pip, py = venv/'bin'/'pip', venv/'bin'/'python'
    subprocess.run([str(pip), 'install', '-q', 'torch==2.13.0', str(wheels[0])], check=True, env=env)
    r = subprocess.run([str(py), '-c', 'import bif_nbdev, bif_nbdev.all as a; assert a.bif and a.as_examples; print(bif_nbdev.__file__)'],
                       check=True, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert str(venv) in r.stdout, r.stdout  # the installed copy, not the source tree
    r = subprocess.run([str(venv/'bin'/'bif_nbdev'), '--help'], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0 and 'attribute' in r.stdout, r.stdout + r.stderr
