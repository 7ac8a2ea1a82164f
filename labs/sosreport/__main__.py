"""``python -m labs.sosreport``: see labs/sosreport/collect.py."""

from __future__ import annotations

import sys

from labs.sosreport.collect import main

sys.exit(main())
