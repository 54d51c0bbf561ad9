"""The demo's dubbing pairs and the summary of their lip-sync scores."""

import numpy as np
import pytest

from diffdub_jax import dub_showcase


def _clips(identities):
    return [{"identity": identity, "clip_id": f"{identity}_clip{i}"} for i, identity in enumerate(identities)]


def test_pairs_take_one_clip_per_identity_and_never_the_same_voice():
    clips = _clips(["a", "a", "b", "c", "c", "d"])
    assert dub_showcase.held_out_pairs(clips, 3) == [(0, 2), (2, 3), (3, 5)]
    assert dub_showcase.held_out_pairs(clips, 9) == [(0, 2), (2, 3), (3, 5), (5, 0)]
    with pytest.raises(ValueError, match="two identities"):
        dub_showcase.held_out_pairs(_clips(["a", "a"]), 2)


def test_summary_is_the_paired_difference_with_its_standard_error():
    def pair(dubbed, source):
        return {"dubbed": {"r_vs_true_mouth_openness": dubbed},
                "source_no_sync_baseline": {"r_vs_true_mouth_openness": source}}

    summary = dub_showcase.summarise_pairs([pair(0.3, 0.1), pair(0.2, -0.1), pair(0.1, 0.2)])
    differences = np.array([0.2, 0.3, -0.1])
    assert summary["dubbed_mean_r"] == pytest.approx(0.2) and summary["source_mean_r"] == pytest.approx(0.2 / 3)
    assert summary["difference_mean"] == pytest.approx(differences.mean())
    assert summary["difference_standard_error"] == pytest.approx(differences.std(ddof=1) / np.sqrt(3))
    assert summary["pairs_where_dub_is_better"] == 2
    assert dub_showcase.summarise_pairs([pair(0.3, 0.1)])["difference_standard_error"] is None
