"""Small, seeded, patient-grouped samples of an image folder, for quick runs and exercises.

The first N files of a folder are a poor sample: file names are sorted by patient, so a few
patients fill it, and images of one patient are not independent observations. Here every
image comes from a different patient, drawn at random with a seed:

    ds = load_patient_sample(data / "test", per_class=24, image_size=48, seed=0)

returns a :class:`minicnn.data.ImageDataset` (x (N, S, S, 1) float32, y (N,), paths), decoded
with the thesis's preprocessing (``minicnn.data.preprocess_image``) and cached like
``minicnn.data.load_image_folder`` (``$MINICNN_CACHE``), so only the first run decodes.
"""
from pathlib import Path

import numpy as np

from .loader import DEFAULT_CLASS_NAMES, list_images, load_files
from .splits import patient_id


def one_file_per_patient(folder, count, seed=0):
    """Up to ``count`` file paths of ``folder``, each from a different, randomly drawn patient
    (``minicnn.data.patient_id``), sorted. Seeded: the same seed gives the same files."""
    by_patient = {}
    for path in list_images(Path(folder)):
        by_patient.setdefault(patient_id(path), []).append(path)
    rng = np.random.default_rng(seed)
    patients = sorted(by_patient)
    chosen = [patients[i] for i in rng.permutation(len(patients))[:count]]
    return sorted(str(by_patient[p][rng.integers(len(by_patient[p]))]) for p in chosen)


def load_patient_sample(root, per_class, image_size, seed=0,
                        class_names=tuple(DEFAULT_CLASS_NAMES)):
    """Decode ``per_class`` images of each class folder of ``root``, one per patient.

    root: a folder such as ``chest_xray/test`` holding one folder per class, named as
    ``class_names`` (label = position). Returns an ImageDataset, rows ordered by label,
    decoded and cached as :func:`minicnn.data.load_image_folder` does.
    """
    files = [(path, label) for label, name in enumerate(class_names)
             for path in one_file_per_patient(Path(root) / name, per_class, seed + label)]
    return load_files(Path(root).absolute(), files, list(class_names), image_size,
                      progress=False)
