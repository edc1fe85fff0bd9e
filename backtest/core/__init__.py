"""The ground floor: errors, the run config, atomic files and manifests, the cores this process may use."""
