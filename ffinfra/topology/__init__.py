"""Topology: the compiled cluster (hosts, switches, cables, subnets) that every renderer reads."""
