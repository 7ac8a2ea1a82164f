"""The Textual UI. Importing it first sets Textual's frame cap to 120 Hz (unless the
operator set ``TEXTUAL_FPS``): after every paint Textual's screen timer sleeps to its next
frame boundary, so at 60 Hz a key that lands while live panes are painting waits up to
16.7 ms more. Measured with bench/bench_panes.py on a quiet 2-core machine, 4 panes x
10,000 lines/s: key->paint p95 23.2 ms at 60 Hz, 17.9 ms at 120 Hz (app CPU 21% / 24%)."""

import os

os.environ.setdefault("TEXTUAL_FPS", "120")
