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
def test_four_150px_images_of_the_thesis_cnn_stay_under_30_mb(tmp_path):
    """One 150-px X-ray-like image with the untrained thesis CNN costs under 6 MB and the
    weights, shared by all images (every kernel: the page's own forward pass needs them),
    under 5.5 MB, so four images stay under 30 MB (measured on real X-rays: docs)."""
    model, info = explore.open_model(None, 150)
    data = explore.page_data(model, [("x", 0, _image(8, 150))], info)
    page = explore.write_page(tmp_path / "one.html", data)
    weights = len(json.dumps(data["layers"], separators=(",", ":")))
    assert weights < 5.5e6
    assert page.stat().st_size - weights < 6.0e6


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
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", big)
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


# -- issue 24: formula first, checks, legends, phone, keyboard ------------------------------
def _state(driver):
    return driver.execute_script("return minicnnExplore.state")


def _detail_text(driver):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.ID, "detail").text


def _table(driver, table_id):
    """The numbers of a table of the detail panel, as a list of rows."""
    return driver.execute_script(
        "return [...document.getElementById(arguments[0]).rows].map("
        "r => [...r.cells].map(c => Number(c.textContent)))", table_id)


def test_the_first_conv_opens_on_the_window_table(driver, page):
    path, images, model = page
    _open(driver, path)
    state = _state(driver)
    assert (state["layer"], state["map"], state["inChannel"]) == (0, 0, 0)
    row, col = state["row"], state["col"]                   # valid conv: window at (row, col)
    x = images[0][2][row:row + 3, col:col + 3, 0]
    np.testing.assert_allclose(_table(driver, "window-x"), x, atol=5e-5)
    kernel = model.layers[0].params["kernel"][:, :, 0, 0]
    np.testing.assert_allclose(_table(driver, "window-w"), kernel, atol=5e-5)
    np.testing.assert_allclose(_table(driver, "window-products"), x * kernel, atol=5e-5)
    assert "Step 2" in _detail_text(driver)
    assert _shown_z(driver) == pytest.approx(
        _minicnn_z(model, images[0][2], model.layers[0].name, row, col, 0), rel=1e-4, abs=1e-6)
    assert driver.get_log("browser") == []


