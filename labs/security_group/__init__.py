"""The security-group incident: neutron iptables_hybrid rules on a bridged tap."""
