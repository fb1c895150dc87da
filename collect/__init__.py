"""Batch collection (`webgen collect`): many runs of many tasks, on a pool of worker processes, into the store."""
