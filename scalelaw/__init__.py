"""scalelaw: run scaling sweeps, fit scaling laws with JAX, plan compute.

The public surface is deliberately small; see the README for the workflow
(sweep -> runs.csv -> fit -> plan). Sub-packages are imported lazily so that
``import scalelaw`` never pulls in JAX or torch.
"""

__version__ = "0.1.0"
