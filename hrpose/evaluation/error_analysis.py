"""Why keypoint AP is low: each predicted keypoint classified as good, jitter, inversion,
swap or miss, and the AP reached once each kind of error is fixed.

The definitions are those of Ronchi and Perona, "Benchmarking and Error Diagnosis in
Multi-Instance Pose Estimation" (ICCV 2017), as their code computes them (matteorr/
coco-analyze, ``pycocotools/cocoanalyze.py`` at a4e679fc, ``COCOanalyze._find_kpt_errors``):

- detections are matched to ground-truth persons by COCOeval's greedy matching at an OKS
  of 0.1 (``oksLocThrs``), so that badly localised poses still get a partner;
- for a matched pair, every keypoint ``k`` of the detection gets a keypoint similarity
  ``ks = exp(-d^2 / (2 * area * (2 sigma_k)^2))`` with keypoint ``k`` of every candidate:
  the matched person, the other persons of the image, and the left-right mirrored version
  of each (keypoint ``k`` of a mirrored person is its keypoint ``flip_indices[k]``), each
  with its own area; candidates without that keypoint labelled do not count;
- by the best candidate (``ks`` thresholds 0.5 and 0.85, ``jitterKsThrs``): **good**, the
  matched person with ks > 0.85; **jitter**, the matched person with 0.5 <= ks < 0.85;
  **inversion**, the matched person mirrored, ks >= 0.5; **swap**, another person (either
  way round), ks >= 0.5; **miss**, ks < 0.5 everywhere. Only keypoints labelled on the
  matched person are classified.

"AP if fixed" re-runs pycocotools' COCOeval with the keypoints of one error type (or of
that type and those before it, in coco-analyze's order miss, swap, inversion, jitter)
moved onto the matched person's own keypoint. coco-analyze moves them to a fixed
distance instead (the ks of the good/jitter boundary, along x); putting them on the
ground truth makes "all errors of this type fixed" exact, so that a prediction whose only
errors are of one type scores AP 1.0 once that type is fixed.
"""
import contextlib
import copy
import io
import json
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrpose.datasets.annotation_checks import load_checked_coco
from hrpose.utils.outputs import prepare_output_dir

from .keypoint_errors import load_keypoint_results

ERROR_TYPES = ('miss', 'swap', 'inversion', 'jitter')
CLASSES = ('good', ) + ERROR_TYPES
# coco-analyze's Params: the OKS that matches a detection for localisation analysis, and
# the keypoint-similarity bounds of a jitter.
MATCH_OKS = 0.1
JITTER_KS = (0.5, 0.85)


def _keypoints(ann: dict) -> np.ndarray:
    return np.asarray(ann['keypoints'], dtype=np.float64).reshape(-1, 3)


def _matches(coco_gt: COCO, coco_dt: COCO, sigmas: np.ndarray, oks: float) -> Dict[int, int]:
    """{detection id: ground-truth id} of COCOeval's matching at one OKS threshold, over all
    areas (crowd matches left out)."""
    evaluator = COCOeval(coco_gt, coco_dt, 'keypoints')
    evaluator.params.kpt_oks_sigmas = sigmas
    evaluator.params.iouThrs = np.array([oks])
    evaluator.params.areaRng = [[0, 1e10]]
    evaluator.params.areaRngLbl = ['all']
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
    matches = {}
    for record in evaluator.evalImgs:
        if record is None:
            continue
        for dt_id, gt_id, ignored in zip(record['dtIds'], record['dtMatches'][0],
                                         record['dtIgnore'][0]):
            if gt_id and not ignored and not coco_gt.anns[int(gt_id)].get('iscrowd', 0):
                matches[int(dt_id)] = int(gt_id)
    return matches


def keypoint_similarities(prediction: np.ndarray, candidates: Sequence[dict], sigmas: np.ndarray,
                          flip_indices: Sequence[int]) -> np.ndarray:
    """ks of each predicted keypoint with each candidate, as coco-analyze arranges them.

    Args:
        prediction: (K, 2) predicted keypoints.
        candidates: the image's person annotations, the matched one first.
        sigmas: (K, ) OKS sigmas.
        flip_indices: (K, ) the mirrored keypoint of each keypoint.

    Returns:
        np.ndarray: (2 n, K): rows 0..n-1 the persons as they are, rows n..2n-1 the same
        persons mirrored; -1 where the candidate's keypoint is not labelled.
    """
    flip = np.asarray(flip_indices)
    rows = []
    for mirrored in (False, True):
        for ann in candidates:
            gt = _keypoints(ann)
            if mirrored:
                gt = gt[flip]
            squared = ((prediction - gt[:, :2])**2).sum(axis=1)
            ks = np.exp(-squared / (2 * (ann['area'] + np.spacing(1)) * (2 * sigmas)**2))
            rows.append(np.where(gt[:, 2] > 0, ks, -1.0))
    return np.stack(rows)


