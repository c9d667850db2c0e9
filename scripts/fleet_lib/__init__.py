"""The implementation of scripts/fleet, split by the part of the fleet each module manages."""
