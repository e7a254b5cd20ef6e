# RTMPose (t/s/m) for hoof keypoints: an MMEngine/MMPose config.
#
# `hoofenv train` renders this file into WORK_DIR/config.py, replacing the values between the two
# "hoofenv parameters" markers with absolute paths and the chosen sizes (hoofenv/train/config.py).
# It is also a complete config on its own: edit the parameters and run
#     mim train mmpose configs/rtmpose_hoof.py      (or tools/train.py of an MMPose checkout)
# Why each choice: docs/train.md.

# --- hoofenv parameters ---
data_root = 'data/demo/'                 # holds annotations/{train,val}.json and images/
metainfo_file = 'data/demo/metainfo.py'  # written by `hoofenv data schema` (dataset_info = dict(...))
num_keypoints = 4
flip = False                             # only when the schema has swap (left/right) pairs
model_size = 't'                         # t / s / m
input_size = (256, 256)                  # (w, h): hoof crops are roughly square
max_epochs = 60
stage2_num_epochs = 10                   # >= max_epochs: the milder stage-2 augmentation from the start
val_interval = 5
train_batch_size = 16
val_batch_size = 16
num_workers = 2
persistent_workers = False              # True is faster per epoch but makes --resume inexact
base_lr = 4e-3
warmup_iters = 200                       # hoofenv: 10% of the run's iterations, at most 1000
pretrained = None                        # path or URL of the CSPNeXt backbone checkpoint; None: from scratch
amp = False
seed = 21
deterministic = False
log_interval = 10
hoof_angles = None                       # role -> keypoint name (docs/angles.md); None: no angle metric
hoofenv_inenv = None                     # hoofenv/inenv, where the angle metric lives (rendered absolute)
# --- end hoofenv parameters ---

default_scope = 'mmpose'

# CSPNeXt widths/depths and the official AIC+COCO-pretrained backbones (mmpose projects/rtmpose).
arch = dict(
    t=dict(deepen=0.167, widen=0.375, channels=384),
    s=dict(deepen=0.33, widen=0.5, channels=512),
    m=dict(deepen=0.67, widen=0.75, channels=768),
)[model_size]

# runtime
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=val_interval)
val_cfg = dict()
test_cfg = dict()
randomness = dict(seed=seed, deterministic=deterministic)

# AdamW without weight decay. RTMPose's paramwise_cfg (no decay on norms and biases) puts every tensor in a group of
# its own, so it comes only with decay to exempt them from; one group and torch's fused kernel (CPU and CUDA from
# torch 2.4) make a step of RTMPose-t 36 -> 5 ms on 2 CPU cores, the same update (docs/PERFORMANCE.md). torch's
# version is read from its metadata, not by importing it: this file stays plain Python that runs anywhere.
weight_decay = 0.
try:
    fused_adamw = tuple(int(v) for v in __import__('importlib.metadata', fromlist=['version']).version('torch')
                        .split('.')[:2]) >= (2, 4)
except Exception:  # no torch here, or a version string of another shape
    fused_adamw = False
optim_wrapper = dict(
    type='AmpOptimWrapper' if amp else 'OptimWrapper',
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=weight_decay, **(dict(fused=True) if fused_adamw else {})),
    **(dict(paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True)) if weight_decay else {}))

# linear warm-up (hoofenv sizes it to the run), then cosine over the second half of the schedule
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0e-5, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min=base_lr * 0.05, begin=max_epochs // 2, end=max_epochs,
         T_max=max_epochs - max_epochs // 2, by_epoch=True, convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=1024)

# SimCC codec: 2x sub-pixel bins; sigma scaled from MMPose's 256x256 animal configs
codec = dict(
    type='SimCCLabel',
    input_size=input_size,
    sigma=(5.66 * input_size[0] / 256, 5.66 * input_size[1] / 256),
    simcc_split_ratio=2.0,
    normalize=False,
    use_dark=False)

