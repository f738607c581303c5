"""The ``cartlab`` command line: thin commands that parse, call one library function and format."""

from ._app import app as app
from ._app import main as main

__all__ = ["app", "main"]

from . import _ingest as _ingest  # noqa: E402,F401  (registers ingest, check, export sdtm)
from . import _pkfit as _pkfit  # noqa: E402,F401  (registers pk fit / pk adam on the pk sub-app)
from . import _report as _report  # noqa: E402,F401  (registers `report` and `export adam`)
from . import _design as _design  # noqa: E402,F401  (registers the design sub-app: BOIN, 3+3, BOIN12)
from . import _calibrate as _calibrate  # noqa: E402,F401  (registers validate-model and calibrate)
