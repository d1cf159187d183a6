"""All matplotlib figures of scalelaw (Agg backend; matplotlib is imported inside each function)."""

from __future__ import annotations


def _finish(fig, path=None, *, tight: bool = True):
    """Lay out; with a path, save (110 dpi) and close the figure. Returns the figure."""
    import matplotlib.pyplot as plt

    if tight:
        fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


def plot_validation(results, path) -> None:
    """Relative error |pred - obs| / obs of each law against N, training runs hollow, held-out
    runs filled (results of `scalelaw.fit.validate`); rollouts get one panel per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    steps = sorted({r.k for r in results}, key=lambda k: -1 if k is None else k)
    fig, axes = plt.subplots(1, len(steps), figsize=(5.5 * len(steps), 4.2), squeeze=False, sharey=True)
    colours = {}
    for ax, k in zip(axes[0], steps):
        for r in (r for r in results if r.k == k and r.points):
            c = colours.setdefault(r.law, f"C{len(colours)}")
            for part, face in (("train", "none"), ("test", c)):
                N, _, obs, pred = r.points[part]
                ax.scatter(N, 100 * np.abs(pred - obs) / obs, s=14, facecolors=face, edgecolors=c,
                           label=f"{r.law} ({'held-out' if part == 'test' else 'in-range'})")
            if "interval" in r.points:  # a held-out error below its tick lies inside the interval
                lo, hi = r.points["interval"]
                N, _, _, pred = r.points["test"]
                ax.scatter(N, 100 * (hi - lo) / 2 / pred, marker="_", s=80, color=c,
                           label=f"{r.law} ({int(100 * r.interval_level)}% interval half-width)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N")
        ax.set_title("hold-out" if k is None else f"rollout: {k} largest held out", fontsize=9)
    axes[0][0].set_ylabel("|pred - obs| / obs (%)")
    axes[0][-1].legend(fontsize=7)
    _finish(fig, path)


def plot_law_surfaces(fits, N, D, loss, path=None):
    """Loss against D for every model size, data as dots and each fit as a line, plus a panel of
    relative residuals per law. `fits` maps a label to a FitResult. Returns the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    N, D, loss = (np.asarray(x, dtype=np.float64) for x in (N, D, loss))
    sizes = np.unique(N)
    fig, (ax, ax_r) = plt.subplots(1, 2, figsize=(11, 4.2))
    cmap = plt.get_cmap("viridis")
    styles = ("-", "--", ":", "-.")
    for i, n in enumerate(sizes):
        at = N == n
        c = cmap(i / max(1, len(sizes) - 1))
        ax.scatter(D[at], loss[at], s=8, color=c)
        d = np.geomspace(D[at].min(), D[at].max(), 50)
        for (label, fit), ls in zip(fits.items(), styles):
            ax.plot(d, fit.predict(N=np.full_like(d, n), D=d), ls, color=c, lw=0.9,
                    label=label if i == len(sizes) - 1 else None)
    ax.set_xscale("log")
    ax.set_xlabel("D (tokens)")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    for k, (label, fit) in enumerate(fits.items()):
        r = fit.predict(N=N, D=D) / loss - 1
        ax_r.scatter(N * (1 + 0.04 * (k - 0.5)), 100 * r, s=8, label=label)
    ax_r.axhline(0, color="k", lw=0.5)
    ax_r.set_xscale("log")
    ax_r.set_xlabel("N")
    ax_r.set_ylabel("pred / obs - 1 (%)")
    ax_r.legend(fontsize=8)
    return _finish(fig, path)


