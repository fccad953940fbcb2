"""Stand-ins for Fabric nodes (test equipment for the lab). ``node.py`` is the program (stdlib only),
``launch.py`` starts it as a container or a local process. See docs/lab-standins.md."""
