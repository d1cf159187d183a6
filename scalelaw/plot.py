"""All matplotlib figures of scalelaw (Agg backend; matplotlib is imported inside each function)."""

from __future__ import annotations


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
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N")
        ax.set_title("hold-out" if k is None else f"rollout: {k} largest held out", fontsize=9)
    axes[0][0].set_ylabel("|pred - obs| / obs (%)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
