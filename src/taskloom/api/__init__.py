"""The HTTP layer: one router per API family; routes parse, call the engine, map errors."""
