"""nova shows a compute service down: the lab on a real control plane."""
