"""Ansible content the CLI runs (roles, playbooks), shipped inside the package; the repository's roles/ and
playbooks/ are links to it, for plain ansible-playbook."""