def test_the_input_channel_resets_when_the_layer_changes(driver, page):
    """Input channel 27 on conv2d_1, then a map of conv2d (1 input channel): no "n/a"."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    path, _, model = page
    _open(driver, path)
    driver.execute_script("minicnnExplore.select(2, 3)")
    Select(driver.find_element(By.ID, "in-channel")).select_by_value("27")
    assert _state(driver)["inChannel"] == 27 and "w[:, :, 27, 3]" in _detail_text(driver)
    for mode in ("forward", "backward"):
        driver.execute_script(f"minicnnExplore.setMode('{mode}')")
        driver.execute_script("minicnnExplore.select(2, 3)")
        Select(driver.find_element(By.ID, "in-channel")).select_by_value("27")
        thumbs = driver.find_element(By.ID, "maps-0")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", thumbs)
        from selenium.webdriver.common.action_chains import ActionChains
        ActionChains(driver).move_to_element_with_offset(
            thumbs, -thumbs.size["width"] // 2 + 10, -thumbs.size["height"] // 2 + 10
        ).click().perform()
        state = _state(driver)
        assert (state["layer"], state["inChannel"]) == (0, 0)
        text = _detail_text(driver)
        assert "n/a" not in text and "[:, :, 0, 0]" in text
    driver.execute_script("minicnnExplore.setMode('forward')")
    assert driver.get_log("browser") == []


def test_clicking_a_thumbnail_or_the_x_ray_selects_the_pixel_under_the_pointer(driver, page):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    path, _, model = page
    _open(driver, path)
    for layer, (row, col) in [(0, (30, 7)), (-1, (12, 33))]:
        canvas = driver.find_element(By.ID, f"maps-{layer}")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
        h, w = (38, 38) if layer == 0 else (40, 40)
        size = driver.execute_script("return arguments[0].layout.size", canvas)
        ratio = canvas.size["width"] / float(canvas.get_attribute("width"))
        x = ((col + 0.5) / w * size) * ratio - canvas.size["width"] / 2
        y = ((row + 0.5) / h * size) * ratio - canvas.size["height"] / 2
        ActionChains(driver).move_to_element_with_offset(canvas, round(x), round(y)).click() \
            .perform()
        state = _state(driver)
        assert (state["layer"], state["map"], state["row"], state["col"]) == (layer, 0, row, col)


def test_the_console_api_throws_a_range_error_naming_the_bad_argument(driver, page):
    path, _, model = page
    _open(driver, path)
    conv = model.layers[2].name
    cases = [
        ("formula(4, 0, 1, 1, 0)", "image must be an integer from 0 to 3, got 4"),
        ("formula(-1, 0, 1, 1, 0)", "image must be"),
        ("formula(0, 'nope', 1, 1, 0)", "layer must be a layer name"),
        ("formula(0, 10, 1, 1, 0)", "layer must be an integer from 0 to 9, got 10"),
        ("formula(0, 1, 1, 1, 0)", "layer must be a Conv2D"),
        ("formula(0, 0, 100, 1, 0)", "row must be an integer from 0 to 37, got 100"),
        ("formula(0, 0, 1, 38, 0)", "col must be an integer from 0 to 37, got 38"),
        ("formula(0, 0, 1.5, 1, 0)", "row must be"),
        (f"formula(0, '{conv}', 1, 1, 64)", "channel must be an integer from 0 to 63, got 64"),
        ("gradient(9, 2)", "image must be"),
        ("gradient(0, 2, 2)", "cls must be an integer from 0 to 1, got 2"),
        ("gradient(0, 'nope')", "layer must be a layer name"),
        ("setImage(4)", "image must be"),
        ("select(0, 64)", "map must be an integer from 0 to 63, got 64"),
        ("select(0, 0, 38, 0)", "row must be"),
        ("select(12, 0)", "layer must be"),
        ("setMode('sideways')", "mode must be"),
    ]
    for call, message in cases:
        error = driver.execute_script(
            "try { minicnnExplore." + call + "; return null; } "
            "catch (e) { return [e.name, e.message]; }")
        assert error is not None, call
        assert error[0] == "RangeError" and message in error[1], (call, error)
    f = driver.execute_script("return minicnnExplore.formula(0, 0, 37, 37, 63)")
    assert np.isfinite(f["z"])


def test_legends_give_the_map_or_the_layer_range(driver, page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    path, images, model = page
    _open(driver, path)
    driver.execute_script("minicnnExplore.select(0, 5)")
    out = explore.forward(model, images[0][2])[0]

    def legend():
        lo = driver.find_element(By.CSS_SELECTOR, "#detail .legend .lo").text
        hi = driver.find_element(By.CSS_SELECTOR, "#detail .legend .hi").text
        return float(lo), float(hi)

    assert legend() == pytest.approx((out[:, :, 5].min(), out[:, :, 5].max()), abs=6e-5)
    Select(driver.find_element(By.ID, "range-select")).select_by_value("layer")
    assert legend() == pytest.approx((out.min(), out.max()), abs=6e-5)
    row = driver.find_element(By.CSS_SELECTOR, "#layer-0 .legend")
    assert [float(row.find_element(By.CLASS_NAME, k).text) for k in ("lo", "hi")] == \
        pytest.approx((out.min(), out.max()), abs=6e-5)
    Select(driver.find_element(By.ID, "range-select")).select_by_value("map")


def test_the_selection_is_marked_and_the_x_ray_is_gray(driver, page):
    path, _, _ = page
    _open(driver, path)
    driver.execute_script("minicnnExplore.select(0, 17)")
    pixel = ("const c = document.getElementById(arguments[0]);"
             "return [...c.getContext('2d').getImageData(arguments[1], arguments[2], 1, 1)"
             ".data].slice(0, 3)")
    t = driver.execute_script("return document.getElementById('maps-0').layout")
    x, y = (17 % t["cols"]) * t["step"], (17 // t["cols"]) * t["step"]
    assert driver.execute_script(pixel, "maps-0", x, y + t["size"] // 2) == [255, 0, 255]
    other = (3 % t["cols"]) * t["step"]
    assert driver.execute_script(pixel, "maps-0", other, t["size"] // 2) != [255, 0, 255]
    gray = driver.execute_script(
        "const c = document.getElementById('maps--1');"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let p = 0; p < d.length; p += 4) n += d[p] !== d[p + 1] || "
        "d[p] !== d[p + 2]; return n")
    assert gray == 0
    # The readbacks above are the test's own: Chromium warns about them, nothing else.
    assert [e for e in driver.get_log("browser") if "readback" not in e["message"]] == []


def test_the_backward_view_says_p_minus_y_and_names_a_dead_filter(driver, tmp_path, thesis):
    """A filter with a bias of -100 is dead; an image without a label is taken with its
    predicted label and says so."""
    from selenium.webdriver.common.by import By
    model = copy.deepcopy(thesis)
    model.layers[2].params["bias"][4] = -100.0
    x = _image(30)
    data = explore.page_data(model, [("own.png", None, x)], INFO)
    path = explore.write_page(tmp_path / "dead.html", data)
    _open(driver, path)
    driver.execute_script("minicnnExplore.setMode('backward')")
    driver.execute_script("minicnnExplore.select(2, 4)")
    said = driver.find_element(By.ID, "filter-state").text
    assert "dead" in said and "0 of these 9 weights move" in _detail_text(driver)
    assert "predicted label" in _detail_text(driver)
    driver.execute_script("minicnnExplore.select(2, 5)")
    assert not driver.find_elements(By.ID, "filter-state")
    last = len(model.layers) - 1
    driver.execute_script(f"minicnnExplore.select({last}, 0, 0, 0)")
    probs = explore.forward(model, x)[-1].astype(np.float64)
    label = int(np.argmax(probs))                   # the prediction at threshold 0.5
    expected = probs - np.eye(2)[label]
    shown = _table(driver, "softmax-gradient")[1:]
    np.testing.assert_allclose([r[3] for r in shown], expected, atol=1e-6)
    np.testing.assert_allclose([r[4] for r in shown], expected, atol=1e-6)
    assert "dL/dz = p \u2212 y" in _detail_text(driver)
    assert driver.get_log("browser") == []


def test_tab_reaches_the_image_cards_and_the_maps_and_arrows_move_the_pixel(driver, page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    path, _, _ = page
    _open(driver, path)
    body = driver.find_element(By.TAG_NAME, "body")
    body.click()
    reached = []
    from selenium.webdriver.common.action_chains import ActionChains
    for _ in range(40):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        reached.append(driver.switch_to.active_element.get_attribute("id"))
    assert {f"image-{k}" for k in range(4)} <= set(reached)
    assert {"maps--1", "maps-0", "maps-2"} <= set(reached)
    driver.find_element(By.ID, "image-1").send_keys(Keys.ENTER)
    assert _state(driver)["image"] == 1
    assert driver.switch_to.active_element.get_attribute("id") == "image-1"
    big = driver.find_element(By.ID, "big-map")
    driver.execute_script("arguments[0].focus()", big)
    before = _state(driver)
    driver.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    driver.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
    after = _state(driver)
    assert (after["row"], after["col"]) == (before["row"] + 1, before["col"] + 1)
    assert driver.switch_to.active_element.get_attribute("id") == "big-map"
    labels = driver.execute_script(
        "return [...document.querySelectorAll('canvas')].filter(c => c.isConnected && "
        "c.offsetParent).map(c => c.getAttribute('aria-label') || "
        "c.getAttribute('aria-hidden'))")
    assert labels and all(labels)
    assert driver.find_element(By.ID, "detail-summary").get_attribute("aria-live") == "polite"


def _contrast(fg, bg):
    def lum(rgb):
        c = np.array(rgb[:3]) / 255
        c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    hi, lo = sorted([lum(fg), lum(bg)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


TEXT_COLOURS = """
const rgb = (s) => s.match(/[\\d.]+/g).map(Number);
function background(el) {
  for (; el; el = el.parentElement) {
    const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
  }
  return [255, 255, 255];
}
const out = [];
for (const el of document.querySelectorAll('body *')) {
  const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own || !el.offsetParent) continue;
  out.push([el.tagName + '.' + el.className, rgb(getComputedStyle(el).color).slice(0, 3),
            background(el)]);
}
return out;
"""


@pytest.mark.parametrize("size", [(1400, 900), (390, 844)])
def test_desktop_and_phone_sizes(driver, page, tmp_path, size):
    """No horizontal scrolling, text contrast of at least 4.5:1, at 390 px tap targets of at
    least 40 px, and a screenshot that is not blank."""
    from PIL import Image
    from selenium.webdriver.common.by import By
    path, _, _ = page
    driver.set_window_rect(width=size[0], height=size[1])
    try:
        _open(driver, path)
        for mode in ("forward", "backward"):
            driver.execute_script(f"minicnnExplore.setMode('{mode}')")
            for layer in (-1, 0, 7, 8, 9):
                driver.execute_script(f"minicnnExplore.select({layer}, 0)")
                assert driver.execute_script(
                    "return document.documentElement.scrollWidth <= innerWidth"), (mode, layer)
            low = [(what, fg, bg) for what, fg, bg in driver.execute_script(TEXT_COLOURS)
                   if _contrast(fg, bg) < 4.5]
            assert low == []
        if size[0] < 600:
            small = driver.execute_script(
                "return [...document.querySelectorAll('#controls button, #controls select, "
                "#detail button, #detail select, #detail input, .image-card, .add-box input')]"
                ".filter(e => e.offsetParent && e.getBoundingClientRect().height < 40)"
                ".map(e => e.id)")
            assert small == []
        driver.execute_script("minicnnExplore.setMode('forward'); minicnnExplore.select(0, 0)")
        shot = tmp_path / "explore.png"
        driver.save_screenshot(str(shot))
        with Image.open(shot) as im:
            assert im.size[0] == size[0] or im.size[0] >= size[0] - 20
            pixels = np.asarray(im.convert("RGB")).astype(np.int16)
        assert pixels.std() > 20 and (np.ptp(pixels, axis=2) > 60).mean() > 0.005
        assert driver.find_element(By.ID, "detail").is_displayed()
        assert driver.get_log("browser") == []
    finally:
        driver.set_window_rect(width=1400, height=1000)


def _with_biases(model, seed=0):
    """The model with small random biases (untrained ones are 0, which would hide a missing
    bias in the page's forward pass)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if "bias" in layer.params:
            bias = layer.params["bias"]
            bias[:] = rng.normal(0.0, 0.05, bias.shape).astype(bias.dtype)
    return model


def _scaled_thesis(thesis, factor):
    """The thesis CNN with biases and its last kernel scaled, so that probabilities leave
    0.5."""
    model = _with_biases(copy.deepcopy(thesis))
    model.layers[-1].params["kernel"][:] *= factor
    return model


@pytest.mark.parametrize("which", ["thesis", "modern"])
def test_add_image_computes_the_forward_pass_in_the_page(driver, tmp_path, thesis, chest_xray,
                                                         which):
    """addImage on three X-rays: P(pneumonia) as Sequential.predict and z of a conv pixel as
    minicnn's convolution, both to 1e-4; images() lists them; no backward view."""
    from selenium.webdriver.common.by import By
    model = _scaled_thesis(thesis, 40.0) if which == "thesis" else _with_biases(_modern_model())
    files = sorted((chest_xray / "test" / "PNEUMONIA").iterdir())[:1]
    xrays = [x for _, _, x in explore.read_images(files, (SIZE, SIZE))] + [_image(41), _image(42)]
    data = explore.page_data(model, [("x.png", 0, _image(40))], INFO)
    _open(driver, explore.write_page(tmp_path / "add.html", data))
    convs = [i for i, lay in enumerate(model.layers) if isinstance(lay, Conv2D)]
    for n, x in enumerate(xrays):
        index = driver.execute_script(
            "return minicnnExplore.addImage(arguments[0], arguments[1], arguments[2])",
            x[:, :, 0].ravel().tolist(), SIZE, SIZE)
        assert index == n + 1
        listed = driver.execute_script("return minicnnExplore.images()")[index]
        p = model.predict(x[None])[0]
        assert listed["added"] and listed["probability"] == pytest.approx(float(p[1]), abs=1e-4)
        for i in convs:
            h, w, c = model.layers[i].output_shape
            for row, col, ch in [(0, 0, 0), (h - 1, w - 1, c - 1), (h // 2, w // 3, c // 2)]:
                f = driver.execute_script(
                    f"return minicnnExplore.formula({index}, {i}, {row}, {col}, {ch})")
                expected = _minicnn_z(model, x, model.layers[i].name, row, col, ch)
                assert f["z"] == pytest.approx(expected, abs=1e-4)
    driver.execute_script("minicnnExplore.setImage(3); minicnnExplore.setMode('backward')")
    assert "minicnn explore IMAGE" in driver.find_element(By.ID, "detail").text
    assert driver.find_element(By.ID, "no-backward").is_displayed()
    for i in range(len(model.layers)):
        driver.execute_script(f"minicnnExplore.select({i}, 0)")
    driver.execute_script("minicnnExplore.setMode('forward')")
    for i in range(len(model.layers)):
        driver.execute_script(f"minicnnExplore.select({i}, 0)")
    for call, message in [("addImage([0.5], 1, 1)", "height must be 40"),
                          (f"addImage([0.5], {SIZE}, {SIZE})", "pixels must hold"),
                          (f"addImage(new Array({SIZE * SIZE}).fill(2), {SIZE}, {SIZE})",
                           "pixels must be gray values in [0, 1], got 2 at index 0")]:
        error = driver.execute_script("try { minicnnExplore." + call + "; return null; } "
                                      "catch (e) { return [e.name, e.message]; }")
        assert error and error[0] == "RangeError" and message in error[1], (call, error)
    assert driver.get_log("browser") == []


def test_a_chosen_file_is_added_to_the_page(driver, page, chest_xray):
    """The file input: a JPEG from disk becomes a new image card, forward views only."""
    from selenium.webdriver.common.by import By
    path, _, model = page
    _open(driver, path)
    file = sorted((chest_xray / "test" / "NORMAL").iterdir())[0]
    driver.find_element(By.ID, "add-file").send_keys(str(file))
    for _ in range(100):
        if len(driver.execute_script("return minicnnExplore.images()")) == 5:
            break
        time.sleep(0.05)
    listed = driver.execute_script("return minicnnExplore.images()")
    assert len(listed) == 5 and listed[4]["added"] and listed[4]["name"] == file.name
    assert _state(driver)["image"] == 4 and "Added" in driver.find_element(By.ID,
                                                                             "add-status").text
    # The page's resize (the browser's canvas) is not skimage's: close, not equal.
    x = explore.read_images([file], (SIZE, SIZE))[0][2]
    assert listed[4]["probability"] == pytest.approx(float(model.predict(x[None])[0, 1]),
                                                     abs=0.02)
    assert "unknown (added in the page)" in driver.find_element(By.ID, "image-4").text
    assert driver.get_log("browser") == []


def test_the_network_view_joins_the_pixel_to_its_window(driver, page):
    """Desktop: the layers as chips, and lines from the selected pixel to its input window;
    with prefers-reduced-motion the window jumps to its new place, else it slides there."""
    from selenium.webdriver.common.by import By
    path, _, model = page
    _open(driver, path)

    def magenta(rgba):                            # the mark, anti-aliased at its edges
        return rgba[0] > 180 and rgba[1] < 80 and rgba[2] > 180

    read = ("const d = document.getElementById('net-lines').getContext('2d')"
            ".getImageData(arguments[0], arguments[1], 1, 1).data; return [...d];")
    step = "document.getElementById('step-right').click(); " + read
    si = 180 / 19                                   # conv2d_1 reads a 19 x 19 map (40 px)
    edge = (round(7 * si), round(6.5 * si))         # the window's left edge after the step
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
        {"name": "prefers-reduced-motion", "value": "reduce"}]})
    try:
        driver.execute_script("minicnnExplore.select(2, 3, 5, 6)")
        chips = driver.find_elements(By.CSS_SELECTOR, "#network .chip")
        assert len(chips) == len(model.layers) + 1 and "on" in chips[3].get_attribute("class")
        label = driver.find_element(By.ID, "net-lines").get_attribute("aria-label")
        assert (f"pixel (row 5, column 6) of {model.layers[2].name} map 3 reads the window at "
                f"(5, 6)") in label
        assert magenta(driver.execute_script(read, round(6 * si), round(6.5 * si)))
        assert not magenta(driver.execute_script(read, *edge))
        assert magenta(driver.execute_script(step, *edge))            # at once
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    driver.execute_script("minicnnExplore.select(2, 3, 5, 6)")
    assert not magenta(driver.execute_script(step, *edge))        # not yet: it slides
    time.sleep(0.6)
    assert magenta(driver.execute_script(read, *edge))
    driver.execute_script("minicnnExplore.select(7, 0)")                # Flatten: no lines
    assert not driver.find_elements(By.ID, "net-lines")
    assert [e for e in driver.get_log("browser") if "readback" not in e["message"]] == []


