"""Data: image-folder loading and preprocessing, cache, splits, balancing, augmentation."""

from .augment import augment_batch, intensity_batch, training_augmenter
from .cache import default_cache_dir
from .loader import (DEFAULT_CLASS_NAMES, EQUALIZE, IMAGE_EXTENSIONS, MAX_PIXELS, ImageDataset,
                     UnlabeledImages, decode_image, equalize_image, file_problem,
                     list_unlabeled, load_image_folder, load_unlabeled, preprocess_image)
from .locate import find_data_dir, run_data_dir
from .splits import (class_weights_balanced, oversample, patient_id, stratified_sample,
                     train_val_split, undersample)
from .subsets import load_patient_sample, one_file_per_patient

__all__ = [
    "ImageDataset", "load_image_folder", "decode_image", "preprocess_image",
    "file_problem", "equalize_image", "EQUALIZE", "IMAGE_EXTENSIONS", "DEFAULT_CLASS_NAMES",
    "MAX_PIXELS", "default_cache_dir",
    "patient_id", "train_val_split", "class_weights_balanced", "oversample", "undersample",
    "stratified_sample", "augment_batch", "intensity_batch", "find_data_dir", "run_data_dir",
    "load_patient_sample", "one_file_per_patient", "UnlabeledImages", "list_unlabeled",
    "load_unlabeled", "training_augmenter",
]
