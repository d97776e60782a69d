default_scope = 'hrpose'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Written atomically: a crash while saving never leaves a truncated iter_N.pth.
    checkpoint=dict(type='CheckpointHook', interval=1, backend_args=dict(backend='atomic_local')),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # Random states travel in the checkpoints, so a resumed run continues the same sequence.
    random_state=dict(type='RandomStateHook'),
    # A checkpoint whose weights do not fit the model is an error (load_from_reinit below).
    weight_shape_check=dict(type='WeightShapeCheckHook'),
    visualization=dict(type='DetVisualizationHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to gloo when a distributed job runs without a GPU.
    dist_cfg=dict(backend='nccl'),
)

# Add dict(type='TensorboardVisBackend') to log scalars and images for TensorBoard too.
vis_backends = [dict(type='LocalVisBackend')]
# Boxes, skeletons and keypoints; `tools/test.py --show-dir DIR` draws GT | prediction pairs.
visualizer = dict(type='KeypointLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

log_level = 'INFO'
load_from = None
# Regular expressions over parameter names that may be re-initialised when the weights of
# load_from do not fit (fine-tuning on another number of keypoints), e.g.
# [r'roi_head\.keypoint_head\.final_conv']; anything else that does not fit stops training.
load_from_reinit = []
resume = False

# Video tracking (demo/demo.py --track [--smooth]): the settings of hrpose.apis.PoseTracker,
# for video at 25-30 fps; `smoothing` is the One Euro filter's (used with --smooth).
tracking = dict(
    high_score_thr=0.5,
    low_score_thr=0.1,
    match_thr=0.2,
    oks_weight=0.5,
    track_buffer=30,
    min_keypoints=3,
    kpt_thr=0.3,
    # a track's velocity: weight of the newest measurement; a track the detector misses for
    # up to max_predicted_frames frames is output where its motion puts it ("predicted")
    velocity_momentum=0.3,
    max_predicted_frames=2,
    smoothing=dict(min_cutoff=0.3, beta=0.12, d_cutoff=0.2))
