"""What the package exports: read by the type checker, and by ``lazy.attach_stub`` in
``__init__.py`` to load each name from its module on first use."""

from ._build import ParamCounts as ParamCounts
from ._build import TimmModel as TimmModel
from ._build import backbone_stats as backbone_stats
from ._build import classifier_modules as classifier_modules
from ._build import count_parameters as count_parameters
from ._build import create_model as create_model
from ._build import features as features
from ._build import head_parameter_names as head_parameter_names
from ._build import input_config as input_config
from ._build import input_stats as input_stats
from ._build import load_model as load_model
from ._build import rebuild_config as rebuild_config
from ._build import save_model as save_model
from ._heads import PROBE_HEADS as PROBE_HEADS
from ._heads import FeatureHead as FeatureHead
from ._heads import KnnHead as KnnHead
from ._heads import LogisticHead as LogisticHead
from ._heads import ProbeHead as ProbeHead
from ._heads import PrototypeHead as PrototypeHead
from ._heads import create_head as create_head
from ._heads import install_head as install_head
from ._heads import nearest_neighbours as nearest_neighbours
from ._names import CONFIG_FILE as CONFIG_FILE
from ._names import WEIGHTS_FILE as WEIGHTS_FILE
from ._names import check_backbone as check_backbone
from ._names import list_backbones as list_backbones
from ._names import split_source as split_source
from ._weights import Weights as Weights
from ._weights import fetch_weights as fetch_weights
from ._weights import locate_weights as locate_weights
