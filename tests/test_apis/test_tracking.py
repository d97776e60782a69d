"""Pose tracking on a synthetic video with known identities, scored by motmetrics' CLEAR-MOT
and IDF1, and the One Euro smoothing of its keypoints."""
import json
import os.path as osp

import numpy as np
import pytest

from hrpose.apis import GreedyIoUTracker, OneEuroFilter, PoseTracker, interpolate_track_gaps
from hrpose.datasets import load_keypoint_metainfo
from hrpose.datasets.synthetic_video import noisy_detections, synthetic_tracks, walker_pose
from hrpose.evaluation.tracking_metrics import mot_summary
from tests.helpers import COCO_METAINFO, TEST_SEED, run_script
from tests.test_tools.test_user_tools import demo_args, random_checkpoint  # noqa: F401

SIGMAS = load_keypoint_metainfo(dict(COCO_METAINFO))['sigmas']


def test_tracker_on_noisy_ground_truth_keeps_identities_through_crossings_and_gaps(capsys):
    """Keypoint noise of 2 % of the person scale, 10 % of the persons dropped, one person
    hidden for 7 frames, one leaving and coming back after 20, two crossing."""
    truth = synthetic_tracks()
    detections = noisy_detections(truth, seed=TEST_SEED)
    tracker = PoseTracker(SIGMAS)
    online = [tracker.update(d) for d in detections]
    unbridged = PoseTracker(SIGMAS, max_predicted_frames=0, velocity_momentum=0.0)
    ours_unbridged = mot_summary(truth, [unbridged.update(d) for d in detections])
    greedy = GreedyIoUTracker()
    baseline = mot_summary(truth, [greedy.update(d) for d in detections])
    ours = mot_summary(truth, online)
    ours_offline = mot_summary(truth, interpolate_track_gaps(online))
    with capsys.disabled():
        print(f'\nPoseTracker online {ours}; without bridging or motion {ours_unbridged}; '
              f'+ gap interpolation {ours_offline}; greedy IoU (mmpose 0.x) {baseline}')
    assert ours['idf1'] >= 0.95 and ours['mota'] >= 0.90 and ours['num_switches'] <= 1
    assert ours_offline['idf1'] >= 0.95 and ours_offline['mota'] >= 0.90
    # a dropped person is bridged: the online gain over the tracker that outputs only
    # detections is most of the 10 % dropped
    assert ours['mota'] > ours_unbridged['mota'] + 0.05
    assert ours['idf1'] > baseline['idf1'] + 0.5
    assert baseline['num_switches'] > 20  # the baseline has no memory over a missed frame
    # 4 persons, the one that left and came back included: 4 tracks
    assert len(tracker.tracks()) == 4
    # predictions are flagged, carry their track's id, and stop after max_predicted_frames
    run = {}
    for f, frame in enumerate(online):
        assert len(frame['predicted']) == len(frame['bboxes']) == len(frame['track_ids'])
        for track_id, predicted in zip(frame['track_ids'], frame['predicted']):
            assert track_id >= 0 or not predicted
            run[track_id] = run.get(track_id, 0) + 1 if predicted else 0
            assert run[track_id] <= tracker.max_predicted_frames
    assert sum(int(frame['predicted'].sum()) for frame in online) > 0


def test_tracker_bridges_a_missed_frame_along_the_motion_with_timestamps():
    """A person walking right at 250 px/s, missed at t = 0.12 s of frames with an uneven
    frame rate: the bridged person lies where the motion puts it then."""
    tracker = PoseTracker(SIGMAS)
    pose = np.stack([np.linspace(0, 60, 17), np.linspace(0, 160, 17)], axis=1)

    def person(x):
        kpts = pose + [x, 0]
        return dict(
            bboxes=np.concatenate([kpts.min(0), kpts.max(0)])[None],
            scores=np.array([0.9]),
            keypoints=kpts[None],
            keypoint_scores=np.full((1, 17), 0.9),
            labels=np.zeros(1, dtype=np.int64))

    nobody = dict(
        bboxes=np.zeros((0, 4)),
        scores=np.zeros(0),
        keypoints=np.zeros((0, 17, 2)),
        keypoint_scores=np.zeros((0, 17)),
        labels=np.zeros(0, dtype=np.int64))
    for t in (0.0, 0.04, 0.1):
        assert tracker.update(person(250 * t), t)['track_ids'].tolist() == [0]
    bridged = tracker.update(nobody, 0.12)
    assert bridged['track_ids'].tolist() == [0] and bridged['predicted'].tolist() == [True]
    np.testing.assert_allclose(bridged['keypoints'][0], pose + [250 * 0.12, 0], atol=1e-6)
    assert bridged['labels'].tolist() == [-1] and bridged['scores'].tolist() == [0.9]
    assert tracker.update(nobody, 0.2)['predicted'].tolist() == [True]
    assert tracker.update(nobody, 0.24)['track_ids'].tolist() == []  # 3 frames: no more
    back = tracker.update(person(250 * 0.3), 0.3)  # the same track takes the person back
    assert back['track_ids'].tolist() == [0] and back['predicted'].tolist() == [False]


def jitter(track: np.ndarray) -> float:
    """Mean absolute second difference over frames of (T, K, 2) keypoints."""
    return float(np.abs(track[2:] - 2 * track[1:-1] + track[:-2]).mean())


