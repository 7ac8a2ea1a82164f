"""dns: the tenant network's real dnsmasq forwards to a real site resolver it cannot reach."""
