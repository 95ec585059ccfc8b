#   A Lighthouse cluster of four hosts (docs/CLUSTER.md):
#       sudo ops/cluster up ops/cluster.example.zpl
#   runs it on this machine, one network namespace per host.
cluster
    name = demo                 #   1 to 8 of a-z 0-9: bridge lhbr-demo, namespaces lh-demo-HOST
    keys = keys                 #   CURVE keys, roster, signer keys: run/cluster-demo/keys
    data = data                 #   each daemon's data: run/cluster-demo/data/HOST/DAEMON
ports
    frontend = 5555             #   the broker's: clients (agents, lh)
    backend = 5556              #   workers (nodes)
    pub = 5557                  #   notifications
    raft = 5565                 #   every integrity replica, each on its own host
host
    hub
        address = 10.77.0.2
        broker                  #   a broker; list it under more hosts for several brokers
        expert
        cache
    r1
        address = 10.77.0.11
        integrity
            id = 1
        validator
    r2
        address = 10.77.0.12
        integrity
            id = 2
        validator
    r3
        address = 10.77.0.13
        integrity
            id = 3
        validator
