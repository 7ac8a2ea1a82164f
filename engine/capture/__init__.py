"""One capture API for every live capture and the offline path.

- ``engine.capture.stream``: bytes in, frames out. ``FrameStream`` pushes a live
  ``tcpdump -w -`` stream through the same scanner session ``cloudtales analyze`` uses
  (``engine.parsers.pcap_scan.ScanSession``); ``TcpdumpLog`` reads tcpdump's stderr
  (armed, errors, its exit summary and the "packets dropped by kernel" count).
- ``engine.capture.points``: tcpdump on several capture points at once through the named
  ``capture`` source; arm, wait for a condition or a deadline, drain, stop, and turn a
  lost stream into an error naming the point.
"""
