# %% [markdown]
# # 08 - What the network sees: feature maps, saliency and Grad-CAM
#
# The thesis describes the convolution layers as a hierarchy: the first ones respond to
# lines and edges (example 02's vertical-edge kernel is one such detector), deeper ones to
# more intricate shapes. Here we look inside a trained thesis CNN:
#
# - the **feature maps** each Conv2D layer produces for one real X-ray;
# - a **saliency map**: how much each pixel changes the class score, |d score / d pixel|
#   (Simonyan et al., 2014);
# - a **Grad-CAM** heat map: the last convolution's feature maps, weighted by how much each
#   raises the class score (Selvaraju et al., 2017).
#
# Both heat maps come from the same backward pass that training uses (`minicnn.explain`).
# They show what a model relies on, not where the disease is; a model trained briefly on a
# small sample (as here, unless you give it a real run) may well rely on the wrong things.
#
# To look at a model trained by `minicnn train`, set MINICNN_RUN to its run folder, e.g.
# `MINICNN_RUN=runs/quick-20261127-121234 python examples/08_what_the_network_sees.py`.

# %%
import os
import sys
from pathlib import Path

import numpy as np

from minicnn import explain, layers, models, plots
from minicnn.data import class_weights_balanced, find_data_dir
from minicnn.optimizers import Adam
from minicnn.data.subsets import load_patient_sample


NAME = "08_what_the_network_sees"
QUICK = os.environ.get("MINICNN_QUICK") == "1"   # quick: 48 px, a few dozen images, 1 epoch
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()  # script or notebook
FIGURES = Path(os.environ.get("MINICNN_FIGURES") or HERE / "figures" / NAME)
FIGURES.mkdir(parents=True, exist_ok=True)
RUN = os.environ.get("MINICNN_RUN")

try:
    DATA = find_data_dir(None)
except FileNotFoundError as exc:        # looked for from here and from the checkout
    print(f"This example needs the chest X-ray data set, which was not found.\n{exc}")
    sys.exit(0)

# %% [markdown]
# ## A trained model: from a run folder, or trained here briefly
#
# Without MINICNN_RUN we train the thesis CNN for a few epochs on a seeded sample of
# training images, one per patient, at 96 px (quick mode: 64 per class at 48 px, eight short
# epochs, a few seconds: enough to learn something, as its training accuracy shows). At
# 96 px the last convolution's maps are 8x8, so Grad-CAM can point somewhere; at 48 px they
# are 2x2 and the heat map is very coarse.

# %%
if RUN:
    from minicnn.runs import load_run
    model, info = load_run(RUN)
    IMAGE_SIZE = info["image_size"]
    print(f"loaded the model of run {RUN} ({IMAGE_SIZE} px)")
