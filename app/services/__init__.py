"""Use cases. Each public function owns its transaction and takes ``now`` from its caller."""
