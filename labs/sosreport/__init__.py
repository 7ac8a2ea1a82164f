"""sos reports of the labs: ``python -m labs.sosreport LAB DIR`` (``collect``) and the
per-host plans (``plans``)."""

from __future__ import annotations

from labs.sosreport.collect import lab_sosreport as lab_sosreport
