"""DeepFool (advsal.attacks.deepfool): against the Adversarial Robustness Toolbox's
DeepFool on the same model and images, and on the 8-bit grid."""
import numpy as np

from advsal.attacks import craft, deepfool, predict


def _l2(a, b):
    return np.sqrt(((a - b) ** 2).reshape(len(a), -1).sum(1))


def test_deepfool_matches_art(trained_f, attack_batch):
    import tensorflow as tf
    from art.attacks.evasion import DeepFool
    from art.estimators.classification import TensorFlowV2Classifier

    x = attack_batch[0][:16]
    pred = predict(trained_f, x).argmax(1)
    ours = deepfool(trained_f, x, steps=50, overshoot=0.02).numpy()
    clf = TensorFlowV2Classifier(
        trained_f, nb_classes=10, input_shape=x.shape[1:], clip_values=(0.0, 1.0),
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    theirs = DeepFool(clf, max_iter=50, epsilon=0.02, nb_grads=10, batch_size=16,
                      verbose=False).generate(x)
    fooled = [predict(trained_f, a).argmax(1) != pred for a in (ours, theirs)]
    assert fooled[0].mean() >= 0.9 and abs(fooled[0].mean() - fooled[1].mean()) <= 0.1
    # the same minimal distance (measured: median 1.83 vs ART's 1.85 on 32 images); ART
    # overshoots once at the end, the reference code (and ours) at every iterate
    med = [np.median(_l2(a, x)[f]) for a, f in zip((ours, theirs), fooled)]
    assert 0.85 < med[0] / med[1] < 1.15, med


def test_deepfool_on_the_grid_fools_f_with_8bit_images(trained_f, attack_batch):
    x = attack_batch[0][:16]
    pred = predict(trained_f, x).argmax(1)
    xa, info = craft(trained_f, "deepfool", x, None, {"attack_batch_size": 16}, progress=False)
    assert info == {} and xa.shape == x.shape and 0 <= xa.min() and xa.max() <= 1
    np.testing.assert_allclose(xa * 255, np.rint(xa * 255), atol=1e-3)
    assert (predict(trained_f, xa).argmax(1) != pred).mean() >= 0.9
    # fewer steps can only leave more images unfooled
    short = deepfool(trained_f, x, steps=1, grid=True).numpy()
    assert (predict(trained_f, short).argmax(1) != pred).sum() <= \
        (predict(trained_f, xa).argmax(1) != pred).sum()
