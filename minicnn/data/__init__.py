"""Data: image-folder loading and preprocessing, cache, splits, balancing, augmentation.

The names below are loaded on first use: ``minicnn train --help`` reads the data folder's
places (``locate``) without importing scikit-image, scikit-learn or SciPy.
"""
import importlib

#: name -> the submodule that defines it.
_WHERE = {
    **dict.fromkeys(("augment_batch", "intensity_batch", "training_augmenter"), "augment"),
    "default_cache_dir": "cache",
    **dict.fromkeys(("DEFAULT_CLASS_NAMES", "EQUALIZE", "IMAGE_EXTENSIONS", "MAX_PIXELS",
                     "ImageDataset", "UnlabeledImages", "decode_image", "equalize_image",
                     "file_problem", "list_unlabeled", "load_image_folder", "load_unlabeled",
                     "preprocess_image"), "loader"),
    "find_data_dir": "locate", "run_data_dir": "locate",
    **dict.fromkeys(("class_weights_balanced", "oversample", "patient_id", "stratified_sample",
                     "train_val_split", "undersample"), "splits"),
    "load_patient_sample": "subsets", "one_file_per_patient": "subsets",
}
__all__ = list(_WHERE)


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module 'minicnn.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_WHERE])
