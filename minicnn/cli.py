"""The ``minicnn`` command line (also ``python -m minicnn``)."""
import argparse
import sys
import time

import numpy as np


def _summary(args):
    from .models import thesis_cnn
    thesis_cnn(input_shape=(args.image_size, args.image_size, 1)).summary()


def _demo(args):
    """The thesis CNN's table, then one forward/backward/Adam step on real X-rays."""
    from .data import find_data_dir, load_image_folder
    from .models import thesis_cnn

    model = thesis_cnn(seed=args.seed)
    model.summary()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    try:
        root = find_data_dir(args.data) / "train"
        data = load_image_folder(root, image_size=150, limit_per_class=args.per_class)
        x, y, source = data.x, data.y, f"{len(data.y)} X-rays from {root}"
    except FileNotFoundError as exc:
        print(f"{exc}\nUsing random images instead.", file=sys.stderr)
        rng = np.random.default_rng(args.seed)
        x = rng.random((2 * args.per_class, 150, 150, 1), dtype=np.float32)
        y, source = np.arange(len(x)) % 2, f"{len(x)} random images"
    print(f"\nOne training step on {source} (backend {__import__('minicnn').get_backend()}):")
    start = time.perf_counter()
    loss, grads = model.gradients(x, y)
    elapsed = time.perf_counter() - start
    print(f"  loss {loss:.4f} (ln 2 = {np.log(2):.4f} for a two-class guess), "
          f"forward+backward {elapsed:.2f} s")
    names = [f"{layer.name}.{key}" for layer in model.layers for key in layer.params]
    for name, g in zip(names, grads):
        print(f"  |dL/d {name:<18}| = {np.linalg.norm(g):.3e}   shape {g.shape}")
    for step in range(1, args.steps + 1):
        loss, acc = model.train_on_batch(x, y)
        print(f"  Adam step {step}: loss {loss:.4f}, accuracy {acc:.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="minicnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("summary", help="print the thesis CNN's layer table")
    p.add_argument("--image-size", type=int, default=150)
    p.set_defaults(run=_summary)
    p = sub.add_parser("demo", help="the thesis CNN's table and a few training steps on X-rays")
    p.add_argument("--data", help="chest_xray folder (default: $MINICNN_DATA, ./data/chest_xray, "
                                  "../shared/data/chest_xray)")
    p.add_argument("--per-class", type=int, default=4, help="images per class (default 4)")
    p.add_argument("--steps", type=int, default=3, help="Adam steps (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError) as exc:
        parser.exit(2, f"minicnn {args.command}: error: {exc}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
