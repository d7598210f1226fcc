"""Side-by-side speed and memory of the thesis CNN in minicnn, Keras and PyTorch.

    minicnn bench [--systems minicnn keras torch] [--batch-sizes 8 32 128]
                  [--image-sizes 64 150 224] [--repeats 5] [--out benchmarks/results]

Every measurement runs in a fresh process, one system after another, so each starts cold and
peak memory is its own. In each process: build the model, one warm-up step (Numba's
compilation or cache load, TensorFlow's tracing) timed and reported on its own, then
``repeats`` timed ``train_on_batch`` calls on one random batch of the real size, then as many
timed predictions. Reported: medians as images/s, peak resident memory, and the time from
launching the process to its first finished training step. ``ratio`` is minicnn / Keras.
minicnn runs twice per size: as the ``minicnn`` command runs it (``runtime.configure()``) and
as a plain script that calls nothing ("minicnn, plain script"), one process after the other.
"""
import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

from . import __version__, efficiency, logs, runtime
from .backend import get_backend
from .fusion import forward_steps
from .models import thesis_cnn
from .validation import int_argument

# Keras (TensorFlow) and PyTorch are imported inside the functions that use them, in the
# benchmark's child processes only: they are optional, and each takes seconds to import.

SYSTEMS = ("minicnn", "keras", "torch")
PLAIN = "minicnn, plain script"           # minicnn without runtime.configure()
THESIS_CONFIG = (32, 150)                # the thesis's batch and image size
TIER_CONFIG = (4, 64)                    # batch, image size for the tier comparison
OPENBLAS_SETTINGS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
MARK_BEGIN, MARK_END = "<!-- bench:begin -->", "<!-- bench:end -->"
log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- the models
def _minicnn_model(size, seed):
    model = thesis_cnn((size, size, 1), 2, seed=seed)
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    return model, model.train_on_batch, model.predict


