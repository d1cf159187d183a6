"""A fast stand-in for scalelaw.train.run.train with the same contract (no tests in this file).

Sweep tests run it in real worker processes through SCALELAW_SWEEP_TRAIN=test_sweep_fake:train.
It checkpoints atomically every step (FAKE_STEPS steps of FAKE_STEP_S seconds), appends the step
it resumed from to resumed.txt, and writes record.json last, atomically, like the real trainer.
Its loss follows a known Chinchilla surface so fits on its records can be checked.
"""
import json, os, time
from pathlib import Path

#: the Chinchilla surface the stand-in's supervised losses follow exactly
E, A, B, ALPHA, BETA = 1.5, 40.0, 90.0, 0.3, 0.3

def _atomic(path, text):
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(text); f.flush(); os.fsync(f.fileno())
    os.replace(tmp, path)

def train(cfg, run_dir, *, resume=True, run_id=None, progress=True):
    cfg = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    rd = Path(run_dir)
    rec_p = rd / "record.json"
    if rec_p.exists():
        return json.loads(rec_p.read_text())
    steps = int(os.environ.get("FAKE_STEPS", "10"))
    dt = float(os.environ.get("FAKE_STEP_S", "0.01"))
    ck = rd / "checkpoint.pt"
    step = 0
    if resume and ck.exists():
        step = json.loads(ck.read_text())["step"]  # a torn checkpoint would raise here
        with open(rd / "resumed.txt", "a") as f:
            f.write(f"{step}\n")
    _atomic(rd / "config.json", json.dumps(cfg))
    while step < steps:
        time.sleep(dt)
        step += 1
        _atomic(ck, json.dumps({"step": step, "pad": "x" * 2000}))
    N = float(cfg.get("target_params") or 12 * cfg["n_layer"] * cfg["d_model"] ** 2)
    if os.environ.get("FAKE_FAIL_ROLE") == cfg["role"]:
        raise RuntimeError("injected failure")
    D = float(cfg["tokens"])
    loss = E + A / N ** ALPHA + B / D ** BETA
    rec = {"run_id": run_id, "role": cfg["role"], "N": N, "N_kind": "non-embedding", "D": D,
           "loss": loss, "loss_kind": "val CE (nats/token)",
           "seed": cfg["seed"], "status": "ok", "wall_s": steps * dt}
    if cfg["role"] == "student":  # a student lands between its teacher and its supervised twin
        t = json.loads((Path(cfg["teacher_dir"]) / "record.json").read_text())
        rec.update(teacher_run_id=t["run_id"], N_T=t["N"], D_T=t["D"], L_T=t["loss"],
                   loss=t["loss"] + 0.9 * (loss - t["loss"]) if loss > t["loss"] else loss)
    _atomic(rec_p, json.dumps(rec))
    return rec


def env(tests_dir: str, **extra) -> dict:
    """Environment for a subprocess that should train with this stand-in."""
    e = dict(os.environ)
    e["SCALELAW_SWEEP_TRAIN"] = "test_sweep_fake:train"
    e["PYTHONPATH"] = os.pathsep.join([tests_dir, e.get("PYTHONPATH", "")])
    e.update({k: str(v) for k, v in extra.items()})
    return e
