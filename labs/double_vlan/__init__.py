"""double-vlan: the Double VLAN tale (tc-bpf 802.1Q tags, ``vlan_bpf.c``)."""
