"""What the package exports: read by the type checker, and by ``lazy.attach_stub`` in
``__init__.py`` to load each name from its module on first use."""

from ._cell import CellExplanation as CellExplanation
from ._cell import explain_cell as explain_cell
from ._cell import explain_labels as explain_labels
from ._gallery import cam_panels as cam_panels
from ._gallery import gallery_figure as gallery_figure
from ._gallery import heatmap as heatmap
from ._gallery import lime_panels as lime_panels
from ._gallery import overlay as overlay
from ._gallery import stages_figure as stages_figure
from ._images import ImageExplanation as ImageExplanation
from ._images import explain_images as explain_images
from ._layers import stage_layers as stage_layers
from ._layers import target_layer as target_layer
from ._maps import cam_maps as cam_maps
from ._maps import explain_maps as explain_maps
from ._maps import usable_methods as usable_methods
from ._quality import baseline_maps as baseline_maps
from ._quality import faithfulness as faithfulness
from ._quality import localisation as localisation
from .methods import Attribution as Attribution
from .methods import Method as Method
from .methods import get_method as get_method
from .methods import list_methods as list_methods
from .methods import register_method as register_method
