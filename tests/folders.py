"""Synthetic folders the tests build: a tiny chest_xray data folder (real JPEG files, with
the data set's file-name patterns) and a sweep folder of finished runs with chosen numbers;
and the environment the Dask sweep tests run in."""
import json
import os

import numpy as np
from PIL import Image


def _xray(rng, pneumonia, side):
    """A gray 'chest' picture; pneumonia ones get a bright blotch in the lower half."""
    img = rng.normal(0.35, 0.08, (side, side))
    if pneumonia:
        r, c = rng.integers(side // 2, side - side // 4), rng.integers(side // 4, 3 * side // 4)
        yy, xx = np.mgrid[:side, :side]
        img += 0.45 * np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * (side / 6) ** 2))
    return Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))


def make_chest_xray(root, per_class=12, test_per_class=8, seed=0):
    """root/{train,test}/{NORMAL,PNEUMONIA}/ with real-looking file names: some patients have
    two images (same IM-NNNN or personNNN prefix), so the patient grouping matters."""
    rng = np.random.default_rng(seed)
    counts = {"train": per_class, "test": test_per_class}
    for split, n in counts.items():
        offset = 0 if split == "train" else 500
        for k in range(n):
            patient = offset + k // 2 + 1          # two images per patient
            shot = k % 2 + 1
            normal = (f"IM-{patient:04d}-{shot:04d}.jpeg" if k % 3
                      else f"NORMAL2-IM-{patient:04d}-{shot:04d}.jpeg")
            kind = "bacteria" if k % 3 else "virus"
            sick = f"person{patient}_{kind}_{10 * patient + shot}.jpeg"
            for folder, name, label in (("NORMAL", normal, False), ("PNEUMONIA", sick, True)):
                path = root / split / folder / name
                path.parent.mkdir(parents=True, exist_ok=True)
                side = int(rng.integers(48, 64))
                _xray(rng, label, side).convert("RGB").save(path, quality=95)
    return root


def fake_sweep(out, setting, values_by_seed, status="done"):
    """A sweep folder whose runs ended with ``status`` and these validation AUCs and
    losses."""
    entries = []
    for seed, (auc, loss) in values_by_seed.items():
        run = out / "runs" / f"{setting}-seed{seed}"
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"status": status, "settings": {}}))
        (run / "metrics.json").write_text(json.dumps({"validation": {"auc": auc, "loss": loss},
                                                      "test": None}))
        entries.append({"run": run.name, "setting": setting, "seed": seed, "values": {}})
    (out / "sweep.json").write_text(json.dumps({"preset": "full", "grid": {}, "seeds": [],
                                                "runs": entries}))
    return out


def cluster_environ(tmp_path_factory):
    """For a module-scoped fixture (``yield from``): a fresh cache, no $MINICNN_DATA or
    DASK_SCHEDULER_ADDRESS, and the environment put back afterwards (starting a LocalCluster
    sets OMP_NUM_THREADS and others in this process's environment)."""
    import pytest
    saved = dict(os.environ)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINICNN_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.delenv("MINICNN_DATA", raising=False)
        mp.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
        yield mp
    os.environ.clear()
    os.environ.update(saved)