def test_a_flatten_entry_is_picked_by_row_column_and_channel_and_hover_says_values(driver,
                                                                                   tmp_path):
    """A small CNN whose Flatten reads (5, 5, 4) maps: the entry typed in by its place, and
    the value under the pointer on a conv thumbnail."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from minicnn.layers import Flatten
    model = Sequential([Input((12, 12, 1)), Conv2D(4, 3, activation="relu"), MaxPooling2D(2),
                        Flatten(), Dense(2, activation="softmax")], seed=2)
    model.build()
    x = _image(50, 12)
    _open(driver, explore.write_page(tmp_path / "flat.html",
                                     explore.page_data(model, [("x.png", 0, x)], INFO)))
    driver.execute_script("minicnnExplore.select(2, 0)")
    driver.execute_script(                                       # type them, then change
        "const box = document.getElementById('flat-pick');"
        "for (const [part, v] of Object.entries(arguments[0]))"
        "  box.querySelector(`input[data-part=${part}]`).value = v;"
        "box.querySelector('input').dispatchEvent(new Event('change', {bubbles: true}))",
        {"row": 3, "column": 1, "channel": 2})
    index = (3 * 5 + 1) * 4 + 2
    assert _state(driver)["col"] == index
    outputs = explore.forward(model, x)
    value = float(driver.find_element(By.ID, "map-value").text)
    assert value == pytest.approx(float(outputs[2][index]), abs=1e-5)
    assert value == pytest.approx(float(outputs[1][3, 1, 2]), abs=1e-5)
    thumbs = driver.find_element(By.ID, "maps-0")               # hover a conv thumbnail
    ActionChains(driver).move_to_element_with_offset(
        thumbs, -thumbs.size["width"] // 2 + 4, -thumbs.size["height"] // 2 + 7).perform()
    title = thumbs.get_attribute("title")
    assert title.startswith("map 0, row 2, column 1: ")          # 30-px thumbnails of 10
    span = float(outputs[0][..., 0].max() - outputs[0][..., 0].min())
    assert float(title.split(": ")[1]) == pytest.approx(float(outputs[0][2, 1, 0]),
                                                        abs=span / 255 + 1e-5)
    assert driver.get_log("browser") == []
