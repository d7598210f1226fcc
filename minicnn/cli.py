"""The ``minicnn`` command line (also ``python -m minicnn``)."""
import argparse
import sys
import time

import numpy as np

from .bench import add_arguments as bench_arguments


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


def _train(args):
    from .pipeline import settings_for, train_run
    settings = settings_for(args.preset, epochs=args.epochs, image_size=args.image_size,
                            batch_size=args.batch_size, seed=args.seed, data=args.data,
                            out=args.out, augment=args.augment, class_weight=args.class_weight,
                            train_per_class=args.train_per_class, patience=args.patience)
    train_run(settings, command=args.command_line)


def _evaluate(args):
    from .pipeline import evaluate_run
    evaluate_run(args.model, data=args.data)


def _predict(args):
    from .pipeline import predict_images
    results, info = predict_images(args.model, args.images)
    print(f"threshold {info['threshold']:.3f}, {info['image_size']} px; "
          f"P(pneumonia) and label per image:")
    width = max(len(r["path"]) for r in results)
    failed = 0
    for r in results:
        if r["error"] is None:
            print(f"{r['path']:<{width}}  {r['probability']:.4f}  {r['label']}")
        else:
            failed += 1
            print(f"minicnn predict: error: {r['path']}: {r['error']}", file=sys.stderr)
    if failed:
        print(f"minicnn predict: {failed} of {len(results)} image(s) could not be read",
              file=sys.stderr)
        return 1
    return 0


def _report(args):
    from .report import write_report
    path = write_report(args.run_dir, data_dir=args.data, n_images=args.images)
    print(f"report written to {path}")


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _count(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


DATA_HELP = ("chest_xray folder (default: $MINICNN_DATA, ./data/chest_xray, "
             "../shared/data/chest_xray)")
TRAIN_EPILOG = """presets (every flag overrides its preset's value):
  quick   (default) honest protocol at 48 px: at most 300 training images per class
          (seeded sample), 3 epochs, batch 32, best validation epoch kept (early stopping,
          patience 2), balanced class weights, no augmentation; about 2 minutes on 2 cores
  thesis  the thesis: train 970 normal + 1,041 pneumonia, test 203 + 313 (seeded samples),
          150 px, batch 32, 20 epochs, Adam, validated on the test sample
          (OPTIMISTIC protocol, labelled so in the output)
  full    honest protocol at 150 px: all of train/ minus a patient-grouped 15% validation
          split, augmentation, balanced class weights, early stopping (patience 4, at most
          30 epochs), test/ scored once
Honest protocol: epoch and decision threshold (Youden's J) are chosen on validation only;
test/ is scored once, at 0.5 and at that threshold."""


def _bench(args):
    from .bench import run_from_args
    return run_from_args(args)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="minicnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train the thesis CNN on the X-rays and write a run folder",
                       epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help=DATA_HELP)
    p.add_argument("--preset", choices=("quick", "thesis", "full"), default="quick",
                   help="settings to start from (default quick)")
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--image-size", type=int, help="image side in pixels (at least 38)")
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--seed", type=int, help="seed of the split, samples, weights and "
                                            "shuffling (default 0)")
    p.add_argument("--out", help="run folder (default runs/<preset>-<timestamp>)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random rotation/shift/zoom of training batches")
    p.add_argument("--class-weight", choices=("balanced", "none"))
    p.add_argument("--train-per-class", type=_count, metavar="N",
                   help="at most N training images per class, seeded sample (0 = all)")
    p.add_argument("--patience", type=_count,
                   help="early stopping patience in epochs (validation loss)")
    p.set_defaults(run=_train)

    p = sub.add_parser("evaluate", help="score a trained model on the test/ folder")
    p.add_argument("--model", required=True, metavar="RUN_OR_FILE",
                   help="run folder (uses its threshold) or model file (threshold 0.5)")
    p.add_argument("--data", help=DATA_HELP)
    p.set_defaults(run=_evaluate)

    p = sub.add_parser("predict", help="probability of pneumonia and label for image files")
    p.add_argument("--model", required=True, metavar="RUN_OR_FILE",
                   help="run folder (uses its threshold) or model file (threshold 0.5)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(run=_predict)

    p = sub.add_parser("report", help="write report.html (metrics, plots, test X-rays with "
                                      "Grad-CAM) into a run folder")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder written by minicnn train")
    p.add_argument("--data", help="chest_xray folder for the test images (default: the "
                                  "run's own, then $MINICNN_DATA, ./data/chest_xray, "
                                  "../shared/data/chest_xray)")
    p.add_argument("--images", type=_count, default=8, metavar="N",
                   help="test X-rays to show with Grad-CAM (default 8, 0 = none)")
    p.set_defaults(run=_report)

    p = sub.add_parser("bench", help="time the thesis CNN in minicnn, Keras and PyTorch side "
                                     "by side (see docs/benchmarks.md)")
    bench_arguments(p)
    p.set_defaults(run=_bench)

    p = sub.add_parser("summary", help="print the thesis CNN's layer table")
    p.add_argument("--image-size", type=int, default=150)
    p.set_defaults(run=_summary)
    p = sub.add_parser("demo", help="the thesis CNN's table and a few training steps on X-rays")
    p.add_argument("--data", help=DATA_HELP)
    p.add_argument("--per-class", type=int, default=4, help="images per class (default 4)")
    p.add_argument("--steps", type=int, default=3, help="Adam steps (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_demo)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.command_line = " ".join(["minicnn", *argv])
    try:
        status = args.run(args)
    except (ValueError, FileNotFoundError) as exc:
        parser.exit(2, f"minicnn {args.command}: error: {exc}\n")
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