def classify_keypoints(similarities: np.ndarray, labelled: np.ndarray) -> List[str]:
    """The class of each keypoint (``None`` where the matched person has it unlabelled),
    from :func:`keypoint_similarities` with ``n = rows / 2`` candidates."""
    n = len(similarities) // 2
    best = similarities.max(axis=0)
    where = similarities.argmax(axis=0)
    classes = []
    for k, (ks, row) in enumerate(zip(best, where)):
        if not labelled[k]:
            classes.append(None)
        elif ks < JITTER_KS[0]:
            classes.append('miss')
        elif row == 0:
            classes.append('good' if ks > JITTER_KS[1] else (
                'jitter' if ks < JITTER_KS[1] else None))
        elif row == n:
            classes.append('inversion')
        else:
            classes.append('swap')
    return classes


def _load_results(coco_gt: COCO, results: List[dict]) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return coco_gt.loadRes(copy.deepcopy(results))  # loadRes adds fields to its input


def keypoint_ap(coco_gt: COCO, results: List[dict], sigmas: np.ndarray) -> dict:
    """COCOeval's keypoint AP of ``results`` and its precision at every recall threshold
    (averaged over the OKS thresholds), for the PR curves."""
    if not results:
        return dict(AP=0.0, precision=np.zeros(101))
    evaluator = COCOeval(coco_gt, _load_results(coco_gt, results), 'keypoints')
    evaluator.params.kpt_oks_sigmas = sigmas
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    precision = evaluator.eval['precision'][:, :, 0, 0, -1]  # (T, R), area all, maxDets 20
    precision = np.where(precision < 0, np.nan, precision)
    return dict(AP=float(evaluator.stats[0]), precision=np.nanmean(precision, axis=0))


def _evaluated(coco_gt: COCO, results: List[dict], sigmas: np.ndarray) -> COCOeval:
    evaluator = COCOeval(coco_gt, _load_results(coco_gt, results), 'keypoints')
    evaluator.params.kpt_oks_sigmas = sigmas
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
    return evaluator


def _accumulated_ap(evaluator: COCOeval, threshold: int = None) -> Tuple[float, np.ndarray]:
    """AP (the mean of the defined precisions, as COCOeval's summary takes it) and the
    precision (T, R) of area 'all', maxDets 20; of one OKS threshold only if given."""
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.accumulate()
    precision = evaluator.eval['precision'][:, :, 0, 0, -1]
    if threshold is not None:
        precision = precision[threshold:threshold + 1]
    defined = precision[precision > -1]
    return (float(defined.mean()) if defined.size else 0.0), precision


def _mean_curve(precision: np.ndarray) -> np.ndarray:
    return np.nanmean(np.where(precision < 0, np.nan, precision), axis=0)


