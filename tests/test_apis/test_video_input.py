"""Real video files through the video path: a variable frame rate, a stream whose frame size
changes, a video without frames, and person boxes given per frame, with the OpenCV people
detector on the PoseTrack clip as the given-box source. The files are encoded here with
PyAV (FFmpeg), so their timestamps and sizes are those of real containers."""
import fractions
import json
import os.path as osp

import av  # PyAV (requirements/tests.txt) writes the test videos
import cv2
import numpy as np
import pytest

from hrpose.apis import KeypointInferencer
from tests.helpers import TEST_SEED, TINY_POSE_CONFIG, run_script
from tests.test_tools.test_user_tools import demo_args, random_checkpoint  # noqa: F401

MILLISECOND = fractions.Fraction(1, 1000)


def person_image(width: int, height: int, x: float, rng) -> np.ndarray:
    """A grey frame with a dark upright figure (head, body, legs) at column ``x``."""
    image = np.full((height, width, 3), 150, np.uint8) + rng.integers(
        0, 20, (height, width, 1), dtype=np.uint8)
    x, top = int(x), height // 5
    cv2.circle(image, (x, top + height // 12), height // 14, (40, 40, 40), -1)
    cv2.rectangle(image, (x - height // 10, top + height // 6),
                  (x + height // 10, top + height // 2), (60, 30, 30), -1)
    for dx in (-height // 20, height // 20):
        cv2.line(image, (x, top + height // 2), (x + dx, top + 3 * height // 4), (30, 30, 60), 8)
    return image


def write_video(path: str, frames, times, container_format=None, codec='mpeg4') -> None:
    """Encode BGR ``frames`` with the presentation times ``times`` (seconds)."""
    container = av.open(path, 'w', format=container_format)
    height, width = frames[0].shape[:2]
    stream = container.add_stream(codec, rate=25)
    stream.width, stream.height, stream.pix_fmt = width, height, 'yuv420p'
    stream.time_base = MILLISECOND
    for frame, time in zip(frames, times):
        video_frame = av.VideoFrame.from_ndarray(frame, format='bgr24')
        video_frame.pts, video_frame.time_base = round(time * 1000), MILLISECOND
        for packet in stream.encode(video_frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def box_of(x: float, height: int) -> list:
    """The figure of :func:`person_image` at ``x`` as [x, y, w, h]."""
    return [x - height // 8, height // 5 - 10, height // 4, 3 * height // 4 + 20]


@pytest.fixture(scope='module')
def inferencer(random_checkpoint):  # noqa: F811
    # the random model's keypoint scores are low: every person may start a track
    return KeypointInferencer(
        TINY_POSE_CONFIG,
        random_checkpoint,
        score_thr=0.0,
        cfg_options={'tracking.min_keypoints': 0})


def test_variable_frame_rate_timestamps_reach_the_json_and_the_tracker(tmp_path, inferencer):
    """Gaps of 40, 120 and 280 ms between frames; a person walking at 500 px/s (given boxes):
    one track, and no bridged frame, since each frame finds the person where its time,
    not its index, puts it."""
    rng = np.random.default_rng(TEST_SEED)
    times = [0.0, 0.04, 0.08, 0.2, 0.24, 0.52, 0.56, 0.6]
    positions = [60 + 500 * t for t in times]
    video = str(tmp_path / 'vfr.mp4')
    write_video(video, [person_image(480, 320, x, rng) for x in positions], times)
    boxes = [np.array([box_of(x, 320) + [0.9]], np.float32) for x in positions]
    for box in boxes:
        box[:, 2:4] += box[:, :2]  # x1, y1, x2, y2
    record = inferencer(video, track=True, smooth=True, progress=False, person_boxes=boxes)['json']
    assert [f['time'] for f in record['frames']] == pytest.approx(times, abs=1e-3)
    assert record['frame_size'] == [480, 320] and record['num_frames'] == len(times)
    persons = [p for f in record['frames'] for p in f['instances']]
    assert len(persons) == len(times)
    assert {p['track_id'] for p in persons} == {0} and not any(p['predicted'] for p in persons)
    assert record['tracks'] == [dict(id=0, first_frame=0, last_frame=7, length=8)]


def test_a_stream_whose_frame_size_changes_is_read_whole_at_its_first_size(tmp_path, inferencer):
    """Two MPEG-TS segments, 320x240 then 640x480, joined as broadcast streams are: every
    frame is inferred, the results are in the pixels of the first size, the times go on."""
    rng = np.random.default_rng(TEST_SEED)
    first, second = str(tmp_path / 'a.ts'), str(tmp_path / 'b.ts')
    times = [0.04 * i for i in range(10)]
    write_video(first, [person_image(320, 240, 100, rng) for _ in range(5)], times[:5], 'mpegts',
                'mpeg2video')
    write_video(second, [person_image(640, 480, 200, rng) for _ in range(5)], times[5:], 'mpegts',
                'mpeg2video')
    joined = tmp_path / 'joined.ts'
    joined.write_bytes(open(first, 'rb').read() + open(second, 'rb').read())
    decoded = [(f.width, f.height) for f in av.open(str(joined)).decode(video=0)]
    assert (320, 240) in decoded and (640, 480) in decoded  # the file does change size
    out_dir = tmp_path / 'out'
    result = inferencer(str(joined), out_dir=str(out_dir), track=True, progress=False)
    record = result['json']
    assert record['frame_size'] == [320, 240]
    assert record['num_frames'] == len(decoded)
    frame_times = [f['time'] for f in record['frames']]
    assert all(b > a for a, b in zip(frame_times, frame_times[1:]))
    for frame in record['frames']:
        for person in frame['instances']:
            if person['predicted']:
                continue  # where a track's motion puts a missed person: may leave the frame
            x1, y1, x2, y2 = person['bbox']
            # (the boxes are clipped to the resized input: a rounding past the edge)
            assert 0 <= x1 <= x2 <= 321 and 0 <= y1 <= y2 <= 241
    drawn = cv2.VideoCapture(result['video'])
    assert int(drawn.get(cv2.CAP_PROP_FRAME_COUNT)) == len(decoded)
    assert (drawn.get(cv2.CAP_PROP_FRAME_WIDTH), drawn.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (320,
                                                                                           240)


def test_a_video_without_frames_is_refused_by_name(tmp_path, inferencer):
    for name, opens in (('empty.avi', True), ('empty.mp4', False)):
        container = av.open(str(tmp_path / name), 'w')  # a stream, a header, no frame
        stream = container.add_stream('mpeg4', rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, 'yuv420p'
        container.start_encoding()
        container.close()
        assert (tmp_path / name).stat().st_size > 0
        assert cv2.VideoCapture(str(tmp_path / name)).isOpened() == opens
        message = 'no frame could be read' if opens else 'cannot be opened as a video'
        with pytest.raises(ValueError, match=f'{name}: {message}'):
            inferencer(str(tmp_path / name), track=True, progress=False)
    (tmp_path / 'zero.mp4').write_bytes(b'')
    with pytest.raises(ValueError, match='zero.mp4: cannot be opened as a video'):
        inferencer(str(tmp_path / 'zero.mp4'), progress=False)


def test_person_boxes_of_a_video_are_checked_against_its_frames(tmp_path, inferencer):
    rng = np.random.default_rng(TEST_SEED)
    video = str(tmp_path / 'short.mp4')
    write_video(video, [person_image(320, 240, 100, rng) for _ in range(3)], [0, 0.04, 0.08])
    detections = tmp_path / 'dets.json'
    detections.write_text(json.dumps([dict(image_id=5, bbox=box_of(100, 240), score=0.9)]))
    with pytest.raises(ValueError, match='name frame 5 but .*short.mp4 has 3 frames'):
        inferencer(video, progress=False, person_boxes=str(detections))
    detections.write_text(json.dumps([dict(image_id='frame1', bbox=box_of(100, 240), score=1)]))
    with pytest.raises(ValueError, match='"image_id" is the frame index .* got \'frame1\''):
        inferencer(video, progress=False, person_boxes=str(detections))


@pytest.mark.slow
def test_demo_keeps_one_id_on_the_posetrack_player_found_by_opencvs_people_detector(
        tmp_path, shared_data, random_checkpoint):  # noqa: F811
    """The whole demo path on the PoseTrack clip (5 frames, 1280x720) with person boxes
    from OpenCV's HOG people detector (Dalal and Triggs), which finds the player who stays
    in view in every frame: tracked, he keeps one id from the first frame to the last."""
    video = osp.join(shared_data, 'video', 'posetrack18_000001.mp4')
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    capture, detections, index = cv2.VideoCapture(video), [], 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        boxes, weights = hog.detectMultiScale(frame, winStride=(8, 8), scale=1.05)
        detections += [
            dict(image_id=index, bbox=[float(v) for v in box], score=float(weight), category_id=1)
            for box, weight in zip(boxes, np.ravel(weights)) if weight > 0.5
        ]
        index += 1
    assert index == 5 and {d['image_id'] for d in detections} == set(range(5))
    (tmp_path / 'hog.json').write_text(json.dumps(detections))
    out_dir = tmp_path / 'out'
    run_script(*demo_args(video, random_checkpoint,
                          str(out_dir), '--track', '--smooth')[1:], '--person-boxes',
               str(tmp_path / 'hog.json'), '--cfg-options', 'tracking.min_keypoints=0')
    record = json.loads((out_dir / 'posetrack18_000001.json').read_text())
    assert record['num_frames'] == 5 and record['frame_size'] == [1280, 720]
    first = {p['track_id'] for p in record['frames'][0]['instances']}
    last = {p['track_id'] for p in record['frames'][-1]['instances']}
    kept = first & last
    assert kept, (first, last)
    track_id = min(kept)
    assert all(
        any(p['track_id'] == track_id and not p['predicted'] for p in f['instances'])
        for f in record['frames'])
    assert dict(id=track_id, first_frame=0, last_frame=4, length=5) in record['tracks']
