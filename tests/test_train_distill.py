"""Distillation loss against a hand computation (scipy), and its zero gradient at student == teacher."""

import numpy as np
import pytest
from scipy.special import log_softmax, logsumexp

torch = pytest.importorskip("torch")

from scalelaw.train.distill import distill_loss  # noqa: E402


def _hand(s, t, y, lam, tau, topk=0, z=0.0):
    s2, t2 = s.reshape(-1, s.shape[-1]), t.reshape(-1, t.shape[-1])
    ce = -log_softmax(s2, -1)[np.arange(len(s2)), y.ravel()].mean()
    log_q = log_softmax(s2 / tau, -1)
    if topk:
        idx = np.argsort(-t2, -1)[:, :topk]
        log_p = log_softmax(np.take_along_axis(t2, idx, -1) / tau, -1)
        log_q = np.take_along_axis(log_q, idx, -1)
    else:
        log_p = log_softmax(t2 / tau, -1)
    kl = (np.exp(log_p) * (log_p - log_q)).sum(-1).mean()
    return (1 - lam) * ce + lam * tau**2 * kl + z * (logsumexp(s2, -1) ** 2).mean()


@pytest.mark.parametrize("lam,tau,topk,z", [(1.0, 1.0, 0, 0.0), (0.3, 2.0, 0, 0.0), (0.7, 1.0, 5, 0.0),
                                            (0.5, 0.5, 0, 1e-2)])
def test_matches_hand_computation(lam, tau, topk, z):
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(2, 3, 2, 17)) * 3
    y = rng.integers(0, 17, size=(3, 2))
    got, parts = distill_loss(torch.tensor(s), torch.tensor(y), torch.tensor(t), lam=lam, tau=tau, topk=topk, z_loss=z)
    np.testing.assert_allclose(float(got), _hand(s, t, y, lam, tau, topk, z), rtol=1e-5)
    np.testing.assert_allclose(float(parts["ce"]), _hand(s, t, y, 0.0, 1.0), rtol=1e-5)


def test_supervised_is_plain_cross_entropy():
    rng = np.random.default_rng(1)
    s = rng.normal(size=(4, 5, 11))
    y = rng.integers(0, 11, size=(4, 5))
    got, _ = distill_loss(torch.tensor(s), torch.tensor(y))
    np.testing.assert_allclose(float(got), _hand(s, s, y, 0.0, 1.0), rtol=1e-6)


@pytest.mark.parametrize("tau", [1.0, 2.0])
def test_zero_gradient_when_student_equals_teacher(tau):
    from scalelaw.train.config import TrainConfig
    from scalelaw.train.model import build_model

    torch.manual_seed(0)
    shape = TrainConfig(n_layer=1, d_model=32, n_head=2).resolve_shape(40)
    student, teacher = build_model(shape), build_model(shape)
    teacher.load_state_dict(student.state_dict())
    x = torch.randint(0, 40, (3, 16))
    with torch.no_grad():
        t_logits = teacher(x)
    loss, parts = distill_loss(student(x), x, t_logits, lam=1.0, tau=tau)
    loss.backward()
    assert abs(float(parts["kl"])) < 1e-6
    grads = torch.cat([p.grad.flatten() for p in student.parameters()])
    assert float(grads.abs().max()) < 1e-6
