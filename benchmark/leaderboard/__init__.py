"""MLflow cell runs → the tables papers print, in the formats people paste them into.

Each table is a :class:`Board`: a DataFrame, what each column means (unit, digits, which
direction is better), the columns within whose groups a best value is marked, and notes.
``_names`` names the tables and formats, ``_columns`` says what columns are, ``_tables``
builds each table by name, ``_load`` builds one for a suite in the store, ``_render`` turns
one into text. Names load lazily: the command line reads ``_names`` without pandas.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach_stub(__name__, __file__)
