"""Compute planning: compute-optimal supervised training and distillation budget splits.

Public surface:
    plan_supervised(fit, compute, flops=...)            -> [SupervisedPlan]   (any L(N, D) law)
    plan_distillation(sup, dist, student_N, compute)    -> [DistillPlan]      (four scenarios)
    plan_with_teacher(sup, dist, N_S, C, teacher_N, teacher_loss=... | teacher_D=...)
    distil_or_train(...), crossover_budget(...)         (decisions with uncertainty)
A "fit" is a fit-engine FitResult, a PlanFit, or a tuple (law, theta[, bootstrap thetas]).
"""

from .distill import SCENARIOS, DistillPlan, ScenarioPlan, plan_distillation, plan_with_teacher
from .sources import PlanFit, as_planfit, load_plan_fit
from .supervised import SupervisedPlan, chinchilla_closed_form, optimal_allocation, plan_supervised

__all__ = [
    "SCENARIOS", "DistillPlan", "ScenarioPlan", "plan_distillation", "plan_with_teacher",
    "PlanFit", "as_planfit", "load_plan_fit",
    "SupervisedPlan", "chinchilla_closed_form", "optimal_allocation", "plan_supervised",
]
