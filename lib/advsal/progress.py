"""Progress bars for every stage longer than a few seconds: a widget in JupyterLab
(``tqdm.auto`` with ipywidgets), plain text lines in a terminal and in papermill's
saved notebooks (the runner sets ``ADVSAL_PROGRESS=text`` for its kernels, whose
output nobody watches live)."""
from __future__ import annotations

import os

__all__ = ["progress_bar", "EpochBar"]


def progress_bar(total, desc, unit="img", enabled=True, leave=True):
    """A tqdm bar: the notebook widget where one can render, else text."""
    if os.environ.get("ADVSAL_PROGRESS") == "text":
        from tqdm import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=leave,
                mininterval=1.0)


def EpochBar(desc, epoch, epochs, steps, enabled=True):
    """A Keras callback showing one epoch's batches: ``desc epoch i/n``, loss, ETA."""
    import keras

    class _Bar(keras.callbacks.Callback):
        def on_epoch_begin(self, _epoch, logs=None):
            self.bar = progress_bar(steps, f"{desc} epoch {epoch + 1}/{epochs}", "batch",
                                    enabled, leave=epoch + 1 == epochs)

        def on_train_batch_end(self, batch, logs=None):
            self.bar.update(1)
            if logs and batch % 20 == 0:
                self.bar.set_postfix(loss=f"{float(logs.get('loss', float('nan'))):.4f}",
                                     refresh=False)

        def on_epoch_end(self, _epoch, logs=None):
            self.bar.close()

    return _Bar()
