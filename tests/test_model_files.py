"""Model files from elsewhere: read with bounded memory, refused with messages that name the
file, and any number of weight arrays round-trips."""
import io
import json
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import minicnn
from minicnn import layers
from minicnn.validation import ModelFileError


def tiny_model(seed=0):
    return minicnn.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(3, 3, activation="relu"),
                               layers.Flatten(), layers.Dense(2, activation="softmax")],
                              seed=seed)


def saved(tmp_path, model=None, name="m.npz"):
    path = tmp_path / name
    (model or tiny_model()).save(path)
    return path


def rewrite(path, config=None, extra=None, compress_extra=False):
    """Copy a model file, changing its config and/or adding (or replacing) a member."""
    with zipfile.ZipFile(path) as src:
        members = {info.filename: src.read(info) for info in src.infolist()}
    if config is not None:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.array(json.dumps(config)))
        members["__config__.npy"] = buffer.getvalue()
    out = path.with_name("crafted.npz")
    with zipfile.ZipFile(out, "w") as dst:
        for name, data in members.items():
            if extra is None or name != extra[0]:
                dst.writestr(name, data)
        if extra is not None:
            kind = zipfile.ZIP_DEFLATED if compress_extra else zipfile.ZIP_STORED
            dst.writestr(extra[0], extra[1], compress_type=kind)
    return out


def config_of(path):
    with zipfile.ZipFile(path) as archive, archive.open("__config__.npy") as f:
        return json.loads(str(np.lib.format.read_array(f)))


def peak_rss_mb_loading(path):
    """Load ``path`` in a subprocess limited to 6 GiB of address space; returns (exit code,
    stderr, peak RSS in MB). Importing minicnn alone peaks at about 100 MB."""
    code = textwrap.dedent(f"""
        import re, sys
        import minicnn
        try:
            minicnn.load_model({str(path)!r})
        except ValueError as exc:
            print(type(exc).__name__, exc, file=sys.stderr)
        status = open("/proc/self/status").read()          # VmHWM: this process's peak RSS
        print(int(re.search(r"VmHWM:\\s+(\\d+)", status).group(1)) // 1024)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, preexec_fn=_limit_memory)
    return proc.returncode, proc.stderr, int(proc.stdout.strip() or -1)


def _limit_memory():
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))       # NumPy/Numba need ~3 GB VM


def test_huge_declared_units_are_refused_before_anything_is_allocated(tmp_path):
    path = saved(tmp_path)
    config = config_of(path)
    config["model"]["layers"][2]["config"]["units"] = 4_000_000       # a 48 x 4e6 kernel
    crafted = rewrite(path, config)
    with pytest.raises(ModelFileError, match=r"crafted.npz.*dense.*kernel.*shape \(48, 2\) "
                                             r"where the model needs \(48, 4000000\)"):
        minicnn.load_model(crafted)
    code, err, peak = peak_rss_mb_loading(crafted)
    assert code == 0 and "ModelFileError" in err, err
    assert peak < 300, f"peak RSS {peak} MB while refusing a 4e8-weight declaration"


@pytest.mark.parametrize("member", ["weight_4.npy", "weight_2.npy"])       # extra, replaced
def test_a_compressed_member_is_refused_without_decompressing(tmp_path, member):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (48, 2)})
    bomb = header.getvalue() + b"\0" * (200 << 20)                # 200 MB of zeros, ~200 KB
    crafted = rewrite(saved(tmp_path), extra=(member, bomb), compress_extra=True)
    assert crafted.stat().st_size < 2 << 20
    with pytest.raises(ModelFileError, match="crafted.npz"):
        minicnn.load_model(crafted)
    code, err, peak = peak_rss_mb_loading(crafted)
    assert code == 0 and "ModelFileError" in err, err
    assert peak < 300, f"peak RSS {peak} MB while refusing a compressed member"


@pytest.mark.parametrize("member, words", [
    ("notes.txt", "unexpected member 'notes.txt'"),
    ("weight_7.npy", "not numbered 0..4"),
])
def test_unexpected_members_are_named(tmp_path, member, words):
    crafted = rewrite(saved(tmp_path), extra=(member, b"x"))
    with pytest.raises(ModelFileError, match=words):
        minicnn.load_model(crafted)


def test_a_member_whose_size_does_not_match_its_header_is_refused(tmp_path):
    path = saved(tmp_path)
    with zipfile.ZipFile(path) as src:
        members = {info.filename: src.read(info) for info in src.infolist()}
    members["weight_0.npy"] += b"\0" * 64                             # header says 27 floats
    out = tmp_path / "padded.npz"
    with zipfile.ZipFile(out, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)
    with pytest.raises(ModelFileError, match="declares .* bytes for an array of 108 bytes"):
        minicnn.load_model(out)


@pytest.mark.parametrize("content, words", [
    (b"\x00\x01random bytes, not a zip" * 10, "not a complete minicnn model file"),
    (b"", "not a complete minicnn model file"),
])
def test_other_files_name_the_file_and_never_mention_pickle(tmp_path, content, words):
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=words) as info:
        minicnn.load_model(path)
    assert str(path) in str(info.value) and "pickle" not in str(info.value)


@pytest.mark.parametrize("edit, words", [
    (lambda c: c["model"]["layers"][0].update({"class": "Conv3D"}), "unknown layer class"),
    (lambda c: c["model"]["layers"][0]["config"].update({"filters": "many"}), "filters"),
    (lambda c: c["model"].pop("layers"), "layers"),
    (lambda c: c.update({"format": "other-1"}), "format 'other-1'"),
])
def test_malformed_architectures_are_model_file_errors(tmp_path, edit, words):
    path = saved(tmp_path)
    config = config_of(path)
    edit(config)
    with pytest.raises(ModelFileError, match=words):
        minicnn.load_model(rewrite(path, config))


def test_more_than_a_thousand_weight_arrays_load_back_in_order(tmp_path):
    model = minicnn.Sequential([layers.Input((2,))] +
                               [layers.Dense(2) for _ in range(520)], seed=0)     # 1,040 arrays
    model.build()
    weights = [np.full(w.shape, i, np.float32) for i, w in enumerate(model.get_weights())]
    model.set_weights(weights)
    loaded = minicnn.load_model(saved(tmp_path, model))
    for i, w in enumerate(loaded.get_weights()):
        assert np.all(w == i), i


def test_older_files_with_zero_padded_names_still_load(tmp_path):
    path = saved(tmp_path)
    with zipfile.ZipFile(path) as src:
        members = {info.filename: src.read(info) for info in src.infolist()}
    old = tmp_path / "old.npz"
    with zipfile.ZipFile(old, "w") as dst:
        for name, data in members.items():
            stem = name.removesuffix(".npy").removeprefix("weight_")
            dst.writestr(f"weight_{int(stem):03d}.npy" if stem.isdigit() else name, data)
    for a, b in zip(minicnn.load_model(old).get_weights(), tiny_model().get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_float64_model_stays_float64(tmp_path):
    model = minicnn.Sequential([layers.Input((3,)), layers.Dense(2, dtype="float64")], seed=0)
    loaded = minicnn.load_model(saved(tmp_path, model))
    assert loaded.layers[0].dtype == np.float64
    assert all(w.dtype == np.float64 for w in loaded.get_weights())