def rescored(coco_gt: COCO, results: List[dict], sigmas: np.ndarray) -> List[dict]:
    """coco-analyze's optimal scores (``COCOanalyze.find_score_errors`` and ``_soft_nms``):
    each detection scored by its best OKS with a person of its image, then, image by image
    and best first, every remaining detection's score decayed by ``exp(-oks^2 / 0.5)`` of
    its OKS with the one kept (areas from the keypoints' extents), so that a duplicate of a
    good pose ranks below the other persons' poses."""
    evaluator = _evaluated(coco_gt, results, sigmas)
    out = copy.deepcopy(results)
    by_image: Dict[int, List[int]] = {}
    for index, result in enumerate(out):
        by_image.setdefault(result['image_id'], []).append(index)
    variances = (2 * sigmas)**2
    category = out[0]['category_id'] if out else 1
    for image_id, indices in by_image.items():
        # computeOks's rows: the image's detections by score, best first, the first 20
        dts = evaluator._dts[image_id, category]
        order = np.argsort([-d['score'] for d in dts], kind='mergesort')
        order = order[:evaluator.params.maxDets[-1]]
        ious = evaluator.ious.get((image_id, category), [])
        best = {}
        if len(ious):
            for row, i in enumerate(order):
                best[dts[i]['id']] = float(np.max(ious[row]))
        # loadRes numbers the results 1, 2, ... in their order
        pending = [(best.get(i + 1, 0.0), i) for i in indices]
        while pending:
            pending.sort(key=lambda item: -item[0])
            score, kept = pending.pop(0)
            out[kept]['score'] = score
            kept_xy = np.asarray(out[kept]['keypoints']).reshape(-1, 3)[:, :2]
            kept_area = np.prod(kept_xy.max(axis=0) - kept_xy.min(axis=0))
            decayed = []
            for other_score, other in pending:
                xy = np.asarray(out[other]['keypoints']).reshape(-1, 3)[:, :2]
                scale = 0.5 * (kept_area + np.prod(xy.max(axis=0) - xy.min(axis=0)))
                squared = ((xy - kept_xy)**2).sum(axis=1)
                oks = float(np.exp(-squared / variances / (scale + np.spacing(1)) / 2).mean())
                decayed.append((other_score * np.exp(-oks**2 / 0.5), other))
            pending = decayed
    return out


def background_aps(coco_gt: COCO, results: List[dict], sigmas: np.ndarray) -> dict:
    """coco-analyze's background errors (``_summarize_bckgd_errors``): the AP once the
    detections no person matches at an OKS threshold are ignored there (false positives),
    and then also the persons no detection matches there (false negatives)."""
    evaluator = _evaluated(coco_gt, results, sigmas)
    records = [e for e in evaluator.evalImgs if e is not None]
    for e in records:
        e['dtIgnore'] = np.logical_or(e['dtIgnore'], e['dtMatches'] == 0)
    without_fp, fp_precision = _accumulated_ap(evaluator)
    precisions = []
    original = [e['gtIgnore'].copy() for e in records]
    for t in range(len(evaluator.params.iouThrs)):
        for e, ignore in zip(records, original):
            e['gtIgnore'] = np.logical_or(ignore, e['gtMatches'][t] == 0).astype(ignore.dtype)
        precisions.append(_accumulated_ap(evaluator, t)[1][0])
    precision = np.stack(precisions)
    defined = precision[precision > -1]
    return dict(
        false_positives=(without_fp, _mean_curve(fp_precision)),
        false_negatives=(float(defined.mean()) if defined.size else 0.0, _mean_curve(precision)))


