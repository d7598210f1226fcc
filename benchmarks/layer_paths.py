"""Time the numba tier's fast paths against the slower way of computing the same thing, one
kernel call at a time (float32, median of --repeats after a warm-up):

- the fused first block (Conv2D 3x3 on one channel + ReLU + 2x2 max-pool) against the
  convolution and the pooling layer's kernels run one after the other, forward and backward
  (backward without dx, as for a first layer);
- the later blocks' pooling with argmax and its unpooling against the pooling kernels
  (backward times ReLU's mask, what the layers do);
- for the thesis CNN's 64-channel layers, im2col + BLAS against Winograd (F(4x4) forward,
  F(2x2) backward: what conv.py uses).

    python benchmarks/layer_paths.py [--repeats 7]

Numbers for docs/benchmarks.md ("what each lever gave"). The process applies
``minicnn.runtime.configure()`` as the ``minicnn`` command does.
"""
import argparse
import json

import numpy as np

from minicnn import bench, kernels, runtime
from minicnn.efficiency import median_seconds
from minicnn.kernels import conv, fused


def ms(run, repeats):
    return 1e3 * median_seconds(run, repeats)


def first_block(rng, repeats, batch=32, size=150):
    x = rng.random((batch, size, size, 1), dtype=np.float32)
    kernel = (rng.standard_normal((3, 3, 1, 64)) * 0.3).astype(np.float32)
    bias = np.zeros(64, np.float32)
    y, argmax = fused.conv_relu_maxpool_forward(x, kernel, bias)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    z = kernels.conv2d_forward(x, kernel, bias, relu=True)

    def layers_backward():
        dz = kernels.maxpool2d_backward(z, dy, 2) * (z > 0)
        kernels.conv2d_backward(x, kernel, dz, need_dx=False)
    return {
        "fused forward": ms(lambda: fused.conv_relu_maxpool_forward(x, kernel, bias), repeats),
        "layers forward": ms(lambda: kernels.maxpool2d_forward(
            kernels.conv2d_forward(x, kernel, bias, relu=True), 2), repeats),
        "fused backward": ms(lambda: fused.conv_relu_maxpool_kernel_grad(x, argmax, dy, (3, 3)),
                             repeats),
        "layers backward": ms(layers_backward, repeats)}


def pooling(rng, repeats, shape=(32, 72, 72, 64)):
    z = np.maximum(rng.standard_normal(shape), 0).astype(np.float32)
    y, argmax = fused.relu_maxpool(z)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    return {
        "pool with argmax": ms(lambda: fused.relu_maxpool(z), repeats),
        "pooling layer forward": ms(lambda: kernels.maxpool2d_forward(z, 2), repeats),
        "unpool": ms(lambda: fused.unpool_gradient(argmax, dy, shape[1:3]), repeats),
        "pooling layer backward x ReLU mask": ms(
            lambda: kernels.maxpool2d_backward(z, dy, 2) * (z > 0), repeats)}


CONV_CASES = [(32, 74), (32, 36), (32, 17), (8, 74), (8, 36), (8, 17), (32, 31), (32, 14),
              (32, 6)]                     # (batch, input side): conv2d_1..3 at 150/64 px


def conv_paths(rng, repeats):
    rows, chosen = [], conv._WINOGRAD_MIN_TILES
    for n, side in CONV_CASES:
        x = rng.standard_normal((n, side, side, 64)).astype(np.float32)
        kernel = (rng.standard_normal((3, 3, 64, 64)) * 0.05).astype(np.float32)
        bias, ho = np.zeros(64, np.float32), side - 2
        dy = rng.standard_normal((n, ho, ho, 64)).astype(np.float32)
        row = {"batch": n, "side": side, "tiles": n * (-(-ho // 4)) ** 2}
        for label, min_tiles in (("im2col", 10**12), ("winograd", 0)):
            conv._WINOGRAD_MIN_TILES = min_tiles
            row[label] = [ms(lambda: conv._forward_numba(x, kernel, bias, 1, 1, ho, ho, True),
                             repeats),
                          ms(lambda: conv._backward_numba(x, kernel, dy, 1, 1, True), repeats)]
        rows.append(row)
    conv._WINOGRAD_MIN_TILES = chosen
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    runtime.configure()
    machine = bench.machine()
    print(f"{machine['cpu']}, {machine['cores']} cores; {json.dumps(machine['code'])}; "
          f"OPENBLAS_CORETYPE={machine['env']['OPENBLAS_CORETYPE']}, median of "
          f"{args.repeats}, ms")
    rng = np.random.default_rng(0)
    for title, timings in (("first block, batch 32, 150 px", first_block(rng, args.repeats)),
                           ("pooling of conv2d_1's map (32, 72, 72, 64)",
                            pooling(rng, args.repeats))):
        print(f"\n{title}:")
        for name, value in timings.items():
            print(f"  {name:36s} {value:8.2f}")
    print("\n| layer (batch, input side, tiles) | im2col fwd / bwd ms | Winograd fwd / bwd ms |")
    print("|---|---|---|")
    for r in conv_paths(rng, args.repeats):
        print(f"| ({r['batch']}, {r['side']}, {r['tiles']}) | {r['im2col'][0]:.2f} / "
              f"{r['im2col'][1]:.2f} | {r['winograd'][0]:.2f} / {r['winograd'][1]:.2f} |")


if __name__ == "__main__":
    main()
