"""Apply a compiled stack to its hosts: ansible-playbook over SSH with the roles in roles/."""