def analyze_keypoint_errors(coco_gt: COCO,
                            results: List[dict],
                            sigmas: Sequence[float],
                            flip_indices: Sequence[int],
                            keypoint_names: Sequence[str] = None) -> dict:
    """The error diagnosis of keypoint results.

    Args:
        coco_gt: the ground truth (checked, e.g. by ``load_checked_coco``).
        results: COCO keypoint results (``image_id``, ``keypoints``, ``score``).
        sigmas: (K, ) OKS sigmas.
        flip_indices: (K, ) the dataset's mirrored keypoint of each keypoint.
        keypoint_names: K names (default: their indices).

    Returns:
        dict: ``counts`` {class: number of keypoints}, ``per_keypoint`` {name: {class:
        share}}, ``labels`` {result index: [class per keypoint]}, ``ap`` (the results as
        they are), ``ap_fixed`` {type: AP with that type fixed}, ``ap_fixed_cumulative``
        {type: AP with it and the types before it fixed}, ``precision`` {curve: (101, )}
        for the PR curves, ``main_error`` (the type whose fix gains the most AP, and the
        keypoint with most of it), ``matched`` and ``detections``.
    """
    sigmas = np.asarray(sigmas, dtype=np.float64)
    num_keypoints = len(sigmas)
    names = list(keypoint_names) if keypoint_names else [str(k) for k in range(num_keypoints)]
    results = [dict(r, id=i + 1) for i, r in enumerate(results)]
    coco_dt = _load_results(coco_gt, results) if results else None
    matches = _matches(coco_gt, coco_dt, sigmas, MATCH_OKS) if results else {}
    labels: Dict[int, list] = {}
    counts = {c: 0 for c in CLASSES}
    per_keypoint = {name: {c: 0 for c in CLASSES} for name in names}
    for index, result in enumerate(results):
        gt_id = matches.get(result['id'])
        if gt_id is None:
            continue
        matched = coco_gt.anns[gt_id]
        others = [
            a for a in coco_gt.imgToAnns[matched['image_id']]
            if a['id'] != gt_id and a.get('category_id') == matched.get('category_id')
        ]
        gt = _keypoints(matched)
        if not (gt[:, 2] > 0).any():
            continue
        prediction = np.asarray(result['keypoints'], dtype=np.float64).reshape(-1, 3)[:, :2]
        classes = classify_keypoints(
            keypoint_similarities(prediction, [matched] + others, sigmas, flip_indices), gt[:, 2]
            > 0)
        labels[index] = classes
        for name, label in zip(names, classes):
            if label is not None:
                counts[label] += 1
                per_keypoint[name][label] += 1
    shares = {
        name: {
            c: n / max(1, sum(row.values()))
            for c, n in row.items()
        }
        for name, row in per_keypoint.items()
    }

    def fixed(types) -> List[dict]:
        out = copy.deepcopy(results)
        for index, classes in labels.items():
            gt = _keypoints(coco_gt.anns[matches[results[index]['id']]])
            kpts = np.asarray(out[index]['keypoints'], dtype=np.float64).reshape(-1, 3)
            for k, label in enumerate(classes):
                if label in types:
                    kpts[k, :2] = gt[k, :2]
            out[index]['keypoints'] = kpts.reshape(-1).tolist()
        for r in out:
            r.pop('id', None)
        return out

    plain = [{k: v for k, v in r.items() if k != 'id'} for r in results]
    baseline = keypoint_ap(coco_gt, plain, sigmas)
    ap_fixed, ap_cumulative, precision = {}, {}, dict(results=baseline['precision'])
    for i, error in enumerate(ERROR_TYPES):
        ap_fixed[error] = keypoint_ap(coco_gt, fixed({error}), sigmas)['AP']
        cumulative = keypoint_ap(coco_gt, fixed(set(ERROR_TYPES[:i + 1])), sigmas)
        ap_cumulative[error] = cumulative['AP']
        precision[f'without {" + ".join(ERROR_TYPES[:i + 1])}'] = cumulative['precision']
    # Then, on the results with every keypoint error fixed, as coco-analyze chains them:
    # optimal scores, without background false positives, without false negatives.
    all_fixed = rescored(coco_gt, fixed(set(ERROR_TYPES)), sigmas) if results else []
    scored = keypoint_ap(coco_gt, all_fixed, sigmas)
    ap_cumulative['score'] = scored['AP']
    precision['+ optimal scores'] = scored['precision']
    if all_fixed:
        background = background_aps(coco_gt, all_fixed, sigmas)
        for name, label in (('false_positives', '+ without background FP'), ('false_negatives',
                                                                             '+ without FN')):
            ap_cumulative[name], precision[label] = background[name]
    gains = {e: ap_fixed[e] - baseline['AP'] for e in ERROR_TYPES}
    main_type = max(ERROR_TYPES, key=lambda e: (gains[e], counts[e]))
    main_keypoint = max(names, key=lambda name: per_keypoint[name][main_type])
    if not counts[main_type]:  # no error at all
        main_type = main_keypoint = None
    return dict(
        counts=counts,
        per_keypoint=shares,
        labels=labels,
        ap=baseline['AP'],
        ap_fixed=ap_fixed,
        ap_fixed_cumulative=ap_cumulative,
        precision=precision,
        main_error=dict(
            type=main_type, keypoint=main_keypoint,
            ap_gain=gains[main_type] if main_type else 0.0),
        matched=len(labels),
        detections=len(results))


