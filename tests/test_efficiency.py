"""The arithmetic behind the benchmark's efficiency tables (FLOP counts, ceilings, bounds)."""
import pytest

from minicnn import efficiency
from minicnn.models import thesis_cnn


def built_thesis_cnn(size=150):
    model = thesis_cnn((size, size, 1), 2)
    model.build()
    return model


def test_layer_flops_are_direct_convolution_counts():
    layers = built_thesis_cnn().layers
    # conv2d: 148 x 148 outputs, 64 filters, a 3x3x1 window; first layer: no dx
    assert efficiency.layer_flops(layers[0], 2, first=True) == (2 * 2 * 148 * 148 * 64 * 9,) * 2
    # conv2d_1 on 74x74x64: 72 x 72 outputs, a 3x3x64 window; backward = dkernel + dx
    conv1 = 2 * 3 * 72 * 72 * 64 * 9 * 64
    assert efficiency.layer_flops(layers[2], 3) == (conv1, 2 * conv1)
    assert efficiency.layer_flops(layers[8], 1) == (2 * 14400 * 64, 4 * 14400 * 64)  # dense
    assert efficiency.layer_flops(layers[1], 5) == (0, 0)                          # pooling


def test_the_thesis_cnn_costs_half_a_gigaflop_per_image_forward():
    predict, train = efficiency.model_flops(built_thesis_cnn(), 1)
    convs = [148 * 148 * 9, 72 * 72 * 576 * 64, 34 * 34 * 576 * 64, 15 * 15 * 576 * 64]
    forward = 2 * 64 * sum(convs[:1]) + 2 * sum(convs[1:]) + 2 * (14400 * 64 + 64 * 2)
    assert predict == forward and predict == pytest.approx(0.511e9, rel=0.01)
    assert train == 3 * forward - 2 * 64 * convs[0]           # no dx for the first layer
    assert efficiency.model_flops(built_thesis_cnn(), 32)[0] == 32 * forward


def test_ceilings_divide_the_work_by_the_median_time(monkeypatch):
    monkeypatch.setattr(efficiency, "median_seconds", lambda run, repeats: 0.5)
    assert efficiency.sgemm_gflops((64, 32, 16)) == pytest.approx(2 * 64 * 32 * 16 / 0.5 / 1e9)
    assert efficiency.copy_gb_per_s(megabytes=4) == pytest.approx(2 * 4 * 2**20 / 0.5 / 1e9)


def test_the_median_of_the_timed_runs_is_taken_after_a_warm_up(monkeypatch):
    clock = iter([0.0, 1.0, 10.0, 13.0, 20.0, 22.0])         # runs of 1, 3 and 2 seconds
    monkeypatch.setattr(efficiency.time, "perf_counter", lambda: next(clock))
    calls = []
    assert efficiency.median_seconds(lambda: calls.append(1), 3) == 2.0
    assert len(calls) == 4                                    # the warm-up is not timed


def test_roofline_bound_is_the_slower_of_memory_and_compute():
    assert efficiency.roofline_ms(flops=2e9, nbytes=1e9, gflops=100, gb_per_s=10) == 100.0
    assert efficiency.roofline_ms(flops=2e9, nbytes=1e8, gflops=100, gb_per_s=10) == 20.0


def test_first_block_bytes_count_the_input_the_output_and_one_argmax_byte():
    x, pooled = 32 * 150 * 150 * 4, 32 * 74 * 74 * 64
    assert efficiency.first_block_bytes(32, 150) == (x + 5 * pooled, x + 5 * pooled)
