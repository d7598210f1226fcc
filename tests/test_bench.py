"""The benchmark runs end to end on tiny sizes (timings themselves are not tested here)."""
import json

import pytest

from minicnn import bench


def test_tiny_benchmark_writes_json_markdown_and_per_layer_times(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nprose kept\n\n{bench.MARK_BEGIN}\nold table\n"
                   f"{bench.MARK_END}\n"
                   "\nafter\n")
    report = bench.run(["minicnn"], [2], [40], 2, tmp_path / "out", doc, start_times=False,
                       tiers=False, stock=False, progress=lambda *a: None)
    run, plain = report["runs"]
    assert plain["system"] == bench.PLAIN and plain["train_images_per_s"] > 0
    assert plain["runtime_configured"] == [] and run["runtime_configured"]
    assert "layers" not in plain and "| minicnn, plain script | 2 | 40 |" in bench.markdown(report)
    assert (run["system"], run["batch"], run["image_size"]) == ("minicnn", 2, 40)
    assert run["train_images_per_s"] > 0 and run["predict_images_per_s"] > 0
    assert run["peak_memory_mb"] > 10 and len(run["train_step_s"]) == 2
    assert run["versions"]["numba"] and run["threads"]["backend"] == "numba"
    steps = run["layers"]                      # ten layers; each conv + pool pair is one step
    assert [s["name"] for s in steps[:3]] == ["conv2d+max_pooling2d",
                                             "conv2d_1+max_pooling2d_1", "conv2d_2+max_pooling2d_2"]
    assert [i for s in steps for i in s["layers"]] == list(range(10))
    assert all(s["forward_ms"] > 0 and s["backward_ms"] >= 0 for s in steps)
    assert run["ceilings"]["sgemm_gflops"] > 0 and run["ceilings"]["copy_gb_per_s"] > 0
    saved = json.loads((tmp_path / "out" / "latest.json").read_text())
    assert saved["runs"][0]["train_images_per_s"] == run["train_images_per_s"]
    text = doc.read_text()
    assert "prose kept" in text and "after" in text and "old table" not in text
    assert text.count(bench.MARK_BEGIN) == 1 and "| minicnn | 2 | 40 |" in text
    assert "| - | - |" in text                       # no Keras run, so no ratio
    assert "| conv2d+max_pooling2d |" in text and "train / sgemm" in text
    assert "The fused first block against its roofline bound" in text
    assert "NumPy's BLAS: " in text and "kernels)" in text and "Numba compiles for " in text


def test_a_worker_runs_the_tier_named_by_minicnn_backend():
    r = bench.run_in_process("minicnn", 1, 40, 1, env={"MINICNN_BACKEND": "numpy"})
    assert r["threads"]["backend"] == "numpy"


def test_a_failing_worker_reports_its_error():
    with pytest.raises(RuntimeError, match="minicnn benchmark failed"):
        bench.run_in_process("minicnn", 2, 20, 1)     # 20 px is too small for the thesis CNN


@pytest.mark.slow
@pytest.mark.keras
def test_keras_runs_beside_minicnn_and_gets_a_ratio(tmp_path):
    report = bench.run(["minicnn", "keras"], [2], [40], 1, tmp_path, start_times=False,
                       tiers=False, stock=False, progress=lambda *a: None)
    assert [r["system"] for r in report["runs"]] == ["minicnn", bench.PLAIN, "keras"]
    assert "tensorflow" in report["runs"][2]["versions"]
    table = bench.markdown(report)
    assert table.count("x |") >= 2 and "| keras | 2 | 40 |" in table
    keras_layers = report["runs"][2]["layers"]
    assert len(keras_layers) == 10 and all(t["forward_ms"] > 0 for t in keras_layers)
    fused_row = next(line for line in table.splitlines() if line.startswith("| conv2d+max"))
    assert "- | - | - | -" not in fused_row          # Keras's two layers, summed


def test_stock_runs_do_not_inherit_minicnn_process_settings(monkeypatch):
    seen = {}

    def launch(cmd, env, **kwargs):               # stands in for subprocess.run
        seen.update(env)
        raise KeyboardInterrupt

    monkeypatch.setattr(bench.subprocess, "run", launch)
    monkeypatch.delenv("MINICNN_RUNTIME", raising=False)
    for system, env in (("keras", None), ("minicnn", {"MINICNN_RUNTIME": "stock"})):
        seen.clear()
        with pytest.raises(KeyboardInterrupt):
            bench.run_in_process(system, 1, 40, 1, env=env)
        assert seen["MINICNN_RUNTIME"] == "stock", system
    seen.clear()                                  # the plain script: configure() not called
    with pytest.raises(KeyboardInterrupt):
        bench.run_in_process("minicnn", 1, 40, 1, plain=True)
    assert "MINICNN_RUNTIME" not in seen


def test_minicnn_bench_command_runs_the_same_benchmark(tmp_path, capsys):
    from minicnn.cli import main
    assert main(["bench", "--systems", "minicnn", "--batch-sizes", "2", "--image-sizes", "40",
                 "--repeats", "1", "--no-tiers", "--no-start-times", "--no-stock",
                 "--no-plain", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| minicnn | 2 | 40 |" in out and "plain script" not in out
    assert (tmp_path / "latest.json").exists() and (tmp_path / "latest.md").exists()
