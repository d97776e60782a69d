"""Ronchi and Perona's keypoint error diagnosis on results crafted from the ground truth:
each kind of error injected alone is classified as that kind, and fixing it gives AP 1."""
import json
import os.path as osp

import numpy as np
import pytest

from hrpose.datasets import load_keypoint_metainfo
from hrpose.datasets.annotation_checks import load_checked_coco
from hrpose.evaluation.error_analysis import analyze_keypoint_errors
from tests.helpers import COCO_METAINFO, TEST_SEED, run_script

META = load_keypoint_metainfo(dict(COCO_METAINFO))
SIGMAS = np.asarray(META['sigmas'])
SETS = ['coco/test_coco.json', 'coco_train88/train88.json']
DIRECTIONS = [np.array([np.cos(a), np.sin(a)]) for a in np.linspace(0, 2 * np.pi, 16, False)]


def ground_truth(shared_data, ann_file):
    return load_checked_coco(osp.join(shared_data, ann_file), ('person', ), 17)


def persons(coco):
    """Labelled, non-crowd persons: the ones COCOeval scores."""
    return [
        a for a in coco.dataset['annotations']
        if not a.get('iscrowd', 0) and a['num_keypoints'] > 0
    ]


def keypoints(ann):
    return np.asarray(ann['keypoints'], dtype=np.float64).reshape(-1, 3)


def ks(point, target, area, sigma):
    """The paper's keypoint similarity."""
    return float(np.exp(-((point - target)**2).sum() / (2 * area * (2 * sigma)**2)))


def competitors(coco, ann, k):
    """(location, area) of keypoint k of every other candidate: the other persons and the
    mirrored persons (this one included), where labelled and not at this keypoint's place."""
    own = keypoints(ann)[k, :2]
    found = []
    for other in coco.imgToAnns[ann['image_id']]:
        kpts = keypoints(other)
        for j in {k, META['flip_indices'][k]}:
            if other['id'] == ann['id'] and j == k:
                continue
            if kpts[j, 2] > 0 and not np.allclose(kpts[j, :2], own):
                found.append((kpts[j, :2], other['area']))
    return found


def moved(coco, ann, k, own_ks):
    """A point at keypoint similarity ``own_ks`` from keypoint k of ``ann`` where every
    competitor's similarity stays under 0.5 (None where no direction gives one)."""
    own = keypoints(ann)[k, :2]
    distance = np.sqrt(-np.log(own_ks) * 2 * ann['area'] * (2 * SIGMAS[k])**2)
    for direction in DIRECTIONS:
        point = own + distance * direction
        if all(ks(point, loc, area, SIGMAS[k]) < 0.5 for loc, area in competitors(coco, ann, k)):
            return point
    return None


def results_of(coco, edit):
    """One result per scored person at its ground truth, score 1; ``edit(ann, kpts)`` may
    change the (K, 3) keypoints and returns {keypoint: expected class} of what it changed."""
    results, expected = [], []
    for ann in persons(coco):
        kpts = keypoints(ann).copy()
        changed = edit(ann, kpts)
        labelled = keypoints(ann)[:, 2] > 0
        expected.append([changed.get(k, 'good') if labelled[k] else None for k in range(17)])
        kpts[:, 2] = 2
        results.append(
            dict(
                image_id=ann['image_id'],
                category_id=1,
                keypoints=kpts.reshape(-1).tolist(),
                score=1.0))
    return results, expected


def check(analysis, expected, injected):
    assert analysis['matched'] == len(expected)
    assert [analysis['labels'][i] for i in range(len(expected))] == expected
    total = sum(c is not None for row in expected for c in row)
    wrong = sum(c == injected for row in expected for c in row)
    assert wrong > 0 and analysis['counts'][injected] == wrong
    assert analysis['counts']['good'] == total - wrong
    assert analysis['ap'] < 1.0
    assert analysis['ap_fixed'][injected] == pytest.approx(1.0)


def analyze(coco, results):
    return analyze_keypoint_errors(coco, results, SIGMAS, META['flip_indices'],
                                   META['keypoint_names'])


def inject_jitter(coco):
    """Every labelled keypoint moved to a ks of 0.55-0.8 from its place, in a direction where
    no other candidate reaches 0.5."""
    rng = np.random.default_rng(TEST_SEED)

    def jitter(ann, kpts):
        changed = {}
        for k in np.flatnonzero(kpts[:, 2] > 0):
            point = moved(coco, ann, k, rng.uniform(0.55, 0.8))
            if point is not None:
                kpts[k, :2], changed[k] = point, 'jitter'
        return changed

    return jitter


