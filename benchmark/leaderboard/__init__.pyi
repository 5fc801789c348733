"""What the package exports: read by the type checker, and by ``lazy.attach_stub`` in
``__init__.py`` to load each name from its module on first use."""

from ._columns import Board as Board
from ._columns import Column as Column
from ._efficiency import efficiency_points as efficiency_points
from ._export import Exported as Exported
from ._export import export_medmnist as export_medmnist
from ._export import medmnist_file as medmnist_file
from ._external import external_figure as external_figure
from ._external import external_points as external_points
from ._load import load_board as load_board
from ._load import paired_pvalues as paired_pvalues
from ._names import FORMATS as FORMATS
from ._names import TABLE_NAMES as TABLE_NAMES
from ._names import TableFormat as TableFormat
from ._names import TableName as TableName
from ._ranks import ranks_figure as ranks_figure
from ._references import dataset_average as dataset_average
from ._references import matching_runs as matching_runs
from ._references import reference_rows as reference_rows
from ._render import best_mask as best_mask
from ._render import cell_texts as cell_texts
from ._render import format_cell as format_cell
from ._render import format_table as format_table
from ._robustness import robustness_figure as robustness_figure
from ._robustness import robustness_points as robustness_points
from ._tables import LEAKS_HELP as LEAKS_HELP
from ._tables import NOT_WORSE_HELP as NOT_WORSE_HELP
from ._tables import TABLES as TABLES
from ._tables import build_table as build_table
