"""What `up`, `down`, `status`, `exec` and `test` share at run time, in one place they all import.

paths     where a stack keeps what ffinfra writes for it (state.json, state/, runs/, secrets/)
lock      the stack lock: one run at a time, and a second one told who holds it
runs      one folder per run, a log per phase, every line redacted
state     state.json as a typed model: the applied spec, per host and role what was installed
secrets   operator key, host keys, munge key, known_hosts, ssh_config, redaction
ssh       the one way to reach a node's shell (paramiko over the stack's key, known_hosts and proxy)
"""