model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        _scope_='mmdet',
        type='CSPNeXt',
        arch='P5',
        expand_ratio=0.5,
        deepen_factor=arch['deepen'],
        widen_factor=arch['widen'],
        out_indices=(4, ),
        channel_attention=True,
        norm_cfg=dict(type='SyncBN'),
        act_cfg=dict(type='SiLU'),
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained) if pretrained else None),
    head=dict(
        type='RTMCCHead',
        in_channels=arch['channels'],
        out_channels=num_keypoints,
        input_size=codec['input_size'],
        in_featuremap_size=(input_size[0] // 32, input_size[1] // 32),
        simcc_split_ratio=codec['simcc_split_ratio'],
        final_layer_kernel_size=7,
        gau_cfg=dict(
            hidden_dims=256,
            s=128,
            expansion_factor=2,
            dropout_rate=0.,
            drop_path=0.,
            act_fn='SiLU',
            use_rel_bias=False,
            pos_enc=False),
        loss=dict(type='KLDiscretLoss', use_target_weight=True, beta=10., label_softmax=True),
        decoder=codec),
    test_cfg=dict(flip_test=flip))

# data
dataset_type = 'CocoDataset'
data_mode = 'topdown'
metainfo = dict(from_file=metainfo_file)
backend_args = dict(backend='local')

# No RandomHalfBody: it needs >= 9 visible keypoints and never fires with a handful of hoof points.
train_pipeline = [
    dict(type='LoadImage', backend_args=backend_args),
    dict(type='GetBBoxCenterScale'),
] + ([dict(type='RandomFlip', direction='horizontal')] if flip else []) + [
    dict(type='RandomBBoxTransform', scale_factor=[0.6, 1.4], rotate_factor=60),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='mmdet.YOLOXHSVRandomAug'),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
# last stage2_num_epochs: milder geometry (RTMPose's two-stage schedule)
train_pipeline_stage2 = [
    dict(type='LoadImage', backend_args=backend_args),
    dict(type='GetBBoxCenterScale'),
] + ([dict(type='RandomFlip', direction='horizontal')] if flip else []) + [
    dict(type='RandomBBoxTransform', shift_factor=0., scale_factor=[0.75, 1.25], rotate_factor=30),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage', backend_args=backend_args),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]

train_dataloader = dict(
    batch_size=train_batch_size,
    num_workers=num_workers,
    persistent_workers=persistent_workers and num_workers > 0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        metainfo=metainfo,
        ann_file='annotations/train.json',
        data_prefix=dict(img='images/'),
        pipeline=train_pipeline if stage2_num_epochs < max_epochs else train_pipeline_stage2,
    ))
val_dataloader = dict(
    batch_size=val_batch_size,
    num_workers=num_workers,
    persistent_workers=persistent_workers and num_workers > 0,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        metainfo=metainfo,
        ann_file='annotations/val.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=val_pipeline,
    ))
test_dataloader = val_dataloader

# hooks (the priority table MMEngine prints is execution order, not importance: docs/train.md)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=log_interval),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=val_interval, save_best='coco/AP', rule='greater',
                    max_keep_ckpts=1, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='PoseVisualizationHook', enable=False),
)
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002, update_buffers=True, priority=49),
    dict(
        type='mmdet.PipelineSwitchHook',
        switch_epoch=max(1, max_epochs - stage2_num_epochs),  # always inside the schedule
        switch_pipeline=train_pipeline_stage2),
]

# evaluators: COCO OKS AP (needs area > 0: `hoofenv data check`) and PCK@0.1 of the box; with hoof_angles, the
# hoof and pastern angle errors in degrees (hoofenv/inenv/angle_metric.py, docs/angles.md). hoofenv's runner has
# registered that module's package `hoofenv_inenv`; a plain MMEngine run (`mim train mmpose config.py`) registers
# it here from hoofenv_inenv's launch.py, which keeps the folder off sys.path.
if hoof_angles and hoofenv_inenv and __import__('os').path.isfile(hoofenv_inenv + '/launch.py'):
    __import__('runpy').run_path(hoofenv_inenv + '/launch.py')['load_package']()
custom_imports = dict(imports=['hoofenv_inenv.angle_metric'], allow_failed_imports=False) if hoof_angles else {}
val_evaluator = [
    dict(type='CocoMetric', ann_file=data_root + 'annotations/val.json', use_area=True),
    dict(type='PCKAccuracy', thr=0.1, norm_item='bbox'),
] + ([dict(type='HoofAngleMetric', points=hoof_angles)] if hoof_angles else [])
test_evaluator = val_evaluator

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='PoseLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True, num_digits=6)
log_level = 'INFO'
load_from = None
resume = False