def _keras_model(size, seed):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    keras.utils.set_random_seed(seed)
    conv = [keras.layers.Conv2D(64, 3, activation="relu") for _ in range(4)]
    model = keras.Sequential([
        keras.Input((size, size, 1)),
        conv[0], keras.layers.MaxPooling2D(2), conv[1], keras.layers.MaxPooling2D(2),
        conv[2], keras.layers.MaxPooling2D(2), conv[3], keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, model.train_on_batch, model.predict_on_batch


def _torch_model(size, seed):
    import torch
    torch.manual_seed(seed)
    layers, side = [], size
    for i in range(4):
        layers += [torch.nn.Conv2d(1 if i == 0 else 64, 64, 3), torch.nn.ReLU()]
        side -= 2
        if i < 3:
            layers.append(torch.nn.MaxPool2d(2))
            side //= 2
    model = torch.nn.Sequential(*layers, torch.nn.Flatten(), torch.nn.Linear(64 * side * side, 64),
                                torch.nn.ReLU(), torch.nn.Linear(64, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()

    def as_tensor(x):                     # channels last -> PyTorch's (N, C, H, W)
        return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()

    def train(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(as_tensor(x)), torch.from_numpy(y))
        loss.backward()
        optimizer.step()
        return float(loss)

    def predict(x):
        with torch.no_grad():
            return torch.softmax(model(as_tensor(x)), 1).numpy()
    return model, train, predict


def _minicnn_layer_times(model, x, repeats):
    """Per step of a minicnn model (a layer, or a fused pair such as conv2d+max_pooling2d):
    its layer indices and median forward and backward milliseconds on the batch x
    (N, H, W, 1), backpropagating a constant gradient (no dx for the first layer)."""
    steps = forward_steps(model.layers)
    times = [([], []) for _ in steps]
    for _ in range(repeats):
        h = x
        for (_, step), (forward, _) in zip(steps, times):
            start = time.perf_counter()
            h = step.forward(h, training=True)
            forward.append(time.perf_counter() - start)
        grad = np.full(h.shape, 1.0 / h.size, h.dtype)
        for (i, step), (_, backward) in reversed(list(zip(steps, times))):
            start = time.perf_counter()
            grad = step.backward(grad, i > 0)
            backward.append(time.perf_counter() - start)
    return [{"name": step.name, "layers": [i + k for k in range(len(_step_layers(step)))],
             "forward_ms": 1e3 * float(np.median(f)), "backward_ms": 1e3 * float(np.median(b))}
            for (i, step), (f, b) in zip(steps, times)]


def _step_layers(step):
    return getattr(step, "layers", (step,))


def _keras_layer_times(model, x, repeats):
    """Median forward and backward milliseconds of each Keras layer, each pass compiled
    with ``tf.function`` on the layer's real input (no dx for the first layer)."""
    import tensorflow as tf

    def timed(fn, *args):                     # the warm-up call also traces the function
        return 1e3 * efficiency.median_seconds(lambda: fn(*args), repeats)

    rows, h = [], tf.constant(x)
    for i, layer in enumerate(model.layers):
        def backward(t, g, layer=layer, first=i == 0):
            with tf.GradientTape() as tape:
                tape.watch(t)
                y = layer(t, training=True)
            sources = layer.trainable_weights + ([] if first else [t])
            return tape.gradient(y, sources, output_gradients=g) if sources else g
        forward = tf.function(lambda t, layer=layer: layer(t, training=True))
        y = forward(h)
        grad = tf.ones_like(y) / float(np.prod(y.shape))
        rows.append({"name": layer.name, "forward_ms": timed(forward, h),
                     "backward_ms": timed(tf.function(backward), h, grad)})
        h = y
    return rows


# ---------------------------------------------------------------------------- one process
def worker(system, batch, size, repeats, launched_at, layer_times=False, seed=0):
    """Run inside the child process; returns the measurements as a dict."""
    build = {"minicnn": _minicnn_model, "keras": _keras_model, "torch": _torch_model}[system]
    rng = np.random.default_rng(seed)
    x = rng.random((batch, size, size, 1), dtype=np.float32)
    y = rng.integers(0, 2, batch)
    model, train, predict = build(size, seed)
    start = time.perf_counter()
    train(x, y)
    warmup = time.perf_counter() - start
    first_step = time.time() - launched_at
    steps = []
    for _ in range(repeats):
        start = time.perf_counter()
        train(x, y)
        steps.append(time.perf_counter() - start)
    predict(x)
    predictions = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(x)
        predictions.append(time.perf_counter() - start)
    result = {
        "system": system, "batch": batch, "image_size": size, "repeats": repeats,
        "train_images_per_s": batch / float(np.median(steps)),
        "predict_images_per_s": batch / float(np.median(predictions)),
        "train_step_s": [round(t, 4) for t in steps],
        "warmup_step_s": warmup, "launch_to_first_step_s": first_step,
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "versions": _versions(system), "threads": _threads(system),
        "runtime_configured": list(runtime.APPLIED),
    }
    if layer_times:
        timer = {"minicnn": _minicnn_layer_times, "keras": _keras_layer_times}.get(system)
        result["layers"] = timer(model, x, repeats) if timer else None
        result["ceilings"] = efficiency.ceilings()
    return result


def _versions(system):
    out = {"python": platform.python_version(), "numpy": np.__version__}
    if system == "minicnn":
        out.update(minicnn=__version__, numba=numba.__version__)
    elif system == "keras":
        import keras
        import tensorflow as tf
        out.update(keras=keras.__version__, tensorflow=tf.__version__)
    else:
        import torch
        out.update(torch=torch.__version__)
    return out


def _threads(system):
    if system == "minicnn":
        return {"numba": numba.get_num_threads(), "backend": get_backend()}
    if system == "keras":
        import tensorflow as tf
        return {"tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads() or "auto",
                "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads() or "auto"}
    import torch
    return {"torch": torch.get_num_threads()}


def run_in_process(system, batch, size, repeats, env=None, layer_times=False,
                   unset_openblas=False, plain=False):
    """One measurement in a fresh ``python -m minicnn.bench --worker`` process; ``plain``:
    minicnn as a script that does not call ``runtime.configure()`` runs it."""
    env = {**os.environ, **(env or {})}
    if unset_openblas:
        for name in OPENBLAS_SETTINGS:
            env.pop(name, None)
    if system != "minicnn":                 # the others run without minicnn's process settings
        env["MINICNN_RUNTIME"] = "stock"
    cmd = [sys.executable, "-m", "minicnn.bench", "--worker", system, str(batch), str(size),
           str(repeats), repr(time.time())] + (["--layer-times"] if layer_times else [])
    if plain:
        cmd.append("--plain")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{system} benchmark failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "system": PLAIN} if plain else result


def installed(system):
    """True when the system's package can be imported (checked in a child process)."""
    if system == "minicnn":
        return True
    module = {"keras": "keras", "torch": "torch"}[system]
    probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
    return probe.returncode == 0


# ---------------------------------------------------------------------------- the report
def machine():
    """Machine, CPU and environment facts printed beside every table."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "code": compiled_for(),
            "env": {k: os.environ.get(k) for k in (
                "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MINICNN_RUNTIME")}}


def compiled_for():
    """What the machine's code runs on: OpenBLAS's kernel family for NumPy's products
    (threadpoolctl) and the CPU Numba compiles for, with its widest vector extension."""
    from llvmlite import binding
    from threadpoolctl import threadpool_info
    features = binding.get_host_cpu_features()
    vectors = next((name for name in ("avx512f", "avx2", "sse4.2") if features.get(name)), "?")
    blas = [f"{info['internal_api']} {info.get('version')} ({info.get('architecture')} kernels)"
            for info in threadpool_info() if info["user_api"] == "blas"]
    return {"blas": ", ".join(blas) or "unknown",
            "numba_target": f"{binding.get_host_cpu_name()} ({vectors})"}


def markdown(report):
    """The results as Markdown tables (ratios are minicnn / Keras)."""
    rows = report["runs"]
    keras = {(r["batch"], r["image_size"]): r for r in rows if r["system"] == "keras"}
    lines = ["| system | batch | image | train img/s | predict img/s | peak MB | warm-up s "
             "| launch to 1st step s | train ratio | predict ratio |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        k = keras.get((r["batch"], r["image_size"]))
        ratios = (f"{r['train_images_per_s'] / k['train_images_per_s']:.2f}x | "
                  f"{r['predict_images_per_s'] / k['predict_images_per_s']:.2f}x"
                  if k else "- | -")
        lines.append(f"| {r['system']} | {r['batch']} | {r['image_size']} | "
                     f"{r['train_images_per_s']:.1f} | {r['predict_images_per_s']:.1f} | "
                     f"{r['peak_memory_mb']:.0f} | {r['warmup_step_s']:.2f} | "
                     f"{r['launch_to_first_step_s']:.2f} | {ratios} |")
    for label, r in report.get("start", {}).items():
        lines.append(f"\nminicnn launch to first finished step, Numba cache {label}: "
                     f"{r['launch_to_first_step_s']:.2f} s "
                     f"(warm-up step {r['warmup_step_s']:.2f} s)")
    if report.get("stock"):
        r = report["stock"]
        lines.append(f"\nminicnn with MINICNN_RUNTIME=stock (none of runtime.configure()'s "
                     f"settings, BLAS not limited during its calls: spinning threads, memory "
                     f"unmapped), batch {r['batch']}, "
                     f"{r['image_size']} px: train {r['train_images_per_s']:.1f} img/s, predict "
                     f"{r['predict_images_per_s']:.1f} img/s, peak {r['peak_memory_mb']:.0f} MB")
    if report.get("tiers"):
        batch, size = TIER_CONFIG
        lines += [f"\nminicnn kernel tiers, thesis CNN, batch {batch}, {size} px:\n",
                  "| tier | train step s | predict s |", "|---|---|---|"]
        lines += [f"| {tier} | {batch / r['train_images_per_s']:.3f} | "
                  f"{batch / r['predict_images_per_s']:.3f} |"
                  for tier, r in report["tiers"].items()]
    return "\n".join(lines + _efficiency_tables(report))


def _efficiency_tables(report):
    """Effective GFLOPS against the machine's sgemm, per run and per step (see
    ``minicnn.efficiency``), and the first block against its roofline bound."""
    layered = {r["system"]: r for r in report["runs"] if r.get("layers")}
    mine = layered.get("minicnn")
    if not mine:
        return []
    ceiling, bandwidth = mine["ceilings"]["sgemm_gflops"], mine["ceilings"]["copy_gb_per_s"]
    m, k, n = mine["ceilings"]["sgemm_shape"]
    lines = [f"\nThis machine's ceilings (measured in the minicnn process): sgemm "
             f"({m}x{k})@({k}x{n}) {ceiling:.0f} GFLOPS; copy {bandwidth:.1f} GB/s (read + "
             "write). FLOPs are direct-convolution counts.\n",
             "| system | batch | image | train GFLOPS | train / sgemm | predict GFLOPS "
             "| predict / sgemm |", "|---|---|---|---|---|---|---|"]
    for r in report["runs"]:
        predict, train = efficiency.model_flops(_counting_model(r["image_size"]), r["batch"])
        g_train = train * r["train_images_per_s"] / r["batch"] / 1e9
        g_predict = predict * r["predict_images_per_s"] / r["batch"] / 1e9
        lines.append(f"| {r['system']} | {r['batch']} | {r['image_size']} | {g_train:.0f} | "
                     f"{g_train / ceiling:.2f}x | {g_predict:.0f} | {g_predict / ceiling:.2f}x |")
    return lines + _step_table(mine, layered.get("keras"), ceiling, bandwidth)


def _counting_model(size):
    model = thesis_cnn((size, size, 1), 2)
    model.build()
    return model


def _step_table(mine, keras, ceiling, bandwidth):
    layers = _counting_model(mine["image_size"]).layers
    batch = mine["batch"]
    lines = [f"\nPer step, batch {batch}, {mine['image_size']} px: median ms, effective "
             "GFLOPS and percent of the sgemm ceiling; Keras's layers timed the same way "
             "(each pass a `tf.function`).\n",
             "| step | fwd ms | fwd GFLOPS | fwd % | bwd ms | bwd GFLOPS | bwd % | Keras fwd ms "
             "| Keras bwd ms | Keras fwd GFLOPS | Keras bwd GFLOPS |", "|---" * 11 + "|"]

    def rate(flops, ms):
        return flops / ms / 1e6 if flops and ms > 0 else 0.0
    for step in mine["layers"]:
        fwd, bwd = map(sum, zip(*(efficiency.layer_flops(layers[i], batch, i == 0)
                                  for i in step["layers"])))
        theirs = [keras["layers"][i] for i in step["layers"]] if keras else []
        k_fwd = sum(t["forward_ms"] for t in theirs)
        k_bwd = sum(t["backward_ms"] for t in theirs)
        g_fwd, g_bwd = rate(fwd, step["forward_ms"]), rate(bwd, step["backward_ms"])
        keras_cells = (f"{k_fwd:.1f} | {k_bwd:.1f} | {rate(fwd, k_fwd):.0f} | "
                       f"{rate(bwd, k_bwd):.0f}" if keras else "- | - | - | -")
        lines.append(f"| {step['name']} | {step['forward_ms']:.1f} | {g_fwd:.0f} | "
                     f"{100 * g_fwd / ceiling:.0f} | {step['backward_ms']:.1f} | {g_bwd:.0f} | "
                     f"{100 * g_bwd / ceiling:.0f} | {keras_cells} |")
    return lines + _first_block_lines(mine, layers, ceiling, bandwidth)


def _first_block_lines(mine, layers, ceiling, bandwidth):
    block = mine["layers"][0]
    if len(block["layers"]) != 2:
        return []
    batch = mine["batch"]
    flops = efficiency.layer_flops(layers[0], batch, first=True)
    nbytes = efficiency.first_block_bytes(batch, mine["image_size"], layers[0].filters,
                                          layers[0].kernel_size[0])
    lines = ["\nThe fused first block against its roofline bound (max of memory time and "
             "compute time):\n", "| pass | measured ms | bound ms | measured / bound |",
             "|---|---|---|---|"]
    for label, key, f, b in (("forward", "forward_ms", flops[0], nbytes[0]),
                             ("backward", "backward_ms", flops[1], nbytes[1])):
        bound = efficiency.roofline_ms(f, b, ceiling, bandwidth)
        lines.append(f"| {label} | {block[key]:.1f} | {bound:.1f} | {block[key] / bound:.1f}x |")
    return lines


def write_markdown_section(path, text, header):
    """Replace the text between the bench markers in ``path`` (appended when absent)."""
    path = Path(path)
    block = f"{MARK_BEGIN}\n{header}\n\n{text}\n{MARK_END}"
    old = path.read_text() if path.exists() else ""
    if MARK_BEGIN in old and MARK_END in old:
        new = old[:old.index(MARK_BEGIN)] + block + old[old.index(MARK_END) + len(MARK_END):]
    else:
        new = old + ("\n" if old else "") + block + "\n"
    path.write_text(new)


def _minicnn_extras(report, main, repeats, unset_openblas, start_times, tiers, stock,
                    progress):
    """The kernel tiers, the cold and warm start and the stock process, into ``report``."""
    if tiers:                                 # the three kernel tiers on one small batch
        for tier in ("naive", "numpy", "numba"):
            r = run_in_process("minicnn", *TIER_CONFIG, 1 if tier == "naive" else repeats,
                               env={"MINICNN_BACKEND": tier}, unset_openblas=unset_openblas)
            report["tiers"][tier] = r
            step = TIER_CONFIG[0] / r["train_images_per_s"]
            progress(f"minicnn tier {tier:>5}: train step {step:.3f} s")
    if start_times:                           # cold: an empty Numba cache; warm: refilled
        with tempfile.TemporaryDirectory() as cold_cache:
            for label in ("cold", "warm"):
                report["start"][label] = run_in_process(
                    "minicnn", *main, 1, env={"NUMBA_CACHE_DIR": cold_cache},
                    unset_openblas=unset_openblas)
                progress(f"minicnn start, Numba cache {label}: first step after "
                         f"{report['start'][label]['launch_to_first_step_s']:.2f} s")
    if stock:                                 # what minicnn's two process settings are worth
        report["stock"] = run_in_process("minicnn", *main, repeats,
                                         env={"MINICNN_RUNTIME": "stock"},
                                         unset_openblas=unset_openblas)
        progress(f"minicnn without its process settings: train "
                 f"{report['stock']['train_images_per_s']:.1f} img/s")


def run(systems, batch_sizes, image_sizes, repeats, out_dir, markdown_path=None,
        unset_openblas=False, start_times=True, tiers=True, stock=True, progress=print,
        plain=True):
    """The whole benchmark; returns the report dict and writes JSON (and Markdown);
    ``plain``: a plain-script minicnn row beside each configured one."""
    for system in [s for s in systems if not installed(s)]:
        progress(f"{system}: not installed, skipped")
        systems = [s for s in systems if s != system]
    configs = [(b, 150 if 150 in image_sizes else image_sizes[0]) for b in batch_sizes]
    configs += [(32 if 32 in batch_sizes else batch_sizes[0], s) for s in image_sizes]
    configs = list(dict.fromkeys(configs))
    main = THESIS_CONFIG if THESIS_CONFIG in configs else configs[0]   # timed per layer too
    report = {"command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "runs": [],
              "start": {}, "tiers": {},
              "openblas_settings": "unset" if unset_openblas else "as set"}
    if unset_openblas:
        report["machine"]["env"].update(dict.fromkeys(OPENBLAS_SETTINGS, "(unset)"))
    for batch, size in configs:
        for system in systems:
            layer_times = (batch, size) == main
            ways = [False, True] if plain and system == "minicnn" else [False]
            for way in ways:
                r = run_in_process(system, batch, size, repeats, layer_times=layer_times and
                                   not way, unset_openblas=unset_openblas, plain=way)
                report["runs"].append(r)
                progress(f"{r['system']:>7} batch {batch:>3} {size:>3} px: train "
                         f"{r['train_images_per_s']:7.1f} img/s, predict "
                         f"{r['predict_images_per_s']:7.1f} img/s, peak "
                         f"{r['peak_memory_mb']:.0f} MB")
    if "minicnn" in systems:
        _minicnn_extras(report, main, repeats, unset_openblas, start_times, tiers, stock,
                        progress)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "latest.json").write_text(json.dumps(report, indent=1))
    table = markdown(report)
    (out_dir / "latest.md").write_text(table + "\n")
    if markdown_path:
        m = report["machine"]
        header = (f"Measured {report['date']} with `{report['command']}` on {m['cpu']}, "
                  f"{m['cores']} cores; NumPy's BLAS: {m['code']['blas']}; Numba compiles "
                  f"for {m['code']['numba_target']}; environment {json.dumps(m['env'])}.")
        write_markdown_section(markdown_path, table, header)
    return report


def main(argv=None):
    """``minicnn bench`` as a program of its own (``python -m minicnn.bench``)."""
    runtime.configure()                   # this process is the benchmark's own
    parser = argparse.ArgumentParser(prog="minicnn bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    with logs.to_stderr():
        return run_from_args(args)


def add_arguments(parser):
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS),
                        help="the frameworks to time (default: all; a missing one is skipped)")
    parser.add_argument("--batch-sizes", nargs="+", type=int_argument(1), default=[8, 32, 128],
                        help="batch sizes to time (default: 8 32 128)")
    parser.add_argument("--image-sizes", nargs="+", type=int_argument(1), default=[64, 150, 224],
                        help="square image sides S in pixels to time (default: 64 150 224)")
    parser.add_argument("--repeats", type=int_argument(1), default=5,
                        help="timed steps per measurement (at least 1; default 5)")
    parser.add_argument("--out", default="benchmarks/results", help="folder for latest.json/.md")
    parser.add_argument("--unset-openblas", action="store_true",
                        help="run every process with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset")
    parser.add_argument("--no-tiers", dest="tiers", action="store_false",
                        help="skip the naive / numpy / numba comparison")
    parser.add_argument("--no-plain", dest="plain", action="store_false",
                        help="skip minicnn as a plain script (without runtime.configure())")
    parser.add_argument("--no-stock", dest="stock", action="store_false",
                        help="skip the run without minicnn's process settings")
    parser.add_argument("--no-start-times", dest="start_times", action="store_false",
                        help="skip the cold and warm Numba-cache start measurements")
    parser.add_argument("--markdown", help="also write the tables into this Markdown file "
                                           "(between the bench markers)")


def run_from_args(args):
    report = run(args.systems, args.batch_sizes, args.image_sizes, args.repeats, args.out,
                 args.markdown, args.unset_openblas, args.start_times, args.tiers, args.stock,
                 progress=log.info, plain=args.plain)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        if "--plain" not in sys.argv:
            runtime.configure()           # a measuring process is the benchmark's own
        _, _, system, batch, size, repeats, launched = sys.argv[:7]
        print(json.dumps(worker(system, int(batch), int(size), int(repeats), float(launched),
                                "--layer-times" in sys.argv)))
    else:
        sys.exit(main())
