"""Per-keypoint errors: matching of predictions to persons and the distances measured."""
import json
import os.path as osp

import numpy as np
import pytest
from pycocotools.coco import COCO

from hrpose.datasets import load_keypoint_metainfo
from hrpose.evaluation.keypoint_errors import per_keypoint_errors
from tests.helpers import COCO_METAINFO, run_script


def results_from_gt(ann_file, shift_by_keypoint, seed):
    """COCO results copied from the labelled persons, keypoint k moved by
    ``shift_by_keypoint[k]`` pixels along x, with seeded scores; and the labelled count."""
    rng = np.random.default_rng(seed)
    with open(ann_file) as f:
        coco = json.load(f)
    results = []
    for ann in coco['annotations']:
        if ann['num_keypoints'] == 0 or ann.get('iscrowd', 0):
            continue
        keypoints = np.array(ann['keypoints'], dtype=np.float64).reshape(-1, 3)
        keypoints[:, 0] += shift_by_keypoint
        keypoints[:, 2] = 1.0
        results.append(
            dict(
                image_id=ann['image_id'],
                category_id=1,
                score=float(rng.random()),
                keypoints=keypoints.reshape(-1).tolist()))
    return results


@pytest.fixture(scope='module')
def coco_sample(shared_data):
    ann_file = osp.join(shared_data, 'coco', 'test_coco.json')
    sigmas = load_keypoint_metainfo(COCO_METAINFO)['sigmas']
    return ann_file, sigmas


def test_errors_are_the_distances_of_each_keypoint(coco_sample):
    ann_file, sigmas = coco_sample
    shifts = np.zeros(17)
    shifts[0], shifts[15] = 3.0, 8.0  # the nose 3 px off, the left ankle 8 px
    results = results_from_gt(ann_file, shifts, seed=0)
    stats = per_keypoint_errors(COCO(ann_file), results, sigmas)
    assert stats['persons'] == stats['matched_persons'] == len(results) == 12
    for k in range(17):
        assert len(stats['errors'][k]) == stats['labelled'][k] > 0
        np.testing.assert_allclose(stats['errors'][k], shifts[k], atol=1e-9)
    assert np.all(stats['normalised'][15] > 0)


def test_a_far_away_duplicate_matches_nobody_and_a_missing_pose_leaves_its_person_out(coco_sample):
    ann_file, sigmas = coco_sample
    results = results_from_gt(ann_file, np.zeros(17), seed=1)
    far_copy = dict(results[0])
    far_copy['keypoints'] = [
        v + 5000 if i % 3 != 2 else v for i, v in enumerate(results[0]['keypoints'])
    ]
    far_copy['score'] = 2.0  # matched first, but its OKS with everyone is 0
    stats = per_keypoint_errors(COCO(ann_file), [far_copy] + results[1:], sigmas)
    assert stats['persons'] == 12 and stats['matched_persons'] == 11
    assert all(np.all(e == 0) for e in stats['errors'])


def test_of_two_predictions_for_one_person_the_higher_scored_is_matched(coco_sample):
    ann_file, sigmas = coco_sample
    results = results_from_gt(ann_file, np.zeros(17), seed=4)
    exact = dict(results[0], score=0.0)  # scored last: every person is taken by then
    shifted = dict(results[0], score=2.0)  # scored first, 2 px off on every keypoint
    shifted['keypoints'] = [
        v + 2 if i % 3 == 0 else v for i, v in enumerate(results[0]['keypoints'])
    ]
    stats = per_keypoint_errors(COCO(ann_file), [shifted] + results[1:] + [exact], sigmas)
    assert stats['matched_persons'] == 12
    all_errors = np.concatenate(stats['errors'])
    first_person = next(
        a for a in COCO(ann_file).dataset['annotations']
        if a['num_keypoints'] > 0 and not a.get('iscrowd', 0))
    labelled_in_first = sum(v > 0 for v in first_person['keypoints'][2::3])
    assert set(np.round(all_errors, 6)) == {0.0, 2.0}
    assert (np.round(all_errors, 6) == 2.0).sum() == labelled_in_first


def test_results_with_the_wrong_keypoint_count_are_named(coco_sample):
    ann_file, _ = coco_sample
    results = results_from_gt(ann_file, np.zeros(17), seed=2)
    with pytest.raises(ValueError, match='result 0 .*expected 3 x 14'):
        per_keypoint_errors(COCO(ann_file), results, np.full(14, 0.05))


def test_the_tool_prints_and_writes_the_table(coco_sample, tmp_path):
    ann_file, _ = coco_sample
    shifts = np.zeros(17)
    shifts[9] = 4.0  # left wrist
    results_file = tmp_path / 'results.keypoints.json'
    results_file.write_text(json.dumps(results_from_gt(ann_file, shifts, seed=3)))
    out = tmp_path / 'errors.json'
    tool = 'tools/analysis_tools/keypoint_errors.py'
    output = run_script(tool, ann_file, str(results_file), '--out', str(out))
    assert '12 of 12 labelled persons matched' in output
    table = json.loads(out.read_text())
    by_name = {row['keypoint']: row for row in table['keypoints']}
    assert by_name['left_wrist']['median_px'] == pytest.approx(4.0)
    assert by_name['right_wrist']['median_px'] == pytest.approx(0.0)
    assert by_name['nose']['oks_at_least_half'] == 1.0
    missing = run_script(tool, ann_file, str(tmp_path / 'none.json'), expect_exit=1)
    assert 'none.json: no such results file' in missing
