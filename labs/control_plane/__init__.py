"""A real OpenStack control plane (keystone, glance, placement, nova) for any lab."""
