# %% [markdown]
# # 06 - Exploring the chest X-rays (thesis Figures 9-17)
#
# Before training anything, the thesis looks at its data: how an image becomes an array
# (Figures 9-10), the histogram of one radiograph's pixel values (Figures 11-12), how many
# images each class has (Figures 13-14), and grids of random normal and pneumonia X-rays
# (Figures 15-17). We redo each of those on the full public data set.
#
# The data set (Kermany, Zhang and Goldbaum, 2018, CC BY 4.0) is not part of minicnn. It is
# looked for in $MINICNN_DATA, then in the places `minicnn.data.find_data_dir` knows (such as
# data/chest_xray), from the working folder and then from this repository; without it this
# example says so and stops.

# %%
import os
import sys
from pathlib import Path

import numpy as np

from minicnn import plots
from minicnn.data import (IMAGE_EXTENSIONS, decode_image, find_data_dir, patient_id,
                          preprocess_image)

NAME = "06_explore_xrays"
QUICK = os.environ.get("MINICNN_QUICK") == "1"   # quick: 64 px images instead of 150
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()  # script or notebook
FIGURES = Path(os.environ.get("MINICNN_FIGURES") or HERE / "figures" / NAME)
FIGURES.mkdir(parents=True, exist_ok=True)
IMAGE_SIZE = 64 if QUICK else 150                 # the thesis resized to 150x150

try:
    DATA = find_data_dir(None)
except FileNotFoundError as exc:        # looked for from here and from the checkout
    print(f"This example needs the chest X-ray data set, which was not found.\n{exc}")
    sys.exit(0)
print(f"data: {DATA}")

# %% [markdown]
# ## How many images? (thesis Figures 13-14)
#
# The folders `train/`, `test/` and `val/` each hold a NORMAL and a PNEUMONIA folder. We only
# count files here, without decoding them. Label 0 is normal, 1 is pneumonia, as in the
# thesis.

# %%
def image_files(folder):
    """Sorted image files of one class folder."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


files = {split: {cls: image_files(DATA / split / cls) for cls in ("NORMAL", "PNEUMONIA")}
         for split in ("train", "test", "val") if (DATA / split).is_dir()}
for split, classes in files.items():
    n0, n1 = len(classes["NORMAL"]), len(classes["PNEUMONIA"])
    print(f"{split:>5}: NORMAL (0) {n0:5,}   PNEUMONIA (1) {n1:5,}   "
          f"pneumonia share {n1 / (n0 + n1):.0%}")
train_counts = {f"{cls} ({label})": len(files["train"][cls])
                for label, cls in enumerate(("NORMAL", "PNEUMONIA"))}
plots.plot_class_counts(train_counts, FIGURES / "class_counts.png")

# %% [markdown]
# The thesis drew a balanced sample from these folders (970 normal and 1,041 pneumonia images
# for training, 203 and 313 for testing), which is why its bar chart shows two similar bars.
# The full training folder is far from balanced: about three pneumonia images for every
# normal one. A model that always answers "pneumonia" is already right 74% of the time on
# it, which is why later examples report sensitivity, specificity and ROC AUC, not only
# accuracy.

# %% [markdown]
# ## From a JPEG file to an array (thesis Figures 9-10)
#
# The thesis reads each image with three colour channels, resizes it to 150x150 with
# anti-aliasing, converts it to gray (values between 0 = black and 1 = white) and stores it
# as a (150, 150, 1) array. `minicnn.data` does exactly that. We follow the fifth training
# image (index 4; the thesis plotted its training image 4).

# %%
path = (files["train"]["NORMAL"] + files["train"]["PNEUMONIA"])[4]
rgb = decode_image(path)
image = preprocess_image(rgb, IMAGE_SIZE)
print(f"{path.name}: decoded {rgb.shape} {rgb.dtype}, values {rgb.min()}..{rgb.max()}")
print(f"preprocessed: {image.shape} {image.dtype}, values {image.min():.3f}..{image.max():.3f},"
      f" mean {image.mean():.3f}")
plots.plot_image_grid(image[None], titles=[path.name], rows=1, cols=1,
                      path=FIGURES / "training_image_4.png")

# %% [markdown]
# ## The histogram of one radiograph (thesis Figures 11-12)
#
# x axis: pixel value; y axis: how many pixels have it (the thesis's axes). Typically a
# spike at 0 (black background and borders), then a broad spread from the air-filled lungs
# (darker) to bones and soft tissue (brighter).

# %%
plots.plot_intensity_histogram(image, FIGURES / "histogram.png")
dark = float(np.mean(image < 0.2))
print(f"{dark:.0%} of the pixels are darker than 0.2, {np.mean(image > 0.6):.0%} brighter "
      f"than 0.6")

# %% [markdown]
# ## Random X-rays of each class (thesis Figures 15-17)
#
# Twenty-five training images of each class, drawn at random (seeded, so the grid is the
# same every run). Titles are patient ids: the pneumonia file names also say whether the
# pneumonia was bacterial or viral. Telling the classes apart by eye is not easy, and
# several images may come from one patient: the reason later examples split the data by
# patient.

# %%
rng = np.random.default_rng(0)
for cls, figure_name in (("NORMAL", "normal_grid.png"), ("PNEUMONIA", "pneumonia_grid.png")):
    chosen = rng.choice(len(files["train"][cls]), size=25, replace=False)
    paths = [files["train"][cls][i] for i in sorted(chosen)]
    images = np.stack([preprocess_image(decode_image(p), IMAGE_SIZE) for p in paths])
    titles = [patient_id(p) + (f" {p.name.split('_')[1]}" if cls == "PNEUMONIA" else "")
              for p in paths]                       # e.g. "person1269 bacteria"
    plots.plot_image_grid(images, titles=titles, rows=5, cols=5, path=FIGURES / figure_name)
    print(f"{cls}: 25 random training images, mean pixel value {images.mean():.3f}")

# %%
print(f"figures saved in {FIGURES}")

# %% [markdown]
# ## Exercises (answers in docs/answers.md)
#
# 1. What fraction of the training images show pneumonia? What accuracy does a "model" that
#    always answers "pneumonia" get on the test folder?
# 2. Several files come from one patient (`minicnn.data.patient_id`). Why does that matter
#    when splitting the images into training and validation?
# 3. The thesis converted the images to gray. What is lost, and why is it little for
#    X-rays?