def write_error_report(analysis: dict,
                       out_dir: str,
                       results: List[dict] = None,
                       worst: int = 10,
                       drawings: List[Tuple[int, str]] = None) -> Dict[str, str]:
    """Write the diagnosis of :func:`analyze_keypoint_errors` into ``out_dir``:
    ``summary.json``, ``per_keypoint.png`` (a stacked bar of the classes per keypoint type),
    ``pr_curves.png`` (precision against recall, averaged over COCO's OKS thresholds, as the
    results are and with each kind of error fixed in turn) and ``report.md`` (the numbers,
    the pictures and the images with the most wrong keypoints).

    Returns:
        dict: {what: path} of the files written.
    """
    import matplotlib
    matplotlib.use('Agg')  # files only, no display
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    paths = {
        name: os.path.join(out_dir, name)
        for name in ('summary.json', 'per_keypoint.png', 'pr_curves.png', 'report.md')
    }
    summary = {k: v for k, v in analysis.items() if k not in ('labels', 'precision')}
    with open(paths['summary.json'], 'w') as f:
        json.dump(summary, f, indent=1)

    names = list(analysis['per_keypoint'])
    colours = dict(
        good='#4c9a2a', jitter='#8c4646', inversion='#d96459', swap='#f2ae72', miss='#f2e394')
    figure, axis = plt.subplots(figsize=(max(6, 0.5 * len(names) + 2), 4))
    bottom = np.zeros(len(names))
    for label in CLASSES:
        values = np.array([analysis['per_keypoint'][n][label] for n in names])
        axis.bar(names, values, bottom=bottom, color=colours[label], label=label)
        bottom += values
    axis.set_ylabel('share of the matched labelled keypoints')
    axis.set_ylim(0, 1)
    axis.tick_params(axis='x', rotation=60)
    axis.legend(loc='lower right', fontsize=8)
    figure.tight_layout()
    figure.savefig(paths['per_keypoint.png'], dpi=100)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(6, 4.5))
    recall = np.linspace(0, 1, 101)
    for curve, precision in analysis['precision'].items():
        axis.plot(recall, precision, label=curve)
    axis.set_xlabel('recall')
    axis.set_ylabel('precision (mean over OKS 0.50:0.95)')
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.02)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=7, loc='lower left')
    figure.tight_layout()
    figure.savefig(paths['pr_curves.png'], dpi=100)
    plt.close(figure)

    main = analysis['main_error']
    lines = [
        '# Keypoint error diagnosis', '',
        f'{analysis["matched"]} of {analysis["detections"]} detections matched to a '
        f'person (OKS >= {MATCH_OKS}); keypoint AP {analysis["ap"]:.4f}.', ''
    ]
    if main['type']:
        lines += [
            f'Main error: **{main["type"]}**, most of it on **{main["keypoint"]}**: fixing '
            f'every {main["type"]} error gains {main["ap_gain"]:.4f} AP.', ''
        ]
    lines += [
        '| error | keypoints | AP with it fixed | AP with it and those above fixed |',
        '| --- | --- | --- | --- |'
    ]
    for error in ERROR_TYPES:
        lines.append(f'| {error} | {analysis["counts"][error]} | '
                     f'{analysis["ap_fixed"][error]:.4f} | '
                     f'{analysis["ap_fixed_cumulative"][error]:.4f} |')
    chained = dict(
        score='optimal scores',
        false_positives='no background false positives',
        false_negatives='no false negatives')
    for key, label in chained.items():
        if key in analysis['ap_fixed_cumulative']:
            lines.append(f'| {label} | | | {analysis["ap_fixed_cumulative"][key]:.4f} |')
    lines += [
        '', f'Good keypoints: {analysis["counts"]["good"]}.', '',
        '![classes per keypoint](per_keypoint.png)', '', '![precision-recall](pr_curves.png)', ''
    ]
    if results is not None and analysis['labels']:
        per_image: Dict[int, int] = {}
        for index, classes in analysis['labels'].items():
            wrong = sum(1 for c in classes if c not in (None, 'good'))
            image_id = results[index]['image_id']
            per_image[image_id] = per_image.get(image_id, 0) + wrong
        ranked = sorted(per_image.items(), key=lambda item: -item[1])[:worst]
        lines += ['| image id | wrong keypoints |', '| --- | --- |']
        lines += [f'| {image_id} | {wrong} |' for image_id, wrong in ranked]
    for image_id, path in drawings or []:
        lines += [
            '', f'Image {image_id}: ground truth (left), predictions (right)', '',
            f'![image {image_id}]({path})'
        ]
    with open(paths['report.md'], 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return paths


def draw_worst_images(coco_gt: COCO,
                      results: List[dict],
                      analysis: dict,
                      img_dir: str,
                      out_dir: str,
                      metainfo: dict,
                      worst: int = 10) -> List[Tuple[int, str]]:
    """Draw the ``worst`` images with the most wrong keypoints, ground truth left and
    predictions right (hrpose's visualiser), into ``out_dir/worst/``.

    Returns:
        list: (image id, drawing's path relative to ``out_dir``), worst first.
    """
    import mmcv
    import torch
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    from hrpose.structures import coco_to_continuous
    from hrpose.visualization import KeypointLocalVisualizer

    wrong: Dict[int, int] = {}
    for index, classes in analysis['labels'].items():
        image_id = results[index]['image_id']
        wrong[image_id] = wrong.get(image_id, 0) + sum(c not in (None, 'good') for c in classes)
    ranked = [i for i, n in sorted(wrong.items(), key=lambda item: -item[1]) if n][:worst]
    visualizer = KeypointLocalVisualizer(name='error_analysis', kpt_thr=0.3)
    visualizer.dataset_meta = dict(metainfo)
    os.makedirs(osp.join(out_dir, 'worst'), exist_ok=True)
    drawn = []
    for image_id in ranked:
        info = coco_gt.imgs[image_id]
        image = mmcv.imread(osp.join(img_dir, info['file_name']), channel_order='rgb')
        anns = [a for a in coco_gt.imgToAnns[image_id] if not a.get('iscrowd', 0)]
        preds = [r for r in results if r['image_id'] == image_id]

        def instances(entries, truth):
            kpts = np.array([e['keypoints'] for e in entries],
                            dtype=np.float32).reshape(len(entries), -1, 3)
            fields = dict(
                keypoints=torch.from_numpy(coco_to_continuous(kpts[..., :2])),
                labels=torch.zeros(len(entries), dtype=torch.long))
            if truth:
                boxes = np.array([a['bbox'] for a in entries], dtype=np.float32).reshape(-1, 4)
                boxes[:, 2:] += boxes[:, :2]
                fields.update(
                    bboxes=torch.from_numpy(boxes),
                    keypoints_visible=torch.from_numpy(kpts[..., 2] > 0).float())
            else:  # COCO results carry each keypoint's score as its third value
                shown = kpts[..., 2:] > visualizer.kpt_thr
                low = np.where(shown, kpts[..., :2], np.inf).min(axis=1)
                high = np.where(shown, kpts[..., :2], -np.inf).max(axis=1)
                valid = np.isfinite(low).all(axis=1, keepdims=True)
                boxes = np.where(valid, np.concatenate([low, high], axis=1), 0.0)
                fields.update(
                    bboxes=torch.from_numpy(boxes.astype(np.float32)),
                    scores=torch.tensor([e['score'] for e in entries]),
                    keypoint_scores=torch.from_numpy(kpts[..., 2]))
            return InstanceData(**fields)

        sample = DetDataSample(
            gt_instances=instances(anns, True), pred_instances=instances(preds, False))
        name = osp.join('worst', f'{image_id}.jpg')
        visualizer.add_datasample(
            str(image_id), image, data_sample=sample, show=False, out_file=osp.join(out_dir, name))
        drawn.append((image_id, name))
    return drawn


def diagnose_results_file(gt: str,
                          results_file: str,
                          out_dir: str,
                          metainfo: dict,
                          img_dir: str = None) -> dict:
    """The diagnosis of a COCO keypoint results file against the annotation file ``gt``
    (checked by ``load_checked_coco``), written into ``out_dir`` and summed up on stdout.

    Args:
        metainfo: the dataset's (``keypoint_names``, ``flip_indices``, ``sigmas``).
        img_dir: the images' folder; when given the worst images are drawn too.
    """
    if not osp.isfile(gt):
        raise FileNotFoundError(f'{gt}: no such ground-truth file')
    prepare_output_dir(out_dir, 'the error report folder')
    coco_gt = load_checked_coco(gt, metainfo.get('classes', ('person', )),
                                metainfo['num_keypoints'])
    results = load_keypoint_results(results_file)
    analysis = analyze_keypoint_errors(coco_gt, results, metainfo['sigmas'],
                                       metainfo['flip_indices'], metainfo['keypoint_names'])
    drawings = None
    if img_dir is not None:
        drawings = draw_worst_images(coco_gt, results, analysis, img_dir, out_dir, metainfo)
    paths = write_error_report(analysis, out_dir, results, drawings=drawings)
    main = analysis['main_error']
    print(f'keypoint AP {analysis["ap"]:.4f}; ' +
          ', '.join(f'{e} {analysis["counts"][e]} (AP {analysis["ap_fixed"][e]:.4f} fixed)'
                    for e in ('jitter', 'inversion', 'swap', 'miss')))
    if main['type']:
        print(f'main error: {main["type"]} of {main["keypoint"]} (+{main["ap_gain"]:.4f} AP '
              'when fixed)')
    print(f'report: {paths["report.md"]}')
    return analysis
