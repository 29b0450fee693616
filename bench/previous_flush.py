"""StreamingCov.flush as it was before the fused flush (float64 temporaries of size C·n·q, the merge correction as a
separate outer product); kept for the benchmark `bench_bif.py cov`, which compares the engine against it."""
import torch


def previous_flush(self):
    if not self._bx: return self
    X = torch.stack(self._bx, 1).double(); Y = torch.stack(self._by, 1).double()  # [C, K, n]
    self._bx, self._by = [], []
    K = X.shape[1]
    mx, my = X.mean(1), Y.mean(1)
    Xc, Yc = (X - mx[:, None]), (Y - my[:, None])
    na, nb = self.count[:, None], float(K)
    n = na + nb
    dx, dy = mx - self.mean_x, my - self.mean_y
    w = na * nb / n
    self.m2_x += (Xc ** 2).sum(1) + w * dx ** 2
    self.m2_y += (Yc ** 2).sum(1) + w * dy ** 2
    Xc, Yc = Xc.to(self.compute_dtype), Yc.to(self.compute_dtype)
    ch = self.chunk or self.n_x
    for s in range(0, self.n_x, ch):
        e = min(s + ch, self.n_x)
        blk = torch.bmm(Xc[:, :, s:e].transpose(1, 2), Yc).double()
        blk += w[:, :, None] * dx[:, s:e, None] * dy[:, None, :]
        self.m_xy[:, s:e] += blk
    self.mean_x += (nb / n) * dx; self.mean_y += (nb / n) * dy
    self.count += nb
    return self


def previous_update(self, x, y):
    "The update before: two isfinite checks per draw (each a device sync on a GPU), then buffer."
    x, y = x.reshape(self.chains, -1), y.reshape(self.chains, -1)
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()): raise FloatingPointError('non-finite draw')
    self._bx.append(x.detach().to(self.device)); self._by.append(y.detach().to(self.device))
    if len(self._bx) >= self.buffer: self.flush()
    return self
