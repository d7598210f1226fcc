"""minicnn explore: the page's numbers against minicnn's own passes (Python), bad inputs, and
the page in a real headless Chromium driven by Selenium (click a conv pixel and read z,
switch image, toggle the backward view, no console errors, no network, not blank)."""
import argparse
import base64
import copy
import json
import os
import shutil
import tempfile
import time
import warnings
import zlib

import numpy as np
import pytest

from minicnn import explore, kernels
from minicnn.layers import (BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D,
                            Input, MaxPooling2D, ReLU)
from minicnn.model import Sequential
from minicnn.models import thesis_cnn

from folders import make_chest_xray

SIZE = 40


# -- helpers --------------------------------------------------------------------------------
def _image(seed, size=SIZE):
    """A smooth X-ray-like image (size, size, 1) float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 0.5 + 0.3 * np.sin(6 * xx + seed) * np.cos(4 * yy) + 0.05 * rng.random((size, size))
    return np.clip(img, 0, 1).astype(np.float32)[:, :, None]


def _unpack(packed):
    """A packed array of the page data back to numpy (what the page's inflate does)."""
    raw = zlib.decompress(base64.b64decode(packed["b64"]))
    return np.frombuffer(raw, dtype=np.dtype(packed["dtype"]).newbyteorder("<")).reshape(
        packed["shape"])


def _dequantise(entry):
    """An 8-bit map entry back to values (C, H, W), as the page reads it."""
    q = _unpack(entry["q"]).astype(np.float64)
    lo, hi = np.array(entry["lo"])[:, None, None], np.array(entry["hi"])[:, None, None]
    return lo + q / entry["levels"] * (hi - lo)


def _modern_model(seed=3):
    """Not the thesis CNN: 'same' padding, stride 2, BatchNormalization, a standalone ReLU,
    global average pooling."""
    model = Sequential([Input((SIZE, SIZE, 1)),
                        Conv2D(6, 3, strides=2, padding="same", use_bias=False),
                        BatchNormalization(), ReLU(), MaxPooling2D(2),
                        Conv2D(5, 3, padding="same", activation="relu"),
                        GlobalAveragePooling2D(), Dense(2, activation="softmax")], seed=seed)
    model.build()
    bn = model.layers[1]                        # non-trivial moving statistics
    bn.state["moving_mean"][:] = np.linspace(-0.1, 0.1, 6)
    bn.state["moving_variance"][:] = np.linspace(0.5, 2.0, 6)
    return model


@pytest.fixture(scope="module")
def thesis():
    model = thesis_cnn((SIZE, SIZE, 1), 2, seed=1)
    model.build()
    return model


INFO = {"threshold": 0.5, "class_names": ["NORMAL", "PNEUMONIA"], "source": "test",
        "untrained": True}


# -- the numbers ----------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["thesis", "modern"])
def test_formula_z_equals_minicnns_convolution(which, thesis):
    model = thesis if which == "thesis" else _modern_model()
    x = _image(0)
    outputs = explore.forward(model, x)
    convs = [i for i, lay in enumerate(model.layers) if isinstance(lay, Conv2D)]
    for i in convs:
        layer = model.layers[i]
        inputs = x[None] if i == 0 else outputs[i - 1][None]
        z_all = kernels.conv2d_forward(inputs, layer.params["kernel"], layer.bias_or_zeros(),
                                       layer.strides, layer.padding)[0]
        h, w, c = z_all.shape
        for row, col, ch in [(0, 0, 0), (h - 1, w - 1, c - 1), (h // 2, w // 3, c // 2)]:
            f = explore.formula(model, x, layer.name, row, col, ch)
            assert f["z"] == pytest.approx(float(z_all[row, col, ch]), rel=1e-5, abs=1e-6)
            assert f["y"] == float(outputs[i][row, col, ch])
            if layer.activation.name == "relu":
                assert f["y"] == pytest.approx(max(f["z"], 0.0), rel=1e-5, abs=1e-6)
            assert f["window"].shape == layer.kernel_size + (inputs.shape[-1],)
            assert f["partial"].sum() + f["bias"] == pytest.approx(f["z"])


def test_formula_reads_the_padding_as_zeros():
    model = _modern_model()
    last = explore.formula(model, _image(1), 0, 19, 19, 0)   # 'same', stride 2: pad after
    assert np.all(last["window"][2] == 0) and np.all(last["window"][:, 2] == 0)
    assert np.all(last["window"][:2, :2] != 0)
    first = explore.formula(model, _image(1), 4, 0, 0, 1)    # 'same', stride 1: pad before
    assert np.all(first["window"][0] == 0) and np.all(first["window"][:, 0] == 0)
    with pytest.raises(ValueError, match="not a Conv2D"):
        explore.formula(model, _image(1), 1, 0, 0, 0)


def test_gradients_equal_model_backward_and_training_gradients(thesis):
    model, x, label = thesis, _image(2), 1
    grads = explore.loss_gradients(model, x, label)
    probs = model.forward(x[None])
    dz = probs - np.eye(2, dtype=np.float32)[[label]]       # p - y at the logits
    for i in (0, 3, 6):
        direct = model.backward(dz, from_logits=True, start=i + 1)[0]
        scale = np.abs(direct).max()
        np.testing.assert_allclose(grads["layers"][i], direct, rtol=1e-5, atol=1e-6 * scale)
        summary = explore.gradient(model, x, model.layers[i].name, label)
        assert summary == {"shape": list(direct.shape),
                           "min": pytest.approx(float(direct.min()), rel=1e-5),
                           "max": pytest.approx(float(direct.max()), rel=1e-5),
                           "meanAbs": pytest.approx(float(np.abs(direct).mean()), rel=1e-5)}
    np.testing.assert_allclose(grads["layers"][-1], dz[0], rtol=1e-6, atol=1e-7)
    trained = copy.deepcopy(model)
    trained.compile("adam", "sparse_categorical_crossentropy")
    loss, weights = trained.gradients(x[None], np.array([label]))
    assert grads["loss"] == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(grads["kernels"][0][0], weights[0], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(grads["kernels"][6][0], weights[6], rtol=1e-5, atol=1e-8)


def test_adam_step_is_keras_first_step_and_leaves_the_model_alone(thesis):
    before = thesis.get_weights()
    x = _image(3)
    step = explore.adam_step(thesis, x, 0)
    for old, new in zip(before, thesis.get_weights()):
        np.testing.assert_array_equal(old, new)
    grads = explore.loss_gradients(thesis, x, 0)
    dk = grads["kernels"][2][0].astype(np.float64)
    change = step["kernels"][2][0].astype(np.float64) - before[2]
    # Keras's first Adam step: lr * m_hat / (sqrt(v_hat) + eps) with m = 0.1 g, v = 0.001 g^2
    # and the bias correction in the rate: -lr * g / (|g| + eps / sqrt(1 - 0.999))
    expected = -0.001 * dk / (np.abs(dk) + 1e-7 / np.sqrt(0.001))
    np.testing.assert_allclose(change, expected, atol=2e-7)


def test_page_data_holds_minicnns_numbers(thesis):
    images = [("a.jpeg", 0, _image(4)), ("b.jpeg", 1, _image(5))]
    data = explore.page_data(thesis, images, INFO)
    assert [lay["name"] for lay in data["layers"]] == [lay.name for lay in thesis.layers]
    for (_, label, x), entry in zip(images, data["images"]):
        outputs = explore.forward(thesis, x)
        assert entry["probability"] == pytest.approx(float(outputs[-1][1]))
        assert entry["correct"] == (entry["predicted"] == label)
        np.testing.assert_array_equal(_unpack(entry["exact"]["2"]), outputs[1])
        conv = _dequantise(entry["maps"][0]).transpose(1, 2, 0)
        span = outputs[0].max(axis=(0, 1)) - outputs[0].min(axis=(0, 1))
        assert np.all(np.abs(conv - outputs[0]) <= span / 255 * 0.51 + 1e-7)
        assert entry["maps"][1] is None                  # stored exactly, as conv 2's input
        dense = entry["dense"]["8"]
        products = outputs[7][:, None] * thesis.layers[8].params["kernel"]
        top = dense["top"][5]
        assert abs(top[0][1] * top[0][2]) == pytest.approx(np.abs(products[:, 5]).max())
        total = sum(x_ * w for _, x_, w in top) + dense["rest"][5] + data["layers"][8]["bias"][5]
        assert total == pytest.approx(dense["z"][5], rel=1e-4, abs=1e-6)
        own = explore.loss_gradients(thesis, x, 1)
        second = entry["backward"][1]
        assert second["sameAs"] == 0                     # two classes: p - e1 = f (p - e0)
        first = _dequantise(entry["backward"][0]["maps"][2]).transpose(1, 2, 0)
        scale = np.abs(own["layers"][2]).max()
        np.testing.assert_allclose(second["factor"] * first, own["layers"][2],
                                   atol=scale / 127 * 0.51 + 1e-9)
        assert second["summary"][2]["max"] == pytest.approx(float(own["layers"][2].max()))


def test_any_sequential_of_supported_layers_works(tmp_path):
    model = _modern_model()
    data = explore.page_data(model, [("x.png", None, _image(6))], INFO)
    entry = data["images"][0]
    assert entry["label"] is None and entry["correct"] is None
    assert len(entry["backward"]) == 2 and entry["backward"][0]["gradcam"] is not None
    assert explore.write_page(tmp_path / "e.html", data).stat().st_size > 10_000
    sigmoid = Sequential([Input((SIZE, SIZE, 1)), Conv2D(4, 3, activation="relu"),
                          GlobalAveragePooling2D(), Dense(1, activation="sigmoid")], seed=0)
    data = explore.page_data(sigmoid, [("x.png", 1, _image(7))], INFO)
    p = float(sigmoid.predict(_image(7)[None])[0, 0])
    assert data["images"][0]["probability"] == pytest.approx(p)
    assert data["images"][0]["backward"][1]["loss"] == pytest.approx(-np.log(p), rel=1e-5)


# -- bad input ------------------------------------------------------------------------------
def test_a_model_that_cannot_take_the_images_is_a_clear_error():
    rgb = Sequential([Input((SIZE, SIZE, 3)), Conv2D(2, 3), GlobalAveragePooling2D(),
                      Dense(2, activation="softmax")])
    with pytest.raises(ValueError, match=r"expects inputs of shape \(40, 40, 3\).*gray"):
        explore.check_model(rgb)
    logits = Sequential([Input((SIZE, SIZE, 1)), Conv2D(2, 3), GlobalAveragePooling2D(),
                         Dense(2)])
    with pytest.raises(ValueError, match="softmax over 2 or more classes"):
        explore.check_model(logits)


def test_an_undecodable_image_is_skipped_with_a_warning_naming_it(tmp_path):
    data = make_chest_xray(tmp_path / "chest_xray", per_class=1, test_per_class=1)
    good = next((data / "test" / "NORMAL").iterdir())
    bad = tmp_path / "broken.jpeg"
    bad.write_bytes(b"not an image")
    with pytest.warns(UserWarning, match="skipped image .*broken.jpeg"):
        images = explore.read_images([bad, good], (SIZE, SIZE))
    assert [(name, label) for name, label, _ in images] == [(good.name, 0)]
    with pytest.raises(ValueError, match="none of the images"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explore.read_images([bad], (SIZE, SIZE))


def test_pick_takes_a_right_and_a_wrong_image_of_each_class():
    labels = np.array([0, 0, 0, 1, 1, 1])
    right = [True, True, False, False, True, True]
    assert explore._pick(labels, right, 4, prefer_wrong=True) == [0, 4, 2, 3]
    assert explore._pick(labels, right, 4, prefer_wrong=False) == [0, 3, 1, 4]


# -- the command ----------------------------------------------------------------------------
def _parse(argv):
    parser = argparse.ArgumentParser()
    explore.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def chest_xray(tmp_path_factory):
    return make_chest_xray(tmp_path_factory.mktemp("explore-data") / "chest_xray",
                           per_class=1, test_per_class=4)


def test_command_writes_the_page_into_a_run_folder(tmp_path, chest_xray, thesis, capsys):
    run = tmp_path / "run"
    run.mkdir()
    thesis.save(run / "model.npz")
    (run / "config.json").write_text(json.dumps({"status": "done", "threshold": 0.42,
                                                 "settings": {"image_size": SIZE}}))
    assert explore.run(_parse(["--model", str(run), "--data", str(chest_xray)])) == 0
    page = run / explore.PAGE_NAME
    assert f"explore page written to {page}" in capsys.readouterr().out
    markup = page.read_text()
    data = json.loads(markup.split('id="explore-data">', 1)[1].split("</script>", 1)[0])
    assert data["threshold"] == 0.42 and not data["untrained"] and len(data["images"]) == 4
    assert sorted(im["label"] for im in data["images"]) == [0, 0, 1, 1]
    assert "http://" not in markup and "https://" not in markup


def test_command_takes_image_files_and_names_the_ones_it_skips(tmp_path, chest_xray, capsys):
    files = sorted((chest_xray / "test" / "PNEUMONIA").iterdir())[:2]
    bad = tmp_path / "NORMAL" / "broken.jpeg"
    bad.parent.mkdir()
    bad.write_bytes(b"")
    out = tmp_path / "page.html"
    argv = [str(files[0]), str(bad), str(files[1]), "--image-size", str(SIZE),
            "--out", str(out)]
    assert explore.run(_parse(argv)) == 0
    assert f"skipped image {bad}" in capsys.readouterr().err
    data = json.loads(out.read_text().split('id="explore-data">', 1)[1].split("</script>")[0])
    assert [(im["name"], im["label"]) for im in data["images"]] == [(f.name, 1) for f in files]
    assert data["untrained"] and data["inputShape"] == [SIZE, SIZE, 1]


def test_command_errors_exit_2_with_a_message(tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG broken")
    status = explore.run(_parse([str(bad), "--image-size", str(SIZE), "--out",
                                 str(tmp_path / "e.html")]))
    err = capsys.readouterr().err
    assert status == 2 and "none of the images could be decoded" in err
    assert "warning: skipped image" in err and "broken.png" in err
    assert explore.run(_parse(["--model", str(tmp_path / "nothing")])) == 2
    assert "no run folder or model file" in capsys.readouterr().err


@pytest.mark.slow
def test_four_150px_images_of_the_thesis_cnn_stay_under_25_mb(tmp_path):
    """One 150-px X-ray-like image with the untrained thesis CNN costs under 6 MB, so four
    and the shared kernels (0.55 MB) stay under 25 MB (measured on real X-rays: docs)."""
    model, info = explore.open_model(None, 150)
    page = explore.write_page(tmp_path / "one.html",
                              explore.page_data(model, [("x", 0, _image(8, 150))], info))
    assert page.stat().st_size < 6.0e6


# -- in a real browser ----------------------------------------------------------------------
def _browser_missing(reason):
    message = f"{reason}; the explore page's browser tests need chromium and chromedriver"
    if os.environ.get("MINICNN_REQUIRE_BROWSER") == "1":
        pytest.fail(message + " and MINICNN_REQUIRE_BROWSER=1")
    pytest.skip(message)


@pytest.fixture(scope="module")
def driver():
    """A headless Chromium under Selenium, with its console log; skipped without one."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _browser_missing("selenium is not installed")
    exe = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
    chromedriver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
    if exe is None or chromedriver is None:
        _browser_missing("no chromium or chromedriver on PATH (Debian: apt-get install "
                         "chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = exe
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1400,1000"):
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="minicnn-explore-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(chromedriver), options=options)
    yield browser
    browser.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def page(tmp_path_factory, thesis):
    """The page for the 40-px thesis CNN and four images; (path, images, model)."""
    images = [(f"x{k}.jpeg", k % 2, _image(10 + k)) for k in range(4)]
    path = tmp_path_factory.mktemp("explore-page") / "explore.html"
    explore.write_page(path, explore.page_data(thesis, images, INFO))
    return path, images, thesis


def _open(driver, path):
    """Load the page from file:// and wait until its data is inflated; seconds taken."""
    start = time.perf_counter()
    driver.get(path.resolve().as_uri())
    for _ in range(400):
        if driver.execute_script("return document.documentElement.dataset.ready") == "true":
            return time.perf_counter() - start
        time.sleep(0.05)
    raise AssertionError(f"the page did not start: {driver.get_log('browser')}")


def _click_pixel(driver, row, col):
    """Click the centre of pixel (row, col) of the detail panel's enlarged map."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    big = driver.find_element(By.ID, "big-map")
    scale = float(big.get_attribute("data-scale"))
    ratio = big.size["width"] / float(big.get_attribute("width"))   # CSS px per canvas px
    x = (col + 0.5) * scale * ratio - big.size["width"] / 2
    y = (row + 0.5) * scale * ratio - big.size["height"] / 2
    ActionChains(driver).move_to_element_with_offset(big, round(x), round(y)).click().perform()


def _shown_z(driver):
    from selenium.webdriver.common.by import By
    return float(driver.find_element(By.ID, "formula-z").get_attribute("data-value"))


def _minicnn_z(model, x, layer, row, col, channel):
    """z of minicnn's convolution (no activation) at one output pixel."""
    index = [lay.name for lay in model.layers].index(layer)
    inputs = x[None] if index == 0 else model.forward(x[None], keep=True)[index - 1]
    conv = model.layers[index]
    z = kernels.conv2d_forward(inputs, conv.params["kernel"], conv.bias_or_zeros(), conv.strides,
                               conv.padding)
    return float(z[0, row, col, channel])


@pytest.mark.slow
def test_clicking_a_conv_pixel_shows_minicnns_z(driver, page):
    from selenium.webdriver.common.by import By
    path, images, model = page
    _open(driver, path)
    layer = model.layers[2]                                   # the second convolution
    thumbs = driver.find_element(By.CSS_SELECTOR, 'canvas.maps[data-layer="2"]')
    from selenium.webdriver.common.action_chains import ActionChains
    ActionChains(driver).move_to_element_with_offset(
        thumbs, -thumbs.size["width"] // 2 + 5, -thumbs.size["height"] // 2 + 5).click().perform()
    state = driver.execute_script("return minicnnExplore.state")
    assert state["layer"] == 2 and state["map"] == 0
    for row, col in [(3, 4), (10, 2)]:
        _click_pixel(driver, row, col)
        state = driver.execute_script("return minicnnExplore.state")
        assert (state["row"], state["col"]) == (row, col)
        expected = _minicnn_z(model, images[0][2], layer.name, row, col, 0)
        assert _shown_z(driver) == pytest.approx(expected, rel=1e-4, abs=1e-6)
    driver.find_element(By.ID, "step-right").click()
    expected = _minicnn_z(model, images[0][2], layer.name, 10, 3, 0)
    assert _shown_z(driver) == pytest.approx(expected, rel=1e-4, abs=1e-6)
    f = driver.execute_script(f"return minicnnExplore.formula(1, '{layer.name}', 5, 6, 7)")
    assert f["z"] == pytest.approx(_minicnn_z(model, images[1][2], layer.name, 5, 6, 7),
                                   rel=1e-4, abs=1e-6)
    assert driver.get_log("browser") == []


@pytest.mark.slow
def test_switching_image_and_the_backward_view(driver, page):
    from selenium.webdriver.common.by import By
    path, images, model = page
    _open(driver, path)
    listed = driver.execute_script("return minicnnExplore.images()")
    probs = [float(model.predict(x[None])[0, 1]) for _, _, x in images]
    assert [im["probability"] for im in listed] == pytest.approx(probs, rel=1e-6)
    assert [im["label"] for im in listed] == ["NORMAL", "PNEUMONIA"] * 2
    driver.find_element(By.ID, "image-2").click()
    assert driver.execute_script("return minicnnExplore.state.image") == 2
    driver.execute_script("minicnnExplore.select(0, 3)")      # first conv, map 3
    _click_pixel(driver, 7, 9)
    expected = _minicnn_z(model, images[2][2], model.layers[0].name, 7, 9, 3)
    assert _shown_z(driver) == pytest.approx(expected, rel=1e-4, abs=1e-6)
    driver.find_element(By.ID, "mode-backward").click()
    assert driver.find_element(By.ID, "gradcam").is_displayed()
    for name in (model.layers[2].name, model.layers[7].name):
        shown = driver.execute_script(f"return minicnnExplore.gradient(2, '{name}')")
        own = explore.gradient(model, images[2][2], name, images[2][1])
        assert shown["shape"] == own["shape"]
        for key in ("min", "max", "meanAbs"):
            assert shown[key] == pytest.approx(own[key], rel=1e-6)
    assert "dL/d(output)" in driver.find_element(By.ID, "layer-2").text
    assert "One Adam step" in driver.find_element(By.ID, "detail").text
    assert driver.get_log("browser") == []


@pytest.mark.slow
def test_the_page_makes_no_request_and_is_not_blank(driver, page, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By
    path, _, _ = page
    _open(driver, path)
    assert "untrained" in driver.find_element(By.ID, "untrained").text   # INFO says so
    entries = driver.execute_script(
        "return performance.getEntries().map(e => [e.entryType, e.name])")
    assert "content=\"default-src 'none'; script-src 'unsafe-inline'" in path.read_text()
    assert [e for e in entries if e[0] == "resource"] == []
    assert all(not name.startswith("http") for _, name in entries)
    shot = tmp_path / "explore.png"
    driver.save_screenshot(str(shot))
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("RGB")).astype(np.int16)
    assert pixels.std() > 20 and (np.ptp(pixels, axis=2) > 60).mean() > 0.01
    assert driver.get_log("browser") == []


@pytest.mark.slow
def test_a_modern_model_page_opens_without_errors(driver, tmp_path):
    data = explore.page_data(_modern_model(), [("x.png", 1, _image(20))], INFO)
    path = explore.write_page(tmp_path / "modern.html", data)
    _open(driver, path)
    driver.execute_script("minicnnExplore.setMode('backward')")
    for i in range(len(data["layers"])):
        driver.execute_script(f"minicnnExplore.select({i}, 0)")
    driver.execute_script("minicnnExplore.setMode('forward')")
    for i in range(len(data["layers"])):
        driver.execute_script(f"minicnnExplore.select({i}, 0)")
    assert driver.get_log("browser") == []