def test_one_euro_filter_halves_the_jitter_with_a_lag_under_1_percent():
    fps, height = 25.0, 300
    truth = np.stack([walker_pose(height, 100 + 6 * f, 650, 4 * f / fps) for f in range(150)])
    scale = np.sqrt(np.prod(truth[0].max(axis=0) - truth[0].min(axis=0)))
    rng = np.random.default_rng(TEST_SEED)
    noisy = truth + rng.normal(0, 0.02 * scale, truth.shape)

    def smoothed(sequence):
        one_euro = OneEuroFilter()
        return np.stack([one_euro(p, 0.0 if i == 0 else 1 / fps) for i, p in enumerate(sequence)])

    assert jitter(noisy) / jitter(smoothed(noisy)) >= 2.0
    lag = np.linalg.norm(smoothed(truth) - truth, axis=-1)[10:].mean() / scale
    assert lag < 0.01


def test_tracker_smoothing_follows_each_track_and_bad_input_is_explained():
    tracker = PoseTracker(SIGMAS, smoothing={})
    frame = dict(
        bboxes=np.array([[0, 0, 100, 200.]]),
        scores=np.array([0.9]),
        keypoints=np.full((1, 17, 2), 50.0),
        keypoint_scores=np.full((1, 17), 0.9))
    assert tracker.update(frame, 0.0)['track_ids'].tolist() == [0]
    moved = dict(frame, keypoints=np.full((1, 17, 2), 54.0))
    out = tracker.update(moved, 0.04)
    assert out['track_ids'].tolist() == [0] and 50 < out['keypoints'][0, 0, 0] < 54
    # a person without a visible keypoint does not start a track
    hidden = dict(frame, bboxes=np.array([[500, 0, 600, 200.]]), keypoint_scores=np.zeros((1, 17)))
    out = tracker.update(hidden, 0.08)
    assert out['track_ids'].tolist() == [-1, 0]  # track 0, missed, is bridged
    assert out['predicted'].tolist() == [False, True]
    empty = dict(
        bboxes=np.zeros((0, 4)),
        scores=np.zeros(0),
        keypoints=np.zeros((0, 17, 2)),
        keypoint_scores=np.zeros((0, 17)))
    out = tracker.update(empty, 0.12)  # track 0 bridged a second frame; nothing else
    assert out['track_ids'].tolist() == [0] and out['predicted'].tolist() == [True]
    with pytest.raises(ValueError, match='timestamp 0.1, not after the previous one'):
        tracker.update(frame, 0.1)
    with pytest.raises(ValueError, match='K=14 keypoints but the tracker has 17 sigmas'):
        tracker.update(
            dict(frame, keypoints=np.zeros((1, 14, 2)), keypoint_scores=np.ones((1, 14))), 1.0)
    with pytest.raises(ValueError, match='min_cutoff'):
        PoseTracker(SIGMAS, smoothing=dict(min_cutoff=0))


@pytest.mark.slow
def test_demo_tracks_the_posetrack_clip_and_writes_ids(tmp_path, shared_data,
                                                       random_checkpoint):  # noqa: F811
    video = osp.join(shared_data, 'video', 'posetrack18_000001.mp4')
    out_dir = tmp_path / 'out'
    printed = run_script(
        *demo_args(video, random_checkpoint, str(out_dir), '--track', '--smooth')[1:])
    assert 'frames drawn' in printed
    record = json.loads((out_dir / 'posetrack18_000001.json').read_text())
    ids = {p['track_id'] for frame in record['frames'] for p in frame['instances']}
    tracks = {t['id']: t for t in record['tracks']}
    assert ids - {-1} <= set(tracks)
    for track_id, track in tracks.items():
        frames = [
            f['frame'] for f in record['frames']
            if any(p['track_id'] == track_id for p in f['instances'])
        ]
        assert track['first_frame'] <= min(frames, default=track['first_frame'])


def test_demo_refuses_tracking_outside_a_video(tmp_path, shared_data,
                                               random_checkpoint):  # noqa: F811
    printed = run_script(
        *demo_args(osp.join(shared_data, 'coco'), random_checkpoint, str(tmp_path))[1:],
        '--track',
        expect_exit=1)
    assert 'follow persons through a video' in printed


@pytest.mark.slow
def test_inferencer_tracks_a_video_from_python(shared_data, random_checkpoint):  # noqa: F811
    from hrpose.apis import KeypointInferencer
    from tests.helpers import TINY_POSE_CONFIG
    inferencer = KeypointInferencer(TINY_POSE_CONFIG, random_checkpoint, score_thr=0.0)
    video = osp.join(shared_data, 'video', 'posetrack18_000001.mp4')
    result = inferencer(video, track=True, smooth=True, progress=False)
    record = result['json']
    assert result['video'] is None  # no out_dir: nothing written
    assert record['num_frames'] == len(record['frames']) > 0
    assert all('track_id' in p for f in record['frames'] for p in f['instances'])
    assert {t['id']
            for t in record['tracks']} >= {
                p['track_id']
                for f in record['frames']
                for p in f['instances'] if p['track_id'] >= 0
            }
    with pytest.raises(ValueError, match='give track=True too'):
        inferencer(video, smooth=True)
