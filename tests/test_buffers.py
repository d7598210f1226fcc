"""The arrays a model's calls reuse from step to step (minicnn.kernels.buffers): an array is
handed out again only when nothing refers to it, nothing is reused outside a model's call,
and training with reuse gives the same weights, bit for bit, as training without."""
import copy
import pickle
import weakref

import numpy as np
import pytest

from minicnn import backend
from minicnn.kernels import buffers, winograd
from minicnn.models import thesis_cnn

BIG = (512, 512)                     # 1 MiB of float32: above POOLED_FROM_BYTES


def address(array):
    return array.__array_interface__["data"][0]


def test_outside_a_call_nothing_keeps_an_array():
    assert buffers.active() is None
    a = buffers.empty(BIG)
    alive = weakref.ref(a)
    del a
    assert alive() is None                      # no pool held it: freed at once
    with buffers.Buffers().reusing():
        a = buffers.empty(BIG)
        alive = weakref.ref(a)
        del a
        assert alive() is not None              # inside a call the pool keeps it


def test_an_array_is_handed_out_again_only_when_nothing_refers_to_it():
    pool = buffers.Buffers()
    with pool.reusing():
        a = buffers.empty(BIG)
        where = address(a)
        b = buffers.empty(BIG)                  # a is held: another array
        assert address(b) != where
        view = a[1:]
        del a
        c = buffers.empty(BIG)                  # a view still refers to a
        assert address(c) != where
        del view
        d = buffers.empty(BIG)                  # now nothing does
        assert address(d) == where
        e = buffers.zeros(BIG)                  # a fresh array or a reused one, all zeros
        assert not e.any()
    assert pool.nbytes == 4 * 512 * 512 * 4


def test_small_arrays_are_left_to_malloc_and_other_shapes_are_let_go_after_the_call():
    pool = buffers.Buffers()
    with pool.reusing():
        buffers.empty((8, 8))
        buffers.empty(BIG)
        buffers.empty((1024, 1024))
    assert pool.nbytes == (512 * 512 + 1024 * 1024) * 4
    with pool.reusing():
        buffers.empty(BIG)
    assert pool.nbytes == 512 * 512 * 4         # the (1024, 1024) one was not asked for


def test_a_nested_call_keeps_the_outer_buffers_and_stock_reuses_nothing(monkeypatch):
    outer, inner = buffers.Buffers(), buffers.Buffers()
    with outer.reusing(), inner.reusing():
        assert buffers.active() is outer
    assert buffers.active() is None
    monkeypatch.setenv("MINICNN_RUNTIME", "stock")
    with outer.reusing():
        assert buffers.active() is None


def test_a_copied_or_pickled_model_starts_with_empty_buffers():
    pool = buffers.Buffers()
    with pool.reusing():
        buffers.empty(BIG)
    assert pool.nbytes > 0
    assert copy.deepcopy(pool).nbytes == 0
    assert pickle.loads(pickle.dumps(pool)).nbytes == 0


def test_worker_threads_take_their_scratch_from_the_callers_buffers():
    rng = np.random.default_rng(0)
    xp = rng.standard_normal((8, 34, 34, 16)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 16, 32)).astype(np.float32)
    pool = buffers.Buffers()
    with pool.reusing():
        y = winograd.winograd_conv3x3(xp, kernel, np.zeros(32, np.float32), m=4)
    shapes = {shape for shape, _ in pool._held}
    assert shapes == {y.shape, (36, 256, 16), (36, 256, 32)}   # y, the workers' v and mm


def _train(monkeypatch, pooled_from, **architecture):
    monkeypatch.setattr(buffers, "POOLED_FROM_BYTES", pooled_from)
    model = thesis_cnn(input_shape=(40, 40, 1), seed=3, **architecture)
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    rng = np.random.default_rng(1)
    x = rng.random((40, 40, 40, 1), dtype=np.float32)
    y = rng.integers(0, 2, 40)
    history = model.fit(x, y, batch_size=16, epochs=2, validation_data=(x[:8], y[:8]),
                        verbose=0, seed=0)
    model.train_on_batch(x[:16], y[:16])
    return model, history.history, model.predict(x, batch_size=16)


@pytest.mark.parametrize("architecture", [{}, {"batch_norm": True, "global_pool": True}],
                         ids=["thesis", "batch-norm-global-pool"])
def test_training_with_reuse_gives_the_same_weights_bit_for_bit(monkeypatch, architecture):
    with backend.using("numba"):          # every array pooled, however small, or none
        plain, plain_history, plain_probs = _train(monkeypatch, 1 << 60, **architecture)
        pooled, pooled_history, pooled_probs = _train(monkeypatch, 0, **architecture)
    assert plain.buffers.nbytes == 0 and pooled.buffers.nbytes > 0
    assert pooled_history == plain_history
    np.testing.assert_array_equal(pooled_probs, plain_probs)
    for a, b in zip(plain.get_weights(), pooled.get_weights()):
        np.testing.assert_array_equal(a, b)
