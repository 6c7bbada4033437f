"""Bare-metal provisioning: BMC power and one-time network boot, a stateless node image, a boot server."""
