"""Named data sources with interchangeable providers (live, recording, sosreport)."""
