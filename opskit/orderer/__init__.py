"""Channel configuration for orderers: decode, read, change, diff and migrate (Kafka -> etcdraft).

Built on the ``hyperledger-fabric-protos`` protobufs (import root ``fabric_protos``); nothing here talks to
a network. Modules:

- :mod:`opskit.orderer.config` decode config blocks / ``common.Config`` / envelopes; typed accessors and setters
  (ConsensusType with etcdraft metadata, BatchTimeout, BatchSize, capabilities); configtxlator-style JSON.
- :mod:`opskit.orderer.update` ``compute_update`` (same result as ``configtxlator compute_update``) and the
  CONFIG_UPDATE envelope.
- :mod:`opskit.orderer.rules` the orderer's acceptance rules for a config update (read/write-set versions,
  mod_policy signatures counted by MSP id, the maintenance filter) for lab stand-in orderers.
- :mod:`opskit.orderer.migration` prechecks and the three config updates of the Kafka -> Raft migration.

The protobuf modules are imported when these modules are imported, so import them inside task bodies.
"""
