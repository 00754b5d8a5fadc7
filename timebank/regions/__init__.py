"""The region tree: district > street (town) > community."""
