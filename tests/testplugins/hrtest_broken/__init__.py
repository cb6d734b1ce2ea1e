"""An entry point that fails to import (a test distribution)."""

import hrtest_no_such_module_xyz  # noqa: F401  (the failure under test)
