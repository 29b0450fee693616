"""A proposed faster StreamingCov.flush (benchmark only; the engine is not changed): the rank-1 merge correction rides in the
matmul as one extra row, and the co-moment is accumulated in place, with no float64 temporaries of size C·n·q."""
import torch


def fused_flush(self, accumulate='float32'):
    if not self._bx: return self
    X = torch.stack(self._bx, 1).double(); Y = torch.stack(self._by, 1).double()  # [C, K, n]
    self._bx, self._by = [], []
    K = X.shape[1]
    mx, my = X.mean(1), Y.mean(1)
    Xc, Yc = X - mx[:, None], Y - my[:, None]
    na, nb = self.count[:, None], float(K)
    n = na + nb
    dx, dy = mx - self.mean_x, my - self.mean_y
    w = na * nb / n
    self.m2_x += (Xc ** 2).sum(1) + w * dx ** 2
    self.m2_y += (Yc ** 2).sum(1) + w * dy ** 2
    s = w.sqrt()                                                   # Xcᵀ Yc + w dx dyᵀ = [Xc; √w dx]ᵀ [Yc; √w dy]
    Xa, Ya = torch.cat([Xc, (s * dx)[:, None]], 1), torch.cat([Yc, (s * dy)[:, None]], 1)
    if accumulate == 'float64': self.m_xy.baddbmm_(Xa.transpose(1, 2), Ya)
    else: self.m_xy.add_(torch.bmm(Xa.float().transpose(1, 2), Ya.float()))   # mixed-dtype in-place add: one pass, no temporary
    self.mean_x += (nb / n) * dx; self.mean_y += (nb / n) * dy
    self.count += nb
    return self