def inject_inversion(coco):
    """One left/right pair exchanged per person with 6 labelled keypoints or more: a pose
    mirrored more can fall under the OKS of 0.1 that matches it to its own person, and an
    unmatched pose is not classified."""
    flip = META['flip_indices']

    def invert(ann, kpts):
        original, changed = keypoints(ann), {}
        if ann['num_keypoints'] < 6:
            return changed
        for k in range(17):
            j = flip[k]
            if j > k and len(changed) < 2 and original[k, 2] > 0 and original[j, 2] > 0 and \
                    not np.allclose(original[k, :2], original[j, :2]):
                kpts[k, :2], kpts[j, :2] = original[j, :2], original[k, :2]
                changed[k] = changed[j] = 'inversion'
        return changed

    return invert


def inject_swap(coco):
    """Two keypoints of a person (6 labelled or more) taken from another person of the image,
    where they are far from the person's own keypoint and its mirror."""

    def swap(ann, kpts):
        own, changed = keypoints(ann), {}
        if ann['num_keypoints'] < 6:  # kept matched to its own person (as above)
            return changed
        others = [o for o in coco.imgToAnns[ann['image_id']] if o['id'] != ann['id']]
        for other in others:
            theirs = keypoints(other)
            for k in np.flatnonzero((own[:, 2] > 0) & (theirs[:, 2] > 0)):
                # far from this person's own keypoint and its mirror: a swap, nothing else
                if len(changed) < 2 and all(
                        ks(theirs[k, :2], own[j, :2], ann['area'], SIGMAS[k]) < 0.5
                        for j in (k, META['flip_indices'][k]) if own[j, 2] > 0):
                    kpts[k, :2], changed[k] = theirs[k, :2], 'swap'
            if changed:
                break
        return changed

    return swap


def inject_miss(coco):
    """Three keypoints per person moved where every candidate's ks stays under 0.5."""

    def miss(ann, kpts):
        changed = {}
        for k in np.flatnonzero(kpts[:, 2] > 0)[:3]:
            point = moved(coco, ann, k, 0.2)
            if point is not None:
                kpts[k, :2], changed[k] = point, 'miss'
        return changed

    return miss


INJECTIONS = dict(
    jitter=inject_jitter, inversion=inject_inversion, swap=inject_swap, miss=inject_miss)


@pytest.mark.parametrize('ann_file', SETS)
@pytest.mark.parametrize('kind', list(INJECTIONS))
def test_each_error_injected_alone_is_that_error_and_fixing_it_gives_ap_1(
        shared_data, ann_file, kind):
    coco = ground_truth(shared_data, ann_file)
    results, expected = results_of(coco, INJECTIONS[kind](coco))
    check(analyze(coco, results), expected, kind)


def test_two_persons_by_hand(tmp_path):
    """K = 3 (a middle keypoint and a left/right pair), sigmas 0.1, areas 100: a keypoint 1.5
    px off has ks = exp(-2.25 / 8) = 0.755 (jitter), 1 px off exp(-1 / 8) = 0.882 (good)."""
    gt = dict(
        images=[dict(id=1, file_name='a.jpg', width=200, height=100)],
        categories=[dict(id=1, name='person')],
        annotations=[
            dict(
                id=i,
                image_id=1,
                category_id=1,
                bbox=[x - 5, 5, 30, 10],
                area=100.0,
                iscrowd=0,
                num_keypoints=3,
                keypoints=[x, 10, 2, x + 10, 10, 2, x + 20, 10, 2]) for i, x in ((1, 10), (2, 100))
        ])
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps(gt))
    coco = load_checked_coco(str(path), ('person', ), 3)
    results = [
        # A: middle 1.5 px off (jitter), left on its own right (inversion), right exact
        dict(image_id=1, category_id=1, score=0.9, keypoints=[11.5, 10, 2, 30, 10, 2, 30, 10, 2]),
        # B: middle 30 px off (miss), left 1 px off (good), right on A's right (swap). Its
        # OKS with A (1/3) beats that with B (0.882/3), but A is taken by the better score.
        dict(image_id=1, category_id=1, score=0.8, keypoints=[100, 40, 2, 111, 10, 2, 30, 10, 2]),
    ]
    analysis = analyze_keypoint_errors(coco, results, [0.1] * 3, [0, 2, 1],
                                       ['middle', 'left', 'right'])
    assert analysis['labels'] == {0: ['jitter', 'inversion', 'good'], 1: ['miss', 'good', 'swap']}
    assert analysis['counts'] == dict(good=2, miss=1, swap=1, inversion=1, jitter=1)
    assert analysis['per_keypoint']['middle'] == dict(
        good=0, jitter=0.5, inversion=0, swap=0, miss=0.5)
    assert analysis['ap_fixed_cumulative']['jitter'] == pytest.approx(1.0)


