"""overlay-mtu: a real VXLAN tenant network over a 1500-byte underlay; the MTU not advertised."""
