"""Provisioning GPU hosts with the project's Ansible roles, driven through ansible-runner."""
