"""The shared life cycle of every lab: Lab and LabState (base), namespaces (netns,
netns_lab), the registry, requirements and surprise faults."""
