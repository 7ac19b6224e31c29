"""The operations on tasks and runs, and the background services that keep them moving."""
