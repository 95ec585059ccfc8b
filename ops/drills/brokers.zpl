#   The cluster of the multi-broker drills (docs/DRILLS.md: kill-broker,
#   pause-broker, partition-broker): the cluster of cluster.zpl with a second
#   broker on a host of its own, hub2. Every daemon and the load connect to
#   both brokers; v1's links to each pass through lh-chaos.
#       sudo ops/drill kill-broker pause-broker partition-broker
cluster
    name = drill
ports
    frontend = 5555
    backend = 5556
    pub = 5557
    raft = 5565
    chaos = 5570                #   lh-chaos's control, on v1's loopback
    metrics = 9150              #   GET /metrics: broker 9150, validator +1, integrity +2, expert +3, cache +4
host
    hub
        address = 10.77.0.2
        broker
        expert
        cache
    hub2
        address = 10.77.0.3
        broker
    v1
        address = 10.77.0.21
        chaos
        validator
    v2
        address = 10.77.0.22
        validator
    r1
        address = 10.77.0.11
        integrity
            id = 1
    r2
        address = 10.77.0.12
        integrity
            id = 2
    r3
        address = 10.77.0.13
        integrity
            id = 3
