"""The embedded sample: an upstream-shaped mirror of every source (with deliberate bad inputs), the
loopback server that serves it, and the media it is made of. A fixture for the main job, the tests and
the benchmarks; the engines never import it."""
