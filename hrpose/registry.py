"""hrpose's registries: children of mmdet's, so one config can name hrpose's own modules
and everything mmdet and mmengine register.

With ``default_scope='hrpose'`` a type name is looked up here first, then in mmdet, then in
mmengine. ``locations`` are imported lazily on the first lookup, so building a model from a
config needs no manual ``import hrpose.models``. mmdet's locations come first so that the
parent registries are filled before hrpose's subclasses are defined.
"""
from mmdet.registry import DATA_SAMPLERS as MMDET_DATA_SAMPLERS
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import EVALUATOR as MMDET_EVALUATOR
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import LOG_PROCESSORS as MMDET_LOG_PROCESSORS
from mmdet.registry import LOOPS as MMDET_LOOPS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODEL_WRAPPERS as MMDET_MODEL_WRAPPERS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMDET_OPTIM_WRAPPER_CONSTRUCTORS
from mmdet.registry import OPTIM_WRAPPERS as MMDET_OPTIM_WRAPPERS
from mmdet.registry import OPTIMIZERS as MMDET_OPTIMIZERS
from mmdet.registry import PARAM_SCHEDULERS as MMDET_PARAM_SCHEDULERS
from mmdet.registry import RUNNER_CONSTRUCTORS as MMDET_RUNNER_CONSTRUCTORS
from mmdet.registry import RUNNERS as MMDET_RUNNERS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmdet.registry import VISBACKENDS as MMDET_VISBACKENDS
from mmdet.registry import VISUALIZERS as MMDET_VISUALIZERS
from mmdet.registry import WEIGHT_INITIALIZERS as MMDET_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

# Runner, loops and training machinery (mmdet's entries are reachable through the parents).
RUNNERS = Registry('runner', parent=MMDET_RUNNERS, locations=['mmdet.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=MMDET_RUNNER_CONSTRUCTORS, locations=['mmdet.engine'])
LOOPS = Registry('loop', parent=MMDET_LOOPS, locations=['mmdet.engine'])
HOOKS = Registry('hook', parent=MMDET_HOOKS, locations=['mmdet.engine', 'hrpose.engine'])
LOG_PROCESSORS = Registry('log_processor', parent=MMDET_LOG_PROCESSORS, locations=['mmdet.engine'])
OPTIMIZERS = Registry('optimizer', parent=MMDET_OPTIMIZERS, locations=['mmdet.engine'])
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMDET_OPTIM_WRAPPERS, locations=['mmdet.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMDET_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['mmdet.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMDET_PARAM_SCHEDULERS, locations=['mmdet.engine'])

# Data.
DATASETS = Registry(
    'dataset', parent=MMDET_DATASETS, locations=['mmdet.datasets', 'hrpose.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMDET_DATA_SAMPLERS, locations=['mmdet.datasets', 'hrpose.datasets'])
TRANSFORMS = Registry(
    'transform',
    parent=MMDET_TRANSFORMS,
    locations=['mmdet.datasets.transforms', 'hrpose.datasets.transforms'])

# Models.
MODELS = Registry('model', parent=MMDET_MODELS, locations=['mmdet.models', 'hrpose.models'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMDET_MODEL_WRAPPERS, locations=['mmdet.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMDET_WEIGHT_INITIALIZERS, locations=['mmdet.models'])
TASK_UTILS = Registry(
    'task util', parent=MMDET_TASK_UTILS, locations=['mmdet.models', 'hrpose.models'])

# Heatmap codecs: one object turns keypoints into heatmap targets and heatmaps back into
# keypoints, shared by the loss and the inference so that the two cannot drift apart.
KEYPOINT_CODECS = Registry('keypoint codec', locations=['hrpose.codecs'])

# Evaluation and visualisation.
METRICS = Registry(
    'metric', parent=MMDET_METRICS, locations=['mmdet.evaluation', 'hrpose.evaluation'])
EVALUATOR = Registry(
    'evaluator', parent=MMDET_EVALUATOR, locations=['mmdet.evaluation', 'hrpose.evaluation'])
VISUALIZERS = Registry(
    'visualizer',
    parent=MMDET_VISUALIZERS,
    locations=['mmdet.visualization', 'hrpose.visualization'])
VISBACKENDS = Registry('vis_backend', parent=MMDET_VISBACKENDS, locations=['mmdet.visualization'])
