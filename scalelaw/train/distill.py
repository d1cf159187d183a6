"""The distillation objective (Busbridge et al. 2025, §4 and App. G; Hinton et al. 2015).

    L = (1 - lambda) CE(labels, student) + lambda tau^2 KL(p_T^tau || p_S^tau) + z * mean(logsumexp(s)^2)

forward KL from the teacher's tempered distribution to the student's, over the full vocabulary
by default, or over the teacher's top-k logits (teacher renormalised on its top k; the student's
full-vocabulary log-probabilities at those ids). All softmaxes are computed in fp32. The tau^2
factor keeps the gradient scale independent of tau.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_entropy(logits, targets):
    """Mean next-token cross-entropy (nats), logits (B, T, V) fp32-upcast, targets (B, T)."""
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())


def distill_loss(student_logits, targets, teacher_logits=None, *, lam: float = 1.0, tau: float = 1.0,
                 topk: int = 0, z_loss: float = 0.0):
    """Returns (objective, parts) with parts = {'ce', 'kl', 'z'} as detached fp32 scalars.

    Without teacher logits this is the supervised objective CE (+ z-loss).
    """
    s = student_logits.float().flatten(0, 1)  # (B*T, V)
    ce = F.cross_entropy(s, targets.flatten())
    loss = ce
    kl = s.new_zeros(())
    if teacher_logits is not None:
        t = teacher_logits.detach().float().flatten(0, 1)  # (B*T, V)
        log_q = F.log_softmax(s / tau, dim=-1)  # student, tempered
        if topk and topk < t.shape[-1]:
            t_top, idx = t.topk(topk, dim=-1)  # (B*T, k)
            log_p = F.log_softmax(t_top / tau, dim=-1)
            log_q = log_q.gather(-1, idx)
        else:
            log_p = F.log_softmax(t / tau, dim=-1)
        kl = (log_p.exp() * (log_p - log_q)).sum(-1).mean()
        loss = (1.0 - lam) * ce + lam * tau**2 * kl
    z = s.new_zeros(())
    if z_loss:
        z = torch.logsumexp(s, dim=-1).pow(2).mean()
        loss = loss + z_loss * z
    return loss, {"ce": ce.detach(), "kl": kl.detach(), "z": z.detach()}