def test_a_left_ankle_predicted_on_the_right_one_is_reported_as_its_inversion(
        tmp_path, shared_data):
    """The overfit failure of an earlier recipe: every left ankle on the right ankle."""
    ann_file = osp.join(shared_data, 'coco', 'test_coco.json')
    coco = ground_truth(shared_data, 'coco/test_coco.json')
    left, right = META['keypoint_names'].index('left_ankle'), META['keypoint_names'].index(
        'right_ankle')

    def collapse(ann, kpts):
        own = keypoints(ann)
        if own[left, 2] > 0 and own[right, 2] > 0:
            kpts[left, :2] = own[right, :2]
            return {left: 'inversion'}
        return {}

    results, expected = results_of(coco, collapse)
    analysis = analyze(coco, results)
    assert analysis['main_error']['type'] == 'inversion'
    assert analysis['main_error']['keypoint'] == 'left_ankle'

    results_file = tmp_path / 'results.keypoints.json'
    results_file.write_text(json.dumps(results))
    printed = run_script('tools/analysis_tools/analyze_errors.py', ann_file, str(results_file),
                         '--out', str(tmp_path / 'report'), '--img-dir',
                         osp.join(shared_data, 'coco'))
    assert 'main error: inversion of left_ankle' in printed
    report = (tmp_path / 'report' / 'report.md').read_text()
    assert 'Main error: **inversion**, most of it on **left_ankle**' in report
    for picture in ('per_keypoint.png', 'pr_curves.png'):
        assert (tmp_path / 'report' / picture).read_bytes()[:4] == b'\x89PNG'
    # The images with wrong keypoints drawn, ground truth | predictions, worst first.
    drawn = sorted(p.name for p in (tmp_path / 'report' / 'worst').iterdir())
    wrong_images = {r['image_id'] for r, row in zip(results, expected) if 'inversion' in row}
    assert drawn == sorted(f'{i}.jpg' for i in wrong_images)
    assert all(f'](worst/{name})' in report for name in drawn)
    summary = json.loads((tmp_path / 'report' / 'summary.json').read_text())
    assert summary['counts']['inversion'] == sum(row.count('inversion') for row in expected)


def test_optimal_scores_and_background_errors_are_fixed_in_coco_analyzes_order(shared_data):
    """After the keypoint errors (none here): poor duplicates that outscore the good poses
    are put last by the optimal scores, and missing persons stop counting once false
    negatives are fixed."""
    coco = ground_truth(shared_data, 'coco/test_coco.json')
    results, _ = results_of(coco, lambda ann, kpts: {})
    for result in results:
        result['score'] = 0.1
    results = results[2:]  # two persons without any pose
    matched = len(results)
    # a confident pose far from everybody on every image
    for image_id in coco.getImgIds():
        far = np.tile([5000.0, 5000.0, 2.0], 17)
        results.append(dict(image_id=image_id, category_id=1, keypoints=far.tolist(), score=1.0))
    analysis = analyze(coco, results)
    assert analysis['matched'] == matched
    assert sum(analysis['counts'][e] for e in ('jitter', 'inversion', 'swap', 'miss')) == 0
    assert analysis['ap'] < analysis['ap_fixed_cumulative']['score'] < 1.0
    assert analysis['ap_fixed_cumulative']['false_positives'] == pytest.approx(
        analysis['ap_fixed_cumulative']['score'])  # the far poses already rank last
    assert analysis['ap_fixed_cumulative']['false_negatives'] == pytest.approx(1.0)


def test_crowdposes_14_keypoints_are_diagnosed_through_their_metainfo(shared_data):
    from tests.helpers import CROWDPOSE_METAINFO
    meta = load_keypoint_metainfo(dict(CROWDPOSE_METAINFO))
    with pytest.warns(UserWarning):  # the sample's num_keypoints and missing areas
        coco = load_checked_coco(
            osp.join(shared_data, 'crowdpose', 'test_crowdpose.json'), ('person', ), 14)
    flip, results, expected = meta['flip_indices'], [], 0
    for ann in persons(coco):
        kpts = keypoints(ann).copy()
        own = keypoints(ann)
        pair = next((k for k in range(14) if flip[k] > k and own[k, 2] > 0 and own[flip[k], 2] > 0
                     and not np.allclose(own[k, :2], own[flip[k], :2])), None)
        if pair is not None and ann['num_keypoints'] >= 6:
            kpts[[pair, flip[pair]], :2] = own[[flip[pair], pair], :2]
            expected += 2
        kpts[:, 2] = 2
        results.append(
            dict(
                image_id=ann['image_id'],
                category_id=1,
                score=1.0,
                keypoints=kpts.reshape(-1).tolist()))
    analysis = analyze_keypoint_errors(coco, results, meta['sigmas'], flip, meta['keypoint_names'])
    assert expected > 0 and analysis['counts']['inversion'] == expected
    assert sum(analysis['counts'][e] for e in ('jitter', 'swap', 'miss')) == 0
    assert set(analysis['per_keypoint']) == set(meta['keypoint_names'])
    assert analysis['ap_fixed']['inversion'] == pytest.approx(1.0)