else:
    IMAGE_SIZE, PER_CLASS, EPOCHS = (48, 64, 8) if QUICK else (96, 300, 4)
    train = load_patient_sample(DATA / "train", PER_CLASS, IMAGE_SIZE, seed=0)
    model = models.thesis_cnn((IMAGE_SIZE, IMAGE_SIZE, 1), seed=0)
    model.compile(Adam(0.001), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(train.x, train.y, batch_size=32, epochs=EPOCHS, seed=0, verbose=0,
              class_weight=class_weights_balanced(train.y))
    print(f"trained on {len(train.y)} images at {IMAGE_SIZE} px for {EPOCHS} epoch(s); "
          f"training accuracy {model.evaluate(train.x, train.y)[1]:.3f} (chance: 0.5)")

# %% [markdown]
# ## Two test X-rays: one with pneumonia, one normal

# %%
test = load_patient_sample(DATA / "test", 4, IMAGE_SIZE, seed=0)
pick = [int(np.flatnonzero(test.y == 1)[0]), int(np.flatnonzero(test.y == 0)[0])]
x = test.x[pick]                                   # (2, S, S, 1): pneumonia, normal
truth = ["pneumonia", "normal"]
p = model.predict(x)[:, 1]
for k in range(2):
    print(f"{Path(test.paths[pick[k]]).name}: true {truth[k]}, P(pneumonia) = {p[k]:.3f}")

# %% [markdown]
# ## Feature maps of each convolution layer
#
# Each Conv2D layer turns its input into 64 maps, one per filter. The first layer's maps
# still look like the X-ray, each with some edges or intensities emphasised; after every
# pooling they get smaller (at 150 px: 148, 72, 34, 15 pixels a side) and more abstract.
# We show the first 16 of the 64 maps of each layer, for the pneumonia image.

# %%
outputs = explain.layer_outputs(model, x[:1])       # {layer name: (1, h, w, c)}
conv_names = [layer.name for layer in model.layers if isinstance(layer, layers.Conv2D)]
plots.plot_image_grid(x[:1], titles=["input"], rows=1, cols=1, path=FIGURES / "input.png")
for i, name in enumerate(conv_names, start=1):
    maps = outputs[name][0]                         # (h, w, 64)
    print(f"conv layer {i} ({name}): output {maps.shape}, "
          f"{np.mean(maps > 0):.0%} of the values positive after ReLU")
    plots.plot_feature_maps(maps, FIGURES / f"feature_maps_conv{i}.png", max_maps=16,
                            title=f"conv layer {i} ({name}): first 16 of {maps.shape[2]} maps")

# %% [markdown]
# ## Saliency and Grad-CAM for each image
#
# Both explain the class the model predicts for that image (the larger softmax output).
# Saliency is a pixel-level gradient, usually speckled; Grad-CAM is as coarse as the last
# convolution's maps, brought back to the image's size.
#
# **When a Grad-CAM map is blank.** Grad-CAM is ReLU(sum_k w_k A_k): the last convolution's
# maps A_k, weighted by how much each raises the class score. If the weighted sum is
# negative everywhere (no region adds evidence *for* the predicted class, which is common
# for a model that has barely learned, or for the class it predicts by default), the ReLU
# makes the whole map 0, and it is drawn blank. Each map is also divided by its own maximum,
# so a map whose evidence is tiny but positive is stretched to full colour: compare the
# maps' colours *within* one image, never their brightness *across* images.

# %%
sal = explain.saliency(model, x)                    # (2, S, S), each scaled to [0, 1]
cam = explain.grad_cam(model, x)                    # (2, S, S), each scaled to [0, 1]
for k, kind in enumerate(("pneumonia", "normal")):
    predicted = "pneumonia" if p[k] >= 0.5 else "normal"
    what = f"{kind} X-ray, P(pneumonia) {p[k]:.2f}"
    plots.plot_heatmap_overlay(x[k], sal[k], FIGURES / f"saliency_{kind}.png",
                               title=f"saliency, {what}")
    plots.plot_heatmap_overlay(x[k], cam[k], FIGURES / f"grad_cam_{kind}.png",
                               title=f"Grad-CAM, {what}")
    print(f"{kind} image, predicted {predicted}: saliency mean {sal[k].mean():.3f}, "
          f"Grad-CAM mean {cam[k].mean():.3f} (0 = no evidence for the predicted class)")
    if cam[k].max() == 0:
        print(f"  the Grad-CAM map of the {kind} image is blank: the weighted sum of the "
              f"last convolution's maps is negative everywhere, and ReLU keeps none of it")

# %%
print(f"figures saved in {FIGURES}")

# %% [markdown]
# ## Exercises (answers in docs/answers.md)
#
# 1. Grad-CAM here explains the *predicted* class. Compute it for the other class with
#    `explain.grad_cam(model, x, class_index=...)`: how do the two maps relate?
# 2. At 48 px the last convolution's maps are 2x2. How many distinct regions can Grad-CAM
#    tell apart then, and what image size gives the thesis's 15x15?
# 3. A heat map over the image's border or its letters would mean what about the model?
