"""Pictures whose label is likely wrong: confident learning (Northcutt, Jiang & Chuang, JAIR 2021) through
cleanlab, the field's maintained implementation, on out-of-sample probabilities (crossval.py)."""

from __future__ import annotations

import numpy as np

from cnnstudio.core.doctor.pool import Pool
from cnnstudio.core.doctor.report import LabelIssue


def find_label_issues(pool: Pool, probabilities: np.ndarray) -> list[LabelIssue]:
    """The pictures cleanlab finds (prune by noise rate), most likely wrong first (lowest probability of the
    given label, cleanlab's self-confidence ranking), each with the class the models believe instead."""
    import cleanlab.filter

    labels = pool.labels
    classes = pool.data.classes
    probs = np.asarray(probabilities, dtype=np.float64)
    probs = probs / probs.sum(axis=1, keepdims=True).clip(min=1e-12)
    present = np.flatnonzero(np.bincount(labels, minlength=len(classes)) > 0)
    if len(present) < 2:
        return []
    # cleanlab wants every class it is told of to have pictures: a class with none (a built-in set's
    # class filtered out, or an emptied folder) is left out and the probabilities renormalised.
    remap = np.full(len(classes), -1)
    remap[present] = np.arange(len(present))
    sub = probs[:, present]
    sub = sub / sub.sum(axis=1, keepdims=True).clip(min=1e-12)
    ranked = cleanlab.filter.find_label_issues(remap[labels], sub, return_indices_ranked_by="self_confidence",
                                               filter_by="prune_by_noise_rate")
    issues = []
    for i in ranked:
        given = int(labels[i])
        others = probs[i].copy()
        others[given] = -1.0
        issues.append(LabelIssue(pool.ref(int(i)), classes[given], classes[int(others.argmax())],
                                 float(1.0 - probs[i, given])))
    return issues
