"Tests of the public API as a user outside the notebooks calls it."
import importlib, pkgutil
import torch
import bif_nbdev


def test_all_exports_every_public_name():
    "`from bif_nbdev.all import *` brings every module's public names."
    import bif_nbdev.all as everything
    skip = {'all', '_modidx', 'cli'}
    for m in pkgutil.iter_modules(bif_nbdev.__path__):
        if m.name in skip: continue
        mod = importlib.import_module(f'bif_nbdev.{m.name}')
        missing = [n for n in getattr(mod, '__all__', []) if not hasattr(everything, n)]
        assert not missing, f'bif_nbdev.all lacks {missing} from bif_nbdev.{m.name}'


def test_examples_accepts_the_three_data_conventions():
    from bif_nbdev.all import as_examples, per_example_losses, cross_entropy_loss
    from torch.utils.data import TensorDataset, DataLoader
    X, y = torch.randn(7, 2), torch.randint(0, 3, (7,))
    model = torch.nn.Linear(2, 3)
    ref = per_example_losses(model, (X, y), cross_entropy_loss)
    for data in (TensorDataset(X, y), DataLoader(TensorDataset(X, y), batch_size=3, shuffle=True)):
        assert torch.allclose(per_example_losses(model, data, cross_entropy_loss), ref)