def plot_loss_curves(curves, path=None):
    """Validation loss against tokens seen, one line per run, coloured by role.

    `curves` is a list of (label, role, tokens array, val-loss array). Returns the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"supervised": "tab:blue", "teacher": "tab:red", "student": "tab:green"}
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    for ax, role in zip(axes, ("supervised", "teacher", "student")):
        for label, r, tokens, val in curves:
            if r == role:
                ax.plot(tokens, val, "-o", ms=2, lw=0.8, color=colors[role], alpha=0.7)
        ax.set_xscale("log")
        ax.set_title(f"{role} runs")
        ax.set_xlabel("tokens seen")
    axes[0].set_ylabel("validation loss (nats/token)")
    return _finish(fig, path)


def plot_student_fit(fit, students, path=None):
    """Distillation law against the student runs: L_S vs D_S per (teacher, student size).

    `fit` is a distill FitResult (its `.supervised` gives Ltilde_S); `students` a DataFrame with
    N, D, loss, L_T. Right panel: predicted over observed. Returns the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    df = students
    fig, (ax, ax_r) = plt.subplots(1, 2, figsize=(11, 4.2))
    groups = sorted({(float(n), float(lt)) for n, lt in zip(df["N"], df["L_T"])})
    cmap = plt.get_cmap("tab10")
    for i, (n, lt) in enumerate(groups):
        sel = (df["N"] == n) & (df["L_T"] == lt)
        d_obs = df.loc[sel, "D"].to_numpy(dtype=float)
        ax.scatter(d_obs, df.loc[sel, "loss"], color=cmap(i % 10), s=18,
                   label=f"N_S={n:.2g}, L_T={lt:.3f}")
        d = np.geomspace(d_obs.min() / 2, d_obs.max() * 2, 40)
        nn = np.full_like(d, n)
        l_sup = fit.supervised.predict(N=nn, D=d)
        ax.plot(d, fit.predict(N=nn, D=d, L_T=np.full_like(d, lt), L_sup=l_sup), color=cmap(i % 10), lw=0.9)
        ax.plot(d, l_sup, ":", color=cmap(i % 10), lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("D_S (distillation tokens)")
    ax.set_ylabel("student loss")
    ax.set_title("lines: distillation law; dotted: supervised law at the same N, D", fontsize=9)
    ax.legend(fontsize=7)
    N, D, LT = (df[c].to_numpy(dtype=float) for c in ("N", "D", "L_T"))
    pred = fit.predict(N=N, D=D, L_T=LT, L_sup=fit.supervised.predict(N=N, D=D))
    ax_r.scatter(df["loss"], pred, s=14)
    lo, hi = float(min(pred.min(), df["loss"].min())), float(max(pred.max(), df["loss"].max()))
    ax_r.plot([lo, hi], [lo, hi], "k-", lw=0.5)
    ax_r.set_xlabel("observed L_S")
    ax_r.set_ylabel("predicted L_S")
    return _finish(fig, path)


def plot_distil_or_train(compute, supervised_loss, scenario_losses, student_N, path=None):
    """The distil-or-train picture: best student loss against compute for supervised training
    and each distillation scenario (lower wins). `scenario_losses` maps a scenario to an array
    aligned with `compute`. Returns the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.plot(compute, supervised_loss, "k-", lw=1.6, label="train supervised")
    for name, losses in scenario_losses.items():
        ax.plot(compute, losses, "--", lw=1.1, label=f"distil: {name}")
    ax.set_xscale("log")
    ax.set_xlabel("total compute C (FLOPs, incl. teacher where paid)")
    ax.set_ylabel(f"student loss at N_S = {student_N:.2g}")
    ax.set_title("distil or train? (lower is better)")
    ax.legend(fontsize=8)
    return _finish(fig, path)


def plot_plan_frontier(doc, path=None):
    """Figures for `scalelaw plan frontier` (a `scalelaw.plan.report.frontier_doc` document).

    Distillation: one panel per scenario with the compute fractions (student / teacher logits /
    teacher training) against C, and a panel of the student's loss per scenario against the
    supervised baseline. Supervised: N* and D* against C, and the predicted loss. Returns the figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    plans = doc["plans"]
    C = np.array([p["compute"] for p in plans])
    if doc["kind"] == "supervised":
        fig, (a0, a1) = plt.subplots(1, 2, figsize=(10, 4))
        a0.plot(C, [p["N"] for p in plans], "o-", ms=3, label="N*")
        a0.plot(C, [p["D"] for p in plans], "s-", ms=3, label="D*")
        a0.set_yscale("log")
        a0.set_ylabel("parameters / tokens")
        a0.legend(fontsize=8)
        a1.plot(C, [p["loss"] for p in plans], "k-")
        a1.set_ylabel("predicted loss at the optimum")
        for a in (a0, a1):
            a.set_xscale("log")
            a.set_xlabel(f"compute C (FLOPs, {doc['flops']})")
        fig.suptitle(f"compute-optimal frontier ({doc['fit']})", fontsize=10)
    else:
        names = [s["scenario"] for s in plans[0]["scenarios"]]
        fig, axes = plt.subplots(1, len(names) + 1, figsize=(3.6 * (len(names) + 1), 3.8), squeeze=False)
        for ax, name in zip(axes[0], names):
            rows = [next(s for s in p["scenarios"] if s["scenario"] == name)["fractions"] for p in plans]
            parts = [np.array([r[k] for r in rows]) for k in ("student", "teacher_logits", "teacher_training")]
            ax.stackplot(C, *parts, labels=["student", "teacher logits", "teacher training"], alpha=0.8)
            ax.set_xscale("log")
            ax.set_ylim(0, 1)
            ax.set_title(name, fontsize=9)
            ax.set_xlabel("C (FLOPs)")
        axes[0][0].set_ylabel("fraction of compute")
        axes[0][0].legend(fontsize=7, loc="lower left")
        ax = axes[0][-1]
        ax.plot(C, [p["supervised"]["loss"] for p in plans], "k-", lw=1.6, label="supervised")
        for name in names:
            ax.plot(C, [next(s for s in p["scenarios"] if s["scenario"] == name)["student_loss"] for p in plans],
                    "--", lw=1.1, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("C (FLOPs)")
        ax.set_ylabel("student loss L_S")
        ax.legend(fontsize=7)
        fig.suptitle(f"distillation frontier, N_S = {doc['student_N']:.3g} ({doc['fit']}, {doc['flops']})", fontsize=10)
    return _finish(fig, path)


def _figure(nrows: int, ncols: int, size):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(nrows, ncols, figsize=size, squeeze=False)


def plot_fit(fit, csv, where, path, fmt=None, level: float = 0.9):
    """Diagnostics of a supervised fit: observed vs predicted with residuals; loss vs D per N with
    the fitted curves; isoFLOP slices of the fitted surface with the fitted optimum (C = 6ND).

    The curves carry a `level` band: the calibrated prediction interval when the fit has a
    backtest calibration (it widens outside the training runs), else the bootstrap prediction
    interval when it has draws (`calibrate.calibrated_interval` either way). Returns the figure."""
    import numpy as np

    from .fit.calibrate import Calibration, calibrated_interval
    from .runs import load_runs

    if fit.law.kind == "frontier":
        return plot_isoflop(fit, path)
    runs = load_runs(csv, where=where, fmt=fmt)
    if fit.law.kind == "distill":
        return plot_student_fit(fit, runs, path)
    N, D, L = runs.column("N"), runs.column("D"), runs.column("loss")
    pred = fit.predict(N=N, D=D)
    cal = fit.settings.get("calibration")
    cal = None if cal is None else Calibration.from_dict(cal)
    band_label = (f"calibrated {100 * level:.0f}% interval" if cal is not None else
                  f"bootstrap {100 * level:.0f}% interval" if fit.boot is not None else None)

    def band(a, x, n, d, col):
        if band_label is not None:
            _, lo, hi = calibrated_interval(fit, cal, level, n, d)
            a.fill_between(x, lo, hi, color=col, alpha=0.15, lw=0).set_gid(band_label)

    plt, fig, ax = _figure(1, 3, (15, 4.2))
    a = ax[0, 0]
    a.scatter(L, pred, s=10, c=np.log10(N), cmap="viridis")
    lims = [min(L.min(), pred.min()), max(L.max(), pred.max())]
    a.plot(lims, lims, "k--", lw=0.8)
    a.set(xlabel="observed loss", ylabel="predicted loss", title=f"{fit.law.name}: observed vs predicted")
    inset = a.inset_axes([0.58, 0.08, 0.38, 0.3])
    inset.hist((pred - L) / L * 100, bins=30, color="grey")
    inset.set_xlabel("residual %", fontsize=7)
    inset.tick_params(labelsize=6)
    a = ax[0, 1]
    sizes = np.unique(N)
    cmap = plt.get_cmap("viridis")
    for i, n in enumerate(sizes[:: max(1, len(sizes) // 12)]):
        m = N == n
        col = cmap(i / max(1, min(len(sizes), 12) - 1))
        a.scatter(D[m], L[m], s=10, color=col)
        dd = np.geomspace(D[m].min() / 1.5, D[m].max() * 1.5, 60)
        a.plot(dd, fit.predict(N=n, D=dd), color=col, lw=1, label=f"N={n:.2g}")
        band(a, dd, np.full(dd.shape, n), dd, col)
    a.set(xscale="log", xlabel="tokens D", ylabel="loss",
          title="loss vs D per model size" + (f"\nband: {band_label}" if band_label else ""))
    a.legend(fontsize=6, ncol=2)
    a = ax[0, 2]
    budgets = np.geomspace((6 * N * D).min(), (6 * N * D).max(), 5)
    for i, c in enumerate(budgets):
        nn = np.geomspace(N.min() / 3, N.max() * 3, 200)
        ll = fit.predict(N=nn, D=c / (6 * nn))
        col = cmap(i / 4)
        a.plot(nn, ll, color=col, label=f"C={c:.1e}")
        band(a, nn, nn, c / (6 * nn), col)
        k = int(np.argmin(ll))
        a.scatter([nn[k]], [ll[k]], color=col, marker="*", s=80, zorder=3)
    a.set(xscale="log", xlabel="N", ylabel="predicted loss",
          title="isoFLOP slices (* = optimum)" + (f"\nband: {band_label}" if band_label else ""))
    a.legend(fontsize=6)
    return _finish(fig, path)


def plot_isoflop(fit, path=None):
    """isoFLOP Approach 2: loss vs N per budget with its parabola and minimum (refused budgets grey),
    and the fitted frontier N*(C) = k C^a through the minima."""
    import numpy as np

    from .laws.isoflop import allocate

    st = fit.settings
    plt, fig, ax = _figure(1, 2, (12, 4.5))
    a = ax[0, 0]
    cmap = plt.get_cmap("viridis")
    acc = {b["C"]: b for b in st["budgets"]}
    for pts in st["points"]:
        if pts["C"] not in acc:
            a.scatter(pts["N"], pts["loss"], s=6, color="0.75")
    for i, b in enumerate(st["budgets"]):
        col = cmap(i / max(1, len(st["budgets"]) - 1))
        pts = next(p for p in st["points"] if p["C"] == b["C"])
        a.scatter(pts["N"], pts["loss"], s=10, color=col)
        x = np.linspace(*np.log10(b["N_range"]), 80) - b["centre"]
        a.plot(10 ** (x + b["centre"]), np.polyval(b["coef"][::-1], x), color=col, lw=1, label=f"C={b['C']:.2g}")
        a.scatter([b["N_opt"]], [b["loss_opt"]], color=col, marker="*", s=90, zorder=3, edgecolor="k", lw=0.4)
    a.set(xscale="log", xlabel="N", ylabel="loss", title="isoFLOP profiles (* = parabola minimum; grey = refused)")
    a.legend(fontsize=6, ncol=2)
    a = ax[0, 1]
    C = np.array([b["C"] for b in st["budgets"]])
    a.scatter(C, [b["N_opt"] for b in st["budgets"]], color="C0", label="N* per budget")
    a.scatter(C, [b["D_opt"] for b in st["budgets"]], color="C1", label="D* per budget")
    cc = np.geomspace(C.min() / 3, C.max() * 3, 50)
    fr = allocate(fit.theta, cc)
    p = fit.params
    a.plot(cc, fr["N"], color="C0", label=f"N* = {p['k']:.3g} C^{p['a']:.3f}")
    a.plot(cc, fr["D"], color="C1", label=f"D* = {p['k_D']:.3g} C^{p['b']:.3f}")
    a.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel="N*, D*", title="fitted frontier")
    a.legend(fontsize=7)
    _finish(fig, path)


def plot_distil_map(students, budgets, gaps, path=None):
    """Distil-or-train map: for each scenario, L_S - L_supervised over student size x compute
    (blue: distillation wins, red: supervised wins; black line: the break-even contour).
    `gaps` maps a scenario to an array of shape (len(students), len(budgets)). Returns the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(gaps)
    from matplotlib.colors import SymLogNorm

    fig, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names) + 1, 3.6), squeeze=False, sharey=True,
                             constrained_layout=True)
    lim = max(float(np.nanmax(np.abs(g))) for g in gaps.values())
    norm = SymLogNorm(linthresh=1e-3, vmin=-lim, vmax=lim)  # small gaps matter near break-even
    X, Y = np.meshgrid(np.asarray(budgets, float), np.asarray(students, float))
    for ax, name in zip(axes[0], names):
        m = ax.pcolormesh(X, Y, gaps[name], cmap="RdBu_r", norm=norm, shading="nearest")
        if np.nanmin(gaps[name]) < 0 < np.nanmax(gaps[name]):
            ax.contour(X, Y, gaps[name], levels=[0.0], colors="k", linewidths=1.0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("compute C (FLOPs)")
    axes[0][0].set_ylabel("student size N_S")
    fig.colorbar(m, ax=axes[0].tolist(), label="L_S - L_supervised (nats)")
    return _finish(fig, path, tight=False)


def plot_capacity_gap(students, L_T, supervised: dict, distill: dict, path=None):
    """Student loss against teacher loss at fixed (N_S, D_S) (the capacity gap of Busbridge et al.
    2025, Fig. 4): one line per (N_S, D_S) in `students`, its minimum marked, and the student's
    supervised loss Ltilde_S dotted. `supervised`/`distill` are natural parameter dicts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from .laws.busbridge import CHINCHILLA_GAMMA, student_loss

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    L_T = np.asarray(L_T, dtype=float)
    for i, (n, d) in enumerate(students):
        ls = student_loss(np.full_like(L_T, n), np.full_like(L_T, d), L_T, supervised, distill)
        k = int(np.argmin(ls))
        ax.plot(L_T, ls, color=f"C{i}", label=f"N_S={n:.3g}, D_S={d:.3g}")
        ax.plot(L_T[k], ls[k], "o", color=f"C{i}")
        ax.axhline(float(CHINCHILLA_GAMMA.predict_natural(supervised, N=n, D=d)), color=f"C{i}", ls=":", lw=0.8)
    ax.plot(L_T, L_T, "k--", lw=0.6, label="L_S = L_T")
    ax.set_xlabel("teacher loss L_T")
    ax.set_ylabel("student loss L_S")
    ax.set_title("capacity gap: dots = best teacher; dotted = supervised student", fontsize=9)
    ax.legend(fontsize=7)
    return _finish(fig, path)


def plot_student_vs_supervised(N_S, D_S, teacher_losses, supervised: dict, distill: dict, path=None):
    """Student loss over distillation tokens D_S for several teachers, against the supervised
    curve of the same model (Busbridge et al. 2025, Fig. 5); one panel per student size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from .laws.busbridge import CHINCHILLA_GAMMA, student_loss

    D_S = np.asarray(D_S, dtype=float)
    fig, axes = plt.subplots(1, len(N_S), figsize=(4.2 * len(N_S), 3.8), squeeze=False)
    for ax, n in zip(axes[0], N_S):
        nn = np.full_like(D_S, n)
        ax.plot(D_S, CHINCHILLA_GAMMA.predict_natural(supervised, N=nn, D=D_S), "k-", lw=1.5, label="supervised")
        for i, lt in enumerate(teacher_losses):
            ax.plot(D_S, student_loss(nn, D_S, np.full_like(D_S, lt), supervised, distill), color=f"C{i}",
                    label=f"distilled, L_T={lt:g}")
        ax.set_xscale("log")
        ax.set_xlabel("D_S (tokens)")
        ax.set_title(f"N_S = {n:.3g}", fontsize=9)
    axes[0][0].set_ylabel("loss")
    axes[0][-1].legend(fontsize=7)
    return _finish(fig, path)


def _teacher_colours(L_T):
    import numpy as np

    lts = sorted({float(x) for x in np.asarray(L_T, float)})
    return lts, {lt: f"C{i}" for i, lt in enumerate(lts)}


def _size_panels(students, supervised, height: float):
    """One log-D_S panel per student size, with the mean loss over D_S of the supervised twin and
    of the students of each teacher: (fig, axes, [(ax, supervised series, {L_T: series})], colours)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(students["N"].unique())
    lts, col = _teacher_colours(students["L_T"])
    fig, axes = plt.subplots(1, len(sizes), figsize=(3.6 * len(sizes), height), squeeze=False, sharey=True)
    panels = []
    for ax, n in zip(axes[0], sizes):
        s = students[students["N"] == n]
        per_teacher = {lt: s[s["L_T"] == lt].groupby("D")["loss"].mean() for lt in lts}
        panels.append((ax, supervised[supervised["N"] == n].groupby("D")["loss"].mean(), per_teacher))
        ax.set_xscale("log")
        ax.set_xlabel("D_S (tokens)")
        ax.set_title(f"N_S = {n:.3g}", fontsize=9)
    return fig, axes, panels, col


def plot_runs_students_vs_D(students, supervised, path=None):
    """Measured runs: student loss over D_S per teacher (colour), one panel per student size, with
    the supervised twin (same N, D) in black. `students`/`supervised` are run-record frames."""
    fig, axes, panels, col = _size_panels(students, supervised, 3.6)
    for ax, sup, per_teacher in panels:
        ax.plot(sup.index, sup.values, "k-o", ms=3, lw=1.4, label="supervised")
        for lt, g in per_teacher.items():
            ax.plot(g.index, g.values, "-o", ms=3, lw=0.9, color=col[lt], label=f"teacher L_T={lt:.3f}")
    axes[0][0].set_ylabel("validation loss (nats/token)")
    axes[0][-1].legend(fontsize=7)
    return _finish(fig, path)


def plot_runs_capacity_gap(students, path=None, *, d_values=None):
    """Measured runs: student loss against teacher loss L_T at fixed N_S (one line per size), one
    panel per D_S in `d_values` (default: the two largest); the dashed diagonal is L_S = L_T."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ds = sorted(students["D"].unique())
    d_values = list(d_values) if d_values is not None else ds[-2:]
    fig, axes = plt.subplots(1, len(d_values), figsize=(4.4 * len(d_values), 3.8), squeeze=False)
    for ax, d in zip(axes[0], d_values):
        s = students[np.isclose(students["D"], d, rtol=1e-3)]
        for i, n in enumerate(sorted(s["N"].unique())):
            g = s[s["N"] == n].groupby("L_T")["loss"].mean()
            ax.plot(g.index, g.values, "-o", ms=4, color=f"C{i}", label=f"N_S={n:.3g}")
        lt = np.array(sorted(s["L_T"].unique()))
        ax.plot(lt, lt, "k--", lw=0.6, label="L_S = L_T")
        ax.set_xlabel("teacher loss L_T")
        ax.set_title(f"D_S = {d:.3g}", fontsize=9)
    axes[0][0].set_ylabel("student loss L_S")
    axes[0][-1].legend(fontsize=7)
    return _finish(fig, path)


def plot_runs_distilled_minus_supervised(students, supervised, path=None):
    """Measured runs at equal student compute (same N_S and D_S, so the same 6 N D of student
    training): L_distilled - L_supervised over D_S, per teacher (colour), one panel per size;
    below zero distillation wins (teacher cost not counted)."""
    fig, axes, panels, col = _size_panels(students, supervised, 3.4)
    for ax, sup, per_teacher in panels:
        for lt, g in per_teacher.items():
            g = g[g.index.isin(sup.index)]
            ax.plot(g.index, g.values - sup.loc[g.index].values, "-o", ms=3, color=col[lt], label=f"L_T={lt:.3f}")
        ax.axhline(0, color="k", lw=0.8)
    axes[0][0].set_ylabel("L_distilled - L_supervised (nats)")
    axes[0][-1].legend(fontsize=7)
    return _finish(fig, path)
